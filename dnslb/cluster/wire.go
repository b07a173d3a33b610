package cluster

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// What instances send each other, as bytes: a version byte, a kind byte,
// then the kind's fields as encoding/binary varints and length-prefixed
// strings. memberlist carries the bytes (user messages, broadcasts and the
// push/pull state) and encrypts them when a key is set.
const wireVersion = 1

const (
	kindView      = 1 // one instance's view: the entries that changed, or all of them
	kindOverrides = 2 // overrides, each with its time
	kindState     = 3 // push/pull: every view known and every override
	kindLeave     = 4 // the sender is stopping on purpose (memberlist does not tell a leave from a death)
)

// Limits that keep a hostile or corrupt message from asking for much memory.
const (
	maxString  = 1024
	maxEntries = 1 << 20
)

// Entry is one instance's judgement of one health target.
type Entry struct {
	Key      string // the target, as the owner names it (e.g. "web@192.0.2.10")
	Up       bool
	Probed   bool  // at least one probe completed; an unprobed entry does not vote
	ChangeAt int64 // unix ns: the earliest moment Up could flip on that instance
	Stamp    int64 // unix ns when the instance recorded it; a later stamp wins
}

// Override is an operator's override of one pool member. State is opaque to
// the cluster (the owner's encoding); the later Since wins.
type Override struct {
	Pool   string
	Addr   netip.Addr
	State  uint8
	Since  int64  // unix ns
	Origin string // the instance it was set on
}

// newer reports whether o wins over p: the later change, ties broken the
// same way on every instance.
func (o Override) newer(p Override) bool {
	if o.Since != p.Since {
		return o.Since > p.Since
	}
	if o.State != p.State {
		return o.State > p.State
	}
	return o.Origin > p.Origin
}

// viewMsg is one instance's entries. Boot tells a restarted instance from
// its former life: a view with a later boot replaces the old one whole.
type viewMsg struct {
	Origin  string
	Boot    int64
	Full    bool // every entry the origin has: keys it lacks are gone
	Entries []Entry
}

type stateMsg struct {
	Views     []viewMsg
	Overrides []Override
}

type encoder struct{ b []byte }

func (e *encoder) uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) varint(v int64)   { e.b = binary.AppendVarint(e.b, v) }
func (e *encoder) str(s string)     { e.uvarint(uint64(len(s))); e.b = append(e.b, s...) }
func (e *encoder) byte1(c byte)     { e.b = append(e.b, c) }

func (e *encoder) view(v *viewMsg) {
	e.str(v.Origin)
	e.varint(v.Boot)
	e.byte1(b2u(v.Full))
	e.uvarint(uint64(len(v.Entries)))
	for i := range v.Entries {
		e.entry(&v.Entries[i])
	}
}

func (e *encoder) entry(x *Entry) {
	e.str(x.Key)
	e.byte1(b2u(x.Up) | b2u(x.Probed)<<1)
	e.varint(x.ChangeAt)
	e.varint(x.Stamp)
}

func (e *encoder) override(o *Override) {
	e.str(o.Pool)
	a := o.Addr.AsSlice()
	e.uvarint(uint64(len(a)))
	e.b = append(e.b, a...)
	e.byte1(o.State)
	e.varint(o.Since)
	e.str(o.Origin)
}

func b2u(b bool) byte {
	if b {
		return 1
	}
	return 0
}

func header(kind byte) encoder { return encoder{b: []byte{wireVersion, kind}} }

func encodeView(v *viewMsg) []byte {
	e := header(kindView)
	e.view(v)
	return e.b
}

func encodeOverrides(os []Override) []byte {
	e := header(kindOverrides)
	e.uvarint(uint64(len(os)))
	for i := range os {
		e.override(&os[i])
	}
	return e.b
}

func encodeLeave(origin string) []byte {
	e := header(kindLeave)
	e.str(origin)
	return e.b
}

func encodeState(s *stateMsg) []byte {
	e := header(kindState)
	e.uvarint(uint64(len(s.Views)))
	for i := range s.Views {
		e.view(&s.Views[i])
	}
	e.uvarint(uint64(len(s.Overrides)))
	for i := range s.Overrides {
		e.override(&s.Overrides[i])
	}
	return e.b
}

