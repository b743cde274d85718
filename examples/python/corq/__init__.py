"""corq — the Python binding of corq's C API (ctypes, standard library only, typed: PEP 561).

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

Install: `python3 -m venv --system-site-packages V && V/bin/pip install --no-build-isolation
--no-index examples/python` (offline; examples/python/README.md in corq's source tree is this
binding's manual). Or put examples/python on PYTHONPATH: the package needs nothing outside the
standard library.

Finding libcorq (once, at import; corq.library_path says what was loaded):
  1. the path in the CORQ_LIBRARY environment variable (e.g. build/release/engine/libcorq.so); a
     path that does not load is an ImportError, with no fallback;
  2. else pkg-config, when the program ($PKG_CONFIG, default pkg-config) exists and knows corq:
     `pkg-config --variable=libdir corq`, that folder's libcorq.so.0, then its libcorq.so
     (PKG_CONFIG_PATH points pkg-config at a corq.pc of a build tree or a prefix); if neither
     loads, the search goes on;
  3. else the standard paths: the loader's "libcorq.so.0" (LD_LIBRARY_PATH, ld.so.cache, the
     system folders), then ctypes.util.find_library("corq").
Nothing found: an ImportError that lists every attempt.

How the C API maps to Python — errors as corq.Error, options as keyword arguments, headers as
dicts of str to bytes, copies of delivery data, handles as context managers, exchanges, streams,
consumer groups, transactions, request-reply, the log callback and threads — is in that README
(engine/include/corq/corq.h is the manual of the calls themselves). In short:
every failing call raises corq.Error with .code (corq.ENOENT, ...) and .detail (corq_last_error(),
read in the calling thread right after the failing call); timeouts of consume and read are not
errors (None / []). ctypes releases the GIL during every C call, so a blocked call does not stall
other threads, and the binding cuts long consume and read waits into slices so that Ctrl-C is seen.
"""

from __future__ import annotations

import atexit
import ctypes
import ctypes.util
import math
import os
import shutil
import subprocess
import time
import weakref
from types import TracebackType
from typing import (
    Callable,
    ClassVar,
    Dict,
    Iterable,
    Iterator,
    List,
    Mapping,
    NamedTuple,
    Optional,
    Sequence,
    Tuple,
    Type,
    TypedDict,
    TypeVar,
    Union,
    cast,
)

