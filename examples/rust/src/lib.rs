//! corq from Rust: a safe wrapper over the C API of `corq/corq.h` (raw declarations in [`sys`]).
//!
//! ```
//! let engine = corq::Engine::in_memory(&[])?; // Engine::open(dir, ...) for durable queues
//! engine.declare("jobs", &[("max_attempts", "5"), ("lease_ms", "10000")])?;
//! engine.publish("jobs", &corq::Message::new(b"resize 42.png").header("user", b"ada"))?;
//! let consumer = engine.consumer("jobs", 64)?;
//! while let Some(delivery) = consumer.consume(100)? {
//!     if delivery.data().starts_with(b"resize") {
//!         delivery.ack()?;
//!     } else {
//!         delivery.nack(-1)?; // retry after the queue's backoff
//!     }
//! }
//! # Ok::<(), corq::Error>(())
//! ```
//!
//! Pub/sub: an exchange routes one publish into every queue bound to it (atomically, one message id
//! for all the copies):
//!
//! ```
//! use corq::{ExchangeType, Message, PublishOptions};
//! let engine = corq::Engine::in_memory(&[])?;
//! engine.declare_exchange("orders", ExchangeType::Topic, &[])?;
//! for service in ["inventory", "email", "analytics"] {
//!     engine.declare(service, &[])?;
//!     engine.bind("orders", service, "order.*", &[])?;
//! }
//! let mandatory = PublishOptions { mandatory: true, ..Default::default() };
//! let published =
//!     engine.publish_to_exchange("orders", "order.placed", &Message::new(b"{}"), &mandatory)?;
//! assert_eq!(published.routed, 3);
//! # Ok::<(), corq::Error>(())
//! ```
//!
//! Streams: retained, partitioned logs read by offset (a key picks the partition as Kafka's default
//! partitioner does); a reader's records are zero-copy views that live until its next read:
//!
//! ```
//! use corq::{Message, StreamStart};
//! let engine = corq::Engine::in_memory(&[])?;
//! engine.declare_stream("clicks", &[("partitions", "3"), ("retention_records", "100000")])?;
//! let at = engine.append("clicks", Some(b"user-42"), &Message::new(b"page 7"))?;
//! let mut reader = engine.stream_reader("clicks", at.partition, StreamStart::Earliest)?;
//! for record in reader.read(100, 1000)? {
//!     println!("{} {:?} {:?}", record.offset(), record.key(), record.data());
//! }
//! # Ok::<(), corq::Error>(())
//! ```
//!
//! Transactions: publishes, stream appends and acks applied together at commit, or not at all
//! (consume-transform-produce exactly once). Dropping a [`Transaction`] without committing it
//! aborts it:
//!
//! ```
//! use corq::Message;
//! let engine = corq::Engine::in_memory(&[])?;
//! engine.declare("orders", &[])?;
//! engine.declare("invoices", &[])?;
//! engine.declare_stream("ledger", &[])?;
//! engine.publish("orders", &Message::new(b"order 42"))?;
//! let orders = engine.consumer("orders", 16)?;
//! while let Some(order) = orders.consume(0)? {
//!     let invoice = [b"invoice for ".as_slice(), order.data()].concat();
//!     let txn = engine.transaction()?;
//!     txn.publish("", "invoices", &Message::new(&invoice))?; // exchange "": the queue named
//!     txn.append("ledger", Some(b"customer-7"), &Message::new(order.data()))?;
//!     txn.ack(&order)?;
//!     txn.commit(5000)?; // all three, or (on an error) none
//! }
//! assert_eq!(engine.queue_stats("orders")?.acked, 1);
//! assert_eq!(engine.queue_stats("invoices")?.ready, 1);
//! assert_eq!(engine.stream_stats("ledger")?.records, 1);
//! # Ok::<(), corq::Error>(())
//! ```
//!
//! How the C API's rules map to Rust:
//! - **Ownership.** [`Engine`], [`Producer`], [`Consumer`], [`StreamProducer`] and
//!   [`StreamReader`] close their handle when dropped; `close()` does the same (and reports the
//!   error where the C call can fail). Options are `(key, value)` string pairs, exactly the keys of
//!   `corq.h` (README "Options").
//! - **Lifetimes.** A producer or consumer borrows its engine, so the engine cannot be closed while
//!   one is open; a [`Delivery`] borrows its consumer, and settling it (`ack`, `nack`, `release`,
//!   `reject`) consumes it, so a delivery is settled at most once through this API. A delivery's
//!   data and headers are copied out of corq's buffers when it is consumed: the C views die when a
//!   lease expires and the consumer consumes again, which a borrow cannot express. An unsettled
//!   delivery that is dropped stays in flight until its lease expires (a failed attempt) or its
//!   consumer closes (released). A [`StreamReader`]'s records are not copied: `read` borrows the
//!   reader mutably and returns [`StreamRecord`] views that live until the next `read`, exactly the
//!   C API's rule, so the compiler refuses a record used after the next read or the reader's close.
//! - **Transactions.** A [`Transaction`] borrows its engine; `commit` and `abort` consume it, so a
//!   transaction is used after neither (the compiler refuses it), and dropping it aborts.
//!   `Transaction::ack` takes the delivery by reference: it stays held (in flight) until the commit,
//!   and settling it afterwards is ESTATE.
//! - **Errors.** Every failure is an [`Error`] with corq's code (the `E*` constants here, the values
//!   of `corq.h`) and the detail message of `corq_last_error`.
//! - **Threads** (`corq.h`'s rules): an `Engine` is `Send + Sync` (share it by reference, e.g. with
//!   `std::thread::scope`); a `Producer` and a `Consumer` are `Send` but not `Sync` (one thread at a
//!   time); a `Delivery` is neither (settle it on its consumer's thread); a [`Waker`] is
//!   `Send + Sync`: `corq_consumer_wakeup` may come from any thread. Likewise a `StreamProducer`
//!   and a `StreamReader` are `Send`, not `Sync`, and a [`StreamWaker`] is `Send + Sync`. A
//!   `Transaction` is `Send`, not `Sync`: one thread at a time, the one that uses the consumers
//!   whose deliveries it acks.
//!
//! The borrow rules are checked at compile time; each of these fails to compile:
//!
//! ```compile_fail
//! let engine = corq::Engine::in_memory(&[]).unwrap();
//! let consumer = engine.consumer("q", 1).unwrap();
//! engine.close().unwrap(); // the consumer still borrows the engine
//! drop(consumer);
//! ```
//! ```compile_fail
//! let engine = corq::Engine::in_memory(&[]).unwrap();
//! let delivery = {
//!     let consumer = engine.consumer("q", 1).unwrap();
//!     consumer.consume(0).unwrap() // the delivery would outlive its consumer
//! };
//! ```
//! ```compile_fail
//! fn shared_across_threads<T: Sync>() {}
//! shared_across_threads::<corq::Consumer<'static>>(); // one thread at a time
//! ```
//! ```compile_fail
//! fn moved_across_threads<T: Send>() {}
//! moved_across_threads::<corq::Delivery<'static>>(); // settled on its consumer's thread
//! ```
//! ```compile_fail
//! let engine = corq::Engine::in_memory(&[]).unwrap();
//! let consumer = engine.consumer("q", 1).unwrap();
//! let delivery = consumer.consume(0).unwrap().unwrap();
//! delivery.ack().unwrap();
//! delivery.ack().unwrap(); // settled twice
//! ```
//! ```compile_fail
//! let engine = corq::Engine::in_memory(&[]).unwrap();
//! let mut reader = engine.stream_reader("s", 0, corq::StreamStart::Earliest).unwrap();
//! let first = reader.read(1, 0).unwrap();
//! let second = reader.read(1, 0).unwrap(); // the first read's records are gone now
//! println!("{:?} {:?}", first, second);
//! ```
//! ```compile_fail
//! fn shared_across_threads<T: Sync>() {}
//! shared_across_threads::<corq::StreamReader<'static>>(); // one thread at a time
//! ```
//! ```compile_fail
//! let engine = corq::Engine::in_memory(&[]).unwrap();
//! let txn = engine.transaction().unwrap();
//! txn.commit(1000).unwrap();
//! txn.commit(1000).unwrap(); // committed already: commit consumed it
//! ```
//! ```compile_fail
//! let engine = corq::Engine::in_memory(&[]).unwrap();
//! let txn = engine.transaction().unwrap();
//! engine.close().unwrap(); // the transaction still borrows the engine
//! txn.abort();
//! ```
//! ```compile_fail
//! fn shared_across_threads<T: Sync>() {}
//! shared_across_threads::<corq::Transaction<'static>>(); // one thread at a time
//! ```
use std::borrow::Cow;
use std::ffi::{CStr, CString};
use std::fmt;
use std::marker::PhantomData;
use std::os::raw::{c_char, c_int, c_void};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::ptr::{self, NonNull};
use std::rc::Rc;
use std::sync::{Arc, Mutex};

pub mod sys;

// ---- Errors ------------------------------------------------------------------------------------

pub const EINVAL: i32 = sys::CORQ_EINVAL;
pub const ENOMEM: i32 = sys::CORQ_ENOMEM;
pub const EIO: i32 = sys::CORQ_EIO;
pub const ENOSPC: i32 = sys::CORQ_ENOSPC;
pub const ENOENT: i32 = sys::CORQ_ENOENT;
pub const EEXIST: i32 = sys::CORQ_EEXIST;
pub const EFULL: i32 = sys::CORQ_EFULL;
pub const ETIMEDOUT: i32 = sys::CORQ_ETIMEDOUT;
pub const ESTATE: i32 = sys::CORQ_ESTATE;
pub const ECLOSED: i32 = sys::CORQ_ECLOSED;
pub const EBUSY: i32 = sys::CORQ_EBUSY;
pub const ECORRUPT: i32 = sys::CORQ_ECORRUPT;
pub const EFAILED: i32 = sys::CORQ_EFAILED;
pub const ETOOBIG: i32 = sys::CORQ_ETOOBIG;
pub const EUNSUPPORTED: i32 = sys::CORQ_EUNSUPPORTED;
/// A mandatory exchange publish that no queue took.
pub const EUNROUTABLE: i32 = sys::CORQ_EUNROUTABLE;

/// A failed corq call: the code (one of the `E*` constants) and the detail message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    code: i32,
    detail: String,
}

impl Error {
    /// The error of the calling thread's last failed corq call, which returned `code`. Must be
    /// called right after that call: `corq_last_error` is valid until the thread's next corq call.
    fn last(code: c_int) -> Error {
        // SAFETY: corq_last_error never returns NULL; the string is copied before any other call.
        let detail = unsafe { CStr::from_ptr(sys::corq_last_error()) };
        Error { code, detail: detail.to_string_lossy().into_owned() }
    }

    /// An argument this wrapper refuses before calling corq (e.g. a name with a NUL byte).
    fn invalid(detail: String) -> Error {
        Error { code: EINVAL, detail }
    }

    /// corq's error code, e.g. [`ENOENT`].
    pub fn code(&self) -> i32 {
        self.code
    }

