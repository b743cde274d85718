//! Tests of `corq::Transaction` against the real library (CORQ_LIB_DIR, see build.rs): a commit
//! makes its publishes deliverable, its appends readable and its acks final; abort, drop and a
//! panic unwinding past it discard it; refused operations fail at once and leave it usable; a commit
//! that fails applies nothing. Use after commit or abort does not compile (the crate's doc tests).
use corq::{Delivery, Engine, Message, PublishOptions, StreamStart};
use std::path::PathBuf;
use std::time::Duration;

/// The longest a test waits for something that is due now or after a lease and a backoff.
const WAIT_MS: i32 = 10_000;
/// A lease short enough to run out within a test, long enough to commit in.
const LEASE_MS: u64 = 300;
/// How many messages the consume-transform-produce test moves.
const RELAY_MESSAGES: usize = 100;

/// An in-memory engine with queues "in" (short leases) and "out" and stream "s".
fn engine() -> Engine {
    let engine = Engine::in_memory(&[]).expect("in-memory engine");
    engine.declare("in", &[("lease_ms", &LEASE_MS.to_string())]).unwrap();
    engine.declare("out", &[]).unwrap();
    engine.declare_stream("s", &[]).unwrap();
    engine
}

fn code<T: std::fmt::Debug>(result: corq::Result<T>) -> i32 {
    result.expect_err("expected an error").code()
}

/// The payloads a queue holds now, consumed and acked.
fn drained(engine: &Engine, queue: &str) -> Vec<Vec<u8>> {
    let consumer = engine.consumer(queue, 1024).unwrap();
    let got = consumer.consume_many(1024, 0).unwrap();
    got.into_iter()
        .map(|d| {
            let data = d.data().to_vec();
            d.ack().unwrap();
            data
        })
        .collect()
}

/// The payloads of partition 0 of a stream from the start.
fn records(engine: &Engine, stream: &str) -> Vec<Vec<u8>> {
    let mut reader = engine.stream_reader(stream, 0, StreamStart::Earliest).unwrap();
    let got = reader.read(1024, 0).unwrap();
    got.iter().map(|r| r.data().to_vec()).collect()
}

/// Publishes `data` to "in" and takes it with `consumer`.
fn held<'c>(engine: &Engine, consumer: &'c corq::Consumer<'_>, data: &[u8]) -> Delivery<'c> {
    engine.publish("in", &Message::new(data)).unwrap();
    consumer.consume(WAIT_MS).unwrap().expect("the delivery")
}

// ---- good paths --------------------------------------------------------------------------------

#[test]
fn commit_makes_the_publish_deliverable_and_the_append_readable() {
    let engine = engine();
    let txn = engine.transaction().unwrap();
    txn.publish("", "out", &Message::new(b"p1").header("k", b"v")).unwrap();
    txn.append("s", Some(b"key-1"), &Message::new(b"r1")).unwrap();
    assert_eq!(engine.queue_stats("out").unwrap().ready, 0, "visible before commit");
    assert!(records(&engine, "s").is_empty(), "readable before commit");
    txn.commit(WAIT_MS).unwrap();
    let consumer = engine.consumer("out", 1).unwrap();
    let delivery = consumer.consume(0).unwrap().expect("the committed publish");
    assert_eq!((delivery.data(), delivery.header("k")), (&b"p1"[..], Some(&b"v"[..])));
    assert_eq!(records(&engine, "s"), vec![b"r1".to_vec()]);
}

#[test]
fn a_publish_through_an_exchange_routes_at_commit() {
    let engine = engine();
    engine.declare_exchange("events", corq::ExchangeType::Topic, &[]).unwrap();
    let txn = engine.transaction().unwrap();
    txn.publish("events", "order.placed", &Message::new(b"o1")).unwrap();
    engine.bind("events", "out", "order.*", &[]).unwrap(); // bound before the commit
    txn.commit(WAIT_MS).unwrap();
    assert_eq!(drained(&engine, "out"), vec![b"o1".to_vec()]);
}

#[test]
fn abort_discards_publishes_appends_and_acks() {
    let engine = engine();
    let consumer = engine.consumer("in", 8).unwrap();
    let delivery = held(&engine, &consumer, b"x");
    let txn = engine.transaction().unwrap();
    txn.publish("", "out", &Message::new(b"p")).unwrap();
    txn.append("s", None, &Message::new(b"r")).unwrap();
    txn.ack(&delivery).unwrap();
    txn.abort();
    assert_eq!(engine.queue_stats("out").unwrap().published, 0);
    assert!(records(&engine, "s").is_empty());
    assert_eq!(engine.queue_stats("in").unwrap().acked, 0);
    delivery.ack().unwrap(); // still held: the aborted ack was not applied
}

