"""corq.py — Python binding of corq's C API (ctypes, standard library only).

    import corq

    with corq.Engine() as engine:                      # dir=None: an in-memory engine
        engine.declare("jobs", max_attempts=5, lease_ms=10000)
        engine.publish("jobs", b"resize 42.png", headers={"user": b"ada"})
        with engine.consumer("jobs", prefetch=64) as consumer:
            delivery = consumer.consume(timeout_ms=1000)   # a Delivery, or None on timeout
            if delivery is not None:
                delivery.ack()

        engine.declare_exchange("events", "topic")       # pub/sub: one message, many queues
        engine.bind("events", "jobs", "image.*")
        message_id, routed = engine.publish_to_exchange("events", "image.resize", b"43.png")

        engine.declare_stream("clicks", partitions=3)     # a retained log, read by offset
        partition, offset = engine.append("clicks", b"page 7", key=b"user-42")
        with engine.stream_reader("clicks", partition, start="earliest") as reader:
            for record in reader.read(max=100, timeout_ms=1000):
                print(record.offset, record.key, record.data)

        engine.declare("jobs.done")
        with engine.consumer("jobs") as consumer:         # consume, transform, produce: at once
            delivery = consumer.consume(timeout_ms=1000)  # "43.png", routed by "events"
            with engine.transaction() as txn:            # commits at the end of the block,
                txn.publish("", "jobs.done", delivery.data)  # aborts if an exception leaves it
                txn.append("clicks", b"resized", key=b"user-42")
                txn.ack(delivery)

Finding the library: the path in the CORQ_LIBRARY environment variable (e.g.
build/release/engine/libcorq.so), else the loader's search path ("libcorq.so.0", then
ctypes.util.find_library("corq")).

Mapping of the C API (engine/include/corq/corq.h is the manual; this file only adapts it):
  - Every failing call raises corq.Error with .code (a CORQ_E* value, also module constants
    corq.EINVAL, corq.ENOENT, ...) and .detail (corq_last_error(), read in the calling thread right
    after the failing call). Timeouts of consume are not errors: they return None / [].
  - Options are keyword arguments, passed to corq_config_set as text: True/False become
    "true"/"false", everything else str(value) (so max_length=1000 and max_bytes="64MiB" both work).
  - Headers are a dict of str -> bytes. Keys are C strings (NUL-terminated) in the C API, so they are
    text here: decoded as UTF-8 (undecodable bytes survive as surrogate escapes). When publishing,
    keys may be str or bytes and values bytes-like or str (encoded as UTF-8).
  - Delivery.data and Delivery.headers are copies: the C API's zero-copy views die when the delivery
    is settled, so the binding copies them at consume time and the Delivery stays readable after.
  - Handles are freed deterministically: close() or leaving the `with` block frees them; __del__ is
    only a safety net. A closed handle raises corq.Error(ECLOSED) without calling into C (the C
    handle is gone). Closing the Engine wakes consumers blocked in other threads (ECLOSED, which
    ends iteration); their Consumer objects must still be closed by their own threads.
  - Exchanges (corq.h "Pub/sub routing"): declare_exchange, delete_exchange, bind, unbind,
    bind_exchange, unbind_exchange, publish_to_exchange (returns Published(message_id, routed)) and
    exchange_stats. Binding arguments (headers exchanges) are a dict or a list of (key, value)
    pairs; a value of None is passed as NULL, which matches on the header's presence alone.
  - Streams (corq.h "Streams"): declare_stream, delete_stream, append (returns
    Appended(partition, offset)), stream_producer (StreamProducer.send of a batch returns
    AppendedBatch(partition, first_offset)), stream_reader (StreamReader.read returns StreamRecord
    objects; .skipped, wakeup()) and stream_stats. A key is bytes (str is encoded as UTF-8) or None
    for no key: b"" is a key (hashed to one partition), None goes round robin. A StreamRecord's
    key, data and headers are copies, readable after the next read. Consumer groups: group_consumer
    (a consumer with the usual calls), group_seek, group_delete, group_stats. On a disk engine streams are durable by
    default (declare with durable=False for a transient one).
  - Transactions (corq.h "Transactions"): engine.transaction(timeout_ms) returns a Transaction,
    a context manager whose block commits when it ends normally and aborts when an exception
    leaves it; publish(exchange, routing_key, data, ...), append(stream, data, key=None, ...) and
    ack(delivery) add to it, commit() and abort() end it (commit whatever it raises), and then
    its calls raise ECLOSED. Nothing of it is visible before commit.
  - Threads: as in C — an Engine may be shared by threads (but close() must not race other calls);
    a Producer, Consumer, StreamProducer or StreamReader is used by one thread at a time, except
    Consumer.wakeup() and StreamReader.wakeup() (any thread); a Transaction by the thread that
    uses the consumers whose deliveries it acks.
    ctypes releases the GIL during every C call, so a blocked consume does not stall other threads.
"""

import collections
import ctypes
import ctypes.util
import math
import os
import time

__all__ = [
    "Engine", "Producer", "Consumer", "Delivery", "Published", "Error", "version", "library_path",
    "StreamProducer", "StreamReader", "StreamRecord", "Appended", "AppendedBatch", "Transaction",
]

# ---- Error codes: the values of corq.h (they are ABI and never change meaning) -----------------
OK = 0
EINVAL = -1
ENOMEM = -2
EIO = -3
ENOSPC = -4
ENOENT = -5
EEXIST = -6
EFULL = -7
ETIMEDOUT = -8
ESTATE = -9
ECLOSED = -10
EBUSY = -11
ECORRUPT = -12
EFAILED = -13
ETOOBIG = -14
EUNSUPPORTED = -15
EUNROUTABLE = -16

PUBLISH_NOWAIT = 1  # CORQ_PUBLISH_NOWAIT
PUBLISH_MANDATORY = 2  # CORQ_PUBLISH_MANDATORY (exchange publishes: EUNROUTABLE, not dropped)
PUBLISH_TIMEOUT_MS_DEFAULT = 30000  # corq_publish_options.timeout_ms default (overflow=block)

# Longest single wait inside a consume: a blocking consume is cut into slices this long so that
# Ctrl-C (KeyboardInterrupt) is seen between them; a C call cannot be interrupted from Python.
_WAIT_SLICE_MS = 200
# Most deliveries one consume_many returns (the size of the consumer's buffer of corq_delivery).
_BATCH_MAX = 1024
# Iteration with a full window (deliveries taken but not settled) polls this often, not in a spin.
_WINDOW_FULL_SLEEP_S = 0.01


# ---- Loading the library -------------------------------------------------------------------------


def _load_library():
    """The CORQ_LIBRARY path if set (no fallback: a wrong path is an error), else the loader's."""
    path = os.environ.get("CORQ_LIBRARY")
    if path:
        return ctypes.CDLL(path), path
    errors = []
    for name in ("libcorq.so.0", ctypes.util.find_library("corq")):
        if not name:
            continue
        try:
            return ctypes.CDLL(name), name
        except OSError as error:
            errors.append(str(error))
    raise ImportError(
        "corq: cannot load libcorq (set CORQ_LIBRARY to the path of libcorq.so): " + "; ".join(errors)
    )


_lib, library_path = _load_library()

_size_t = ctypes.c_size_t
_u32, _u64, _i32, _i64 = ctypes.c_uint32, ctypes.c_uint64, ctypes.c_int32, ctypes.c_int64
_void_p = ctypes.c_void_p


