package zones

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// splitZoneText has what makes cutting a file delicate: $ORIGIN and $TTL
// changes, records spread over lines in parentheses, owners left blank,
// comments with parentheses and quotes with semicolons, relative and
// absolute names.
func splitZoneText() string {
	var b strings.Builder
	b.WriteString("$ORIGIN example.\n$TTL 300\n@ IN SOA ns1 hostmaster (\n  1 ; serial (\n  3600 600 604800 60 )\n@ IN NS ns1\nns1 IN A 192.0.2.1\n")
	for i := range 300 {
		switch i % 50 {
		case 10:
			b.WriteString("$ORIGIN sub.example. ; a comment after a directive\n")
		case 20:
			b.WriteString("$TTL 60 ; one minute\n")
		case 30:
			b.WriteString("$ORIGIN example.\n")
		}
		fmt.Fprintf(&b, "h%d IN A 192.0.2.%d\n", i, i%250)
		fmt.Fprintf(&b, "   IN TXT \"semi;colon (%d\" ; a comment (\n", i)
		if i%7 == 0 {
			fmt.Fprintf(&b, "m%d IN MX ( 10\n   mail%d )\n", i, i)
		}
		if i%11 == 0 {
			fmt.Fprintf(&b, "abs%d.example. 120 IN AAAA 2001:db8::%x\n", i, i)
		}
	}
	return b.String()
}

// TestSplitParseSame: a file cut into chunks parsed side by side loads
// exactly as it does in one piece, lines of errors included.
func TestSplitParseSame(t *testing.T) {
	path := filepath.Join(t.TempDir(), "z.zone")
	text := splitZoneText() + "bad IN A 1.2.3\n"
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	load := func(min int) error {
		old := splitMin
		splitMin = min
		defer func() { splitMin = old }()
		b := NewBuilder("example.")
		b.LoadFile(path)
		_, err := b.Build()
		return err
	}
	errWhole, errCut := load(1<<30), load(1)
	if errWhole == nil || errCut == nil || errWhole.Error() != errCut.Error() {
		t.Fatalf("errors differ:\nwhole: %v\ncut:   %v", errWhole, errCut)
	}
	if err := os.WriteFile(path, []byte(splitZoneText()), 0o644); err != nil {
		t.Fatal(err)
	}
	build := func(min int) *Zone {
		old := splitMin
		splitMin = min
		defer func() { splitMin = old }()
		b := NewBuilder("example.")
		b.LoadFile(path)
		z, err := b.Build()
		if err != nil {
			t.Fatal(err)
		}
		return z
	}
	whole, cut := build(1<<30), build(1)
	splitMin = 1
	chunks := splitZone([]byte(splitZoneText()), "example.", 4)
	splitMin = 4 << 20
	if len(chunks) < 2 {
		t.Fatalf("the test file was not cut: %v", chunks)
	}
	if whole.Len() != cut.Len() || len(whole.Names()) != len(cut.Names()) {
		t.Fatalf("records %d vs %d, names %d vs %d", whole.Len(), cut.Len(), len(whole.Names()), len(cut.Names()))
	}
	for _, name := range whole.Names() {
		a, b := whole.Node(name), cut.Node(name)
		if b == nil {
			t.Fatalf("%s missing when cut", name)
		}
		for _, typ := range a.Types() {
			if x, y := fmt.Sprint(a.RRset(typ)), fmt.Sprint(b.RRset(typ)); x != y {
				t.Errorf("%s %s:\n%s\nvs\n%s", name, dns.TypeToString[typ], x, y)
			}
		}
	}
}
