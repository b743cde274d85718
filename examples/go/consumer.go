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
	"unsafe"
)

// ConsumeBatchMax is the most deliveries one Consume or Poll returns.
const ConsumeBatchMax = 1024

// Consumer takes deliveries from one queue (or, from NewGroupConsumer, from a stream as a member of
// a consumer group) through a prefetch window of unsettled deliveries (corq_consumer).
//
// corq lets one thread at a time use a consumer. This type adds a mutex, so any goroutine may call
// it, one call at a time. A Consume that waits holds the mutex, but a settle (Ack, Nack, Release,
// Extend, Reject, Respond, Txn.AckTag, Txn.Commit) from another goroutine does not wait for a
// message to arrive: it interrupts the wait (corq_consumer_interrupt), runs, and the Consume then
// waits on (see lockCut). Wakeup and Close may be called at any time from any goroutine.
type Consumer struct {
	engine *Engine
	id     uint64 // orders the locks Txn.Commit takes
	ptr    *C.corq_consumer
	// mu is held by every call into C on ptr but Wakeup; closing refuses new calls at once, and
	// life (held shared by Wakeup, exclusively around corq_consumer_close) keeps ptr valid for
	// Wakeup, which does not take mu.
	mu        sync.Mutex
	life      sync.RWMutex
	closing   atomic.Bool
	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
	// Guarded by mu: the deliveries buffer (C memory) and whether an interrupt of ours may still
	// be pending in corq (README.md, "Contexts and cancellation").
	buf            *C.corq_delivery
	bufCap         int
	mayBeInterrupt bool
	// cutters counts the goroutines in acquire waiting for mu after interrupting a Consume; the
	// Consume lets go of mu until they are through before it waits again. (No sync.Cond on mu:
	// its pointer back into the Consumer would make a cycle through the finalized object, and Go
	// never runs the finalizer of an object in a cycle.)
	cutters atomic.Int32
}

var consumerIDs atomic.Uint64

// NewConsumer opens a consumer with a window of prefetch (1-65536) unsettled deliveries. Errors:
// ErrNotFound, ErrInvalid (bad prefetch or name), ErrClosed.
func (e *Engine) NewConsumer(queue string, prefetch uint32) (*Consumer, error) {
	const op = "corq_consumer_open"
	var consumer *Consumer
	err := e.withName(op, "queue name", queue, func(p *packer, off int64) error {
		r := C.gq_consumer_open(e.ptr, p.cbuf(), C.int64_t(off), C.uint32_t(prefetch))
		if r.rc < 0 {
			return failed(r, op)
		}
		consumer = newConsumer(e, (*C.corq_consumer)(r.ptr))
		return nil
	})
	return consumer, err
}

func newConsumer(e *Engine, ptr *C.corq_consumer) *Consumer {
	c := &Consumer{engine: e, id: consumerIDs.Add(1), ptr: ptr}
	runtime.SetFinalizer(c, (*Consumer).Close)
	return c
}

func (c *Consumer) lock(op string) error {
	if c == nil || c.ptr == nil {
		return invalid(op, "consumer is nil (use Engine.NewConsumer)")
	}
	if c.closing.Load() {
		return closedErr(op, "consumer")
	}
	c.mu.Lock()
	if c.closed.Load() {
		c.mu.Unlock()
		return closedErr(op, "consumer")
	}
	return nil
}

// acquire takes mu. When another goroutine holds it, that may be a Consume waiting for a message,
// which could last forever: acquire interrupts it (the Consume sees cutters and yields mu, then
// waits on). Its interrupt may also reach no wait and stay pending in corq, making a later
// corq_consume return 0 at once: mayBeInterrupt says so, and Consume and Poll then try again.
func (c *Consumer) acquire() {
	if c.mu.TryLock() {
		return
	}
	c.cutters.Add(1)
	c.life.RLock()
	if !c.closed.Load() {
		C.corq_consumer_interrupt(c.ptr)
	}
	c.life.RUnlock()
	c.mu.Lock()
	c.cutters.Add(-1)
	c.mayBeInterrupt = true
}

// release lets go of mu taken by acquire or lockCut.
func (c *Consumer) release() {
	c.mu.Unlock()
}