__all__ = [
    "Engine", "Producer", "Consumer", "GroupConsumer", "Delivery", "Published", "Reply", "Error",
    "version", "library_path", "StreamProducer", "StreamReader", "StreamRecord", "Appended",
    "AppendedBatch", "Transaction", "QueueStats", "ExchangeStats", "StreamStats", "GroupStats",
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

# Log levels the log callback receives (CORQ_LOG_*).
LOG_ERROR = 0
LOG_WARN = 1
LOG_INFO = 2
LOG_DEBUG = 3

# Longest single wait inside a consume: a blocking consume is cut into slices this long so that
# Ctrl-C (KeyboardInterrupt) is seen between them; a C call cannot be interrupted from Python.
_WAIT_SLICE_MS = 200
# Most deliveries one consume_many returns (the size of the consumer's buffer of corq_delivery).
_BATCH_MAX = 1024
# Iteration with a full window (deliveries taken but not settled) polls this often, not in a spin.
_WINDOW_FULL_SLEEP_S = 0.01
# The widest timeout an int32_t timeout_ms takes (-1 is no limit).
_TIMEOUT_MS_MAX = 2**31 - 1
# The longest pkg-config may take to answer at import (it answers in milliseconds).
_PKG_CONFIG_TIMEOUT_S = 10
# Room for corq_queue_declare_temp's name ("corq.gen-" and 16 hex digits, and a NUL; at least 32).
_TEMP_NAME_BYTES = 64

# ---- Types the public API takes and gives (for annotations in user code too) --------------------

#: A payload: bytes or any bytes-like object (copied before the call).
BytesLike = Union[bytes, bytearray, memoryview]
#: A name (queue, exchange, stream, group) or other C text: str (UTF-8) or bytes, without NUL.
Name = Union[str, bytes]
#: A header value, binding-argument value or stream key: bytes-like, or str (encoded as UTF-8).
BytesOrText = Union[bytes, bytearray, memoryview, str]
#: Headers to publish: str (or bytes) keys, bytes-like (or str) values.
Headers = Mapping[Name, BytesOrText]
#: An item of a batch (Producer.send, StreamProducer.send): data, or (data, headers).
BatchItem = Union[BytesLike, Tuple[BytesLike, Optional[Headers]]]
#: Binding arguments (headers exchanges): a mapping or (key, value) pairs; None: presence only.
BindingArguments = Union[
    Mapping[Name, Optional[BytesOrText]], Iterable[Tuple[Name, Optional[BytesOrText]]]
]
#: An option value: passed to corq_config_set as text (True/False as "true"/"false").
OptionValue = Union[str, int, float, bool]
#: The log callback: (level, message), level one of LOG_ERROR..LOG_DEBUG.
LogCallback = Callable[[int, str], None]


# ---- Loading the library -------------------------------------------------------------------------


def _pkg_config_libdir(attempts: List[str]) -> Optional[str]:
    """The libdir pkg-config gives for corq, or None (noted in attempts) when the program is
    missing, does not know corq or fails."""
    program = os.environ.get("PKG_CONFIG") or "pkg-config"
    found = shutil.which(program)
    if found is None:
        attempts.append("pkg-config: no program %r" % program)
        return None
    try:
        answer = subprocess.run(
            [found, "--variable=libdir", "corq"], stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, timeout=_PKG_CONFIG_TIMEOUT_S, check=False,
        )
    except (OSError, subprocess.SubprocessError) as error:
        attempts.append("pkg-config: %s" % error)
        return None
    libdir = answer.stdout.decode("utf-8", "surrogateescape").strip()
    if answer.returncode != 0 or not libdir:
        attempts.append("pkg-config does not know corq (PKG_CONFIG_PATH=%s)"
                        % os.environ.get("PKG_CONFIG_PATH", ""))
        return None
    return libdir


def _load_library() -> Tuple[ctypes.CDLL, str]:
    """The library and what it was loaded as, in the order of the module docstring."""
    path = os.environ.get("CORQ_LIBRARY")
    if path:
        try:
            return ctypes.CDLL(path), path
        except OSError as error:
            raise ImportError(
                "corq: cannot load the library CORQ_LIBRARY names (%s): %s" % (path, error)
            ) from error
    attempts: List[str] = []
    candidates: List[str] = []
    libdir = _pkg_config_libdir(attempts)
    if libdir is not None:
        candidates += [os.path.join(libdir, "libcorq.so.0"), os.path.join(libdir, "libcorq.so")]
    candidates.append("libcorq.so.0")
    for name in candidates:
        try:
            return ctypes.CDLL(name), name
        except OSError as error:
            attempts.append(str(error))
    found = ctypes.util.find_library("corq")  # last: it may run ldconfig or a compiler
    if found:
        try:
            return ctypes.CDLL(found), found
        except OSError as error:
            attempts.append(str(error))
    else:
        attempts.append('ctypes.util.find_library("corq") found nothing')
    raise ImportError(
        "corq: cannot find libcorq: set CORQ_LIBRARY to the path of libcorq.so, or PKG_CONFIG_PATH "
        "to the folder of its corq.pc (tried: " + "; ".join(attempts) + ")"
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


class _ReplyC(ctypes.Structure):
    """corq_reply: owned by the caller until corq_reply_free."""

    _fields_ = [
        ("data", _void_p),
        ("len", _size_t),
        ("headers", ctypes.POINTER(_DeliveredHeader)),
        ("header_count", _size_t),
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


# corq_log_fn: void (*)(void *user, int level, const char *message).
_LogFn = ctypes.CFUNCTYPE(None, _void_p, ctypes.c_int, ctypes.c_char_p)


def _declare(name: str, restype: object, *argtypes: object) -> None:
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
_declare("corq_set_log_callback", _int, _void_p, _LogFn, _void_p)
_declare("corq_queue_declare", _int, _void_p, _char_p, _void_p)
_declare("corq_queue_declare_temp", _int, _void_p, _void_p, _char_p, _size_t)
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
_declare("corq_wait_durable", _int, _void_p, _u64, _i32)
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
_declare("corq_ack_upto", _int, _void_p, _u64)
_declare("corq_nack", _int, _void_p, _u64, _i64)
_declare("corq_release", _int, _void_p, _u64)
_declare("corq_reject", _int, _void_p, _u64, _char_p)
_declare("corq_extend", _int, _void_p, _u64, _i64)
_declare("corq_consumer_wakeup", _int, _void_p)
_declare("corq_consumer_interrupt", _int, _void_p)
_declare("corq_consumer_close", _int, _void_p)
_declare(
    "corq_request",
    _int,
    _void_p,
    _char_p,
    _char_p,
    ctypes.POINTER(_Message),
    _i32,
    ctypes.POINTER(ctypes.POINTER(_ReplyC)),
)
_declare("corq_reply_free", None, ctypes.POINTER(_ReplyC))
_declare("corq_respond", _int, _void_p, _u64, ctypes.POINTER(_Message))
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


def version() -> str:
    """The linked library's version string, e.g. "0.1.0"."""
    return cast(bytes, _lib.corq_version_string()).decode()


# ---- Errors ----------------------------------------------------------------------------------------


class Error(Exception):
    """A failed corq call. .code is the CORQ_E* value (corq.ENOENT, ...), .name its name
    ("CORQ_ENOENT"), .description the code's meaning (corq_strerror) and .detail the detail message
    (corq_last_error)."""

    code: int
    detail: str
    description: str
    name: str

    def __init__(self, code: int, detail: str) -> None:
        self.code = code
        self.detail = detail
        # "CORQ_ENOENT: no such queue ..."
        self.description = cast(bytes, _lib.corq_strerror(code)).decode()
        self.name = self.description.split(":", 1)[0]
        super().__init__("%s: %s" % (self.description, detail) if detail else self.description)


def _check(rc: int) -> int:
    """Raises Error for a negative code. Must run right after the C call, in the same thread:
    corq_last_error is thread-local and overwritten by the thread's next failing call."""
    if rc < 0:
        raise Error(rc, cast(bytes, _lib.corq_last_error()).decode("utf-8", "replace"))
    return rc


def _closed(what: str) -> Error:
    return Error(ECLOSED, "%s is closed" % what)


# ---- Conversions -----------------------------------------------------------------------------------


def _name(queue: Name, what: str = "queue name") -> bytes:
    """A queue or exchange name as C text (corq checks the characters; a NUL would cut it short)."""
    if isinstance(queue, str):
        queue = queue.encode()
    if not isinstance(queue, bytes):
        raise TypeError("%s must be str or bytes, not %s" % (what, type(queue).__name__))
    if b"\0" in queue:
        raise Error(EINVAL, "%s contains a NUL byte" % what)
    return queue


def _text(value: Name, what: str) -> bytes:
    """A C string argument (header key, dedup id, reject reason)."""
    if isinstance(value, str):
        value = value.encode("utf-8", "surrogateescape")
    if not isinstance(value, bytes):
        raise TypeError("%s must be str or bytes, not %s" % (what, type(value).__name__))
    if b"\0" in value:
        raise Error(EINVAL, "%s contains a NUL byte" % what)
    return value


def _payload(data: BytesOrText, what: str = "data") -> bytes:
    """Bytes of a payload (str only where `what` is not the message data: encoded as UTF-8)."""
    if isinstance(data, str):
        if what == "data":
            raise TypeError("data must be bytes-like, not str (encode it)")
        return data.encode()
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    if not isinstance(data, bytes):
        raise TypeError("%s must be bytes-like, not %s" % (what, type(data).__name__))
    return data


def _option_text(value: OptionValue) -> bytes:
    if isinstance(value, bool):
        return b"true" if value else b"false"
    return str(value).encode()


def _timeout(timeout_ms: int, what: str = "timeout_ms") -> int:
    """A wait's timeout for an int32_t: -1 (no limit) or 0..2**31-1, checked before ctypes would
    truncate it (EINVAL otherwise)."""
    if not isinstance(timeout_ms, int) or isinstance(timeout_ms, bool):
        raise TypeError("%s must be an int, not %s" % (what, type(timeout_ms).__name__))
    if not -1 <= timeout_ms <= _TIMEOUT_MS_MAX:
        raise Error(EINVAL, "%s must be -1 or in [0, %d], got %d" % (what, _TIMEOUT_MS_MAX,
                                                                    timeout_ms))
    return timeout_ms


class _Config:
    """A corq_config filled from keyword options; freed on exit."""

    handle: Optional[int]

    def __init__(self, options: Mapping[str, OptionValue]) -> None:
        self.handle = _lib.corq_config_new()
        if not self.handle:
            raise Error(ENOMEM, "corq_config_new")
        try:
            for key, value in options.items():
                _check(_lib.corq_config_set(self.handle, key.encode(), _option_text(value)))
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self.handle:
            _lib.corq_config_free(self.handle)
            self.handle = None

    def __enter__(self) -> _Config:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_HeaderArray = Optional["ctypes.Array[_Header]"]


def _headers_array(headers: Optional[Headers]) -> Tuple[_HeaderArray, int]:
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


def _arguments_array(arguments: Optional[BindingArguments]) -> Tuple[_HeaderArray, int]:
    """A ctypes array of corq_header for binding arguments: a dict or an iterable of (key, value)
    pairs (None/empty: NULL, 0). A value of None stays a NULL pointer: the C API's presence-only
    argument. Pairs keep their order and may repeat a key, which corq then judges."""
    if not arguments:
        return None, 0
    pairs: List[object] = list(
        arguments.items() if isinstance(arguments, Mapping) else arguments
    )
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


def _fill_message(
    message: _Message,
    data: BytesLike,
    headers: Optional[Headers] = None,
    dedup_id: Optional[Name] = None,
) -> Tuple[bytes, _HeaderArray]:
    """Fills a _Message; returns what must stay alive until the C call returns."""
    payload = _payload(data)
    array, count = _headers_array(headers)
    message.data = payload
    message.len = len(payload)
    message.headers = array
    message.header_count = count
    message.dedup_id = None if dedup_id is None else _text(dedup_id, "dedup_id")
    return (payload, array)


def _fill_batch(
    items: Sequence[BatchItem], dedup_id: Optional[Name] = None
) -> Tuple[ctypes.Array[_Message], List[Tuple[bytes, _HeaderArray]]]:
    """A ctypes array of messages for a batch (items: data or (data, headers)); dedup_id goes on
    the first. Returns the array and what must stay alive until the C call returns."""
    array = (_Message * max(len(items), 1))()
    keep = []
    for index, (slot, item) in enumerate(zip(array, items)):
        if isinstance(item, tuple):
            data, headers = item
        else:
            data, headers = item, None
        keep.append(_fill_message(slot, data, headers, dedup_id if index == 0 else None))
    return array, keep


def _publish_options(
    delay_ms: int,
    ttl_ms: int,
    nowait: bool,
    timeout_ms: Optional[int],
    priority: int = 0,
    mandatory: bool = False,
) -> _PublishOptions:
    return _PublishOptions(
        ctypes.sizeof(_PublishOptions),
        (PUBLISH_NOWAIT if nowait else 0) | (PUBLISH_MANDATORY if mandatory else 0),
        PUBLISH_TIMEOUT_MS_DEFAULT if timeout_ms is None else timeout_ms,
        delay_ms,
        ttl_ms,
        priority,
    )


class Published(NamedTuple):
    """What publish_to_exchange returns: the message's id (one for every copy) and how many queues
    took it (0: unroutable and dropped, or every target had seen its dedup_id)."""

    message_id: int
    routed: int


class Appended(NamedTuple):
    """What append returns: where the record went (for a deduplicated append, where the original
    went)."""

    partition: int
    offset: int


class AppendedBatch(NamedTuple):
    """What StreamProducer.send returns: the batch's partition and its first record's offset (the
    others follow consecutively; a deduplicated batch: the original's)."""

    partition: int
    first_offset: int


class Reply(NamedTuple):
    """What Engine.request returns: copies of the response's payload and headers (x-correlation-id
    included)."""

    data: bytes
    headers: Dict[str, bytes]


class QueueStats(TypedDict):
    """Engine.stats: one queue's counters (corq_queue_stats; corq.h says what each counts)."""

    ready: int
    in_flight: int
    delayed: int
    consumers: int
    bytes_ready: int
    published: int
    delivered: int
    acked: int
    nacked: int
    released: int
    redelivered: int
    dead_lettered: int
    expired: int
    dropped: int
    deduplicated: int
    oldest_ready_age_ms: int
    purged: int
    redriven: int


class ExchangeStats(TypedDict):
    """Engine.exchange_stats: one exchange's counters (corq_exchange_stats)."""

    bindings: int
    published: int
    routed: int
    unroutable: int
    alternated: int


class StreamStats(TypedDict):
    """Engine.stream_stats: one stream's counters (corq_stream_stats)."""

    partitions: int
    records: int
    bytes: int
    appended: int
    deleted: int
    deduplicated: int
    groups: int


class GroupStats(TypedDict):
    """Engine.group_stats: one consumer group's counters (corq_group_stats)."""

    members: int
    lag: int
    in_flight: int
    delivered: int
    acked: int
    nacked: int
    dead_lettered: int
    skipped: int


def _key(key: Optional[BytesOrText]) -> Optional[bytes]:
    """A stream key: None (no key) or bytes (str encoded as UTF-8; b"" is a key)."""
    if key is None:
        return None
    return _payload(key, "key")


def _stream_options(nowait: bool, timeout_ms: Optional[int]) -> _PublishOptions:
    """The publish options a stream takes: flags and timeout_ms (a delay, TTL or priority is
    EINVAL for a stream, so they are not offered)."""
    return _publish_options(0, 0, nowait, timeout_ms)


def _copy_headers(raw: Union[_DeliveryC, _StreamRecordC, _ReplyC]) -> Dict[str, bytes]:
    headers = {}
    for i in range(raw.header_count):
        h = raw.headers[i]
        key = h.key.decode("utf-8", "surrogateescape")
        headers[key] = ctypes.string_at(h.value, h.value_len) if h.value_len else b""
    return headers


def _copy_data(raw: Union[_DeliveryC, _StreamRecordC, _ReplyC]) -> bytes:
    return ctypes.string_at(raw.data, raw.len) if raw.len else b""


# ---- Handles ---------------------------------------------------------------------------------------

_HandleT = TypeVar("_HandleT", bound="_Handle")


class _Handle:
    """What Engine, Producer and Consumer share: one C handle in self._handle (None once closed),
    the subclass's close() to free it (idempotent), use as a context manager, and __del__ as a
    safety net only: close() or `with` free the handle deterministically."""

    _kind: ClassVar[str] = "handle"  # the subclass's name in the ECLOSED message
    _handle: Optional[ctypes.c_void_p]

    def _h(self) -> ctypes.c_void_p:
        if self._handle is None:
            raise _closed(self._kind)
        return self._handle

    @property
    def closed(self) -> bool:
        """True once close() (or the end of the `with` block) freed the handle."""
        return self._handle is None

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self: _HandleT) -> _HandleT:
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]] = None,
        exc: Optional[BaseException] = None,
        traceback: Optional[TracebackType] = None,
    ) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_handle", None) is not None:
            try:
                self.close()
            except Exception:  # at interpreter exit the module may be half torn down
                pass


