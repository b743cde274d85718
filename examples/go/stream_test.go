package corq_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"corq.dev/corq"
)

func declareStream(t *testing.T, e *corq.Engine, stream string, options corq.Options) {
	t.Helper()
	if err := e.DeclareStream(stream, options); err != nil {
		t.Fatalf("DeclareStream(%q): %v", stream, err)
	}
}

func appendRecord(t *testing.T, e *corq.Engine, stream string, key []byte, data string) corq.Appended {
	t.Helper()
	at, err := e.Append(context.Background(), stream, key, corq.Message{Data: []byte(data)}, nil)
	if err != nil {
		t.Fatalf("Append(%q): %v", stream, err)
	}
	return at
}

func reader(t *testing.T, e *corq.Engine, stream string, partition uint32, start corq.Start) *corq.StreamReader {
	t.Helper()
	r, err := e.NewStreamReader(stream, partition, start)
	if err != nil {
		t.Fatalf("NewStreamReader(%q, %d, %q): %v", stream, partition, start, err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestAKeyedRecordGoesToOnePartitionAndComesBackWhole(t *testing.T) {
	e := memEngine(t, nil)
	declareStream(t, e, "s", corq.Options{"partitions": "4"})
	msg := corq.Message{Data: []byte("page 7"), Headers: corq.Headers{{Key: "h", Value: []byte("v")}}}
	first, err := e.Append(context.Background(), "s", []byte("user-42"), msg, nil)
	if err != nil {
		t.Fatal(err)
	}
	second := appendRecord(t, e, "s", []byte("user-42"), "page 8")
	if first.Partition != second.Partition || second.Offset != first.Offset+1 || first.Partition >= 4 {
		t.Fatalf("appends %+v %+v", first, second)
	}
	records, err := reader(t, e, "s", first.Partition, corq.StartEarliest).Read(ctxLong(t), 10)
	if err != nil || len(records) != 2 {
		t.Fatalf("Read: %v %v", records, err)
	}
	r := records[0]
	if string(r.Key) != "user-42" || string(r.Data) != "page 7" || r.Offset != first.Offset || r.Partition != first.Partition {
		t.Fatalf("record %+v", r)
	}
	if v, _ := r.Headers.Get("h"); string(v) != "v" {
		t.Errorf("header %q", v)
	}
	if age := time.Since(r.Timestamp); age < -time.Minute || age > time.Minute {
		t.Errorf("timestamp %v", r.Timestamp)
	}
}

func TestRecordsWithoutAKeyGoRoundRobinAndAnEmptyKeyIsAKey(t *testing.T) {
	e := memEngine(t, nil)
	declareStream(t, e, "s", corq.Options{"partitions": "3"})
	seen := map[uint32]bool{}
	for i := 0; i < 3; i++ {
		seen[appendRecord(t, e, "s", nil, "x").Partition] = true
	}
	if len(seen) != 3 {
		t.Fatalf("round robin used partitions %v", seen)
	}
	at := appendRecord(t, e, "s", []byte{}, "empty key")
	r := reader(t, e, "s", at.Partition, corq.StartAtOffset(at.Offset))
	records, err := r.Poll(1)
	if err != nil || len(records) != 1 || records[0].Key == nil || len(records[0].Key) != 0 {
		t.Fatalf("empty key: %+v %v", records, err)
	}
	r0 := reader(t, e, "s", 0, corq.StartEarliest)
	records, _ = r0.Poll(1)
	if len(records) != 1 || records[0].Key != nil {
		t.Fatalf("no key: %+v", records)
	}
}

func TestReadersStartAtEarliestLatestAnOffsetOrATime(t *testing.T) {
	e := memEngine(t, nil)
	declareStream(t, e, "s", nil)
	for i := 0; i < 3; i++ {
		appendRecord(t, e, "s", nil, strconv.Itoa(i))
	}
	// The engine stamps records with a coarse clock (1-4 ms ticks, corq's engine/clock.hpp): keep
	// well clear of it on both sides of the time the reader starts at.
	time.Sleep(20 * time.Millisecond)
	between := time.Now()
	time.Sleep(20 * time.Millisecond)
	appendRecord(t, e, "s", nil, "3")
	latest := reader(t, e, "s", 0, corq.StartLatest)
	fromOne := reader(t, e, "s", 0, corq.StartAtOffset(1))
	fromTime := reader(t, e, "s", 0, corq.StartAtTime(between))
	if rs, _ := latest.Poll(10); len(rs) != 0 {
		t.Errorf("latest read old records: %v", rs)
	}
	appendRecord(t, e, "s", nil, "4")
	if rs, _ := latest.Poll(10); len(rs) != 1 || string(rs[0].Data) != "4" {
		t.Errorf("latest: %v", rs)
	}
	if rs, _ := fromOne.Poll(2); len(rs) != 2 || rs[0].Offset != 1 || rs[1].Offset != 2 {
		t.Errorf("offset 1: %v", rs)
	}
	if rs, _ := fromTime.Poll(10); len(rs) != 2 || string(rs[0].Data) != "3" {
		t.Errorf("time: %v", rs)
	}
	if rs, _ := reader(t, e, "s", 0, corq.StartAtOffset(5)).Poll(1); len(rs) != 0 {
		t.Errorf("offset at the end is latest: %v", rs)
	}
}

func TestReadWaitsForTheTailAndEndsOnCancelDeadlineOrClose(t *testing.T) {
	e := memEngine(t, nil)
	declareStream(t, e, "s", nil)
	r := reader(t, e, "s", 0, corq.StartLatest)
	time.AfterFunc(30*time.Millisecond, func() { appendRecord(t, e, "s", nil, "tail") })
	rs, err := r.Read(ctxLong(t), 10)
	if err != nil || len(rs) != 1 || string(rs[0].Data) != "tail" {
		t.Fatalf("Read of the tail: %v %v", rs, err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	took := within(t, func() { _, err = r.Read(ctx, 10) })
	if !errors.Is(err, context.Canceled) || took < 40*time.Millisecond {
		t.Fatalf("Read after cancel: %v after %v", err, took)
	}

	deadline, cancel2 := context.WithTimeout(context.Background(), 80*time.Millisecond)
	defer cancel2()
	took = within(t, func() { _, err = r.Read(deadline, 10) })
	if !errors.Is(err, context.DeadlineExceeded) || took < 75*time.Millisecond {
		t.Fatalf("Read at its deadline: %v after %v", err, took)
	}

	// Wakeups of cancelled reads may be pending: the next read still waits for its record.
	time.AfterFunc(30*time.Millisecond, func() { appendRecord(t, e, "s", nil, "next") })
	rs, err = r.Read(ctxLong(t), 10)
	if err != nil || len(rs) != 1 || string(rs[0].Data) != "next" {
		t.Fatalf("Read after cancels: %v %v", rs, err)
	}

	time.AfterFunc(50*time.Millisecond, func() { r.Close() })
	within(t, func() { _, err = r.Read(context.Background(), 10) })
	wantErr(t, err, corq.ErrClosed, "corq_stream_read", "closed")
	_, err = r.Poll(1)
	wantErr(t, err, corq.ErrClosed, "corq_stream_read", "closed")
	if r.Skipped() != 0 {
		t.Error("Skipped after Close")
	}
	if err := r.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestSkippedCountsRecordsRetentionDeletedBeforeTheyWereRead(t *testing.T) {
	e := memEngine(t, nil)
	declareStream(t, e, "s", corq.Options{"retention_records": "2"})
	r := reader(t, e, "s", 0, corq.StartEarliest)
	for i := 0; i < 5; i++ {
		appendRecord(t, e, "s", nil, strconv.Itoa(i))
	}
	rs, err := r.Read(ctxLong(t), 10)
	if err != nil || len(rs) == 0 {
		t.Fatalf("Read: %v %v", rs, err)
	}
	if got := r.Skipped() + uint64(len(rs)); got != 5 || r.Skipped() == 0 {
		t.Fatalf("skipped %d + read %d", r.Skipped(), len(rs))
	}
	s, err := e.StreamStats("s")
	if err != nil || s.Appended != 5 || s.Deleted == 0 || s.Records != 5-s.Deleted {
		t.Fatalf("StreamStats %+v %v", s, err)
	}
}

func TestAProducerBatchGoesToOnePartitionWithConsecutiveOffsets(t *testing.T) {
	e := memEngine(t, nil)
	declareStream(t, e, "s", corq.Options{"partitions": "2", "dedup_window_ms": "60000"})
	p, err := e.NewStreamProducer("s")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx := context.Background()
	batch := []corq.Message{{Data: []byte("a"), DedupID: "batch-1"}, {Data: []byte("b")}, {Data: []byte("c")}}
	at, err := p.Send(ctx, []byte("k"), batch, nil)
	if err != nil {
		t.Fatal(err)
	}
	again, err := p.Send(ctx, []byte("k"), batch, nil)
	if err != nil || again != at {
		t.Fatalf("a deduplicated batch: %+v %v, want %+v", again, err, at)
	}
	rs, _ := reader(t, e, "s", at.Partition, corq.StartEarliest).Poll(10)
	if len(rs) != 3 || string(rs[2].Data) != "c" || rs[2].Offset != at.Offset+2 || string(rs[1].Key) != "k" {
		t.Fatalf("records %+v", rs)
	}
	bad := []corq.Message{{Data: []byte("a")}, {Data: []byte("b"), DedupID: "second"}}
	_, err = p.Send(ctx, nil, bad, nil)
	wantErr(t, err, corq.ErrInvalid, "corq_stream_producer_send", "")
	_, err = p.Send(ctx, nil, nil, nil)
	wantErr(t, err, corq.ErrInvalid, "corq_stream_producer_send", "")
	_, err = p.Send(ctx, nil, []corq.Message{{}}, &corq.PublishOptions{TTL: time.Second})
	wantErr(t, err, corq.ErrInvalid, "corq_stream_producer_send", "")
	if s, _ := e.StreamStats("s"); s.Records != 3 || s.Deduplicated == 0 || s.Partitions != 2 {
		t.Fatalf("stats %+v", s)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	_, err = p.Send(ctx, nil, batch, nil)
	wantErr(t, err, corq.ErrClosed, "corq_stream_producer_send", "closed")
}

func TestDeleteStreamEndsItsReadersAndProducersWithErrNotFound(t *testing.T) {
	e := memEngine(t, nil)
	declareStream(t, e, "s", nil)
	r := reader(t, e, "s", 0, corq.StartEarliest)
	p, err := e.NewStreamProducer("s")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := e.DeleteStream("s"); err != nil {
		t.Fatal(err)
	}
	_, err = r.Read(ctxLong(t), 1)
	wantErr(t, err, corq.ErrNotFound, "corq_stream_read", "")
	_, err = p.Send(context.Background(), nil, []corq.Message{{}}, nil)
	wantErr(t, err, corq.ErrNotFound, "corq_stream_producer_send", "")
	wantErr(t, e.DeleteStream("s"), corq.ErrNotFound, "corq_stream_delete", "")
	declareStream(t, e, "s", nil) // the name is free again
}

func TestStreamsAndQueuesHaveSeparateNames(t *testing.T) {
	e := memEngine(t, nil)
	declare(t, e, "same", nil)
	declareStream(t, e, "same", nil)
	appendRecord(t, e, "same", nil, "r")
	if stats(t, e, "same").Ready != 0 {
		t.Fatal("an append reached the queue")
	}
}

func TestStreamBadInput(t *testing.T) {
	e := memEngine(t, nil)
	ctx := context.Background()
	declareStream(t, e, "s", corq.Options{"partitions": "2", "retention_records": "1", "discard": "new"})
	if err := e.DeclareStream("s", corq.Options{"partitions": "2", "retention_records": "1", "discard": "new"}); err != nil {
		t.Fatalf("idempotent redeclare: %v", err)
	}
	wantErr(t, e.DeclareStream("s", corq.Options{"partitions": "3"}), corq.ErrExists, "corq_stream_declare", "")
	wantErr(t, e.DeclareStream("t", corq.Options{"partitions": "0"}), corq.ErrInvalid, "corq_stream_declare", "partitions")
	wantErr(t, e.DeclareStream("t", corq.Options{"durable": "true"}), corq.ErrInvalid, "corq_stream_declare", "")
	wantErr(t, e.DeclareStream("bad name", nil), corq.ErrInvalid, "corq_stream_declare", "stream")
	_, err := e.Append(ctx, "missing", nil, corq.Message{}, nil)
	wantErr(t, err, corq.ErrNotFound, "corq_stream_append", "missing")
	_, err = e.Append(ctx, "s", nil, corq.Message{}, &corq.PublishOptions{Delay: time.Second})
	wantErr(t, err, corq.ErrInvalid, "corq_stream_append", "")
	appendRecord(t, e, "s", []byte("k"), "fills its partition")
	_, err = e.Append(ctx, "s", []byte("k"), corq.Message{}, nil)
	wantErr(t, err, corq.ErrFull, "corq_stream_append", "")
	_, err = e.NewStreamReader("s", 2, corq.StartEarliest)
	wantErr(t, err, corq.ErrInvalid, "corq_stream_reader_open", "")
	_, err = e.NewStreamReader("s", 0, corq.Start("sometime"))
	wantErr(t, err, corq.ErrInvalid, "corq_stream_reader_open", "sometime")
	_, err = e.NewStreamReader("s", 0, corq.StartAtOffset(99))
	wantErr(t, err, corq.ErrInvalid, "corq_stream_reader_open", "")
	_, err = e.NewStreamReader("missing", 0, corq.StartEarliest)
	wantErr(t, err, corq.ErrNotFound, "corq_stream_reader_open", "missing")
	_, err = e.NewStreamProducer("missing")
	wantErr(t, err, corq.ErrNotFound, "corq_stream_producer_open", "missing")
	_, err = e.StreamStats("missing")
	wantErr(t, err, corq.ErrNotFound, "corq_stream_stats_get", "missing")
	r := reader(t, e, "s", 0, corq.StartEarliest)
	_, err = r.Read(ctx, 0)
	wantErr(t, err, corq.ErrInvalid, "corq_stream_read", "max")
	var nilReader *corq.StreamReader
	_, err = nilReader.Read(ctx, 1)
	wantErr(t, err, corq.ErrInvalid, "corq_stream_read", "nil")
	var nilProducer *corq.StreamProducer
	_, err = nilProducer.Send(ctx, nil, nil, nil)
	wantErr(t, err, corq.ErrInvalid, "corq_stream_producer_send", "nil")
}

func TestEngineCloseEndsAWaitingReadAndTheReaderStillCloses(t *testing.T) {
	e, err := corq.OpenMemory(nil)
	if err != nil {
		t.Fatal(err)
	}
	declareStream(t, e, "s", nil)
	r, err := e.NewStreamReader("s", 0, corq.StartLatest)
	if err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(50*time.Millisecond, func() { e.Close() })
	within(t, func() { _, err = r.Read(context.Background(), 1) })
	wantErr(t, err, corq.ErrClosed, "corq_stream_read", "")
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = e.Append(context.Background(), "s", nil, corq.Message{}, nil)
	wantErr(t, err, corq.ErrClosed, "corq_stream_append", "closed")
}

// ---- consumer groups ----------------------------------------------------------------------------

func TestAGroupMemberGetsRecordsWithTheirOffsetsAndStreamHeaders(t *testing.T) {
	e := memEngine(t, nil)
	declareStream(t, e, "s", nil)
	at := appendRecord(t, e, "s", []byte("key-1"), "r0")
	appendRecord(t, e, "s", nil, "r1")
	m, err := e.NewGroupConsumer("s", "g", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ds, err := m.Consume(ctxLong(t), 10)
	if err != nil || len(ds) != 2 {
		t.Fatalf("Consume: %v %v", ds, err)
	}
	d := ds[0]
	if d.MessageID != at.Offset || string(d.Data) != "r0" {
		t.Fatalf("delivery %+v", d)
	}
	for key, want := range map[string]string{"x-stream-partition": "0", "x-stream-offset": "0", "x-stream-key": "key-1"} {
		if v, _ := d.Headers.Get(key); string(v) != want {
			t.Errorf("%s = %q, want %q", key, v, want)
		}
	}
	if _, ok := ds[1].Headers.Get("x-stream-key"); ok {
		t.Error("a record without a key has x-stream-key")
	}
	if err := m.AckUpto(ds[1].Tag); err != nil {
		t.Fatal(err)
	}
	gs, err := e.GroupStats("s", "g")
	if err != nil || gs.Members != 1 || gs.Acked != 2 || gs.Lag != 0 || gs.Delivered != 2 {
		t.Fatalf("GroupStats %+v %v", gs, err)
	}
	if ss, _ := e.StreamStats("s"); ss.Groups != 1 {
		t.Errorf("StreamStats %+v", ss)
	}
}

func TestGroupNacksPastMaxAttemptsGoToItsDeadLetterQueue(t *testing.T) {
	e := memEngine(t, nil)
	declareStream(t, e, "s", nil)
	appendRecord(t, e, "s", nil, "poison")
	m, err := e.NewGroupConsumer("s", "g", corq.Options{"max_attempts": "1"})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := consumeOne(t, m).Nack(0); err != nil {
		t.Fatal(err)
	}
	dl := consumeOne(t, consumer(t, e, "s.g.dlq", 1))
	if string(dl.Data) != "poison" {
		t.Fatalf("dead letter %q", dl.Data)
	}
	if gs, _ := e.GroupStats("s", "g"); gs.DeadLettered != 1 {
		t.Fatalf("GroupStats %+v", gs)
	}
}

func TestGroupSeekReplaysAndDeleteGroupEndsItsMembers(t *testing.T) {
	e := memEngine(t, nil)
	declareStream(t, e, "s", nil)
	appendRecord(t, e, "s", nil, "r0")
	appendRecord(t, e, "s", nil, "r1")
	m, err := e.NewGroupConsumer("s", "g", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ds, _ := m.Consume(ctxLong(t), 10)
	if err := m.AckUpto(ds[len(ds)-1].Tag); err != nil {
		t.Fatal(err)
	}
	if err := e.GroupSeek("s", "g", corq.AllPartitions, corq.StartAtOffset(1)); err != nil {
		t.Fatal(err)
	}
	if d := consumeOne(t, m); string(d.Data) != "r1" {
		t.Fatalf("after seek: %q", d.Data)
	}
	if err := e.GroupSeek("s", "g", 0, corq.StartEarliest); err != nil {
		t.Fatal(err)
	}
	wantErr(t, e.GroupSeek("s", "g", 0, corq.StartAtOffset(99)), corq.ErrInvalid, "corq_group_seek", "")
	wantErr(t, e.GroupSeek("s", "g", 5, corq.StartEarliest), corq.ErrInvalid, "corq_group_seek", "")
	wantErr(t, e.GroupSeek("s", "missing", 0, corq.StartEarliest), corq.ErrNotFound, "corq_group_seek", "")
	if err := e.DeleteGroup("s", "g"); err != nil {
		t.Fatal(err)
	}
	_, err = m.Consume(ctxLong(t), 1)
	wantErr(t, err, corq.ErrNotFound, "corq_consume", "")
	wantErr(t, e.DeleteGroup("s", "g"), corq.ErrNotFound, "corq_group_delete", "")
	_, err = e.GroupStats("s", "g")
	wantErr(t, err, corq.ErrNotFound, "corq_group_stats_get", "")
}

func TestGroupBadInput(t *testing.T) {
	e := memEngine(t, nil)
	declareStream(t, e, "s", nil)
	_, err := e.NewGroupConsumer("missing", "g", nil)
	wantErr(t, err, corq.ErrNotFound, "corq_group_consumer_open", "")
	_, err = e.NewGroupConsumer("s", "g", corq.Options{"mode": "chaotic"})
	wantErr(t, err, corq.ErrInvalid, "corq_group_consumer_open", "chaotic")
	_, err = e.NewGroupConsumer("s", "bad group!", nil)
	wantErr(t, err, corq.ErrInvalid, "corq_group_consumer_open", "")
	m, err := e.NewGroupConsumer("s", "g", corq.Options{"mode": "shared"})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	_, err = e.NewGroupConsumer("s", "g", corq.Options{"mode": "ordered"})
	wantErr(t, err, corq.ErrExists, "corq_group_consumer_open", "")
	m2, err := e.NewGroupConsumer("s", "g", corq.Options{"mode": "shared", "prefetch": "8"})
	if err != nil {
		t.Fatalf("another prefetch joins the group: %v", err)
	}
	defer m2.Close()
	if gs, _ := e.GroupStats("s", "g"); gs.Members != 2 {
		t.Errorf("members %d", gs.Members)
	}
}
