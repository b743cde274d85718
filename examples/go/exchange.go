package corq

// #include "glue.h"
import "C"

import (
	"context"
)

// ExchangeType is how an exchange matches a message against its bindings.
type ExchangeType string

const (
	// ExchangeDirect routes to bindings whose key equals the routing key.
	ExchangeDirect ExchangeType = "direct"
	// ExchangeFanout routes to every binding; keys are ignored.
	ExchangeFanout ExchangeType = "fanout"
	// ExchangeTopic: binding keys are patterns of '.'-separated words, '*' one word, '#' zero or
	// more.
	ExchangeTopic ExchangeType = "topic"
	// ExchangeHeaders matches the binding's arguments against the message's headers (x-match:
	// all, any, all-with-x, any-with-x).
	ExchangeHeaders ExchangeType = "headers"
)

// DeclareExchange declares an exchange. options: durable (true on a disk engine), internal
// (refuses direct publishes), alternate_exchange. Idempotent with the same type and options;
// ErrExists with others. ErrInvalid for "", a name starting with "corq." or an unknown type.
func (e *Engine) DeclareExchange(exchange string, kind ExchangeType, options Options) error {
	const op = "corq_exchange_declare"
	return e.withNames(op, "exchange name", exchange, "exchange type", string(kind),
		func(p *packer, name, typ int64) error {
			cfg, err := config(op, options)
			if err != nil {
				return err
			}
			defer freeConfig(cfg)
			return check(C.gq_exchange_declare(e.ptr, p.cbuf(), C.int64_t(name), C.int64_t(typ),
				cfg), op)
		})
}

// DeleteExchange deletes an exchange and every binding from or to it.
func (e *Engine) DeleteExchange(exchange string) error {
	const op = "corq_exchange_delete"
	return e.withName(op, "exchange name", exchange, func(p *packer, off int64) error {
		return check(C.gq_exchange_delete(e.ptr, p.cbuf(), C.int64_t(off)), op)
	})
}

// binding runs one of the four binding calls of gq_binding.
func (e *Engine) binding(op string, code C.int, source, destWhat, dest, key string, args []Header) error {
	return e.withNames(op, "exchange name", source, destWhat, dest,
		func(p *packer, src, dst int64) error {
			k, err := p.str(op, "binding key", key)
			if err != nil {
				return err
			}
			if _, err := p.headers(op, args); err != nil {
				return err
			}
			return check(C.gq_binding(code, e.ptr, p.cbuf(), C.int64_t(src), C.int64_t(dst),
				C.int64_t(k), p.chdrs(), p.hdrCount()), op)
		})
}

// Bind binds queue to exchange with key (a pattern for topic exchanges; ignored by fanout and
// headers exchanges) and, for a headers exchange, args (a nil Value matches presence alone; an
// "x-match" argument picks all, any, all-with-x or any-with-x). Binding the same tuple twice is a
// no-op. Errors: ErrNotFound (no such exchange or queue), ErrInvalid.
func (e *Engine) Bind(exchange, queue, key string, args []Header) error {
	return e.binding("corq_bind", 0, exchange, "queue name", queue, key, args)
}

// Unbind removes the binding with exactly this key and these arguments (ErrNotFound if none).
func (e *Engine) Unbind(exchange, queue, key string, args []Header) error {
	return e.binding("corq_unbind", 1, exchange, "queue name", queue, key, args)
}

// BindExchange binds exchange to exchange: what source routes to this binding enters destination.
func (e *Engine) BindExchange(source, destination, key string, args []Header) error {
	return e.binding("corq_exchange_bind", 2, source, "exchange name", destination, key, args)
}

// UnbindExchange removes that exchange-to-exchange binding (ErrNotFound if none).
func (e *Engine) UnbindExchange(source, destination, key string, args []Header) error {
	return e.binding("corq_exchange_unbind", 3, source, "exchange name", destination, key, args)
}

// Published is what an exchange publish did.
type Published struct {
	MessageID uint64 // the same in every queue that took a copy
	Routed    uint32 // how many queues took it (0: dropped as unroutable, or all deduplicated)
}