// yieldToCutters lets the goroutines in acquire (cutters > 0) take mu before this Consume waits
// again; mu is held on entry and on return.
func (c *Consumer) yieldToCutters() {
	for c.cutters.Load() > 0 {
		c.mu.Unlock()
		runtime.Gosched() // the woken cutter takes mu (Go hands it over after 1 ms at the latest)
		c.mu.Lock()
	}
}

// lockCut is lock for the calls that must not wait behind a Consume (acquire): release after.
func (c *Consumer) lockCut(op string) error {
	if c == nil || c.ptr == nil {
		return invalid(op, "consumer is nil (use Engine.NewConsumer)")
	}
	if c.closing.Load() {
		return closedErr(op, "consumer")
	}
	c.acquire()
	if c.closed.Load() {
		c.release()
		return closedErr(op, "consumer")
	}
	return nil
}

// Consume waits for deliveries and returns 1 to max of them (max at most ConsumeBatchMax and the
// free window). It waits until a message is ready or ctx is done: a cancelled ctx interrupts the
// wait at once (corq_consumer_interrupt) and Consume returns ctx.Err(); at its deadline it returns
// context.DeadlineExceeded. Deliveries taken are always returned, even if ctx is done meanwhile.
// Errors: ErrWindowFull (every window slot holds an unsettled delivery), ErrClosed (Close,
// Wakeup or the engine's close), ErrNotFound (the queue or group was deleted), ErrInvalid
// (max < 1).
func (c *Consumer) Consume(ctx context.Context, max int) ([]Delivery, error) {
	const op = "corq_consume"
	if err := c.lock(op); err != nil {
		return nil, err
	}
	defer c.mu.Unlock()
	if max < 1 {
		return nil, invalid(op, "max must be at least 1")
	}
	if max > ConsumeBatchMax {
		max = ConsumeBatchMax
	}
	for {
		timeout, _, err := deadlineWait(ctx)
		if err != nil {
			return nil, err
		}
		pendingBefore := c.mayBeInterrupt
		start := time.Now()
		n, fired, err := c.consumeOnce(ctx, max, timeout)
		// A watcher that fired may have left its interrupt pending (the call ended otherwise).
		c.mayBeInterrupt = fired
		if err != nil {
			return nil, err
		}
		if n > 0 {
			return c.copyDeliveries(n), nil
		}
		if c.cutters.Load() > 0 {
			// A settle from another goroutine interrupted us: let it in, then wait on.
			c.yieldToCutters()
			if c.closed.Load() { // Close ran while we yielded
				return nil, closedErr(op, "consumer")
			}
			continue
		}
		// 0: an interrupt (ours now, or a stale one), the timeout, or a full window.
		if fired || pendingBefore {
			continue // the loop's top returns ctx's error, or waits again
		}
		if timeout >= 0 && time.Since(start) >= time.Duration(timeout)*time.Millisecond {
			continue // timed out: the loop's top returns DeadlineExceeded
		}
		return nil, ErrWindowFull
	}
}

// Poll returns the deliveries ready now, up to max (at most ConsumeBatchMax and the free window),
// without waiting: none (an empty slice, nil error) when nothing is ready or the window is full.
func (c *Consumer) Poll(max int) ([]Delivery, error) {
	const op = "corq_consume"
	if err := c.lock(op); err != nil {
		return nil, err
	}
	defer c.mu.Unlock()
	if max < 1 {
		return nil, invalid(op, "max must be at least 1")
	}
	if max > ConsumeBatchMax {
		max = ConsumeBatchMax
	}
	for {
		n, _, err := c.consumeOnce(context.Background(), max, 0)
		if err != nil {
			return nil, err
		}
		if n > 0 {
			c.mayBeInterrupt = false // a pending interrupt would have made it return 0
			return c.copyDeliveries(n), nil
		}
		if !c.mayBeInterrupt {
			return nil, nil
		}
		c.mayBeInterrupt = false // that 0 may have been a stale interrupt: poll again
	}
}

