package corq_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"corq.dev/corq"
)

// The waits of Consume and Read end at once when their context is cancelled from another
// goroutine, at their deadline, and on Close; an interrupt that came too late for its call never
// makes a later call return early or wrongly.

func TestCancelFromAnotherGoroutineEndsAWaitingConsumeAndKeepsTheConsumer(t *testing.T) {
	e := memEngine(t, nil)
	declare(t, e, "q", nil)
	c := consumer(t, e, "q", 4)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	var err error
	var ds []corq.Delivery
	took := within(t, func() { ds, err = c.Consume(ctx, 1) })
	if !errors.Is(err, context.Canceled) || ds != nil {
		t.Fatalf("Consume after cancel: %v %v", ds, err)
	}
	if took < 40*time.Millisecond {
		t.Fatalf("Consume returned after %v, before the cancel", took)
	}
	publish(t, e, "q", "after")
	if d := consumeOne(t, c); string(d.Data) != "after" {
		t.Fatalf("the consumer works after a cancel: %q", d.Data)
	}
}

func TestConsumeReturnsDeadlineExceededAtItsDeadlineNotBefore(t *testing.T) {
	e := memEngine(t, nil)
	declare(t, e, "q", nil)
	c := consumer(t, e, "q", 4)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	var err error
	took := within(t, func() { _, err = c.Consume(ctx, 1) })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Consume at the deadline: %v", err)
	}
	if took < 95*time.Millisecond {
		t.Fatalf("Consume returned after %v, before its 100 ms deadline", took)
	}
}

func TestADoneContextConsumesNothing(t *testing.T) {
	e := memEngine(t, nil)
	declare(t, e, "q", nil)
	publish(t, e, "q", "m")
	c := consumer(t, e, "q", 4)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Consume(ctx, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("Consume with a cancelled context: %v", err)
	}
	expired, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()
	if _, err := c.Consume(expired, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Consume with an expired context: %v", err)
	}
	if s := stats(t, e, "q"); s.Ready != 1 || s.Delivered != 0 {
		t.Fatalf("a done context took a message: %+v", s)
	}
}

func TestMessagesArrivingDuringTheWaitAreDelivered(t *testing.T) {
	e := memEngine(t, nil)
	declare(t, e, "q", nil)
	c := consumer(t, e, "q", 4)
	ctx, cancel := context.WithCancel(ctxLong(t))
	defer cancel()
	time.AfterFunc(30*time.Millisecond, func() { publish(t, e, "q", "late") })
	ds, err := c.Consume(ctx, 4) // a cancellable context: a watcher runs, and does not fire
	if err != nil || len(ds) != 1 || string(ds[0].Data) != "late" {
		t.Fatalf("Consume: %v %v", ds, err)
	}
}

// Cancels race with deliveries many times over, so that interrupts land before, during and after
// the consume they were meant for. Whatever happened, the next calls behave: a message published
// is delivered, and a consume on an empty queue waits out its whole deadline.
func TestLateInterruptsNeverEndALaterConsumeEarlyOrWrongly(t *testing.T) {
	e := memEngine(t, nil)
	declare(t, e, "q", nil)
	c := consumer(t, e, "q", 8)
	const rounds = 200
	for i := 0; i < rounds; i++ {
		publish(t, e, "q", "m")
		ctx, cancel := context.WithCancel(context.Background())
		go cancel()
		ds, err := c.Consume(ctx, 1)
		switch {
		case err == nil && len(ds) == 1:
			if err := ds[0].Ack(); err != nil {
				t.Fatal(err)
			}
			// The cancel may have landed after the delivery: a poll still finds what is ready.
			publish(t, e, "q", "extra")
			more, err := c.Poll(1)
			if err != nil || len(more) != 1 {
				t.Fatalf("round %d: Poll after a racing cancel: %v %v", i, more, err)
			}
			if err := more[0].Ack(); err != nil {
				t.Fatal(err)
			}
		case errors.Is(err, context.Canceled):
			d := consumeOne(t, c) // the message is still there, and comes now
			if err := d.Ack(); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("round %d: Consume: %v %v", i, ds, err)
		}
		if i%20 == 0 {
			// start before the context: its 30 ms run from WithTimeout, and a preemption between
			// the two would otherwise make a full wait look short.
			start := time.Now()
			wait, cancelWait := context.WithTimeout(context.Background(), 30*time.Millisecond)
			_, err := c.Consume(wait, 1)
			cancelWait()
			if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) < 25*time.Millisecond {
				t.Fatalf("round %d: an empty queue's Consume ended after %v with %v", i,
					time.Since(start), err)
			}
		}
	}
	if s := stats(t, e, "q"); s.Acked != s.Published || s.Ready != 0 || s.InFlight != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestCloseEndsAConsumeWaitingInAnotherGoroutine(t *testing.T) {
	e := memEngine(t, nil)
	declare(t, e, "q", nil)
	c, err := e.NewConsumer("q", 4)
	if err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(50*time.Millisecond, func() { c.Close() })
	within(t, func() { _, err = c.Consume(context.Background(), 1) })
	wantErr(t, err, corq.ErrClosed, "corq_consume", "")
	_, err = c.Consume(context.Background(), 1)
	wantErr(t, err, corq.ErrClosed, "corq_consume", "closed")
}