# ---- Engine ----------------------------------------------------------------------------------------

# Engines with a log callback set. At interpreter exit their callbacks are removed first (while
# Python still runs): engine threads must not enter a Python function during finalization.
_engines_logging: weakref.WeakSet[Engine] = weakref.WeakSet()


@atexit.register
def _remove_log_callbacks() -> None:
    for engine in list(_engines_logging):
        try:
            engine.set_log_callback(None)
        except Exception:  # closed meanwhile, or torn down: nothing to remove
            pass


class Engine(_Handle):
    """The queues. Engine() is in memory; Engine(dir="/var/lib/app/queue") stores durable queues
    in a directory (this build may answer EUNSUPPORTED). Keyword options are engine options
    (max_message_bytes="4MiB", sync="none", clock="manual", ...). Thread-safe, except close()."""

    _kind = "engine"

    def __init__(
        self, dir: Optional[Union[str, bytes, os.PathLike[str], os.PathLike[bytes]]] = None,
        **options: OptionValue,
    ) -> None:
        self._handle = None
        # The log callback's C thunk: kept as long as this object lives, since corq may call it
        # until corq_close returns (and this object outlives every handle opened from it).
        self._log_thunk: Optional[object] = None
        path = None if dir is None else os.fsencode(dir)
        with _Config(options) as config:
            handle = _void_p()
            _check(_lib.corq_open(path, config.handle, ctypes.byref(handle)))
        self._handle = handle

    def close(self) -> None:
        """Closes the engine (idempotent): wakes blocked consumers and publishers with ECLOSED.
        Open Producer/Consumer objects keep working only for close()."""
        if self._handle is not None:
            handle, self._handle = self._handle, None
            _engines_logging.discard(self)
            _check(_lib.corq_close(handle))

    # -- queues

    def declare(self, queue: Name, **options: OptionValue) -> None:
        """Declares a queue (idempotent with the same options; EEXIST with different ones)."""
        with _Config(options) as config:
            _check(_lib.corq_queue_declare(self._h(), _name(queue), config.handle))

    def declare_temp(self, **options: OptionValue) -> str:
        """Declares a temporary subscriber queue: transient, with a generated unique name
        ("corq.gen-" and 16 hex digits, returned), deleted with its bindings and messages when its
        last consumer closes. No dead-letter queue unless options name one; durable=True and
        auto_delete=False are EINVAL."""
        name = ctypes.create_string_buffer(_TEMP_NAME_BYTES)
        with _Config(options) as config:
            _check(_lib.corq_queue_declare_temp(self._h(), config.handle, name, len(name)))
        return name.value.decode("ascii")

    def delete(self, queue: Name) -> None:
        """Deletes a queue and its messages."""
        _check(_lib.corq_queue_delete(self._h(), _name(queue)))

    def purge(self, queue: Name) -> int:
        """Removes every ready message; returns how many."""
        purged = _u64()
        _check(_lib.corq_queue_purge(self._h(), _name(queue), ctypes.byref(purged)))
        return purged.value

    # -- publishing

    def publish(
        self,
        queue: Name,
        data: BytesLike,
        headers: Optional[Headers] = None,
        dedup_id: Optional[Name] = None,
        delay_ms: int = 0,
        ttl_ms: int = 0,
        nowait: bool = False,
        timeout_ms: Optional[int] = None,
        priority: int = 0,
    ) -> int:
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

    def wait_durable(self, message_id: int, timeout_ms: int = -1) -> None:
        """Waits until the message with this id (published before) is durable: after a nowait
        publish, say. At once on an in-memory engine for any id already assigned; EINVAL for an id
        never assigned, ETIMEDOUT after timeout_ms (-1: no limit)."""
        if not isinstance(message_id, int) or not 0 <= message_id < 2**64:
            raise Error(EINVAL, "message_id must be an id in [0, 2**64), got %r" % (message_id,))
        _check(_lib.corq_wait_durable(self._h(), message_id, _timeout(timeout_ms)))

    def sync(self, timeout_ms: int = -1) -> None:
        """Waits until everything logged so far is durable (at once on an in-memory engine)."""
        _check(_lib.corq_sync(self._h(), _timeout(timeout_ms)))

    @property
    def engine_id(self) -> str:
        """The data directory's UUID (kept in DIR/ENGINE_ID), or this in-memory engine's."""
        out = ctypes.create_string_buffer(37)
        _check(_lib.corq_engine_id(self._h(), out))
        return out.value.decode("ascii")

    def set_log_callback(self, callback: Optional[LogCallback]) -> None:
        """Sends the engine's log lines to callback(level, message) — level is corq.LOG_ERROR,
        LOG_WARN, LOG_INFO or LOG_DEBUG — from whichever engine thread logs (the scheduler, or
        the thread calling close()). None removes it. The callback must be thread-safe and must not
        call corq (corq holds its log lock during the call); an exception it raises is reported
        to sys.unraisablehook and goes no further. Once this returns, the previous callback is no
        longer called; at interpreter exit the callback is removed before Python shuts down."""
        handle = self._h()
        if callback is None:
            _check(_lib.corq_set_log_callback(handle, _LogFn(0), None))  # NULL: none
            self._log_thunk = None  # corq has let go of it: set_log waits out a running call
            _engines_logging.discard(self)
            return
        if not callable(callback):
            raise TypeError("callback must be callable or None, not %s" % type(callback).__name__)

        sink: LogCallback = callback

        def log_line(user: Optional[int], level: int, message: Optional[bytes]) -> None:
            sink(level, (message or b"").decode("utf-8", "replace"))

        thunk = _LogFn(log_line)
        _check(_lib.corq_set_log_callback(handle, thunk, None))
        self._log_thunk = thunk
        _engines_logging.add(self)

    def producer(self, queue: Name) -> Producer:
        """A Producer for batches to one queue (a context manager)."""
        return Producer(self, queue)

    def consumer(self, queue: Name, prefetch: int = 64) -> Consumer:
        """A Consumer of one queue with a window of `prefetch` unsettled deliveries."""
        return Consumer(self, queue, prefetch)

    # -- exchanges and bindings (pub/sub routing)

    def declare_exchange(self, exchange: Name, type: Name, **options: OptionValue) -> None:
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

    def delete_exchange(self, exchange: Name) -> None:
        """Deletes an exchange and every binding from or to it."""
        _check(_lib.corq_exchange_delete(self._h(), _name(exchange, "exchange name")))

    def _binding(
        self,
        call: Callable[..., int],
        source: Name,
        destination: Name,
        destination_kind: str,
        key: Optional[Name],
        arguments: Optional[BindingArguments],
    ) -> None:
        array, count = _arguments_array(arguments)
        routing_key = _text(key if key is not None else "", "binding key")
        _check(
            call(
                self._h(), _name(source, "exchange name"), _name(destination, destination_kind),
                routing_key, array, count,
            )
        )

    def bind(
        self,
        exchange: Name,
        queue: Name,
        key: Optional[Name] = "",
        arguments: Optional[BindingArguments] = None,
    ) -> None:
        """Binds a queue to an exchange with a key (a topic pattern for topic exchanges) and, for
        headers exchanges, arguments (a dict or (key, value) pairs; value None: presence only;
        "x-match": all, any, all-with-x or any-with-x). Binding the same tuple twice is a no-op."""
        self._binding(_lib.corq_bind, exchange, queue, "queue name", key, arguments)

    def unbind(
        self,
        exchange: Name,
        queue: Name,
        key: Optional[Name] = "",
        arguments: Optional[BindingArguments] = None,
    ) -> None:
        """Removes the binding with exactly this key and these arguments (ENOENT if none)."""
        self._binding(_lib.corq_unbind, exchange, queue, "queue name", key, arguments)

    def bind_exchange(
        self,
        source: Name,
        destination: Name,
        key: Optional[Name] = "",
        arguments: Optional[BindingArguments] = None,
    ) -> None:
        """Exchange to exchange: what `source` routes to this binding enters `destination`."""
        self._binding(
            _lib.corq_exchange_bind, source, destination, "exchange name", key, arguments
        )

    def unbind_exchange(
        self,
        source: Name,
        destination: Name,
        key: Optional[Name] = "",
        arguments: Optional[BindingArguments] = None,
    ) -> None:
        """Removes that exchange-to-exchange binding (ENOENT if none)."""
        self._binding(
            _lib.corq_exchange_unbind, source, destination, "exchange name", key, arguments
        )

    def publish_to_exchange(
        self,
        exchange: Name,
        routing_key: Optional[Name],
        data: BytesLike,
        headers: Optional[Headers] = None,
        dedup_id: Optional[Name] = None,
        mandatory: bool = False,
        delay_ms: int = 0,
        ttl_ms: int = 0,
        nowait: bool = False,
        timeout_ms: Optional[int] = None,
        priority: int = 0,
    ) -> Published:
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

    def exchange_stats(self, exchange: Name) -> ExchangeStats:
        """One exchange's counters as a dict: bindings (whose source it is), published (that
        entered it), routed (copies into queues), unroutable, alternated."""
        stats = _ExchangeStats()
        stats.struct_size = ctypes.sizeof(_ExchangeStats)
        _check(
            _lib.corq_exchange_stats_get(
                self._h(), _name(exchange, "exchange name"), ctypes.byref(stats)
            )
        )
        return cast(ExchangeStats, {name: getattr(stats, name) for name in _EXCHANGE_STATS_FIELDS})

    # -- request-reply

    def request(
        self,
        exchange: Name,
        routing_key: Optional[Name],
        data: BytesLike,
        headers: Optional[Headers] = None,
        timeout_ms: int = PUBLISH_TIMEOUT_MS_DEFAULT,
    ) -> Reply:
        """Publishes a request through `exchange` ("": to the queue routing_key names) with the
        headers x-reply-to and x-correlation-id added, and waits up to timeout_ms (-1: no limit,
        and then Ctrl-C is not seen until it returns) for the response a responder sends with
        Delivery.respond. Returns Reply(data, headers). Errors: EUNROUTABLE (no queue took the
        request: no responder), ETIMEDOUT (no response in time; a late one is dropped), ENOENT
        (no such exchange), EFULL, ECLOSED. At most 62 headers of its own."""
        message = _Message()
        keep = _fill_message(message, data, headers)
        key = _text(routing_key if routing_key is not None else "", "routing key")
        reply = ctypes.POINTER(_ReplyC)()
        rc = _lib.corq_request(
            self._h(), _name(exchange, "exchange name"), key, ctypes.byref(message),
            _timeout(timeout_ms), ctypes.byref(reply),
        )
        del keep
        _check(rc)
        try:
            return Reply(_copy_data(reply.contents), _copy_headers(reply.contents))
        finally:
            _lib.corq_reply_free(reply)

    # -- streams (retained, partitioned logs read by offset)

    def declare_stream(self, stream: Name, **options: OptionValue) -> None:
        """Declares a stream; options are partitions (1-1024), retention_ms, retention_bytes,
        retention_records, discard ("old" or "new"), dedup_window_ms, partition_segment_bytes,
        update and durable (true by default on a disk engine: records, offsets and groups survive
        a restart). Idempotent with the same options; EEXIST with others
        (update=True may change the retention limits)."""
        with _Config(options) as config:
            _check(
                _lib.corq_stream_declare(self._h(), _name(stream, "stream name"), config.handle)
            )

    def delete_stream(self, stream: Name) -> None:
        """Deletes a stream and its records; its readers' next read raises ENOENT."""
        _check(_lib.corq_stream_delete(self._h(), _name(stream, "stream name")))

    def append(
        self,
        stream: Name,
        data: BytesLike,
        key: Optional[BytesOrText] = None,
        headers: Optional[Headers] = None,
        dedup_id: Optional[Name] = None,
        nowait: bool = False,
        timeout_ms: Optional[int] = None,
    ) -> Appended:
        """Appends one record; returns Appended(partition, offset). key: bytes (str is encoded)
        picks the partition as Kafka's default partitioner does; None goes round robin; b"" is a
        key. A dedup_id seen within the stream's dedup_window_ms returns where the original went
        and appends nothing."""
        message = _Message()
        keep = _fill_message(message, data, headers, dedup_id)
        key_bytes = _key(key)
        options = _stream_options(nowait, timeout_ms)
        partition, offset = _u32(), _u64()
        rc = _lib.corq_stream_append(
            self._h(), _name(stream, "stream name"), key_bytes,
            0 if key_bytes is None else len(key_bytes), ctypes.byref(message),
            ctypes.byref(options), ctypes.byref(partition), ctypes.byref(offset),
        )
        del keep
        _check(rc)
        return Appended(partition.value, offset.value)

    # -- transactions (publishes, appends and acks applied together or not at all)

    def transaction(self, timeout_ms: Optional[int] = None) -> Transaction:
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

    def stream_producer(self, stream: Name) -> StreamProducer:
        """A StreamProducer for atomic batches to one stream (a context manager)."""
        return StreamProducer(self, stream)

    def stream_reader(
        self, stream: Name, partition: int = 0, start: Name = "earliest"
    ) -> StreamReader:
        """A StreamReader of one partition (a context manager) from `start`: "earliest" (the first
        retained record), "latest" (the next one appended), "offset:N" or "time:MS" (the first
        record appended at or after MS, unix ms)."""
        return StreamReader(self, stream, partition, start)

    def stream_stats(self, stream: Name) -> StreamStats:
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
        return cast(StreamStats, result)

    # -- consumer groups (a member is a Consumer whose deliveries are the stream's records)

    def group_consumer(self, stream: Name, group: Name, **options: OptionValue) -> GroupConsumer:
        """A member of consumer group `group` of `stream` (created by its first member, whose
        options define it: mode ordered|shared|key_ordered, prefetch, start, max_attempts,
        retry_delay_ms, retry_backoff, retry_delay_max_ms, lease_ms, dead_letter_queue). A
        delivery's message_id is the record's offset; its headers add x-stream-partition,
        x-stream-offset and x-stream-key."""
        return GroupConsumer(self, stream, group, **options)

    def group_seek(self, stream: Name, group: Name, start: Name, partition: int = -1) -> None:
        """Moves the group on `partition` (-1: all) to `start` (earliest, latest, offset:N,
        time:MS); deliveries out for those partitions become stale (ESTATE when settled)."""
        _check(
            _lib.corq_group_seek(
                self._h(), _name(stream, "stream name"), _name(group, "group name"), partition,
                _name(start, "start"),
            )
        )

    def group_delete(self, stream: Name, group: Name) -> None:
        """Deletes the group; its members' next calls raise ENOENT."""
        _check(
            _lib.corq_group_delete(self._h(), _name(stream, "stream name"), _name(group, "group name"))
        )

    def group_stats(self, stream: Name, group: Name) -> GroupStats:
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
        return cast(GroupStats, result)

    # -- observability and dead letters

    def stats(self, queue: Name) -> QueueStats:
        """One queue's counters as a dict (the fields of corq_queue_stats)."""
        stats = _QueueStats()
        stats.struct_size = ctypes.sizeof(_QueueStats)
        _check(_lib.corq_queue_stats_get(self._h(), _name(queue), ctypes.byref(stats)))
        result = {name: getattr(stats, name) for name in _STATS_FIELDS}
        result["oldest_ready_age_ms"] = stats.oldest_ready_age_ms
        for name in _STATS_FIELDS_LATER:
            result[name] = getattr(stats, name)
        return cast(QueueStats, result)

    def stats_json(self) -> str:
        """Every queue's stats and options as JSON text (json.loads it)."""
        text = _void_p()
        _check(_lib.corq_stats_json(self._h(), ctypes.byref(text)))
        try:
            return ctypes.string_at(text).decode()
        finally:
            _lib.corq_free(text)

    def redrive(self, from_queue: Name, to_queue: Optional[Name] = None,
                max_messages: int = 0) -> int:
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
    queue: Name

    def __init__(self, engine: Engine, queue: Name) -> None:
        self._engine = engine  # keeps the Engine object (and its __del__) behind this handle
        self._handle = None
        self.queue = queue
        handle = _void_p()
        _check(_lib.corq_producer_open(engine._h(), _name(queue), ctypes.byref(handle)))
        self._handle = handle

    def send(
        self,
        messages: Iterable[BatchItem],
        delay_ms: int = 0,
        ttl_ms: int = 0,
        nowait: bool = False,
        timeout_ms: Optional[int] = None,
        priority: int = 0,
    ) -> List[int]:
        """Sends a batch: a list whose items are bytes or (bytes, headers). Returns the list of
        their message ids (consecutive)."""
        items = list(messages)
        array, keep = _fill_batch(items)
        options = _publish_options(delay_ms, ttl_ms, nowait, timeout_ms, priority)
        first = _u64()
        rc = _lib.corq_producer_send(
            self._h(), array, len(items), ctypes.byref(options), ctypes.byref(first)
        )
        del keep
        _check(rc)
        return list(range(first.value, first.value + len(items))) if items else []

    def flush(self, timeout_ms: int = -1) -> None:
        """Waits until everything this producer sent is durable."""
        _check(_lib.corq_producer_flush(self._h(), _timeout(timeout_ms)))

    def close(self) -> None:
        """Frees the handle (idempotent)."""
        if self._handle is not None:
            handle, self._handle = self._handle, None
            _lib.corq_producer_close(handle)