class _Header(ctypes.Structure):
    """corq_header to publish: c_char_p fields point into (and keep alive) Python bytes."""

    _fields_ = [("key", ctypes.c_char_p), ("value", ctypes.c_char_p), ("value_len", _size_t)]


class _DeliveredHeader(ctypes.Structure):
    """corq_header of a delivery: the same layout, but value is a plain address (reading a
    c_char_p field would stop at the first NUL byte of a binary value)."""

    _fields_ = [("key", ctypes.c_char_p), ("value", _void_p), ("value_len", _size_t)]


class _Message(ctypes.Structure):
    _fields_ = [
        ("data", ctypes.c_char_p),
        ("len", _size_t),
        ("headers", ctypes.POINTER(_Header)),
        ("header_count", _size_t),
        ("dedup_id", ctypes.c_char_p),
    ]


class _PublishOptions(ctypes.Structure):
    _fields_ = [
        ("struct_size", _u32),
        ("flags", _u32),
        ("timeout_ms", _i32),
        ("delay_ms", _i64),
        ("ttl_ms", _i64),
        ("priority", _i32),  # added with exchanges; struct_size = sizeof says it is there
    ]


class _DeliveryC(ctypes.Structure):
    _fields_ = [
        ("tag", _u64),
        ("message_id", _u64),
        ("data", _void_p),
        ("len", _size_t),
        ("headers", ctypes.POINTER(_DeliveredHeader)),
        ("header_count", _size_t),
        ("delivery_count", _u32),
        ("published_at_ms", _i64),
    ]


_STATS_FIELDS = (
    "ready in_flight delayed consumers bytes_ready published delivered acked nacked released "
    "redelivered dead_lettered expired dropped deduplicated"
).split()
# Fields the struct gained after its first version (after oldest_ready_age_ms).
_STATS_FIELDS_LATER = ("purged", "redriven")


class _QueueStats(ctypes.Structure):
    _fields_ = (
        [("struct_size", _u32)]
        + [(name, _u64) for name in _STATS_FIELDS]
        + [("oldest_ready_age_ms", _i64)]
        + [(name, _u64) for name in _STATS_FIELDS_LATER]
    )


_EXCHANGE_STATS_FIELDS = ("bindings", "published", "routed", "unroutable", "alternated")


class _ExchangeStats(ctypes.Structure):
    _fields_ = [("struct_size", _u32)] + [(name, _u64) for name in _EXCHANGE_STATS_FIELDS]


class _StreamRecordC(ctypes.Structure):
    """corq_stream_record: views into corq's memory, valid until the reader's next read."""

    _fields_ = [
        ("partition", _u32),
        ("offset", _u64),
        ("timestamp_ms", _i64),
        ("key", _void_p),  # NULL: no key (an address, not c_char_p: keys may hold NUL bytes)
        ("key_len", _size_t),
        ("data", _void_p),
        ("len", _size_t),
        ("headers", ctypes.POINTER(_DeliveredHeader)),
        ("header_count", _size_t),
    ]


_STREAM_STATS_FIELDS = ("records", "bytes", "appended", "deleted", "deduplicated", "groups")


class _StreamStats(ctypes.Structure):
    _fields_ = [("struct_size", _u32), ("partitions", _u32)] + [
        (name, _u64) for name in _STREAM_STATS_FIELDS
    ]


_GROUP_STATS_FIELDS = (
    "lag", "in_flight", "delivered", "acked", "nacked", "dead_lettered", "skipped"
)


class _GroupStats(ctypes.Structure):
    _fields_ = [("struct_size", _u32), ("members", _u32)] + [
        (name, _u64) for name in _GROUP_STATS_FIELDS
    ]


def _declare(name, restype, *argtypes):
    function = getattr(_lib, name)
    function.restype = restype
    function.argtypes = list(argtypes)


_int, _char_p = ctypes.c_int, ctypes.c_char_p
_declare("corq_version", _u32)
_declare("corq_version_string", _char_p)
_declare("corq_strerror", _char_p, _int)
_declare("corq_last_error", _char_p)
_declare("corq_config_new", _void_p)
_declare("corq_config_set", _int, _void_p, _char_p, _char_p)
_declare("corq_config_free", None, _void_p)
_declare("corq_open", _int, _char_p, _void_p, ctypes.POINTER(_void_p))
_declare("corq_close", _int, _void_p)
_declare("corq_sync", _int, _void_p, _i32)
_declare("corq_engine_id", _int, _void_p, ctypes.c_char_p)
_declare("corq_queue_declare", _int, _void_p, _char_p, _void_p)
_declare("corq_queue_delete", _int, _void_p, _char_p)
_declare("corq_queue_purge", _int, _void_p, _char_p, ctypes.POINTER(_u64))
_declare(
    "corq_publish",
    _int,
    _void_p,
    _char_p,
    ctypes.POINTER(_Message),
    ctypes.POINTER(_PublishOptions),
    ctypes.POINTER(_u64),
)
_declare("corq_producer_open", _int, _void_p, _char_p, ctypes.POINTER(_void_p))
_declare(
    "corq_producer_send",
    _int,
    _void_p,
    ctypes.POINTER(_Message),
    _size_t,
    ctypes.POINTER(_PublishOptions),
    ctypes.POINTER(_u64),
)
_declare("corq_producer_flush", _int, _void_p, _i32)
_declare("corq_producer_close", None, _void_p)
_declare("corq_consumer_open", _int, _void_p, _char_p, _u32, ctypes.POINTER(_void_p))
_declare("corq_consume", _int, _void_p, ctypes.POINTER(_DeliveryC), _size_t, _i32)
_declare("corq_ack", _int, _void_p, _u64)
_declare("corq_nack", _int, _void_p, _u64, _i64)
_declare("corq_release", _int, _void_p, _u64)
_declare("corq_reject", _int, _void_p, _u64, _char_p)
_declare("corq_extend", _int, _void_p, _u64, _i64)
_declare("corq_consumer_wakeup", _int, _void_p)
_declare("corq_consumer_interrupt", _int, _void_p)
_declare("corq_consumer_close", _int, _void_p)
_declare("corq_queue_stats_get", _int, _void_p, _char_p, ctypes.POINTER(_QueueStats))
_declare("corq_stats_json", _int, _void_p, ctypes.POINTER(_void_p))
_declare("corq_redrive", _int, _void_p, _char_p, _char_p, _u64, ctypes.POINTER(_u64))
_declare("corq_free", None, _void_p)
_declare("corq_exchange_declare", _int, _void_p, _char_p, _char_p, _void_p)
_declare("corq_exchange_delete", _int, _void_p, _char_p)
# corq_bind, corq_unbind, corq_exchange_bind, corq_exchange_unbind: the same signature.
for _binding_call in ("corq_bind", "corq_unbind", "corq_exchange_bind", "corq_exchange_unbind"):
    _declare(
        _binding_call, _int, _void_p, _char_p, _char_p, _char_p, ctypes.POINTER(_Header), _size_t
    )
