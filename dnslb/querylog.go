package dnslb

import (
	"encoding/binary"
	"log/slog"
	"math/rand/v2"
	"net/netip"

	"github.com/miekg/dns"
)

// queryLog writes one structured line per sampled query ([log] queries).
type queryLog struct {
	logger *slog.Logger
	sample float64
}

func (l *queryLog) log(src netip.AddrPort, req, resp []byte) {
	if l.sample < 1 && rand.Float64() >= l.sample {
		return
	}
	var q dns.Msg
	name, qtype := "", ""
	if q.Unpack(req) == nil && len(q.Question) == 1 {
		name, qtype = q.Question[0].Name, dns.TypeToString[q.Question[0].Qtype]
	}
	rcode, answers := "", 0
	if len(resp) >= headerLen {
		rcode = dns.RcodeToString[int(resp[3]&0xf)]
		answers = int(binary.BigEndian.Uint16(resp[6:]))
	}
	l.logger.Info("query", "client", src.Addr().String(), "qname", name, "qtype", qtype, "rcode", rcode, "answers", answers, "size", len(resp))
}