#[test]
fn dropping_a_transaction_aborts_it() {
    let engine = engine();
    {
        let txn = engine.transaction().unwrap();
        txn.publish("", "out", &Message::new(b"p")).unwrap();
        txn.append("s", None, &Message::new(b"r")).unwrap();
    }
    assert_eq!(engine.queue_stats("out").unwrap().published, 0);
    assert!(records(&engine, "s").is_empty());
    let json = engine.stats_json().unwrap();
    assert!(json.contains("\"aborted\":1") && json.contains("\"open\":0"), "{}", json);
}

#[test]
fn a_panic_that_unwinds_past_it_aborts_it() {
    let engine = engine();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let txn = engine.transaction().unwrap();
        txn.publish("", "out", &Message::new(b"p")).unwrap();
        panic!("transform failed");
    }));
    assert!(outcome.is_err());
    assert_eq!(engine.queue_stats("out").unwrap().published, 0);
    assert!(engine.stats_json().unwrap().contains("\"aborted\":1"));
}

#[test]
fn a_committed_ack_is_final_after_a_consumer_reopen_and_past_the_lease() {
    let engine = engine();
    {
        let consumer = engine.consumer("in", 8).unwrap();
        let delivery = held(&engine, &consumer, b"x");
        let txn = engine.transaction().unwrap();
        txn.ack(&delivery).unwrap();
        assert_eq!(engine.queue_stats("in").unwrap().in_flight, 1, "acked before commit");
        txn.commit(WAIT_MS).unwrap();
        assert_eq!(code(delivery.ack()), corq::ESTATE, "settled by the commit");
    } // closing the consumer would release what it still held
    std::thread::sleep(Duration::from_millis(2 * LEASE_MS)); // a held lease would have run out
    let again = engine.consumer("in", 8).unwrap();
    assert!(again.consume(0).unwrap().is_none());
    let stats = engine.queue_stats("in").unwrap();
    assert_eq!((stats.acked, stats.ready, stats.delayed), (1, 0, 0));
}

#[test]
fn an_aborted_ack_leaves_the_delivery_held_until_its_lease_runs_out() {
    let engine = engine();
    let consumer = engine.consumer("in", 8).unwrap();
    let delivery = held(&engine, &consumer, b"x");
    let txn = engine.transaction().unwrap();
    txn.ack(&delivery).unwrap();
    drop(txn);
    assert_eq!(engine.queue_stats("in").unwrap().in_flight, 1);
    drop(delivery); // unsettled: its lease runs out, then the backoff
    let again = consumer.consume(WAIT_MS).unwrap().expect("the delivery never came back");
    assert_eq!((again.data(), again.delivery_count()), (&b"x"[..], 2));
    assert_eq!(engine.queue_stats("in").unwrap().acked, 0);
}

#[test]
fn consume_transform_produce_moves_each_message_exactly_once() {
    let engine = engine();
    engine.declare("a", &[]).unwrap();
    engine.declare("b", &[]).unwrap();
    for i in 0..RELAY_MESSAGES {
        engine.publish("a", &Message::new(format!("m{}", i).as_bytes())).unwrap();
    }
    let consumer = engine.consumer("a", 16).unwrap();
    let mut relayed = 0;
    while let Some(delivery) = consumer.consume(0).unwrap() {
        let output = [b"T(".as_slice(), delivery.data(), b")"].concat();
        let txn = engine.transaction().unwrap();
        txn.publish("", "b", &Message::new(&output)).unwrap();
        txn.ack(&delivery).unwrap();
        txn.commit(WAIT_MS).unwrap();
        relayed += 1;
        assert!(relayed <= RELAY_MESSAGES, "a message came twice");
    }
    assert_eq!(relayed, RELAY_MESSAGES);
    let a = engine.queue_stats("a").unwrap();
    assert_eq!((a.ready, a.in_flight, a.delayed, a.acked), (0, 0, 0, RELAY_MESSAGES as u64));
    let expected: Vec<Vec<u8>> =
        (0..RELAY_MESSAGES).map(|i| format!("T(m{})", i).into_bytes()).collect();
    assert_eq!(drained(&engine, "b"), expected);
}

#[test]
fn a_group_members_ack_commits_with_an_append() {
    let engine = engine();
    engine.declare_stream("payments", &[]).unwrap();
    engine.append("payments", None, &Message::new(b"pay-1")).unwrap();
    let member = engine.group_consumer("payments", "billing", &[]).unwrap();
    let delivery = member.consume(WAIT_MS).unwrap().expect("the record");
    let txn = engine.transaction().unwrap();
    txn.append("s", None, &Message::new(b"entry-1")).unwrap();
    txn.ack(&delivery).unwrap();
    assert_eq!(engine.group_stats("payments", "billing").unwrap().acked, 0);
    txn.commit(WAIT_MS).unwrap();
    assert_eq!(engine.group_stats("payments", "billing").unwrap().acked, 1);
    assert_eq!(records(&engine, "s"), vec![b"entry-1".to_vec()]);
}

