//! Tests of the safe wrapper against the real library (CORQ_LIB_DIR, see build.rs): each names the
//! behaviour it proves. Waits use generous timeouts only as an upper bound, never as an assertion.
use corq::{
    Appended, AppendedBatch, Engine, ExchangeStats, ExchangeType, Message, PublishOptions,
    StreamStart, StreamStats,
};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The longest a test waits for something that is due now or after a few ms of backoff.
const WAIT_MS: i32 = 10_000;

fn engine() -> Engine {
    Engine::in_memory(&[]).expect("in-memory engine")
}

fn code<T: std::fmt::Debug>(result: corq::Result<T>) -> i32 {
    result.expect_err("expected an error").code()
}

/// A fresh directory under the system temp dir, removed (with everything in it) on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!("corq-rust-{}-{}", std::process::id(), name));
        let _ = std::fs::remove_dir_all(&path);
        TempDir(path)
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// ---- version and errors ------------------------------------------------------------------------

#[test]
fn linked_library_version_is_the_header_version() {
    assert_eq!(corq::version(), corq::sys::CORQ_VERSION);
    assert_eq!(corq::version_string(), corq::sys::CORQ_VERSION_STRING);
}

#[test]
fn engine_id_is_a_uuid_kept_by_the_engine() {
    let a = Engine::in_memory(&[]).unwrap();
    let b = Engine::in_memory(&[]).unwrap();
    let id = a.id().unwrap();
    assert_eq!(id.len(), 36);
    assert_eq!(id.as_bytes()[14], b'4');
    assert_eq!(a.id().unwrap(), id);
    assert_ne!(b.id().unwrap(), id);
}

#[test]
fn strerror_names_every_code() {
    assert!(corq::strerror(corq::EFULL).starts_with("CORQ_EFULL"));
    assert!(corq::strerror(corq::EUNSUPPORTED).starts_with("CORQ_EUNSUPPORTED"));
    assert!(corq::strerror(corq::EUNROUTABLE).starts_with("CORQ_EUNROUTABLE"));
    assert!(corq::strerror(-999).starts_with("CORQ_E?"));
}

#[test]
fn error_carries_code_name_and_detail() {
    let engine = engine();
    let error = engine.publish("no-such-queue", &Message::new(b"x")).unwrap_err();
    assert_eq!(error.code(), corq::ENOENT);
    assert!(error.name().starts_with("CORQ_ENOENT"));
    assert!(error.detail().contains("no-such-queue"), "detail: {}", error.detail());
    assert!(error.to_string().contains("CORQ_ENOENT"));
}

// ---- bad input ---------------------------------------------------------------------------------

#[test]
fn bad_queue_names_are_einval_with_a_detail() {
    let engine = engine();
    let too_long = "q".repeat(201);
    for name in ["", "has space", "slash/name", too_long.as_str()] {
        let error = engine.declare(name, &[]).unwrap_err();
        assert_eq!(error.code(), corq::EINVAL, "name {:?}", name);
        assert!(!error.detail().is_empty());
    }
    // Its default dead-letter queue "<name>.dlq" would be too long: declare it without one.
    let longest = "q".repeat(200);
    engine.declare(&longest, &[("dead_letter_queue", "")]).expect("200 bytes is a valid name");
    assert_eq!(code(engine.declare(&"r".repeat(200), &[])), corq::EINVAL);
    let error = engine.declare("nul\0byte", &[]).unwrap_err();
    assert_eq!(error.code(), corq::EINVAL);
    assert!(error.detail().contains("NUL"));
}

#[test]
fn unknown_option_keys_and_bad_values_are_einval() {
    assert_eq!(code(Engine::in_memory(&[("no_such_key", "1")])), corq::EINVAL);
    assert_eq!(code(Engine::in_memory(&[("sync", "sometimes")])), corq::EINVAL);
    let engine = engine();
    assert_eq!(code(engine.declare("q", &[("colour", "blue")])), corq::EINVAL);
    let error = engine.declare("q", &[("max_length", "many")]).unwrap_err();
    assert_eq!(error.code(), corq::EINVAL);
    assert!(error.detail().contains("max_length"), "detail: {}", error.detail());
    assert_eq!(code(engine.declare("q", &[("durable", "true")])), corq::EINVAL);
}

#[test]
fn redeclare_with_other_options_is_eexist_and_same_options_succeed() {
    let engine = engine();
    engine.declare("q", &[("max_length", "10")]).unwrap();
    engine.declare("q", &[("max_length", "10")]).unwrap();
    assert_eq!(code(engine.declare("q", &[("max_length", "11")])), corq::EEXIST);
}

#[test]
fn unknown_queue_is_enoent_everywhere() {
    let engine = engine();
    assert_eq!(code(engine.publish("nope", &Message::new(b"x"))), corq::ENOENT);
    assert_eq!(code(engine.consumer("nope", 1)), corq::ENOENT);
    assert_eq!(code(engine.producer("nope")), corq::ENOENT);
    assert_eq!(code(engine.queue_stats("nope")), corq::ENOENT);
    assert_eq!(code(engine.purge("nope")), corq::ENOENT);
    assert_eq!(code(engine.delete_queue("nope")), corq::ENOENT);
}

#[test]
fn wrong_tags_are_estate_and_change_nothing() {
    let engine = engine();
    engine.declare("q", &[]).unwrap();
    engine.publish("q", &Message::new(b"x")).unwrap();
    let consumer = engine.consumer("q", 4).unwrap();
    let delivery = consumer.consume(WAIT_MS).unwrap().unwrap();
    let tag = delivery.tag();
    assert_eq!(code(consumer.ack(tag + 1000)), corq::ESTATE);
    assert_eq!(code(consumer.nack(tag + 1000, 0)), corq::ESTATE);
    assert_eq!(code(consumer.release(tag + 1000)), corq::ESTATE);
    assert_eq!(code(consumer.reject(tag + 1000, None)), corq::ESTATE);
    assert_eq!(engine.queue_stats("q").unwrap().in_flight, 1);
    delivery.ack().unwrap();
    // Settling the same tag again through the consumer (the Delivery itself is gone).
    assert_eq!(code(consumer.ack(tag)), corq::ESTATE);
    assert_eq!(code(consumer.ack_upto(tag)), corq::ESTATE);
}

#[test]
fn bad_prefetch_settle_and_header_arguments_are_einval() {
    let engine = engine();
    engine.declare("q", &[]).unwrap();
    assert_eq!(code(engine.consumer("q", 0)), corq::EINVAL);
    assert_eq!(code(engine.consumer("q", 65537)), corq::EINVAL);
    engine.publish("q", &Message::new(b"x")).unwrap();
    let consumer = engine.consumer("q", 1).unwrap();
    let delivery = consumer.consume(WAIT_MS).unwrap().unwrap();
    assert_eq!(code(delivery.extend(0)), corq::EINVAL);
    assert_eq!(code(consumer.nack(delivery.tag(), -2)), corq::EINVAL);
    delivery.ack().unwrap();
    assert_eq!(code(engine.publish("q", &Message::new(b"x").header("", b"v"))), corq::EINVAL);
    assert_eq!(code(engine.publish("q", &Message::new(b"x").header("k\0", b"v"))), corq::EINVAL);
}

#[test]
fn oversize_message_is_etoobig() {
    let engine = Engine::in_memory(&[("max_message_bytes", "1KiB")]).unwrap();
    engine.declare("q", &[]).unwrap();
    engine.publish("q", &Message::new(&[7u8; 1024])).unwrap();
    assert_eq!(code(engine.publish("q", &Message::new(&[7u8; 1025]))), corq::ETOOBIG);
}

#[test]
fn full_queue_with_overflow_reject_is_efull() {
    let engine = engine();
    engine.declare("q", &[("max_length", "2"), ("overflow", "reject")]).unwrap();
    engine.publish("q", &Message::new(b"1")).unwrap();
    engine.publish("q", &Message::new(b"2")).unwrap();
    assert_eq!(code(engine.publish("q", &Message::new(b"3"))), corq::EFULL);
}

// ---- publish, consume, settle ------------------------------------------------------------------

#[test]
fn publish_consume_ack_roundtrips_data_and_headers() {
    let engine = engine();
    engine.declare("q", &[]).unwrap();
    let id = engine
        .publish("q", &Message::new(b"payload").header("user", b"ada").header("empty", b""))
        .unwrap();
    let consumer = engine.consumer("q", 8).unwrap();
    let delivery = consumer.consume(WAIT_MS).unwrap().expect("a delivery");
    assert_eq!(delivery.message_id(), id);
    assert_eq!(delivery.data(), b"payload");
    assert_eq!(delivery.header("user"), Some(&b"ada"[..]));
    assert_eq!(delivery.header("empty"), Some(&b""[..]));
    assert_eq!(delivery.header("absent"), None);
    assert_eq!(delivery.headers().len(), 2);
    assert_eq!(delivery.delivery_count(), 1);
    assert!(delivery.published_at_ms() > 0);
    delivery.ack().unwrap();
    let stats = engine.queue_stats("q").unwrap();
    assert_eq!((stats.ready, stats.in_flight, stats.acked), (0, 0, 1));
    assert!(consumer.consume(0).unwrap().is_none());
}

