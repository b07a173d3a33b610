package update

import (
	"fmt"
	"slices"
	"sort"

	"github.com/miekg/dns"

	"github.com/dnslb/dnslb/zones"
)

// Result is what an update did.
type Result struct {
	Rcode  int
	Reason string      // why it was refused, for the log (REFUSED, FORMERR, NOTZONE)
	Zone   *zones.Zone // the zone after the update; nil when nothing changed
	// The difference, IXFR-shaped: Del starts with the old SOA and Add with
	// the new one whenever anything changed.
	Del, Add []dns.RR
	From, To uint32   // serials before and after
	Names    []string // names the update section touched, sorted
	Types    []string // their types, sorted
}

// Apply carries out the update m (already authenticated as signed by key)
// against z, whose origin the zone section names. z is not changed.
func Apply(z *zones.Zone, m *dns.Msg, key string, p Policy) Result {
	t := newTxn(z)
	res := Result{Rcode: dns.RcodeSuccess, From: z.SOA.Serial, To: z.SOA.Serial}
	fail := func(rcode int, format string, args ...any) Result {
		res.Rcode, res.Reason = rcode, fmt.Sprintf(format, args...)
		return res
	}
	// RFC 2136 §3.2: prerequisites, against the zone as it is.
	if rcode, why := t.prerequisites(m.Answer); rcode != dns.RcodeSuccess {
		return fail(rcode, "%s", why)
	}
	// §3.4.1: prescan, then §3.3: permissions, before anything changes.
	names, types := map[string]bool{}, map[string]bool{}
	for _, rr := range m.Ns {
		if rcode, why := t.prescan(rr); rcode != dns.RcodeSuccess {
			return fail(rcode, "%s", why)
		}
		name, typ := dns.CanonicalName(rr.Header().Name), rr.Header().Rrtype
		touched := []uint16{typ}
		if typ == dns.TypeANY {
			touched = t.types(name)
		}
		if why := t.pool(name, typ, rr.Header().Class); why != "" {
			return fail(dns.RcodeRefused, "%s", why)
		}
		protected := t.protected(name, typ)
		for _, tt := range touched {
			if !p.allows(key, name, tt, protected || t.protected(name, tt)) {
				return fail(dns.RcodeRefused, "key %s may not change %s at %s%s", key, dns.TypeToString[tt], name, protectedHint(protected || t.protected(name, tt)))
			}
			types[dns.TypeToString[tt]] = true
		}
		if len(touched) == 0 && !p.allows(key, name, dns.TypeANY, protected) {
			return fail(dns.RcodeRefused, "key %s may not change %s", key, name)
		}
		names[name] = true
	}
	res.Names, res.Types = sortedKeys(names), sortedKeys(types)
	// §3.4.2: apply.
	for _, rr := range m.Ns {
		t.update(rr)
	}
	if !t.changed() {
		return res
	}
	t.bumpSerial()
	res.Del, res.Add = t.diff()
	nz, err := z.Edit(t.edited())
	if err != nil {
		return fail(dns.RcodeServerFailure, "the changed zone does not build: %v", err)
	}
	res.Zone, res.To = nz, nz.SOA.Serial
	return res
}

