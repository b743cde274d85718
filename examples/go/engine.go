package corq

// #include "glue.h"
// #include <stdlib.h>
import "C"

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Version is corq_version() of the linked library: MAJOR*10000 + MINOR*100 + PATCH.
func Version() uint32 { return uint32(C.corq_version()) }

// VersionString is the linked library's version as "MAJOR.MINOR.PATCH".
func VersionString() string { return C.GoString(C.corq_version_string()) }

// HeaderVersion is CORQ_VERSION of the corq.h this package was compiled against.
const HeaderVersion = C.CORQ_VERSION

// Engine is an open corq engine (corq_engine): it holds the queues, exchanges and streams. It is
// safe for use by many goroutines at once, Close included: a call that starts after Close returns
// ErrClosed without calling C, and Close waits for the calls still running in C (waking the ones
// that wait) before it lets the engine's memory go.
type Engine struct {
	ptr *C.corq_engine
	// mu is held shared by every call into C on ptr and exclusively by Close's last step, so that
	// no call can run in an engine whose memory corq_close freed.
	mu        sync.RWMutex
	closed    atomic.Bool
	closeOnce sync.Once // a second Close waits for the first to finish
	sink      uintptr   // the log registry's key (log.go), 0 until SetLogCallback
}

// Open opens (or creates) the data directory dir and recovers its write-ahead log; queues declared
// on it are durable by default. options are engine options (corq.h "Configuration": sync,
// io_backend, segment_bytes, max_message_bytes, ...); nil for the defaults. Errors: ErrBusy
// (another open engine holds the directory), ErrInvalid (dir "", a bad option), ErrCorrupt, ErrIO,
// ErrNoSpace.
func Open(dir string, options Options) (*Engine, error) {
	p := getPacker()
	defer p.release()
	off, err := p.str("corq_open", "directory", dir)
	if err != nil {
		return nil, err
	}
	return open(p, off, options)
}

// OpenMemory opens an in-memory engine: every queue and stream transient, nothing on disk.
func OpenMemory(options Options) (*Engine, error) {
	p := getPacker()
	defer p.release()
	return open(p, -1, options)
}

func open(p *packer, dir int64, options Options) (*Engine, error) {
	cfg, err := config("corq_open", options)
	if err != nil {
		return nil, err
	}
	defer freeConfig(cfg)
	r := C.gq_open(p.cbuf(), C.int64_t(dir), cfg)
	if r.rc < 0 {
		return nil, failed(r, "corq_open")
	}
	e := &Engine{ptr: (*C.corq_engine)(r.ptr)}
	runtime.SetFinalizer(e, (*Engine).Close)
	return e, nil
}

// enter starts a call into C; leave (e.mu.RUnlock) ends it.
func (e *Engine) enter(op string) error {
	if e == nil || e.ptr == nil {
		return invalid(op, "engine is nil (use Open or OpenMemory)")
	}
	e.mu.RLock()
	if e.closed.Load() {
		e.mu.RUnlock()
		return closedErr(op, "engine")
	}
	return nil
}

// Close closes the engine gracefully (corq_close): publishing stops, consumers and publishers that
// wait are woken with ErrClosed, what was logged is flushed and the directory's lock released.
// Consumers, producers, readers and transactions stay valid objects: their calls return ErrClosed
// from then on, and their Close still works. Close is idempotent (a Close that comes while another
// runs returns when that one is done); later engine calls return ErrClosed.
func (e *Engine) Close() error {
	if e == nil || e.ptr == nil {
		return invalid("corq_close", "engine is nil")
	}
	e.closeOnce.Do(e.close)
	return nil
}

func (e *Engine) close() {
	e.closed.Store(true)
	runtime.SetFinalizer(e, nil)
	if e.mu.TryLock() {
		C.corq_close(e.ptr) // no call runs in C: the memory may go now
	} else if keeper := C.gq_keeper_open(e.ptr); keeper != nil {
		// Calls run in C, some maybe waiting, which only corq_close wakes. A handle of our own
		// keeps the engine's memory alive until they have returned, then lets it go.
		C.corq_close(e.ptr)
		e.mu.Lock()
		C.corq_consumer_close(keeper)
	} else {
		e.mu.Lock() // no keeper: wait for the calls to end on their own (their timeouts)
		C.corq_close(e.ptr)
	}
	e.mu.Unlock()
	dropLogSink(e.sink)
}

// Sync waits until everything logged so far is durable (corq_sync); at once on an in-memory
// engine. The wait is sliced (waitSlice): a cancelled ctx is seen within 50 ms. Errors: ErrFailed
// (the log failed: fail-stop), ErrClosed, ErrTimedOut wrapping ctx's DeadlineExceeded.
func (e *Engine) Sync(ctx context.Context) error {
	if err := e.enter("corq_sync"); err != nil {
		return err
	}
	defer e.mu.RUnlock()
	return sliced(ctx, "corq_sync", func(timeout C.int32_t) C.gq_result {
		return C.gq_sync(e.ptr, timeout)
	})
}