#[test]
fn empty_payload_roundtrips() {
    let engine = engine();
    engine.declare("q", &[]).unwrap();
    engine.publish("q", &Message::new(b"")).unwrap();
    let consumer = engine.consumer("q", 1).unwrap();
    let delivery = consumer.consume(WAIT_MS).unwrap().unwrap();
    assert!(delivery.data().is_empty());
    delivery.ack().unwrap();
}

#[test]
fn prefetch_window_bounds_unsettled_deliveries() {
    let engine = engine();
    engine.declare("q", &[]).unwrap();
    for n in 0..10u8 {
        engine.publish("q", &Message::new(&[n])).unwrap();
    }
    let consumer = engine.consumer("q", 3).unwrap();
    let batch = consumer.consume_many(10, WAIT_MS).unwrap();
    assert_eq!(batch.len(), 3);
    assert_eq!(batch.iter().map(|d| d.data()[0]).collect::<Vec<_>>(), vec![0, 1, 2]);
    assert!(consumer.consume(0).unwrap().is_none(), "window full");
    let last = batch.last().unwrap().tag();
    consumer.ack_upto(last).unwrap();
    drop(batch);
    assert_eq!(consumer.consume_many(10, WAIT_MS).unwrap().len(), 3);
}

#[test]
fn nack_retries_then_dead_letters_with_x_death_headers() {
    let engine = engine();
    engine.declare("jobs", &[("max_attempts", "2"), ("retry_delay_ms", "1")]).unwrap();
    engine.publish("jobs", &Message::new(b"poison")).unwrap();
    let consumer = engine.consumer("jobs", 1).unwrap();
    let first = consumer.consume(WAIT_MS).unwrap().unwrap();
    assert_eq!(first.delivery_count(), 1);
    first.nack(-1).unwrap();
    let second = consumer.consume(WAIT_MS).unwrap().expect("retried after the backoff");
    assert_eq!(second.delivery_count(), 2);
    second.nack(-1).unwrap();
    let stats = engine.queue_stats("jobs").unwrap();
    assert_eq!((stats.nacked, stats.dead_lettered), (2, 1));
    let dlq = engine.consumer("jobs.dlq", 1).unwrap();
    let dead = dlq.consume(WAIT_MS).unwrap().expect("a dead letter");
    assert_eq!(dead.data(), b"poison");
    assert_eq!(dead.header("x-death-reason"), Some(&b"max_attempts"[..]));
    assert_eq!(dead.header("x-death-queue"), Some(&b"jobs"[..]));
    dead.ack().unwrap();
}

#[test]
fn reject_dead_letters_at_once_with_the_reason_and_redrive_brings_it_back() {
    let engine = engine();
    engine.declare("q", &[]).unwrap();
    engine.publish("q", &Message::new(b"bad")).unwrap();
    let consumer = engine.consumer("q", 1).unwrap();
    consumer.consume(WAIT_MS).unwrap().unwrap().reject(Some("unparseable")).unwrap();
    {
        let dlq = engine.consumer("q.dlq", 1).unwrap();
        let dead = dlq.consume(WAIT_MS).unwrap().unwrap();
        assert_eq!(dead.header("x-death-reason"), Some(&b"rejected"[..]));
        assert_eq!(dead.header("x-death-detail"), Some(&b"unparseable"[..]));
        dead.release().unwrap();
    }
    assert_eq!(engine.redrive("q.dlq", None, 0).unwrap(), 1);
    let back = consumer.consume(WAIT_MS).unwrap().expect("redriven");
    assert_eq!(back.data(), b"bad");
    back.ack().unwrap();
    assert_eq!(code(engine.redrive("q.dlq", Some("missing"), 0)), corq::ENOENT);
}

#[test]
fn release_makes_it_ready_again_with_its_count() {
    let engine = engine();
    engine.declare("q", &[]).unwrap();
    engine.publish("q", &Message::new(b"x")).unwrap();
    let consumer = engine.consumer("q", 1).unwrap();
    consumer.consume(WAIT_MS).unwrap().unwrap().release().unwrap();
    let again = consumer.consume(WAIT_MS).unwrap().unwrap();
    assert_eq!(again.delivery_count(), 2);
    again.ack().unwrap();
    assert_eq!(engine.queue_stats("q").unwrap().nacked, 0);
}

#[test]
fn closing_a_consumer_releases_its_unsettled_deliveries() {
    let engine = engine();
    engine.declare("q", &[]).unwrap();
    engine.publish("q", &Message::new(b"x")).unwrap();
    let consumer = engine.consumer("q", 1).unwrap();
    let delivery = consumer.consume(WAIT_MS).unwrap().unwrap();
    drop(delivery); // unsettled: still in flight
    assert_eq!(engine.queue_stats("q").unwrap().in_flight, 1);
    consumer.close().unwrap();
    let stats = engine.queue_stats("q").unwrap();
    assert_eq!((stats.ready, stats.in_flight, stats.released), (1, 0, 1));
}

#[test]
fn producer_sends_an_atomic_batch_with_consecutive_ids() {
    let engine = engine();
    engine.declare("q", &[("max_length", "3"), ("overflow", "reject")]).unwrap();
    let mut producer = engine.producer("q").unwrap();
    let batch = [Message::new(b"a"), Message::new(b"b").header("k", b"v")];
    let first = producer.send(&batch, &PublishOptions::default()).unwrap();
    producer.flush(WAIT_MS).unwrap();
    // Two more do not fit (3 at most): none of them is accepted.
    let error = producer.send(&batch, &PublishOptions::default()).unwrap_err();
    assert_eq!(error.code(), corq::EFULL);
    assert_eq!(engine.queue_stats("q").unwrap().ready, 2);
    producer.close();
    let consumer = engine.consumer("q", 8).unwrap();
    let got = consumer.consume_many(8, WAIT_MS).unwrap();
    let ids: Vec<u64> = got.iter().map(|d| d.message_id()).collect();
    assert_eq!(ids, vec![first, first + 1]);
    assert_eq!(got[1].header("k"), Some(&b"v"[..]));
}

#[test]
fn dedup_id_returns_the_first_publish_id() {
    let engine = engine();
    engine.declare("q", &[("dedup_window_ms", "60000")]).unwrap();
    let first = engine.publish("q", &Message::new(b"x").dedup_id("order-1")).unwrap();
    let again = engine.publish("q", &Message::new(b"x").dedup_id("order-1")).unwrap();
    assert_eq!(first, again);
    let stats = engine.queue_stats("q").unwrap();
    assert_eq!((stats.ready, stats.deduplicated), (1, 1));
}

#[test]
fn delayed_publish_is_not_ready_at_once() {
    let engine = engine();
    engine.declare("q", &[]).unwrap();
    let options = PublishOptions { delay_ms: 3_600_000, ..Default::default() };
    engine.publish_with("q", &Message::new(b"later"), &options).unwrap();
    let stats = engine.queue_stats("q").unwrap();
    assert_eq!((stats.ready, stats.delayed), (0, 1));
    assert!(engine.consumer("q", 1).unwrap().consume(0).unwrap().is_none());
}

#[test]
fn purge_delete_stats_json_and_sync() {
    let engine = engine();
    engine.declare("orders", &[]).unwrap();
    engine.publish("orders", &Message::new(b"1")).unwrap();
    engine.publish("orders", &Message::new(b"2")).unwrap();
    assert!(engine.stats_json().unwrap().contains("\"orders\""));
    assert_eq!(engine.purge("orders").unwrap(), 2);
    let stats = engine.queue_stats("orders").unwrap();
    assert_eq!((stats.ready, stats.purged, stats.published), (0, 2, 2));
    engine.sync(WAIT_MS).unwrap();
    engine.delete_queue("orders").unwrap();
    assert_eq!(code(engine.queue_stats("orders")), corq::ENOENT);
}

// ---- exchanges and bindings --------------------------------------------------------------------

/// The payloads ready in a queue, acked.
fn drained(engine: &Engine, queue: &str) -> Vec<Vec<u8>> {
    let consumer = engine.consumer(queue, 64).unwrap();
    let got = consumer.consume_many(64, 0).unwrap();
    got.into_iter()
        .map(|d| {
            let data = d.data().to_vec();
            d.ack().unwrap();
            data
        })
        .collect()
}

