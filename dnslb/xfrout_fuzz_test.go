package dnslb

import (
	"testing"

	"github.com/miekg/dns"
)

// FuzzTransferType: the TCP path's look at a question (is it a transfer?)
// never panics and agrees with miekg/dns's full parse.
func FuzzTransferType(f *testing.F) {
	addSeeds(f, "FuzzTransferType")
	f.Fuzz(func(t *testing.T, msg []byte) {
		got := transferType(msg)
		var m dns.Msg
		if m.Unpack(msg) != nil {
			return
		}
		want := uint16(0)
		if len(m.Question) == 1 && !m.Response && m.Opcode == dns.OpcodeQuery {
			if q := m.Question[0].Qtype; q == dns.TypeAXFR || q == dns.TypeIXFR {
				want = q
			}
		}
		// A compressed question name is sent to the query path, which
		// refuses transfers: only a transfer seen where there is none is
		// wrong.
		if got != want && (got != 0 || !compressedQuestion(msg)) {
			t.Fatalf("transferType = %d, miekg/dns reads %d", got, want)
		}
	})
}

func compressedQuestion(msg []byte) bool {
	for off := headerLen; off < len(msg) && msg[off] != 0; off += 1 + int(msg[off]) {
		if msg[off]&0xc0 != 0 {
			return true
		}
	}
	return false
}
