package main

import (
	"testing"

	"github.com/dnslb/dnslb/dnslb/config"
)

// TestVariantsValid: both configs the reloader alternates between pass
// dnslb's config validation, so a change of dnslb's schema breaks this test
// rather than a ten-minute soak. (dnslb/config, not dnslb.Check: a package
// under dnslb/ never imports dnslb; the soak's first reload checks the
// rest.)
func TestVariantsValid(t *testing.T) {
	s, err := newSetup(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s.backendPort = 8080
	for _, v := range variants {
		if err := s.write(v); err != nil {
			t.Fatal(err)
		}
		if _, err := config.Load(s.cfgPath); err != nil {
			t.Errorf("variant %s:\n%s\n%v", v.name, s.render(v), err)
		}
	}
	if variants[0].marker == variants[1].marker {
		t.Error("the variants' markers must differ, or a reload cannot be seen")
	}
}