    /// The detail message (`corq_last_error`), e.g. which option key was bad.
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// The code's name and meaning, e.g. "CORQ_EFULL: queue full".
    pub fn name(&self) -> &'static str {
        strerror(self.code)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.detail.is_empty() {
            write!(f, "{}", self.name())
        } else {
            write!(f, "{} ({})", self.name(), self.detail)
        }
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

/// Turns a C return value into a Result: negative is an error (with this thread's detail).
fn check(rc: c_int) -> Result<c_int> {
    if rc < 0 {
        Err(Error::last(rc))
    } else {
        Ok(rc)
    }
}

/// A Rust string as a C string; a NUL byte inside is an EINVAL naming `what`.
fn c_string(what: &str, text: &str) -> Result<CString> {
    CString::new(text)
        .map_err(|_| Error::invalid(format!("{} {:?} contains a NUL byte", what, text)))
}

/// A name as a C string without a heap allocation when it is short (the per-message calls take
/// a queue, exchange or routing key name each time: an allocation there cost about 20 ns per
/// message in the bindings benchmark).
enum CName {
    Inline { bytes: [u8; CName::INLINE], len: usize },
    Heap(CString),
}

impl CName {
    /// Names up to this many bytes, NUL included, stay on the stack (queue names are at most 200 bytes, routing keys 255).
    const INLINE: usize = 128;

    fn new(what: &str, text: &str) -> Result<CName> {
        if text.len() >= CName::INLINE {
            return c_string(what, text).map(CName::Heap);
        }
        if text.as_bytes().contains(&0) {
            return Err(Error::invalid(format!("{} {:?} contains a NUL byte", what, text)));
        }
        let mut bytes = [0u8; CName::INLINE];
        bytes[..text.len()].copy_from_slice(text.as_bytes());
        Ok(CName::Inline { bytes, len: text.len() })
    }

    /// NUL-terminated, valid while self is.
    fn as_ptr(&self) -> *const c_char {
        match self {
            CName::Inline { bytes, len } => {
                debug_assert_eq!(bytes[*len], 0);
                bytes.as_ptr() as *const c_char
            }
            CName::Heap(c) => c.as_ptr(),
        }
    }
}

/// The name and meaning of any code, e.g. "CORQ_ENOENT: no such queue". Never fails.
pub fn strerror(code: i32) -> &'static str {
    // SAFETY: static storage, never NULL, ASCII.
    unsafe { CStr::from_ptr(sys::corq_strerror(code)) }.to_str().unwrap_or("CORQ_E?")
}

/// The linked library's version, `MAJOR*10000 + MINOR*100 + PATCH` (compare with
/// [`sys::CORQ_VERSION`], the version of the header this crate was written against).
pub fn version() -> u32 {
    // SAFETY: no arguments, never fails.
    unsafe { sys::corq_version() }
}

/// The linked library's version as "MAJOR.MINOR.PATCH".
pub fn version_string() -> &'static str {
    // SAFETY: static storage, never NULL, ASCII.
    unsafe { CStr::from_ptr(sys::corq_version_string()) }.to_str().unwrap_or("?")
}

// ---- Options -----------------------------------------------------------------------------------

/// A `corq_config` built from `(key, value)` pairs, freed on drop.
struct Config {
    raw: NonNull<sys::corq_config>,
}

impl Config {
    /// None for no pairs (corq's defaults: a NULL config), else a config holding every pair.
    fn from_pairs(options: &[(&str, &str)]) -> Result<Option<Config>> {
        if options.is_empty() {
            return Ok(None);
        }
        // SAFETY: corq_config_new has no preconditions; NULL means out of memory.
        let raw = NonNull::new(unsafe { sys::corq_config_new() })
            .ok_or_else(|| Error { code: ENOMEM, detail: "corq_config_new".to_string() })?;
        let config = Config { raw };
        for (key, value) in options {
            let key = c_string("option key", key)?;
            let value = c_string("option value", value)?;
            // SAFETY: config is live and owned here; key and value are NUL-terminated (copied).
            check(unsafe { sys::corq_config_set(raw.as_ptr(), key.as_ptr(), value.as_ptr()) })?;
        }
        Ok(Some(config))
    }
}

/// The raw pointer of an optional config (NULL for defaults).
fn config_ptr(config: &Option<Config>) -> *const sys::corq_config {
    config.as_ref().map_or(ptr::null(), |c| c.raw.as_ptr())
}

impl Drop for Config {
    fn drop(&mut self) {
        // SAFETY: owned, freed once.
        unsafe { sys::corq_config_free(self.raw.as_ptr()) }
    }
}

// ---- Messages ----------------------------------------------------------------------------------

/// A message to publish: borrowed payload, headers and optional dedup id (corq copies them).
#[derive(Clone, Debug, Default)]
pub struct Message<'a> {
    data: &'a [u8],
    headers: Vec<(&'a str, &'a [u8])>,
    dedup_id: Option<&'a str>,
}

impl<'a> Message<'a> {
    pub fn new(data: &'a [u8]) -> Message<'a> {
        Message { data, headers: Vec::new(), dedup_id: None }
    }

    /// Adds a header (key: 1-255 bytes, no NUL; at most 64 headers per message).
    pub fn header(mut self, key: &'a str, value: &'a [u8]) -> Message<'a> {
        self.headers.push((key, value));
        self
    }

    /// Sets the dedup id (1-255 bytes), used when the queue's `dedup_window_ms` > 0.
    pub fn dedup_id(mut self, id: &'a str) -> Message<'a> {
        self.dedup_id = Some(id);
        self
    }
}

/// A message lowered to C: owns the C strings and header array its `corq_message` points into.
struct RawMessage {
    _keys: Vec<CString>,
    headers: Vec<sys::corq_header>,
    dedup_id: Option<CString>,
    data: *const c_void,
    len: usize,
}

impl RawMessage {
    fn new(message: &Message<'_>) -> Result<RawMessage> {
        let keys = message
            .headers
            .iter()
            .map(|(key, _)| c_string("header key", key))
            .collect::<Result<Vec<_>>>()?;
        // The CStrings' buffers are on the heap: moving `keys` into the struct keeps them in place.
        let headers = keys
            .iter()
            .zip(&message.headers)
            .map(|(key, (_, value))| sys::corq_header {
                key: key.as_ptr(),
                value: value.as_ptr() as *const c_void,
                value_len: value.len(),
            })
            .collect();
        let dedup_id = match message.dedup_id {
            Some(id) => Some(c_string("dedup id", id)?),
            None => None,
        };
        Ok(RawMessage {
            _keys: keys,
            headers,
            dedup_id,
            data: message.data.as_ptr() as *const c_void,
            len: message.data.len(),
        })
    }

    /// The C view; valid while self and the Message it was made from are.
    fn as_c(&self) -> sys::corq_message {
        sys::corq_message {
            data: self.data,
            len: self.len,
            headers: self.headers.as_ptr(),
            header_count: self.headers.len(),
            dedup_id: self.dedup_id.as_ref().map_or(ptr::null(), |id| id.as_ptr()),
        }
    }
}

/// Per-publish options (`corq_publish_options`); `PublishOptions::default()` is corq's default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PublishOptions {
    /// Don't wait for durability (durable queues); confirm later with `wait_durable`, `flush`.
    pub nowait: bool,
    /// overflow=block: the longest wait for space in ms (None: 30000; Some(-1): no limit).
    pub timeout_ms: Option<i32>,
    /// 0: deliverable now; > 0: after this delay.
    pub delay_ms: i64,
    /// 0: the queue's message_ttl_ms; > 0: this message's TTL.
    pub ttl_ms: i64,
    /// Exchange publishes: a message no queue takes fails with [`EUNROUTABLE`] (nothing stored)
    /// instead of being dropped and counted as unroutable.
    pub mandatory: bool,
    /// 0 or more: queues with `max_priority` deliver higher priorities first; others ignore it.
    /// Negative: EINVAL.
    pub priority: i32,
}

/// corq's default publish timeout (corq.h: `timeout_ms` "default 30000").
const PUBLISH_TIMEOUT_MS_DEFAULT: i32 = 30000;

impl PublishOptions {
    fn as_c(&self) -> sys::corq_publish_options {
        sys::corq_publish_options {
            struct_size: std::mem::size_of::<sys::corq_publish_options>() as u32,
            flags: if self.nowait { sys::CORQ_PUBLISH_NOWAIT } else { 0 }
                | if self.mandatory { sys::CORQ_PUBLISH_MANDATORY } else { 0 },
            timeout_ms: self.timeout_ms.unwrap_or(PUBLISH_TIMEOUT_MS_DEFAULT),
            delay_ms: self.delay_ms,
            ttl_ms: self.ttl_ms,
            priority: self.priority,
        }
    }
}

/// A snapshot of one queue (`corq_queue_stats`; counters since the queue was declared in this
/// process).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueStats {
    pub ready: u64,
    pub in_flight: u64,
    pub delayed: u64,
    pub consumers: u64,
    pub bytes_ready: u64,
    pub published: u64,
    pub delivered: u64,
    pub acked: u64,
    pub nacked: u64,
    pub released: u64,
    pub redelivered: u64,
    pub dead_lettered: u64,
    pub expired: u64,
    pub dropped: u64,
    pub deduplicated: u64,
    pub oldest_ready_age_ms: i64,
    /// Removed by `purge`.
    pub purged: u64,
    /// Moved out of this queue by `redrive`.
    pub redriven: u64,
}

impl From<sys::corq_queue_stats> for QueueStats {
    fn from(s: sys::corq_queue_stats) -> QueueStats {
        QueueStats {
            ready: s.ready,
            in_flight: s.in_flight,
            delayed: s.delayed,
            consumers: s.consumers,
            bytes_ready: s.bytes_ready,
            published: s.published,
            delivered: s.delivered,
            acked: s.acked,
            nacked: s.nacked,
            released: s.released,
            redelivered: s.redelivered,
            dead_lettered: s.dead_lettered,
            expired: s.expired,
            dropped: s.dropped,
            deduplicated: s.deduplicated,
            oldest_ready_age_ms: s.oldest_ready_age_ms,
            purged: s.purged,
            redriven: s.redriven,
        }
    }
}

// ---- Exchanges ---------------------------------------------------------------------------------

/// The type of an exchange: how it matches a message against its bindings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExchangeType {
    /// Bindings whose key equals the routing key.
    Direct,
    /// Every binding; keys are ignored.
    Fanout,
    /// Binding keys are patterns of `.`-separated words: `*` is one word, `#` zero or more.
    Topic,
    /// The binding's arguments against the message's headers (`x-match`: all, any, all-with-x,
    /// any-with-x).
    Headers,
}

impl ExchangeType {
    /// The name corq_exchange_declare takes ("direct", ...).
    pub fn as_str(self) -> &'static str {
        match self {
            ExchangeType::Direct => "direct",
            ExchangeType::Fanout => "fanout",
            ExchangeType::Topic => "topic",
            ExchangeType::Headers => "headers",
        }
    }
}