/// Publishes through an exchange with the default options; returns how many queues took it.
fn routed(engine: &Engine, exchange: &str, key: &str, data: &[u8]) -> u32 {
    engine
        .publish_to_exchange(exchange, key, &Message::new(data), &PublishOptions::default())
        .unwrap()
        .routed
}

#[test]
fn fanout_to_three_queues_shares_one_message_id() {
    let engine = engine();
    let services = ["inventory", "email", "analytics"];
    engine.declare_exchange("orders", ExchangeType::Fanout, &[]).unwrap();
    for queue in services {
        engine.declare(queue, &[]).unwrap();
        engine.bind("orders", queue, "", &[]).unwrap();
    }
    let message = Message::new(b"order 7").header("tenant", b"acme");
    let published = engine
        .publish_to_exchange("orders", "order.placed", &message, &PublishOptions::default())
        .unwrap();
    assert_eq!(published.routed, 3);
    for queue in services {
        let consumer = engine.consumer(queue, 1).unwrap();
        let delivery = consumer.consume(WAIT_MS).unwrap().expect(queue);
        assert_eq!(delivery.data(), b"order 7");
        assert_eq!(delivery.message_id(), published.message_id);
        assert_eq!(delivery.header("tenant"), Some(&b"acme"[..]));
        assert_eq!(delivery.header("x-exchange"), Some(&b"orders"[..]));
        assert_eq!(delivery.header("x-routing-key"), Some(&b"order.placed"[..]));
        delivery.ack().unwrap();
    }
    assert_eq!(engine.exchange_stats("orders").unwrap().routed, 3);
}

#[test]
fn direct_exchange_routes_by_equal_key() {
    let engine = engine();
    engine.declare("red", &[]).unwrap();
    engine.declare("blue", &[]).unwrap();
    engine.declare_exchange("colours", ExchangeType::Direct, &[]).unwrap();
    engine.bind("colours", "red", "r", &[]).unwrap();
    engine.bind("colours", "blue", "b", &[]).unwrap();
    assert_eq!(routed(&engine, "colours", "r", b"1"), 1);
    assert_eq!(routed(&engine, "colours", "b", b"2"), 1);
    assert_eq!(routed(&engine, "colours", "*", b"3"), 0);
    assert_eq!(drained(&engine, "red"), vec![b"1".to_vec()]);
    assert_eq!(drained(&engine, "blue"), vec![b"2".to_vec()]);
}

#[test]
fn topic_exchange_routes_by_pattern_one_copy_per_queue() {
    let engine = engine();
    for queue in ["placed", "errors", "all"] {
        engine.declare(queue, &[]).unwrap();
    }
    engine.declare_exchange("events", ExchangeType::Topic, &[]).unwrap();
    engine.bind("events", "placed", "order.placed", &[]).unwrap();
    engine.bind("events", "errors", "*.*.error", &[]).unwrap();
    engine.bind("events", "all", "#", &[]).unwrap();
    engine.bind("events", "all", "order.*", &[]).unwrap(); // a second match: still one copy
    assert_eq!(routed(&engine, "events", "order.placed", b"1"), 2);
    assert_eq!(routed(&engine, "events", "a.b.error", b"2"), 2);
    assert_eq!(routed(&engine, "events", "", b"3"), 1); // zero words: only '#'
    assert_eq!(drained(&engine, "placed"), vec![b"1".to_vec()]);
    assert_eq!(drained(&engine, "errors"), vec![b"2".to_vec()]);
    assert_eq!(drained(&engine, "all"), vec![b"1".to_vec(), b"2".to_vec(), b"3".to_vec()]);
}

#[test]
fn headers_binding_matches_values_and_presence_only_arguments() {
    let engine = engine();
    for queue in ["pdf", "traced", "either"] {
        engine.declare(queue, &[]).unwrap();
    }
    engine.declare_exchange("docs", ExchangeType::Headers, &[]).unwrap();
    engine.bind("docs", "pdf", "", &[("format", Some(b"pdf")), ("type", Some(b"report"))]).unwrap();
    engine.bind("docs", "traced", "", &[("trace", None)]).unwrap();
    let any = [("x-match", Some(&b"any"[..])), ("format", Some(b"pdf")), ("trace", None)];
    engine.bind("docs", "either", "", &any).unwrap();
    let both = Message::new(b"1").header("format", b"pdf").header("type", b"report");
    let traced = Message::new(b"2").header("trace", b""); // an empty value is still present
    let zip = Message::new(b"3").header("format", b"zip");
    let counts: Vec<u32> = [both, traced, zip]
        .iter()
        .map(|m| engine.publish_to_exchange("docs", "", m, &Default::default()).unwrap().routed)
        .collect();
    assert_eq!(counts, vec![2, 2, 0]);
    assert_eq!(drained(&engine, "pdf"), vec![b"1".to_vec()]);
    assert_eq!(drained(&engine, "traced"), vec![b"2".to_vec()]);
    assert_eq!(drained(&engine, "either"), vec![b"1".to_vec(), b"2".to_vec()]);
}

#[test]
fn unbind_removes_exactly_that_binding_arguments_included() {
    let engine = engine();
    engine.declare("q", &[]).unwrap();
    engine.declare_exchange("events", ExchangeType::Topic, &[]).unwrap();
    engine.bind("events", "q", "a.*", &[]).unwrap();
    engine.bind("events", "q", "b.*", &[]).unwrap();
    engine.unbind("events", "q", "a.*", &[]).unwrap();
    assert_eq!(routed(&engine, "events", "a.1", b"x"), 0);
    assert_eq!(routed(&engine, "events", "b.1", b"x"), 1);
    assert_eq!(code(engine.unbind("events", "q", "a.*", &[])), corq::ENOENT);

    engine.declare_exchange("docs", ExchangeType::Headers, &[]).unwrap();
    engine.bind("docs", "q", "", &[("a", Some(b"1")), ("b", None)]).unwrap();
    assert_eq!(code(engine.unbind("docs", "q", "", &[("a", Some(b"1"))])), corq::ENOENT);
    engine.unbind("docs", "q", "", &[("b", None), ("a", Some(b"1"))]).unwrap(); // any order
    assert_eq!(engine.exchange_stats("docs").unwrap().bindings, 0);
}

#[test]
fn exchange_to_exchange_binding_forwards_until_unbound() {
    let engine = engine();
    engine.declare("audit", &[]).unwrap();
    engine.declare_exchange("front", ExchangeType::Topic, &[]).unwrap();
    engine.declare_exchange("audit-x", ExchangeType::Fanout, &[]).unwrap();
    engine.bind_exchange("front", "audit-x", "order.#", &[]).unwrap();
    engine.bind("audit-x", "audit", "", &[]).unwrap();
    assert_eq!(routed(&engine, "front", "order.placed", b"m"), 1);
    assert_eq!(routed(&engine, "front", "user.created", b"n"), 0);
    assert_eq!(engine.exchange_stats("audit-x").unwrap().published, 1);
    engine.unbind_exchange("front", "audit-x", "order.#", &[]).unwrap();
    assert_eq!(routed(&engine, "front", "order.placed", b"o"), 0);
    assert_eq!(drained(&engine, "audit"), vec![b"m".to_vec()]);
    assert_eq!(code(engine.unbind_exchange("front", "audit-x", "order.#", &[])), corq::ENOENT);
}

#[test]
fn delete_exchange_removes_it_and_its_bindings() {
    let engine = engine();
    engine.declare("q", &[]).unwrap();
    engine.declare_exchange("src", ExchangeType::Fanout, &[]).unwrap();
    engine.declare_exchange("mid", ExchangeType::Fanout, &[]).unwrap();
    engine.bind_exchange("src", "mid", "", &[]).unwrap();
    engine.bind("mid", "q", "", &[]).unwrap();
    engine.delete_exchange("mid").unwrap();
    assert_eq!(engine.exchange_stats("src").unwrap().bindings, 0);
    assert_eq!(code(engine.exchange_stats("mid")), corq::ENOENT);
    assert_eq!(code(engine.delete_exchange("mid")), corq::ENOENT);
    let options = PublishOptions::default();
    assert_eq!(
        code(engine.publish_to_exchange("mid", "", &Message::new(b"m"), &options)),
        corq::ENOENT
    );
}

