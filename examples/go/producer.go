package corq

// #include "glue.h"
import "C"

import (
	"context"
	"runtime"
	"sync"
)

// Producer publishes atomic batches to one queue (corq_producer). corq lets one thread at a time
// use it; this type adds a mutex, so any goroutine may call it (calls run one at a time).
type Producer struct {
	engine *Engine
	mu     sync.Mutex
	ptr    *C.corq_producer
	closed bool
}

// NewProducer opens a producer for an existing queue. Errors: ErrNotFound, ErrInvalid, ErrClosed.
func (e *Engine) NewProducer(queue string) (*Producer, error) {
	const op = "corq_producer_open"
	var producer *Producer
	err := e.withName(op, "queue name", queue, func(p *packer, off int64) error {
		r := C.gq_producer_open(e.ptr, p.cbuf(), C.int64_t(off))
		if r.rc < 0 {
			return failed(r, op)
		}
		producer = &Producer{engine: e, ptr: (*C.corq_producer)(r.ptr)}
		runtime.SetFinalizer(producer, (*Producer).Close)
		return nil
	})
	return producer, err
}

func (p *Producer) lock(op string) error {
	if p == nil || p.ptr == nil {
		return invalid(op, "producer is nil (use Engine.NewProducer)")
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return closedErr(op, "producer")
	}
	return nil
}

// Send publishes msgs as one batch, all accepted or none, with the same options, and returns the
// first id (the others follow consecutively). An empty batch is a no-op. The payloads are copied
// into one buffer for the call. ctx as for Engine.Publish. Errors: those of Engine.Publish, and
// ErrInvalid for a batch larger than the queue's max_length.
func (p *Producer) Send(ctx context.Context, msgs []Message, opts *PublishOptions) (uint64, error) {
	const op = "corq_producer_send"
	if err := p.lock(op); err != nil {
		return 0, err
	}
	defer p.mu.Unlock()
	k := getPacker()
	defer k.release()
	for i := range msgs {
		if err := k.message(op, &msgs[i], false); err != nil {
			return 0, err
		}
	}
	copts, limited, err := opts.cOptions(ctx)
	if err != nil {
		return 0, err
	}
	r := C.gq_producer_send(p.ptr, k.cbuf(), k.cmsgs(), C.size_t(len(msgs)), k.chdrs(),
		k.hdrCount(), copts)
	if r.rc < 0 {
		return 0, blame(failed(r, op), ctx, limited, CodeFull, CodeTimedOut)
	}
	return uint64(r.u64), nil
}

// Flush waits until everything this producer sent is durable (at once for transient queues).
// Sliced like Engine.Sync. Errors: ErrFailed, ErrClosed.
func (p *Producer) Flush(ctx context.Context) error {
	const op = "corq_producer_flush"
	if err := p.lock(op); err != nil {
		return err
	}
	defer p.mu.Unlock()
	return sliced(ctx, op, func(timeout C.int32_t) C.gq_result {
		return C.gq_producer_flush(p.ptr, timeout)
	})
}

// Close closes the producer; it waits for a Send or Flush in progress. Idempotent.
func (p *Producer) Close() error {
	if p == nil || p.ptr == nil {
		return invalid("corq_producer_close", "producer is nil")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed {
		p.closed = true
		runtime.SetFinalizer(p, nil)
		C.corq_producer_close(p.ptr)
	}
	return nil
}