_declare(
    "corq_exchange_publish",
    _int,
    _void_p,
    _char_p,
    _char_p,
    ctypes.POINTER(_Message),
    ctypes.POINTER(_PublishOptions),
    ctypes.POINTER(_u64),
    ctypes.POINTER(_u32),
)
_declare("corq_exchange_stats_get", _int, _void_p, _char_p, ctypes.POINTER(_ExchangeStats))
_declare("corq_stream_declare", _int, _void_p, _char_p, _void_p)
_declare("corq_stream_delete", _int, _void_p, _char_p)
_declare(
    "corq_stream_append",
    _int,
    _void_p,
    _char_p,
    _char_p,  # key: bytes (NUL bytes included: its length is passed) or None
    _size_t,
    ctypes.POINTER(_Message),
    ctypes.POINTER(_PublishOptions),
    ctypes.POINTER(_u32),
    ctypes.POINTER(_u64),
)
_declare("corq_stream_producer_open", _int, _void_p, _char_p, ctypes.POINTER(_void_p))
_declare(
    "corq_stream_producer_send",
    _int,
    _void_p,
    _char_p,
    _size_t,
    ctypes.POINTER(_Message),
    _size_t,
    ctypes.POINTER(_PublishOptions),
    ctypes.POINTER(_u32),
    ctypes.POINTER(_u64),
)
_declare("corq_stream_producer_close", _int, _void_p)
_declare("corq_stream_reader_open", _int, _void_p, _char_p, _u32, _char_p, ctypes.POINTER(_void_p))
_declare("corq_stream_read", _int, _void_p, ctypes.POINTER(_StreamRecordC), _size_t, _i32)
_declare("corq_stream_reader_skipped", _u64, _void_p)
_declare("corq_stream_reader_wakeup", _int, _void_p)
_declare("corq_stream_reader_close", _int, _void_p)
_declare("corq_stream_stats_get", _int, _void_p, _char_p, ctypes.POINTER(_StreamStats))
_declare(
    "corq_group_consumer_open", _int, _void_p, _char_p, _char_p, _void_p, ctypes.POINTER(_void_p)
)
_declare("corq_group_seek", _int, _void_p, _char_p, _char_p, ctypes.c_int32, _char_p)
_declare("corq_group_delete", _int, _void_p, _char_p, _char_p)
_declare("corq_group_stats_get", _int, _void_p, _char_p, _char_p, ctypes.POINTER(_GroupStats))
_declare("corq_txn_begin", _int, _void_p, ctypes.POINTER(_void_p))
_declare(
    "corq_txn_publish",
    _int,
    _void_p,
    _char_p,
    _char_p,
    ctypes.POINTER(_Message),
    ctypes.POINTER(_PublishOptions),
)
_declare(
    "corq_txn_append",
    _int,
    _void_p,
    _char_p,
    _char_p,  # key: bytes (NUL bytes included: its length is passed) or None
    _size_t,
    ctypes.POINTER(_Message),
    ctypes.POINTER(_PublishOptions),
)
_declare("corq_txn_ack", _int, _void_p, _void_p, _u64)
_declare("corq_txn_commit", _int, _void_p, _i32)
_declare("corq_txn_abort", None, _void_p)

if _lib.corq_version() // 10000 != 0:
    raise ImportError(
        "corq: %s is version %s; this binding is for major version 0"
        % (library_path, _lib.corq_version_string().decode())
    )


def version():
    """The linked library's version string, e.g. "0.1.0"."""
    return _lib.corq_version_string().decode()


# ---- Errors ----------------------------------------------------------------------------------------


class Error(Exception):
    """A failed corq call. .code is the CORQ_E* value (corq.ENOENT, ...), .name its name
    ("CORQ_ENOENT"), .detail the detail message (corq_last_error)."""

    def __init__(self, code, detail):
        self.code = code
        self.detail = detail
        self.description = _lib.corq_strerror(code).decode()  # "CORQ_ENOENT: no such queue ..."
        self.name = self.description.split(":", 1)[0]
        super().__init__("%s: %s" % (self.description, detail) if detail else self.description)


def _check(rc):
    """Raises Error for a negative code. Must run right after the C call, in the same thread:
    corq_last_error is thread-local and overwritten by the thread's next failing call."""
    if rc < 0:
        raise Error(rc, _lib.corq_last_error().decode("utf-8", "replace"))
    return rc


def _closed(what):
    return Error(ECLOSED, "%s is closed" % what)


# ---- Conversions -----------------------------------------------------------------------------------


def _name(queue, what="queue name"):
    """A queue or exchange name as C text (corq checks the characters; a NUL would cut it short)."""
    if isinstance(queue, str):
        queue = queue.encode()
    if not isinstance(queue, bytes):
        raise TypeError("%s must be str or bytes, not %s" % (what, type(queue).__name__))
    if b"\0" in queue:
        raise Error(EINVAL, "%s contains a NUL byte" % what)
    return queue


def _text(value, what):
    """A C string argument (header key, dedup id, reject reason)."""
    if isinstance(value, str):
        value = value.encode("utf-8", "surrogateescape")
    if not isinstance(value, bytes):
        raise TypeError("%s must be str or bytes, not %s" % (what, type(value).__name__))
    if b"\0" in value:
        raise Error(EINVAL, "%s contains a NUL byte" % what)
    return value


def _payload(data, what="data"):
    if isinstance(data, str):
        if what == "data":
            raise TypeError("data must be bytes-like, not str (encode it)")
        return data.encode()
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    if not isinstance(data, bytes):
        raise TypeError("%s must be bytes-like, not %s" % (what, type(data).__name__))
    return data


def _option_text(value):
    if isinstance(value, bool):
        return b"true" if value else b"false"
    return str(value).encode()


class _Config:
    """A corq_config filled from keyword options; freed on exit."""

    def __init__(self, options):
        self.handle = _lib.corq_config_new()
        if not self.handle:
            raise Error(ENOMEM, "corq_config_new")
        try:
            for key, value in options.items():
                _check(_lib.corq_config_set(self.handle, key.encode(), _option_text(value)))
        except BaseException:
            self.close()
            raise

    def close(self):
        if self.handle:
            _lib.corq_config_free(self.handle)
            self.handle = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _headers_array(headers):
    """A ctypes array of corq_header for a dict (None/empty: NULL, 0). ctypes keeps the key and
    value bytes alive as long as the array."""
    if not headers:
        return None, 0
    array = (_Header * len(headers))()
    for slot, (key, value) in zip(array, headers.items()):
        value = _payload(value, "header value")
        slot.key = _text(key, "header key")
        slot.value = value
        slot.value_len = len(value)
    return array, len(headers)


def _arguments_array(arguments):
    """A ctypes array of corq_header for binding arguments: a dict or an iterable of (key, value)
    pairs (None/empty: NULL, 0). A value of None stays a NULL pointer: the C API's presence-only
    argument. Pairs keep their order and may repeat a key, which corq then judges."""
    if not arguments:
        return None, 0
    pairs = list(arguments.items() if isinstance(arguments, dict) else arguments)
    array = (_Header * len(pairs))()
    for slot, pair in zip(array, pairs):
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise TypeError("a binding argument must be a (key, value) pair, not %r" % (pair,))
        key, value = pair
        slot.key = _text(key, "argument key")
        if value is None:
            slot.value, slot.value_len = None, 0
        else:
            value = _payload(value, "argument value")
            slot.value, slot.value_len = value, len(value)
    return array, len(pairs)


def _fill_message(message, data, headers=None, dedup_id=None):
    """Fills a _Message; returns what must stay alive until the C call returns."""
    data = _payload(data)
    array, count = _headers_array(headers)
    message.data = data
    message.len = len(data)
    message.headers = array
    message.header_count = count
    message.dedup_id = None if dedup_id is None else _text(dedup_id, "dedup_id")
    return (data, array)


