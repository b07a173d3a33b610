package health

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// serveDNS starts a miekg/dns server on 127.0.0.1 that answers ok.test. and
// NXDOMAIN for anything else.
func serveDNS(t *testing.T) uint16 {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, NotifyStartedFunc: func() { close(started) }}
	srv.Handler = dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req)
		m.Authoritative = true
		if req.Question[0].Name == "ok.test." {
			rr, _ := dns.NewRR("ok.test. 60 IN A 192.0.2.1")
			m.Answer = append(m.Answer, rr)
		} else {
			m.Rcode = dns.RcodeNameError
		}
		w.WriteMsg(m)
	})
	done := make(chan error, 1)
	go func() { done <- srv.ActivateAndServe() }()
	t.Cleanup(func() {
		srv.Shutdown()
		<-done
	})
	<-started
	return portOf(t, pc.LocalAddr())
}

func dnsCheck(port uint16, name string, rcode int) *Check {
	c := probeCheck(TypeDNS, port)
	c.DNSName, c.DNSRcode = name, rcode
	return c
}

func TestProbeDNS(t *testing.T) {
	port := serveDNS(t)
	tests := []struct {
		name       string
		check      *Check
		wantReason string
	}{
		{"NOERROR expected", dnsCheck(port, "ok.test.", dns.RcodeSuccess), ""},
		{"not fully qualified", dnsCheck(port, "ok.test", dns.RcodeSuccess), ""},
		{"NXDOMAIN when NOERROR expected", dnsCheck(port, "missing.test.", dns.RcodeSuccess), ReasonRcode},
		{"NXDOMAIN expected", dnsCheck(port, "missing.test.", dns.RcodeNameError), ""},
		{"NOERROR when NXDOMAIN expected", dnsCheck(port, "ok.test.", dns.RcodeNameError), ReasonRcode},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Probe(context.Background(), tt.check, lo)
			if r.Reason != tt.wantReason || r.OK != (tt.wantReason == "") {
				t.Errorf("got OK %v reason %q (%v), want reason %q", r.OK, r.Reason, r.Err, tt.wantReason)
			}
		})
	}
}

func TestProbeDNSTimeout(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0") // bound, never read: queries go unanswered
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	c := dnsCheck(portOf(t, pc.LocalAddr()), "ok.test.", 0)
	c.Timeout = 100 * time.Millisecond
	if r := Probe(context.Background(), c, lo); r.Reason != ReasonTimeout {
		t.Errorf("dns to a silent socket: %q (%v), want %q", r.Reason, r.Err, ReasonTimeout)
	}
}

func TestProbeDNSRefused(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := portOf(t, pc.LocalAddr())
	pc.Close() // the kernel answers ICMP port unreachable
	if r := Probe(context.Background(), dnsCheck(port, "ok.test.", 0), lo); r.OK || r.Reason != ReasonRefused {
		t.Errorf("dns to a closed port: %q (%v), want %q", r.Reason, r.Err, ReasonRefused)
	}
}
