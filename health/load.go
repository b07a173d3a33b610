package health

import (
	"math"
	"strconv"
	"strings"
)

// parseLoad reads a load header value: a finite, non-negative decimal number
// ("0.75", " 12 "). Anything else is ignored rather than failing the probe: a
// backend that serves well but reports its load badly is still up.
func parseLoad(s string) (float64, bool) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 64 {
		return 0, false
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return 0, false
	}
	if v == 0 {
		v = 0 // "-0" reads as 0
	}
	return v, true
}