// consumeOnce is one corq_consume; when ctx can be cancelled, a watcher goroutine interrupts it on
// cancellation. The watcher is over when it returns, so no interrupt of this call comes later:
// fired says whether it interrupted.
func (c *Consumer) consumeOnce(ctx context.Context, max int, timeout int32) (int, bool, error) {
	if c.bufCap < max {
		C.free(unsafe.Pointer(c.buf))
		c.buf = (*C.corq_delivery)(C.malloc(C.size_t(max) * C.sizeof_corq_delivery))
		c.bufCap = max
	}
	var stop chan struct{}
	var done chan bool
	if ctx.Done() != nil {
		stop, done = make(chan struct{}), make(chan bool, 1)
		go func(ptr *C.corq_consumer) {
			select {
			case <-ctx.Done():
				C.corq_consumer_interrupt(ptr)
				done <- true
			case <-stop:
				done <- false
			}
		}(c.ptr)
	}
	r := C.gq_consume(c.ptr, c.buf, C.size_t(max), C.int32_t(timeout))
	fired := false
	if stop != nil {
		close(stop)
		fired = <-done
	}
	if r.rc < 0 {
		return 0, fired, failed(r, "corq_consume")
	}
	return int(r.rc), fired, nil
}

// copyDeliveries copies the first n deliveries out of corq's memory (its views die at settlement):
// the payloads into one allocation.
func (c *Consumer) copyDeliveries(n int) []Delivery {
	raw := unsafe.Slice(c.buf, n)
	total := 0
	for i := range raw {
		total += int(raw[i].len)
	}
	data := make([]byte, total)
	out := make([]Delivery, n)
	at := 0
	for i := range raw {
		d := &raw[i]
		size := int(d.len)
		if size > 0 {
			copy(data[at:], unsafe.Slice((*byte)(d.data), size))
		}
		out[i] = Delivery{
			Tag:           uint64(d.tag),
			MessageID:     uint64(d.message_id),
			Data:          data[at : at+size : at+size],
			Headers:       copyHeaders(d.headers, d.header_count),
			DeliveryCount: uint32(d.delivery_count),
			PublishedAt:   time.UnixMilli(int64(d.published_at_ms)),
			consumer:      c,
		}
		at += size
	}
	return out
}

// settle runs one settle operation of gq_settle.
func (c *Consumer) settle(op string, code C.int, tag uint64, arg int64) error {
	if err := c.lockCut(op); err != nil {
		return err
	}
	defer c.release()
	return check(C.gq_settle(c.ptr, code, C.uint64_t(tag), C.int64_t(arg)), op)
}

// Ack acks the delivery with this tag: the message leaves the queue. ErrState for a tag that is
// unknown, settled, or whose lease expired; ErrFailed on a failed log (applied, not logged).
func (c *Consumer) Ack(tag uint64) error { return c.settle("corq_ack", 0, tag, 0) }

// AckUpto acks every unsettled delivery with a tag <= tag (ErrState if there is none).
func (c *Consumer) AckUpto(tag uint64) error { return c.settle("corq_ack_upto", 1, tag, 0) }

// Nack is a failed attempt: the message is dead-lettered when its failed attempts reach
// max_attempts, else ready again after delay (0: at once; negative, e.g. Backoff: the queue's
// backoff retry_delay_ms * retry_backoff^(n-1), capped at retry_delay_max_ms).
func (c *Consumer) Nack(tag uint64, delay time.Duration) error {
	delayMs := ms(delay)
	if delay < 0 {
		delayMs = -1
	}
	return c.settle("corq_nack", 2, tag, delayMs)
}

// Release hands the message back unprocessed (not a failed attempt): ready again at once.
func (c *Consumer) Release(tag uint64) error { return c.settle("corq_release", 3, tag, 0) }

// Extend sets the delivery's lease to expire lease from now (rounded up to ms; <= 0: ErrInvalid).
func (c *Consumer) Extend(tag uint64, lease time.Duration) error {
	return c.settle("corq_extend", 4, tag, ms(lease))
}

// Reject dead-letters the message at once (x-death-reason "rejected"); a reason other than "" is
// kept as its x-death-detail header.
func (c *Consumer) Reject(tag uint64, reason string) error {
	const op = "corq_reject"
	if err := c.lockCut(op); err != nil {
		return err
	}
	defer c.release()
	p := getPacker()
	defer p.release()
	off, err := p.optStr(op, "reason", reason)
	if err != nil {
		return err
	}
	return check(C.gq_reject(c.ptr, C.uint64_t(tag), p.cbuf(), C.int64_t(off)), op)
}

// Respond answers the request delivered as tag (its x-reply-to header names the requester's reply
// queue) with response, then acks the request. Errors: ErrInvalid (not a request: nothing acked),
// ErrState (not an unsettled delivery), ErrFull (the reply queue is full: nothing acked).
func (c *Consumer) Respond(tag uint64, response Message) error {
	const op = "corq_respond"
	if err := c.lockCut(op); err != nil {
		return err
	}
	defer c.release()
	p := getPacker()
	defer p.release()
	if err := p.message(op, &response, true); err != nil {
		return err
	}
	return check(C.gq_respond(c.ptr, C.uint64_t(tag), p.cbuf(), p.cmsgs(), p.chdrs(),
		p.hdrCount(), ext(response.Data)), op)
}