#[test]
fn unroutable_is_dropped_and_counted_or_with_mandatory_eunroutable() {
    let engine = engine();
    engine.declare("q", &[]).unwrap();
    engine.declare_exchange("x", ExchangeType::Direct, &[]).unwrap();
    engine.bind("x", "q", "k", &[]).unwrap();
    let message = Message::new(b"m");
    let dropped = engine.publish_to_exchange("x", "other", &message, &Default::default()).unwrap();
    assert_eq!(dropped.routed, 0);
    assert!(dropped.message_id > 0);
    let mandatory = PublishOptions { mandatory: true, ..Default::default() };
    let error = engine.publish_to_exchange("x", "other", &message, &mandatory).unwrap_err();
    assert_eq!(error.code(), corq::EUNROUTABLE);
    assert!(error.name().starts_with("CORQ_EUNROUTABLE"));
    assert!(!error.detail().is_empty());
    assert_eq!(engine.publish_to_exchange("x", "k", &message, &mandatory).unwrap().routed, 1);
    let stats = engine.exchange_stats("x").unwrap();
    let expected =
        ExchangeStats { bindings: 1, published: 3, routed: 1, unroutable: 2, alternated: 0 };
    assert_eq!(stats, expected);
    assert_eq!(engine.queue_stats("q").unwrap().ready, 1);
}

#[test]
fn alternate_exchange_takes_what_the_exchange_cannot_route() {
    let engine = engine();
    engine.declare("lost", &[]).unwrap();
    engine.declare_exchange("alt", ExchangeType::Fanout, &[]).unwrap();
    engine.declare_exchange("x", ExchangeType::Direct, &[("alternate_exchange", "alt")]).unwrap();
    engine.bind("alt", "lost", "", &[]).unwrap();
    let mandatory = PublishOptions { mandatory: true, ..Default::default() };
    let published = engine.publish_to_exchange("x", "nope", &Message::new(b"m"), &mandatory);
    assert_eq!(published.unwrap().routed, 1);
    assert_eq!(engine.exchange_stats("x").unwrap().alternated, 1);
    assert_eq!(drained(&engine, "lost"), vec![b"m".to_vec()]);
}

#[test]
fn internal_exchange_refuses_direct_publishes() {
    let engine = engine();
    engine.declare("q", &[]).unwrap();
    engine.declare_exchange("inner", ExchangeType::Fanout, &[("internal", "true")]).unwrap();
    engine.declare_exchange("outer", ExchangeType::Fanout, &[]).unwrap();
    engine.bind_exchange("outer", "inner", "", &[]).unwrap();
    engine.bind("inner", "q", "", &[]).unwrap();
    let options = PublishOptions::default();
    assert_eq!(
        code(engine.publish_to_exchange("inner", "", &Message::new(b"m"), &options)),
        corq::EINVAL
    );
    assert_eq!(routed(&engine, "outer", "", b"m"), 1);
}

#[test]
fn default_exchange_publishes_to_the_queue_named_by_the_key() {
    let engine = engine();
    engine.declare("q", &[]).unwrap();
    let message = Message::new(b"m");
    let published = engine.publish_to_exchange("", "q", &message, &Default::default()).unwrap();
    assert_eq!(published.routed, 1);
    let consumer = engine.consumer("q", 1).unwrap();
    let delivery = consumer.consume(WAIT_MS).unwrap().unwrap();
    assert_eq!(delivery.message_id(), published.message_id);
    assert_eq!(delivery.header("x-exchange"), None);
    delivery.ack().unwrap();
    let options = PublishOptions::default();
    assert_eq!(code(engine.publish_to_exchange("", "missing", &message, &options)), corq::ENOENT);
    let mandatory = PublishOptions { mandatory: true, ..Default::default() };
    assert_eq!(
        code(engine.publish_to_exchange("", "missing", &message, &mandatory)),
        corq::EUNROUTABLE
    );
}

#[test]
fn a_full_target_fails_the_whole_exchange_publish() {
    let engine = engine();
    engine.declare("roomy", &[]).unwrap();
    engine.declare("tight", &[("max_length", "1"), ("overflow", "reject")]).unwrap();
    engine.declare_exchange("x", ExchangeType::Fanout, &[]).unwrap();
    engine.bind("x", "roomy", "", &[]).unwrap();
    engine.bind("x", "tight", "", &[]).unwrap();
    assert_eq!(routed(&engine, "x", "", b"1"), 2);
    let options = PublishOptions::default();
    assert_eq!(
        code(engine.publish_to_exchange("x", "", &Message::new(b"2"), &options)),
        corq::EFULL
    );
    assert_eq!(engine.queue_stats("roomy").unwrap().ready, 1);
}

#[test]
fn priority_reaches_corq_in_the_publish_options() {
    // No queue here has max_priority: a priority is accepted and ignored; a negative one is
    // refused by corq, which proves the field reaches it (struct_size covers it).
    let engine = engine();
    engine.declare("q", &[]).unwrap();
    engine.declare_exchange("x", ExchangeType::Fanout, &[]).unwrap();
    engine.bind("x", "q", "", &[]).unwrap();
    let high = PublishOptions { priority: 7, ..Default::default() };
    let negative = PublishOptions { priority: -1, ..Default::default() };
    engine.publish_with("q", &Message::new(b"1"), &high).unwrap();
    engine.publish_to_exchange("x", "", &Message::new(b"2"), &high).unwrap();
    let mut producer = engine.producer("q").unwrap();
    producer.send(&[Message::new(b"3")], &high).unwrap();
    assert_eq!(code(producer.send(&[Message::new(b"4")], &negative)), corq::EINVAL);
    assert_eq!(code(engine.publish_with("q", &Message::new(b"5"), &negative)), corq::EINVAL);
    let error = engine.publish_to_exchange("x", "", &Message::new(b"6"), &negative).unwrap_err();
    assert_eq!(error.code(), corq::EINVAL);
    assert!(error.detail().contains("priority"), "detail: {}", error.detail());
    assert_eq!(drained(&engine, "q"), vec![b"1".to_vec(), b"2".to_vec(), b"3".to_vec()]);
}

#[test]
fn a_priority_queue_delivers_higher_priorities_first() {
    let engine = engine();
    engine.declare("p", &[("max_priority", "5")]).unwrap();
    for (body, priority) in [("low", 1), ("high", 5), ("over", 9), ("none", 0)] {
        let options = PublishOptions { priority, ..Default::default() };
        engine.publish_with("p", &Message::new(body.as_bytes()), &options).unwrap();
    }
    let expected: Vec<Vec<u8>> =
        ["high", "over", "low", "none"].iter().map(|s| s.as_bytes().to_vec()).collect();
    assert_eq!(drained(&engine, "p"), expected);
}

#[test]
fn a_group_member_reads_records_with_their_offsets_and_stream_headers() {
    let engine = engine();
    engine.declare_stream("events", &[("partitions", "2")]).unwrap();
    let placed = engine.append("events", Some(&b"order-1"[..]), &Message::new(b"placed")).unwrap();
    let member = engine.group_consumer("events", "billing", &[("mode", "shared")]).unwrap();
    let delivery = member.consume(0).unwrap().expect("a record");
    assert_eq!(delivery.data(), b"placed");
    assert_eq!(delivery.message_id(), placed.offset);
    assert_eq!(delivery.header("x-stream-key"), Some(&b"order-1"[..]));
    delivery.ack().unwrap();
    let stats = engine.group_stats("events", "billing").unwrap();
    assert_eq!((stats.members, stats.acked, stats.lag), (1, 1, 0));
    engine.group_seek("events", "billing", None, "earliest").unwrap();
    assert_eq!(engine.group_stats("events", "billing").unwrap().lag, 1);
    let error = engine.group_consumer("events", "billing", &[("mode", "ordered")]).err().unwrap();
    assert_eq!(error.code(), corq::EEXIST);
    drop(member);
    engine.group_delete("events", "billing").unwrap();
    assert_eq!(engine.group_stats("events", "billing").unwrap_err().code(), corq::ENOENT);
    assert_eq!(engine.stream_stats("events").unwrap().groups, 0);
}

#[test]
fn stats_json_lists_exchanges() {
    let engine = engine();
    engine.declare_exchange("events", ExchangeType::Topic, &[]).unwrap();
    let json = engine.stats_json().unwrap();
    assert!(json.contains("\"exchanges\":{\"events\":{\"type\":\"topic\""), "json: {}", json);
}

#[test]
fn bad_exchange_names_types_and_options_are_einval() {
    let engine = engine();
    let kind = ExchangeType::Topic;
    assert_eq!(code(engine.declare_exchange("bad name", kind, &[])), corq::EINVAL);
    assert_eq!(code(engine.declare_exchange(&"x".repeat(201), kind, &[])), corq::EINVAL);
    assert_eq!(code(engine.declare_exchange("nul\0", kind, &[])), corq::EINVAL);
    assert_eq!(code(engine.declare_exchange("y", kind, &[("internal", "maybe")])), corq::EINVAL);
    assert_eq!(code(engine.declare_exchange("y", kind, &[("max_length", "5")])), corq::EINVAL);
    assert_eq!(code(engine.exchange_stats("y")), corq::ENOENT); // nothing above declared it
}