impl fmt::Display for ExchangeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A binding argument for headers exchanges: `(key, Some(value))` matches a header with an equal
/// value, `(key, None)` a header's presence alone (the C API's NULL value).
pub type BindArgument<'a> = (&'a str, Option<&'a [u8]>);

/// Binding arguments lowered to C: owns the key strings its `corq_header`s point into.
struct RawArguments {
    _keys: Vec<CString>,
    headers: Vec<sys::corq_header>,
}

impl RawArguments {
    fn new(arguments: &[BindArgument<'_>]) -> Result<RawArguments> {
        let keys = arguments
            .iter()
            .map(|(key, _)| c_string("argument key", key))
            .collect::<Result<Vec<_>>>()?;
        let headers = keys
            .iter()
            .zip(arguments)
            .map(|(key, (_, value))| sys::corq_header {
                key: key.as_ptr(),
                // NULL is what says "presence only": never a dangling pointer of an empty slice.
                value: value.map_or(ptr::null(), |v| v.as_ptr() as *const c_void),
                value_len: value.map_or(0, |v| v.len()),
            })
            .collect();
        Ok(RawArguments { _keys: keys, headers })
    }

    /// NULL for no arguments (what corq.h asks when argument_count is 0).
    fn as_ptr(&self) -> *const sys::corq_header {
        if self.headers.is_empty() {
            ptr::null()
        } else {
            self.headers.as_ptr()
        }
    }
}

/// What an exchange publish did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Published {
    /// The message's id, the same in every queue that took a copy.
    pub message_id: u64,
    /// How many queues took it (0: unroutable and dropped, or every target had seen its dedup id).
    pub routed: u32,
}

/// A response to [`Engine::request`]: a copy of its payload and headers (`x-correlation-id`
/// among them).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reply {
    pub data: Vec<u8>,
    pub headers: Vec<(String, Vec<u8>)>,
}

impl Reply {
    /// The value of the first header named `key`.
    pub fn header(&self, key: &str) -> Option<&[u8]> {
        self.headers.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_slice())
    }
}

/// An exchange's counters (`corq_exchange_stats`; since it was declared in this process).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExchangeStats {
    /// Bindings whose source it is.
    pub bindings: u64,
    /// Publishes that entered it, from a client or another exchange.
    pub published: u64,
    /// Copies it put into queues.
    pub routed: u64,
    /// Messages nothing took (dropped, or refused under `mandatory`).
    pub unroutable: u64,
    /// Messages it handed to its alternate exchange.
    pub alternated: u64,
}

impl From<sys::corq_exchange_stats> for ExchangeStats {
    fn from(s: sys::corq_exchange_stats) -> ExchangeStats {
        ExchangeStats {
            bindings: s.bindings,
            published: s.published,
            routed: s.routed,
            unroutable: s.unroutable,
            alternated: s.alternated,
        }
    }
}

/// The signature shared by corq_bind, corq_unbind, corq_exchange_bind and corq_exchange_unbind.
type BindingFn = unsafe extern "C" fn(
    *mut sys::corq_engine,
    *const c_char,
    *const c_char,
    *const c_char,
    *const sys::corq_header,
    usize,
) -> c_int;

// ---- Engine ------------------------------------------------------------------------------------

/// A log callback: (level, message), level one of `sys::CORQ_LOG_*`.
type LogSink = Box<dyn Fn(i32, &str) + Send + Sync + 'static>;

/// The engine (`corq_engine`): holds the queues. Closed on drop (or by [`Engine::close`]).
pub struct Engine {
    raw: NonNull<sys::corq_engine>,
    closed: bool,
    /// Every log callback ever set, kept until the engine is closed: an engine thread may still be
    /// inside the previous one while a new one is set. Boxed twice: corq gets a thin pointer to the
    /// inner box, which must not move when the Vec grows.
    #[allow(clippy::vec_box)]
    log_sinks: Mutex<Vec<Box<LogSink>>>,
}

// SAFETY: corq.h: "A corq_engine ... is thread-safe: any thread may call any engine function at any
// time, except that corq_close must not race with other calls". Closing takes the Engine by value
// (close, drop), which no borrow can race with.
unsafe impl Send for Engine {}
unsafe impl Sync for Engine {}

impl Engine {
    /// Opens (or creates) the data directory `dir` and recovers its log; queues declared here are
    /// durable by default. Errors: EBUSY when another open engine holds the directory, EINVAL for a
    /// bad option, ECORRUPT, EIO, ENOSPC.
    pub fn open<P: AsRef<Path>>(dir: P, options: &[(&str, &str)]) -> Result<Engine> {
        let bytes = dir.as_ref().as_os_str().as_bytes();
        let dir = CString::new(bytes).map_err(|_| {
            Error::invalid(format!("directory {:?} contains a NUL byte", dir.as_ref()))
        })?;
        Engine::open_raw(dir.as_ptr(), options)
    }

    /// An in-memory engine: every queue transient.
    pub fn in_memory(options: &[(&str, &str)]) -> Result<Engine> {
        Engine::open_raw(ptr::null(), options)
    }

    fn open_raw(dir: *const c_char, options: &[(&str, &str)]) -> Result<Engine> {
        let config = Config::from_pairs(options)?;
        let mut raw = ptr::null_mut();
        // SAFETY: dir is NULL or NUL-terminated; the config outlives the call; out is valid.
        check(unsafe { sys::corq_open(dir, config_ptr(&config), &mut raw) })?;
        let raw = NonNull::new(raw).expect("corq_open succeeded without an engine");
        Ok(Engine { raw, closed: false, log_sinks: Mutex::new(Vec::new()) })
    }

    fn ptr(&self) -> *mut sys::corq_engine {
        self.raw.as_ptr()
    }

    /// Closes gracefully (what was logged is flushed, the directory lock released) and reports the
    /// error that dropping would ignore.
    pub fn close(mut self) -> Result<()> {
        self.closed = true;
        // SAFETY: owned; no producer or consumer borrows it (they would borrow self).
        check(unsafe { sys::corq_close(self.ptr()) }).map(|_| ())
    }

    /// Waits until everything logged so far is durable (timeout_ms -1: no limit).
    pub fn sync(&self, timeout_ms: i32) -> Result<()> {
        // SAFETY: live engine.
        check(unsafe { sys::corq_sync(self.ptr(), timeout_ms) }).map(|_| ())
    }

    /// The data directory's UUID (kept in DIR/ENGINE_ID), or this in-memory engine's.
    pub fn id(&self) -> Result<String> {
        let mut out = [0 as c_char; 37];
        // SAFETY: live engine; out has the 37 bytes corq_engine_id writes.
        check(unsafe { sys::corq_engine_id(self.ptr(), out.as_mut_ptr()) })?;
        // SAFETY: corq wrote a NUL-terminated ASCII UUID.
        let text = unsafe { CStr::from_ptr(out.as_ptr()) };
        Ok(text.to_string_lossy().into_owned())
    }

    /// Declares a queue (idempotent with the same options; EEXIST with different ones).
    pub fn declare(&self, queue: &str, options: &[(&str, &str)]) -> Result<()> {
        let queue = c_string("queue name", queue)?;
        let config = Config::from_pairs(options)?;
        // SAFETY: live engine, NUL-terminated name, config outlives the call.
        check(unsafe { sys::corq_queue_declare(self.ptr(), queue.as_ptr(), config_ptr(&config)) })
            .map(|_| ())
    }

    /// Declares a temporary subscriber queue (RabbitMQ's exclusive server-named queue) and returns
    /// its generated name (`corq.gen-` and 16 hex digits): transient, deleted with its bindings and
    /// messages when its last consumer closes. Options as for [`declare`](Self::declare), except
    /// that `durable=true` and `auto_delete=false` are EINVAL.
    ///
    /// ```
    /// let engine = corq::Engine::in_memory(&[])?;
    /// engine.declare_exchange("logs", corq::ExchangeType::Fanout, &[])?;
    /// let mine = engine.declare_temp(&[])?;
    /// engine.bind("logs", &mine, "", &[])?;
    /// let consumer = engine.consumer(&mine, 16)?; // the queue lives until this closes
    /// engine.publish_to_exchange("logs", "", &corq::Message::new(b"hi"), &Default::default())?;
    /// assert_eq!(consumer.consume(1000)?.unwrap().data(), b"hi");
    /// # Ok::<(), corq::Error>(())
    /// ```
    pub fn declare_temp(&self, options: &[(&str, &str)]) -> Result<String> {
        let config = Config::from_pairs(options)?;
        let mut name = [0 as c_char; 64];
        // SAFETY: live engine, config outlives the call, name has name.len() writable bytes.
        check(unsafe {
            sys::corq_queue_declare_temp(
                self.ptr(),
                config_ptr(&config),
                name.as_mut_ptr(),
                name.len(),
            )
        })?;
        // SAFETY: corq wrote a NUL-terminated ASCII name.
        Ok(unsafe { CStr::from_ptr(name.as_ptr()) }.to_string_lossy().into_owned())
    }

    /// Deletes a queue and every message in it.
    pub fn delete_queue(&self, queue: &str) -> Result<()> {
        let queue = c_string("queue name", queue)?;
        // SAFETY: live engine, NUL-terminated name.
        check(unsafe { sys::corq_queue_delete(self.ptr(), queue.as_ptr()) }).map(|_| ())
    }

    /// Removes every ready message; returns how many.
    pub fn purge(&self, queue: &str) -> Result<u64> {
        let queue = c_string("queue name", queue)?;
        let mut purged = 0;
        // SAFETY: live engine, NUL-terminated name, valid out pointer.
        check(unsafe { sys::corq_queue_purge(self.ptr(), queue.as_ptr(), &mut purged) })?;
        Ok(purged)
    }

    /// Publishes one message with the default options; returns its id.
    pub fn publish(&self, queue: &str, message: &Message<'_>) -> Result<u64> {
        self.publish_with(queue, message, &PublishOptions::default())
    }

    /// Publishes one message; returns its id (for a deduplicated publish, the original's).
    pub fn publish_with(
        &self,
        queue: &str,
        message: &Message<'_>,
        options: &PublishOptions,
    ) -> Result<u64> {
        let queue = CName::new("queue name", queue)?;
        let raw = RawMessage::new(message)?;
        let (c_message, c_options) = (raw.as_c(), options.as_c());
        let mut id = 0;
        // SAFETY: every pointer is live for the call; corq copies what it keeps.
        check(unsafe {
            sys::corq_publish(self.ptr(), queue.as_ptr(), &c_message, &c_options, &mut id)
        })?;
        Ok(id)
    }

    /// Waits until the message with this id is durable (timeout_ms -1: no limit).
    pub fn wait_durable(&self, message_id: u64, timeout_ms: i32) -> Result<()> {
        // SAFETY: live engine.
        check(unsafe { sys::corq_wait_durable(self.ptr(), message_id, timeout_ms) }).map(|_| ())
    }