func protectedHint(p bool) string {
	if p {
		return " (a pool's name, the apex SOA or NS, or a delegation or its glue: a rule must name it without \"*\")"
	}
	return ""
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Replay applies journaled differences, in order, to z (the zone file as
// loaded) and returns the zone they make.
func Replay(z *zones.Zone, diffs ...[2][]dns.RR) (*zones.Zone, error) {
	t := newTxn(z)
	for _, d := range diffs {
		for _, rr := range d[0] {
			if rr.Header().Rrtype != dns.TypeSOA { // the next SOA replaces it
				t.remove(rr)
			}
		}
		for _, rr := range d[1] {
			t.put(rr)
		}
	}
	if !t.changed() {
		return z, nil
	}
	return z.Edit(t.edited())
}

// txn is an update in progress: the names it touched, as they were and as
// they are now.
type txn struct {
	z          *zones.Zone
	cur, orig  map[string]map[uint16][]dns.RR
	touchOrder []string
}

func newTxn(z *zones.Zone) *txn {
	return &txn{z: z, cur: map[string]map[uint16][]dns.RR{}, orig: map[string]map[uint16][]dns.RR{}}
}

// name returns the static RRsets of name as the update has them so far.
func (t *txn) name(name string) map[uint16][]dns.RR {
	if m, ok := t.cur[name]; ok {
		return m
	}
	m, o := map[uint16][]dns.RR{}, map[uint16][]dns.RR{}
	if n := t.z.Node(name); n != nil {
		for _, ty := range n.Types() {
			m[ty] = n.RRset(ty)
			o[ty] = slices.Clone(m[ty])
		}
	}
	t.cur[name], t.orig[name] = m, o
	t.touchOrder = append(t.touchOrder, name)
	return m
}

func (t *txn) dynamic(name string, typ uint16) bool {
	n := t.z.Node(name)
	if n == nil {
		return false
	}
	if typ == dns.TypeANY {
		return len(n.Dynamics()) > 0
	}
	_, ok := n.Dynamic(typ)
	return ok
}

// types returns the types name has, static and dynamic.
func (t *txn) types(name string) []uint16 {
	var out []uint16
	for ty := range t.name(name) {
		out = append(out, ty)
	}
	if n := t.z.Node(name); n != nil {
		for _, d := range n.Dynamics() {
			out = append(out, d.Type)
		}
	}
	slices.Sort(out)
	return out
}

func (t *txn) inUse(name string) bool { return len(t.types(name)) > 0 }

func (t *txn) rrsetExists(name string, typ uint16) bool {
	return len(t.name(name)[typ]) > 0 || t.dynamic(name, typ)
}

// pool returns why an update record may not touch name, when it is a
// pool's: its addresses come from the pool's members.
func (t *txn) pool(name string, typ, class uint16) string {
	if !t.dynamic(name, dns.TypeANY) {
		return ""
	}
	if t.dynamic(name, typ) || (typ == dns.TypeANY && class == dns.ClassANY) || typ == dns.TypeCNAME {
		return fmt.Sprintf("%s is a pool's name: its %s records come from the pool's members in the config; change the pool there", name, dns.TypeToString[typ])
	}
	return ""
}

// protected reports whether changing typ at name needs a rule naming it
// exactly: a pool's name, the apex SOA and NS, NS making a delegation, and
// anything at or below a delegation (glue).
func (t *txn) protected(name string, typ uint16) bool {
	if name == t.z.Origin {
		return typ == dns.TypeSOA || typ == dns.TypeNS || typ == dns.TypeANY
	}
	if typ == dns.TypeNS || typ == dns.TypeDS || t.dynamic(name, dns.TypeANY) {
		return true
	}
	for p := name; p != t.z.Origin && p != "."; p = parent(p) {
		if n := t.z.Node(p); n != nil && (n.Cut || n.Occluded) {
			return true
		}
	}
	return false
}

func parent(name string) string {
	off, end := dns.NextLabel(name, 0)
	if end {
		return "."
	}
	return name[off:]
}

func (t *txn) inZone(name string) bool { return dns.IsSubDomain(t.z.Origin, name) }

func rdlength(rr dns.RR) int {
	if _, empty := rr.(*dns.RR_Header); empty {
		return 0
	}
	return int(rr.Header().Rdlength)
}

// prerequisites checks RFC 2136 §3.2.
func (t *txn) prerequisites(rrs []dns.RR) (int, string) {
	type key struct {
		name string
		typ  uint16
	}
	values := map[key][]dns.RR{}
	var order []key
	for _, rr := range rrs {
		h := rr.Header()
		name := dns.CanonicalName(h.Name)
		if h.Ttl != 0 {
			return dns.RcodeFormatError, fmt.Sprintf("prerequisite %s has a TTL", name)
		}
		if !t.inZone(name) {
			return dns.RcodeNotZone, fmt.Sprintf("prerequisite %s is outside the zone %s", name, t.z.Origin)
		}
		switch h.Class {
		case dns.ClassANY, dns.ClassNONE:
			if rdlength(rr) != 0 {
				return dns.RcodeFormatError, fmt.Sprintf("prerequisite %s of class %s has data", name, dns.ClassToString[h.Class])
			}
			exists := t.inUse(name)
			if h.Rrtype != dns.TypeANY {
				exists = t.rrsetExists(name, h.Rrtype)
			}
			switch {
			case h.Class == dns.ClassANY && !exists && h.Rrtype == dns.TypeANY:
				return dns.RcodeNameError, fmt.Sprintf("prerequisite failed: %s is not in use", name)
			case h.Class == dns.ClassANY && !exists:
				return dns.RcodeNXRrset, fmt.Sprintf("prerequisite failed: %s has no %s", name, dns.TypeToString[h.Rrtype])
			case h.Class == dns.ClassNONE && exists && h.Rrtype == dns.TypeANY:
				return dns.RcodeYXDomain, fmt.Sprintf("prerequisite failed: %s is in use", name)
			case h.Class == dns.ClassNONE && exists:
				return dns.RcodeYXRrset, fmt.Sprintf("prerequisite failed: %s has %s", name, dns.TypeToString[h.Rrtype])
			}
		case dns.ClassINET:
			k := key{name, h.Rrtype}
			if values[k] == nil {
				order = append(order, k)
			}
			values[k] = append(values[k], rr)
		default:
			return dns.RcodeFormatError, fmt.Sprintf("prerequisite %s has class %s", name, dns.ClassToString[h.Class])
		}
	}
	for _, k := range order {
		if !sameSet(values[k], t.name(k.name)[k.typ]) {
			return dns.RcodeNXRrset, fmt.Sprintf("prerequisite failed: %s %s is not the RRset given", k.name, dns.TypeToString[k.typ])
		}
	}
	return dns.RcodeSuccess, ""
}

// sameSet compares RRsets as sets, TTLs aside (RFC 2136 §3.2.3).
func sameSet(a, b []dns.RR) bool {
	in := func(x dns.RR, s []dns.RR) bool {
		return slices.ContainsFunc(s, func(y dns.RR) bool { return dns.IsDuplicate(x, y) })
	}
	for _, x := range a {
		if !in(x, b) {
			return false
		}
	}
	for _, y := range b {
		if !in(y, a) {
			return false
		}
	}
	return true
}

func meta(t uint16) bool {
	switch t {
	case dns.TypeANY, dns.TypeAXFR, dns.TypeIXFR, dns.TypeMAILA, dns.TypeMAILB, dns.TypeOPT, dns.TypeTSIG, dns.TypeTKEY:
		return true
	}
	return false
}

// prescan checks one update record (RFC 2136 §3.4.1.3).
func (t *txn) prescan(rr dns.RR) (int, string) {
	h := rr.Header()
	name := dns.CanonicalName(h.Name)
	if !t.inZone(name) {
		return dns.RcodeNotZone, fmt.Sprintf("%s is outside the zone %s", name, t.z.Origin)
	}
	switch h.Class {
	case dns.ClassINET:
		if meta(h.Rrtype) || rdlength(rr) == 0 {
			return dns.RcodeFormatError, fmt.Sprintf("cannot add %s %s", name, dns.TypeToString[h.Rrtype])
		}
	case dns.ClassANY:
		if h.Ttl != 0 || rdlength(rr) != 0 || (meta(h.Rrtype) && h.Rrtype != dns.TypeANY) {
			return dns.RcodeFormatError, fmt.Sprintf("delete of %s %s: TTL and data must be empty", name, dns.TypeToString[h.Rrtype])
		}
	case dns.ClassNONE:
		if h.Ttl != 0 || meta(h.Rrtype) {
			return dns.RcodeFormatError, fmt.Sprintf("delete of a %s record at %s: TTL must be 0", dns.TypeToString[h.Rrtype], name)
		}
	default:
		return dns.RcodeFormatError, fmt.Sprintf("update record %s has class %s", name, dns.ClassToString[h.Class])
	}
	return dns.RcodeSuccess, ""
}

// update applies one prescanned update record (RFC 2136 §3.4.2).
func (t *txn) update(rr dns.RR) {
	h := rr.Header()
	name := dns.CanonicalName(h.Name)
	apex := name == t.z.Origin
	m := t.name(name)
	switch h.Class {
	case dns.ClassINET:
		rr = dns.Copy(rr)
		rr.Header().Name = name
		switch {
		case h.Rrtype == dns.TypeCNAME && (hasOtherThan(m, dns.TypeCNAME) || t.dynamic(name, dns.TypeANY)):
			return // §3.4.2.2: CNAME beside other data is ignored
		case h.Rrtype != dns.TypeCNAME && len(m[dns.TypeCNAME]) > 0:
			return // and other data beside a CNAME
		case h.Rrtype == dns.TypeSOA:
			if !apex || !serialGreater(rr.(*dns.SOA).Serial, t.soa().Serial) {
				return // §3.4.2.2: an SOA that does not move the serial forward is ignored
			}
			m[dns.TypeSOA] = []dns.RR{rr}
			return
		case h.Rrtype == dns.TypeCNAME:
			m[dns.TypeCNAME] = []dns.RR{rr}
			return
		}
		t.put(rr)
	case dns.ClassANY:
		if h.Rrtype == dns.TypeANY {
			for ty := range m {
				if !apex || (ty != dns.TypeSOA && ty != dns.TypeNS) {
					delete(m, ty)
				}
			}
			return
		}
		if apex && (h.Rrtype == dns.TypeSOA || h.Rrtype == dns.TypeNS) {
			return // §3.4.2.3: ignored at the apex
		}
		delete(m, h.Rrtype)
	case dns.ClassNONE:
		if apex && (h.Rrtype == dns.TypeSOA || (h.Rrtype == dns.TypeNS && len(m[dns.TypeNS]) <= 1)) {
			return // §3.4.2.4: the SOA and the last apex NS stay
		}
		d := dns.Copy(rr)
		d.Header().Class = dns.ClassINET
		t.remove(d)
	}
}

func hasOtherThan(m map[uint16][]dns.RR, keep uint16) bool {
	for ty, rrs := range m {
		if ty != keep && ty != dns.TypeRRSIG && ty != dns.TypeNSEC && len(rrs) > 0 {
			return true
		}
	}
	return false
}

// put adds rr, replacing a record with the same data, and gives the RRset
// rr's TTL (RFC 2181 §5.2: one TTL per RRset). An SOA replaces the SOA.
func (t *txn) put(rr dns.RR) {
	h := rr.Header()
	name := dns.CanonicalName(h.Name)
	h.Name = name
	m := t.name(name)
	if h.Rrtype == dns.TypeSOA {
		m[dns.TypeSOA] = []dns.RR{rr}
		return
	}
	set := slices.DeleteFunc(slices.Clone(m[h.Rrtype]), func(x dns.RR) bool { return dns.IsDuplicate(x, rr) })
	set = append(set, rr)
	for i, x := range set {
		if x.Header().Ttl != h.Ttl {
			x = dns.Copy(x)
			x.Header().Ttl = h.Ttl
			set[i] = x
		}
	}
	m[h.Rrtype] = set
}

// remove deletes the record with rr's data, if present.
func (t *txn) remove(rr dns.RR) {
	name := dns.CanonicalName(rr.Header().Name)
	m := t.name(name)
	typ := rr.Header().Rrtype
	set := slices.DeleteFunc(slices.Clone(m[typ]), func(x dns.RR) bool { return dns.IsDuplicate(x, rr) })
	if len(set) == 0 {
		delete(m, typ)
	} else {
		m[typ] = set
	}
}

func (t *txn) soa() *dns.SOA {
	if m, ok := t.cur[t.z.Origin]; ok && len(m[dns.TypeSOA]) == 1 {
		return m[dns.TypeSOA][0].(*dns.SOA)
	}
	return t.z.SOA
}

// serialGreater is a > b in serial number arithmetic (RFC 1982 §3.2).
func serialGreater(a, b uint32) bool { return a != b && (a-b) < 1<<31 }

// SerialGreater is a > b in serial number arithmetic (RFC 1982 §3.2).
func SerialGreater(a, b uint32) bool { return serialGreater(a, b) }

// bumpSerial makes the serial rise: the update's own SOA when it moved
// the serial forward, else the old serial plus one (RFC 1982 addition).
func (t *txn) bumpSerial() {
	cur := t.soa()
	if serialGreater(cur.Serial, t.z.SOA.Serial) {
		return
	}
	next := dns.Copy(cur).(*dns.SOA)
	next.Serial = t.z.SOA.Serial + 1
	t.name(t.z.Origin)[dns.TypeSOA] = []dns.RR{next}
}

func exact(a, b dns.RR) bool { return dns.IsDuplicate(a, b) && a.Header().Ttl == b.Header().Ttl }

// changed reports whether any touched name differs from the zone.
func (t *txn) changed() bool {
	del, add := t.diff()
	return len(del)+len(add) > 0
}

// diff returns what was removed and added, SOAs first.
func (t *txn) diff() (del, add []dns.RR) {
	var soaDel, soaAdd []dns.RR
	for _, name := range t.touchOrder {
		o, c := t.orig[name], t.cur[name]
		var tys []uint16
		for ty := range o {
			tys = append(tys, ty)
		}
		for ty := range c {
			if _, ok := o[ty]; !ok {
				tys = append(tys, ty)
			}
		}
		slices.Sort(tys)
		for _, ty := range tys {
			for _, x := range o[ty] {
				if !slices.ContainsFunc(c[ty], func(y dns.RR) bool { return exact(x, y) }) {
					if ty == dns.TypeSOA {
						soaDel = append(soaDel, x)
					} else {
						del = append(del, x)
					}
				}
			}
			for _, y := range c[ty] {
				if !slices.ContainsFunc(o[ty], func(x dns.RR) bool { return exact(x, y) }) {
					if ty == dns.TypeSOA {
						soaAdd = append(soaAdd, y)
					} else {
						add = append(add, y)
					}
				}
			}
		}
	}
	return append(soaDel, del...), append(soaAdd, add...)
}

// edited returns the touched names' records for zones.Zone.Edit.
func (t *txn) edited() map[string][]dns.RR {
	out := make(map[string][]dns.RR, len(t.cur))
	for name, m := range t.cur {
		var rrs []dns.RR
		for _, set := range m {
			rrs = append(rrs, set...)
		}
		out[name] = rrs
	}
	return out
}