#[test]
fn an_unknown_exchange_type_is_einval_in_the_c_api() {
    // ExchangeType makes an unknown type unrepresentable in the wrapper: check the raw call.
    use corq::sys;
    use std::os::raw::c_char;
    let mut raw = std::ptr::null_mut();
    // SAFETY: an in-memory engine opened, used and closed here; NUL-terminated strings.
    unsafe {
        assert_eq!(sys::corq_open(std::ptr::null(), std::ptr::null(), &mut raw), sys::CORQ_OK);
        let (name, kind) =
            (b"y\0".as_ptr() as *const c_char, b"fan-out\0".as_ptr() as *const c_char);
        assert_eq!(sys::corq_exchange_declare(raw, name, kind, std::ptr::null()), corq::EINVAL);
        assert_eq!(sys::corq_close(raw), sys::CORQ_OK);
    }
}

#[test]
fn the_default_exchange_cannot_be_declared_deleted_or_bound() {
    let engine = engine();
    engine.declare("q", &[]).unwrap();
    engine.declare_exchange("x", ExchangeType::Fanout, &[]).unwrap();
    assert_eq!(code(engine.declare_exchange("", ExchangeType::Direct, &[])), corq::EINVAL);
    assert_eq!(code(engine.delete_exchange("")), corq::EINVAL);
    assert_eq!(code(engine.bind("", "q", "q", &[])), corq::EINVAL);
    assert_eq!(code(engine.unbind("", "q", "q", &[])), corq::EINVAL);
    assert_eq!(code(engine.bind_exchange("", "x", "", &[])), corq::EINVAL);
}

#[test]
fn redeclaring_an_exchange_with_another_type_or_options_is_eexist() {
    let engine = engine();
    engine.declare_exchange("x", ExchangeType::Topic, &[]).unwrap();
    engine.declare_exchange("x", ExchangeType::Topic, &[]).unwrap();
    assert_eq!(code(engine.declare_exchange("x", ExchangeType::Direct, &[])), corq::EEXIST);
    let internal = [("internal", "true")];
    assert_eq!(code(engine.declare_exchange("x", ExchangeType::Topic, &internal)), corq::EEXIST);
}

#[test]
fn unknown_exchange_or_queue_is_enoent_for_bindings_and_publishes() {
    let engine = engine();
    engine.declare("q", &[]).unwrap();
    engine.declare_exchange("x", ExchangeType::Topic, &[]).unwrap();
    assert_eq!(code(engine.bind("nope", "q", "k", &[])), corq::ENOENT);
    assert_eq!(code(engine.bind("x", "nope", "k", &[])), corq::ENOENT);
    assert_eq!(code(engine.bind_exchange("x", "nope", "", &[])), corq::ENOENT);
    assert_eq!(code(engine.bind_exchange("nope", "x", "", &[])), corq::ENOENT);
    assert_eq!(code(engine.unbind("x", "q", "never.bound", &[])), corq::ENOENT);
    assert_eq!(code(engine.delete_exchange("nope")), corq::ENOENT);
    let options = PublishOptions::default();
    assert_eq!(
        code(engine.publish_to_exchange("nope", "k", &Message::new(b"m"), &options)),
        corq::ENOENT
    );
    assert_eq!(code(engine.exchange_stats("nope")), corq::ENOENT);
}

#[test]
fn keys_over_255_bytes_and_bad_arguments_are_einval() {
    let engine = engine();
    engine.declare("q", &[]).unwrap();
    engine.declare_exchange("x", ExchangeType::Topic, &[]).unwrap();
    engine.declare_exchange("h", ExchangeType::Headers, &[]).unwrap();
    let long_key = "k".repeat(256);
    engine.bind("x", "q", &"k".repeat(255), &[]).unwrap();
    assert_eq!(code(engine.bind("x", "q", &long_key, &[])), corq::EINVAL);
    let options = PublishOptions::default();
    let message = Message::new(b"m");
    assert_eq!(code(engine.publish_to_exchange("x", &long_key, &message, &options)), corq::EINVAL);
    assert_eq!(code(engine.bind("h", "q", "", &[("x-match", Some(b"most"))])), corq::EINVAL);
    assert_eq!(code(engine.bind("h", "q", "", &[("", Some(b"v"))])), corq::EINVAL);
    let error = engine.bind("h", "q", "", &[("a\0b", None)]).unwrap_err();
    assert_eq!(error.code(), corq::EINVAL);
    assert!(error.detail().contains("NUL"), "detail: {}", error.detail());
    assert_eq!(code(engine.bind("x", "q", "a\0b", &[])), corq::EINVAL);
    assert_eq!(engine.exchange_stats("x").unwrap().bindings, 1);
    assert_eq!(engine.exchange_stats("h").unwrap().bindings, 0);
}

// ---- streams -----------------------------------------------------------------------------------

/// murmur2("21") is -973932308 (Kafka's UtilsTest); & 0x7fffffff = 1173551340, so with 7 partitions
/// Kafka's default partitioner puts the key "21" here.
const KEY_21_OF_7: u32 = 1173551340 % 7;

/// The payloads of records, copied.
fn payloads(records: &[corq::StreamRecord]) -> Vec<Vec<u8>> {
    records.iter().map(|r| r.data().to_vec()).collect()
}

#[test]
fn a_keyed_record_goes_to_the_partition_kafka_picks_and_comes_back_whole() {
    let engine = engine();
    engine.declare_stream("events", &[("partitions", "7")]).unwrap();
    let message = Message::new(b"v\0w").header("type", b"created").header("empty", b"");
    let appended = engine.append("events", Some(b"21"), &message).unwrap();
    assert_eq!(appended, Appended { partition: KEY_21_OF_7, offset: 0 });
    let again = engine.append("events", Some(b"21"), &Message::new(b"again")).unwrap();
    assert_eq!(again, Appended { partition: KEY_21_OF_7, offset: 1 });
    let mut reader = engine.stream_reader("events", KEY_21_OF_7, StreamStart::Earliest).unwrap();
    let records = reader.read(10, 0).unwrap();
    assert_eq!(records.len(), 2);
    let first = &records[0];
    assert_eq!((first.partition(), first.offset()), (KEY_21_OF_7, 0));
    assert_eq!(first.key(), Some(&b"21"[..]));
    assert_eq!(first.data(), b"v\0w");
    assert_eq!(first.header("type"), Some(&b"created"[..]));
    assert_eq!(first.header("empty"), Some(&b""[..]));
    assert_eq!(first.header("absent"), None);
    let headers: Vec<(String, Vec<u8>)> =
        first.headers().into_iter().map(|(k, v)| (k.into_owned(), v.to_vec())).collect();
    assert_eq!(
        headers,
        vec![("type".to_string(), b"created".to_vec()), ("empty".to_string(), Vec::new())]
    );
    assert!(first.timestamp_ms() > 1_600_000_000_000, "unix ms");
    assert!(first.timestamp_ms() <= records[1].timestamp_ms());
    assert_eq!(records[1].data(), b"again");
}

#[test]
fn records_without_a_key_go_round_robin_and_an_empty_key_is_a_key() {
    let engine = engine();
    engine.declare_stream("events", &[("partitions", "4")]).unwrap();
    let mut per_partition = [0; 4];
    for _ in 0..8 {
        per_partition
            [engine.append("events", None, &Message::new(b"x")).unwrap().partition as usize] += 1;
    }
    assert_eq!(per_partition, [2, 2, 2, 2]);
    let empty = engine.append("events", Some(b""), &Message::new(b"e")).unwrap().partition;
    for _ in 0..3 {
        let again = engine.append("events", Some(b""), &Message::new(b"e")).unwrap();
        assert_eq!(again.partition, empty, "hashed: always one partition");
    }
    let mut reader = engine.stream_reader("events", empty, StreamStart::Earliest).unwrap();
    let keys: Vec<Option<Vec<u8>>> =
        reader.read(10, 0).unwrap().iter().map(|r| r.key().map(<[u8]>::to_vec)).collect();
    assert_eq!(keys, vec![None, None, Some(vec![]), Some(vec![]), Some(vec![]), Some(vec![])]);
}

