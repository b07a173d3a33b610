package dnslb

import (
	"net/netip"

	"github.com/dnslb/dnslb/dnslb/cookie"
)

// DNS cookies (RFC 7873) with server cookies as RFC 9018 makes them. A
// query with a client cookie gets a fresh server cookie in every response.
// Over UDP, a server cookie we did not make (another secret, or expired)
// gets BADCOOKIE with a new one, so that the client retries with it (RFC
// 7873 §5.2.4, §5.3), as Knot does; over TCP it gets its answer. A valid
// server cookie proves the source address, so its responses skip RRL, and
// RRL's slip answers a cookie-bearing query with BADCOOKIE and a cookie
// instead of a truncated response.

// rcodeBadCookie is RFC 7873's extended rcode 23.
const rcodeBadCookie = 23

type cookieState uint8

const (
	cookieNone   cookieState = iota // no COOKIE option
	cookieClient                    // a client cookie alone
	cookieBad                       // a server cookie we did not make, or expired
	cookieValid                     // a server cookie we made, within its lifetime
)

// cookieReply is a worker's cookie state for the query it is answering.
type cookieReply struct {
	state cookieState
	do    bool                                      // the query's DO bit, for a slipped BADCOOKIE
	opt   [cookie.ClientLen + cookie.ServerLen]byte // client cookie + our new server cookie
}

// evalCookie judges a COOKIE option's data and makes the server cookie to
// send back. It returns false for a malformed option (FORMERR, RFC 7873
// §5.2.2).
func (c *cookieReply) eval(s *cookie.Secrets, data []byte, addr netip.Addr, now int64, do bool) bool {
	client, server, ok := cookie.Parse(data)
	if !ok {
		c.state = cookieNone
		return false
	}
	secs := uint32(now / 1e9)
	switch {
	case server == nil:
		c.state = cookieClient
	case s.Valid(client, server, addr, secs):
		c.state = cookieValid
	default:
		c.state = cookieBad
	}
	c.do = do
	copy(c.opt[:], client)
	s.Make((*[cookie.ServerLen]byte)(c.opt[cookie.ClientLen:]), client, addr, secs)
	return true
}

// option is the COOKIE option to send, or nil.
func (c *cookieReply) option() []byte {
	if c.state == cookieNone {
		return nil
	}
	return c.opt[:]
}

// badCookie rewrites resp in place as BADCOOKIE: header and question, and
// an OPT with our cookie.
func (c *cookieReply) badCookie(resp []byte, advertise uint16) []byte {
	resp = slipped(resp)
	if len(resp) < headerLen {
		return resp
	}
	resp[2] &^= byte(flagTC >> 8)
	resp[3] = resp[3]&0xf0 | rcodeBadCookie&0xf
	r := reply{edns: true, advertise: advertise, do: c.do, cookie: c.opt[:]}
	resp = appendOPT(resp, &r, 0, rcodeBadCookie>>4)
	resp[11] = 1
	return resp
}
