package corq

// #include "glue.h"
import "C"

import (
	"context"
	"runtime"
	"sort"
	"sync"
)

// Txn is a transaction (corq_txn, DESIGN.md §8): publishes (to a queue or through an exchange),
// stream appends and acks of deliveries held by consumers, applied by Commit atomically — after a
// crash all of them exist or none does. Until then nothing of it is visible and the acked
// deliveries stay in flight, their leases running.
//
// An operation corq refuses at once (bad argument, unknown queue, exchange, stream or tag, a limit
// passed) returns its error and is not part of the transaction, which stays usable. After Commit
// or Abort every call returns ErrClosed (Abort is then a no-op). A mutex makes it safe for any
// goroutine, one call at a time; Ack and Commit also take the mutex of each consumer involved, as
// corq wants the transaction used by the thread that uses its consumers.
type Txn struct {
	engine *Engine
	mu     sync.Mutex
	ptr    *C.corq_txn
	done   bool
	// The consumers whose deliveries it acks, locked by Commit (corq settles them there).
	consumers map[*Consumer]struct{}
}

// Begin begins a transaction. Errors: ErrClosed, ErrNoMemory.
func (e *Engine) Begin() (*Txn, error) {
	const op = "corq_txn_begin"
	if err := e.enter(op); err != nil {
		return nil, err
	}
	defer e.mu.RUnlock()
	r := C.gq_txn_begin(e.ptr)
	if r.rc < 0 {
		return nil, failed(r, op)
	}
	t := &Txn{engine: e, ptr: (*C.corq_txn)(r.ptr), consumers: map[*Consumer]struct{}{}}
	runtime.SetFinalizer(t, (*Txn).Abort)
	return t, nil
}

func (t *Txn) lock(op string) error {
	if t == nil || t.ptr == nil {
		return invalid(op, "transaction is nil (use Engine.Begin)")
	}
	t.mu.Lock()
	if t.done {
		t.mu.Unlock()
		return &Error{Code: CodeClosed, Op: op,
			Detail: op + ": the transaction is committed or aborted already"}
	}
	return nil
}

// Publish adds a publish: exchange "" sends to the queue routingKey names (ErrNotFound at once if
// there is none), any other exchange routes at commit as Engine.PublishExchange does (every
// matched queue or none). Of the options Mandatory, Delay, TTL and Priority apply; NoWait and
// Timeout do not (Commit's ctx decides the wait). The message is copied; its id is assigned at
// commit.
func (t *Txn) Publish(exchange, routingKey string, msg Message, opts *PublishOptions) error {
	const op = "corq_txn_publish"
	if err := t.lock(op); err != nil {
		return err
	}
	defer t.mu.Unlock()
	p := getPacker()
	defer p.release()
	x, err := p.str(op, "exchange name", exchange)
	if err != nil {
		return err
	}
	k, err := p.str(op, "routing key", routingKey)
	if err != nil {
		return err
	}
	if err := p.message(op, &msg, true); err != nil {
		return err
	}
	copts, _, err := opts.cOptions(context.Background())
	if err != nil {
		return err
	}
	return check(C.gq_txn_publish(t.ptr, p.cbuf(), C.int64_t(x), C.int64_t(k), p.cmsgs(),
		p.chdrs(), p.hdrCount(), ext(msg.Data), copts), op)
}

// Append adds a stream append of one record; key picks the partition at commit as Engine.Append
// does (nil: round robin). Its offset is assigned at commit. A Delay, TTL or Priority is
// ErrInvalid; ErrNotFound at once for an unknown stream.
func (t *Txn) Append(stream string, key []byte, msg Message, opts *PublishOptions) error {
	const op = "corq_txn_append"
	if err := t.lock(op); err != nil {
		return err
	}
	defer t.mu.Unlock()
	p := getPacker()
	defer p.release()
	s, err := p.str(op, "stream name", stream)
	if err != nil {
		return err
	}
	k, klen := p.key(key)
	if err := p.message(op, &msg, true); err != nil {
		return err
	}
	copts, _, err := opts.cOptions(context.Background())
	if err != nil {
		return err
	}
	return check(C.gq_txn_append(t.ptr, p.cbuf(), C.int64_t(s), C.int64_t(k), klen, p.cmsgs(),
		p.chdrs(), p.hdrCount(), ext(msg.Data), copts), op)
}

// Ack adds the ack of a delivery its consumer holds now. The delivery stays held until the commit
// (settling it yourself before then makes the commit fail with ErrState). Errors: ErrState (not
// held, or acked in this transaction already), ErrInvalid (a consumer of another engine).
func (t *Txn) Ack(d *Delivery) error {
	c, err := d.owner("corq_txn_ack")
	if err != nil {
		return err
	}
	return t.AckTag(c, d.Tag)
}

// AckTag adds the ack of the delivery with this tag that consumer holds now (as Ack).
func (t *Txn) AckTag(consumer *Consumer, tag uint64) error {
	const op = "corq_txn_ack"
	if err := t.lock(op); err != nil {
		return err
	}
	defer t.mu.Unlock()
	if err := consumer.lockCut(op); err != nil {
		return err
	}
	defer consumer.release()
	if err := check(C.gq_txn_ack(t.ptr, consumer.ptr, C.uint64_t(tag)), op); err != nil {
		return err
	}
	t.consumers[consumer] = struct{}{}
	return nil
}

// Commit applies everything or nothing, and ends the transaction whatever it returns. The wait
// (for room under overflow=block, and for durability) is ctx's deadline (none: no limit); a
// cancellation without deadline is seen before the call only. Errors, with nothing applied and
// the acked deliveries still held: ErrState (an acked delivery is no longer held), ErrNotFound (a
// target was deleted), ErrUnroutable, ErrFull, ErrTooBig, ErrNoSpace, ErrFailed. ErrTimedOut or
// ErrFailed while waiting for durability: the outcome is unknown, never partial. ErrClosed: the
// engine was closed, the transaction aborted.
func (t *Txn) Commit(ctx context.Context) error {
	const op = "corq_txn_commit"
	if err := t.lock(op); err != nil {
		return err
	}
	defer t.mu.Unlock()
	timeout, limited, err := deadlineWait(ctx)
	if err != nil {
		return err // not committed: still open, Abort or Commit again
	}
	// corq settles the acked deliveries in their consumers: take their mutexes, in one order.
	locked := make([]*Consumer, 0, len(t.consumers))
	for c := range t.consumers {
		locked = append(locked, c)
	}
	sort.Slice(locked, func(i, j int) bool { return locked[i].id < locked[j].id })
	for _, c := range locked {
		c.acquire() // a Consume waiting on it lets us in (Consumer.acquire)
		defer c.release()
	}
	t.done = true
	runtime.SetFinalizer(t, nil)
	r := C.gq_txn_commit(t.ptr, C.int32_t(timeout))
	if r.rc < 0 {
		return blame(failed(r, op), ctx, limited, CodeTimedOut, CodeFull)
	}
	return nil
}

// Abort discards the transaction: nothing of it is applied, its acked deliveries stay held.
// A no-op after Commit or Abort.
func (t *Txn) Abort() {
	if t == nil || t.ptr == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.done {
		t.done = true
		runtime.SetFinalizer(t, nil)
		C.corq_txn_abort(t.ptr)
	}
}
