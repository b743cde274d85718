//! Raw declarations of the C API of `corq/corq.h`, one to one: same names, same types, same values.
//! Everything here is `unsafe` to call; the contracts (ownership, lifetime, thread-safety, errors)
//! are the ones written in `corq.h`, which is the manual. The safe wrapper in the crate root is
//! built on these alone. Every function of `corq.h` is declared.
#![allow(non_camel_case_types)]

use std::os::raw::{c_char, c_int, c_void};

// ---- Version -----------------------------------------------------------------------------------

/// The version of `corq.h` these declarations were written against (`MAJOR*10000 + MINOR*100 +
/// PATCH`). `corq_version()` returns the linked library's.
pub const CORQ_VERSION_MAJOR: u32 = 0;
pub const CORQ_VERSION_MINOR: u32 = 1;
pub const CORQ_VERSION_PATCH: u32 = 0;
pub const CORQ_VERSION: u32 =
    CORQ_VERSION_MAJOR * 10000 + CORQ_VERSION_MINOR * 100 + CORQ_VERSION_PATCH;
pub const CORQ_VERSION_STRING: &str = "0.1.0";

// ---- Errors (values are part of the ABI) -------------------------------------------------------

pub const CORQ_OK: c_int = 0;
pub const CORQ_EINVAL: c_int = -1;
pub const CORQ_ENOMEM: c_int = -2;
pub const CORQ_EIO: c_int = -3;
pub const CORQ_ENOSPC: c_int = -4;
pub const CORQ_ENOENT: c_int = -5;
pub const CORQ_EEXIST: c_int = -6;
pub const CORQ_EFULL: c_int = -7;
pub const CORQ_ETIMEDOUT: c_int = -8;
pub const CORQ_ESTATE: c_int = -9;
pub const CORQ_ECLOSED: c_int = -10;
pub const CORQ_EBUSY: c_int = -11;
pub const CORQ_ECORRUPT: c_int = -12;
pub const CORQ_EFAILED: c_int = -13;
pub const CORQ_ETOOBIG: c_int = -14;
pub const CORQ_EUNSUPPORTED: c_int = -15;
pub const CORQ_EUNROUTABLE: c_int = -16;

/// Publish flag: don't wait for durability.
pub const CORQ_PUBLISH_NOWAIT: u32 = 1;
/// Publish flag (`corq_exchange_publish`): a message no queue takes fails with `CORQ_EUNROUTABLE`
/// instead of being dropped and counted.
pub const CORQ_PUBLISH_MANDATORY: u32 = 2;

pub const CORQ_LOG_ERROR: c_int = 0;
pub const CORQ_LOG_WARN: c_int = 1;
pub const CORQ_LOG_INFO: c_int = 2;
pub const CORQ_LOG_DEBUG: c_int = 3;

// ---- Handles (opaque) --------------------------------------------------------------------------

/// Opaque: a bag of string options. One thread at a time.
#[repr(C)]
pub struct corq_config {
    _opaque: [u8; 0],
}
/// Opaque: the engine. Thread-safe, except that `corq_close` must not race other calls.
#[repr(C)]
pub struct corq_engine {
    _opaque: [u8; 0],
}
/// Opaque: a producer for one queue. One thread at a time.
#[repr(C)]
pub struct corq_producer {
    _opaque: [u8; 0],
}
/// Opaque: a consumer of one queue. One thread at a time, except `corq_consumer_wakeup`.
#[repr(C)]
pub struct corq_consumer {
    _opaque: [u8; 0],
}
/// Opaque: a producer of batches to one stream. One thread at a time.
#[repr(C)]
pub struct corq_stream_producer {
    _opaque: [u8; 0],
}
/// Opaque: a reader of one stream partition. One thread at a time, except
/// `corq_stream_reader_wakeup`.
#[repr(C)]
pub struct corq_stream_reader {
    _opaque: [u8; 0],
}
/// Opaque: a transaction (publishes, appends and acks applied together by `corq_txn_commit`). One
/// thread at a time: the thread that uses the consumers whose deliveries it acks.
#[repr(C)]
pub struct corq_txn {
    _opaque: [u8; 0],
}

