package health

import (
	"bufio"
	"bytes"
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

func TestParseLoad(t *testing.T) {
	tests := []struct {
		in   string
		want float64
		ok   bool
	}{
		{"0.75", 0.75, true}, {" 12 ", 12, true}, {"0", 0, true}, {"-0", 0, true}, {"1e3", 1000, true},
		{"", 0, false}, {"high", 0, false}, {"-1", 0, false}, {"NaN", 0, false}, {"Inf", 0, false},
		{"1e400", 0, false}, {"0.5%", 0, false}, {strings.Repeat("1", 65), 0, false},
	}
	for _, tt := range tests {
		got, ok := parseLoad(tt.in)
		if got != tt.want || ok != tt.ok || math.Signbit(got) {
			t.Errorf("parseLoad(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// FuzzParseLoad: whatever a backend sends, a load is finite, non-negative
// and reads back as itself.
func FuzzParseLoad(f *testing.F) {
	for _, s := range []string{"0.75", " 12 ", "-0", "1e3", "NaN", "-Inf", "0x1p-2", "1_0", "", "\t5\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, ok := parseLoad(s)
		if !ok {
			if v != 0 {
				t.Fatalf("parseLoad(%q) = %v, false", s, v)
			}
			return
		}
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 || math.Signbit(v) {
			t.Fatalf("parseLoad(%q) = %v", s, v)
		}
		if back, ok := parseLoad(strconv.FormatFloat(v, 'g', -1, 64)); !ok || back != v {
			t.Fatalf("parseLoad(%q) = %v does not read back: %v, %v", s, v, back, ok)
		}
	})
}

// FuzzJudge feeds arbitrary bytes as an HTTP response to the verdict: it
// must not panic, must answer with a known reason, and OK must agree with
// the reason and the error.
func FuzzJudge(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 8\r\nX-Load: 0.5\r\n\r\nall good"), "good", uint16(0))
	f.Add([]byte("HTTP/1.1 503 Service Unavailable\r\n\r\n"), "", uint16(503))
	f.Add([]byte("HTTP/1.1 302 Found\r\nLocation: /x\r\n\r\n"), "", uint16(302))
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n"), "bc", uint16(200))
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"), "x", uint16(0))
	f.Add([]byte("HTTP/1.0 204 No Content\r\nX-Load: -3\r\n\r\n"), "", uint16(204))
	reasons := map[string]bool{"": true, ReasonTimeout: true, ReasonRefused: true, ReasonConnect: true,
		ReasonStatus: true, ReasonBody: true, ReasonTLS: true, ReasonRcode: true, ReasonError: true}
	f.Fuzz(func(t *testing.T, raw []byte, body string, expect uint16) {
		resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), nil)
		if err != nil {
			return
		}
		defer resp.Body.Close()
		c := &Check{Name: "f", Type: TypeHTTP, Body: body, LoadHeader: "X-Load"}
		if expect != 0 {
			c.Expect = []int{int(expect)}
		}
		r := judge(c, resp)
		if !reasons[r.Reason] || r.OK != (r.Reason == "") || r.OK != (r.Err == nil) {
			t.Fatalf("judge = %+v", r)
		}
		if r.OK && !statusOK(c.Expect, resp.StatusCode) {
			t.Fatalf("status %d accepted with expect %v", resp.StatusCode, c.Expect)
		}
		if r.HasLoad && (r.Load < 0 || math.IsNaN(r.Load) || math.IsInf(r.Load, 0)) {
			t.Fatalf("load %v", r.Load)
		}
	})
}
