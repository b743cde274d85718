package corq_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"corq.dev/corq"
)

func begin(t *testing.T, e *corq.Engine) *corq.Txn {
	t.Helper()
	txn, err := e.Begin()
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	t.Cleanup(txn.Abort)
	return txn
}

func TestCommitAppliesPublishesAppendsAndAcksTogether(t *testing.T) {
	e := memEngine(t, nil)
	declare(t, e, "in", nil)
	declare(t, e, "out", nil)
	declareStream(t, e, "log", nil)
	if err := e.DeclareExchange("x", corq.ExchangeFanout, nil); err != nil {
		t.Fatal(err)
	}
	declare(t, e, "fan", nil)
	if err := e.Bind("x", "fan", "", nil); err != nil {
		t.Fatal(err)
	}
	publish(t, e, "in", "order")
	c := consumer(t, e, "in", 4)
	d := consumeOne(t, c)
	txn := begin(t, e)
	if err := txn.Publish("", "out", corq.Message{Data: []byte("invoice")}, nil); err != nil {
		t.Fatal(err)
	}
	if err := txn.Publish("x", "any", corq.Message{Data: []byte("event")}, nil); err != nil {
		t.Fatal(err)
	}
	if err := txn.Append("log", []byte("k"), corq.Message{Data: []byte("entry")}, nil); err != nil {
		t.Fatal(err)
	}
	if err := txn.Ack(d); err != nil {
		t.Fatal(err)
	}
	// Nothing is visible before the commit; the acked delivery is still in flight.
	if s := stats(t, e, "out"); s.Ready != 0 {
		t.Fatalf("visible before commit: %+v", s)
	}
	if s := stats(t, e, "in"); s.InFlight != 1 {
		t.Fatalf("in before commit: %+v", s)
	}
	if err := txn.Commit(ctxLong(t)); err != nil {
		t.Fatal(err)
	}
	if s := stats(t, e, "in"); s.Acked != 1 || s.InFlight != 0 {
		t.Errorf("in %+v", s)
	}
	if ready(t, e, "out") != 1 || ready(t, e, "fan") != 1 {
		t.Error("the publishes were not applied")
	}
	if ss, _ := e.StreamStats("log"); ss.Records != 1 {
		t.Errorf("log %+v", ss)
	}
	wantErr(t, d.Ack(), corq.ErrState, "corq_ack", "") // settled by the commit
}

func TestAbortDiscardsEverythingAndLeavesTheDeliveryHeld(t *testing.T) {
	e := memEngine(t, nil)
	declare(t, e, "q", nil)
	publish(t, e, "q", "m")
	c := consumer(t, e, "q", 4)
	d := consumeOne(t, c)
	txn := begin(t, e)
	if err := txn.Publish("", "q", corq.Message{Data: []byte("never")}, nil); err != nil {
		t.Fatal(err)
	}
	if err := txn.Ack(d); err != nil {
		t.Fatal(err)
	}
	txn.Abort()
	txn.Abort() // a no-op
	if s := stats(t, e, "q"); s.Ready != 0 || s.InFlight != 1 || s.Published != 1 {
		t.Fatalf("after abort: %+v", s)
	}
	if err := d.Ack(); err != nil {
		t.Fatalf("the delivery is still held: %v", err)
	}
	wantErr(t, txn.Commit(ctxLong(t)), corq.ErrClosed, "corq_txn_commit", "aborted")
	wantErr(t, txn.Publish("", "q", corq.Message{}, nil), corq.ErrClosed, "corq_txn_publish", "")
	wantErr(t, txn.Append("s", nil, corq.Message{}, nil), corq.ErrClosed, "corq_txn_append", "")
	wantErr(t, txn.AckTag(c, 1), corq.ErrClosed, "corq_txn_ack", "")
}

func TestAfterCommitEveryCallIsErrClosed(t *testing.T) {
	e := memEngine(t, nil)
	declare(t, e, "q", nil)
	txn := begin(t, e)
	if err := txn.Commit(ctxLong(t)); err != nil { // an empty transaction commits at once
		t.Fatal(err)
	}
	wantErr(t, txn.Commit(ctxLong(t)), corq.ErrClosed, "corq_txn_commit", "committed")
	wantErr(t, txn.Publish("", "q", corq.Message{}, nil), corq.ErrClosed, "corq_txn_publish", "")
	txn.Abort() // a no-op
}