def _publish_options(delay_ms, ttl_ms, nowait, timeout_ms, priority=0, mandatory=False):
    return _PublishOptions(
        ctypes.sizeof(_PublishOptions),
        (PUBLISH_NOWAIT if nowait else 0) | (PUBLISH_MANDATORY if mandatory else 0),
        PUBLISH_TIMEOUT_MS_DEFAULT if timeout_ms is None else timeout_ms,
        delay_ms,
        ttl_ms,
        priority,
    )


# What publish_to_exchange returns: the message's id (one for every copy) and how many queues
# took it (0: unroutable and dropped, or every target had seen its dedup_id).
Published = collections.namedtuple("Published", "message_id routed")

# What append returns: where the record went (for a deduplicated append, where the original went).
Appended = collections.namedtuple("Appended", "partition offset")

# What StreamProducer.send returns: the batch's partition and its first record's offset (the
# others follow consecutively; a deduplicated batch: the original's).
AppendedBatch = collections.namedtuple("AppendedBatch", "partition first_offset")


def _key(key):
    """A stream key: None (no key) or bytes (str encoded as UTF-8; b"" is a key)."""
    if key is None:
        return None
    return _payload(key, "key")


def _stream_options(nowait, timeout_ms):
    """The publish options a stream takes: flags and timeout_ms (a delay, TTL or priority is
    EINVAL for a stream, so they are not offered)."""
    return _publish_options(0, 0, nowait, timeout_ms)


def _copy_headers(raw):
    headers = {}
    for i in range(raw.header_count):
        h = raw.headers[i]
        key = h.key.decode("utf-8", "surrogateescape")
        headers[key] = ctypes.string_at(h.value, h.value_len) if h.value_len else b""
    return headers


# ---- Handles ---------------------------------------------------------------------------------------


class _Handle:
    """What Engine, Producer and Consumer share: one C handle in self._handle (None once closed),
    the subclass's close() to free it (idempotent), use as a context manager, and __del__ as a
    safety net only: close() or `with` free the handle deterministically."""

    _kind = "handle"  # the subclass's name in the ECLOSED message

    def _h(self):
        if self._handle is None:
            raise _closed(self._kind)
        return self._handle

    @property
    def closed(self):
        return self._handle is None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        if getattr(self, "_handle", None) is not None:
            try:
                self.close()
            except Exception:  # at interpreter exit the module may be half torn down
                pass


# ---- Engine ----------------------------------------------------------------------------------------