# ---- Consumer and deliveries ---------------------------------------------------------------------


class Delivery:
    """One delivery: copies of the message (data, headers) and the way to settle it. Settle it
    exactly once (ack, nack, release, reject, or respond for a request); settling again raises
    Error(ESTATE)."""

    __slots__ = (
        "_consumer", "tag", "message_id", "data", "headers", "delivery_count", "published_at_ms"
    )
    _consumer: Consumer
    tag: int  # names this delivery within its consumer; increases per consumer
    message_id: int  # a group member's delivery: the record's offset
    data: bytes
    headers: Dict[str, bytes]
    delivery_count: int  # 1 on the first delivery; counts every delivery, released ones too
    published_at_ms: int  # unix time of the publish

    def __init__(self, consumer: Consumer, raw: _DeliveryC) -> None:
        self._consumer = consumer
        self.tag = raw.tag
        self.message_id = raw.message_id
        self.data = _copy_data(raw)
        self.headers = _copy_headers(raw)
        self.delivery_count = raw.delivery_count
        self.published_at_ms = raw.published_at_ms

    def ack(self) -> None:
        """Done: the message leaves the queue."""
        _check(_lib.corq_ack(self._consumer._h(), self.tag))

    def nack(self, delay_ms: int = -1) -> None:
        """A failed attempt: retried after delay_ms (-1: the queue's backoff), or dead-lettered
        (x-death-reason max_attempts) once the attempts reach max_attempts."""
        _check(_lib.corq_nack(self._consumer._h(), self.tag, delay_ms))

    def release(self) -> None:
        """Hands the message back unprocessed (not a failed attempt): ready again at once."""
        _check(_lib.corq_release(self._consumer._h(), self.tag))

    def reject(self, reason: Optional[Name] = None) -> None:
        """Poison: dead-lettered at once (x-death-reason rejected; reason as x-death-detail)."""
        text = None if reason is None else _text(reason, "reason")
        _check(_lib.corq_reject(self._consumer._h(), self.tag, text))

    def extend(self, lease_ms: int) -> None:
        """Sets this delivery's lease to expire lease_ms from now."""
        _check(_lib.corq_extend(self._consumer._h(), self.tag, lease_ms))

    def respond(self, data: BytesLike, headers: Optional[Headers] = None) -> None:
        """Answers this request (from Engine.request): sends the response, with the request's
        x-correlation-id added, to the requester's reply queue, then acks the request. EINVAL for
        a delivery that is no request (no x-reply-to; nothing acked), EFULL when the reply queue is
        full (nothing acked). A response whose requester stopped waiting is dropped and counted."""
        message = _Message()
        keep = _fill_message(message, data, headers)
        rc = _lib.corq_respond(self._consumer._h(), self.tag, ctypes.byref(message))
        del keep
        _check(rc)

    def __repr__(self) -> str:
        return "<corq.Delivery tag=%d message_id=%d len=%d delivery_count=%d>" % (
            self.tag, self.message_id, len(self.data), self.delivery_count
        )