// EngineID is the engine's id: a version-4 UUID in lowercase text, kept in DIR/ENGINE_ID for a
// data directory's whole life, fresh at each open for an in-memory engine.
func (e *Engine) EngineID() (string, error) {
	if err := e.enter("corq_engine_id"); err != nil {
		return "", err
	}
	defer e.mu.RUnlock()
	var out [37]C.char
	if err := check(C.gq_engine_id(e.ptr, &out[0]), "corq_engine_id"); err != nil {
		return "", err
	}
	return C.GoString(&out[0]), nil
}

// ---- queues ------------------------------------------------------------------------------------

// DeclareQueue declares a queue (name: 1-200 bytes of [A-Za-z0-9._:-]) with options (corq.h
// "Queue keys": durable, max_length, overflow, max_attempts, dead_letter_queue, lease_ms, ...;
// nil for the defaults). Idempotent with the same options; ErrExists with other ones.
func (e *Engine) DeclareQueue(queue string, options Options) error {
	const op = "corq_queue_declare"
	return e.withName(op, "queue name", queue, func(p *packer, off int64) error {
		cfg, err := config(op, options)
		if err != nil {
			return err
		}
		defer freeConfig(cfg)
		return check(C.gq_queue_declare(e.ptr, p.cbuf(), C.int64_t(off), cfg), op)
	})
}

// DeclareTempQueue declares a temporary subscriber queue and returns its generated name
// ("corq.gen-" and 16 hex digits): transient, deleted with its bindings and messages when its last
// consumer closes. options may not set durable=true or auto_delete=false.
func (e *Engine) DeclareTempQueue(options Options) (string, error) {
	const op = "corq_queue_declare_temp"
	if err := e.enter(op); err != nil {
		return "", err
	}
	defer e.mu.RUnlock()
	cfg, err := config(op, options)
	if err != nil {
		return "", err
	}
	defer freeConfig(cfg)
	var name [64]C.char
	r := C.gq_queue_declare_temp(e.ptr, cfg, &name[0], C.size_t(len(name)))
	if err := check(r, op); err != nil {
		return "", err
	}
	return C.GoString(&name[0]), nil
}

// DeleteQueue deletes a queue and every message in it; its producers and consumers get
// ErrNotFound from then on.
func (e *Engine) DeleteQueue(queue string) error {
	const op = "corq_queue_delete"
	return e.withName(op, "queue name", queue, func(p *packer, off int64) error {
		return check(C.gq_queue_delete(e.ptr, p.cbuf(), C.int64_t(off)), op)
	})
}

// PurgeQueue removes every ready message (not delayed or in-flight ones) and returns how many.
func (e *Engine) PurgeQueue(queue string) (uint64, error) {
	const op = "corq_queue_purge"
	var purged uint64
	err := e.withName(op, "queue name", queue, func(p *packer, off int64) error {
		r := C.gq_queue_purge(e.ptr, p.cbuf(), C.int64_t(off))
		purged = uint64(r.u64)
		return check(r, op)
	})
	return purged, err
}

// withName runs call inside enter/leave with a packer holding one name.
func (e *Engine) withName(op, what, name string, call func(p *packer, off int64) error) error {
	if err := e.enter(op); err != nil {
		return err
	}
	defer e.mu.RUnlock()
	p := getPacker()
	defer p.release()
	off, err := p.str(op, what, name)
	if err != nil {
		return err
	}
	return call(p, off)
}

// withNames is withName for two names.
func (e *Engine) withNames(op, what1, name1, what2, name2 string,
	call func(p *packer, off1, off2 int64) error) error {
	return e.withName(op, what1, name1, func(p *packer, off1 int64) error {
		off2, err := p.str(op, what2, name2)
		if err != nil {
			return err
		}
		return call(p, off1, off2)
	})
}

// ---- publishing --------------------------------------------------------------------------------

