package zones

import "github.com/miekg/dns"

// Edit returns a new zone in which each name in names holds exactly the
// given static records (none: the name's static data is gone; its
// dynamic RRsets stay), every other name as in z. z is not changed: a
// zone changed at run time (RFC 2136) is built aside and swapped in.
// Records of other names are copied in wire form, not decoded.
func (z *Zone) Edit(names map[string][]dns.RR) (*Zone, error) {
	b := NewBuilder(z.Origin)
	// Arena chunks sized to this zone: the defaults suit loading large
	// files, and clearing megabytes for a small zone would cost an update
	// more than everything else it does.
	recBytes, nameBytes := recHeader*z.size, 0
	for name, n := range z.nodes {
		recBytes += len(n.data)
		nameBytes += len(name)
	}
	b.recs.size = min(recBytes+recBytes/4+4096, recChunk)
	b.names.size = min(nameBytes+nameBytes/4+1024, nameChunk)
	for name, n := range z.nodes {
		if _, ok := names[name]; !ok {
			for off := 0; off < len(n.data); {
				_, next := n.record(off)
				b.file(name, n.data[off:next], Pos{})
				off = next
			}
		}
		for _, d := range n.Dynamics() {
			b.AddDynamic(name, d.Type, d.ID, Pos{})
		}
	}
	for _, rrs := range names {
		for _, rr := range rrs {
			b.Add(dns.Copy(rr), Pos{})
		}
	}
	return b.Build()
}
