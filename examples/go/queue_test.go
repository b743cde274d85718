package corq_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"corq.dev/corq"
)

func TestErrorCodesAreTheValuesOfTheHeader(t *testing.T) {
	codes := []struct {
		code     corq.Code
		value    int
		name     string
		sentinel *corq.Error
	}{
		{corq.CodeInvalid, -1, "CORQ_EINVAL", corq.ErrInvalid},
		{corq.CodeNoMemory, -2, "CORQ_ENOMEM", corq.ErrNoMemory},
		{corq.CodeIO, -3, "CORQ_EIO", corq.ErrIO},
		{corq.CodeNoSpace, -4, "CORQ_ENOSPC", corq.ErrNoSpace},
		{corq.CodeNotFound, -5, "CORQ_ENOENT", corq.ErrNotFound},
		{corq.CodeExists, -6, "CORQ_EEXIST", corq.ErrExists},
		{corq.CodeFull, -7, "CORQ_EFULL", corq.ErrFull},
		{corq.CodeTimedOut, -8, "CORQ_ETIMEDOUT", corq.ErrTimedOut},
		{corq.CodeState, -9, "CORQ_ESTATE", corq.ErrState},
		{corq.CodeClosed, -10, "CORQ_ECLOSED", corq.ErrClosed},
		{corq.CodeBusy, -11, "CORQ_EBUSY", corq.ErrBusy},
		{corq.CodeCorrupt, -12, "CORQ_ECORRUPT", corq.ErrCorrupt},
		{corq.CodeFailed, -13, "CORQ_EFAILED", corq.ErrFailed},
		{corq.CodeTooBig, -14, "CORQ_ETOOBIG", corq.ErrTooBig},
		{corq.CodeUnsupported, -15, "CORQ_EUNSUPPORTED", corq.ErrUnsupported},
		{corq.CodeUnroutable, -16, "CORQ_EUNROUTABLE", corq.ErrUnroutable},
	}
	for _, c := range codes {
		if int(c.code) != c.value || c.code.Name() != c.name || c.sentinel.Code != c.code {
			t.Errorf("%v: value %d name %q sentinel %v", c.code, int(c.code), c.code.Name(), c.sentinel)
		}
		if !strings.HasPrefix(c.code.String(), c.name+": ") || c.sentinel.Error() != c.code.String() {
			t.Errorf("%s: String %q, sentinel text %q", c.name, c.code.String(), c.sentinel.Error())
		}
		err := &corq.Error{Code: c.code, Op: "corq_x", Detail: "corq_x: why"}
		for _, other := range codes {
			if got := errors.Is(err, other.sentinel); got != (other.code == c.code) {
				t.Errorf("errors.Is(%s error, %s) = %v", c.name, other.name, got)
			}
		}
	}
	if got := corq.Code(-99).Name(); got != "CORQ_E?" {
		t.Errorf("unknown code's name %q", got)
	}
	err := &corq.Error{Code: corq.CodeFull, Op: "corq_publish", Detail: "corq_publish: queue 'q' is full"}
	if err.Error() != "corq_publish: queue 'q' is full (CORQ_EFULL)" {
		t.Errorf("Error() = %q", err.Error())
	}
	if errors.Is(err, &corq.Error{Code: corq.CodeFull, Op: "corq_publish"}) {
		t.Error("a non-sentinel target matched")
	}
	if errors.Is(corq.ErrWindowFull, corq.ErrFull) || errors.Is(err, corq.ErrWindowFull) {
		t.Error("ErrWindowFull is not a corq code")
	}
}

func TestVersionIsTheLinkedLibrarysAndTheHeaders(t *testing.T) {
	v := corq.Version()
	if v != corq.HeaderVersion {
		t.Errorf("Version %d, header %d", v, corq.HeaderVersion)
	}
	want := fmt.Sprintf("%d.%d.%d", v/10000, v/100%100, v%100)
	if corq.VersionString() != want {
		t.Errorf("VersionString %q, want %q", corq.VersionString(), want)
	}
}