    /// Opens a producer for an existing queue; it borrows the engine.
    pub fn producer(&self, queue: &str) -> Result<Producer<'_>> {
        let queue = c_string("queue name", queue)?;
        let mut raw = ptr::null_mut();
        // SAFETY: live engine, NUL-terminated name, valid out pointer.
        check(unsafe { sys::corq_producer_open(self.ptr(), queue.as_ptr(), &mut raw) })?;
        let raw = NonNull::new(raw).expect("corq_producer_open succeeded without a producer");
        Ok(Producer { raw, _engine: PhantomData })
    }

    /// Opens a consumer with a window of `prefetch` (1-65536) unsettled deliveries; it borrows
    /// the engine.
    pub fn consumer(&self, queue: &str, prefetch: u32) -> Result<Consumer<'_>> {
        let queue = c_string("queue name", queue)?;
        let mut raw = ptr::null_mut();
        // SAFETY: live engine, NUL-terminated name, valid out pointer.
        check(unsafe { sys::corq_consumer_open(self.ptr(), queue.as_ptr(), prefetch, &mut raw) })?;
        let raw = NonNull::new(raw).expect("corq_consumer_open succeeded without a consumer");
        Ok(Consumer { raw, _engine: PhantomData })
    }

    /// A snapshot of one queue's state.
    pub fn queue_stats(&self, queue: &str) -> Result<QueueStats> {
        let queue = c_string("queue name", queue)?;
        let mut stats = sys::corq_queue_stats {
            struct_size: std::mem::size_of::<sys::corq_queue_stats>() as u32,
            ..Default::default()
        };
        // SAFETY: live engine, NUL-terminated name, out sized by struct_size.
        check(unsafe { sys::corq_queue_stats_get(self.ptr(), queue.as_ptr(), &mut stats) })?;
        Ok(stats.into())
    }

    /// Every queue's stats and options as one JSON object.
    pub fn stats_json(&self) -> Result<String> {
        let mut json: *mut c_char = ptr::null_mut();
        // SAFETY: live engine, valid out pointer.
        check(unsafe { sys::corq_stats_json(self.ptr(), &mut json) })?;
        // SAFETY: on success json is a NUL-terminated string owned by us, freed with corq_free.
        let text = unsafe { CStr::from_ptr(json) }.to_string_lossy().into_owned();
        unsafe { sys::corq_free(json as *mut c_void) };
        Ok(text)
    }

    /// Moves up to `max_messages` (0 = all) ready messages from a dead-letter queue back to their
    /// origin (or to `to_queue`); returns how many moved.
    pub fn redrive(
        &self,
        from_queue: &str,
        to_queue: Option<&str>,
        max_messages: u64,
    ) -> Result<u64> {
        let from = c_string("queue name", from_queue)?;
        let to = match to_queue {
            Some(name) => Some(c_string("queue name", name)?),
            None => None,
        };
        let to_ptr = to.as_ref().map_or(ptr::null(), |name| name.as_ptr());
        let mut moved = 0;
        // SAFETY: live engine, NUL-terminated names (or NULL), valid out pointer.
        check(unsafe {
            sys::corq_redrive(self.ptr(), from.as_ptr(), to_ptr, max_messages, &mut moved)
        })?;
        Ok(moved)
    }

    /// Declares an exchange; `options` are `durable`, `internal` and `alternate_exchange`.
    /// Idempotent with the same type and options; EEXIST with others.
    pub fn declare_exchange(
        &self,
        exchange: &str,
        kind: ExchangeType,
        options: &[(&str, &str)],
    ) -> Result<()> {
        let exchange = c_string("exchange name", exchange)?;
        let kind = c_string("exchange type", kind.as_str())?;
        let config = Config::from_pairs(options)?;
        // SAFETY: live engine, NUL-terminated strings, config outlives the call.
        check(unsafe {
            sys::corq_exchange_declare(
                self.ptr(),
                exchange.as_ptr(),
                kind.as_ptr(),
                config_ptr(&config),
            )
        })
        .map(|_| ())
    }

    /// Deletes an exchange and every binding from or to it.
    pub fn delete_exchange(&self, exchange: &str) -> Result<()> {
        let exchange = c_string("exchange name", exchange)?;
        // SAFETY: live engine, NUL-terminated name.
        check(unsafe { sys::corq_exchange_delete(self.ptr(), exchange.as_ptr()) }).map(|_| ())
    }

    fn change_binding(
        &self,
        call: BindingFn,
        source: &str,
        destination: (&str, &str),
        key: &str,
        arguments: &[BindArgument<'_>],
    ) -> Result<()> {
        let source = c_string("exchange name", source)?;
        let destination = c_string(destination.0, destination.1)?;
        let key = c_string("binding key", key)?;
        let arguments = RawArguments::new(arguments)?;
        // SAFETY: live engine, NUL-terminated strings, `arguments` lives for the call (corq
        // copies what it keeps).
        check(unsafe {
            call(
                self.ptr(),
                source.as_ptr(),
                destination.as_ptr(),
                key.as_ptr(),
                arguments.as_ptr(),
                arguments.headers.len(),
            )
        })
        .map(|_| ())
    }

    /// Binds `queue` to `exchange` with `key` (a pattern for topic exchanges; ignored by fanout
    /// and headers exchanges) and, for headers exchanges, `arguments`. Binding the same tuple
    /// twice is a no-op.
    pub fn bind(
        &self,
        exchange: &str,
        queue: &str,
        key: &str,
        arguments: &[BindArgument<'_>],
    ) -> Result<()> {
        self.change_binding(sys::corq_bind, exchange, ("queue name", queue), key, arguments)
    }

    /// Removes the binding with exactly this key and these arguments (ENOENT if none).
    pub fn unbind(
        &self,
        exchange: &str,
        queue: &str,
        key: &str,
        arguments: &[BindArgument<'_>],
    ) -> Result<()> {
        self.change_binding(sys::corq_unbind, exchange, ("queue name", queue), key, arguments)
    }

    /// Exchange to exchange: what `source` routes to this binding enters `destination`.
    pub fn bind_exchange(
        &self,
        source: &str,
        destination: &str,
        key: &str,
        arguments: &[BindArgument<'_>],
    ) -> Result<()> {
        let destination = ("exchange name", destination);
        self.change_binding(sys::corq_exchange_bind, source, destination, key, arguments)
    }

    /// Removes that exchange-to-exchange binding (ENOENT if none).
    pub fn unbind_exchange(
        &self,
        source: &str,
        destination: &str,
        key: &str,
        arguments: &[BindArgument<'_>],
    ) -> Result<()> {
        let destination = ("exchange name", destination);
        self.change_binding(sys::corq_exchange_unbind, source, destination, key, arguments)
    }

    /// Publishes through an exchange into every queue it routes to, atomically (all of them or
    /// none: EFULL). Exchange "" publishes to the queue named `routing_key`. With
    /// `options.mandatory`, a message no queue takes is EUNROUTABLE instead of dropped.
    pub fn publish_to_exchange(
        &self,
        exchange: &str,
        routing_key: &str,
        message: &Message<'_>,
        options: &PublishOptions,
    ) -> Result<Published> {
        let exchange = CName::new("exchange name", exchange)?;
        let routing_key = CName::new("routing key", routing_key)?;
        let raw = RawMessage::new(message)?;
        let (c_message, c_options) = (raw.as_c(), options.as_c());
        let mut published = Published { message_id: 0, routed: 0 };
        // SAFETY: every pointer is live for the call; corq copies what it keeps.
        check(unsafe {
            sys::corq_exchange_publish(
                self.ptr(),
                exchange.as_ptr(),
                routing_key.as_ptr(),
                &c_message,
                &c_options,
                &mut published.message_id,
                &mut published.routed,
            )
        })?;
        Ok(published)
    }

    /// Request-reply: publishes `request` through `exchange` ("" for the queue named by
    /// `routing_key`) with `x-reply-to` and `x-correlation-id` added, and waits up to `timeout_ms`
    /// (-1: no limit) for the response a responder sends with [`Delivery::respond`]. EUNROUTABLE
    /// at once when no queue takes the request (no responder), ETIMEDOUT when no response comes in
    /// time (a late one is dropped and counted, never handed to a later request).
    ///
    /// ```
    /// let engine = corq::Engine::in_memory(&[])?;
    /// engine.declare("prices", &[])?;
    /// std::thread::scope(|s| -> corq::Result<()> {
    ///     let service = s.spawn(|| -> corq::Result<()> {
    ///         let consumer = engine.consumer("prices", 8)?;
    ///         let request = consumer.consume(5000)?.expect("a request");
    ///         let answer = format!("{} costs 42", String::from_utf8_lossy(request.data()));
    ///         request.respond(&corq::Message::new(answer.as_bytes()))
    ///     });
    ///     let reply = engine.request("", "prices", &corq::Message::new(b"tea"), 5000)?;
    ///     assert_eq!(reply.data, b"tea costs 42");
    ///     service.join().unwrap()
    /// })?;
    /// # Ok::<(), corq::Error>(())
    /// ```
    pub fn request(
        &self,
        exchange: &str,
        routing_key: &str,
        request: &Message<'_>,
        timeout_ms: i32,
    ) -> Result<Reply> {
        let exchange = c_string("exchange name", exchange)?;
        let routing_key = c_string("routing key", routing_key)?;
        let raw = RawMessage::new(request)?;
        let c_message = raw.as_c();
        let mut reply: *mut sys::corq_reply = ptr::null_mut();
        // SAFETY: every pointer is live for the call; on success corq hands us the reply.
        check(unsafe {
            sys::corq_request(
                self.ptr(),
                exchange.as_ptr(),
                routing_key.as_ptr(),
                &c_message,
                timeout_ms,
                &mut reply,
            )
        })?;
        // SAFETY: a reply owned by us until corq_reply_free, which follows the copy.
        unsafe {
            let r = &*reply;
            let owned = Reply {
                data: bytes(r.data, r.len).to_vec(),
                headers: copy_headers(r.headers, r.header_count),
            };
            sys::corq_reply_free(reply);
            Ok(owned)
        }
    }

    /// One exchange's counters.
    pub fn exchange_stats(&self, exchange: &str) -> Result<ExchangeStats> {
        let exchange = c_string("exchange name", exchange)?;
        let mut stats = sys::corq_exchange_stats {
            struct_size: std::mem::size_of::<sys::corq_exchange_stats>() as u32,
            ..Default::default()
        };
        // SAFETY: live engine, NUL-terminated name, out sized by struct_size.
        check(unsafe { sys::corq_exchange_stats_get(self.ptr(), exchange.as_ptr(), &mut stats) })?;
        Ok(stats.into())
    }

    /// Declares a stream. Options: `partitions` (1-1024), `retention_ms`, `retention_bytes`,
    /// `retention_records`, `discard` (`old` or `new`), `dedup_window_ms`,
    /// `partition_segment_bytes`, `update`, `durable` (true by default on a disk engine: records,
    /// offsets and groups survive a restart). Idempotent with the same options;
    /// EEXIST with others (`update=true` may change the retention limits).
    pub fn declare_stream(&self, stream: &str, options: &[(&str, &str)]) -> Result<()> {
        let stream = c_string("stream name", stream)?;
        let config = Config::from_pairs(options)?;
        // SAFETY: live engine, NUL-terminated name, config outlives the call.
        check(unsafe { sys::corq_stream_declare(self.ptr(), stream.as_ptr(), config_ptr(&config)) })
            .map(|_| ())
    }

    /// Deletes a stream and its records; its readers' next read is ENOENT.
    pub fn delete_stream(&self, stream: &str) -> Result<()> {
        let stream = c_string("stream name", stream)?;
        // SAFETY: live engine, NUL-terminated name.
        check(unsafe { sys::corq_stream_delete(self.ptr(), stream.as_ptr()) }).map(|_| ())
    }

    /// Appends one record with the default options. `key` picks the partition as Kafka's default
    /// partitioner does (`Some(b"")` is a key too); `None` goes round robin.
    pub fn append(
        &self,
        stream: &str,
        key: Option<&[u8]>,
        message: &Message<'_>,
    ) -> Result<Appended> {
        self.append_with(stream, key, message, &PublishOptions::default())
    }

    /// Appends one record; returns where it went (for a dedup id seen within the stream's
    /// `dedup_window_ms`, where the original went: nothing is appended). Of the options, `nowait`
    /// and `timeout_ms` apply; a delay, TTL or priority is EINVAL.
    pub fn append_with(
        &self,
        stream: &str,
        key: Option<&[u8]>,
        message: &Message<'_>,
        options: &PublishOptions,
    ) -> Result<Appended> {
        let stream = c_string("stream name", stream)?;
        let raw = RawMessage::new(message)?;
        let (c_message, c_options) = (raw.as_c(), options.as_c());
        let (key_ptr, key_len) = key_parts(key);
        let mut appended = Appended { partition: 0, offset: 0 };
        // SAFETY: every pointer is live for the call (the key NULL or key_len bytes); corq copies
        // what it keeps.
        check(unsafe {
            sys::corq_stream_append(
                self.ptr(),
                stream.as_ptr(),
                key_ptr,
                key_len,
                &c_message,
                &c_options,
                &mut appended.partition,
                &mut appended.offset,
            )
        })?;
        Ok(appended)
    }

    /// Opens a producer of atomic batches for an existing stream; it borrows the engine.
    pub fn stream_producer(&self, stream: &str) -> Result<StreamProducer<'_>> {
        let stream = c_string("stream name", stream)?;
        let mut raw = ptr::null_mut();
        // SAFETY: live engine, NUL-terminated name, valid out pointer.
        check(unsafe { sys::corq_stream_producer_open(self.ptr(), stream.as_ptr(), &mut raw) })?;
        let raw =
            NonNull::new(raw).expect("corq_stream_producer_open succeeded without a producer");
        Ok(StreamProducer { raw, _engine: PhantomData })
    }

    /// Opens a reader of one partition from `start`; it borrows the engine. EINVAL for a partition
    /// the stream does not have or an offset past the end, ENOENT for an unknown stream.
    pub fn stream_reader(
        &self,
        stream: &str,
        partition: u32,
        start: StreamStart,
    ) -> Result<StreamReader<'_>> {
        let stream = c_string("stream name", stream)?;
        let start = c_string("start", &start.to_string())?;
        let mut raw = ptr::null_mut();
        // SAFETY: live engine, NUL-terminated strings, valid out pointer.
        check(unsafe {
            sys::corq_stream_reader_open(
                self.ptr(),
                stream.as_ptr(),
                partition,
                start.as_ptr(),
                &mut raw,
            )
        })?;
        let raw = NonNull::new(raw).expect("corq_stream_reader_open succeeded without a reader");
        Ok(StreamReader {
            handle: Arc::new(ReaderHandle { raw }),
            records: Vec::new(),
            _engine: PhantomData,
        })
    }

    /// One stream's counters.
    pub fn stream_stats(&self, stream: &str) -> Result<StreamStats> {
        let stream = c_string("stream name", stream)?;
        let mut stats = sys::corq_stream_stats {
            struct_size: std::mem::size_of::<sys::corq_stream_stats>() as u32,
            ..Default::default()
        };
        // SAFETY: live engine, NUL-terminated name, out sized by struct_size.
        check(unsafe { sys::corq_stream_stats_get(self.ptr(), stream.as_ptr(), &mut stats) })?;
        Ok(stats.into())
    }

    /// A member of consumer group `group` of `stream`: a `Consumer` whose deliveries are the
    /// stream's records (`message_id` is the offset; headers add `x-stream-partition`,
    /// `x-stream-offset` and `x-stream-key`). The first member's options define the group:
    /// `mode` (ordered, shared, key_ordered), `prefetch`, `start`, `max_attempts`,
    /// `retry_delay_ms`, `retry_backoff`, `retry_delay_max_ms`, `lease_ms`, `dead_letter_queue`.
    pub fn group_consumer(
        &self,
        stream: &str,
        group: &str,
        options: &[(&str, &str)],
    ) -> Result<Consumer<'_>> {
        let stream = c_string("stream name", stream)?;
        let group = c_string("group name", group)?;
        let config = Config::from_pairs(options)?;
        let mut raw = ptr::null_mut();
        // SAFETY: live engine, NUL-terminated names, config outlives the call, valid out pointer.
        check(unsafe {
            sys::corq_group_consumer_open(
                self.ptr(),
                stream.as_ptr(),
                group.as_ptr(),
                config_ptr(&config),
                &mut raw,
            )
        })?;
        let raw = NonNull::new(raw).expect("corq_group_consumer_open succeeded without a member");
        Ok(Consumer { raw, _engine: PhantomData })
    }

    /// Moves the group on `partition` (`None`: every partition) to `start` (`earliest`,
    /// `latest`, `offset:N`, `time:MS`); deliveries out for those partitions become stale.
    pub fn group_seek(
        &self,
        stream: &str,
        group: &str,
        partition: Option<u32>,
        start: &str,
    ) -> Result<()> {
        let stream = c_string("stream name", stream)?;
        let group = c_string("group name", group)?;
        let start = c_string("start", start)?;
        let partition = match partition {
            None => -1,
            Some(p) => i32::try_from(p)
                .map_err(|_| Error::invalid("partition above i32::MAX".to_string()))?,
        };
        // SAFETY: live engine, NUL-terminated strings.
        check(unsafe {
            sys::corq_group_seek(
                self.ptr(),
                stream.as_ptr(),
                group.as_ptr(),
                partition,
                start.as_ptr(),
            )
        })
        .map(|_| ())
    }

    /// Deletes the group; its members' next calls are ENOENT.
    pub fn group_delete(&self, stream: &str, group: &str) -> Result<()> {
        let stream = c_string("stream name", stream)?;
        let group = c_string("group name", group)?;
        // SAFETY: live engine, NUL-terminated names.
        check(unsafe { sys::corq_group_delete(self.ptr(), stream.as_ptr(), group.as_ptr()) })
            .map(|_| ())
    }

    /// One group's counters.
    pub fn group_stats(&self, stream: &str, group: &str) -> Result<sys::corq_group_stats> {
        let stream = c_string("stream name", stream)?;
        let group = c_string("group name", group)?;
        let mut stats = sys::corq_group_stats {
            struct_size: std::mem::size_of::<sys::corq_group_stats>() as u32,
            ..Default::default()
        };
        // SAFETY: live engine, NUL-terminated names, out sized by struct_size.
        check(unsafe {
            sys::corq_group_stats_get(self.ptr(), stream.as_ptr(), group.as_ptr(), &mut stats)
        })?;
        Ok(stats)
    }

    /// Begins a [`Transaction`]; it borrows the engine and is aborted when dropped uncommitted.
    /// Errors: ENOMEM.
    pub fn transaction(&self) -> Result<Transaction<'_>> {
        let mut raw = ptr::null_mut();
        // SAFETY: live engine, valid out pointer.
        check(unsafe { sys::corq_txn_begin(self.ptr(), &mut raw) })?;
        let raw = NonNull::new(raw).expect("corq_txn_begin succeeded without a transaction");
        Ok(Transaction { raw, _engine: PhantomData })
    }

    /// Sends the engine's log lines to `sink(level, message)` (level: `sys::CORQ_LOG_*`). It runs
    /// on engine threads; a panic in it aborts the process (it cannot unwind through C).
    pub fn set_log_callback<F>(&self, sink: F) -> Result<()>
    where
        F: Fn(i32, &str) + Send + Sync + 'static,
    {
        let sink: Box<LogSink> = Box::new(Box::new(sink));
        let user = &*sink as *const LogSink as *mut c_void;
        let mut sinks = self.log_sinks.lock().unwrap_or_else(|e| e.into_inner());
        // SAFETY: live engine; `user` points into a box kept in log_sinks until the engine closes.
        check(unsafe { sys::corq_set_log_callback(self.ptr(), Some(log_trampoline), user) })?;
        sinks.push(sink);
        Ok(())
    }

    /// Stops sending log lines.
    pub fn clear_log_callback(&self) -> Result<()> {
        // SAFETY: live engine; NULL removes the callback.
        check(unsafe { sys::corq_set_log_callback(self.ptr(), None, ptr::null_mut()) }).map(|_| ())
    }
}