class Engine(_Handle):
    """The queues. Engine() is in memory; Engine(dir="/var/lib/app/queue") stores durable queues
    in a directory (this build may answer EUNSUPPORTED). Keyword options are engine options
    (max_message_bytes="4MiB", sync="none", clock="manual", ...). Thread-safe, except close()."""

    _kind = "engine"

    def __init__(self, dir=None, **options):
        self._handle = None
        path = None if dir is None else os.fsencode(dir)
        with _Config(options) as config:
            handle = _void_p()
            _check(_lib.corq_open(path, config.handle, ctypes.byref(handle)))
        self._handle = handle

    def close(self):
        """Closes the engine (idempotent): wakes blocked consumers and publishers with ECLOSED.
        Open Producer/Consumer objects keep working only for close()."""
        if self._handle is not None:
            handle, self._handle = self._handle, None
            _check(_lib.corq_close(handle))

    # -- queues

    def declare(self, queue, **options):
        """Declares a queue (idempotent with the same options; EEXIST with different ones)."""
        with _Config(options) as config:
            _check(_lib.corq_queue_declare(self._h(), _name(queue), config.handle))

    def delete(self, queue):
        """Deletes a queue and its messages."""
        _check(_lib.corq_queue_delete(self._h(), _name(queue)))

    def purge(self, queue):
        """Removes every ready message; returns how many."""
        purged = _u64()
        _check(_lib.corq_queue_purge(self._h(), _name(queue), ctypes.byref(purged)))
        return purged.value

    # -- publishing

    def publish(
        self,
        queue,
        data,
        headers=None,
        dedup_id=None,
        delay_ms=0,
        ttl_ms=0,
        nowait=False,
        timeout_ms=None,
        priority=0,
    ):
        """Publishes one message; returns its id (a deduplicated publish: the original's id).
        timeout_ms: the longest wait for space with overflow=block (None: 30000, -1: no limit).
        priority: 0 or more (queues with max_priority deliver higher ones first)."""
        message = _Message()
        keep = _fill_message(message, data, headers, dedup_id)
        options = _publish_options(delay_ms, ttl_ms, nowait, timeout_ms, priority)
        message_id = _u64()
        rc = _lib.corq_publish(
            self._h(), _name(queue), ctypes.byref(message), ctypes.byref(options),
            ctypes.byref(message_id),
        )
        del keep
        _check(rc)
        return message_id.value

    def sync(self, timeout_ms=-1):
        """Waits until everything logged so far is durable (at once on an in-memory engine)."""
        _check(_lib.corq_sync(self._h(), timeout_ms))

    @property
    def engine_id(self):
        """The data directory's UUID (kept in DIR/ENGINE_ID), or this in-memory engine's."""
        out = ctypes.create_string_buffer(37)
        _check(_lib.corq_engine_id(self._h(), out))
        return out.value.decode("ascii")

    def producer(self, queue):
        """A Producer for batches to one queue (a context manager)."""
        return Producer(self, queue)

    def consumer(self, queue, prefetch=64):
        """A Consumer of one queue with a window of `prefetch` unsettled deliveries."""
        return Consumer(self, queue, prefetch)

    # -- exchanges and bindings (pub/sub routing)

    def declare_exchange(self, exchange, type, **options):
        """Declares an exchange of type "direct", "fanout", "topic" or "headers"; options are
        durable, internal and alternate_exchange. Idempotent with the same type and options;
        EEXIST with others."""
        with _Config(options) as config:
            _check(
                _lib.corq_exchange_declare(
                    self._h(), _name(exchange, "exchange name"), _text(type, "exchange type"),
                    config.handle,
                )
            )

    def delete_exchange(self, exchange):
        """Deletes an exchange and every binding from or to it."""
        _check(_lib.corq_exchange_delete(self._h(), _name(exchange, "exchange name")))

    def _binding(self, call, source, destination, destination_kind, key, arguments):
        array, count = _arguments_array(arguments)
        routing_key = _text(key if key is not None else "", "binding key")
        _check(
            call(
                self._h(), _name(source, "exchange name"), _name(destination, destination_kind),
                routing_key, array, count,
            )
        )

    def bind(self, exchange, queue, key="", arguments=None):
        """Binds a queue to an exchange with a key (a topic pattern for topic exchanges) and, for
        headers exchanges, arguments (a dict or (key, value) pairs; value None: presence only;
        "x-match": all, any, all-with-x or any-with-x). Binding the same tuple twice is a no-op."""
        self._binding(_lib.corq_bind, exchange, queue, "queue name", key, arguments)

    def unbind(self, exchange, queue, key="", arguments=None):
        """Removes the binding with exactly this key and these arguments (ENOENT if none)."""
        self._binding(_lib.corq_unbind, exchange, queue, "queue name", key, arguments)

    def bind_exchange(self, source, destination, key="", arguments=None):
        """Exchange to exchange: what `source` routes to this binding enters `destination`."""
        self._binding(
            _lib.corq_exchange_bind, source, destination, "exchange name", key, arguments
        )

    def unbind_exchange(self, source, destination, key="", arguments=None):
        """Removes that exchange-to-exchange binding (ENOENT if none)."""
        self._binding(
            _lib.corq_exchange_unbind, source, destination, "exchange name", key, arguments
        )

    def publish_to_exchange(
        self,
        exchange,
        routing_key,
        data,
        headers=None,
        dedup_id=None,
        mandatory=False,
        delay_ms=0,
        ttl_ms=0,
        nowait=False,
        timeout_ms=None,
        priority=0,
    ):
        """Publishes one message through an exchange into every queue it routes to, atomically
        (all of them or none: EFULL). Returns Published(message_id, routed): one id for every
        copy, and how many queues took it. mandatory=True: EUNROUTABLE instead of dropping a
        message no queue takes. Exchange "" publishes to the queue named routing_key."""
        message = _Message()
        keep = _fill_message(message, data, headers, dedup_id)
        options = _publish_options(delay_ms, ttl_ms, nowait, timeout_ms, priority, mandatory)
        key = _text(routing_key if routing_key is not None else "", "routing key")
        message_id, routed = _u64(), _u32()
        rc = _lib.corq_exchange_publish(
            self._h(), _name(exchange, "exchange name"), key, ctypes.byref(message),
            ctypes.byref(options), ctypes.byref(message_id), ctypes.byref(routed),
        )
        del keep
        _check(rc)
        return Published(message_id.value, routed.value)

    def exchange_stats(self, exchange):
        """One exchange's counters as a dict: bindings (whose source it is), published (that
        entered it), routed (copies into queues), unroutable, alternated."""
        stats = _ExchangeStats()
        stats.struct_size = ctypes.sizeof(_ExchangeStats)
        _check(
            _lib.corq_exchange_stats_get(
                self._h(), _name(exchange, "exchange name"), ctypes.byref(stats)
            )
        )
        return {name: getattr(stats, name) for name in _EXCHANGE_STATS_FIELDS}

    # -- streams (retained, partitioned logs read by offset)

    def declare_stream(self, stream, **options):
        """Declares a stream; options are partitions (1-1024), retention_ms, retention_bytes,
        retention_records, discard ("old" or "new"), dedup_window_ms, partition_segment_bytes,
        update and durable (true by default on a disk engine: records, offsets and groups survive
        a restart). Idempotent with the same options; EEXIST with others
        (update=True may change the retention limits)."""
        with _Config(options) as config:
            _check(
                _lib.corq_stream_declare(self._h(), _name(stream, "stream name"), config.handle)
            )

    def delete_stream(self, stream):
        """Deletes a stream and its records; its readers' next read raises ENOENT."""
        _check(_lib.corq_stream_delete(self._h(), _name(stream, "stream name")))

    def append(self, stream, data, key=None, headers=None, dedup_id=None, nowait=False,
               timeout_ms=None):
        """Appends one record; returns Appended(partition, offset). key: bytes (str is encoded)
        picks the partition as Kafka's default partitioner does; None goes round robin; b"" is a
        key. A dedup_id seen within the stream's dedup_window_ms returns where the original went
        and appends nothing."""
        message = _Message()
        keep = _fill_message(message, data, headers, dedup_id)
        key = _key(key)
        options = _stream_options(nowait, timeout_ms)
        partition, offset = _u32(), _u64()
        rc = _lib.corq_stream_append(
            self._h(), _name(stream, "stream name"), key, 0 if key is None else len(key),
            ctypes.byref(message), ctypes.byref(options), ctypes.byref(partition),
            ctypes.byref(offset),
        )
        del keep
        _check(rc)
        return Appended(partition.value, offset.value)

    # -- transactions (publishes, appends and acks applied together or not at all)

    def transaction(self, timeout_ms=None):
        """Begins a Transaction, a context manager: leaving the `with` block normally commits it
        (waiting up to timeout_ms for room under overflow=block and for durability; None: 30000,
        the publish default; -1: no limit), leaving it by an exception aborts it and lets the
        exception go on.

            with engine.transaction() as txn:
                txn.publish("", "invoices", invoice_for(delivery.data))
                txn.append("ledger", delivery.data, key=b"customer-7")
                txn.ack(delivery)
        """
        return Transaction(self, timeout_ms)

    def stream_producer(self, stream):
        """A StreamProducer for atomic batches to one stream (a context manager)."""
        return StreamProducer(self, stream)

    def stream_reader(self, stream, partition=0, start="earliest"):
        """A StreamReader of one partition (a context manager) from `start`: "earliest" (the first
        retained record), "latest" (the next one appended), "offset:N" or "time:MS" (the first
        record appended at or after MS, unix ms)."""
        return StreamReader(self, stream, partition, start)

    def stream_stats(self, stream):
        """One stream's counters as a dict: partitions; records and bytes retained now (key,
        payload and header bytes); appended, deleted (by retention) and deduplicated since the
        engine opened; groups (consumer groups of the stream)."""
        stats = _StreamStats()
        stats.struct_size = ctypes.sizeof(_StreamStats)
        _check(
            _lib.corq_stream_stats_get(
                self._h(), _name(stream, "stream name"), ctypes.byref(stats)
            )
        )
        result = {"partitions": stats.partitions}
        for name in _STREAM_STATS_FIELDS:
            result[name] = getattr(stats, name)
        return result

    # -- consumer groups (a member is a Consumer whose deliveries are the stream's records)

    def group_consumer(self, stream, group, **options):
        """A member of consumer group `group` of `stream` (created by its first member, whose
        options define it: mode ordered|shared|key_ordered, prefetch, start, max_attempts,
        retry_delay_ms, retry_backoff, retry_delay_max_ms, lease_ms, dead_letter_queue). A
        delivery's message_id is the record's offset; its headers add x-stream-partition,
        x-stream-offset and x-stream-key."""
        return GroupConsumer(self, stream, group, **options)

    def group_seek(self, stream, group, start, partition=-1):
        """Moves the group on `partition` (-1: all) to `start` (earliest, latest, offset:N,
        time:MS); deliveries out for those partitions become stale (ESTATE when settled)."""
        _check(
            _lib.corq_group_seek(
                self._h(), _name(stream, "stream name"), _name(group, "group name"), partition,
                _name(start, "start"),
            )
        )

    def group_delete(self, stream, group):
        """Deletes the group; its members' next calls raise ENOENT."""
        _check(
            _lib.corq_group_delete(self._h(), _name(stream, "stream name"), _name(group, "group name"))
        )

    def group_stats(self, stream, group):
        """One group's counters as a dict: members, lag, in_flight, delivered, acked, nacked,
        dead_lettered, skipped."""
        stats = _GroupStats()
        stats.struct_size = ctypes.sizeof(_GroupStats)
        _check(
            _lib.corq_group_stats_get(
                self._h(), _name(stream, "stream name"), _name(group, "group name"),
                ctypes.byref(stats),
            )
        )
        result = {"members": stats.members}
        for name in _GROUP_STATS_FIELDS:
            result[name] = getattr(stats, name)
        return result

    # -- observability and dead letters

    def stats(self, queue):
        """One queue's counters as a dict (the fields of corq_queue_stats)."""
        stats = _QueueStats()
        stats.struct_size = ctypes.sizeof(_QueueStats)
        _check(_lib.corq_queue_stats_get(self._h(), _name(queue), ctypes.byref(stats)))
        result = {name: getattr(stats, name) for name in _STATS_FIELDS}
        result["oldest_ready_age_ms"] = stats.oldest_ready_age_ms
        for name in _STATS_FIELDS_LATER:
            result[name] = getattr(stats, name)
        return result

    def stats_json(self):
        """Every queue's stats and options as JSON text (json.loads it)."""
        text = _void_p()
        _check(_lib.corq_stats_json(self._h(), ctypes.byref(text)))
        try:
            return ctypes.string_at(text).decode()
        finally:
            _lib.corq_free(text)

    def redrive(self, from_queue, to_queue=None, max_messages=0):
        """Moves up to max_messages (0: all) dead letters back to their origin queue (or to_queue);
        returns how many moved."""
        moved = _u64()
        target = None if to_queue is None else _name(to_queue)
        _check(
            _lib.corq_redrive(
                self._h(), _name(from_queue), target, max_messages, ctypes.byref(moved)
            )
        )
        return moved.value