class Consumer(_Handle):
    """Takes deliveries from one queue through a window of `prefetch` unsettled deliveries.
    One thread at a time, except wakeup() and interrupt(). Closing releases what is still
    unsettled.

        with engine.consumer("jobs", 16) as consumer:
            for delivery in consumer:        # until wakeup() or the engine closes
                handle(delivery.data)
                delivery.ack()
    """

    _kind = "consumer"
    queue: Name
    prefetch: int
    _buffer: ctypes.Array[_DeliveryC]

    def __init__(self, engine: Engine, queue: Name, prefetch: int = 64) -> None:
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

    def _consume(self, max_count: int, timeout_ms: int) -> int:
        """corq_consume into the buffer in waits of at most _WAIT_SLICE_MS; returns the count
        (0: timed out, interrupted, or the window is full — corq_consume then returns 0 at
        once)."""
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
            # it found the window full, or was interrupted.
            if (time.monotonic() - started) * 1000.0 < wait_ms / 2:
                return 0
            if deadline is not None and time.monotonic() >= deadline:
                return 0

    def consume(self, timeout_ms: int = -1) -> Optional[Delivery]:
        """The next Delivery, waiting up to timeout_ms (0 polls, -1 no limit); None on timeout,
        after interrupt(), or when the window is full. Error(ECLOSED) after wakeup() or engine
        close."""
        if self._consume(1, timeout_ms) == 0:
            return None
        return Delivery(self, self._buffer[0])

    def consume_many(self, max_count: int, timeout_ms: int = -1) -> List[Delivery]:
        """Up to max_count deliveries (as many as are ready, bounded by the free window and by 1024),
        waiting up to timeout_ms for the first; [] on timeout."""
        if max_count <= 0:
            raise Error(EINVAL, "max_count must be > 0, got %d" % max_count)
        n = self._consume(max_count, timeout_ms)
        return [Delivery(self, self._buffer[i]) for i in range(n)]

    def ack_upto(self, delivery: Union[Delivery, int]) -> None:
        """Acks every delivery this consumer holds with a tag up to this one's (a Delivery of this
        consumer, or a tag): one call settles a batch. ESTATE if there is none."""
        if isinstance(delivery, Delivery):
            if delivery._consumer is not self:
                raise Error(EINVAL, "ack_upto takes a delivery of this consumer")
            tag = delivery.tag
        elif isinstance(delivery, int) and not isinstance(delivery, bool):
            if not 0 <= delivery < 2**64:
                raise Error(EINVAL, "tag must be in [0, 2**64), got %d" % delivery)
            tag = delivery
        else:
            raise TypeError("ack_upto takes a corq.Delivery or a tag, not %s"
                            % type(delivery).__name__)
        _check(_lib.corq_ack_upto(self._h(), tag))

    def __iter__(self) -> Iterator[Delivery]:
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

    def wakeup(self) -> None:
        """Any thread: the current consume and every later one end with ECLOSED (iteration stops);
        settling still works, for a graceful stop."""
        _check(_lib.corq_consumer_wakeup(self._h()))

    def interrupt(self) -> None:
        """Any thread, one-shot: the consume waiting now (or else the next one) returns no delivery
        at once; the consumer stays usable (unlike wakeup)."""
        _check(_lib.corq_consumer_interrupt(self._h()))

    def close(self) -> None:
        """Releases unsettled deliveries and frees the handle (idempotent)."""
        if self._handle is not None:
            handle, self._handle = self._handle, None
            _check(_lib.corq_consumer_close(handle))


