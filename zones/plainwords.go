package zones

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/miekg/dns"
)

// miekg/dns words its parse errors for its own developers ("bad A A:
// \"192.0.2.256\"", "not a TTL: \"AA\""). plainWords says the same to the
// person who wrote the zone file: what is wrong and what would be valid.

var (
	parseMsg   = regexp.MustCompile(`^(.*?): "(.*)"$`)
	badField   = regexp.MustCompile(`^bad ([A-Z0-9-]+) ([A-Za-z0-9]+)$`)
	openFailed = regexp.MustCompile("^failed to open `(.*?)'(?: as `.*?')?: (?:open .*?: )?(.*)$")
)

// examples are a record of each common type, for messages.
var examples = map[string]string{
	"A":     "www 300 IN A 192.0.2.1",
	"AAAA":  "www 300 IN AAAA 2001:db8::1",
	"CNAME": "www 300 IN CNAME web.example.com.",
	"MX":    "@ 300 IN MX 10 mail.example.com.",
	"NS":    "@ 300 IN NS ns1.example.com.",
	"PTR":   "1 300 IN PTR host.example.com.",
	"SRV":   "_sip._tcp 300 IN SRV 10 5 5060 sip.example.com.",
	"TXT":   `www 300 IN TXT "some text"`,
	"CAA":   `@ 300 IN CAA 0 issue "letsencrypt.org"`,
	"SOA":   "@ 300 IN SOA ns1 hostmaster 2024010101 3600 600 604800 300",
}

// fieldWords names what a field of miekg/dns's record structs holds.
var fieldWords = map[string]string{
	"A": "IPv4 address", "AAAA": "IPv6 address",
	"Target": "domain name", "Mx": "domain name", "Ns": "domain name", "Ptr": "domain name", "Host": "domain name",
	"Mbox": "mailbox name", "Pref": "preference (0-65535)", "Preference": "preference (0-65535)",
	"Priority": "priority (0-65535)", "Weight": "weight (0-65535)", "Port": "port (0-65535)",
	"Serial": "serial (0-4294967295)", "Refresh": "time in seconds", "Retry": "time in seconds",
	"Expire": "time in seconds", "Minttl": "time in seconds", "Txt": "quoted string",
	"Flag": "flag (0-255)", "Tag": "tag (e.g. issue)", "Value": "quoted value",
}

// plainWords rewords msg, miekg/dns's text without its "dns: " prefix and
// position. line is the text of the line the error is on.
func plainWords(msg, line string) string {
	what, tok := msg, ""
	if m := parseMsg.FindStringSubmatch(msg); m != nil {
		what, tok = m[1], m[2]
	}
	blank := strings.TrimSpace(tok) == "" || tok == `\n`
	switch {
	case what == "not a TTL" && strings.HasPrefix(strings.TrimSpace(line), "$"):
		d := strings.ToUpper(strings.Fields(line)[0])
		switch d {
		case "$ORIGIN":
			return "$ORIGIN needs the new origin, e.g. $ORIGIN example.com."
		case "$TTL":
			return "$TTL needs the default TTL in seconds, e.g. $TTL 3600"
		case "$INCLUDE":
			return "$INCLUDE needs the file to include, e.g. $INCLUDE hosts.zone"
		}
		return fmt.Sprintf("%q is not a directive: use $ORIGIN, $TTL or $INCLUDE", strings.Fields(line)[0])
	case what == "unexpected newline":
		typ := recordType(line)
		return fmt.Sprintf("%s record: it ends before its data: write the data after the type%s", typ, example(typ))
	case what == "bad RFC3597 Rdata":
		return `generic (RFC 3597) data: write \# then its length in bytes, then the bytes in hex, e.g. \# 4 c0000201`
	case what == "extra closing brace" || what == "garbage after rdata" && tok == "extra closing brace":
		return `")" closes no "(": remove it, or open the record's data with "("`
	case what == "not a TTL" && tok != "" && strings.Trim(tok, "0123456789") == "":
		return fmt.Sprintf("TTL %s is too large: use at most 2147483647 seconds (RFC 2181 §8)", tok)
	case what == "not a TTL":
		return fmt.Sprintf("%q is neither a TTL, a class nor a record type: write owner, TTL (seconds), class and type, e.g. %q", tok, examples["A"])
	case strings.HasPrefix(what, "expecting $TTL value") && blank:
		return "$TTL needs the default TTL in seconds, e.g. $TTL 3600"
	case strings.HasPrefix(what, "expecting $TTL value"):
		return fmt.Sprintf("$TTL %q is not a TTL: write seconds, e.g. $TTL 3600", tok)
	case strings.HasPrefix(what, "expecting $ORIGIN value") && blank:
		return "$ORIGIN needs the new origin, e.g. $ORIGIN example.com."
	case strings.HasPrefix(what, "expecting $ORIGIN value"):
		return fmt.Sprintf("$ORIGIN %q is not a domain name: write e.g. $ORIGIN example.com.", tok)
	case strings.HasPrefix(what, "expecting $INCLUDE value") && blank:
		return "$INCLUDE needs the file to include, e.g. $INCLUDE hosts.zone"
	case strings.HasPrefix(what, "expecting $INCLUDE value"):
		return fmt.Sprintf("$INCLUDE %q: write the file to include, e.g. $INCLUDE hosts.zone", tok)
	case what == "unknown RR type":
		return fmt.Sprintf("%q is not a record type: use A, AAAA, CNAME, MX, NS, TXT, SRV, CAA, PTR… (RFC 3597 TYPEnnn for others)", tok)
	case what == "bad owner name":
		return fmt.Sprintf("%q is not a domain name: labels of 1 to 63 characters joined by dots, 255 in all", tok)
	case what == "garbage after rdata":
		return fmt.Sprintf("%q follows the record's data: one record per line (a record continues over lines only inside \"( )\")", tok)
	case strings.HasPrefix(what, "$INCLUDE directive not allowed"):
		return "$INCLUDE is allowed only in zone files, not in a config's records"
	}
	if m := openFailed.FindStringSubmatch(what); m != nil {
		return fmt.Sprintf("$INCLUDE %s cannot be read: %s", m[1], m[2])
	}
	if m := badField.FindStringSubmatch(what); m != nil {
		typ, field := m[1], m[2]
		words := fieldWords[field]
		if words == "" {
			words = strings.ToLower(field)
		}
		ex := example(typ)
		if blank {
			return fmt.Sprintf("%s record: it ends where its %s should be: write every field%s", typ, words, ex)
		}
		return fmt.Sprintf("%s record: %q is not a valid %s%s", typ, tok, words, ex)
	}
	if tok != "" {
		return fmt.Sprintf("%q cannot be read here: check the record against its type's syntax (RFC 1035 master file)", tok)
	}
	return "this line cannot be read: check the record against its type's syntax (RFC 1035 master file)"
}

// example is ", e.g. <a record of typ>" when one is known, else "".
func example(typ string) string {
	if e := examples[typ]; e != "" {
		return fmt.Sprintf(", e.g. %q", e)
	}
	return ""
}

// recordType finds the type of the record written on line: the first
// field after the owner that names a type ("?" when none does).
func recordType(line string) string {
	if i := strings.IndexByte(line, ';'); i >= 0 {
		line = line[:i]
	}
	fields := strings.Fields(line)
	if len(line) > 0 && line[0] != ' ' && line[0] != '\t' && len(fields) > 0 {
		fields = fields[1:] // the owner
	}
	for _, f := range fields {
		if _, ok := dns.StringToType[strings.ToUpper(f)]; ok {
			return strings.ToUpper(f)
		}
	}
	return "the"
}