unsafe extern "C" fn log_trampoline(user: *mut c_void, level: c_int, message: *const c_char) {
    // SAFETY: user is the LogSink box registered by set_log_callback, alive until close; message is
    // valid during this call.
    let sink = &*(user as *const LogSink);
    let message = CStr::from_ptr(message).to_string_lossy();
    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sink(level, &message))).is_err() {
        std::process::abort();
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        if !self.closed {
            // SAFETY: owned, closed once; nothing borrows it any more. The error (only EINVAL for
            // NULL) cannot happen here.
            unsafe { sys::corq_close(self.ptr()) };
        }
    }
}

// ---- Producer ----------------------------------------------------------------------------------

/// A producer (`corq_producer`): publishes atomic batches to one queue. Closed on drop.
pub struct Producer<'e> {
    raw: NonNull<sys::corq_producer>,
    _engine: PhantomData<&'e Engine>,
}

// SAFETY: corq.h: "One thread at a time (it may move between threads)": Send, not Sync.
unsafe impl Send for Producer<'_> {}

impl Producer<'_> {
    /// Publishes `messages` as one atomic batch; returns the first id (ids are consecutive).
    pub fn send(&mut self, messages: &[Message<'_>], options: &PublishOptions) -> Result<u64> {
        let raw = messages.iter().map(RawMessage::new).collect::<Result<Vec<_>>>()?;
        let c_messages: Vec<sys::corq_message> = raw.iter().map(RawMessage::as_c).collect();
        let c_options = options.as_c();
        let mut first_id = 0;
        // SAFETY: live producer, used by this thread only (&mut); every pointer lives for the call.
        check(unsafe {
            sys::corq_producer_send(
                self.raw.as_ptr(),
                c_messages.as_ptr(),
                c_messages.len(),
                &c_options,
                &mut first_id,
            )
        })?;
        Ok(first_id)
    }

    /// Waits until everything this producer sent is durable (timeout_ms -1: no limit).
    pub fn flush(&mut self, timeout_ms: i32) -> Result<()> {
        // SAFETY: live producer.
        check(unsafe { sys::corq_producer_flush(self.raw.as_ptr(), timeout_ms) }).map(|_| ())
    }

    /// Closes the producer (as dropping does).
    pub fn close(self) {}
}