class GroupConsumer(Consumer):
    """A member of a stream's consumer group (Engine.group_consumer): a Consumer in every way, whose
    deliveries are the stream's records. Closing it leaves the group (its unsettled deliveries are
    released to the other members)."""

    group: Name

    def __init__(self, engine: Engine, stream: Name, group: Name, **options: OptionValue) -> None:
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


# ---- Streams: producer, records and reader ---------------------------------------------------------


class StreamProducer(_Handle):
    """Appends atomic batches to one stream, each batch to one partition. One thread at a time.
    Use as a context manager (or call close())."""

    _kind = "stream producer"
    stream: Name

    def __init__(self, engine: Engine, stream: Name) -> None:
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

    def send(
        self,
        messages: Iterable[BatchItem],
        key: Optional[BytesOrText] = None,
        dedup_id: Optional[Name] = None,
        nowait: bool = False,
        timeout_ms: Optional[int] = None,
    ) -> AppendedBatch:
        """Appends a batch (a non-empty list whose items are bytes or (bytes, headers)) to the
        partition `key` picks (None: the next in round robin), all or none, with consecutive
        offsets and one timestamp; every record carries the key. dedup_id names the whole batch
        (within the stream's dedup_window_ms a repeat appends nothing). Returns
        AppendedBatch(partition, first_offset)."""
        items = list(messages)
        array, keep = _fill_batch(items, dedup_id)
        key_bytes = _key(key)
        options = _stream_options(nowait, timeout_ms)
        partition, first = _u32(), _u64()
        rc = _lib.corq_stream_producer_send(
            self._h(), key_bytes, 0 if key_bytes is None else len(key_bytes), array, len(items),
            ctypes.byref(options), ctypes.byref(partition), ctypes.byref(first),
        )
        del keep
        _check(rc)
        return AppendedBatch(partition.value, first.value)

    def close(self) -> None:
        """Frees the handle (idempotent)."""
        if self._handle is not None:
            handle, self._handle = self._handle, None
            _check(_lib.corq_stream_producer_close(handle))