# ---- Producer --------------------------------------------------------------------------------------


class Producer(_Handle):
    """Publishes batches to one queue; a batch is accepted whole or not at all. One thread at a
    time. Use as a context manager (or call close())."""

    _kind = "producer"

    def __init__(self, engine, queue):
        self._engine = engine  # keeps the Engine object (and its __del__) behind this handle
        self._handle = None
        self.queue = queue
        handle = _void_p()
        _check(_lib.corq_producer_open(engine._h(), _name(queue), ctypes.byref(handle)))
        self._handle = handle

    def send(self, messages, delay_ms=0, ttl_ms=0, nowait=False, timeout_ms=None, priority=0):
        """Sends a batch: a list whose items are bytes or (bytes, headers). Returns the list of
        their message ids (consecutive)."""
        items = list(messages)
        array = (_Message * max(len(items), 1))()
        keep = []
        for slot, item in zip(array, items):
            if isinstance(item, tuple):
                data, headers = item
            else:
                data, headers = item, None
            keep.append(_fill_message(slot, data, headers))
        options = _publish_options(delay_ms, ttl_ms, nowait, timeout_ms, priority)
        first = _u64()
        rc = _lib.corq_producer_send(
            self._h(), array, len(items), ctypes.byref(options), ctypes.byref(first)
        )
        del keep
        _check(rc)
        return list(range(first.value, first.value + len(items))) if items else []

    def flush(self, timeout_ms=-1):
        """Waits until everything this producer sent is durable."""
        _check(_lib.corq_producer_flush(self._h(), timeout_ms))

    def close(self):
        if self._handle is not None:
            handle, self._handle = self._handle, None
            _lib.corq_producer_close(handle)


# ---- Consumer and deliveries ---------------------------------------------------------------------


class Delivery:
    """One delivery: copies of the message (data, headers) and the way to settle it. Settle it
    exactly once (ack, nack, release or reject); settling again raises Error(ESTATE)."""

    __slots__ = (
        "_consumer", "tag", "message_id", "data", "headers", "delivery_count", "published_at_ms"
    )

    def __init__(self, consumer, raw):
        self._consumer = consumer
        self.tag = raw.tag
        self.message_id = raw.message_id
        self.data = ctypes.string_at(raw.data, raw.len) if raw.len else b""
        self.headers = _copy_headers(raw)
        self.delivery_count = raw.delivery_count
        self.published_at_ms = raw.published_at_ms

    def ack(self):
        """Done: the message leaves the queue."""
        _check(_lib.corq_ack(self._consumer._h(), self.tag))

    def nack(self, delay_ms=-1):
        """A failed attempt: retried after delay_ms (-1: the queue's backoff), or dead-lettered
        (x-death-reason max_attempts) once the attempts reach max_attempts."""
        _check(_lib.corq_nack(self._consumer._h(), self.tag, delay_ms))

    def release(self):
        """Hands the message back unprocessed (not a failed attempt): ready again at once."""
        _check(_lib.corq_release(self._consumer._h(), self.tag))

    def reject(self, reason=None):
        """Poison: dead-lettered at once (x-death-reason rejected; reason as x-death-detail)."""
        text = None if reason is None else _text(reason, "reason")
        _check(_lib.corq_reject(self._consumer._h(), self.tag, text))

    def extend(self, lease_ms):
        """Sets this delivery's lease to expire lease_ms from now."""
        _check(_lib.corq_extend(self._consumer._h(), self.tag, lease_ms))

    def __repr__(self):
        return "<corq.Delivery tag=%d message_id=%d len=%d delivery_count=%d>" % (
            self.tag, self.message_id, len(self.data), self.delivery_count
        )


class Consumer(_Handle):
    """Takes deliveries from one queue through a window of `prefetch` unsettled deliveries.
    One thread at a time, except wakeup(). Closing releases what is still unsettled.

        with engine.consumer("jobs", 16) as consumer:
            for delivery in consumer:        # until wakeup() or the engine closes
                handle(delivery.data)
                delivery.ack()
    """

    _kind = "consumer"

    def __init__(self, engine, queue, prefetch=64):
        self._engine = engine
        self._handle = None
        self.queue = queue
        self.prefetch = prefetch
        if not 1 <= prefetch <= 65536:  # the C check, before ctypes truncates to uint32
            raise Error(EINVAL, "prefetch must be in [1, 65536], got %d" % prefetch)
        handle = _void_p()
        _check(_lib.corq_consumer_open(engine._h(), _name(queue), prefetch, ctypes.byref(handle)))
        self._handle = handle
        self._buffer = (_DeliveryC * min(prefetch, _BATCH_MAX))()

    def _consume(self, max_count, timeout_ms):
        """corq_consume into the buffer in waits of at most _WAIT_SLICE_MS; returns the count
        (0: timed out, or the window is full — corq_consume then returns 0 at once)."""
        if timeout_ms < -1:
            raise Error(EINVAL, "timeout_ms must be -1 or >= 0, got %d" % timeout_ms)
        max_count = min(max_count, len(self._buffer))
        deadline = None if timeout_ms == -1 else time.monotonic() + timeout_ms / 1000.0
        while True:
            wait_ms = _WAIT_SLICE_MS
            if deadline is not None:
                left_ms = math.ceil((deadline - time.monotonic()) * 1000.0)
                wait_ms = max(0, min(left_ms, _WAIT_SLICE_MS))
            started = time.monotonic()
            n = _check(_lib.corq_consume(self._h(), self._buffer, max_count, wait_ms))
            if n > 0 or wait_ms == 0:
                return n
            # A wait that ends without a delivery ends at its deadline; one that ends well before
            # it found the window full.
            if (time.monotonic() - started) * 1000.0 < wait_ms / 2:
                return 0
            if deadline is not None and time.monotonic() >= deadline:
                return 0

    def consume(self, timeout_ms=-1):
        """The next Delivery, waiting up to timeout_ms (0 polls, -1 no limit); None on timeout or
        when the window is full. Error(ECLOSED) after wakeup() or engine close."""
        if self._consume(1, timeout_ms) == 0:
            return None
        return Delivery(self, self._buffer[0])

    def consume_many(self, max_count, timeout_ms=-1):
        """Up to max_count deliveries (as many as are ready, bounded by the free window and by 1024),
        waiting up to timeout_ms for the first; [] on timeout."""
        if max_count <= 0:
            raise Error(EINVAL, "max_count must be > 0, got %d" % max_count)
        n = self._consume(max_count, timeout_ms)
        return [Delivery(self, self._buffer[i]) for i in range(n)]

    def __iter__(self):
        """Yields deliveries until wakeup() or the engine closes (ECLOSED ends the iteration;
        other errors, such as ENOENT for a deleted queue, are raised). A full window waits for
        the holder to settle, so settle what you take."""
        while True:
            try:
                delivery = self.consume(-1)
            except Error as error:
                if error.code == ECLOSED:
                    return
                raise
            if delivery is not None:
                yield delivery
            else:
                time.sleep(_WINDOW_FULL_SLEEP_S)  # window full: wait for a lease to expire

    def wakeup(self):
        """Any thread: the current consume and every later one end with ECLOSED (iteration stops);
        settling still works, for a graceful stop."""
        _check(_lib.corq_consumer_wakeup(self._h()))

    def interrupt(self):
        """Any thread, one-shot: the consume waiting now (or else the next one) returns no delivery
        at once; the consumer stays usable (unlike wakeup)."""
        _check(_lib.corq_consumer_interrupt(self._h()))

    def close(self):
        """Releases unsettled deliveries and frees the handle (idempotent)."""
        if self._handle is not None:
            handle, self._handle = self._handle, None
            _check(_lib.corq_consumer_close(handle))