#[test]
fn a_transaction_may_move_to_another_thread() {
    let engine = engine();
    let txn = engine.transaction().unwrap();
    txn.publish("", "out", &Message::new(b"p")).unwrap();
    std::thread::scope(|scope| {
        scope.spawn(move || txn.commit(WAIT_MS)).join().unwrap().unwrap();
    });
    assert_eq!(drained(&engine, "out"), vec![b"p".to_vec()]);
}

// ---- bad input ---------------------------------------------------------------------------------

#[test]
fn a_tag_the_consumer_does_not_hold_is_estate_at_once_and_the_txn_stays_usable() {
    let engine = engine();
    let consumer = engine.consumer("in", 8).unwrap();
    let txn = engine.transaction().unwrap();
    assert_eq!(code(txn.ack_tag(&consumer, 12345)), corq::ESTATE);
    let delivery = held(&engine, &consumer, b"x");
    let tag = delivery.tag();
    delivery.ack().unwrap();
    assert_eq!(code(txn.ack_tag(&consumer, tag)), corq::ESTATE, "settled already");
    txn.publish("", "out", &Message::new(b"kept")).unwrap();
    txn.commit(WAIT_MS).unwrap();
    assert_eq!(drained(&engine, "out"), vec![b"kept".to_vec()]);
}

#[test]
fn the_same_delivery_twice_in_one_transaction_is_estate() {
    let engine = engine();
    let consumer = engine.consumer("in", 8).unwrap();
    let delivery = held(&engine, &consumer, b"x");
    let txn = engine.transaction().unwrap();
    txn.ack(&delivery).unwrap();
    let error = txn.ack(&delivery).expect_err("acked twice");
    assert_eq!(error.code(), corq::ESTATE);
    assert!(error.detail().contains("already"), "{}", error);
    txn.commit(WAIT_MS).unwrap();
    assert_eq!(engine.queue_stats("in").unwrap().acked, 1);
}

#[test]
fn an_unknown_queue_exchange_or_stream_is_enoent_at_once_and_the_txn_stays_usable() {
    let engine = engine();
    let txn = engine.transaction().unwrap();
    let error = txn.publish("", "nope", &Message::new(b"x")).expect_err("no such queue");
    assert_eq!(error.code(), corq::ENOENT);
    assert!(error.detail().contains("nope"), "{}", error);
    assert!(error.name().starts_with("CORQ_ENOENT"), "{}", error);
    assert_eq!(code(txn.publish("no-exchange", "k", &Message::new(b"x"))), corq::ENOENT);
    assert_eq!(code(txn.append("no-stream", None, &Message::new(b"x"))), corq::ENOENT);
    txn.publish("", "out", &Message::new(b"kept")).unwrap();
    txn.append("s", None, &Message::new(b"kept")).unwrap();
    txn.commit(WAIT_MS).unwrap();
    assert_eq!(drained(&engine, "out"), vec![b"kept".to_vec()]);
    assert_eq!(records(&engine, "s"), vec![b"kept".to_vec()]);
}

#[test]
fn a_delivery_settled_before_commit_fails_it_with_estate_and_nothing_is_applied() {
    let engine = engine();
    let consumer = engine.consumer("in", 8).unwrap();
    let delivery = held(&engine, &consumer, b"x");
    let tag = delivery.tag();
    let txn = engine.transaction().unwrap();
    txn.publish("", "out", &Message::new(b"p")).unwrap();
    txn.append("s", None, &Message::new(b"r")).unwrap();
    txn.ack(&delivery).unwrap();
    delivery.ack().unwrap(); // settled outside the transaction
    let error = txn.commit(WAIT_MS).expect_err("the acked delivery is gone");
    assert_eq!(error.code(), corq::ESTATE);
    assert!(error.detail().contains(&tag.to_string()), "{}", error);
    assert_eq!(engine.queue_stats("out").unwrap().published, 0);
    assert!(records(&engine, "s").is_empty());
}

