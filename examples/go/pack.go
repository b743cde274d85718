package corq

// #include "glue.h"
import "C"

import (
	"sort"
	"strings"
	"sync"
	"unsafe"
)

// Header is one message header: a key (1-255 bytes, no NUL) and a value of any bytes. As a
// binding argument of a headers exchange, a nil Value matches the header's presence alone.
type Header struct {
	Key   string
	Value []byte
}

// Headers is a message's headers in order.
type Headers []Header

// Get is the value of the first header named key.
func (h Headers) Get(key string) ([]byte, bool) {
	for _, header := range h {
		if header.Key == key {
			return header.Value, true
		}
	}
	return nil, false
}

// Message is what a publish sends: a payload, headers (at most 64) and an optional dedup id (1-255
// bytes, used when the queue's dedup_window_ms > 0). corq copies all of it during the call.
type Message struct {
	Data    []byte
	Headers Headers
	DedupID string
}

// Options are string options of an engine, queue, exchange, stream or consumer group: the keys and
// values of corq.h ("Configuration") and README.md ("Options"), e.g.
// Options{"max_attempts": "5", "lease_ms": "10000"}. They are set in key order, so that among
// several bad keys the same one is reported each time.
type Options map[string]string

// packer builds the packed arguments of glue.h (names, payloads, headers) in Go memory that holds
// no pointers, so that it may be passed to C. Packers are pooled: the hot paths allocate nothing.
type packer struct {
	buf  []byte
	msgs []int64
	hdrs []int64
	kv   []int64
}

var packers = sync.Pool{New: func() any { return new(packer) }}

// packerBufMax bounds what a pooled packer keeps: one big batch must not pin its buffer for ever.
const packerBufMax = 1 << 20

func getPacker() *packer {
	return packers.Get().(*packer)
}

func (p *packer) release() {
	if cap(p.buf) > packerBufMax {
		p.buf = nil
	}
	p.buf, p.msgs, p.hdrs, p.kv = p.buf[:0], p.msgs[:0], p.hdrs[:0], p.kv[:0]
	packers.Put(p)
}

// str appends s NUL-terminated and returns its offset; a NUL inside s is EINVAL naming `what`.
func (p *packer) str(op, what, s string) (int64, error) {
	if strings.IndexByte(s, 0) >= 0 {
		return -1, invalid(op, what+" "+quote(s)+" contains a NUL byte")
	}
	off := int64(len(p.buf))
	p.buf = append(p.buf, s...)
	p.buf = append(p.buf, 0)
	return off, nil
}

// optStr is str, or -1 (NULL) for "".
func (p *packer) optStr(op, what, s string) (int64, error) {
	if s == "" {
		return -1, nil
	}
	return p.str(op, what, s)
}

// bytes appends b and returns its offset (-1 for nil: a NULL pointer in C).
func (p *packer) bytes(b []byte) int64 {
	if b == nil {
		return -1
	}
	off := int64(len(p.buf))
	p.buf = append(p.buf, b...)
	return off
}

// headers appends the header descriptors of hs; returns the index of the first.
func (p *packer) headers(op string, hs []Header) (int64, error) {
	first := int64(len(p.hdrs) / C.GQ_HDR_FIELDS)
	for _, h := range hs {
		key, err := p.str(op, "header key", h.Key)
		if err != nil {
			return 0, err
		}
		p.hdrs = append(p.hdrs, key, p.bytes(h.Value), int64(len(h.Value)))
	}
	return first, nil
}

// message appends m's descriptor. external: its payload is passed to C as its own pointer (ext)
// instead of being copied into buf (single-message calls).
func (p *packer) message(op string, m *Message, external bool) error {
	first, err := p.headers(op, m.Headers)
	if err != nil {
		return err
	}
	dedup, err := p.optStr(op, "dedup id", m.DedupID)
	if err != nil {
		return err
	}
	data := int64(-1)
	if !external {
		data = int64(len(p.buf))
		p.buf = append(p.buf, m.Data...)
	}
	p.msgs = append(p.msgs, data, int64(len(m.Data)), first, int64(len(m.Headers)), dedup)
	return nil
}

// options appends the pairs of o in key order.
func (p *packer) options(op string, o Options) error {
	keys := make([]string, 0, len(o))
	for k := range o {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		key, err := p.str(op, "option key", k)
		if err != nil {
			return err
		}
		value, err := p.str(op, "option value", o[k])
		if err != nil {
			return err
		}
		p.kv = append(p.kv, key, value)
	}
	return nil
}

// The C views of the packed arrays. buf always has a byte, so that its pointer exists.
func (p *packer) cbuf() *C.char {
	if len(p.buf) == 0 {
		p.buf = append(p.buf, 0)
	}
	return (*C.char)(unsafe.Pointer(&p.buf[0]))
}

func int64s(s []int64) *C.int64_t {
	if len(s) == 0 {
		return nil
	}
	return (*C.int64_t)(unsafe.Pointer(&s[0]))
}

func (p *packer) cmsgs() *C.int64_t { return int64s(p.msgs) }
func (p *packer) chdrs() *C.int64_t { return int64s(p.hdrs) }
func (p *packer) hdrCount() C.size_t {
	return C.size_t(len(p.hdrs) / C.GQ_HDR_FIELDS)
}

// ext is the pointer of a payload passed on its own (NULL when empty, which corq allows).
func ext(data []byte) unsafe.Pointer {
	if len(data) == 0 {
		return nil
	}
	return unsafe.Pointer(&data[0])
}

// config builds a corq_config from o (nil for no options: corq's defaults); free it with
// freeConfig. Its own packer: the caller's may be in use.
func config(op string, o Options) (*C.corq_config, error) {
	if len(o) == 0 {
		return nil, nil
	}
	p := getPacker()
	defer p.release()
	if err := p.options(op, o); err != nil {
		return nil, err
	}
	r := C.gq_config_build(p.cbuf(), int64s(p.kv), C.size_t(len(p.kv)/2))
	if r.rc < 0 {
		return nil, failed(r, op)
	}
	return (*C.corq_config)(r.ptr), nil
}

func freeConfig(c *C.corq_config) {
	if c != nil {
		C.corq_config_free(c)
	}
}

// copyHeaders copies n C headers into Go memory.
func copyHeaders(h *C.corq_header, n C.size_t) Headers {
	if n == 0 {
		return nil
	}
	out := make(Headers, int(n))
	for i, c := range unsafe.Slice(h, int(n)) {
		out[i] = Header{Key: C.GoString(c.key), Value: copyBytes(c.value, c.value_len)}
	}
	return out
}

// copyBytes copies n bytes of C memory (an empty, non-nil slice for n == 0).
func copyBytes(p unsafe.Pointer, n C.size_t) []byte {
	out := make([]byte, int(n))
	if n > 0 {
		copy(out, unsafe.Slice((*byte)(p), int(n)))
	}
	return out
}

func quote(s string) string {
	const max = 64
	if len(s) > max {
		s = s[:max] + "..."
	}
	return "'" + strings.ReplaceAll(s, "\x00", `\0`) + "'"
}
