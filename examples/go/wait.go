package corq

// #include "glue.h"
import "C"

import (
	"context"
	"math"
	"time"
)

// How a context reaches the waits of C (README.md, "Contexts and cancellation"):
//   - Consumer.Consume and StreamReader.Read wait in C without limit (or until the deadline) and a
//     watcher goroutine interrupts the wait when the context is cancelled
//     (corq_consumer_interrupt, corq_stream_reader_wakeup): cancellation is prompt.
//   - Engine.Sync, Engine.WaitDurable and Producer.Flush wait in slices of waitSlice: their C
//     waits cannot be interrupted, but repeating them is harmless, so cancellation is seen within a
//     slice.
//   - Publishes, appends, Request and Txn.Commit cannot be repeated (each call would publish again)
//     and cannot be interrupted: the context's deadline becomes their timeout_ms, and a
//     cancellation without a deadline is seen before the call only.

// waitSlice is the longest C wait of a sliced wait: how late a cancellation may be seen.
const waitSlice = 50 * time.Millisecond

// Backoff, as the delay of a nack, retries after the queue's backoff (any negative delay does).
const Backoff time.Duration = -1

// ms is d in milliseconds, rounded away from zero, so that a non-zero duration never becomes 0
// (which means "none" or "at once" to corq).
func ms(d time.Duration) int64 {
	switch {
	case d > 0:
		return int64((d + time.Millisecond - 1) / time.Millisecond)
	case d < 0:
		return -int64((-d + time.Millisecond - 1) / time.Millisecond)
	}
	return 0
}

// ms32 is ms(d) capped into an int32 timeout (-1 and below: -1, no limit).
func ms32(d time.Duration) int32 {
	m := ms(d)
	if m < 0 {
		return -1
	}
	if m > math.MaxInt32 {
		return math.MaxInt32
	}
	return int32(m)
}

// deadlineWait is the timeout_ms of a call that cannot be repeated: -1 without a deadline, else the
// time left, rounded up. ok is false when the deadline has passed (err: the context's error).
func deadlineWait(ctx context.Context) (timeout int32, limited bool, err error) {
	if err := ctx.Err(); err != nil {
		return 0, false, err
	}
	deadline, has := ctx.Deadline()
	if !has {
		return -1, false, nil
	}
	left := time.Until(deadline)
	if left <= 0 {
		return 0, false, context.DeadlineExceeded
	}
	return ms32(left), true, nil
}

// deadlinePassed: the context's deadline is reached (its Err may lag behind by a timer tick).
func deadlinePassed(ctx context.Context) bool {
	deadline, has := ctx.Deadline()
	return has && !time.Now().Before(deadline)
}

// ctxErr is the context's error, or DeadlineExceeded when its deadline passed but its timer has
// not fired yet.
func ctxErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if deadlinePassed(ctx) {
		return context.DeadlineExceeded
	}
	return nil
}

// blame wraps the context's error into a C wait's timeout (ETIMEDOUT, or EFULL for a blocked
// publish) when the context's deadline was that wait's limit and has passed.
func blame(err error, ctx context.Context, limited bool, codes ...Code) error {
	e, ok := err.(*Error)
	if !ok || !limited || !deadlinePassed(ctx) {
		return err
	}
	for _, c := range codes {
		if e.Code == c {
			e.cause = context.DeadlineExceeded
		}
	}
	return err
}

// sliced runs a repeatable C wait (call(timeout_ms)) until it ends, the context is cancelled, or
// its deadline passes: without a Done channel in one call without limit, else in waitSlice slices.
func sliced(ctx context.Context, op string, call func(timeout C.int32_t) C.gq_result) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	if ctx.Done() == nil {
		return check(call(-1), op)
	}
	for {
		slice, limited := waitSlice, false
		if deadline, has := ctx.Deadline(); has {
			if left := time.Until(deadline); left <= slice {
				slice, limited = left, true
			}
		}
		if slice <= 0 {
			return context.DeadlineExceeded
		}
		r := call(C.int32_t(ms32(slice)))
		if r.rc != C.CORQ_ETIMEDOUT {
			return check(r, op)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if limited && deadlinePassed(ctx) {
			err := failed(r, op)
			err.cause = context.DeadlineExceeded
			return err
		}
		failed(r, op) // a slice ended: free its detail and wait again
	}
}

// PublishOptions are per-publish options (corq_publish_options); nil means corq's defaults.
type PublishOptions struct {
	// NoWait: don't wait for durability (durable queues); confirm later with Engine.WaitDurable,
	// Producer.Flush or Engine.Sync.
	NoWait bool
	// Mandatory (exchange publishes): a message no queue takes fails with ErrUnroutable, nothing
	// stored, instead of being dropped and counted as unroutable.
	Mandatory bool
	// Timeout bounds the wait for room under overflow=block: 0 is corq's default (30 s), negative
	// no limit. The context's deadline, when earlier, is the limit instead.
	Timeout time.Duration
	// Delay: 0 deliverable now, > 0 after this delay (rounded up to ms); negative: ErrInvalid.
	Delay time.Duration
	// TTL: 0 the queue's message_ttl_ms, > 0 this message's TTL (rounded up to ms).
	TTL time.Duration
	// Priority: 0 or more; queues with max_priority deliver higher ones first. Negative: ErrInvalid.
	Priority int32
}

// defaultPublishTimeout is corq's (corq.h: timeout_ms "default 30000").
const defaultPublishTimeout = 30 * time.Second

// cOptions lowers o (nil: defaults) with the context's deadline as a cap on the wait; limited says
// the context's deadline is the wait's limit.
func (o *PublishOptions) cOptions(ctx context.Context) (C.corq_publish_options, bool, error) {
	var opts PublishOptions
	if o != nil {
		opts = *o
	}
	c := C.corq_publish_options{struct_size: C.uint32_t(C.sizeof_corq_publish_options)}
	if opts.NoWait {
		c.flags |= C.CORQ_PUBLISH_NOWAIT
	}
	if opts.Mandatory {
		c.flags |= C.CORQ_PUBLISH_MANDATORY
	}
	timeout := int32(-1)
	switch {
	case opts.Timeout == 0:
		timeout = ms32(defaultPublishTimeout)
	case opts.Timeout > 0:
		timeout = ms32(opts.Timeout)
	}
	wait, limited, err := deadlineWait(ctx)
	if err != nil {
		return c, false, err
	}
	if limited && (timeout < 0 || wait < timeout) {
		timeout = wait
	} else {
		limited = false
	}
	c.timeout_ms = C.int32_t(timeout)
	c.delay_ms = C.int64_t(ms(opts.Delay))
	c.ttl_ms = C.int64_t(ms(opts.TTL))
	c.priority = C.int32_t(opts.Priority)
	return c, limited, nil
}