#[test]
fn readers_start_at_earliest_latest_or_an_offset() {
    let engine = engine();
    engine.declare_stream("s", &[]).unwrap();
    for text in ["a", "b", "c"] {
        engine.append("s", None, &Message::new(text.as_bytes())).unwrap();
    }
    let mut earliest = engine.stream_reader("s", 0, StreamStart::Earliest).unwrap();
    let mut latest = engine.stream_reader("s", 0, StreamStart::Latest).unwrap();
    let mut from_one = engine.stream_reader("s", 0, StreamStart::Offset(1)).unwrap();
    assert_eq!(payloads(earliest.read(2, 0).unwrap()), vec![b"a".to_vec(), b"b".to_vec()]);
    assert_eq!(payloads(earliest.read(10, 0).unwrap()), vec![b"c".to_vec()]);
    assert!(latest.read(10, 0).unwrap().is_empty());
    let got = from_one.read(10, 0).unwrap();
    assert_eq!((got[0].offset(), got.len()), (1, 2));
    assert_eq!(payloads(got), vec![b"b".to_vec(), b"c".to_vec()]);
    engine.append("s", None, &Message::new(b"d")).unwrap();
    let got = latest.read(10, 0).unwrap();
    assert_eq!((got[0].offset(), got[0].data()), (3, &b"d"[..]));
    let mut at_end = engine.stream_reader("s", 0, StreamStart::Offset(4)).unwrap();
    assert!(at_end.read(10, 0).unwrap().is_empty());
    let mut by_time = engine.stream_reader("s", 0, StreamStart::Time(0)).unwrap();
    assert_eq!(by_time.read(10, 0).unwrap().len(), 4, "every record is after 1970");
    assert_eq!(StreamStart::Offset(7).to_string(), "offset:7");
    assert_eq!(StreamStart::Time(12).to_string(), "time:12");
}

#[test]
fn a_reader_follows_the_tail_with_a_timeout() {
    let engine = engine();
    engine.declare_stream("s", &[]).unwrap();
    let mut reader = engine.stream_reader("s", 0, StreamStart::Latest).unwrap();
    let started = std::time::Instant::now();
    assert!(reader.read(8, 30).unwrap().is_empty());
    assert!(started.elapsed() >= std::time::Duration::from_millis(25));
    std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(std::time::Duration::from_millis(20));
            engine.append("s", None, &Message::new(b"late")).unwrap();
        });
        let got = reader.read(8, WAIT_MS).unwrap();
        assert_eq!(payloads(got), vec![b"late".to_vec()]);
    });
}

#[test]
fn a_waker_ends_a_read_without_limit_from_another_thread() {
    let engine = engine();
    engine.declare_stream("s", &[]).unwrap();
    let mut reader = engine.stream_reader("s", 0, StreamStart::Earliest).unwrap();
    let waker = reader.waker();
    std::thread::scope(|s| {
        s.spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(20));
            waker.wake().unwrap();
        });
        // Returns at the wakeup (or at once if it came first): no records, no error.
        assert!(reader.read(8, -1).unwrap().is_empty());
    });
    engine.append("s", None, &Message::new(b"after")).unwrap();
    assert_eq!(payloads(reader.read(8, WAIT_MS).unwrap()), vec![b"after".to_vec()]);
    reader.wakeup().unwrap(); // the next read that would wait returns at once
    assert!(reader.read(8, -1).unwrap().is_empty());
    let waker = reader.waker();
    reader.close(); // the waker keeps the C handle open: waking it is still safe
    waker.wake().unwrap();
}

#[test]
fn skipped_counts_records_retention_deleted_before_they_were_read() {
    let engine = engine();
    engine.declare_stream("s", &[("retention_records", "3")]).unwrap();
    let mut reader = engine.stream_reader("s", 0, StreamStart::Earliest).unwrap();
    for n in 0..5 {
        engine.append("s", None, &Message::new(n.to_string().as_bytes())).unwrap();
    }
    assert_eq!(reader.skipped(), 0);
    let got = reader.read(10, 0).unwrap();
    assert_eq!(payloads(got), vec![b"2".to_vec(), b"3".to_vec(), b"4".to_vec()]);
    assert_eq!(got[0].offset(), 2);
    assert_eq!(reader.skipped(), 2);
    let below = engine.stream_reader("s", 0, StreamStart::Offset(0)).unwrap();
    assert_eq!(below.skipped(), 2, "offset:0 starts at the first retained record, offset 2");
}

#[test]
fn a_producer_batch_goes_to_one_partition_with_consecutive_offsets() {
    let engine = engine();
    engine.declare_stream("s", &[("partitions", "7"), ("dedup_window_ms", "60000")]).unwrap();
    let mut producer = engine.stream_producer("s").unwrap();
    let options = PublishOptions::default();
    let batch = [
        Message::new(b"a").dedup_id("batch-1"),
        Message::new(b"b").header("h", b"1"),
        Message::new(b"c"),
    ];
    let sent = producer.send(Some(b"21"), &batch, &options).unwrap();
    assert_eq!(sent, AppendedBatch { partition: KEY_21_OF_7, first_offset: 0 });
    let again = producer.send(Some(b"21"), &batch, &options).unwrap();
    assert_eq!(again, sent, "the same dedup id: nothing appended");
    let one = producer.send(Some(b"21"), &[Message::new(b"d")], &options).unwrap();
    assert_eq!(one.first_offset, 3);
    let unkeyed = producer.send(None, &[Message::new(b"e"), Message::new(b"f")], &options).unwrap();
    assert!(unkeyed.partition < 7);
    producer.close();
    let mut reader = engine.stream_reader("s", KEY_21_OF_7, StreamStart::Earliest).unwrap();
    let keyed: Vec<&corq::StreamRecord> =
        reader.read(16, 0).unwrap().iter().filter(|r| r.key() == Some(&b"21"[..])).collect();
    let got: Vec<(u64, &[u8])> = keyed.iter().map(|r| (r.offset(), r.data())).collect();
    assert_eq!(got, vec![(0, &b"a"[..]), (1, &b"b"[..]), (2, &b"c"[..]), (3, &b"d"[..])]);
    assert_eq!(keyed[1].header("h"), Some(&b"1"[..]));
    assert_eq!(keyed[0].timestamp_ms(), keyed[2].timestamp_ms(), "one batch, one timestamp");
    let stats = engine.stream_stats("s").unwrap();
    assert_eq!((stats.appended, stats.deduplicated), (6, 1));
}

#[test]
fn stream_stats_count_partitions_records_bytes_and_deletions() {
    let engine = engine();
    engine.declare_stream("s", &[("partitions", "2"), ("retention_records", "2")]).unwrap();
    assert_eq!(
        engine.stream_stats("s").unwrap(),
        StreamStats { partitions: 2, ..Default::default() }
    );
    for _ in 0..3 {
        engine.append("s", Some(b"k"), &Message::new(b"1234")).unwrap(); // the third deletes one
    }
    let expected = StreamStats {
        partitions: 2,
        records: 2,
        bytes: 2 * 5,
        appended: 3,
        deleted: 1,
        deduplicated: 0,
        groups: 0,
    };
    assert_eq!(engine.stream_stats("s").unwrap(), expected);
}

#[test]
fn deleting_a_stream_ends_its_readers_with_enoent_and_frees_the_name() {
    let engine = engine();
    engine.declare_stream("s", &[]).unwrap();
    engine.append("s", None, &Message::new(b"a")).unwrap();
    let mut reader = engine.stream_reader("s", 0, StreamStart::Earliest).unwrap();
    let mut producer = engine.stream_producer("s").unwrap();
    engine.delete_stream("s").unwrap();
    let error = reader.read(1, 0).unwrap_err();
    assert_eq!(error.code(), corq::ENOENT);
    assert!(error.detail().contains("deleted"), "detail: {}", error.detail());
    let options = PublishOptions::default();
    assert_eq!(code(producer.send(None, &[Message::new(b"x")], &options)), corq::ENOENT);
    engine.declare_stream("s", &[]).unwrap();
    assert_eq!(engine.append("s", None, &Message::new(b"b")).unwrap().offset, 0);
}

#[test]
fn an_unknown_stream_is_enoent_with_its_name_in_the_detail() {
    let engine = engine();
    let errors = [
        engine.append("nope", None, &Message::new(b"x")).unwrap_err(),
        engine.stream_reader("nope", 0, StreamStart::Earliest).unwrap_err(),
        engine.stream_producer("nope").unwrap_err(),
        engine.stream_stats("nope").unwrap_err(),
        engine.delete_stream("nope").unwrap_err(),
    ];
    for error in errors {
        assert_eq!(error.code(), corq::ENOENT, "{}", error);
        assert!(error.detail().contains("nope"), "detail: {}", error.detail());
    }
}

#[test]
fn a_bad_start_or_a_partition_out_of_range_is_einval() {
    let engine = engine();
    engine.declare_stream("s", &[("partitions", "2")]).unwrap();
    let error = engine.stream_reader("s", 2, StreamStart::Earliest).unwrap_err();
    assert_eq!(error.code(), corq::EINVAL);
    assert!(error.detail().contains("no partition 2"), "detail: {}", error.detail());
    let error = engine.stream_reader("s", 0, StreamStart::Offset(1)).unwrap_err();
    assert_eq!(error.code(), corq::EINVAL);
    assert!(error.detail().contains("past the end"), "detail: {}", error.detail());
    let error = engine.stream_reader("s", 0, StreamStart::Time(-1)).unwrap_err();
    assert_eq!(error.code(), corq::EINVAL);
    assert!(error.detail().contains("bad start 'time:-1'"), "detail: {}", error.detail());
}