#[test]
fn a_full_target_fails_the_commit_with_efull_and_the_delivery_stays_held() {
    let engine = engine();
    engine.declare("small", &[("max_length", "1"), ("overflow", "reject")]).unwrap();
    engine.publish("small", &Message::new(b"filler")).unwrap();
    let consumer = engine.consumer("in", 8).unwrap();
    let delivery = held(&engine, &consumer, b"x");
    let txn = engine.transaction().unwrap();
    txn.publish("", "out", &Message::new(b"p")).unwrap();
    txn.publish("", "small", &Message::new(b"q")).unwrap();
    txn.ack(&delivery).unwrap();
    let error = txn.commit(WAIT_MS).expect_err("small is full");
    assert_eq!(error.code(), corq::EFULL);
    assert!(error.detail().contains("small"), "{}", error);
    assert_eq!(engine.queue_stats("out").unwrap().published, 0);
    delivery.ack().unwrap(); // still held
}

#[test]
fn bad_arguments_are_einval_or_etoobig_and_leave_the_txn_usable() {
    let engine = engine();
    let txn = engine.transaction().unwrap();
    assert_eq!(code(txn.publish("", "bad name!", &Message::new(b"x"))), corq::EINVAL);
    assert_eq!(code(txn.publish("", "nul\0name", &Message::new(b"x"))), corq::EINVAL);
    assert_eq!(code(txn.append("s\0", None, &Message::new(b"x"))), corq::EINVAL);
    let delayed = PublishOptions { delay_ms: 10, ..Default::default() };
    assert_eq!(code(txn.append_with("s", None, &Message::new(b"x"), &delayed)), corq::EINVAL);
    let negative = PublishOptions { priority: -1, ..Default::default() };
    assert_eq!(code(txn.publish_with("", "out", &Message::new(b"x"), &negative)), corq::EINVAL);
    let big = vec![b'x'; 2 << 20]; // over max_message_bytes (1 MiB)
    assert_eq!(code(txn.publish("", "out", &Message::new(&big))), corq::ETOOBIG);
    txn.publish("", "out", &Message::new(b"kept")).unwrap();
    txn.commit(WAIT_MS).unwrap();
    assert_eq!(drained(&engine, "out"), vec![b"kept".to_vec()]);
    let txn = engine.transaction().unwrap();
    txn.publish("", "out", &Message::new(b"dropped")).unwrap();
    assert_eq!(code(txn.commit(-2)), corq::EINVAL); // and freed: commit consumed it
    assert_eq!(engine.queue_stats("out").unwrap().ready, 0);
}

#[test]
fn a_consumer_of_another_engine_is_einval() {
    let engine = engine();
    let other = self::engine();
    let consumer = other.consumer("in", 8).unwrap();
    other.publish("in", &Message::new(b"x")).unwrap();
    let delivery = consumer.consume(WAIT_MS).unwrap().unwrap();
    let txn = engine.transaction().unwrap();
    assert_eq!(code(txn.ack(&delivery)), corq::EINVAL);
}

// ---- durable engines ---------------------------------------------------------------------------

/// A fresh directory under the system temp dir, removed (with everything in it) on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let path =
            std::env::temp_dir().join(format!("corq-rust-txn-{}-{}", std::process::id(), name));
        let _ = std::fs::remove_dir_all(&path);
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn a_committed_transaction_survives_a_reopen_and_an_aborted_one_does_not() {
    let dir = TempDir::new("reopen");
    {
        let engine = Engine::open(&dir.0, &[]).unwrap();
        engine.declare("in", &[]).unwrap();
        engine.declare("out", &[]).unwrap();
        engine.declare_stream("s", &[]).unwrap();
        engine.publish("in", &Message::new(b"a")).unwrap();
        engine.publish("in", &Message::new(b"b")).unwrap();
        let consumer = engine.consumer("in", 2).unwrap();
        let first = consumer.consume(WAIT_MS).unwrap().unwrap();
        let second = consumer.consume(WAIT_MS).unwrap().unwrap();
        let txn = engine.transaction().unwrap();
        txn.publish("", "out", &Message::new(b"from-a")).unwrap();
        txn.append("s", None, &Message::new(b"from-a")).unwrap();
        txn.ack(&first).unwrap();
        txn.commit(WAIT_MS).unwrap(); // durable when it returns (sync=always)
        let txn = engine.transaction().unwrap();
        txn.publish("", "out", &Message::new(b"from-b")).unwrap();
        txn.ack(&second).unwrap();
        txn.abort();
        drop((first, second));
        consumer.close().unwrap();
        engine.close().unwrap();
    }
    let engine = Engine::open(&dir.0, &[]).unwrap();
    assert_eq!(drained(&engine, "out"), vec![b"from-a".to_vec()]);
    assert_eq!(records(&engine, "s"), vec![b"from-a".to_vec()]);
    let consumer = engine.consumer("in", 8).unwrap();
    let back = consumer.consume_many(8, WAIT_MS).unwrap();
    assert_eq!(back.len(), 1, "only the delivery of the aborted transaction comes back");
    assert_eq!((back[0].data(), back[0].delivery_count()), (&b"b"[..], 2));
}