func TestWakeupEndsConsumingForGoodButSettlingStillWorks(t *testing.T) {
	e := memEngine(t, nil)
	declare(t, e, "q", nil)
	publish(t, e, "q", "m")
	c := consumer(t, e, "q", 4)
	d := consumeOne(t, c)
	time.AfterFunc(50*time.Millisecond, func() {
		if err := c.Wakeup(); err != nil {
			t.Error(err)
		}
	})
	var err error
	within(t, func() { _, err = c.Consume(context.Background(), 1) })
	wantErr(t, err, corq.ErrClosed, "corq_consume", "")
	publish(t, e, "q", "more")
	_, err = c.Consume(ctxLong(t), 1)
	wantErr(t, err, corq.ErrClosed, "corq_consume", "")
	if err := d.Ack(); err != nil {
		t.Fatalf("settling after wakeup: %v", err)
	}
}

func TestEngineCloseEndsAConsumeWaitingInAnotherGoroutine(t *testing.T) {
	e, err := corq.OpenMemory(nil)
	if err != nil {
		t.Fatal(err)
	}
	declare(t, e, "q", nil)
	c := consumer(t, e, "q", 4)
	time.AfterFunc(50*time.Millisecond, func() { e.Close() })
	within(t, func() { _, err = c.Consume(context.Background(), 1) })
	wantErr(t, err, corq.ErrClosed, "corq_consume", "")
}

// A publish blocked on a full queue (overflow=block, no limit) is inside the engine when Close
// comes: Close wakes it (ErrClosed) and waits for it before the engine's memory goes.
func TestEngineCloseWakesABlockedPublishAndARequestWithoutDeadline(t *testing.T) {
	e, err := corq.OpenMemory(nil)
	if err != nil {
		t.Fatal(err)
	}
	declare(t, e, "q", corq.Options{"max_length": "1", "overflow": "block"})
	declare(t, e, "service", nil) // nobody consumes: a request waits for ever
	publish(t, e, "q", "fills it")
	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Add(2)
	go func() {
		defer wg.Done()
		_, errs[0] = e.Publish(context.Background(), "q", corq.Message{}, &corq.PublishOptions{Timeout: -1})
	}()
	go func() {
		defer wg.Done()
		_, errs[1] = e.Request(context.Background(), "", "service", corq.Message{Data: []byte("?")})
	}()
	time.Sleep(100 * time.Millisecond) // both are waiting in C
	within(t, func() {
		if err := e.Close(); err != nil {
			t.Error(err)
		}
		wg.Wait()
	})
	wantErr(t, errs[0], corq.ErrClosed, "corq_publish", "")
	wantErr(t, errs[1], corq.ErrClosed, "corq_request", "")
}

func TestABlockedPublishEndsAtTheContextsDeadlineWithBothErrors(t *testing.T) {
	e := memEngine(t, nil)
	declare(t, e, "q", corq.Options{"max_length": "1", "overflow": "block"})
	publish(t, e, "q", "fills it")
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	var err error
	took := within(t, func() { _, err = e.Publish(ctx, "q", corq.Message{}, nil) })
	wantErr(t, err, corq.ErrFull, "corq_publish", "")
	if !errors.Is(err, context.DeadlineExceeded) || took < 95*time.Millisecond {
		t.Fatalf("after %v: %v does not wrap DeadlineExceeded", took, err)
	}
	// The options' own timeout, shorter than the context's, is not the context's fault.
	_, err = e.Publish(ctxLong(t), "q", corq.Message{}, &corq.PublishOptions{Timeout: 20 * time.Millisecond})
	wantErr(t, err, corq.ErrFull, "corq_publish", "")
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("%v blames the context", err)
	}
	cancelled, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if _, err := e.Publish(cancelled, "q", corq.Message{}, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("Publish with a cancelled context: %v", err)
	}
	if s := stats(t, e, "q"); s.Published != 1 {
		t.Fatalf("refused publishes were counted: %+v", s)
	}
}

