package update

import (
	"fmt"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func TestSeen(t *testing.T) {
	t0 := time.Unix(1700000000, 0)
	s := NewSeen(3)
	if _, ok := s.Lookup("k.", "aa", t0); ok {
		t.Fatal("an empty Seen knows a MAC")
	}
	s.Add("k.", "aa", dns.RcodeSuccess, t0.Add(300*time.Second), t0)
	if rc, ok := s.Lookup("k.", "aa", t0.Add(time.Second)); !ok || rc != dns.RcodeSuccess {
		t.Fatalf("Lookup = %d %v", rc, ok)
	}
	if _, ok := s.Lookup("other.", "aa", t0); ok {
		t.Fatal("the MAC of another key matched")
	}
	if _, ok := s.Lookup("k.", "aa", t0.Add(301*time.Second)); ok {
		t.Fatal("remembered past its signature's expiry")
	}
	// Bounded: the oldest go first.
	for i := range 5 {
		s.Add("k.", fmt.Sprint(i), dns.RcodeNXRrset, t0.Add(300*time.Second), t0)
	}
	if s.Len() != 3 {
		t.Fatalf("%d remembered, bound 3", s.Len())
	}
	if _, ok := s.Lookup("k.", "1", t0); ok {
		t.Fatal("an old entry outlived the bound")
	}
	if rc, ok := s.Lookup("k.", "4", t0); !ok || rc != dns.RcodeNXRrset {
		t.Fatal("the newest entry is gone")
	}
	// Expired entries go at the next Add.
	s.Add("k.", "new", dns.RcodeSuccess, t0.Add(900*time.Second), t0.Add(600*time.Second))
	if s.Len() != 1 {
		t.Fatalf("%d remembered after the others expired, want 1", s.Len())
	}
}