#[test]
fn a_bad_start_string_is_einval_in_the_c_api() {
    // StreamStart makes most bad starts unrepresentable in the wrapper: check the raw call.
    use corq::sys;
    use std::os::raw::c_char;
    let mut raw = std::ptr::null_mut();
    let mut reader = std::ptr::null_mut();
    // SAFETY: an in-memory engine opened, used and closed here; NUL-terminated strings.
    unsafe {
        assert_eq!(sys::corq_open(std::ptr::null(), std::ptr::null(), &mut raw), sys::CORQ_OK);
        let name = b"s\0".as_ptr() as *const c_char;
        assert_eq!(sys::corq_stream_declare(raw, name, std::ptr::null()), sys::CORQ_OK);
        let soon = b"soon\0".as_ptr() as *const c_char;
        assert_eq!(sys::corq_stream_reader_open(raw, name, 0, soon, &mut reader), corq::EINVAL);
        assert!(reader.is_null());
        let detail = std::ffi::CStr::from_ptr(sys::corq_last_error()).to_string_lossy();
        assert!(detail.contains("bad start 'soon'"), "detail: {}", detail);
        assert_eq!(sys::corq_close(raw), sys::CORQ_OK);
    }
}

#[test]
fn bad_stream_declarations_appends_and_reads_are_einval_or_eexist() {
    let engine = engine();
    let error = engine.declare_stream("bad name", &[]).unwrap_err();
    assert_eq!(error.code(), corq::EINVAL);
    assert!(error.detail().contains("stream name"), "detail: {}", error.detail());
    assert_eq!(code(engine.declare_stream("t", &[("partitions", "0")])), corq::EINVAL);
    assert_eq!(code(engine.declare_stream("t", &[("discard", "oldest")])), corq::EINVAL);
    let error = engine.declare_stream("t", &[("max_length", "5")]).unwrap_err();
    assert!(error.detail().contains("not a stream option"), "detail: {}", error.detail());
    let error = engine.declare_stream("t", &[("durable", "true")]).unwrap_err();
    assert!(error.detail().contains("disk engine"), "detail: {}", error.detail());
    assert_eq!(code(engine.declare_stream("nul\0", &[])), corq::EINVAL);
    engine.declare_stream("s", &[("partitions", "2")]).unwrap();
    engine.declare_stream("s", &[("partitions", "2")]).unwrap();
    assert_eq!(code(engine.declare_stream("s", &[("partitions", "3")])), corq::EEXIST);

    let delayed = PublishOptions { delay_ms: 5, ..Default::default() };
    let error = engine.append_with("s", None, &Message::new(b"x"), &delayed).unwrap_err();
    assert_eq!(error.code(), corq::EINVAL);
    assert!(error.detail().contains("must be 0 for a stream"), "detail: {}", error.detail());
    assert_eq!(code(engine.append("s", None, &Message::new(b"x").header("", b"v"))), corq::EINVAL);
    let mut producer = engine.stream_producer("s").unwrap();
    let error = producer.send(None, &[], &PublishOptions::default()).unwrap_err();
    assert!(error.detail().contains("count must be at least 1"), "detail: {}", error.detail());
    let two_ids = [Message::new(b"a"), Message::new(b"b").dedup_id("second")];
    assert_eq!(code(producer.send(None, &two_ids, &PublishOptions::default())), corq::EINVAL);
    let mut reader = engine.stream_reader("s", 0, StreamStart::Earliest).unwrap();
    let error = reader.read(0, 0).unwrap_err();
    assert!(error.detail().contains("max must be at least 1"), "detail: {}", error.detail());
    assert_eq!(code(reader.read(1, -2)), corq::EINVAL);
    assert_eq!(engine.stream_stats("s").unwrap().appended, 0);
}

#[test]
fn full_stream_with_discard_new_is_efull_and_oversize_is_etoobig() {
    let engine = Engine::in_memory(&[("max_message_bytes", "1KiB")]).unwrap();
    engine.declare_stream("small", &[("retention_records", "1"), ("discard", "new")]).unwrap();
    engine.append("small", None, &Message::new(b"a")).unwrap();
    let error = engine.append("small", None, &Message::new(b"b")).unwrap_err();
    assert_eq!(error.code(), corq::EFULL);
    assert!(error.detail().contains("discard=new"), "detail: {}", error.detail());
    engine.declare_stream("s", &[]).unwrap();
    engine.append("s", None, &Message::new(&[7u8; 1024])).unwrap();
    assert_eq!(code(engine.append("s", Some(b"k"), &Message::new(&[7u8; 1024]))), corq::ETOOBIG);
}

// ---- threads -----------------------------------------------------------------------------------

#[test]
fn wakeup_from_another_thread_ends_a_blocked_consume_with_eclosed() {
    let engine = engine();
    engine.declare("q", &[]).unwrap();
    engine.publish("q", &Message::new(b"x")).unwrap();
    let consumer = engine.consumer("q", 4).unwrap();
    let held = consumer.consume(WAIT_MS).unwrap().unwrap();
    let waker = consumer.waker();
    std::thread::scope(|s| {
        s.spawn(move || waker.wake().unwrap());
        // Blocks until the wakeup (or returns at once if it came first): ECLOSED either way.
        assert_eq!(code(consumer.consume(-1)), corq::ECLOSED);
    });
    held.ack().expect("settling still works after a wakeup");
}

#[test]
fn interrupt_from_another_thread_ends_a_blocked_consume_with_nothing_and_keeps_the_consumer() {
    let engine = engine();
    engine.declare("q", &[]).unwrap();
    let consumer = engine.consumer("q", 4).unwrap();
    let waker = consumer.waker();
    std::thread::scope(|s| {
        s.spawn(move || waker.interrupt().unwrap());
        // Blocks until the interrupt (or returns at once if it came first): no delivery.
        assert!(consumer.consume(-1).unwrap().is_none());
    });
    engine.publish("q", &Message::new(b"y")).unwrap();
    let d = consumer.consume(WAIT_MS).unwrap().expect("the consumer still works");
    d.ack().unwrap();
}

#[test]
fn engine_is_shared_by_threads_each_with_its_own_consumer() {
    let engine = engine();
    engine.declare("q", &[]).unwrap();
    const PER_THREAD: usize = 100;
    let total = std::thread::scope(|s| {
        let publisher = s.spawn(|| {
            let mut producer = engine.producer("q").unwrap();
            for n in 0..2 * PER_THREAD {
                let text = n.to_string();
                producer.send(&[Message::new(text.as_bytes())], &Default::default()).unwrap();
            }
        });
        let workers: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    let consumer = engine.consumer("q", 16).unwrap();
                    let mut acked = 0;
                    while acked < PER_THREAD {
                        if let Some(d) = consumer.consume(WAIT_MS).unwrap() {
                            d.ack().unwrap();
                            acked += 1;
                        }
                    }
                    acked
                })
            })
            .collect();
        publisher.join().unwrap();
        workers.into_iter().map(|w| w.join().unwrap()).sum::<usize>()
    });
    assert_eq!(total, 2 * PER_THREAD);
    assert_eq!(engine.queue_stats("q").unwrap().acked, (2 * PER_THREAD) as u64);
}

#[test]
fn log_callback_receives_engine_lines_until_close() {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let engine = engine();
    let sink = Arc::clone(&lines);
    engine
        .set_log_callback(move |level, message| {
            sink.lock().unwrap().push((level, message.to_string()))
        })
        .unwrap();
    engine.close().unwrap();
    let lines = lines.lock().unwrap();
    assert!(
        lines.iter().any(|(level, m)| *level == corq::sys::CORQ_LOG_INFO && m == "engine closed"),
        "lines: {:?}",
        *lines
    );
}

// ---- durable engines ---------------------------------------------------------------------------

#[test]
fn a_second_open_of_the_directory_is_ebusy() {
    let dir = TempDir::new("ebusy");
    let engine = Engine::open(dir.path(), &[]).unwrap();
    let error = Engine::open(dir.path(), &[]).unwrap_err();
    assert_eq!(error.code(), corq::EBUSY);
    engine.close().unwrap();
    Engine::open(dir.path(), &[]).expect("the lock is released by close").close().unwrap();
}

