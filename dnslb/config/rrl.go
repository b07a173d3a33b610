package config

import (
	"fmt"
	"math"
	"net/netip"
)

// rrlTOML is [rrl], response rate limiting (off by default).
type rrlTOML struct {
	ResponsesPerSecond *int     `toml:"responses_per_second"` // default 0 = off
	Slip               *int     `toml:"slip"`                 // default 2: every 2nd limited response is sent truncated
	IPv4Prefix         *int     `toml:"ipv4_prefix"`          // default 24
	IPv6Prefix         *int     `toml:"ipv6_prefix"`          // default 56
	Window             *int     `toml:"window"`               // default 15 seconds of credit
	Exempt             []string `toml:"exempt"`               // prefixes never limited, e.g. ["127.0.0.0/8"]
}

// RRL is [rrl], checked.
type RRL struct {
	ResponsesPerSecond int // 0 = off
	Slip               int
	IPv4Prefix         int
	IPv6Prefix         int
	Window             int            // seconds
	Exempt             []netip.Prefix // masked
}

func (t *rrlTOML) build(v *validator) RRL {
	r := RRL{
		ResponsesPerSecond: v.number("rrl.responses_per_second", t.ResponsesPerSecond, 0, 0, math.MaxInt32, "0 (off) or more"),
		Slip:               v.number("rrl.slip", t.Slip, 2, 1, 10, "1 (every limited response truncated) to 10, default 2"),
		IPv4Prefix:         v.number("rrl.ipv4_prefix", t.IPv4Prefix, 24, 8, 32, "8-32"),
		IPv6Prefix:         v.number("rrl.ipv6_prefix", t.IPv6Prefix, 56, 16, 128, "16-128"),
		Window:             v.number("rrl.window", t.Window, 15, 1, 3600, "1-3600 seconds"),
	}
	for i, e := range t.Exempt {
		p, err := netip.ParsePrefix(e)
		if err != nil {
			v.errorf(fmt.Sprintf("rrl.exempt[%d]", i), "%q is not a prefix: write e.g. \"192.0.2.0/24\"", e)
			continue
		}
		r.Exempt = append(r.Exempt, p.Masked())
	}
	return r
}