func TestPublishConsumeAckRemovesTheMessage(t *testing.T) {
	e := memEngine(t, nil)
	declare(t, e, "q", nil)
	id := publish(t, e, "q", "hello")
	c := consumer(t, e, "q", 8)
	d := consumeOne(t, c)
	if string(d.Data) != "hello" || d.MessageID != id || d.DeliveryCount != 1 || d.Tag == 0 {
		t.Fatalf("delivery %+v (id %d)", d, id)
	}
	// The engine's clock is read its own way (a few ms apart from Go's): the same minute will do.
	if age := time.Since(d.PublishedAt); age < -time.Minute || age > time.Minute {
		t.Errorf("PublishedAt %v, age %v", d.PublishedAt, age)
	}
	if d.Consumer() != c {
		t.Error("Delivery.Consumer is not its consumer")
	}
	if err := d.Ack(); err != nil {
		t.Fatal(err)
	}
	s := stats(t, e, "q")
	if s.Published != 1 || s.Delivered != 1 || s.Acked != 1 || s.Ready != 0 || s.InFlight != 0 || s.Consumers != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestDataAndHeadersAreCopiesThatOutliveTheSettlement(t *testing.T) {
	e := memEngine(t, nil)
	declare(t, e, "q", nil)
	payload := []byte("payload")
	msg := corq.Message{Data: payload, Headers: corq.Headers{{Key: "k", Value: []byte("v")}}}
	if _, err := e.Publish(context.Background(), "q", msg, nil); err != nil {
		t.Fatal(err)
	}
	payload[0] = 'X' // corq copied it during the call
	c := consumer(t, e, "q", 8)
	d := consumeOne(t, c)
	if err := d.Ack(); err != nil {
		t.Fatal(err)
	}
	publish(t, e, "q", "another message that reuses corq's memory")
	consumeOne(t, c).Ack()
	if string(d.Data) != "payload" {
		t.Fatalf("data after settlement %q", d.Data)
	}
	if v, ok := d.Headers.Get("k"); !ok || string(v) != "v" {
		t.Fatalf("header after settlement %q %v", v, ok)
	}
}

func TestEmptyPayloadHeadersAndValuesRoundtrip(t *testing.T) {
	e := memEngine(t, nil)
	declare(t, e, "q", nil)
	msg := corq.Message{Headers: corq.Headers{
		{Key: "empty", Value: []byte{}}, {Key: "nil", Value: nil},
		{Key: "bin", Value: []byte{0, 1, 2, 255}}, {Key: "dup", Value: []byte("1")},
		{Key: "dup", Value: []byte("2")},
	}}
	if _, err := e.Publish(context.Background(), "q", msg, nil); err != nil {
		t.Fatal(err)
	}
	d := consumeOne(t, consumer(t, e, "q", 1))
	if d.Data == nil || len(d.Data) != 0 {
		t.Fatalf("empty payload came back as %#v", d.Data)
	}
	if len(d.Headers) != 5 {
		t.Fatalf("headers %v", d.Headers)
	}
	if v, _ := d.Headers.Get("bin"); !bytes.Equal(v, []byte{0, 1, 2, 255}) {
		t.Errorf("binary value %v", v)
	}
	if v, ok := d.Headers.Get("nil"); !ok || len(v) != 0 {
		t.Errorf("a nil value is an empty value: %v %v", v, ok)
	}
	if v, _ := d.Headers.Get("dup"); string(v) != "1" {
		t.Errorf("Get takes the first header: %q", v)
	}
	if _, ok := d.Headers.Get("missing"); ok {
		t.Error("Get found a missing header")
	}
}

func TestNackRetriesWithBackoffThenDeadLettersWithXDeathHeaders(t *testing.T) {
	e := memEngine(t, nil)
	declare(t, e, "q", corq.Options{"max_attempts": "2", "retry_delay_ms": "20"})
	publish(t, e, "q", "job")
	c := consumer(t, e, "q", 4)
	d := consumeOne(t, c)
	start := time.Now()
	if err := d.Nack(corq.Backoff); err != nil {
		t.Fatal(err)
	}
	if s := stats(t, e, "q"); s.Delayed != 1 || s.Nacked != 1 {
		t.Fatalf("after nack: %+v", s)
	}
	d = consumeOne(t, c)
	if waited := time.Since(start); waited < 15*time.Millisecond || d.DeliveryCount != 2 {
		t.Fatalf("redelivered after %v with count %d", waited, d.DeliveryCount)
	}
	if err := d.Nack(0); err != nil {
		t.Fatal(err)
	}
	s := stats(t, e, "q")
	if s.DeadLettered != 1 || s.Ready != 0 {
		t.Fatalf("after the last attempt: %+v", s)
	}
	dl := consumeOne(t, consumer(t, e, "q.dlq", 1))
	for key, want := range map[string]string{"x-death-reason": "max_attempts", "x-death-queue": "q", "x-death-count": "1"} {
		if v, _ := dl.Headers.Get(key); string(v) != want {
			t.Errorf("%s = %q, want %q", key, v, want)
		}
	}
	if _, ok := dl.Headers.Get("x-death-time-ms"); !ok {
		t.Error("no x-death-time-ms")
	}
}

func TestNackWithoutDelayReleaseAndExtend(t *testing.T) {
	e := memEngine(t, nil)
	declare(t, e, "q", corq.Options{"lease_ms": "500"})
	publish(t, e, "q", "a")
	c := consumer(t, e, "q", 4)
	d := consumeOne(t, c)
	if err := d.Nack(0); err != nil {
		t.Fatal(err)
	}
	d = consumeOne(t, c)
	if d.DeliveryCount != 2 {
		t.Fatalf("count %d", d.DeliveryCount)
	}
	if err := d.Release(); err != nil {
		t.Fatal(err)
	}
	if s := stats(t, e, "q"); s.Released != 1 || s.Nacked != 1 || s.Ready != 1 {
		t.Fatalf("stats %+v", s)
	}
	d = consumeOne(t, c)
	if err := d.Extend(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	time.Sleep(700 * time.Millisecond) // past the 500 ms lease, inside the extended one
	if err := d.Ack(); err != nil {
		t.Fatalf("ack after extend: %v", err)
	}
}

func TestLeaseExpiryMakesTheTagStale(t *testing.T) {
	e := memEngine(t, nil)
	declare(t, e, "q", corq.Options{"lease_ms": "50", "retry_delay_ms": "0"})
	publish(t, e, "q", "a")
	c := consumer(t, e, "q", 4)
	d := consumeOne(t, c)
	again := consumeOne(t, c) // after the lease ran out
	if again.DeliveryCount != 2 {
		t.Fatalf("count %d", again.DeliveryCount)
	}
	wantErr(t, d.Ack(), corq.ErrState, "corq_ack", "")
}

func TestRejectDeadLettersAtOnceWithTheReason(t *testing.T) {
	e := memEngine(t, nil)
	declare(t, e, "q", nil)
	publish(t, e, "q", "poison")
	publish(t, e, "q", "poison too")
	c := consumer(t, e, "q", 4)
	if err := consumeOne(t, c).Reject("bad input"); err != nil {
		t.Fatal(err)
	}
	if err := consumeOne(t, c).Reject(""); err != nil {
		t.Fatal(err)
	}
	dlq := consumer(t, e, "q.dlq", 4)
	first, second := consumeOne(t, dlq), consumeOne(t, dlq)
	if v, _ := first.Headers.Get("x-death-reason"); string(v) != "rejected" {
		t.Errorf("reason %q", v)
	}
	if v, _ := first.Headers.Get("x-death-detail"); string(v) != "bad input" {
		t.Errorf("detail %q", v)
	}
	if _, ok := second.Headers.Get("x-death-detail"); ok {
		t.Error(`Reject("") set x-death-detail`)
	}
	wantErr(t, c.Reject(first.Tag+100, "x"), corq.ErrState, "corq_reject", "")
	wantErr(t, c.Reject(1, "nul\x00inside"), corq.ErrInvalid, "corq_reject", "NUL")
}

func TestRedriveMovesDeadLettersBackOrElsewhere(t *testing.T) {
	e := memEngine(t, nil)
	declare(t, e, "q", nil)
	declare(t, e, "other", nil)
	c := consumer(t, e, "q", 4)
	for i := 0; i < 3; i++ {
		publish(t, e, "q", "m")
		if err := consumeOne(t, c).Reject("r"); err != nil {
			t.Fatal(err)
		}
	}
	moved, err := e.Redrive("q.dlq", "", 2)
	if err != nil || moved != 2 {
		t.Fatalf("Redrive back: %d %v", moved, err)
	}
	moved, err = e.Redrive("q.dlq", "other", 0)
	if err != nil || moved != 1 {
		t.Fatalf("Redrive elsewhere: %d %v", moved, err)
	}
	if s := stats(t, e, "q"); s.Ready != 2 {
		t.Errorf("q %+v", s)
	}
	if s := stats(t, e, "q.dlq"); s.Redriven != 3 || s.Ready != 0 {
		t.Errorf("q.dlq %+v", s)
	}
	if s := stats(t, e, "other"); s.Ready != 1 {
		t.Errorf("other %+v", s)
	}
	_, err = e.Redrive("missing", "", 0)
	wantErr(t, err, corq.ErrNotFound, "corq_redrive", "missing")
	_, err = e.Redrive("q.dlq", "bad name!", 0)
	wantErr(t, err, corq.ErrInvalid, "corq_redrive", "")
}

func TestPrefetchWindowBoundsUnsettledDeliveries(t *testing.T) {
	e := memEngine(t, nil)
	declare(t, e, "q", nil)
	for i := 0; i < 5; i++ {
		publish(t, e, "q", "m")
	}
	c := consumer(t, e, "q", 2)
	ds, err := c.Consume(ctxLong(t), 10)
	if err != nil || len(ds) != 2 {
		t.Fatalf("Consume: %d %v", len(ds), err)
	}
	// The window is full: waiting could deliver nothing.
	took := within(t, func() { _, err = c.Consume(context.Background(), 1) })
	if !errors.Is(err, corq.ErrWindowFull) || took > time.Second {
		t.Fatalf("Consume on a full window: %v after %v", err, took)
	}
	if more, err := c.Poll(10); err != nil || len(more) != 0 {
		t.Fatalf("Poll on a full window: %d %v", len(more), err)
	}
	if err := c.AckUpto(ds[1].Tag); err != nil {
		t.Fatal(err)
	}
	wantErr(t, c.AckUpto(ds[1].Tag), corq.ErrState, "corq_ack_upto", "")
	ds, err = c.Poll(10)
	if err != nil || len(ds) != 2 {
		t.Fatalf("Poll after ack_upto: %d %v", len(ds), err)
	}
}

func TestConsumeAndPollTakeAtMostTheBatchMaxAndRefuseMaxBelowOne(t *testing.T) {
	e := memEngine(t, nil)
	declare(t, e, "q", nil)
	p, err := e.NewProducer("q")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	batch := make([]corq.Message, corq.ConsumeBatchMax+10)
	if _, err := p.Send(context.Background(), batch, nil); err != nil {
		t.Fatal(err)
	}
	c := consumer(t, e, "q", 4096)
	ds, err := c.Consume(ctxLong(t), 5000)
	if err != nil || len(ds) != corq.ConsumeBatchMax {
		t.Fatalf("Consume(5000): %d %v", len(ds), err)
	}
	ds, err = c.Poll(5000)
	if err != nil || len(ds) != 10 {
		t.Fatalf("Poll(5000): %d %v", len(ds), err)
	}
	_, err = c.Consume(ctxLong(t), 0)
	wantErr(t, err, corq.ErrInvalid, "corq_consume", "max")
	_, err = c.Poll(-1)
	wantErr(t, err, corq.ErrInvalid, "corq_consume", "max")
}

func TestDedupIDReturnsTheFirstPublishsID(t *testing.T) {
	e := memEngine(t, nil)
	declare(t, e, "q", corq.Options{"dedup_window_ms": "60000"})
	msg := corq.Message{Data: []byte("x"), DedupID: "order-1"}
	first, err := e.Publish(context.Background(), "q", msg, nil)
	if err != nil {
		t.Fatal(err)
	}
	second, err := e.Publish(context.Background(), "q", msg, nil)
	if err != nil || second != first {
		t.Fatalf("dedup publish: %d %v, want %d", second, err, first)
	}
	if s := stats(t, e, "q"); s.Ready != 1 || s.Deduplicated != 1 {
		t.Fatalf("stats %+v", s)
	}
	_, err = e.Publish(context.Background(), "q", corq.Message{DedupID: "a\x00b"}, nil)
	wantErr(t, err, corq.ErrInvalid, "corq_publish", "dedup id")
}

func TestProducerSendsABatchWithConsecutiveIDsAllOrNothing(t *testing.T) {
	e := memEngine(t, nil)
	declare(t, e, "q", corq.Options{"max_length": "5", "overflow": "reject"})
	p, err := e.NewProducer("q")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx := context.Background()
	batch := []corq.Message{{Data: []byte("a")}, {Data: []byte("b"), Headers: corq.Headers{{Key: "h", Value: []byte("1")}}}, {}}
	first, err := p.Send(ctx, batch, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := p.Send(ctx, nil, nil); err != nil || n != 0 {
		t.Fatalf("empty batch: %d %v", n, err)
	}
	// 3 + 3 > max_length 5: refused whole.
	_, err = p.Send(ctx, batch, nil)
	wantErr(t, err, corq.ErrFull, "corq_producer_send", "")
	// Larger than max_length: can never be accepted.
	_, err = p.Send(ctx, make([]corq.Message, 6), nil)
	wantErr(t, err, corq.ErrInvalid, "corq_producer_send", "")
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	c := consumer(t, e, "q", 8)
	ds, err := c.Poll(8)
	if err != nil || len(ds) != 3 {
		t.Fatalf("Poll: %d %v", len(ds), err)
	}
	for i, d := range ds {
		if d.MessageID != first+uint64(i) {
			t.Errorf("message %d has id %d, first %d", i, d.MessageID, first)
		}
	}
	if string(ds[0].Data) != "a" || string(ds[1].Data) != "b" || len(ds[2].Data) != 0 {
		t.Errorf("payloads %q %q %q", ds[0].Data, ds[1].Data, ds[2].Data)
	}
	if v, _ := ds[1].Headers.Get("h"); string(v) != "1" {
		t.Errorf("batch header %q", v)
	}
	_, err = p.Send(ctx, []corq.Message{{Headers: corq.Headers{{Key: "bad\x00key"}}}}, nil)
	wantErr(t, err, corq.ErrInvalid, "corq_producer_send", "header key")
}

func TestProducerIsClosedOnceAndThenRefusesCalls(t *testing.T) {
	e := memEngine(t, nil)
	declare(t, e, "q", nil)
	p, err := e.NewProducer("q")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	_, err = p.Send(context.Background(), []corq.Message{{}}, nil)
	wantErr(t, err, corq.ErrClosed, "corq_producer_send", "closed")
	wantErr(t, p.Flush(context.Background()), corq.ErrClosed, "corq_producer_flush", "closed")
	_, err = e.NewProducer("missing")
	wantErr(t, err, corq.ErrNotFound, "corq_producer_open", "missing")
	var nilProducer *corq.Producer
	wantErr(t, nilProducer.Close(), corq.ErrInvalid, "", "nil")
	_, err = (&corq.Producer{}).Send(context.Background(), nil, nil)
	wantErr(t, err, corq.ErrInvalid, "corq_producer_send", "nil")
}

func TestStatsJSONPurgeDeleteAndDeclare(t *testing.T) {
	e := memEngine(t, nil)
	declare(t, e, "q", corq.Options{"max_attempts": "4"})
	declare(t, e, "q", corq.Options{"max_attempts": "4"}) // idempotent
	wantErr(t, e.DeclareQueue("q", corq.Options{"max_attempts": "5"}), corq.ErrExists, "corq_queue_declare", "")
	for i := 0; i < 3; i++ {
		publish(t, e, "q", "m")
	}
	text, err := e.StatsJSON()
	if err != nil {
		t.Fatal(err)
	}
	var parsed map[string]any
	if err := json.Unmarshal([]byte(text), &parsed); err != nil {
		t.Fatalf("StatsJSON is not JSON: %v\n%s", err, text)
	}
	if !strings.Contains(text, `"q"`) || !strings.Contains(text, `"q.dlq"`) {
		t.Errorf("StatsJSON does not name the queues: %s", text)
	}
	purged, err := e.PurgeQueue("q")
	if err != nil || purged != 3 {
		t.Fatalf("PurgeQueue: %d %v", purged, err)
	}
	if s := stats(t, e, "q"); s.Purged != 3 || s.Ready != 0 {
		t.Errorf("stats %+v", s)
	}
	c := consumer(t, e, "q", 1)
	if err := e.DeleteQueue("q"); err != nil {
		t.Fatal(err)
	}
	_, err = c.Consume(ctxLong(t), 1)
	wantErr(t, err, corq.ErrNotFound, "corq_consume", "")
	_, err = e.QueueStats("q")
	wantErr(t, err, corq.ErrNotFound, "corq_queue_stats_get", "q")
	wantErr(t, e.DeleteQueue("q"), corq.ErrNotFound, "corq_queue_delete", "q")
	_, err = e.PurgeQueue("q")
	wantErr(t, err, corq.ErrNotFound, "corq_queue_purge", "q")
}

func TestTempQueueIsDeletedWithItsLastConsumer(t *testing.T) {
	e := memEngine(t, nil)
	name, err := e.DeclareTempQueue(nil)
	if err != nil || !regexp.MustCompile(`^corq\.gen-[0-9a-f]{16}$`).MatchString(name) {
		t.Fatalf("DeclareTempQueue: %q %v", name, err)
	}
	c, err := e.NewConsumer(name, 1)
	if err != nil {
		t.Fatal(err)
	}
	publish(t, e, name, "m")
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = e.QueueStats(name)
	wantErr(t, err, corq.ErrNotFound, "corq_queue_stats_get", "")
	_, err = e.DeclareTempQueue(corq.Options{"durable": "true"})
	wantErr(t, err, corq.ErrInvalid, "corq_queue_declare_temp", "")
}

func TestEngineIDIsAUUIDPerInMemoryEngine(t *testing.T) {
	uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	a, err := memEngine(t, nil).EngineID()
	if err != nil || !uuid.MatchString(a) {
		t.Fatalf("EngineID %q %v", a, err)
	}
	b, _ := memEngine(t, nil).EngineID()
	if a == b {
		t.Fatal("two in-memory engines have one id")
	}
}

func TestSyncAndWaitDurableReturnAtOnceInMemory(t *testing.T) {
	e := memEngine(t, nil)
	declare(t, e, "q", nil)
	id := publish(t, e, "q", "m")
	if err := e.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := e.Sync(ctxLong(t)); err != nil {
		t.Fatal(err)
	}
	if err := e.WaitDurable(ctxLong(t), id); err != nil {
		t.Fatal(err)
	}
	wantErr(t, e.WaitDurable(ctxLong(t), id+1000), corq.ErrInvalid, "corq_wait_durable", "")
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if err := e.Sync(cancelled); !errors.Is(err, context.Canceled) {
		t.Fatalf("Sync with a cancelled context: %v", err)
	}
}

func TestBadNamesOptionsAndArgumentsAreErrInvalidWithADetail(t *testing.T) {
	e := memEngine(t, nil)
	ctx := context.Background()
	wantErr(t, e.DeclareQueue("bad name!", nil), corq.ErrInvalid, "corq_queue_declare", "queue name")
	wantErr(t, e.DeclareQueue("", nil), corq.ErrInvalid, "corq_queue_declare", "")
	wantErr(t, e.DeclareQueue(strings.Repeat("a", 201), nil), corq.ErrInvalid, "corq_queue_declare", "")
	// A NUL byte cannot reach C: refused by the binding, named in the detail.
	wantErr(t, e.DeclareQueue("a\x00b", nil), corq.ErrInvalid, "corq_queue_declare", "NUL")
	wantErr(t, e.DeclareQueue("q", corq.Options{"no_such_key": "1"}), corq.ErrInvalid, "corq_queue_declare", "no_such_key")
	wantErr(t, e.DeclareQueue("q", corq.Options{"max_length": "lots"}), corq.ErrInvalid, "corq_queue_declare", "lots")
	wantErr(t, e.DeclareQueue("q", corq.Options{"k\x00": "v"}), corq.ErrInvalid, "corq_queue_declare", "option key")
	wantErr(t, e.DeclareQueue("q", corq.Options{"max_length": "1\x00"}), corq.ErrInvalid, "corq_queue_declare", "option value")
	wantErr(t, e.DeclareQueue("q", corq.Options{"sync": "none"}), corq.ErrInvalid, "corq_queue_declare", "sync")
	wantErr(t, e.DeclareQueue("q", corq.Options{"durable": "true"}), corq.ErrInvalid, "corq_queue_declare", "")
	declare(t, e, "q", corq.Options{"max_length": "1", "overflow": "reject"})

	_, err := e.Publish(ctx, "missing", corq.Message{}, nil)
	wantErr(t, err, corq.ErrNotFound, "corq_publish", "missing")
	_, err = e.Publish(ctx, "q", corq.Message{Headers: corq.Headers{{Key: ""}}}, nil)
	wantErr(t, err, corq.ErrInvalid, "corq_publish", "")
	_, err = e.Publish(ctx, "q", corq.Message{Headers: corq.Headers{{Key: strings.Repeat("k", 256)}}}, nil)
	wantErr(t, err, corq.ErrInvalid, "corq_publish", "")
	many := make(corq.Headers, 65)
	for i := range many {
		many[i] = corq.Header{Key: "h" + strings.Repeat("x", i)}
	}
	_, err = e.Publish(ctx, "q", corq.Message{Headers: many}, nil)
	wantErr(t, err, corq.ErrInvalid, "corq_publish", "")
	_, err = e.Publish(ctx, "q", corq.Message{}, &corq.PublishOptions{Delay: -time.Millisecond})
	wantErr(t, err, corq.ErrInvalid, "corq_publish", "")
	_, err = e.Publish(ctx, "q", corq.Message{}, &corq.PublishOptions{Priority: -1})
	wantErr(t, err, corq.ErrInvalid, "corq_publish", "")
	publish(t, e, "q", "fills it")
	_, err = e.Publish(ctx, "q", corq.Message{}, nil)
	wantErr(t, err, corq.ErrFull, "corq_publish", "")
	if errors.Is(err, context.DeadlineExceeded) {
		t.Error("overflow=reject blamed the context")
	}

	_, err = e.NewConsumer("q", 0)
	wantErr(t, err, corq.ErrInvalid, "corq_consumer_open", "prefetch")
	_, err = e.NewConsumer("q", 65537)
	wantErr(t, err, corq.ErrInvalid, "corq_consumer_open", "prefetch")
	_, err = e.NewConsumer("missing", 1)
	wantErr(t, err, corq.ErrNotFound, "corq_consumer_open", "missing")

	c := consumer(t, e, "q", 4)
	d := consumeOne(t, c)
	wantErr(t, d.Extend(0), corq.ErrInvalid, "corq_extend", "")
	wantErr(t, d.Extend(-time.Second), corq.ErrInvalid, "corq_extend", "")
	wantErr(t, c.Ack(d.Tag+1), corq.ErrState, "corq_ack", "")
	wantErr(t, c.Nack(d.Tag+1, 0), corq.ErrState, "corq_nack", "")
	wantErr(t, c.Release(d.Tag+1), corq.ErrState, "corq_release", "")
	wantErr(t, c.Extend(d.Tag+1, time.Second), corq.ErrState, "corq_extend", "")
	if err := d.Ack(); err != nil {
		t.Fatal(err)
	}
	wantErr(t, d.Ack(), corq.ErrState, "corq_ack", "") // settled twice
	wantErr(t, d.Release(), corq.ErrState, "corq_release", "")

	var zero corq.Delivery // not from Consume: no consumer
	wantErr(t, zero.Ack(), corq.ErrInvalid, "corq_ack", "no consumer")
	wantErr(t, zero.Nack(0), corq.ErrInvalid, "corq_nack", "no consumer")
	wantErr(t, zero.Release(), corq.ErrInvalid, "corq_release", "no consumer")
	wantErr(t, zero.Reject(""), corq.ErrInvalid, "corq_reject", "no consumer")
	wantErr(t, zero.Extend(time.Second), corq.ErrInvalid, "corq_extend", "no consumer")
	wantErr(t, zero.Respond(corq.Message{}), corq.ErrInvalid, "corq_respond", "no consumer")
}

func TestOversizeMessageIsErrTooBig(t *testing.T) {
	e := memEngine(t, corq.Options{"max_message_bytes": "1KiB"})
	declare(t, e, "q", nil)
	_, err := e.Publish(context.Background(), "q", corq.Message{Data: make([]byte, 1025)}, nil)
	wantErr(t, err, corq.ErrTooBig, "corq_publish", "")
	if _, err := e.Publish(context.Background(), "q", corq.Message{Data: make([]byte, 1024)}, nil); err != nil {
		t.Fatalf("a message of max_message_bytes: %v", err)
	}
}

func TestOpenRefusesBadArgumentsAndNilEnginesRefuseCalls(t *testing.T) {
	_, err := corq.Open("", nil)
	wantErr(t, err, corq.ErrInvalid, "corq_open", "")
	_, err = corq.Open("a\x00b", nil)
	wantErr(t, err, corq.ErrInvalid, "corq_open", "NUL")
	_, err = corq.OpenMemory(corq.Options{"no_such_key": "1"})
	wantErr(t, err, corq.ErrInvalid, "corq_open", "no_such_key")
	_, err = corq.OpenMemory(corq.Options{"max_attempts": "3"}) // a queue key
	wantErr(t, err, corq.ErrInvalid, "corq_open", "max_attempts")
	var nilEngine *corq.Engine
	wantErr(t, nilEngine.DeclareQueue("q", nil), corq.ErrInvalid, "corq_queue_declare", "nil")
	wantErr(t, nilEngine.Close(), corq.ErrInvalid, "corq_close", "nil")
	_, err = (&corq.Engine{}).Publish(context.Background(), "q", corq.Message{}, nil)
	wantErr(t, err, corq.ErrInvalid, "corq_publish", "nil")
	var nilConsumer *corq.Consumer
	_, err = nilConsumer.Consume(context.Background(), 1)
	wantErr(t, err, corq.ErrInvalid, "corq_consume", "nil")
	wantErr(t, nilConsumer.Wakeup(), corq.ErrInvalid, "corq_consumer_wakeup", "nil")
	wantErr(t, nilConsumer.Close(), corq.ErrInvalid, "corq_consumer_close", "nil")
}

func TestClosedEngineRefusesCallsButItsHandlesStillClose(t *testing.T) {
	e, err := corq.OpenMemory(nil)
	if err != nil {
		t.Fatal(err)
	}
	declare(t, e, "q", nil)
	publish(t, e, "q", "m")
	c, err := e.NewConsumer("q", 4)
	if err != nil {
		t.Fatal(err)
	}
	d := consumeOne(t, c)
	p, err := e.NewProducer("q")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	wantErr(t, e.DeclareQueue("r", nil), corq.ErrClosed, "corq_queue_declare", "closed")
	_, err = e.Publish(context.Background(), "q", corq.Message{}, nil)
	wantErr(t, err, corq.ErrClosed, "corq_publish", "closed")
	_, err = e.StatsJSON()
	wantErr(t, err, corq.ErrClosed, "corq_stats_json", "closed")
	wantErr(t, e.Sync(context.Background()), corq.ErrClosed, "corq_sync", "closed")
	_, err = e.NewConsumer("q", 1)
	wantErr(t, err, corq.ErrClosed, "corq_consumer_open", "closed")
	// The handles' C calls say ECLOSED themselves (the engine is closed).
	_, err = c.Consume(context.Background(), 1)
	wantErr(t, err, corq.ErrClosed, "corq_consume", "")
	wantErr(t, d.Ack(), corq.ErrClosed, "corq_ack", "")
	_, err = p.Send(context.Background(), []corq.Message{{}}, nil)
	wantErr(t, err, corq.ErrClosed, "corq_producer_send", "")
	if err := c.Close(); err != nil {
		t.Fatalf("consumer Close after the engine's: %v", err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("producer Close after the engine's: %v", err)
	}
}

func TestClosedConsumerRefusesCallsAndReleasesItsDeliveries(t *testing.T) {
	e := memEngine(t, nil)
	declare(t, e, "q", nil)
	publish(t, e, "q", "m")
	c, err := e.NewConsumer("q", 4)
	if err != nil {
		t.Fatal(err)
	}
	d := consumeOne(t, c)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if s := stats(t, e, "q"); s.Ready != 1 || s.Released != 1 || s.Consumers != 0 {
		t.Fatalf("after Close: %+v", s)
	}
	_, err = c.Consume(context.Background(), 1)
	wantErr(t, err, corq.ErrClosed, "corq_consume", "consumer is closed")
	_, err = c.Poll(1)
	wantErr(t, err, corq.ErrClosed, "corq_consume", "closed")
	wantErr(t, d.Ack(), corq.ErrClosed, "corq_ack", "closed")
	wantErr(t, c.AckUpto(9), corq.ErrClosed, "corq_ack_upto", "closed")
	wantErr(t, c.Wakeup(), corq.ErrClosed, "corq_consumer_wakeup", "closed")
	wantErr(t, c.Respond(1, corq.Message{}), corq.ErrClosed, "corq_respond", "closed")
}

func TestHandlesLeftUnclosedAreClosedByTheGarbageCollector(t *testing.T) {
	e := memEngine(t, nil)
	declare(t, e, "q", nil)
	func() {
		if _, err := e.NewConsumer("q", 1); err != nil {
			t.Fatal(err)
		}
	}()
	deadline := time.Now().Add(waitLong)
	for stats(t, e, "q").Consumers != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the unreferenced consumer was never closed")
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
}
