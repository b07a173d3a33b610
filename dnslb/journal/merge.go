package journal

import (
	"errors"
	"fmt"

	"github.com/miekg/dns"
)

// Merge returns one entry with the effect of entries applied in order:
// from the first's serial to the last's, removing the records the first
// zone had and the last has not, adding those the last has and the first
// had not (the old SOA first in Del, the new one first in Add). A record
// added then removed, or removed then added back, cancels out.
//
// Records are matched exactly (owner name case aside, TTL included), as
// the entries of an update carry them. Entries that do not chain, or that
// remove a record twice or add it twice, are an error: they do not
// describe changes to one zone.
func Merge(entries []*Entry) (*Entry, error) {
	if len(entries) == 0 {
		return nil, errors.New("journal: nothing to merge")
	}
	type count struct {
		rr dns.RR
		n  int // +1 added, -1 removed, 0 as before
	}
	seen := map[string]*count{}
	var order []string
	for i, e := range entries {
		if i > 0 && entries[i-1].To != e.From {
			return nil, fmt.Errorf("journal: entry %d starts at serial %d but the one before ended at %d", i+1, e.From, entries[i-1].To)
		}
		if len(e.Del) == 0 || len(e.Add) == 0 || e.Del[0].Header().Rrtype != dns.TypeSOA || e.Add[0].Header().Rrtype != dns.TypeSOA {
			return nil, fmt.Errorf("journal: entry %d (serial %d to %d) does not start its lists with the SOA", i+1, e.From, e.To)
		}
		for d, rrs := range [2][]dns.RR{e.Del[1:], e.Add[1:]} {
			step := 2*d - 1
			for _, rr := range rrs {
				if rr.Header().Rrtype == dns.TypeSOA {
					return nil, fmt.Errorf("journal: entry %d (serial %d to %d) has a second SOA", i+1, e.From, e.To)
				}
				k := recordKey(rr)
				c, ok := seen[k]
				if !ok {
					c = &count{rr: rr}
					seen[k] = c
					order = append(order, k)
				}
				c.n += step
				if c.n < -1 || c.n > 1 {
					return nil, fmt.Errorf("journal: entry %d (serial %d to %d) %s %q a second time", i+1, e.From, e.To, [2]string{"removes", "adds"}[d], rr.String())
				}
				if step > 0 {
					c.rr = rr // the form the zone holds now
				}
			}
		}
	}
	first, last := entries[0], entries[len(entries)-1]
	m := &Entry{From: first.From, To: last.To, Time: last.Time, Key: last.Key,
		Del: []dns.RR{first.Del[0]}, Add: []dns.RR{last.Add[0]}}
	for _, k := range order {
		switch c := seen[k]; c.n {
		case -1:
			m.Del = append(m.Del, c.rr)
		case 1:
			m.Add = append(m.Add, c.rr)
		}
	}
	return m, nil
}

// recordKey identifies a record as Merge matches it: its text with the
// owner name lowercased (the zone stores owners so; the TTL is part of it).
func recordKey(rr dns.RR) string {
	if n := rr.Header().Name; n != dns.CanonicalName(n) {
		rr = dns.Copy(rr)
		rr.Header().Name = dns.CanonicalName(n)
	}
	return rr.String()
}
