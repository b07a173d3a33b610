package main

import (
	"io"
	"testing"
	"time"
)

func TestParseFlags(t *testing.T) {
	for _, tc := range []struct {
		args           []string
		warmup, window time.Duration
	}{
		{[]string{}, time.Minute, 2 * time.Minute},
		{[]string{"-duration", "3m"}, time.Minute, 40 * time.Second},
		{[]string{"-duration", "2m"}, 40 * time.Second, 26 * time.Second},
	} {
		o, err := parseFlags(tc.args, io.Discard)
		if err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		if o.warmup != tc.warmup || resourceWindow(o) != tc.window {
			t.Errorf("%v: warm-up %s, window %s; want %s, %s", tc.args, o.warmup, resourceWindow(o), tc.warmup, tc.window)
		}
	}
	for _, args := range [][]string{{"-duration", "90s"}, {"extra"}} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}
