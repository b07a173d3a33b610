package zones

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSyntaxErrorsAll: a zone file is read on after a syntax error, each
// error is reported once at its file and line in plain words, one in an
// absolutely $INCLUDEd file keeps its leading "/", and a broken SOA line is
// not also reported as a missing SOA or NS. Run whole and cut into chunks.
func TestSyntaxErrorsAll(t *testing.T) {
	dir := t.TempDir()
	inc := filepath.Join(dir, "inc.zone")
	write := func(name, text string) {
		if err := os.WriteFile(name, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(inc, "ok1 IN A 192.0.2.9\nbad IN A 1.2.3\n")
	zone := filepath.Join(dir, "z.zone")
	write(zone, strings.Join([]string{
		"$TTL 300",
		"@ IN SAO ns1 hm 1 2 3 4 5", // 2: the SOA's type misspelt
		"@ IN NS ns1",
		"a IN A 192.0.2.256",          // 4
		"b IN A 192.0.2.1",            //
		"c IN MX x mail",              // 6
		"d IN SOA ns1 hm ( 1 2 3 4 5", // 7: never closed
		"e IN A 192.0.2.2",            //
		"$INCLUDE " + inc,             // 9: error at inc.zone:2
		"f IN A 192.0.2.3 )",          // 10: a ")" without "("
		"g IN AAAA 192.0.2.4",         // 11
		"",
	}, "\n"))
	want := []string{
		`z.zone:2: zone example.: "SAO" is neither a TTL, a class nor a record type`,
		`z.zone:4: zone example.: A record: "192.0.2.256" is not a valid IPv4 address`,
		`z.zone:6: zone example.: MX record: "x" is not a valid preference (0-65535)`,
		`z.zone:7: zone example.: "(" is not closed before the next record (line 8)`,
		inc + `:2: zone example.: A record: "1.2.3" is not a valid IPv4 address`,
		`z.zone:10: zone example.: ")" closes no "("`,
		`z.zone:11: zone example.: AAAA record: "192.0.2.4" is not a valid IPv6 address`,
	}
	for _, split := range []bool{false, true} {
		if split {
			defer func(n int) { splitMin = n }(splitMin)
			splitMin = 1
		}
		b := NewBuilder("example.")
		b.LoadFile(zone)
		_, err := b.Build()
		if err == nil {
			t.Fatal("accepted")
		}
		got := strings.Split(err.Error(), "\n")
		if len(got) != len(want) {
			t.Errorf("split %v: %d errors, want %d:\n%v", split, len(got), len(want), err)
		}
		for _, w := range want {
			n := strings.Count(err.Error(), w)
			if n != 1 {
				t.Errorf("split %v: %q reported %d times:\n%v", split, w, n, err)
			}
		}
		for _, raw := range []string{"bad ", "not a TTL", "garbage", "no SOA", "no NS", "dns:"} {
			if strings.Contains(err.Error(), raw) {
				t.Errorf("split %v: %q in:\n%v", split, raw, err)
			}
		}
	}
}

// TestSyntaxErrorPlaced: an error miekg/dns finds on a later line is
// placed where the mistake is — the record that lacked fields and ran into
// the next line, a quote never closed — and the record it swallowed is
// still read (here: its own mistake is reported too).
func TestSyntaxErrorPlaced(t *testing.T) {
	b := NewBuilder("example.")
	b.AddText(strings.Join([]string{
		"$TTL 300",
		"@ IN SOA ns1 hm 1 2 3 4 5",
		"@ IN NS ns1",
		"mx IN MX 10", // the mail server is missing: the next line is read as it
		"x IN A 192.0.2.300",
		"t IN TXT \"open",
		"y IN AAAA 192.0.2.1",
		"$ORIGIN ; no name",
		"z IN A 192.0.2.1",
	}, "\n"), Pos{File: "c.toml", Line: 1})
	_, err := b.Build()
	if err == nil {
		t.Fatal("accepted")
	}
	want := []string{
		"c.toml:4: zone example.: MX record: it lacks fields, so the next line (5) was read as its data",
		`c.toml:5: zone example.: A record: "192.0.2.300" is not a valid IPv4 address`,
		`c.toml:6: zone example.: a quoted string is not closed`,
		`c.toml:7: zone example.: AAAA record: "192.0.2.1" is not a valid IPv6 address`,
		"c.toml:8: zone example.: $ORIGIN needs the new origin",
	}
	if got := strings.Split(err.Error(), "\n"); len(got) != len(want) {
		t.Errorf("%d errors, want %d:\n%v", len(got), len(want), err)
	}
	for _, w := range want {
		if strings.Count(err.Error(), w) != 1 {
			t.Errorf("%q not reported once:\n%v", w, err)
		}
	}
}
