// Package corq is the Go binding of corq, an embeddable persistent message-queue engine: work
// queues with acks, retries, leases and dead-letter queues; RabbitMQ-style exchanges; request-reply;
// Kafka-style streams with consumer groups; and transactions — through corq's C API (corq/corq.h,
// the manual) with cgo.
//
// A work queue:
//
//	engine, err := corq.OpenMemory(nil) // corq.Open(dir, nil) for durable queues
//	...
//	engine.DeclareQueue("jobs", corq.Options{"max_attempts": "5"})
//	engine.Publish(ctx, "jobs", corq.Message{Data: []byte("resize 42.png")}, nil)
//	consumer, err := engine.NewConsumer("jobs", 64)
//	deliveries, err := consumer.Consume(ctx, 16) // waits; cancel ctx to stop waiting
//	for i := range deliveries {
//		deliveries[i].Ack() // or Nack(corq.Backoff), Release(), Reject(reason)
//	}
//
// How the C API maps (README.md has the whole story):
//   - Errors are *Error values with corq's code, the C function and corq_last_error's detail;
//     compare with errors.Is(err, corq.ErrNotFound) and the other sentinels.
//   - Every call that waits takes a context.Context: Consumer.Consume and StreamReader.Read are
//     interrupted at once when it is cancelled; other waits use its deadline.
//   - Every handle type is safe for concurrent use: Engine natively, the others through a mutex
//     (corq lets one thread at a time use a consumer, producer, reader or transaction). Close is
//     idempotent and safe while other goroutines use the handle.
//   - Deliveries, records and replies are copies: corq's zero-copy views die at settlement.
package corq

// #cgo pkg-config: corq
// #cgo CFLAGS: -Wall -Wextra -Wno-unused-parameter
import "C"
