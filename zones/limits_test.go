package zones

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dnslb/dnslb/dnslb/testutil"
)

const limitsHead = "$ORIGIN example.\n$TTL 300\n@ IN SOA ns1 hm 1 3600 600 604800 60\n@ IN NS ns1\nns1 IN A 192.0.2.1\n"

// buildWithin loads path into a builder for example. with l and ctx, and
// fails the test when that does not return in a generous time (a FIFO
// used to block it forever).
func buildWithin(t *testing.T, ctx context.Context, path string, l Limits) error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		b := NewBuilder("example.")
		b.Limit(ctx, l)
		b.LoadFile(path)
		_, err := b.Build()
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(20 * time.Second):
		t.Fatalf("loading %s did not return", path)
		return nil
	}
}

// waitLoadsGone polls until no goroutine runs a load (a builder's parser,
// or buildWithin's caller): a load leaves none behind, however it ended.
// Counting all goroutines would also count the runtime's and other tests'.
func waitLoadsGone(t *testing.T) {
	t.Helper()
	testutil.WaitGoroutinesGone(t, 20*time.Second, "dnslb/zones.(*Builder)", "dnslb/zones.buildWithin")
}

// TestLoadRefusesNonRegularFiles: a zone file or an $INCLUDE that is a
// device, a FIFO or a folder is refused at once (issue 20: $INCLUDE
// /dev/zero ran the server out of memory; a FIFO hung the reload).
func TestLoadRefusesNonRegularFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, target, kind string
	}{
		{"dev zero", "/dev/zero", "a device"},
		{"fifo", fifo, "a FIFO"},
		{"folder", dir, "a folder"},
	} {
		t.Run(tc.name+" as the file", func(t *testing.T) {
			err := buildWithin(t, context.Background(), tc.target, Limits{})
			if err == nil || !strings.Contains(err.Error(), "not a regular file ("+tc.kind+")") {
				t.Errorf("error %v, want one saying it is not a regular file (%s)", err, tc.kind)
			}
		})
		t.Run(tc.name+" as an include", func(t *testing.T) {
			path := filepath.Join(dir, "z.zone")
			if err := os.WriteFile(path, []byte(limitsHead+"$INCLUDE "+tc.target+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			err := buildWithin(t, context.Background(), path, Limits{})
			want := fmt.Sprintf("%s:6: zone example.: $INCLUDE %s cannot be read", path, tc.target)
			if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "not a regular file") {
				t.Errorf("error %v, want %q ... not a regular file", err, want)
			}
		})
	}
	waitLoadsGone(t)
}

func TestLoadLimits(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	var many strings.Builder
	many.WriteString(limitsHead)
	for i := range 3000 {
		fmt.Fprintf(&many, "h%d IN A 192.0.2.%d\n", i, i%250)
	}
	big := write("big.zone", many.String())
	part := write("part.zone", strings.Repeat("; a comment line of some length, to take bytes\n", 40)+"x IN A 192.0.2.9\n")
	includer := write("inc.zone", limitsHead+strings.Repeat("$INCLUDE "+part+"\n", 10))
	// An include bomb: each file includes the next ten times, seven deep.
	bomb := write("bomb0.zone", "x IN A 192.0.2.1\n")
	for i := 1; i <= 6; i++ {
		bomb = write(fmt.Sprintf("bomb%d.zone", i), strings.Repeat(fmt.Sprintf("$INCLUDE %s\n", bomb), 10))
	}
	bombRoot := write("bomb.zone", limitsHead+"$INCLUDE "+bomb+"\n")

	for _, tc := range []struct {
		name   string
		path   string
		limits Limits
		want   string // "" = loads
	}{
		{"within", big, Limits{MaxBytes: 1 << 20, MaxRecords: 4000}, ""},
		{"file too large", big, Limits{MaxBytes: 10_000}, "cannot read its file: " + big + ": larger than allowed"},
		{"includes too large together", includer, Limits{MaxBytes: 10_000}, "larger than allowed"},
		{"includes within", includer, Limits{MaxBytes: 1 << 20}, ""},
		{"include bomb", bombRoot, Limits{MaxBytes: 1 << 20, MaxRecords: 1000}, "more than 1000 records"},
		{"too many records", big, Limits{MaxRecords: 1000}, "zone example. has more than 1000 records"},
		{"no limits", big, Limits{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, min := range []int{1 << 30, 1} { // whole and cut into chunks
				old := splitMin
				splitMin = min
				err := buildWithin(t, context.Background(), tc.path, tc.limits)
				splitMin = old
				switch {
				case tc.want == "" && err != nil:
					t.Errorf("split %d: %v", min, err)
				case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
					t.Errorf("split %d: error %v, want %q", min, err, tc.want)
				}
			}
		})
	}
	waitLoadsGone(t)
}

// TestLoadCancelled: a load whose context ends stops with an error saying
// so, and leaves no goroutine behind.
func TestLoadCancelled(t *testing.T) {
	var many strings.Builder
	many.WriteString(limitsHead)
	for i := range 200_000 {
		fmt.Fprintf(&many, "h%d IN A 192.0.2.%d\n", i, i%250)
	}
	path := filepath.Join(t.TempDir(), "z.zone")
	if err := os.WriteFile(path, []byte(many.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, min := range []int{1 << 30, 1} {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		old := splitMin
		splitMin = min
		err := buildWithin(t, ctx, path, Limits{})
		splitMin = old
		if err == nil || !strings.Contains(err.Error(), "loading stopped before the end: context canceled") {
			t.Errorf("split %d: error %v", min, err)
		}
	}
	// Cancelled while parsing.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	err := buildWithin(t, ctx, path, Limits{})
	if err != nil && !strings.Contains(err.Error(), "loading stopped before the end: context deadline exceeded") {
		t.Errorf("deadline: %v", err)
	}
	waitLoadsGone(t)
}
