package corq_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"corq.dev/corq"
)

// waitLong bounds every wait a test expects to end by itself: a hang fails instead of blocking.
const waitLong = 10 * time.Second

func memEngine(t *testing.T, options corq.Options) *corq.Engine {
	t.Helper()
	engine, err := corq.OpenMemory(options)
	if err != nil {
		t.Fatalf("OpenMemory: %v", err)
	}
	t.Cleanup(func() { engine.Close() })
	return engine
}

func ctxLong(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	t.Cleanup(cancel)
	return ctx
}

func declare(t *testing.T, e *corq.Engine, queue string, options corq.Options) {
	t.Helper()
	if err := e.DeclareQueue(queue, options); err != nil {
		t.Fatalf("DeclareQueue(%q): %v", queue, err)
	}
}

func publish(t *testing.T, e *corq.Engine, queue, data string) uint64 {
	t.Helper()
	id, err := e.Publish(context.Background(), queue, corq.Message{Data: []byte(data)}, nil)
	if err != nil {
		t.Fatalf("Publish(%q): %v", queue, err)
	}
	return id
}

func consumer(t *testing.T, e *corq.Engine, queue string, prefetch uint32) *corq.Consumer {
	t.Helper()
	c, err := e.NewConsumer(queue, prefetch)
	if err != nil {
		t.Fatalf("NewConsumer(%q): %v", queue, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// consumeOne waits (bounded) for one delivery.
func consumeOne(t *testing.T, c *corq.Consumer) *corq.Delivery {
	t.Helper()
	ds, err := c.Consume(ctxLong(t), 1)
	if err != nil {
		t.Fatalf("Consume: %v", err)
	}
	if len(ds) != 1 {
		t.Fatalf("Consume returned %d deliveries, want 1", len(ds))
	}
	return &ds[0]
}

func stats(t *testing.T, e *corq.Engine, queue string) corq.QueueStats {
	t.Helper()
	s, err := e.QueueStats(queue)
	if err != nil {
		t.Fatalf("QueueStats(%q): %v", queue, err)
	}
	return s
}

// wantErr checks that err is a corq *Error matching sentinel, from the C function op, whose
// detail contains detail (when not "").
func wantErr(t *testing.T, err error, sentinel *corq.Error, op, detail string) {
	t.Helper()
	if !errors.Is(err, sentinel) {
		t.Fatalf("error %v, want %v", err, sentinel)
	}
	var e *corq.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v is not a *corq.Error", err)
	}
	if op != "" && e.Op != op {
		t.Errorf("error %v: Op %q, want %q", err, e.Op, op)
	}
	if e.Detail == "" {
		t.Errorf("error %v has no detail", err)
	}
	if detail != "" && !strings.Contains(e.Detail, detail) {
		t.Errorf("error detail %q does not contain %q", e.Detail, detail)
	}
}

// within fails the test if fn does not return within waitLong; it returns how long fn took.
func within(t *testing.T, fn func()) time.Duration {
	t.Helper()
	done := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(done)
		fn()
	}()
	select {
	case <-done:
		return time.Since(start)
	case <-time.After(waitLong):
		t.Fatalf("the call did not return within %v", waitLong)
		return 0
	}
}