// Wakeup makes the waiting Consume and every later one return ErrClosed, for good; settling still
// works, so a worker can finish what it holds and stop (graceful shutdown). Any goroutine, any
// time. To cancel one wait and keep consuming, cancel Consume's context instead.
func (c *Consumer) Wakeup() error {
	const op = "corq_consumer_wakeup"
	if c == nil || c.ptr == nil {
		return invalid(op, "consumer is nil")
	}
	c.life.RLock()
	defer c.life.RUnlock()
	if c.closed.Load() {
		return closedErr(op, "consumer")
	}
	return check(C.gq_consumer_wakeup(c.ptr), op)
}

// Close closes the consumer: a Consume waiting in another goroutine returns ErrClosed, then the
// unsettled deliveries are released (ready again, not a failed attempt). Idempotent (a Close that
// comes while another runs returns when that one is done); calls after it return ErrClosed.
func (c *Consumer) Close() error {
	const op = "corq_consumer_close"
	if c == nil || c.ptr == nil {
		return invalid(op, "consumer is nil")
	}
	c.closeOnce.Do(func() {
		c.closing.Store(true)
		runtime.SetFinalizer(c, nil)
		C.corq_consumer_wakeup(c.ptr) // ends a Consume that waits: it holds mu
		c.mu.Lock()
		defer c.mu.Unlock()
		c.life.Lock()
		defer c.life.Unlock()
		r := C.gq_consumer_close(c.ptr)
		c.closed.Store(true)
		C.free(unsafe.Pointer(c.buf))
		c.buf, c.bufCap = nil, 0
		c.closeErr = check(r, op)
	})
	return c.closeErr
}

// Delivery is one message delivered to a consumer, copied out of corq's memory (Data and Headers
// stay valid after settlement). Settle it once: Ack, Nack, Release, Reject or Respond.
type Delivery struct {
	Tag           uint64 // names this delivery within its consumer; increases per consumer
	MessageID     uint64 // a group member's delivery: the record's offset
	Data          []byte
	Headers       Headers // x-death-* after dead-lettering; x-stream-* from a group
	DeliveryCount uint32  // 1 on first delivery; counts every delivery, released ones too
	PublishedAt   time.Time
	consumer      *Consumer
}

func (d *Delivery) owner(op string) (*Consumer, error) {
	if d == nil || d.consumer == nil {
		return nil, invalid(op, "delivery has no consumer (use one returned by Consume)")
	}
	return d.consumer, nil
}

// Consumer is the consumer that holds the delivery.
func (d *Delivery) Consumer() *Consumer { return d.consumer }

// Ack: done, the message leaves the queue (Consumer.Ack).
func (d *Delivery) Ack() error {
	c, err := d.owner("corq_ack")
	if err != nil {
		return err
	}
	return c.Ack(d.Tag)
}

// Nack: a failed attempt, retried after delay (negative: the queue's backoff) or dead-lettered.
func (d *Delivery) Nack(delay time.Duration) error {
	c, err := d.owner("corq_nack")
	if err != nil {
		return err
	}
	return c.Nack(d.Tag, delay)
}

// Release: back to the queue unprocessed.
func (d *Delivery) Release() error {
	c, err := d.owner("corq_release")
	if err != nil {
		return err
	}
	return c.Release(d.Tag)
}

// Reject: poison, dead-lettered at once with the reason as x-death-detail.
func (d *Delivery) Reject(reason string) error {
	c, err := d.owner("corq_reject")
	if err != nil {
		return err
	}
	return c.Reject(d.Tag, reason)
}

// Extend: the lease expires lease from now.
func (d *Delivery) Extend(lease time.Duration) error {
	c, err := d.owner("corq_extend")
	if err != nil {
		return err
	}
	return c.Extend(d.Tag, lease)
}

// Respond answers this request and acks it (Consumer.Respond).
func (d *Delivery) Respond(response Message) error {
	c, err := d.owner("corq_respond")
	if err != nil {
		return err
	}
	return c.Respond(d.Tag, response)
}