impl Drop for Producer<'_> {
    fn drop(&mut self) {
        // SAFETY: owned, closed once.
        unsafe { sys::corq_producer_close(self.raw.as_ptr()) }
    }
}

// ---- Consumer ----------------------------------------------------------------------------------

/// How many deliveries one `consume_many` call asks for at most (its buffer is on the heap).
pub const CONSUME_BATCH_MAX: usize = 1024;

/// A consumer (`corq_consumer`) of one queue with a prefetch window. Closed on drop, which
/// releases its unsettled deliveries.
pub struct Consumer<'e> {
    raw: NonNull<sys::corq_consumer>,
    _engine: PhantomData<&'e Engine>,
}

// SAFETY: corq.h: "One thread at a time, except corq_consumer_wakeup (any thread)": Send, not Sync
// (the wakeup is the Send + Sync Waker).
unsafe impl Send for Consumer<'_> {}

impl<'e> Consumer<'e> {
    fn ptr(&self) -> *mut sys::corq_consumer {
        self.raw.as_ptr()
    }

    /// Waits up to `timeout_ms` (0 polls, -1 no limit) for one delivery; None on timeout or when
    /// the window is full. ECLOSED after a wakeup or engine close.
    pub fn consume(&self, timeout_ms: i32) -> Result<Option<Delivery<'_>>> {
        let mut out = std::mem::MaybeUninit::<sys::corq_delivery>::uninit();
        // SAFETY: live consumer, one thread (Consumer is not Sync); out has room for one entry.
        let n = check(unsafe { sys::corq_consume(self.ptr(), out.as_mut_ptr(), 1, timeout_ms) })?;
        // SAFETY: corq filled out when it returned 1. Copied at once, as in consume_many.
        Ok((n == 1).then(|| Delivery::copy_one(self, unsafe { out.assume_init_ref() })))
    }

    /// Up to `max` (at most [`CONSUME_BATCH_MAX`], and the free window) deliveries, waiting up to
    /// `timeout_ms` for the first one; empty on timeout.
    pub fn consume_many(&self, max: usize, timeout_ms: i32) -> Result<Vec<Delivery<'_>>> {
        let max = max.min(CONSUME_BATCH_MAX);
        // Up to 64 on the stack (the usual batch), more in a Vec: no allocation for the C array.
        let mut stack = [std::mem::MaybeUninit::<sys::corq_delivery>::uninit(); 64];
        let mut heap: Vec<sys::corq_delivery> = Vec::new();
        let out = if max <= stack.len() {
            stack.as_mut_ptr() as *mut sys::corq_delivery
        } else {
            heap.reserve_exact(max);
            heap.as_mut_ptr()
        };
        // SAFETY: live consumer, one thread (Consumer is not Sync); out has room for max entries.
        let n = check(unsafe { sys::corq_consume(self.ptr(), out, max, timeout_ms) })?;
        let n = n as usize;
        assert!(n <= max, "corq_consume returned more deliveries than asked for");
        // SAFETY: corq filled out[0..n).
        let filled = unsafe { std::slice::from_raw_parts(out, n) };
        // Copy now: the C views stay valid only until settlement or the next consume after a lease
        // expiry, which a Delivery cannot track.
        Ok(Delivery::copy_all(self, filled))
    }

    /// Acks the delivery with this tag (ESTATE if unknown, settled or lease-expired).
    pub fn ack(&self, tag: u64) -> Result<()> {
        // SAFETY: live consumer, one thread.
        check(unsafe { sys::corq_ack(self.ptr(), tag) }).map(|_| ())
    }

    /// Acks every outstanding delivery with a tag <= `tag` (ESTATE if none).
    pub fn ack_upto(&self, tag: u64) -> Result<()> {
        // SAFETY: live consumer, one thread.
        check(unsafe { sys::corq_ack_upto(self.ptr(), tag) }).map(|_| ())
    }

    /// A failed attempt: retried after `delay_ms` (0 at once, -1 the queue's backoff), or
    /// dead-lettered at max_attempts.
    pub fn nack(&self, tag: u64, delay_ms: i64) -> Result<()> {
        // SAFETY: live consumer, one thread.
        check(unsafe { sys::corq_nack(self.ptr(), tag, delay_ms) }).map(|_| ())
    }

    /// Hands the message back unprocessed (not a failed attempt).
    pub fn release(&self, tag: u64) -> Result<()> {
        // SAFETY: live consumer, one thread.
        check(unsafe { sys::corq_release(self.ptr(), tag) }).map(|_| ())
    }

    /// Dead-letters the message at once (x-death-reason "rejected", x-death-detail `reason`).
    pub fn reject(&self, tag: u64, reason: Option<&str>) -> Result<()> {
        let reason = match reason {
            Some(text) => Some(c_string("reject reason", text)?),
            None => None,
        };
        let reason_ptr = reason.as_ref().map_or(ptr::null(), |r| r.as_ptr());
        // SAFETY: live consumer, one thread; reason NULL or NUL-terminated.
        check(unsafe { sys::corq_reject(self.ptr(), tag, reason_ptr) }).map(|_| ())
    }

    /// Answers the request delivered as `tag` (see [`Engine::request`]) and acks it. EINVAL for a
    /// delivery without `x-reply-to` (nothing acked), EFULL when the reply queue is full (nothing
    /// acked); a response whose requester is gone is dropped and counted, the request acked.
    pub fn respond(&self, tag: u64, response: &Message<'_>) -> Result<()> {
        let raw = RawMessage::new(response)?;
        let c_message = raw.as_c();
        // SAFETY: live consumer, one thread; the message is live for the call (corq copies it).
        check(unsafe { sys::corq_respond(self.ptr(), tag, &c_message) }).map(|_| ())
    }

    /// Sets the delivery's lease to expire `lease_ms` (> 0) from now.
    pub fn extend(&self, tag: u64, lease_ms: i64) -> Result<()> {
        // SAFETY: live consumer, one thread.
        check(unsafe { sys::corq_extend(self.ptr(), tag, lease_ms) }).map(|_| ())
    }

    /// The current and every later consume returns ECLOSED; settling still works.
    pub fn wakeup(&self) -> Result<()> {
        self.waker().wake()
    }

    /// A handle that wakes this consumer from any thread (graceful shutdown).
    pub fn waker(&self) -> Waker<'_> {
        Waker { raw: self.raw, _consumer: PhantomData }
    }

    /// Closes the consumer (its unsettled deliveries are released) and reports the error.
    pub fn close(self) -> Result<()> {
        let raw = self.raw;
        std::mem::forget(self);
        // SAFETY: owned, closed once (Drop will not run).
        check(unsafe { sys::corq_consumer_close(raw.as_ptr()) }).map(|_| ())
    }
}

impl Drop for Consumer<'_> {
    fn drop(&mut self) {
        // SAFETY: owned, closed once. Its only error is EINVAL for NULL.
        unsafe { sys::corq_consumer_close(self.ptr()) };
    }
}

/// Wakes a consumer from any thread (`corq_consumer_wakeup`); borrows the consumer, so it cannot
/// outlive it.
#[derive(Clone, Copy)]
pub struct Waker<'c> {
    raw: NonNull<sys::corq_consumer>,
    _consumer: PhantomData<&'c ()>,
}

// SAFETY: corq.h: corq_consumer_wakeup may be called from any thread, and the borrow keeps the
// consumer open.
unsafe impl Send for Waker<'_> {}
unsafe impl Sync for Waker<'_> {}

impl Waker<'_> {
    pub fn wake(&self) -> Result<()> {
        // SAFETY: the consumer is open (borrowed for 'c); any thread may call this.
        check(unsafe { sys::corq_consumer_wakeup(self.raw.as_ptr()) }).map(|_| ())
    }

    /// One-shot (`corq_consumer_interrupt`): the consume waiting now, or else the next one,
    /// returns no delivery at once; the consumer stays usable (unlike `wake`).
    pub fn interrupt(&self) -> Result<()> {
        // SAFETY: the consumer is open (borrowed for 'c); any thread may call this.
        check(unsafe { sys::corq_consumer_interrupt(self.raw.as_ptr()) }).map(|_| ())
    }
}

// ---- Delivery ----------------------------------------------------------------------------------

/// One delivery: a copy of the message and its tag. Settle it exactly once with `ack`, `nack`,
/// `release` or `reject` (each consumes it).
pub struct Delivery<'c> {
    consumer: &'c Consumer<'c>,
    tag: u64,
    message_id: u64,
    /// The payloads of one consume's deliveries share one allocation (each its own range): a
    /// batch of 64 costs one allocation instead of 64. A Delivery is not Send anyway (it borrows
    /// a Consumer, which is not Sync), so the count need not be atomic.
    payloads: Rc<[u8]>,
    data: std::ops::Range<usize>,
    headers: Vec<(String, Vec<u8>)>,
    delivery_count: u32,
    published_at_ms: i64,
}

