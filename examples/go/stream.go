package corq

// #include "glue.h"
// #include <stdlib.h>
import "C"

import (
	"context"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// Start is where a stream reader or a consumer group starts: StartEarliest, StartLatest,
// StartAtOffset(n) or StartAtTime(t) (the text corq takes: "earliest", "latest", "offset:N",
// "time:MS").
type Start string

const (
	// StartEarliest is the first retained record.
	StartEarliest Start = "earliest"
	// StartLatest is the next record appended.
	StartLatest Start = "latest"
)

// StartAtOffset starts at offset n (n equal to the end is latest; past it ErrInvalid; below the
// first retained offset a reader starts there and counts the difference as skipped).
func StartAtOffset(n uint64) Start { return Start("offset:" + strconv.FormatUint(n, 10)) }

// StartAtTime starts at the first record appended at or after t (ms resolution).
func StartAtTime(t time.Time) Start { return Start("time:" + strconv.FormatInt(t.UnixMilli(), 10)) }

// AllPartitions, as GroupSeek's partition, moves every partition.
const AllPartitions int32 = -1

// DeclareStream declares a stream (Kafka's model: a retained, partitioned log). options:
// partitions (1-1024), durable, retention_ms, retention_bytes, retention_records, discard (old |
// new), dedup_window_ms, partition_segment_bytes, update. Idempotent with the same options;
// ErrExists with others (update=true may change the retention limits).
func (e *Engine) DeclareStream(stream string, options Options) error {
	const op = "corq_stream_declare"
	return e.withName(op, "stream name", stream, func(p *packer, off int64) error {
		cfg, err := config(op, options)
		if err != nil {
			return err
		}
		defer freeConfig(cfg)
		return check(C.gq_stream_declare(e.ptr, p.cbuf(), C.int64_t(off), cfg), op)
	})
}

// DeleteStream deletes a stream and its records; its readers' and producers' next calls return
// ErrNotFound.
func (e *Engine) DeleteStream(stream string) error {
	const op = "corq_stream_delete"
	return e.withName(op, "stream name", stream, func(p *packer, off int64) error {
		return check(C.gq_stream_delete(e.ptr, p.cbuf(), C.int64_t(off)), op)
	})
}

// Appended is where an append went: its partition and offset (for a batch, its first record's
// offset; the others follow consecutively).
type Appended struct {
	Partition uint32
	Offset    uint64
}

// packKey packs a record key: nil is no key (round robin), any other slice a key (an empty one
// too), which picks the partition as Kafka's default partitioner does.
func (p *packer) key(key []byte) (off int64, n C.size_t) {
	if key == nil {
		return -1, 0
	}
	off = int64(len(p.buf))
	p.buf = append(p.buf, key...)
	return off, C.size_t(len(key))
}

// Append appends one record to stream and returns where it went (for a dedup id seen within the
// stream's dedup_window_ms, where the original went: nothing is appended). key: see Appended. Of
// the options NoWait and Timeout apply; a Delay, TTL or Priority is ErrInvalid. Errors:
// ErrNotFound, ErrFull (discard=new at a limit), ErrTooBig, ErrTimedOut (durable: appended, not
// yet durable in time), ErrClosed.
func (e *Engine) Append(ctx context.Context, stream string, key []byte, msg Message,
	opts *PublishOptions) (Appended, error) {
	const op = "corq_stream_append"
	if err := e.enter(op); err != nil {
		return Appended{}, err
	}
	defer e.mu.RUnlock()
	p := getPacker()
	defer p.release()
	s, err := p.str(op, "stream name", stream)
	if err != nil {
		return Appended{}, err
	}
	k, klen := p.key(key)
	if err := p.message(op, &msg, true); err != nil {
		return Appended{}, err
	}
	copts, limited, err := opts.cOptions(ctx)
	if err != nil {
		return Appended{}, err
	}
	r := C.gq_stream_append(e.ptr, p.cbuf(), C.int64_t(s), C.int64_t(k), klen, p.cmsgs(),
		p.chdrs(), p.hdrCount(), ext(msg.Data), copts)
	if r.rc < 0 {
		return Appended{}, blame(failed(r, op), ctx, limited, CodeFull, CodeTimedOut)
	}
	return Appended{Partition: uint32(r.u32), Offset: uint64(r.u64)}, nil
}

// StreamStats are a stream's counters: Records and Bytes retained now (keys, payloads, headers);
// Appended, Deleted (by retention) and Deduplicated since the engine opened; Groups.
type StreamStats struct {
	Partitions                                      uint32
	Records, Bytes, Appended, Deleted, Deduplicated uint64
	Groups                                          uint64
}

// StreamStats reads one stream's counters.
func (e *Engine) StreamStats(stream string) (StreamStats, error) {
	const op = "corq_stream_stats_get"
	var s C.corq_stream_stats
	s.struct_size = C.uint32_t(C.sizeof_corq_stream_stats)
	err := e.withName(op, "stream name", stream, func(p *packer, off int64) error {
		return check(C.gq_stream_stats(e.ptr, p.cbuf(), C.int64_t(off), &s), op)
	})
	if err != nil {
		return StreamStats{}, err
	}
	return StreamStats{Partitions: uint32(s.partitions), Records: uint64(s.records),
		Bytes: uint64(s.bytes), Appended: uint64(s.appended), Deleted: uint64(s.deleted),
		Deduplicated: uint64(s.deduplicated), Groups: uint64(s.groups)}, nil
}

// ---- stream producers --------------------------------------------------------------------------

// StreamProducer appends atomic batches, each to one partition (corq_stream_producer). A mutex
// makes it safe for any goroutine (calls run one at a time).
type StreamProducer struct {
	engine *Engine
	mu     sync.Mutex
	ptr    *C.corq_stream_producer
	closed bool
}

// NewStreamProducer opens a producer on an existing stream.
func (e *Engine) NewStreamProducer(stream string) (*StreamProducer, error) {
	const op = "corq_stream_producer_open"
	var producer *StreamProducer
	err := e.withName(op, "stream name", stream, func(p *packer, off int64) error {
		r := C.gq_stream_producer_open(e.ptr, p.cbuf(), C.int64_t(off))
		if r.rc < 0 {
			return failed(r, op)
		}
		producer = &StreamProducer{engine: e, ptr: (*C.corq_stream_producer)(r.ptr)}
		runtime.SetFinalizer(producer, (*StreamProducer).Close)
		return nil
	})
	return producer, err
}

// Send appends msgs (one or more) as one batch, all or none, to the partition key picks (nil: the
// next in round robin), with consecutive offsets and one timestamp; every record carries the key.
// A dedup id on the first message names the batch (the others may have none: ErrInvalid).
// Options as for Engine.Append.
func (s *StreamProducer) Send(ctx context.Context, key []byte, msgs []Message,
	opts *PublishOptions) (Appended, error) {
	const op = "corq_stream_producer_send"
	if s == nil || s.ptr == nil {
		return Appended{}, invalid(op, "stream producer is nil (use Engine.NewStreamProducer)")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return Appended{}, closedErr(op, "stream producer")
	}
	p := getPacker()
	defer p.release()
	k, klen := p.key(key)
	for i := range msgs {
		if err := p.message(op, &msgs[i], false); err != nil {
			return Appended{}, err
		}
	}
	copts, limited, err := opts.cOptions(ctx)
	if err != nil {
		return Appended{}, err
	}
	r := C.gq_stream_producer_send(s.ptr, p.cbuf(), C.int64_t(k), klen, p.cmsgs(),
		C.size_t(len(msgs)), p.chdrs(), p.hdrCount(), copts)
	if r.rc < 0 {
		return Appended{}, blame(failed(r, op), ctx, limited, CodeFull, CodeTimedOut)
	}
	return Appended{Partition: uint32(r.u32), Offset: uint64(r.u64)}, nil
}

// Close closes the producer (waiting for a Send in progress). Idempotent.
func (s *StreamProducer) Close() error {
	const op = "corq_stream_producer_close"
	if s == nil || s.ptr == nil {
		return invalid(op, "stream producer is nil")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	runtime.SetFinalizer(s, nil)
	return check(C.gq_stream_producer_close(s.ptr), op)
}

// ---- stream readers ----------------------------------------------------------------------------

// ReadBatchMax is the most records one StreamReader.Read or Poll returns.
const ReadBatchMax = 1024

// Record is one stream record, copied out of corq's memory (its views live until the reader's
// next read only).
type Record struct {
	Partition uint32
	Offset    uint64
	Timestamp time.Time // the append time (ms; non-decreasing within a partition)
	Key       []byte    // nil for a record appended without a key; empty (not nil) for ""
	Data      []byte
	Headers   Headers
}

// StreamReader reads one partition of a stream from its start and follows the tail
// (corq_stream_reader). A mutex makes it safe for any goroutine (calls run one at a time); Close
// may be called at any time and ends a Read that waits.
type StreamReader struct {
	engine    *Engine
	ptr       *C.corq_stream_reader
	mu        sync.Mutex
	closing   atomic.Bool
	closed    bool // guarded by mu
	closeOnce sync.Once
	closeErr  error
	buf       *C.corq_stream_record
	bufCap    int
}

// NewStreamReader opens a reader of one partition at start. Errors: ErrInvalid (bad start, offset
// past the end, a partition the stream does not have), ErrNotFound (no such stream).
func (e *Engine) NewStreamReader(stream string, partition uint32, start Start) (*StreamReader, error) {
	const op = "corq_stream_reader_open"
	var reader *StreamReader
	err := e.withNames(op, "stream name", stream, "start", string(start),
		func(p *packer, s, st int64) error {
			r := C.gq_stream_reader_open(e.ptr, p.cbuf(), C.int64_t(s), C.uint32_t(partition),
				C.int64_t(st))
			if r.rc < 0 {
				return failed(r, op)
			}
			reader = &StreamReader{engine: e, ptr: (*C.corq_stream_reader)(r.ptr)}
			runtime.SetFinalizer(reader, (*StreamReader).Close)
			return nil
		})
	return reader, err
}

func (r *StreamReader) lock(op string) error {
	if r == nil || r.ptr == nil {
		return invalid(op, "stream reader is nil (use Engine.NewStreamReader)")
	}
	if r.closing.Load() {
		return closedErr(op, "stream reader")
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return closedErr(op, "stream reader")
	}
	return nil
}

// Read waits for records and returns 1 to max of them (at most ReadBatchMax) from the reader's
// position. A cancelled ctx ends the wait at once (corq_stream_reader_wakeup) with ctx.Err(); its
// deadline with context.DeadlineExceeded. If retention deleted records before they were read, it
// goes on at the first retained one and Skipped counts them. Errors: ErrNotFound (the stream was
// deleted), ErrClosed (Close, or the engine's close), ErrInvalid (max < 1).
func (r *StreamReader) Read(ctx context.Context, max int) ([]Record, error) {
	const op = "corq_stream_read"
	if err := r.lock(op); err != nil {
		return nil, err
	}
	defer r.mu.Unlock()
	if max < 1 {
		return nil, invalid(op, "max must be at least 1")
	}
	for {
		timeout, _, err := deadlineWait(ctx)
		if err != nil {
			return nil, err
		}
		if r.closing.Load() {
			return nil, closedErr(op, "stream reader")
		}
		n, err := r.readOnce(ctx, max, timeout)
		if err != nil || n > 0 {
			return r.records(n), err
		}
		// 0: a wakeup (ctx's, Close's, or a stale one) or the timeout: the loop's top decides.
	}
}

// Poll returns the records readable now, up to max, without waiting (none: an empty slice).
func (r *StreamReader) Poll(max int) ([]Record, error) {
	const op = "corq_stream_read"
	if err := r.lock(op); err != nil {
		return nil, err
	}
	defer r.mu.Unlock()
	if max < 1 {
		return nil, invalid(op, "max must be at least 1")
	}
	n, err := r.readOnce(context.Background(), max, 0)
	return r.records(n), err
}

// readOnce is one corq_stream_read, woken by a watcher goroutine when ctx is cancelled (joined
// before it returns).
func (r *StreamReader) readOnce(ctx context.Context, max int, timeout int32) (int, error) {
	if max > ReadBatchMax {
		max = ReadBatchMax
	}
	if r.bufCap < max {
		C.free(unsafe.Pointer(r.buf))
		r.buf = (*C.corq_stream_record)(C.malloc(C.size_t(max) * C.sizeof_corq_stream_record))
		r.bufCap = max
	}
	var stop chan struct{}
	var done chan struct{}
	if ctx.Done() != nil {
		stop, done = make(chan struct{}), make(chan struct{})
		go func(ptr *C.corq_stream_reader) {
			defer close(done)
			select {
			case <-ctx.Done():
				C.corq_stream_reader_wakeup(ptr)
			case <-stop:
			}
		}(r.ptr)
	}
	res := C.gq_stream_read(r.ptr, r.buf, C.size_t(max), C.int32_t(timeout))
	if stop != nil {
		close(stop)
		<-done
	}
	if res.rc < 0 {
		return 0, failed(res, "corq_stream_read")
	}
	return int(res.rc), nil
}

// records copies the first n records of the buffer out of corq's memory.
func (r *StreamReader) records(n int) []Record {
	if n <= 0 {
		return nil
	}
	out := make([]Record, n)
	for i, c := range unsafe.Slice(r.buf, n) {
		rec := Record{
			Partition: uint32(c.partition),
			Offset:    uint64(c.offset),
			Timestamp: time.UnixMilli(int64(c.timestamp_ms)),
			Data:      copyBytes(c.data, c.len),
			Headers:   copyHeaders(c.headers, c.header_count),
		}
		if c.key != nil {
			rec.Key = copyBytes(c.key, c.key_len)
		}
		out[i] = rec
	}
	return out
}

// Skipped counts the records this reader skipped because retention deleted them before it read
// them (0 after Close).
func (r *StreamReader) Skipped() uint64 {
	if r.lock("corq_stream_reader_skipped") != nil {
		return 0
	}
	defer r.mu.Unlock()
	return uint64(C.corq_stream_reader_skipped(r.ptr))
}

// Close closes the reader; a Read waiting in another goroutine returns ErrClosed. Idempotent.
func (r *StreamReader) Close() error {
	const op = "corq_stream_reader_close"
	if r == nil || r.ptr == nil {
		return invalid(op, "stream reader is nil")
	}
	r.closeOnce.Do(func() {
		r.closing.Store(true)
		runtime.SetFinalizer(r, nil)
		C.corq_stream_reader_wakeup(r.ptr) // a Read that waits holds mu
		r.mu.Lock()
		defer r.mu.Unlock()
		r.closed = true
		C.free(unsafe.Pointer(r.buf))
		r.buf, r.bufCap = nil, 0
		r.closeErr = check(C.gq_stream_reader_close(r.ptr), op)
	})
	return r.closeErr
}

// ---- consumer groups ---------------------------------------------------------------------------

// NewGroupConsumer opens a member of consumer group `group` of stream: a Consumer whose deliveries
// are the stream's records (MessageID is the offset; headers add x-stream-partition,
// x-stream-offset and x-stream-key), settled like a queue's. The first member's options define the
// group: mode (ordered | shared | key_ordered), prefetch, start, max_attempts, retry_delay_ms,
// retry_backoff, retry_delay_max_ms, lease_ms, dead_letter_queue. Errors: ErrNotFound (no such
// stream), ErrExists (the group exists with other options), ErrInvalid.
func (e *Engine) NewGroupConsumer(stream, group string, options Options) (*Consumer, error) {
	const op = "corq_group_consumer_open"
	var consumer *Consumer
	err := e.withNames(op, "stream name", stream, "group name", group,
		func(p *packer, s, g int64) error {
			cfg, err := config(op, options)
			if err != nil {
				return err
			}
			defer freeConfig(cfg)
			r := C.gq_group_consumer_open(e.ptr, p.cbuf(), C.int64_t(s), C.int64_t(g), cfg)
			if r.rc < 0 {
				return failed(r, op)
			}
			consumer = newConsumer(e, (*C.corq_consumer)(r.ptr))
			return nil
		})
	return consumer, err
}

// GroupSeek moves the group's position on partition (AllPartitions: every one) to start: replay,
// or skip ahead. Deliveries out for the moved partitions become stale (settling them: ErrState).
func (e *Engine) GroupSeek(stream, group string, partition int32, start Start) error {
	const op = "corq_group_seek"
	return e.withNames(op, "stream name", stream, "group name", group,
		func(p *packer, s, g int64) error {
			st, err := p.str(op, "start", string(start))
			if err != nil {
				return err
			}
			return check(C.gq_group_seek(e.ptr, p.cbuf(), C.int64_t(s), C.int64_t(g),
				C.int32_t(partition), C.int64_t(st)), op)
		})
}

// DeleteGroup deletes the group; its members' next calls return ErrNotFound (close them). Its
// dead-letter queue stays.
func (e *Engine) DeleteGroup(stream, group string) error {
	const op = "corq_group_delete"
	return e.withNames(op, "stream name", stream, "group name", group,
		func(p *packer, s, g int64) error {
			return check(C.gq_group_delete(e.ptr, p.cbuf(), C.int64_t(s), C.int64_t(g)), op)
		})
}

// GroupStats are a consumer group's counters: Members open now; Lag (records between the committed
// offsets and the ends); InFlight; and since the group was created Delivered, Acked, Nacked
// (nacks and lease expiries), DeadLettered and Skipped (deleted by retention before settled).
type GroupStats struct {
	Members                                                        uint32
	Lag, InFlight, Delivered, Acked, Nacked, DeadLettered, Skipped uint64
}

// GroupStats reads one group's counters.
func (e *Engine) GroupStats(stream, group string) (GroupStats, error) {
	const op = "corq_group_stats_get"
	var s C.corq_group_stats
	s.struct_size = C.uint32_t(C.sizeof_corq_group_stats)
	err := e.withNames(op, "stream name", stream, "group name", group,
		func(p *packer, st, g int64) error {
			return check(C.gq_group_stats(e.ptr, p.cbuf(), C.int64_t(st), C.int64_t(g), &s), op)
		})
	if err != nil {
		return GroupStats{}, err
	}
	return GroupStats{Members: uint32(s.members), Lag: uint64(s.lag),
		InFlight: uint64(s.in_flight), Delivered: uint64(s.delivered), Acked: uint64(s.acked),
		Nacked: uint64(s.nacked), DeadLettered: uint64(s.dead_lettered),
		Skipped: uint64(s.skipped)}, nil
}
