//! bench.rs — the Rust binding's cost per message, beside C and the other bindings
//! (bench/bindings/README.md runs them all in the same rounds).
//!
//! One thread, an in-memory engine, the transient queue "bench" with `max_length` 8192 (so that the
//! ready ring's first lap, which page-faults fresh memory, falls in the warm-up), a consumer with
//! prefetch 256, 64-byte messages, N/64 rounds of:
//! - single: 64 × `Engine::publish`, then 64 × `Consumer::consume(0)` and `Delivery::ack`;
//! - batch: one `Producer::send` of 64, `consume_many` until 64 are taken, one `ack_upto`.
//!
//! After an untimed warm-up of min(N/10, 10000) messages, prints one JSON line per mode:
//! {"binding":"rust","mode":"single","messages":N,"seconds":S}.
//!
//! Run: cargo run --release --offline --example bench -- --mode single|batch|both --messages N
use corq::{Consumer, Engine, Message, Producer, PublishOptions};
use std::process::ExitCode;
use std::time::Instant;

const ROUND: usize = 64;
const PAYLOAD: [u8; 64] = [b'x'; 64];

fn single(engine: &Engine, consumer: &Consumer<'_>, messages: usize) -> corq::Result<()> {
    let message = Message::new(&PAYLOAD);
    for _ in 0..messages / ROUND {
        for _ in 0..ROUND {
            engine.publish("bench", &message)?;
        }
        for _ in 0..ROUND {
            let delivery = consumer.consume(0)?.expect("a published message is ready");
            delivery.ack()?;
        }
    }
    Ok(())
}

fn batch(
    producer: &mut Producer<'_>,
    consumer: &Consumer<'_>,
    messages: usize,
) -> corq::Result<()> {
    let batch = vec![Message::new(&PAYLOAD); ROUND];
    let options = PublishOptions::default();
    for _ in 0..messages / ROUND {
        producer.send(&batch, &options)?;
        let mut taken = 0;
        let mut last = 0;
        while taken < ROUND {
            let deliveries = consumer.consume_many(ROUND - taken, 0)?;
            assert!(!deliveries.is_empty(), "published messages are ready");
            taken += deliveries.len();
            last = deliveries.last().map_or(last, |d| d.tag());
        }
        consumer.ack_upto(last)?;
    }
    Ok(())
}

fn run(mode: &str, messages: usize) -> corq::Result<()> {
    let engine = Engine::in_memory(&[])?;
    engine.declare("bench", &[("max_length", "8192")])?;
    let consumer = engine.consumer("bench", 256)?;
    let mut producer = engine.producer("bench")?;
    let warm_up = (messages / 10).min(10_000) / ROUND * ROUND;
    let modes: &[&str] = if mode == "both" { &["single", "batch"] } else { &[mode] };
    for &mode in modes {
        let mut once = |n: usize| match mode {
            "single" => single(&engine, &consumer, n),
            _ => batch(&mut producer, &consumer, n),
        };
        once(warm_up)?;
        let start = Instant::now();
        once(messages)?;
        let seconds = start.elapsed().as_secs_f64();
        println!(
            "{{\"binding\":\"rust\",\"mode\":\"{}\",\"messages\":{},\"seconds\":{:.6}}}",
            mode, messages, seconds
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mut mode, mut messages) = ("both".to_string(), 200_000usize);
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--mode" if ["single", "batch", "both"].contains(&value.as_str()) => mode = value,
            "--messages" if value.parse::<usize>().map_or(false, |n| n > 0 && n % ROUND == 0) => {
                messages = value.parse().unwrap()
            }
            other => {
                eprintln!(
                    "bench: bad argument {:?} (usage: --mode single|batch|both --messages N, N a \
                     positive multiple of 64)",
                    other
                );
                return ExitCode::from(2);
            }
        }
        i += 2;
    }
    match run(&mode, messages) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("bench: {}", error);
            ExitCode::FAILURE
        }
    }
}
