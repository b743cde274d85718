//! Request-reply and temporary subscriber queues through the safe wrapper, against the real
//! library: each test names the behaviour it proves.
use corq::{Engine, ExchangeType, Message, PublishOptions, EINVAL, ESTATE, ETIMEDOUT, EUNROUTABLE};

const WAIT_MS: i32 = 10_000;

fn engine() -> Engine {
    Engine::in_memory(&[]).expect("in-memory engine")
}

fn code<T: std::fmt::Debug>(result: corq::Result<T>) -> i32 {
    result.expect_err("expected an error").code()
}

#[test]
fn request_gets_the_response_with_its_correlation_id() {
    let engine = engine();
    engine.declare("prices", &[]).unwrap();
    std::thread::scope(|s| {
        let service = s.spawn(|| {
            let consumer = engine.consumer("prices", 8).unwrap();
            let request = consumer.consume(WAIT_MS).unwrap().expect("a request");
            assert!(request.header("x-reply-to").is_some());
            assert_eq!(request.header("user"), Some(&b"ada"[..]));
            let mut answer = request.data().to_vec();
            answer.extend_from_slice(b": 42");
            request.respond(&Message::new(&answer).header("unit", b"EUR")).unwrap();
        });
        let reply = engine
            .request("", "prices", &Message::new(b"tea").header("user", b"ada"), WAIT_MS)
            .unwrap();
        assert_eq!(reply.data, b"tea: 42");
        assert_eq!(reply.header("unit"), Some(&b"EUR"[..]));
        assert!(reply.header("x-correlation-id").is_some());
        service.join().unwrap();
    });
    // The request was acked by respond: nothing left in the queue.
    let stats = engine.queue_stats("prices").unwrap();
    assert_eq!(stats.ready + stats.in_flight, 0);
}

#[test]
fn request_with_no_responder_is_eunroutable_at_once() {
    let engine = engine();
    engine.declare_exchange("rpc", ExchangeType::Direct, &[]).unwrap();
    let err = engine.request("rpc", "nobody", &Message::new(b"?"), WAIT_MS).unwrap_err();
    assert_eq!(err.code(), EUNROUTABLE);
    assert!(!err.detail().is_empty());
}

#[test]
fn request_times_out_when_nobody_answers_and_the_late_reply_is_dropped() {
    let engine = engine();
    engine.declare("slow", &[]).unwrap();
    assert_eq!(code(engine.request("", "slow", &Message::new(b"q1"), 50)), ETIMEDOUT);
    // The responder answers after the requester gave up: dropped, never handed to the next request.
    let consumer = engine.consumer("slow", 8).unwrap();
    let late = consumer.consume(WAIT_MS).unwrap().expect("the timed-out request");
    late.respond(&Message::new(b"late")).unwrap();
    std::thread::scope(|s| {
        let service = s.spawn(move || {
            let request = consumer.consume(WAIT_MS).unwrap().expect("the second request");
            assert_eq!(request.data(), b"q2");
            request.respond(&Message::new(b"on time")).unwrap();
        });
        let reply = engine.request("", "slow", &Message::new(b"q2"), WAIT_MS).unwrap();
        assert_eq!(reply.data, b"on time");
        service.join().unwrap();
    });
    let stats = engine.stats_json().unwrap();
    assert!(stats.contains("\"late_replies_dropped\":1"), "{}", stats);
}

#[test]
fn bad_request_arguments_are_einval() {
    let engine = engine();
    engine.declare("q", &[]).unwrap();
    assert_eq!(code(engine.request("", "q", &Message::new(b"x"), -2)), EINVAL);
    assert_eq!(code(engine.request("", "q\0", &Message::new(b"x"), 10)), EINVAL);
    assert_eq!(code(engine.request("bad\0", "q", &Message::new(b"x"), 10)), EINVAL);
}

#[test]
fn respond_to_a_delivery_without_reply_to_is_einval_and_acks_nothing() {
    let engine = engine();
    engine.declare("plain", &[]).unwrap();
    engine.publish("plain", &Message::new(b"not a request")).unwrap();
    let consumer = engine.consumer("plain", 8).unwrap();
    let delivery = consumer.consume(WAIT_MS).unwrap().expect("a message");
    let tag = delivery.tag();
    let err = consumer.respond(tag, &Message::new(b"answer")).unwrap_err();
    assert_eq!(err.code(), EINVAL);
    assert!(err.detail().contains("x-reply-to"), "{}", err.detail());
    consumer.ack(tag).unwrap(); // still unsettled: respond acked nothing
    assert_eq!(code(consumer.respond(tag, &Message::new(b"again"))), ESTATE);
}

#[test]
fn temporary_queue_gets_a_generated_name_and_goes_with_its_last_consumer() {
    let engine = engine();
    engine.declare_exchange("logs", ExchangeType::Fanout, &[]).unwrap();
    let name = engine.declare_temp(&[]).unwrap();
    assert!(name.starts_with("corq.gen-") && name.len() == "corq.gen-".len() + 16, "{}", name);
    engine.bind("logs", &name, "", &[]).unwrap();
    let consumer = engine.consumer(&name, 8).unwrap();
    let published = engine
        .publish_to_exchange("logs", "", &Message::new(b"line"), &PublishOptions::default())
        .unwrap();
    assert_eq!(published.routed, 1);
    consumer.consume(WAIT_MS).unwrap().expect("the line").ack().unwrap();
    consumer.close().unwrap();
    assert_eq!(code(engine.queue_stats(&name)), corq::ENOENT);
}

#[test]
fn temporary_queue_refuses_durable_and_kept_options() {
    let engine = engine();
    assert_eq!(code(engine.declare_temp(&[("durable", "true")])), EINVAL);
    assert_eq!(code(engine.declare_temp(&[("auto_delete", "false")])), EINVAL);
    assert_eq!(code(engine.declare_temp(&[("no_such_option", "1")])), EINVAL);
}
