package corq_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"corq.dev/corq"
)

// Engines on a data directory (t.TempDir): what survives a close and an open.

func diskEngine(t *testing.T, dir string) *corq.Engine {
	t.Helper()
	e, err := corq.Open(dir, nil)
	if err != nil {
		t.Fatalf("Open(%q): %v", dir, err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func TestPublishedMessagesSurviveAReopenAndAckedOnesDoNot(t *testing.T) {
	dir := t.TempDir()
	e := diskEngine(t, dir)
	declare(t, e, "q", nil)
	id := publish(t, e, "q", "kept")
	publish(t, e, "q", "acked")
	c := consumer(t, e, "q", 4)
	ds, err := c.Poll(2)
	if err != nil || len(ds) != 2 {
		t.Fatalf("Poll: %v %v", ds, err)
	}
	if err := ds[1].Ack(); err != nil {
		t.Fatal(err)
	}
	if err := e.Sync(ctxLong(t)); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	e = diskEngine(t, dir)
	d := consumeOne(t, consumer(t, e, "q", 4))
	if string(d.Data) != "kept" || d.MessageID != id || d.DeliveryCount != 2 {
		t.Fatalf("after reopen: %+v (an in-flight delivery comes back with its count)", d)
	}
	if s := stats(t, e, "q"); s.Ready != 0 || s.InFlight != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestASecondOpenOfTheDirectoryIsErrBusyAndTheIDStays(t *testing.T) {
	dir := t.TempDir()
	e := diskEngine(t, dir)
	id, err := e.EngineID()
	if err != nil {
		t.Fatal(err)
	}
	_, err = corq.Open(dir, nil)
	wantErr(t, err, corq.ErrBusy, "corq_open", "")
	e.Close()
	again, err := diskEngine(t, dir).EngineID()
	if err != nil || again != id {
		t.Fatalf("the id after a reopen: %q %v, want %q", again, err, id)
	}
}

func TestNoWaitPublishesAreDurableAfterWaitDurableFlushAndSync(t *testing.T) {
	dir := t.TempDir()
	e := diskEngine(t, dir)
	declare(t, e, "q", nil)
	ctx := ctxLong(t)
	nowait := &corq.PublishOptions{NoWait: true}
	id, err := e.Publish(ctx, "q", corq.Message{Data: []byte("a")}, nowait)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.WaitDurable(ctx, id); err != nil {
		t.Fatal(err)
	}
	p, err := e.NewProducer("q")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Send(ctx, []corq.Message{{Data: []byte("b")}, {Data: []byte("c")}}, nowait); err != nil {
		t.Fatal(err)
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.Flush(context.Background()); err != nil { // without a Done channel: one C wait
		t.Fatal(err)
	}
	if _, err := e.Publish(ctx, "q", corq.Message{Data: []byte("d")}, nowait); err != nil {
		t.Fatal(err)
	}
	if err := e.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	p.Close()
	e.Close()
	if got := stats(t, diskEngine(t, dir), "q").Ready; got != 4 {
		t.Fatalf("%d messages after reopen, want 4", got)
	}
}

func TestDurableStreamsGroupOffsetsExchangesAndTransactionsComeBack(t *testing.T) {
	dir := t.TempDir()
	e := diskEngine(t, dir)
	ctx := ctxLong(t)
	declareStream(t, e, "s", corq.Options{"partitions": "2"})
	for i := 0; i < 3; i++ {
		appendRecord(t, e, "s", []byte("k"), "r")
	}
	m, err := e.NewGroupConsumer("s", "g", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := consumeOne(t, m).Ack(); err != nil {
		t.Fatal(err)
	}
	if err := e.DeclareExchange("x", corq.ExchangeFanout, nil); err != nil {
		t.Fatal(err)
	}
	declare(t, e, "q", nil)
	if err := e.Bind("x", "q", "", nil); err != nil {
		t.Fatal(err)
	}
	committed := begin(t, e)
	if err := committed.Publish("x", "", corq.Message{Data: []byte("committed")}, nil); err != nil {
		t.Fatal(err)
	}
	if err := committed.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	aborted := begin(t, e)
	if err := aborted.Publish("", "q", corq.Message{Data: []byte("aborted")}, nil); err != nil {
		t.Fatal(err)
	}
	aborted.Abort()
	if err := e.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	m.Close()
	e.Close()

	e = diskEngine(t, dir)
	if ss, err := e.StreamStats("s"); err != nil || ss.Records != 3 || ss.Partitions != 2 {
		t.Fatalf("stream after reopen: %+v %v", ss, err)
	}
	if gs, err := e.GroupStats("s", "g"); err != nil || gs.Lag != 2 {
		t.Fatalf("group after reopen: %+v %v", gs, err)
	}
	if p := pubX(t, e, "x", "", corq.Message{}); p.Routed != 1 {
		t.Fatalf("the binding after reopen routed %d", p.Routed)
	}
	c := consumer(t, e, "q", 4)
	ds, _ := c.Poll(4)
	if len(ds) != 2 || string(ds[0].Data) != "committed" {
		t.Fatalf("q after reopen: %v", ds)
	}
}

func TestSyncWithACancelledContextReturnsItsError(t *testing.T) {
	e := diskEngine(t, t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := e.Sync(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Sync: %v", err)
	}
	if err := e.WaitDurable(ctx, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitDurable: %v", err)
	}
}

// ---- the log callback ---------------------------------------------------------------------------

type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) add(level corq.LogLevel, message string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, level.String()+": "+message)
}

func (l *logLines) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

func TestTheLogCallbackGetsTheEnginesLinesUntilItIsRemoved(t *testing.T) {
	e, err := corq.OpenMemory(nil)
	if err != nil {
		t.Fatal(err)
	}
	var first, second logLines
	if err := e.SetLogCallback(first.add); err != nil {
		t.Fatal(err)
	}
	// A dead letter to a dead-letter queue that is not there is a warning.
	declare(t, e, "q", corq.Options{"dead_letter_queue": "nowhere-yet"})
	if err := e.DeleteQueue("nowhere-yet"); err != nil { // declared with q
		t.Fatal(err)
	}
	publish(t, e, "q", "m")
	c := consumer(t, e, "q", 1)
	if err := consumeOne(t, c).Reject("bad"); err != nil {
		t.Fatal(err)
	}
	if err := e.SetLogCallback(second.add); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(second.text(), "info: engine closed") {
		t.Errorf("the replacing callback did not get the close:\n%s", second.text())
	}
	if strings.Contains(first.text(), "engine closed") {
		t.Errorf("the replaced callback still got lines:\n%s", first.text())
	}
	if !strings.Contains(first.text(), "warn: queue 'q': dead-letter queue 'nowhere-yet'") {
		t.Errorf("the first callback did not get the dropped dead letter:\n%s", first.text())
	}

	quiet, err := corq.OpenMemory(nil)
	if err != nil {
		t.Fatal(err)
	}
	var none logLines
	if err := quiet.SetLogCallback(none.add); err != nil {
		t.Fatal(err)
	}
	if err := quiet.SetLogCallback(nil); err != nil {
		t.Fatal(err)
	}
	quiet.Close()
	if none.text() != "" {
		t.Errorf("a removed callback got lines:\n%s", none.text())
	}
	wantErr(t, quiet.SetLogCallback(none.add), corq.ErrClosed, "corq_set_log_callback", "closed")
}

// A lease that expires is the scheduler's business: its log line comes from a thread corq made,
// not one of Go's.
func TestTheLogCallbackRunsOnEngineThreads(t *testing.T) {
	e := memEngine(t, nil)
	lines := make(chan string, 16)
	if err := e.SetLogCallback(func(level corq.LogLevel, message string) {
		select {
		case lines <- level.String() + ": " + message:
		default:
		}
	}); err != nil {
		t.Fatal(err)
	}
	declare(t, e, "q", corq.Options{"lease_ms": "20", "max_attempts": "1", "dead_letter_queue": "gone"})
	if err := e.DeleteQueue("gone"); err != nil { // declared with q: dead letters get dropped
		t.Fatal(err)
	}
	publish(t, e, "q", "m")
	consumeOne(t, consumer(t, e, "q", 1)) // never settled: its lease runs out
	select {
	case line := <-lines:
		if !strings.Contains(line, "dead-letter queue 'gone'") {
			t.Fatalf("line %q", line)
		}
	case <-time.After(waitLong):
		t.Fatal("no line from the scheduler")
	}
}

func TestAPanickingLogCallbackDoesNotCrashTheProcess(t *testing.T) {
	e, err := corq.OpenMemory(nil)
	if err != nil {
		t.Fatal(err)
	}
	called := make(chan struct{}, 10)
	if err := e.SetLogCallback(func(corq.LogLevel, string) {
		called <- struct{}{}
		panic("a bug in the sink")
	}); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-called:
	case <-time.After(waitLong):
		t.Fatal("the callback was never called")
	}
}

func TestLogLevelsAreTheHeaders(t *testing.T) {
	levels := map[corq.LogLevel]string{corq.LogError: "error", corq.LogWarn: "warn", corq.LogInfo: "info", corq.LogDebug: "debug", 9: "level(9)"}
	for level, name := range levels {
		if level.String() != name {
			t.Errorf("%d: %q", int(level), level.String())
		}
	}
	if corq.LogError != 0 || corq.LogDebug != 3 {
		t.Error("levels are not corq.h's")
	}
}

// Two Closes at once: neither returns before the directory's lock is released.
func TestConcurrentClosesBothReturnOnceTheDirectoryIsFree(t *testing.T) {
	dir := t.TempDir()
	for round := 0; round < 5; round++ {
		e, err := corq.Open(dir, nil)
		if err != nil {
			t.Fatalf("round %d: Open: %v", round, err)
		}
		declare(t, e, "q", nil)
		var wg sync.WaitGroup
		var reopen sync.Mutex // one reopen at a time: only the closing engine may hold the lock
		for i := 0; i < 2; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := e.Close(); err != nil {
					t.Error(err)
				}
				reopen.Lock()
				defer reopen.Unlock()
				again, err := corq.Open(dir, nil)
				if err != nil {
					t.Errorf("round %d: Open after Close returned: %v", round, err)
					return
				}
				again.Close()
			}()
		}
		wg.Wait()
	}
}