func TestConsumersOfOneEngineInManyGoroutines(t *testing.T) {
	e := memEngine(t, nil)
	declare(t, e, "q", nil)
	const workers, perWorker = 4, 250
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		p, err := e.NewProducer("q")
		if err != nil {
			t.Error(err)
			return
		}
		defer p.Close()
		for i := 0; i < workers*perWorker; i++ {
			if _, err := p.Send(context.Background(), []corq.Message{{Data: []byte("m")}}, nil); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	shared := consumer(t, e, "q", 16) // one consumer shared by all: the mutex serializes them
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for done := 0; done < perWorker; {
				ctx, cancel := context.WithTimeout(context.Background(), waitLong)
				ds, err := shared.Consume(ctx, 1)
				cancel()
				if err != nil {
					t.Error(err)
					return
				}
				for i := range ds {
					if err := ds[i].Ack(); err != nil {
						t.Error(err)
						return
					}
					done++
				}
			}
		}()
	}
	wg.Wait()
	if s := stats(t, e, "q"); s.Acked != workers*perWorker {
		t.Fatalf("stats %+v", s)
	}
}

func TestACallRacingEngineCloseEitherRunsOrGetsErrClosed(t *testing.T) {
	for round := 0; round < 20; round++ {
		e, err := corq.OpenMemory(nil)
		if err != nil {
			t.Fatal(err)
		}
		declare(t, e, "q", nil)
		var wg sync.WaitGroup
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					_, err := e.Publish(context.Background(), "q", corq.Message{Data: []byte("m")}, nil)
					if errors.Is(err, corq.ErrClosed) {
						return
					}
					if err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		time.Sleep(time.Millisecond)
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
	}
}

// A settle from another goroutine while the consumer's Consume waits (with no deadline) runs at
// once: it interrupts the wait, runs, and the Consume waits on and still gets the next message.
// The usual worker pattern: one goroutine consumes, workers settle.
func TestSettlesFromOtherGoroutinesDoNotWaitForAWaitingConsume(t *testing.T) {
	e := memEngine(t, nil)
	declare(t, e, "q", nil)
	declare(t, e, "out", nil)
	c := consumer(t, e, "q", 8)
	for _, m := range []string{"a", "b", "c"} {
		publish(t, e, "q", m)
	}
	held, err := c.Consume(context.Background(), 3)
	if err != nil || len(held) != 3 {
		t.Fatalf("Consume: %v %v", held, err)
	}
	got := make(chan string, 1)
	go func() {
		// Waits without a deadline: only a message (or Close) ends it.
		ds, err := c.Consume(context.Background(), 1)
		if err != nil {
			got <- "error: " + err.Error()
			return
		}
		got <- string(ds[0].Data)
	}()
	time.Sleep(20 * time.Millisecond) // let it reach corq_consume (not needed for correctness)
	took := within(t, func() {
		if err := held[0].Ack(); err != nil {
			t.Errorf("Ack while a Consume waits: %v", err)
		}
		if err := c.Nack(held[1].Tag, time.Hour); err != nil {
			t.Errorf("Nack while a Consume waits: %v", err)
		}
		txn := begin(t, e)
		if err := txn.Publish("", "out", corq.Message{Data: []byte("x")}, nil); err != nil {
			t.Errorf("Txn.Publish: %v", err)
		}
		if err := txn.Ack(&held[2]); err != nil {
			t.Errorf("Txn.Ack while a Consume waits: %v", err)
		}
		if err := txn.Commit(context.Background()); err != nil {
			t.Errorf("Txn.Commit while a Consume waits: %v", err)
		}
	})
	if took > 2*time.Second {
		t.Fatalf("the settles took %v: they waited for the Consume", took)
	}
	select {
	case m := <-got:
		t.Fatalf("the waiting Consume returned before any message: %s", m)
	default:
	}
	publish(t, e, "q", "d")
	select {
	case m := <-got:
		if m != "d" {
			t.Fatalf("the waiting Consume got %q, want d", m)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the waiting Consume never got the message published after the settles")
	}
	if s := stats(t, e, "q"); s.Acked != 2 || s.Delayed != 1 {
		t.Fatalf("q after the settles: acked %d delayed %d, want 2 and 1", s.Acked, s.Delayed)
	}
}