impl<'c> Delivery<'c> {
    /// Copies what one consume filled in: corq's views live only until settlement (or the next
    /// consume after a lease expiry), which a Delivery cannot track. All the payloads go into one
    /// shared allocation.
    fn copy_all(consumer: &'c Consumer<'c>, filled: &[sys::corq_delivery]) -> Vec<Delivery<'c>> {
        let mut all = Vec::with_capacity(filled.iter().map(|d| d.len).sum());
        for d in filled {
            // SAFETY: corq's view of the delivery it just filled, valid until settlement.
            all.extend_from_slice(unsafe { bytes(d.data, d.len) });
        }
        let payloads: Rc<[u8]> = Rc::from(all);
        let mut at = 0;
        filled
            .iter()
            .map(|d| {
                at += d.len;
                Delivery::with_payload(consumer, d, Rc::clone(&payloads), at - d.len..at)
            })
            .collect()
    }

    /// As copy_all for a single delivery: one allocation for its payload.
    fn copy_one(consumer: &'c Consumer<'c>, d: &sys::corq_delivery) -> Delivery<'c> {
        // SAFETY: corq's view of the delivery it just filled, valid until settlement.
        let payloads: Rc<[u8]> = Rc::from(unsafe { bytes(d.data, d.len) });
        Delivery::with_payload(consumer, d, payloads, 0..d.len)
    }

    fn with_payload(
        consumer: &'c Consumer<'c>,
        d: &sys::corq_delivery,
        payloads: Rc<[u8]>,
        data: std::ops::Range<usize>,
    ) -> Delivery<'c> {
        Delivery {
            consumer,
            tag: d.tag,
            message_id: d.message_id,
            payloads,
            data,
            // SAFETY: corq's views of the headers, valid until settlement.
            headers: unsafe { copy_headers(d.headers, d.header_count) },
            delivery_count: d.delivery_count,
            published_at_ms: d.published_at_ms,
        }
    }

    /// Names this delivery within its consumer (increasing).
    pub fn tag(&self) -> u64 {
        self.tag
    }
    pub fn message_id(&self) -> u64 {
        self.message_id
    }
    pub fn data(&self) -> &[u8] {
        &self.payloads[self.data.clone()]
    }
    /// Every header in order (keys as text; corq's own are `x-death-*`).
    pub fn headers(&self) -> &[(String, Vec<u8>)] {
        &self.headers
    }
    /// The value of the first header named `key`.
    pub fn header(&self, key: &str) -> Option<&[u8]> {
        self.headers.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_slice())
    }
    /// 1 on first delivery; counts every delivery, released ones too.
    pub fn delivery_count(&self) -> u32 {
        self.delivery_count
    }
    /// Unix time of the publish, in ms.
    pub fn published_at_ms(&self) -> i64 {
        self.published_at_ms
    }

    /// Done: the message leaves the queue.
    pub fn ack(self) -> Result<()> {
        self.consumer.ack(self.tag)
    }
    /// A failed attempt: retried after `delay_ms` (-1: the queue's backoff) or dead-lettered.
    pub fn nack(self, delay_ms: i64) -> Result<()> {
        self.consumer.nack(self.tag, delay_ms)
    }
    /// Answers this request with `response` and acks it (see [`Consumer::respond`]).
    pub fn respond(self, response: &Message<'_>) -> Result<()> {
        self.consumer.respond(self.tag, response)
    }
    /// Back to the queue unprocessed.
    pub fn release(self) -> Result<()> {
        self.consumer.release(self.tag)
    }
    /// Poison: dead-lettered at once.
    pub fn reject(self, reason: Option<&str>) -> Result<()> {
        self.consumer.reject(self.tag, reason)
    }
    /// Extends the lease to `lease_ms` from now.
    pub fn extend(&self, lease_ms: i64) -> Result<()> {
        self.consumer.extend(self.tag, lease_ms)
    }
}

impl fmt::Debug for Delivery<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delivery")
            .field("tag", &self.tag)
            .field("message_id", &self.message_id)
            .field("len", &self.data.len())
            .field("headers", &self.headers.len())
            .field("delivery_count", &self.delivery_count)
            .finish()
    }
}

// ---- Transactions ------------------------------------------------------------------------------

/// A transaction (`corq_txn`, corq.h "Transactions"), from [`Engine::transaction`]: publishes (to a
/// queue or through an exchange), stream appends and acks of deliveries held by consumers (queue
/// consumers and group members) that [`commit`](Self::commit) applies atomically — after a crash
/// all of them exist or none does. Until then nothing of it is visible: its messages are not
/// delivered, its records not readable, its acks not applied (the deliveries stay in flight with
/// their leases running).
///
/// An operation corq refuses at once (bad argument, unknown queue, exchange, stream or tag, a
/// message over `max_message_bytes`, a limit passed: 65,536 operations or `max_txn_bytes`) returns
/// its [`Error`] and is not part of the transaction, which stays usable. `commit` and `abort`
/// consume it; dropping it aborts it. It borrows the engine, so the engine cannot be closed under
/// it. `Send`, not `Sync`: one thread at a time, the thread that uses the consumers whose
/// deliveries it acks.
pub struct Transaction<'e> {
    raw: NonNull<sys::corq_txn>,
    _engine: PhantomData<&'e Engine>,
}

// SAFETY: corq.h: "A transaction is used by one thread at a time" (it may move between threads):
// Send, not Sync.
unsafe impl Send for Transaction<'_> {}

impl Transaction<'_> {
    fn ptr(&self) -> *mut sys::corq_txn {
        self.raw.as_ptr()
    }

    /// Adds a publish with the default options: exchange "" sends to the queue `routing_key`
    /// names (ENOENT at once if there is none), any other exchange routes at commit as
    /// [`Engine::publish_to_exchange`] does (every matched queue or none). The message is copied;
    /// its id is assigned at commit.
    pub fn publish(&self, exchange: &str, routing_key: &str, message: &Message<'_>) -> Result<()> {
        self.publish_with(exchange, routing_key, message, &PublishOptions::default())
    }

    /// Adds a publish. Of the options, `mandatory` (EUNROUTABLE: at once for the default exchange,
    /// at commit through another), `delay_ms`, `ttl_ms` and `priority` apply; `nowait` and
    /// `timeout_ms` are ignored (the commit decides the wait). Errors: EINVAL, ENOENT,
    /// EUNROUTABLE, ETOOBIG, ENOMEM.
    pub fn publish_with(
        &self,
        exchange: &str,
        routing_key: &str,
        message: &Message<'_>,
        options: &PublishOptions,
    ) -> Result<()> {
        let exchange = c_string("exchange name", exchange)?;
        let routing_key = c_string("routing key", routing_key)?;
        let raw = RawMessage::new(message)?;
        let (c_message, c_options) = (raw.as_c(), options.as_c());
        // SAFETY: live transaction, one thread (not Sync); every pointer lives for the call and
        // corq copies what it keeps.
        check(unsafe {
            sys::corq_txn_publish(
                self.ptr(),
                exchange.as_ptr(),
                routing_key.as_ptr(),
                &c_message,
                &c_options,
            )
        })
        .map(|_| ())
    }

    /// Adds a stream append of one record with the default options (arguments as
    /// [`Engine::append`]): `key` picks the partition at commit as `Engine::append` does (`None`:
    /// round robin; `Some(b"")` is a key); the offset is assigned at commit (not returned). ENOENT
    /// at once for an unknown stream.
    pub fn append(&self, stream: &str, key: Option<&[u8]>, message: &Message<'_>) -> Result<()> {
        self.append_with(stream, key, message, &PublishOptions::default())
    }

    /// Adds a stream append. A delay, TTL or priority in the options is EINVAL. Errors: EINVAL,
    /// ENOENT, ETOOBIG, ENOMEM.
    pub fn append_with(
        &self,
        stream: &str,
        key: Option<&[u8]>,
        message: &Message<'_>,
        options: &PublishOptions,
    ) -> Result<()> {
        let stream = c_string("stream name", stream)?;
        let raw = RawMessage::new(message)?;
        let (c_message, c_options) = (raw.as_c(), options.as_c());
        let (key_ptr, key_len) = key_parts(key);
        // SAFETY: live transaction, one thread; every pointer lives for the call (the key NULL or
        // key_len bytes) and corq copies what it keeps.
        check(unsafe {
            sys::corq_txn_append(
                self.ptr(),
                stream.as_ptr(),
                key_ptr,
                key_len,
                &c_message,
                &c_options,
            )
        })
        .map(|_| ())
    }

    /// Adds the ack of a delivery its consumer holds now. The delivery stays held until the
    /// commit (settling it yourself before then makes the commit fail with ESTATE). Errors: ESTATE
    /// (the consumer no longer holds it, or this transaction acks it already), EINVAL (a consumer
    /// of another engine).
    pub fn ack(&self, delivery: &Delivery<'_>) -> Result<()> {
        self.ack_tag(delivery.consumer, delivery.tag)
    }

    /// Adds the ack of the delivery with this tag that `consumer` holds now (as [`ack`](Self::ack)).
    pub fn ack_tag(&self, consumer: &Consumer<'_>, tag: u64) -> Result<()> {
        // SAFETY: live transaction and consumer, both on this thread (neither is Sync).
        check(unsafe { sys::corq_txn_ack(self.ptr(), consumer.ptr(), tag) }).map(|_| ())
    }

    /// Applies everything or nothing, and ends the transaction whatever it returns. `timeout_ms`
    /// bounds the wait for room under overflow=block and for durability (-1: no limit). Errors,
    /// with nothing applied and the acked deliveries still held: ESTATE (an acked delivery is no
    /// longer held: settled, lease expired, consumer closed), ENOENT (a target was deleted),
    /// EUNROUTABLE, EFULL, ETOOBIG, ENOSPC, EFAILED; ETIMEDOUT or EFAILED while waiting for
    /// durability: the outcome is unknown, never partial; EINVAL for a timeout below -1.
    pub fn commit(self, timeout_ms: i32) -> Result<()> {
        let raw = self.raw;
        std::mem::forget(self);
        // SAFETY: owned; corq_txn_commit frees it whatever it returns, and Drop will not run.
        check(unsafe { sys::corq_txn_commit(raw.as_ptr(), timeout_ms) }).map(|_| ())
    }

    /// Discards the transaction (as dropping does): its acks are not applied, the deliveries stay
    /// held.
    pub fn abort(self) {}
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        // SAFETY: owned and not committed (commit forgets self); freed once.
        unsafe { sys::corq_txn_abort(self.ptr()) }
    }
}

impl fmt::Debug for Transaction<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transaction").field("raw", &self.raw).finish()
    }
}

// ---- Streams -----------------------------------------------------------------------------------

/// Where an append went: the record's partition and offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Appended {
    pub partition: u32,
    pub offset: u64,
}

/// Where a stream producer's batch went: its partition and its first record's offset (the others
/// follow consecutively).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppendedBatch {
    pub partition: u32,
    pub first_offset: u64,
}

/// Where a [`StreamReader`] starts (the `start` of `corq_stream_reader_open`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StreamStart {
    /// The first retained record.
    Earliest,
    /// The next record appended.
    Latest,
    /// This offset: the end is `Latest`, past it EINVAL; below the first retained record it starts
    /// there and counts the difference as skipped.
    Offset(u64),
    /// The first record appended at or after this time (unix ms; negative: EINVAL).
    Time(i64),
}

impl fmt::Display for StreamStart {
    /// The text corq takes: "earliest", "latest", "offset:N", "time:MS".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StreamStart::Earliest => f.write_str("earliest"),
            StreamStart::Latest => f.write_str("latest"),
            StreamStart::Offset(offset) => write!(f, "offset:{}", offset),
            StreamStart::Time(ms) => write!(f, "time:{}", ms),
        }
    }
}

/// A stream's counters (`corq_stream_stats`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamStats {
    pub partitions: u32,
    /// Records retained now.
    pub records: u64,
    /// Bytes retained now: keys, payloads and headers.
    pub bytes: u64,
    /// Records appended since the engine opened.
    pub appended: u64,
    /// Records retention deleted.
    pub deleted: u64,
    /// Appends swallowed by the dedup window.
    pub deduplicated: u64,
    /// Consumer groups of the stream.
    pub groups: u64,
}

impl From<sys::corq_stream_stats> for StreamStats {
    fn from(s: sys::corq_stream_stats) -> StreamStats {
        StreamStats {
            partitions: s.partitions,
            records: s.records,
            bytes: s.bytes,
            appended: s.appended,
            deleted: s.deleted,
            deduplicated: s.deduplicated,
            groups: s.groups,
        }
    }
}