// Publish publishes one message to a queue and returns its id (for a deduplicated publish, the
// original's). On a durable queue with sync=always it returns once the message is durable, unless
// opts.NoWait. ctx: see PublishOptions.Timeout; a cancellation without deadline is seen before
// the call only. Errors: ErrNotFound (no such queue), ErrTooBig, ErrFull (overflow=reject, or
// the wait for room timed out: then it wraps DeadlineExceeded if ctx's deadline was the limit),
// ErrNoSpace, ErrFailed, ErrClosed, ErrInvalid (bad name, header or option).
func (e *Engine) Publish(ctx context.Context, queue string, msg Message, opts *PublishOptions) (uint64, error) {
	const op = "corq_publish"
	if err := e.enter(op); err != nil {
		return 0, err
	}
	defer e.mu.RUnlock()
	p := getPacker()
	defer p.release()
	q, err := p.str(op, "queue name", queue)
	if err != nil {
		return 0, err
	}
	if err := p.message(op, &msg, true); err != nil {
		return 0, err
	}
	copts, limited, err := opts.cOptions(ctx)
	if err != nil {
		return 0, err
	}
	r := C.gq_publish(e.ptr, p.cbuf(), C.int64_t(q), p.cmsgs(), p.chdrs(), p.hdrCount(),
		ext(msg.Data), copts)
	if r.rc < 0 {
		return 0, blame(failed(r, op), ctx, limited, CodeFull, CodeTimedOut)
	}
	return uint64(r.u64), nil
}

// WaitDurable waits until the message with this id (published before) is durable; at once on an
// in-memory engine. Sliced like Sync. Errors: ErrInvalid (an id never assigned), ErrFailed,
// ErrClosed.
func (e *Engine) WaitDurable(ctx context.Context, messageID uint64) error {
	const op = "corq_wait_durable"
	if err := e.enter(op); err != nil {
		return err
	}
	defer e.mu.RUnlock()
	return sliced(ctx, op, func(timeout C.int32_t) C.gq_result {
		return C.gq_wait_durable(e.ptr, C.uint64_t(messageID), timeout)
	})
}

// ---- stats, dead letters -----------------------------------------------------------------------

// QueueStats is a snapshot of one queue (corq_queue_stats; counters since the queue was declared
// in this process). Every message the queue was given is in exactly one place: Published ==
// Ready + Delayed + InFlight + Acked + DeadLettered + Dropped + Purged + Redriven (corq.h).
type QueueStats struct {
	Ready, InFlight, Delayed, Consumers, BytesReady uint64
	Published, Delivered, Acked, Nacked, Released   uint64
	Redelivered, DeadLettered, Expired, Dropped     uint64
	Deduplicated, Purged, Redriven                  uint64
	OldestReadyAge                                  time.Duration
}

// QueueStats reads one queue's counters.
func (e *Engine) QueueStats(queue string) (QueueStats, error) {
	const op = "corq_queue_stats_get"
	var s C.corq_queue_stats
	s.struct_size = C.uint32_t(C.sizeof_corq_queue_stats)
	err := e.withName(op, "queue name", queue, func(p *packer, off int64) error {
		return check(C.gq_queue_stats(e.ptr, p.cbuf(), C.int64_t(off), &s), op)
	})
	if err != nil {
		return QueueStats{}, err
	}
	return QueueStats{
		Ready: uint64(s.ready), InFlight: uint64(s.in_flight), Delayed: uint64(s.delayed),
		Consumers: uint64(s.consumers), BytesReady: uint64(s.bytes_ready),
		Published: uint64(s.published), Delivered: uint64(s.delivered), Acked: uint64(s.acked),
		Nacked: uint64(s.nacked), Released: uint64(s.released),
		Redelivered: uint64(s.redelivered), DeadLettered: uint64(s.dead_lettered),
		Expired: uint64(s.expired), Dropped: uint64(s.dropped),
		Deduplicated: uint64(s.deduplicated), Purged: uint64(s.purged),
		Redriven:       uint64(s.redriven),
		OldestReadyAge: time.Duration(s.oldest_ready_age_ms) * time.Millisecond,
	}, nil
}

// StatsJSON is every queue's, exchange's and stream's stats and options, and the request and
// transaction counters, as one JSON object (corq_stats_json).
func (e *Engine) StatsJSON() (string, error) {
	const op = "corq_stats_json"
	if err := e.enter(op); err != nil {
		return "", err
	}
	defer e.mu.RUnlock()
	r := C.gq_stats_json(e.ptr)
	if err := check(r, op); err != nil {
		return "", err
	}
	defer C.corq_free(r.ptr)
	return C.GoString((*C.char)(r.ptr)), nil
}

// Redrive moves up to max (0: all) ready messages from a dead-letter queue back to the queue each
// came from (its x-death-queue header), or to toQueue when it is not "", and returns how many moved.
// It stops early, leaving the message, at a missing (ErrNotFound) or full (ErrFull) target.
func (e *Engine) Redrive(fromQueue, toQueue string, max uint64) (uint64, error) {
	const op = "corq_redrive"
	var moved uint64
	err := e.withName(op, "queue name", fromQueue, func(p *packer, from int64) error {
		to, err := p.optStr(op, "queue name", toQueue)
		if err != nil {
			return err
		}
		r := C.gq_redrive(e.ptr, p.cbuf(), C.int64_t(from), C.int64_t(to), C.uint64_t(max))
		moved = uint64(r.u64)
		return check(r, op)
	})
	return moved, err
}