# ---- Streams: producer, records and reader ---------------------------------------------------------



class GroupConsumer(Consumer):
    """A member of a stream's consumer group (Engine.group_consumer): a Consumer in every way, whose
    deliveries are the stream's records. Closing it leaves the group (its unsettled deliveries are
    released to the other members)."""

    def __init__(self, engine, stream, group, **options):
        self._engine = engine
        self._handle = None
        self.queue = stream
        self.group = group
        self.prefetch = int(options.get("prefetch", 256))
        handle = _void_p()
        with _Config(options) as config:
            _check(
                _lib.corq_group_consumer_open(
                    engine._h(), _name(stream, "stream name"), _name(group, "group name"),
                    config.handle, ctypes.byref(handle),
                )
            )
        self._handle = handle
        self._buffer = (_DeliveryC * min(max(self.prefetch, 1), _BATCH_MAX))()

class StreamProducer(_Handle):
    """Appends atomic batches to one stream, each batch to one partition. One thread at a time.
    Use as a context manager (or call close())."""

    _kind = "stream producer"

    def __init__(self, engine, stream):
        self._engine = engine  # keeps the Engine object (and its __del__) behind this handle
        self._handle = None
        self.stream = stream
        handle = _void_p()
        _check(
            _lib.corq_stream_producer_open(
                engine._h(), _name(stream, "stream name"), ctypes.byref(handle)
            )
        )
        self._handle = handle

    def send(self, messages, key=None, dedup_id=None, nowait=False, timeout_ms=None):
        """Appends a batch (a non-empty list whose items are bytes or (bytes, headers)) to the
        partition `key` picks (None: the next in round robin), all or none, with consecutive
        offsets and one timestamp; every record carries the key. dedup_id names the whole batch
        (within the stream's dedup_window_ms a repeat appends nothing). Returns
        AppendedBatch(partition, first_offset)."""
        items = list(messages)
        array = (_Message * max(len(items), 1))()
        keep = []
        for index, (slot, item) in enumerate(zip(array, items)):
            if isinstance(item, tuple):
                data, headers = item
            else:
                data, headers = item, None
            keep.append(_fill_message(slot, data, headers, dedup_id if index == 0 else None))
        key = _key(key)
        options = _stream_options(nowait, timeout_ms)
        partition, first = _u32(), _u64()
        rc = _lib.corq_stream_producer_send(
            self._h(), key, 0 if key is None else len(key), array, len(items),
            ctypes.byref(options), ctypes.byref(partition), ctypes.byref(first),
        )
        del keep
        _check(rc)
        return AppendedBatch(partition.value, first.value)

    def close(self):
        """Frees the handle (idempotent)."""
        if self._handle is not None:
            handle, self._handle = self._handle, None
            _check(_lib.corq_stream_producer_close(handle))


class StreamRecord:
    """One record of a stream: its place, append time and copies of its key, data and headers
    (they stay readable after the reader's next read)."""

    __slots__ = ("partition", "offset", "timestamp_ms", "key", "data", "headers")

    def __init__(self, raw):
        self.partition = raw.partition
        self.offset = raw.offset
        self.timestamp_ms = raw.timestamp_ms  # the append time, unix ms
        if raw.key is None:
            self.key = None  # appended without a key
        else:
            self.key = ctypes.string_at(raw.key, raw.key_len) if raw.key_len else b""
        self.data = ctypes.string_at(raw.data, raw.len) if raw.len else b""
        self.headers = _copy_headers(raw)

    def __repr__(self):
        return "<corq.StreamRecord partition=%d offset=%d key=%r len=%d>" % (
            self.partition, self.offset, self.key, len(self.data)
        )


class StreamReader(_Handle):
    """Reads one partition of a stream from a start position on and follows its tail. One thread
    at a time, except wakeup(). Use as a context manager (or call close()).

        with engine.stream_reader("clicks", partition=0, start="offset:100") as reader:
            while running:
                for record in reader.read(max=100, timeout_ms=1000):
                    handle(record.offset, record.data)
    """

    _kind = "stream reader"

    def __init__(self, engine, stream, partition=0, start="earliest"):
        self._engine = engine
        self._handle = None
        self.stream = stream
        self.partition = partition
        self._woken = False
        if not 0 <= partition <= 0xFFFFFFFF:  # before ctypes truncates it to uint32
            raise Error(EINVAL, "partition must be in [0, 4294967295], got %d" % partition)
        handle = _void_p()
        _check(
            _lib.corq_stream_reader_open(
                engine._h(), _name(stream, "stream name"), partition, _text(start, "start"),
                ctypes.byref(handle),
            )
        )
        self._handle = handle
        self._buffer = None

    def read(self, max=_BATCH_MAX, timeout_ms=-1):
        """Up to `max` records (at most 1024 per call) from the reader's position on, waiting up
        to timeout_ms (0 polls, -1 no limit) for the first; [] on timeout or after wakeup().
        If retention deleted records before they were read, the read goes on at the first
        retained one and `skipped` counts them. Error(ENOENT) once the stream is deleted,
        Error(ECLOSED) once the engine is closed."""
        if max <= 0:
            raise Error(EINVAL, "max must be > 0, got %d" % max)
        if timeout_ms < -1:
            raise Error(EINVAL, "timeout_ms must be -1 or >= 0, got %d" % timeout_ms)
        handle = self._h()
        count = min(max, _BATCH_MAX)
        if self._buffer is None or len(self._buffer) < count:
            self._buffer = (_StreamRecordC * count)()
        # Waits are cut into slices of _WAIT_SLICE_MS (Ctrl-C is seen between them). A wakeup
        # also ends a slice with 0: self._woken, set by wakeup() before it wakes corq, tells it
        # from a slice that ran out (a late wakeup corq still holds then ends the next slice at
        # once, and the loop goes on).
        deadline = None if timeout_ms == -1 else time.monotonic() + timeout_ms / 1000.0
        while True:
            wait_ms = _WAIT_SLICE_MS
            if deadline is not None:
                left_ms = math.ceil((deadline - time.monotonic()) * 1000.0)
                wait_ms = 0 if left_ms <= 0 else min(left_ms, _WAIT_SLICE_MS)
            n = _check(_lib.corq_stream_read(handle, self._buffer, count, wait_ms))
            if n > 0:
                return [StreamRecord(self._buffer[i]) for i in range(n)]
            if wait_ms == 0:
                return []  # a poll, or the deadline: a pending wakeup is left for a wait
            if self._woken:
                self._woken = False
                return []
            if deadline is not None and time.monotonic() >= deadline:
                return []

    @property
    def skipped(self):
        """Records this reader skipped because retention deleted them before it read them."""
        return _lib.corq_stream_reader_skipped(self._h())

    def wakeup(self):
        """Any thread: a waiting read returns [] at once (or the next read that would wait)."""
        handle = self._h()
        self._woken = True
        _check(_lib.corq_stream_reader_wakeup(handle))

    def close(self):
        """Frees the handle (idempotent)."""
        if self._handle is not None:
            handle, self._handle = self._handle, None
            _check(_lib.corq_stream_reader_close(handle))