/// A key as the C API takes it: NULL and 0 for none, else its bytes (an empty slice's pointer is
/// never NULL, so `Some(b"")` stays a key).
fn key_parts(key: Option<&[u8]>) -> (*const c_void, usize) {
    match key {
        Some(key) => (key.as_ptr() as *const c_void, key.len()),
        None => (ptr::null(), 0),
    }
}

/// A stream producer (`corq_stream_producer`): appends atomic batches, each to one partition.
/// Closed on drop.
pub struct StreamProducer<'e> {
    raw: NonNull<sys::corq_stream_producer>,
    _engine: PhantomData<&'e Engine>,
}

// SAFETY: corq.h: "One thread at a time": Send, not Sync.
unsafe impl Send for StreamProducer<'_> {}

impl StreamProducer<'_> {
    /// Appends `messages` (at least one) as one batch, all or none, to the partition `key` picks
    /// (`None`: the next in round robin), with consecutive offsets and one timestamp; every record
    /// carries the key. A dedup id on the first message names the batch (the others may not have
    /// one: EINVAL). Options as for [`Engine::append_with`].
    pub fn send(
        &mut self,
        key: Option<&[u8]>,
        messages: &[Message<'_>],
        options: &PublishOptions,
    ) -> Result<AppendedBatch> {
        let raw = messages.iter().map(RawMessage::new).collect::<Result<Vec<_>>>()?;
        let c_messages: Vec<sys::corq_message> = raw.iter().map(RawMessage::as_c).collect();
        let c_options = options.as_c();
        let (key_ptr, key_len) = key_parts(key);
        let mut sent = AppendedBatch { partition: 0, first_offset: 0 };
        // SAFETY: live producer, used by this thread only (&mut); every pointer lives for the call.
        check(unsafe {
            sys::corq_stream_producer_send(
                self.raw.as_ptr(),
                key_ptr,
                key_len,
                c_messages.as_ptr(),
                c_messages.len(),
                &c_options,
                &mut sent.partition,
                &mut sent.first_offset,
            )
        })?;
        Ok(sent)
    }

    /// Closes the producer (as dropping does).
    pub fn close(self) {}
}

impl Drop for StreamProducer<'_> {
    fn drop(&mut self) {
        // SAFETY: owned, closed once. Its only error is EINVAL for NULL.
        unsafe { sys::corq_stream_producer_close(self.raw.as_ptr()) };
    }
}

/// How many records one [`StreamReader::read`] asks for at most (its buffer is on the heap).
pub const READ_BATCH_MAX: usize = 1024;

/// The C reader, shared by its [`StreamReader`] and their [`StreamWaker`]s and closed when the last
/// of them is gone.
struct ReaderHandle {
    raw: NonNull<sys::corq_stream_reader>,
}

// SAFETY: reads go through `&mut StreamReader` only (one thread at a time); what `&ReaderHandle`
// gives other threads is corq_stream_reader_wakeup, which corq.h allows from any thread, and the
// close in Drop, which runs once nothing else holds it.
unsafe impl Send for ReaderHandle {}
unsafe impl Sync for ReaderHandle {}

impl Drop for ReaderHandle {
    fn drop(&mut self) {
        // SAFETY: owned, closed once, after every read (the last owner drops it). Its only error is
        // EINVAL for NULL.
        unsafe { sys::corq_stream_reader_close(self.raw.as_ptr()) };
    }
}

/// A reader (`corq_stream_reader`) of one stream partition: replays from its start and follows
/// the tail. Closed on drop (once its wakers are gone too).
pub struct StreamReader<'e> {
    handle: Arc<ReaderHandle>,
    /// The last read's records: views into corq's memory, valid until the next read.
    records: Vec<StreamRecord>,
    _engine: PhantomData<&'e Engine>,
}

// SAFETY: corq.h: "one thread at a time (corq_stream_reader_wakeup aside)": Send; not Sync (the
// records' raw pointers already make it so; the wakeup is the Send + Sync StreamWaker).
unsafe impl Send for StreamReader<'_> {}

impl<'e> StreamReader<'e> {
    /// Up to `max` records (at least 1; at most [`READ_BATCH_MAX`]) from the reader's position,
    /// waiting up to `timeout_ms` (0 polls, -1 no limit) for the first; empty on timeout or after a
    /// wakeup. The records borrow the reader: they are valid until its next read or close. If
    /// retention deleted records before they were read, the read goes on at the first retained one
    /// and [`skipped`](Self::skipped) counts them. ENOENT once the stream is deleted.
    pub fn read(&mut self, max: usize, timeout_ms: i32) -> Result<&[StreamRecord]> {
        let max = max.min(READ_BATCH_MAX);
        // The previous records die with this call: nothing borrows them (&mut self).
        self.records.clear();
        self.records.reserve(max);
        // SAFETY: live reader, one thread (&mut self); the buffer has room for max records
        // (StreamRecord is a transparent corq_stream_record).
        let n = check(unsafe {
            sys::corq_stream_read(
                self.handle.raw.as_ptr(),
                self.records.as_mut_ptr() as *mut sys::corq_stream_record,
                max,
                timeout_ms,
            )
        })? as usize;
        assert!(n <= max, "corq_stream_read returned more records than asked for");
        // SAFETY: corq filled records[0..n); they stay valid until the next read or close.
        unsafe { self.records.set_len(n) };
        Ok(&self.records)
    }

    /// Records this reader skipped because retention deleted them before it read them.
    pub fn skipped(&self) -> u64 {
        // SAFETY: live reader.
        unsafe { sys::corq_stream_reader_skipped(self.handle.raw.as_ptr()) }
    }

    /// A waiting read returns no records at once (or the next read that would wait).
    pub fn wakeup(&self) -> Result<()> {
        self.waker().wake()
    }

    /// A handle that wakes this reader from any thread. It shares the reader's C handle, which is
    /// closed once the reader and every waker are gone; it cannot outlive the engine.
    pub fn waker(&self) -> StreamWaker<'e> {
        StreamWaker { handle: Arc::clone(&self.handle), _engine: PhantomData }
    }

    /// Closes the reader (as dropping does).
    pub fn close(self) {}
}

/// Wakes a [`StreamReader`] from any thread (`corq_stream_reader_wakeup`).
#[derive(Clone)]
pub struct StreamWaker<'e> {
    handle: Arc<ReaderHandle>,
    _engine: PhantomData<&'e Engine>,
}

impl StreamWaker<'_> {
    pub fn wake(&self) -> Result<()> {
        // SAFETY: the handle is open while this Arc holds it; any thread may call this.
        check(unsafe { sys::corq_stream_reader_wakeup(self.handle.raw.as_ptr()) }).map(|_| ())
    }
}

/// One record of a stream as a reader sees it: zero-copy views into corq's memory, borrowed from
/// the [`StreamReader`] until its next read.
#[repr(transparent)]
pub struct StreamRecord {
    raw: sys::corq_stream_record,
}

impl StreamRecord {
    pub fn partition(&self) -> u32 {
        self.raw.partition
    }
    pub fn offset(&self) -> u64 {
        self.raw.offset
    }
    /// The append time, unix ms (non-decreasing within a partition).
    pub fn timestamp_ms(&self) -> i64 {
        self.raw.timestamp_ms
    }
    /// The key, or None for a record appended without one (`Some(b"")` is a key).
    pub fn key(&self) -> Option<&[u8]> {
        if self.raw.key.is_null() {
            None
        } else {
            // SAFETY: corq's view of key_len bytes, valid while the reader is borrowed.
            Some(unsafe { bytes(self.raw.key, self.raw.key_len) })
        }
    }
    pub fn data(&self) -> &[u8] {
        // SAFETY: as for key.
        unsafe { bytes(self.raw.data, self.raw.len) }
    }
    /// Every header in order (keys as text, lossily decoded if they are not UTF-8).
    pub fn headers(&self) -> Vec<(Cow<'_, str>, &[u8])> {
        self.raw_headers()
            .iter()
            .map(|h| {
                // SAFETY: a NUL-terminated key and value_len bytes, valid as the record is.
                let key = unsafe { CStr::from_ptr(h.key) }.to_string_lossy();
                (key, unsafe { bytes(h.value, h.value_len) })
            })
            .collect()
    }
    /// The value of the first header named `key`.
    pub fn header(&self, key: &str) -> Option<&[u8]> {
        self.raw_headers()
            .iter()
            // SAFETY: as in headers.
            .find(|h| unsafe { CStr::from_ptr(h.key) }.to_bytes() == key.as_bytes())
            .map(|h| unsafe { bytes(h.value, h.value_len) })
    }

    fn raw_headers(&self) -> &[sys::corq_header] {
        if self.raw.header_count == 0 {
            &[]
        } else {
            // SAFETY: header_count entries, valid while the reader is borrowed.
            unsafe { std::slice::from_raw_parts(self.raw.headers, self.raw.header_count) }
        }
    }
}

/// Owned copies of `count` C headers (keys lossily decoded if they are not UTF-8).
///
/// # Safety
/// For count > 0, `headers` points to `count` headers, each a NUL-terminated key and `value_len`
/// readable bytes.
unsafe fn copy_headers(headers: *const sys::corq_header, count: usize) -> Vec<(String, Vec<u8>)> {
    if count == 0 {
        return Vec::new();
    }
    std::slice::from_raw_parts(headers, count)
        .iter()
        .map(|h| {
            let key = CStr::from_ptr(h.key).to_string_lossy().into_owned();
            (key, bytes(h.value, h.value_len).to_vec())
        })
        .collect()
}

/// `len` bytes at `data` as a slice (empty for 0, whatever the pointer: it may be NULL then).
///
/// # Safety
/// For len > 0, `data` points to `len` readable bytes that outlive `'a`.
unsafe fn bytes<'a>(data: *const c_void, len: usize) -> &'a [u8] {
    if len == 0 {
        &[]
    } else {
        std::slice::from_raw_parts(data as *const u8, len)
    }
}

impl fmt::Debug for StreamRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamRecord")
            .field("partition", &self.raw.partition)
            .field("offset", &self.raw.offset)
            .field("timestamp_ms", &self.raw.timestamp_ms)
            .field("key", &self.key())
            .field("len", &self.raw.len)
            .field("headers", &self.raw.header_count)
            .finish()
    }
}

impl fmt::Debug for StreamProducer<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamProducer").field("raw", &self.raw).finish()
    }
}

impl fmt::Debug for StreamReader<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamReader").field("raw", &self.handle.raw).finish()
    }
}

impl fmt::Debug for StreamWaker<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamWaker").field("raw", &self.handle.raw).finish()
    }
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine").field("raw", &self.raw).finish()
    }
}

impl fmt::Debug for Producer<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Producer").field("raw", &self.raw).finish()
    }
}

impl fmt::Debug for Consumer<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Consumer").field("raw", &self.raw).finish()
    }
}

impl fmt::Debug for Waker<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Waker").field("raw", &self.raw).finish()
    }
}
