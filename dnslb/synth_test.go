package dnslb

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"

	"github.com/miekg/dns"
)

// randomLabel is a label of 1-20 letters, digits and hyphens, in mixed case.
func randomLabel(rng *rand.Rand) string {
	const chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"
	b := make([]byte, 1+rng.IntN(20))
	for i := range b {
		b[i] = chars[rng.IntN(len(chars))]
	}
	return string(b)
}

// synthQueries are the conformance table's queries and random names under
// every kind of place in the conformance zones, each plain, without EDNS,
// with DO, with ECS and with a cookie.
func synthQueries(t *testing.T, n int) []*dns.Msg {
	rng := rand.New(rand.NewPCG(1, 2))
	var msgs []*dns.Msg
	for _, tc := range conformance {
		m := new(dns.Msg)
		m.SetQuestion(tc.qname, tc.qtype)
		m.SetEdns0(1232, false)
		if tc.edit != nil {
			tc.edit(m)
		}
		msgs = append(msgs, m)
	}
	places := []string{"example.", "wild.example.", "x.wild.example.", "wcname.example.", "sub.example.", "b.ent.example.", "www.example.",
		"ns1.example.", "hostmaster.example.", "other.test.", "ns1.other.test.", "hostmaster.other.test.", "elsewhere.net."}
	types := []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeTXT, dns.TypeMX, dns.TypeNS, dns.TypeSOA, dns.TypeCNAME, dns.TypeSRV, dns.TypeDS, dns.TypeANY, dns.TypeHTTPS}
	for range n {
		name := randomLabel(rng) + "." + places[rng.IntN(len(places))]
		if rng.IntN(4) == 0 {
			name = randomLabel(rng) + "." + name
		}
		m := new(dns.Msg)
		m.SetQuestion(name, types[rng.IntN(len(types))])
		m.RecursionDesired = rng.IntN(2) == 0
		m.CheckingDisabled = rng.IntN(4) == 0
		switch rng.IntN(5) {
		case 0: // no EDNS
		case 1:
			m.SetEdns0(1232, false)
		case 2:
			m.SetEdns0(4096, true)
		case 3:
			m.SetEdns0(1232, false)
			o := m.IsEdns0()
			o.Option = append(o.Option, &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: 24, Address: net.IPv4(198, 51, 100, 0)})
		case 4:
			m.SetEdns0(512, rng.IntN(2) == 0)
			o := m.IsEdns0()
			o.Option = append(o.Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: fmt.Sprintf("%016x", rng.Uint64())})
		}
		msgs = append(msgs, m)
	}
	return msgs
}

// TestSynthMatchesGeneral: for the conformance table and random names, over
// UDP and TCP limits, the synthesized response is the general path's, byte
// for byte; and the synthesized ones leave the answer cache untouched.
func TestSynthMatchesGeneral(t *testing.T) {
	srv, err := New(confPath, Options{Logger: discardLogger})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.closeListeners()
	src := netip.MustParseAddrPort("192.0.2.99:5353")
	cache := srv.snap.Load().cache
	msgs := synthQueries(t, 3000)
	synthesized := map[string]int{}
	for _, tcp := range []bool{false, true} {
		gw := newWorker(srv, tcp, srv.newStats())
		gw.noSynth = true
		sw := newWorker(srv, tcp, srv.newStats())
		for _, m := range msgs {
			req, err := m.Pack()
			if err != nil {
				t.Fatal(err)
			}
			clear(cache.slots)
			general := bytes.Clone(gw.serve(req, src))
			clear(cache.slots)
			synth := sw.serve(req, src)
			if !bytes.Equal(general, synth) {
				var g, s dns.Msg
				_ = g.Unpack(general)
				_ = s.Unpack(synth)
				t.Fatalf("%s %s (tcp %v):\ngeneral % x\n%v\nsynth   % x\n%v", m.Question[0].Name, dns.TypeToString[m.Question[0].Qtype], tcp, general, &g, synth, &s)
			}
			key, ok := parseQuery(req, &query{}, nil)
			if ok && cache.get(key) == nil && len(synth) > 0 {
				var r dns.Msg
				_ = r.Unpack(synth)
				kind := dns.RcodeToString[r.Rcode]
				if r.Rcode == dns.RcodeSuccess {
					kind = "NODATA"
					if len(r.Answer) > 0 {
						kind = "wildcard"
					}
				}
				synthesized[kind]++
			}
		}
	}
	t.Logf("%d responses compared; synthesized: %v", 2*len(msgs), synthesized)
	if synthesized["NXDOMAIN"] < 500 || synthesized["NODATA"] < 500 || synthesized["wildcard"] < 100 {
		t.Errorf("too few synthesized answers compared: %v", synthesized)
	}
}