// PublishExchange publishes msg through exchange with routingKey into every queue it routes to,
// atomically: all of them take it or none does (ErrFull). Exchange "" publishes to the queue named
// routingKey. With opts.Mandatory a message no queue takes is ErrUnroutable instead of dropped.
// ctx as for Engine.Publish.
func (e *Engine) PublishExchange(ctx context.Context, exchange, routingKey string, msg Message,
	opts *PublishOptions) (Published, error) {
	const op = "corq_exchange_publish"
	if err := e.enter(op); err != nil {
		return Published{}, err
	}
	defer e.mu.RUnlock()
	p := getPacker()
	defer p.release()
	x, err := p.str(op, "exchange name", exchange)
	if err != nil {
		return Published{}, err
	}
	k, err := p.str(op, "routing key", routingKey)
	if err != nil {
		return Published{}, err
	}
	if err := p.message(op, &msg, true); err != nil {
		return Published{}, err
	}
	copts, limited, err := opts.cOptions(ctx)
	if err != nil {
		return Published{}, err
	}
	r := C.gq_exchange_publish(e.ptr, p.cbuf(), C.int64_t(x), C.int64_t(k), p.cmsgs(), p.chdrs(),
		p.hdrCount(), ext(msg.Data), copts)
	if r.rc < 0 {
		return Published{}, blame(failed(r, op), ctx, limited, CodeFull, CodeTimedOut)
	}
	return Published{MessageID: uint64(r.u64), Routed: uint32(r.u32)}, nil
}

// ExchangeStats are an exchange's counters since it was declared in this process.
type ExchangeStats struct {
	Bindings   uint64 // bindings whose source it is
	Published  uint64 // publishes that entered it, from a client or another exchange
	Routed     uint64 // copies it put into queues
	Unroutable uint64 // messages nothing took (dropped, or refused under Mandatory)
	Alternated uint64 // messages handed to its alternate exchange
}

// ExchangeStats reads one exchange's counters.
func (e *Engine) ExchangeStats(exchange string) (ExchangeStats, error) {
	const op = "corq_exchange_stats_get"
	var s C.corq_exchange_stats
	s.struct_size = C.uint32_t(C.sizeof_corq_exchange_stats)
	err := e.withName(op, "exchange name", exchange, func(p *packer, off int64) error {
		return check(C.gq_exchange_stats(e.ptr, p.cbuf(), C.int64_t(off), &s), op)
	})
	if err != nil {
		return ExchangeStats{}, err
	}
	return ExchangeStats{Bindings: uint64(s.bindings), Published: uint64(s.published),
		Routed: uint64(s.routed), Unroutable: uint64(s.unroutable),
		Alternated: uint64(s.alternated)}, nil
}

// Reply is the response to a Request, copied out of corq's memory.
type Reply struct {
	Data    []byte
	Headers Headers // x-correlation-id included
}

// Request publishes request (through exchange, "" for the queue named routingKey) with the headers
// x-reply-to and x-correlation-id added, and waits for its response, which a responder sends with
// Delivery.Respond. corq_request can neither be interrupted nor repeated, so the wait is ctx's
// deadline (none: no limit) and a cancellation without deadline is seen before the call only: give
// ctx a deadline. Errors: ErrTimedOut wrapping context.DeadlineExceeded (no response in time: a
// late one is dropped and counted), ErrUnroutable (no queue took the request: no responder),
// ErrNotFound (no such exchange), ErrFull, ErrClosed, ErrInvalid.
func (e *Engine) Request(ctx context.Context, exchange, routingKey string, request Message) (*Reply, error) {
	const op = "corq_request"
	if err := e.enter(op); err != nil {
		return nil, err
	}
	defer e.mu.RUnlock()
	p := getPacker()
	defer p.release()
	x, err := p.str(op, "exchange name", exchange)
	if err != nil {
		return nil, err
	}
	k, err := p.str(op, "routing key", routingKey)
	if err != nil {
		return nil, err
	}
	if err := p.message(op, &request, true); err != nil {
		return nil, err
	}
	timeout, limited, err := deadlineWait(ctx)
	if err != nil {
		return nil, err
	}
	r := C.gq_request(e.ptr, p.cbuf(), C.int64_t(x), C.int64_t(k), p.cmsgs(), p.chdrs(),
		p.hdrCount(), ext(request.Data), C.int32_t(timeout))
	if r.rc < 0 {
		return nil, blame(failed(r, op), ctx, limited, CodeTimedOut)
	}
	reply := (*C.corq_reply)(r.ptr)
	defer C.corq_reply_free(reply)
	return &Reply{Data: copyBytes(reply.data, reply.len),
		Headers: copyHeaders(reply.headers, reply.header_count)}, nil
}