# ---- Transactions ----------------------------------------------------------------------------------


# The widest commit timeout corq_txn_commit takes (an int32_t; -1 is no limit).
_TIMEOUT_MS_MAX = 2**31 - 1


def _commit_timeout(timeout_ms):
    """A commit timeout: None is the publish default, else -1 or 0..2**31-1 (EINVAL otherwise,
    before ctypes would truncate it)."""
    if timeout_ms is None:
        return PUBLISH_TIMEOUT_MS_DEFAULT
    if not isinstance(timeout_ms, int) or isinstance(timeout_ms, bool):
        raise TypeError("timeout_ms must be an int or None, not %s" % type(timeout_ms).__name__)
    if not -1 <= timeout_ms <= _TIMEOUT_MS_MAX:
        raise Error(EINVAL, "timeout_ms must be -1 or in [0, %d], got %d" % (_TIMEOUT_MS_MAX,
                                                                              timeout_ms))
    return timeout_ms


class Transaction(_Handle):
    """Publishes, stream appends and acks applied together or not at all (corq.h "Transactions"):
    from Engine.transaction(). Until commit nothing of it is visible: its messages are not
    delivered, its records not readable, its acks not applied (the deliveries stay in flight with
    their leases running). After a crash all of a committed transaction exists or none of it.

    As a context manager, leaving the block normally commits (with the timeout given to
    Engine.transaction) unless commit() or abort() already ended it; leaving it by an exception
    aborts and re-raises. An operation corq refuses at once (bad argument, unknown queue, exchange,
    stream or tag, a message over max_message_bytes, a limit passed) raises Error and is not part
    of the transaction, which stays usable. commit() ends the transaction whatever it raises, and
    so does abort(); then publish, append, ack and commit raise Error(ECLOSED) and abort() does
    nothing. Dropped without either (no `with`, no call), the garbage collector aborts it.

    One thread at a time: the thread that uses the consumers whose deliveries it acks. Once its
    engine is closed, corq has aborted it: its calls raise ECLOSED."""

    _kind = "transaction"

    def __init__(self, engine, timeout_ms=None):
        self._engine = engine  # keeps the Engine object (and its __del__) behind this handle
        self._handle = None
        self.timeout_ms = _commit_timeout(timeout_ms)
        handle = _void_p()
        _check(_lib.corq_txn_begin(engine._h(), ctypes.byref(handle)))
        self._handle = handle

    def _h(self):
        if self._handle is None:
            raise Error(ECLOSED, "the transaction is no longer open (committed or aborted)")
        return self._handle

    def publish(self, exchange, routing_key, data, headers=None, dedup_id=None, mandatory=False,
                delay_ms=0, ttl_ms=0, priority=0):
        """Adds a publish: exchange "" sends to the queue routing_key names (ENOENT at once if
        there is none), any other exchange routes at commit as publish_to_exchange does (every
        matched queue or none). mandatory=True: a message no queue takes fails the commit (or this
        call, for the default exchange) with EUNROUTABLE. The message is copied; its id is
        assigned at commit (not returned)."""
        message = _Message()
        keep = _fill_message(message, data, headers, dedup_id)
        options = _publish_options(delay_ms, ttl_ms, False, None, priority, mandatory)
        key = _text(routing_key if routing_key is not None else "", "routing key")
        rc = _lib.corq_txn_publish(
            self._h(), _name(exchange, "exchange name"), key, ctypes.byref(message),
            ctypes.byref(options),
        )
        del keep
        _check(rc)

    def append(self, stream, data, key=None, headers=None, dedup_id=None):
        """Adds a stream append of one record (arguments as Engine.append): key picks the
        partition at commit as Engine.append does (None: round robin; b"" is a key); the offset
        is assigned at commit (not returned). ENOENT at once for an unknown stream."""
        message = _Message()
        keep = _fill_message(message, data, headers, dedup_id)
        key = _key(key)
        options = _stream_options(False, None)
        rc = _lib.corq_txn_append(
            self._h(), _name(stream, "stream name"), key, 0 if key is None else len(key),
            ctypes.byref(message), ctypes.byref(options),
        )
        del keep
        _check(rc)

    def ack(self, delivery):
        """Adds the ack of a Delivery its Consumer (or GroupConsumer) holds now; it stays in flight
        until commit. ESTATE at once if the consumer no longer holds it (settled, lease expired)
        or this transaction already acks it; ECLOSED if its consumer is closed."""
        if not isinstance(delivery, Delivery):
            raise TypeError("ack takes a corq.Delivery, not %s" % type(delivery).__name__)
        handle = self._h()
        _check(_lib.corq_txn_ack(handle, delivery._consumer._h(), delivery.tag))

    def commit(self, timeout_ms=None):
        """Applies everything or nothing, and ends the transaction whatever happens. timeout_ms
        (None: the one given to Engine.transaction) bounds the wait for room under overflow=block
        and for durability. Raises Error with nothing applied — ESTATE (an acked delivery is no
        longer held: settled, lease expired, consumer closed), ENOENT (a target was deleted),
        EUNROUTABLE, EFULL, ETOOBIG, ENOSPC, EFAILED — and the acked deliveries stay held;
        ETIMEDOUT or EFAILED while waiting for durability: the outcome is unknown but never
        partial."""
        handle = self._h()
        self._handle = None  # corq_txn_commit frees the transaction whatever it returns
        try:
            timeout_ms = self.timeout_ms if timeout_ms is None else _commit_timeout(timeout_ms)
        except BaseException:
            _lib.corq_txn_abort(handle)
            raise
        _check(_lib.corq_txn_commit(handle, timeout_ms))

    def abort(self):
        """Discards the transaction (its acks are not applied: the deliveries stay held).
        Idempotent; never raises."""
        if self._handle is not None:
            handle, self._handle = self._handle, None
            _lib.corq_txn_abort(handle)

    close = abort  # what _Handle.__del__ calls

    def __exit__(self, exc_type, exc, traceback):
        """Commits on a normal exit (unless already committed or aborted); aborts on an exception,
        which goes on (returns False)."""
        if exc_type is None:
            if self._handle is not None:
                self.commit()
        else:
            self.abort()
        return False