// ---- Plain structs -----------------------------------------------------------------------------

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct corq_header {
    pub key: *const c_char,
    pub value: *const c_void,
    pub value_len: usize,
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct corq_message {
    pub data: *const c_void,
    pub len: usize,
    pub headers: *const corq_header,
    pub header_count: usize,
    pub dedup_id: *const c_char,
}

/// A response of `corq_request`, owned by the caller until `corq_reply_free`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct corq_reply {
    pub data: *const c_void,
    pub len: usize,
    pub headers: *const corq_header,
    pub header_count: usize,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct corq_publish_options {
    pub struct_size: u32,
    pub flags: u32,
    pub timeout_ms: i32,
    pub delay_ms: i64,
    pub ttl_ms: i64,
    // Added with exchanges (a struct_size that ends before it reads as 0).
    pub priority: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct corq_delivery {
    pub tag: u64,
    pub message_id: u64,
    pub data: *const c_void,
    pub len: usize,
    pub headers: *const corq_header,
    pub header_count: usize,
    pub delivery_count: u32,
    pub published_at_ms: i64,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct corq_queue_stats {
    pub struct_size: u32,
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
    // Added after the first version of the struct.
    pub purged: u64,
    pub redriven: u64,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct corq_exchange_stats {
    pub struct_size: u32,
    pub bindings: u64,
    pub published: u64,
    pub routed: u64,
    pub unroutable: u64,
    pub alternated: u64,
}

/// A record as a reader sees it: views valid until the reader's next read or close; `key` is NULL
/// for a record without one.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct corq_stream_record {
    pub partition: u32,
    pub offset: u64,
    pub timestamp_ms: i64,
    pub key: *const c_void,
    pub key_len: usize,
    pub data: *const c_void,
    pub len: usize,
    pub headers: *const corq_header,
    pub header_count: usize,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct corq_stream_stats {
    pub struct_size: u32,
    pub partitions: u32,
    pub records: u64,
    pub bytes: u64,
    pub appended: u64,
    pub deleted: u64,
    pub deduplicated: u64,
    pub groups: u64,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct corq_group_stats {
    pub struct_size: u32,
    pub members: u32,
    pub lag: u64,
    pub in_flight: u64,
    pub delivered: u64,
    pub acked: u64,
    pub nacked: u64,
    pub dead_lettered: u64,
    pub skipped: u64,
}

/// Receives the engine's log lines; called from engine threads; must not call back into corq.
pub type corq_log_fn =
    Option<unsafe extern "C" fn(user: *mut c_void, level: c_int, message: *const c_char)>;

// ---- Functions ---------------------------------------------------------------------------------

extern "C" {
    pub fn corq_version() -> u32;
    pub fn corq_version_string() -> *const c_char;
    pub fn corq_strerror(code: c_int) -> *const c_char;
    pub fn corq_last_error() -> *const c_char;

    pub fn corq_config_new() -> *mut corq_config;
    pub fn corq_config_set(
        config: *mut corq_config,
        key: *const c_char,
        value: *const c_char,
    ) -> c_int;
    pub fn corq_config_free(config: *mut corq_config);

    pub fn corq_open(
        dir: *const c_char,
        engine_options: *const corq_config,
        out: *mut *mut corq_engine,
    ) -> c_int;
    pub fn corq_close(engine: *mut corq_engine) -> c_int;
    pub fn corq_sync(engine: *mut corq_engine, timeout_ms: i32) -> c_int;
    pub fn corq_engine_id(engine: *mut corq_engine, out: *mut c_char) -> c_int;

    pub fn corq_queue_declare(
        engine: *mut corq_engine,
        queue: *const c_char,
        queue_options: *const corq_config,
    ) -> c_int;
    pub fn corq_queue_delete(engine: *mut corq_engine, queue: *const c_char) -> c_int;
    pub fn corq_queue_declare_temp(
        engine: *mut corq_engine,
        queue_options: *const corq_config,
        name_out: *mut c_char,
        name_capacity: usize,
    ) -> c_int;

    pub fn corq_queue_purge(
        engine: *mut corq_engine,
        queue: *const c_char,
        purged: *mut u64,
    ) -> c_int;

    pub fn corq_publish(
        engine: *mut corq_engine,
        queue: *const c_char,
        message: *const corq_message,
        options: *const corq_publish_options,
        message_id: *mut u64,
    ) -> c_int;
    pub fn corq_wait_durable(engine: *mut corq_engine, message_id: u64, timeout_ms: i32) -> c_int;

    pub fn corq_producer_open(
        engine: *mut corq_engine,
        queue: *const c_char,
        out: *mut *mut corq_producer,
    ) -> c_int;
    pub fn corq_producer_send(
        producer: *mut corq_producer,
        msgs: *const corq_message,
        count: usize,
        options: *const corq_publish_options,
        first_message_id: *mut u64,
    ) -> c_int;
    pub fn corq_producer_flush(producer: *mut corq_producer, timeout_ms: i32) -> c_int;
    pub fn corq_producer_close(producer: *mut corq_producer);

    pub fn corq_consumer_open(
        engine: *mut corq_engine,
        queue: *const c_char,
        prefetch: u32,
        out: *mut *mut corq_consumer,
    ) -> c_int;
    pub fn corq_consume(
        consumer: *mut corq_consumer,
        out: *mut corq_delivery,
        max: usize,
        timeout_ms: i32,
    ) -> c_int;
    pub fn corq_ack(consumer: *mut corq_consumer, tag: u64) -> c_int;
    pub fn corq_ack_upto(consumer: *mut corq_consumer, tag: u64) -> c_int;
    pub fn corq_nack(consumer: *mut corq_consumer, tag: u64, delay_ms: i64) -> c_int;
    pub fn corq_release(consumer: *mut corq_consumer, tag: u64) -> c_int;
    pub fn corq_reject(consumer: *mut corq_consumer, tag: u64, reason: *const c_char) -> c_int;
    pub fn corq_extend(consumer: *mut corq_consumer, tag: u64, lease_ms: i64) -> c_int;
    pub fn corq_consumer_wakeup(consumer: *mut corq_consumer) -> c_int;
    pub fn corq_consumer_interrupt(consumer: *mut corq_consumer) -> c_int;
    pub fn corq_consumer_close(consumer: *mut corq_consumer) -> c_int;

    pub fn corq_queue_stats_get(
        engine: *mut corq_engine,
        queue: *const c_char,
        out: *mut corq_queue_stats,
    ) -> c_int;
    pub fn corq_stats_json(engine: *mut corq_engine, json: *mut *mut c_char) -> c_int;
    pub fn corq_redrive(
        engine: *mut corq_engine,
        from_queue: *const c_char,
        to_queue: *const c_char,
        max_messages: u64,
        moved: *mut u64,
    ) -> c_int;
    pub fn corq_free(ptr: *mut c_void);

    pub fn corq_exchange_declare(
        engine: *mut corq_engine,
        exchange: *const c_char,
        type_: *const c_char,
        options: *const corq_config,
    ) -> c_int;
    pub fn corq_exchange_delete(engine: *mut corq_engine, exchange: *const c_char) -> c_int;
    pub fn corq_bind(
        engine: *mut corq_engine,
        exchange: *const c_char,
        queue: *const c_char,
        key: *const c_char,
        arguments: *const corq_header,
        argument_count: usize,
    ) -> c_int;
    pub fn corq_unbind(
        engine: *mut corq_engine,
        exchange: *const c_char,
        queue: *const c_char,
        key: *const c_char,
        arguments: *const corq_header,
        argument_count: usize,
    ) -> c_int;
    pub fn corq_exchange_bind(
        engine: *mut corq_engine,
        source: *const c_char,
        destination: *const c_char,
        key: *const c_char,
        arguments: *const corq_header,
        argument_count: usize,
    ) -> c_int;
    pub fn corq_exchange_unbind(
        engine: *mut corq_engine,
        source: *const c_char,
        destination: *const c_char,
        key: *const c_char,
        arguments: *const corq_header,
        argument_count: usize,
    ) -> c_int;
    pub fn corq_exchange_publish(
        engine: *mut corq_engine,
        exchange: *const c_char,
        routing_key: *const c_char,
        message: *const corq_message,
        options: *const corq_publish_options,
        message_id: *mut u64,
        routed: *mut u32,
    ) -> c_int;
    pub fn corq_exchange_stats_get(
        engine: *mut corq_engine,
        exchange: *const c_char,
        out: *mut corq_exchange_stats,
    ) -> c_int;

    // Request-reply.
    pub fn corq_request(
        engine: *mut corq_engine,
        exchange: *const c_char,
        routing_key: *const c_char,
        request: *const corq_message,
        timeout_ms: i32,
        reply: *mut *mut corq_reply,
    ) -> c_int;
    pub fn corq_reply_free(reply: *mut corq_reply);
    pub fn corq_respond(
        consumer: *mut corq_consumer,
        tag: u64,
        response: *const corq_message,
    ) -> c_int;

    // Streams.
    pub fn corq_stream_declare(
        engine: *mut corq_engine,
        stream: *const c_char,
        options: *const corq_config,
    ) -> c_int;
    pub fn corq_stream_delete(engine: *mut corq_engine, stream: *const c_char) -> c_int;
    pub fn corq_stream_append(
        engine: *mut corq_engine,
        stream: *const c_char,
        key: *const c_void,
        key_len: usize,
        message: *const corq_message,
        options: *const corq_publish_options,
        partition: *mut u32,
        offset: *mut u64,
    ) -> c_int;
    pub fn corq_stream_producer_open(
        engine: *mut corq_engine,
        stream: *const c_char,
        out: *mut *mut corq_stream_producer,
    ) -> c_int;
    pub fn corq_stream_producer_send(
        producer: *mut corq_stream_producer,
        key: *const c_void,
        key_len: usize,
        messages: *const corq_message,
        count: usize,
        options: *const corq_publish_options,
        partition: *mut u32,
        first_offset: *mut u64,
    ) -> c_int;
    pub fn corq_stream_producer_close(producer: *mut corq_stream_producer) -> c_int;
    pub fn corq_stream_reader_open(
        engine: *mut corq_engine,
        stream: *const c_char,
        partition: u32,
        start: *const c_char,
        out: *mut *mut corq_stream_reader,
    ) -> c_int;
    pub fn corq_stream_read(
        reader: *mut corq_stream_reader,
        out: *mut corq_stream_record,
        max: usize,
        timeout_ms: i32,
    ) -> c_int;
    pub fn corq_stream_reader_skipped(reader: *const corq_stream_reader) -> u64;
    pub fn corq_stream_reader_wakeup(reader: *mut corq_stream_reader) -> c_int;
    pub fn corq_stream_reader_close(reader: *mut corq_stream_reader) -> c_int;
    pub fn corq_stream_stats_get(
        engine: *mut corq_engine,
        stream: *const c_char,
        out: *mut corq_stream_stats,
    ) -> c_int;

    pub fn corq_group_consumer_open(
        engine: *mut corq_engine,
        stream: *const c_char,
        group: *const c_char,
        options: *const corq_config,
        out: *mut *mut corq_consumer,
    ) -> c_int;
    pub fn corq_group_seek(
        engine: *mut corq_engine,
        stream: *const c_char,
        group: *const c_char,
        partition: i32,
        start: *const c_char,
    ) -> c_int;
    pub fn corq_group_delete(
        engine: *mut corq_engine,
        stream: *const c_char,
        group: *const c_char,
    ) -> c_int;
    pub fn corq_group_stats_get(
        engine: *mut corq_engine,
        stream: *const c_char,
        group: *const c_char,
        out: *mut corq_group_stats,
    ) -> c_int;

    pub fn corq_set_log_callback(
        engine: *mut corq_engine,
        fn_: corq_log_fn,
        user: *mut c_void,
    ) -> c_int;

    pub fn corq_txn_begin(engine: *mut corq_engine, out: *mut *mut corq_txn) -> c_int;
    pub fn corq_txn_publish(
        txn: *mut corq_txn,
        exchange: *const c_char,
        routing_key: *const c_char,
        message: *const corq_message,
        options: *const corq_publish_options,
    ) -> c_int;
    pub fn corq_txn_append(
        txn: *mut corq_txn,
        stream: *const c_char,
        key: *const c_void,
        key_len: usize,
        message: *const corq_message,
        options: *const corq_publish_options,
    ) -> c_int;
    pub fn corq_txn_ack(txn: *mut corq_txn, consumer: *mut corq_consumer, tag: u64) -> c_int;
    /// Frees the transaction whatever it returns.
    pub fn corq_txn_commit(txn: *mut corq_txn, timeout_ms: i32) -> c_int;
    pub fn corq_txn_abort(txn: *mut corq_txn);
}