class StreamRecord:
    """One record of a stream: its place, append time and copies of its key, data and headers
    (they stay readable after the reader's next read)."""

    __slots__ = ("partition", "offset", "timestamp_ms", "key", "data", "headers")
    partition: int
    offset: int
    timestamp_ms: int  # the append time, unix ms
    key: Optional[bytes]  # None: appended without a key
    data: bytes
    headers: Dict[str, bytes]

    def __init__(self, raw: _StreamRecordC) -> None:
        self.partition = raw.partition
        self.offset = raw.offset
        self.timestamp_ms = raw.timestamp_ms
        if raw.key is None:
            self.key = None
        else:
            self.key = ctypes.string_at(raw.key, raw.key_len) if raw.key_len else b""
        self.data = _copy_data(raw)
        self.headers = _copy_headers(raw)

    def __repr__(self) -> str:
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
    stream: Name
    partition: int
    _buffer: Optional[ctypes.Array[_StreamRecordC]]

    def __init__(
        self, engine: Engine, stream: Name, partition: int = 0, start: Name = "earliest"
    ) -> None:
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

    def read(self, max: int = _BATCH_MAX, timeout_ms: int = -1) -> List[StreamRecord]:
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
        buffer = self._buffer
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
            n = _check(_lib.corq_stream_read(handle, buffer, count, wait_ms))
            if n > 0:
                return [StreamRecord(buffer[i]) for i in range(n)]
            if wait_ms == 0:
                return []  # a poll, or the deadline: a pending wakeup is left for a wait
            if self._woken:
                self._woken = False
                return []
            if deadline is not None and time.monotonic() >= deadline:
                return []

    @property
    def skipped(self) -> int:
        """Records this reader skipped because retention deleted them before it read them."""
        return int(_lib.corq_stream_reader_skipped(self._h()))

    def wakeup(self) -> None:
        """Any thread: a waiting read returns [] at once (or the next read that would wait)."""
        handle = self._h()
        self._woken = True
        _check(_lib.corq_stream_reader_wakeup(handle))

    def close(self) -> None:
        """Frees the handle (idempotent)."""
        if self._handle is not None:
            handle, self._handle = self._handle, None
            _check(_lib.corq_stream_reader_close(handle))


