//! pubsub.rs — publish/subscribe through a topic exchange, from Rust.
//!
//! An order event is published once to the topic exchange "orders" and fanned out, atomically and
//! with one message id, to three services' queues: inventory (`order.*`), email (`order.placed`)
//! and analytics (`order.#`), each with its own retries and dead-letter queue. Inventory and
//! analytics ack their copies; email's mail server is down, so it nacks until `max_attempts` and
//! only its copy dead-letters to `email.dlq`. An event no service subscribes to is refused with
//! EUNROUTABLE under `mandatory`.
//!
//! Run: cargo run --offline --example pubsub (in examples/rust; corq found as build.rs says).
//! Exit status 0 when every outcome is as expected.
use corq::{Engine, ExchangeType, Message, PublishOptions, EUNROUTABLE};
use std::error::Error;
use std::process::ExitCode;

const EMAIL_MAX_ATTEMPTS: u64 = 3;
/// Bounds each service's loop: 100 waits of at most 50 ms, far more than the retries need.
const ROUNDS_MAX: usize = 100;

/// Takes the service's copies until its queue is empty; acks them, or nacks them all if `failing`.
/// Returns how many it acked.
fn serve(engine: &Engine, queue: &str, failing: bool) -> corq::Result<u64> {
    let consumer = engine.consumer(queue, 16)?;
    let mut acked = 0;
    for _ in 0..ROUNDS_MAX {
        let stats = engine.queue_stats(queue)?;
        if stats.ready + stats.delayed + stats.in_flight == 0 {
            break;
        }
        for delivery in consumer.consume_many(16, 50)? {
            let event = String::from_utf8_lossy(delivery.data()).into_owned();
            if failing {
                println!(
                    "{}: mail server down, attempt {} of {}",
                    queue,
                    delivery.delivery_count(),
                    event
                );
                delivery.nack(-1)?;
            } else {
                println!("{}: handled {}", queue, event);
                delivery.ack()?;
                acked += 1;
            }
        }
    }
    consumer.close()?;
    Ok(acked)
}

fn run() -> Result<(), Box<dyn Error>> {
    let engine = Engine::in_memory(&[])?;
    engine.declare_exchange("orders", ExchangeType::Topic, &[])?;
    let max_attempts = EMAIL_MAX_ATTEMPTS.to_string();
    let email_options = [
        ("max_attempts", max_attempts.as_str()),
        ("retry_delay_ms", "5"),
        ("retry_backoff", "1.0"),
    ];
    for (queue, pattern, options) in [
        ("inventory", "order.*", &[][..]),
        ("email", "order.placed", &email_options[..]),
        ("analytics", "order.#", &[][..]),
    ] {
        engine.declare(queue, options)?; // "<queue>.dlq" is declared with it
        engine.bind("orders", queue, pattern, &[])?;
    }

    let mandatory = PublishOptions { mandatory: true, ..Default::default() };
    let placed = engine.publish_to_exchange(
        "orders",
        "order.placed",
        &Message::new(br#"{"order": 1042, "total": 99.5}"#),
        &mandatory,
    )?;
    let shipped = engine.publish_to_exchange(
        "orders",
        "order.shipped",
        &Message::new(br#"{"order": 1042}"#),
        &mandatory,
    )?;
    let refunded = engine.publish_to_exchange(
        "orders",
        "payment.refunded",
        &Message::new(br#"{"order": 1041}"#),
        &mandatory,
    );
    println!(
        "order.placed -> {} queues, order.shipped -> {} queues",
        placed.routed, shipped.routed
    );
    if placed.routed != 3 || shipped.routed != 2 {
        return Err("the events did not reach the expected queues".into());
    }
    match refunded {
        Err(e) if e.code() == EUNROUTABLE => println!("payment.refunded refused: {}", e),
        other => {
            return Err(format!("payment.refunded: expected EUNROUTABLE, got {:?}", other).into())
        }
    }

    let inventory = serve(&engine, "inventory", false)?;
    let email = serve(&engine, "email", true)?;
    let analytics = serve(&engine, "analytics", false)?;

    let dlq = engine.consumer("email.dlq", 16)?;
    let dead = dlq.consume_many(16, 0)?;
    if dead.len() != 1 || dead[0].message_id() != placed.message_id {
        return Err("email.dlq should hold the order.placed copy, and only it".into());
    }
    let text = |key| String::from_utf8_lossy(dead[0].header(key).unwrap_or(b"")).into_owned();
    println!(
        "email.dlq: {} x-death-reason={} x-exchange={} x-routing-key={}",
        String::from_utf8_lossy(dead[0].data()),
        text("x-death-reason"),
        text("x-exchange"),
        text("x-routing-key")
    );
    if text("x-death-reason") != "max_attempts" || text("x-exchange") != "orders" {
        return Err("the dead letter lacks its x-death-reason / x-exchange headers".into());
    }
    let email_stats = engine.queue_stats("email")?;
    let exchange = engine.exchange_stats("orders")?;
    let ok = inventory == 2
        && analytics == 2
        && email == 0
        && email_stats.nacked == EMAIL_MAX_ATTEMPTS
        && email_stats.dead_lettered == 1
        && engine.queue_stats("inventory.dlq")?.published == 0
        && exchange.published == 3
        && exchange.routed == 5
        && exchange.unroutable == 1;
    if !ok {
        return Err("unexpected counts: each service should have settled its own copies".into());
    }
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => {
            println!("pubsub: every copy settled by its own service as expected");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("pubsub: {}", error);
            ExitCode::FAILURE
        }
    }
}