#[test]
fn published_messages_and_in_flight_deliveries_survive_a_reopen() {
    let dir = TempDir::new("reopen");
    {
        let engine = Engine::open(dir.path(), &[("sync", "always")]).unwrap();
        engine.declare("q", &[]).unwrap();
        for text in ["a", "b", "c"] {
            engine.publish("q", &Message::new(text.as_bytes()).header("h", b"1")).unwrap();
        }
        let consumer = engine.consumer("q", 2).unwrap();
        let a = consumer.consume(WAIT_MS).unwrap().unwrap();
        assert_eq!(a.data(), b"a");
        a.ack().unwrap();
        let b = consumer.consume(WAIT_MS).unwrap().unwrap();
        assert_eq!(b.data(), b"b");
        drop(b); // unsettled: in flight
        engine.sync(WAIT_MS).unwrap();
        // As if the process died: the consumer is never closed (its handle leaks), so "b" is still
        // in flight when the engine closes.
        std::mem::forget(consumer);
        engine.close().unwrap();
    }
    let engine = Engine::open(dir.path(), &[]).unwrap();
    let consumer = engine.consumer("q", 8).unwrap();
    let back = consumer.consume_many(8, WAIT_MS).unwrap();
    let texts: Vec<&[u8]> = back.iter().map(|d| d.data()).collect();
    assert_eq!(texts, vec![&b"b"[..], &b"c"[..]]);
    assert_eq!(back[0].delivery_count(), 2, "the in-flight one keeps its count");
    assert_eq!(back[1].header("h"), Some(&b"1"[..]));
}

#[test]
fn queues_on_a_disk_engine_are_durable_and_transient_ones_are_not() {
    let dir = TempDir::new("durable");
    {
        let engine = Engine::open(dir.path(), &[]).unwrap();
        engine.declare("kept", &[]).unwrap();
        engine.declare("lost", &[("durable", "false")]).unwrap();
        engine.publish("kept", &Message::new(b"k")).unwrap();
        engine.publish("lost", &Message::new(b"l")).unwrap();
        engine.close().unwrap();
    }
    let engine = Engine::open(dir.path(), &[]).unwrap();
    assert_eq!(engine.queue_stats("kept").unwrap().ready, 1);
    assert_eq!(code(engine.queue_stats("lost")), corq::ENOENT);
}

#[test]
fn nowait_publishes_are_confirmed_by_wait_durable() {
    let dir = TempDir::new("nowait");
    let engine = Engine::open(dir.path(), &[]).unwrap();
    engine.declare("q", &[]).unwrap();
    let options = PublishOptions { nowait: true, ..Default::default() };
    let id = engine.publish_with("q", &Message::new(b"x"), &options).unwrap();
    engine.wait_durable(id, WAIT_MS).unwrap();
    assert_eq!(code(engine.wait_durable(id + 1_000_000, WAIT_MS)), corq::EINVAL);
}

#[test]
fn a_nowait_batch_is_durable_after_flush_and_survives_a_reopen() {
    let dir = TempDir::new("flush");
    {
        let engine = Engine::open(dir.path(), &[]).unwrap();
        engine.declare("q", &[]).unwrap();
        let mut producer = engine.producer("q").unwrap();
        let nowait = PublishOptions { nowait: true, ..Default::default() };
        let batch = [Message::new(b"1"), Message::new(b"2"), Message::new(b"3")];
        producer.send(&batch, &nowait).unwrap();
        producer.flush(WAIT_MS).unwrap();
    }
    let engine = Engine::open(dir.path(), &[]).unwrap();
    let consumer = engine.consumer("q", 8).unwrap();
    let back = consumer.consume_many(8, WAIT_MS).unwrap();
    let texts: Vec<&[u8]> = back.iter().map(|d| d.data()).collect();
    assert_eq!(texts, vec![&b"1"[..], &b"2"[..], &b"3"[..]]);
    back[0].extend(60_000).expect("a live delivery's lease can be extended");
}

#[test]
fn fanned_out_copies_in_durable_queues_survive_a_reopen_with_one_id() {
    let dir = TempDir::new("fanout");
    let published = {
        let engine = Engine::open(dir.path(), &[]).unwrap();
        engine.declare_exchange("orders", ExchangeType::Topic, &[]).unwrap();
        for queue in ["inventory", "email"] {
            engine.declare(queue, &[]).unwrap();
            engine.bind("orders", queue, "order.*", &[]).unwrap();
        }
        let message = Message::new(b"o-1");
        engine.publish_to_exchange("orders", "order.placed", &message, &Default::default()).unwrap()
    };
    assert_eq!(published.routed, 2);
    let engine = Engine::open(dir.path(), &[]).unwrap();
    for queue in ["inventory", "email"] {
        let consumer = engine.consumer(queue, 1).unwrap();
        let delivery = consumer.consume(WAIT_MS).unwrap().expect(queue);
        assert_eq!(delivery.data(), b"o-1");
        assert_eq!(delivery.message_id(), published.message_id);
        delivery.ack().unwrap();
    }
}

#[test]
#[cfg(target_pointer_width = "64")]
fn sys_structs_have_the_c_layout_of_lp64() {
    use std::mem::size_of;
    // sizeof of each struct of corq.h on LP64 (x86-64, AArch64), padding included.
    assert_eq!(size_of::<corq::sys::corq_header>(), 24);
    assert_eq!(size_of::<corq::sys::corq_message>(), 40);
    assert_eq!(size_of::<corq::sys::corq_publish_options>(), 40); // 32 before `priority`
    assert_eq!(size_of::<corq::sys::corq_delivery>(), 64);
    assert_eq!(size_of::<corq::sys::corq_queue_stats>(), 152); // 136 in the first version
    assert_eq!(size_of::<corq::sys::corq_exchange_stats>(), 48);
    assert_eq!(size_of::<corq::sys::corq_stream_record>(), 72);
    assert_eq!(size_of::<corq::sys::corq_stream_stats>(), 56);
    assert_eq!(size_of::<corq::sys::corq_group_stats>(), 64);
    assert_eq!(size_of::<corq::StreamRecord>(), 72); // read fills an array of them directly
}

#[test]
fn corq_stream_stats_struct_size_is_the_library_sizeof() {
    // corq_stream_stats_get refuses a struct_size below its sizeof and says the size it needs.
    use corq::sys;
    let mut raw = std::ptr::null_mut();
    // SAFETY: an in-memory engine opened, used and closed here; NUL-terminated strings.
    unsafe {
        assert_eq!(sys::corq_open(std::ptr::null(), std::ptr::null(), &mut raw), sys::CORQ_OK);
        let name = b"s\0".as_ptr() as *const std::os::raw::c_char;
        assert_eq!(sys::corq_stream_declare(raw, name, std::ptr::null()), sys::CORQ_OK);
        let mut stats = sys::corq_stream_stats { struct_size: 1, ..Default::default() };
        assert_eq!(sys::corq_stream_stats_get(raw, name, &mut stats), corq::EINVAL);
        let detail = std::ffi::CStr::from_ptr(sys::corq_last_error()).to_string_lossy();
        let size = std::mem::size_of::<sys::corq_stream_stats>();
        assert!(detail.ends_with(&format!("at least {}", size)), "detail: {}", detail);
        assert_eq!(sys::corq_close(raw), sys::CORQ_OK);
    }
}

#[test]
fn a_directory_path_with_a_nul_byte_is_einval() {
    assert_eq!(code(Engine::open("bad\0dir", &[])), corq::EINVAL);
}

#[test]
fn names_short_and_long_reach_c_intact_and_nul_is_einval() {
    // Short names go to C from a stack buffer, names of 128 bytes or more from the heap (queue
    // names are at most 200 bytes).
    let engine = engine();
    for len in [1, 127, 128, 200] {
        let name: String = "q".repeat(len);
        engine.declare(&name, &[("dead_letter_queue", "")]).unwrap();
        engine.publish(&name, &Message::new(b"x")).unwrap();
        let published = engine
            .publish_to_exchange("", &name, &Message::new(b"y"), &PublishOptions::default())
            .unwrap();
        assert_eq!(published.routed, 1);
        assert_eq!(engine.queue_stats(&name).unwrap().ready, 2, "name of {} bytes", len);
    }
    for bad in ["a\0b", &format!("{}\0", "q".repeat(200))] {
        let err = engine.publish(bad, &Message::new(b"x")).unwrap_err();
        assert_eq!(err.code(), corq::EINVAL);
        assert!(err.detail().contains("NUL"), "{}", err.detail());
        let err = engine
            .publish_to_exchange(bad, "k", &Message::new(b"x"), &PublishOptions::default())
            .unwrap_err();
        assert_eq!(err.code(), corq::EINVAL);
    }
    let consumer = engine.consumer(&"q".repeat(127), 4).unwrap();
    assert_eq!(consumer.consume_many(100, 0).unwrap().len(), 2); // more than 64 asked: the Vec path
}