var errShort = errors.New("message cut short")

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
	d.b = nil
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(errShort)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail(errShort)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) byte1() byte {
	if len(d.b) < 1 {
		d.fail(errShort)
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) bytes(max int) []byte {
	n := d.uvarint()
	if n > uint64(max) || n > uint64(len(d.b)) {
		d.fail(fmt.Errorf("field of %d bytes: at most %d, %d left", n, max, len(d.b)))
		return nil
	}
	s := d.b[:n]
	d.b = d.b[n:]
	return s
}

func (d *decoder) str() string { return string(d.bytes(maxString)) }

// count reads a number of items, each taking at least min bytes, so that a
// count larger than the message can hold is refused before allocating.
func (d *decoder) count(min int) int {
	n := d.uvarint()
	if n > maxEntries || n*uint64(min) > uint64(len(d.b)) {
		d.fail(fmt.Errorf("%d items cannot fit in %d bytes", n, len(d.b)))
		return 0
	}
	return int(n)
}

func (d *decoder) view() viewMsg {
	v := viewMsg{Origin: d.str(), Boot: d.varint()}
	switch f := d.byte1(); f {
	case 0, 1:
		v.Full = f == 1
	default:
		d.fail(fmt.Errorf("full flag %d: 0 or 1", f))
	}
	n := d.count(4)
	for i := 0; i < n && d.err == nil; i++ {
		x := Entry{Key: d.str()}
		fl := d.byte1()
		if fl > 3 {
			d.fail(fmt.Errorf("entry flags %#x: only bits 0 and 1", fl))
		}
		x.Up, x.Probed = fl&1 != 0, fl&2 != 0
		x.ChangeAt, x.Stamp = d.varint(), d.varint()
		v.Entries = append(v.Entries, x)
	}
	return v
}

func (d *decoder) override() Override {
	o := Override{Pool: d.str()}
	a := d.bytes(16)
	if d.err == nil {
		addr, ok := netip.AddrFromSlice(a)
		if !ok {
			d.fail(fmt.Errorf("address of %d bytes: 4 or 16", len(a)))
		}
		o.Addr = addr
	}
	o.State = d.byte1()
	o.Since = d.varint()
	o.Origin = d.str()
	return o
}

func (d *decoder) overrides() []Override {
	n := d.count(6)
	var out []Override
	for i := 0; i < n && d.err == nil; i++ {
		out = append(out, d.override())
	}
	return out
}

// message is any decoded message; exactly one field is set.
type message struct {
	view      *viewMsg
	overrides []Override
	state     *stateMsg
	leave     string // the instance that is leaving
}

// decode parses one message; anything malformed, truncated, trailing or of
// another version is an error.
func decode(b []byte) (message, error) {
	var m message
	if len(b) < 2 {
		return m, fmt.Errorf("cluster message: %w", errShort)
	}
	if b[0] != wireVersion {
		return m, fmt.Errorf("cluster message: version %d, this instance speaks %d", b[0], wireVersion)
	}
	d := &decoder{b: b[2:]}
	switch b[1] {
	case kindView:
		v := d.view()
		m.view = &v
	case kindOverrides:
		m.overrides = d.overrides()
	case kindLeave:
		if m.leave = d.str(); m.leave == "" && d.err == nil {
			d.fail(errors.New("leave without a name"))
		}
	case kindState:
		s := &stateMsg{}
		n := d.count(4)
		for i := 0; i < n && d.err == nil; i++ {
			s.Views = append(s.Views, d.view())
		}
		s.Overrides = d.overrides()
		m.state = s
	default:
		return m, fmt.Errorf("cluster message: unknown kind %d", b[1])
	}
	if d.err == nil && len(d.b) > 0 {
		d.err = fmt.Errorf("%d bytes after the end", len(d.b))
	}
	if d.err != nil {
		return message{}, fmt.Errorf("cluster message kind %d: %w", b[1], d.err)
	}
	return m, nil
}