func TestRefusedOperationsLeaveTheTransactionUsable(t *testing.T) {
	e := memEngine(t, nil)
	declare(t, e, "q", nil)
	declareStream(t, e, "s", nil)
	publish(t, e, "q", "m")
	c := consumer(t, e, "q", 4)
	d := consumeOne(t, c)
	txn := begin(t, e)
	wantErr(t, txn.Publish("", "missing", corq.Message{}, nil), corq.ErrNotFound, "corq_txn_publish", "")
	wantErr(t, txn.Publish("", "missing", corq.Message{}, &corq.PublishOptions{Mandatory: true}), corq.ErrUnroutable, "corq_txn_publish", "")
	wantErr(t, txn.Publish("missing-x", "k", corq.Message{}, nil), corq.ErrNotFound, "corq_txn_publish", "")
	wantErr(t, txn.Publish("", "bad name!", corq.Message{}, nil), corq.ErrInvalid, "corq_txn_publish", "")
	wantErr(t, txn.Publish("", "q", corq.Message{}, &corq.PublishOptions{Priority: -1}), corq.ErrInvalid, "corq_txn_publish", "")
	wantErr(t, txn.Publish("", "a\x00", corq.Message{}, nil), corq.ErrInvalid, "corq_txn_publish", "NUL")
	wantErr(t, txn.Append("missing", nil, corq.Message{}, nil), corq.ErrNotFound, "corq_txn_append", "")
	wantErr(t, txn.Append("s", nil, corq.Message{}, &corq.PublishOptions{Delay: time.Second}), corq.ErrInvalid, "corq_txn_append", "")
	wantErr(t, txn.AckTag(c, d.Tag+100), corq.ErrState, "corq_txn_ack", "")
	if err := txn.Ack(d); err != nil {
		t.Fatal(err)
	}
	wantErr(t, txn.Ack(d), corq.ErrState, "corq_txn_ack", "already")
	var zero corq.Delivery
	wantErr(t, txn.Ack(&zero), corq.ErrInvalid, "corq_txn_ack", "no consumer")
	other := memEngine(t, nil)
	declare(t, other, "q", nil)
	publish(t, other, "q", "m")
	oc := consumer(t, other, "q", 1)
	od := consumeOne(t, oc)
	wantErr(t, txn.Ack(od), corq.ErrInvalid, "corq_txn_ack", "")
	if err := txn.Publish("", "q", corq.Message{Data: []byte("ok")}, nil); err != nil {
		t.Fatal(err)
	}
	if err := txn.Commit(ctxLong(t)); err != nil {
		t.Fatal(err)
	}
	if s := stats(t, e, "q"); s.Acked != 1 || s.Ready != 1 {
		t.Fatalf("after commit: %+v", s)
	}
}

func TestADeliverySettledBeforeCommitFailsItAndNothingIsApplied(t *testing.T) {
	e := memEngine(t, nil)
	declare(t, e, "q", nil)
	declare(t, e, "out", nil)
	publish(t, e, "q", "m")
	c := consumer(t, e, "q", 4)
	d := consumeOne(t, c)
	txn := begin(t, e)
	if err := txn.Publish("", "out", corq.Message{}, nil); err != nil {
		t.Fatal(err)
	}
	if err := txn.Ack(d); err != nil {
		t.Fatal(err)
	}
	if err := d.Release(); err != nil {
		t.Fatal(err)
	}
	wantErr(t, txn.Commit(ctxLong(t)), corq.ErrState, "corq_txn_commit", "")
	if ready(t, e, "out") != 0 {
		t.Fatal("a failed commit applied a publish")
	}
	wantErr(t, txn.Commit(ctxLong(t)), corq.ErrClosed, "corq_txn_commit", "")
}

