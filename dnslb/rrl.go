package dnslb

import (
	"encoding/binary"
	"hash/maphash"
	"net/netip"
	"sync"
	"time"

	"github.com/dnslb/dnslb/dnslb/config"
)

// Response rate limiting, as NSD, Knot and BIND do it: UDP responses are
// counted per (client prefix, response class, name) and, above
// responses_per_second, dropped — except every slip-th one, which goes out
// truncated (TC=1, no records) so that a real resolver behind a spoofed
// flood retries over TCP and still gets its answer. TCP is never limited: it
// proves the client's address.

// rrlClass groups responses the way an amplification attack would repeat
// them.
type rrlClass uint8

const (
	rrlAnswer   rrlClass = iota // positive answers, keyed by name and type
	rrlNoData                   // NODATA and referrals, keyed by name and type
	rrlNXDomain                 // NXDOMAIN, keyed by zone: random names are one flood
	rrlError                    // REFUSED, FORMERR, …: keyed by class alone
)

// rrlBuckets is the table size; distinct flows beyond it share buckets,
// which only ever makes limiting stricter for them.
const rrlBuckets = 1 << 16

type rrlBucket struct {
	mu      sync.Mutex
	last    int64 // unix nanos of the last update
	balance float64
	limited uint32 // responses limited in a row, for slip
}

type rrl struct {
	rate   float64 // responses per second per bucket
	slip   uint32
	window float64 // seconds of debt a flood accumulates at most
	bits4  int
	bits6  int
	exempt []netip.Prefix
	seed   maphash.Seed
	table  []rrlBucket
}

func newRRL(c config.RRL) *rrl {
	if c.ResponsesPerSecond == 0 {
		return nil
	}
	r := &rrl{
		rate: float64(c.ResponsesPerSecond), slip: uint32(c.Slip), window: float64(c.Window),
		bits4: c.IPv4Prefix, bits6: c.IPv6Prefix, seed: maphash.MakeSeed(), table: make([]rrlBucket, rrlBuckets),
	}
	r.exempt = c.Exempt
	return r
}

// rrlVerdict says what to do with a response.
type rrlVerdict uint8

const (
	rrlSend rrlVerdict = iota
	rrlDrop
	rrlSlip
)

// check accounts one response to src and says whether it may go.
func (r *rrl) check(src netip.Addr, class rrlClass, key []byte, zone string, now int64) rrlVerdict {
	for _, p := range r.exempt {
		if p.Contains(src) {
			return rrlSend
		}
	}
	var h maphash.Hash
	h.SetSeed(r.seed)
	bits := r.bits6
	if src.Is4() {
		bits = r.bits4
	}
	p, _ := src.Prefix(bits)
	a := p.Addr().As16()
	var head [18]byte
	copy(head[:], a[:])
	head[16], head[17] = byte(bits), byte(class)
	_, _ = h.Write(head[:])
	_, _ = h.Write(key)
	_, _ = h.WriteString(zone)
	b := &r.table[h.Sum64()&(rrlBuckets-1)]
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.last == 0 {
		b.balance = r.rate
	} else {
		b.balance = min(r.rate, b.balance+float64(now-b.last)/float64(time.Second)*r.rate)
	}
	b.last = now
	if b.balance >= 1 {
		b.balance--
		b.limited = 0
		return rrlSend
	}
	b.balance = max(b.balance-1, -r.rate*r.window)
	b.limited++
	if r.slip > 0 && b.limited%r.slip == 0 {
		return rrlSlip
	}
	return rrlDrop
}

// classify sorts a response by its rcode and answer count, and returns
// what names its bucket: the question (key) or the zone.
func classify(resp []byte, a *answer, key []byte) (rrlClass, []byte, string) {
	if len(resp) < headerLen {
		return rrlError, nil, ""
	}
	switch rcode := resp[3] & 0xf; {
	case (rcode == 3 || rcode == 0 && a != nil && a.nxname) && a != nil: // a signed NXDOMAIN is NOERROR (RFC 9824)
		return rrlNXDomain, nil, a.zone
	case rcode != 0:
		return rrlError, nil, ""
	case binary.BigEndian.Uint16(resp[6:]) > 0:
		return rrlAnswer, key, ""
	}
	return rrlNoData, key, ""
}

// limit applies rate limiting to a UDP response: it returns the response
// to send (maybe truncated) or nil to drop it.
// A query with a client cookie slips as BADCOOKIE with a server cookie, so
// that its next query proves its address and is not limited.
func (w *worker) limit(snap *snapshot, resp []byte, a *answer, src netip.Addr, key []byte, now int64) []byte {
	class, k, zone := classify(resp, a, key)
	switch snap.rrl.check(src, class, k, zone, now) {
	case rrlDrop:
		w.stats.rrlDrops.Add(1)
		return nil
	case rrlSlip:
		w.stats.rrlSlips.Add(1)
		if w.ck.state != cookieNone {
			return w.ck.badCookie(resp, snap.udpSize)
		}
		return slipped(resp)
	}
	return resp
}

// slipped rewrites resp in place as its truncated form: the header with
// TC=1 and the question, nothing else.
func slipped(resp []byte) []byte {
	if len(resp) < headerLen {
		return resp
	}
	resp[2] |= byte(flagTC >> 8)
	end := headerLen
	if binary.BigEndian.Uint16(resp[4:]) == 1 {
		end = skipName(resp, headerLen) + 4
	}
	clear(resp[6:headerLen])
	return resp[:end]
}