# ---- Transactions ----------------------------------------------------------------------------------


def _commit_timeout(timeout_ms: Optional[int]) -> int:
    """A commit timeout: None is the publish default, else -1 or 0..2**31-1 (EINVAL otherwise,
    before ctypes would truncate it)."""
    if timeout_ms is None:
        return PUBLISH_TIMEOUT_MS_DEFAULT
    if not isinstance(timeout_ms, int) or isinstance(timeout_ms, bool):
        raise TypeError("timeout_ms must be an int or None, not %s" % type(timeout_ms).__name__)
    return _timeout(timeout_ms)


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
    timeout_ms: int

    def __init__(self, engine: Engine, timeout_ms: Optional[int] = None) -> None:
        self._engine = engine  # keeps the Engine object (and its __del__) behind this handle
        self._handle = None
        self.timeout_ms = _commit_timeout(timeout_ms)
        handle = _void_p()
        _check(_lib.corq_txn_begin(engine._h(), ctypes.byref(handle)))
        self._handle = handle

    def _h(self) -> ctypes.c_void_p:
        if self._handle is None:
            raise Error(ECLOSED, "the transaction is no longer open (committed or aborted)")
        return self._handle

    def publish(
        self,
        exchange: Name,
        routing_key: Optional[Name],
        data: BytesLike,
        headers: Optional[Headers] = None,
        dedup_id: Optional[Name] = None,
        mandatory: bool = False,
        delay_ms: int = 0,
        ttl_ms: int = 0,
        priority: int = 0,
    ) -> None:
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

    def append(
        self,
        stream: Name,
        data: BytesLike,
        key: Optional[BytesOrText] = None,
        headers: Optional[Headers] = None,
        dedup_id: Optional[Name] = None,
    ) -> None:
        """Adds a stream append of one record (arguments as Engine.append): key picks the
        partition at commit as Engine.append does (None: round robin; b"" is a key); the offset
        is assigned at commit (not returned). ENOENT at once for an unknown stream."""
        message = _Message()
        keep = _fill_message(message, data, headers, dedup_id)
        key_bytes = _key(key)
        options = _stream_options(False, None)
        rc = _lib.corq_txn_append(
            self._h(), _name(stream, "stream name"), key_bytes,
            0 if key_bytes is None else len(key_bytes), ctypes.byref(message),
            ctypes.byref(options),
        )
        del keep
        _check(rc)

    def ack(self, delivery: Delivery) -> None:
        """Adds the ack of a Delivery its Consumer (or GroupConsumer) holds now; it stays in flight
        until commit. ESTATE at once if the consumer no longer holds it (settled, lease expired)
        or this transaction already acks it; ECLOSED if its consumer is closed."""
        if not isinstance(delivery, Delivery):
            raise TypeError("ack takes a corq.Delivery, not %s" % type(delivery).__name__)
        handle = self._h()
        _check(_lib.corq_txn_ack(handle, delivery._consumer._h(), delivery.tag))

    def commit(self, timeout_ms: Optional[int] = None) -> None:
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

    def abort(self) -> None:
        """Discards the transaction (its acks are not applied: the deliveries stay held).
        Idempotent; never raises."""
        if self._handle is not None:
            handle, self._handle = self._handle, None
            _lib.corq_txn_abort(handle)

    def close(self) -> None:
        """The same as abort() (what _Handle.__del__ calls)."""
        self.abort()

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]] = None,
        exc: Optional[BaseException] = None,
        traceback: Optional[TracebackType] = None,
    ) -> None:
        """Commits on a normal exit (unless already committed or aborted); aborts on an exception,
        which goes on (nothing is swallowed)."""
        if exc_type is None:
            if self._handle is not None:
                self.commit()
        else:
            self.abort()