func TestACommitAfterItsConsumerClosedIsErrStateAndAppliesNothing(t *testing.T) {
	e := memEngine(t, nil)
	declare(t, e, "q", nil)
	declare(t, e, "out", nil)
	publish(t, e, "q", "m")
	c, err := e.NewConsumer("q", 4)
	if err != nil {
		t.Fatal(err)
	}
	d := consumeOne(t, c)
	txn := begin(t, e)
	if err := txn.Publish("", "out", corq.Message{}, nil); err != nil {
		t.Fatal(err)
	}
	if err := txn.Ack(d); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil { // releases the delivery
		t.Fatal(err)
	}
	wantErr(t, txn.Commit(ctxLong(t)), corq.ErrState, "corq_txn_commit", "")
	if s := stats(t, e, "q"); s.Ready != 1 || s.Acked != 0 || ready(t, e, "out") != 0 {
		t.Fatalf("a failed commit applied something: %+v", s)
	}
}

func TestACommitWithADoneContextIsNotMadeAndTheTransactionStaysOpen(t *testing.T) {
	e := memEngine(t, nil)
	declare(t, e, "q", nil)
	txn := begin(t, e)
	if err := txn.Publish("", "q", corq.Message{}, nil); err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if err := txn.Commit(cancelled); !errors.Is(err, context.Canceled) {
		t.Fatalf("Commit with a cancelled context: %v", err)
	}
	if err := txn.Commit(ctxLong(t)); err != nil {
		t.Fatalf("Commit after: %v", err)
	}
	if ready(t, e, "q") != 1 {
		t.Fatal("not committed")
	}
}

func TestConsumeTransformProduceMovesEachMessageExactlyOnce(t *testing.T) {
	e := memEngine(t, nil)
	declare(t, e, "in", nil)
	declare(t, e, "out", nil)
	const n = 50
	for i := 0; i < n; i++ {
		publish(t, e, "in", "m")
	}
	var wg sync.WaitGroup
	for w := 0; w < 3; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := e.NewConsumer("in", 4)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			for {
				ds, err := c.Poll(4)
				if err != nil || len(ds) == 0 {
					return
				}
				for i := range ds {
					txn, err := e.Begin()
					if err != nil {
						t.Error(err)
						return
					}
					if err := txn.Publish("", "out", corq.Message{Data: ds[i].Data}, nil); err != nil {
						t.Error(err)
					}
					if err := txn.Ack(&ds[i]); err != nil {
						t.Error(err)
					}
					if err := txn.Commit(context.Background()); err != nil {
						t.Error(err)
					}
				}
			}
		}()
	}
	wg.Wait()
	if s := stats(t, e, "in"); s.Acked != n || s.Ready != 0 {
		t.Fatalf("in %+v", s)
	}
	if ready(t, e, "out") != n {
		t.Fatalf("out has %d", ready(t, e, "out"))
	}
}

func TestAGroupMembersAckCommitsWithAnAppend(t *testing.T) {
	e := memEngine(t, nil)
	declareStream(t, e, "src", nil)
	declareStream(t, e, "dst", nil)
	appendRecord(t, e, "src", nil, "r")
	m, err := e.NewGroupConsumer("src", "g", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	d := consumeOne(t, m)
	txn := begin(t, e)
	if err := txn.Append("dst", nil, corq.Message{Data: d.Data}, nil); err != nil {
		t.Fatal(err)
	}
	if err := txn.Ack(d); err != nil {
		t.Fatal(err)
	}
	if err := txn.Commit(ctxLong(t)); err != nil {
		t.Fatal(err)
	}
	if gs, _ := e.GroupStats("src", "g"); gs.Acked != 1 || gs.Lag != 0 {
		t.Fatalf("group %+v", gs)
	}
	if ss, _ := e.StreamStats("dst"); ss.Records != 1 {
		t.Fatalf("dst %+v", ss)
	}
}

func TestAClosedEngineAbortsOpenTransactions(t *testing.T) {
	e, err := corq.OpenMemory(nil)
	if err != nil {
		t.Fatal(err)
	}
	declare(t, e, "q", nil)
	txn, err := e.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	wantErr(t, txn.Publish("", "q", corq.Message{}, nil), corq.ErrClosed, "corq_txn_publish", "")
	wantErr(t, txn.Commit(context.Background()), corq.ErrClosed, "corq_txn_commit", "")
	txn.Abort()
	_, err = e.Begin()
	wantErr(t, err, corq.ErrClosed, "corq_txn_begin", "closed")
	var nilTxn *corq.Txn
	wantErr(t, nilTxn.Commit(context.Background()), corq.ErrInvalid, "corq_txn_commit", "nil")
	nilTxn.Abort()
}
