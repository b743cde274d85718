//! work_queue.rs — a work queue with retries, backoff and a dead-letter queue, from Rust.
//!
//! A producer publishes twelve jobs as one atomic batch; a worker takes them through a prefetch
//! window of 4. Some jobs fail once and then succeed (a flaky dependency): the worker nacks them and
//! corq retries them after the queue's backoff. Some always fail (poison): after max_attempts
//! failed attempts corq dead-letters them to "jobs.dlq" with x-death-* headers, where an operator
//! (here: the end of main) reads them.
//!
//! Run: CORQ_LIB_DIR=build/release/engine cargo run --offline --example work_queue (in
//! examples/rust). Exit status 0 when every outcome is as expected.
use corq::{Engine, Message, PublishOptions};
use std::error::Error;
use std::process::ExitCode;

const JOB_COUNT: usize = 12;
const MAX_ATTEMPTS: u32 = 3;
const PREFETCH: u32 = 4;
/// Bounds the worker's loop: 400 consume waits of at most 50 ms, far more than the retries need.
const ROUNDS_MAX: usize = 400;
const CONSUME_WAIT_MS: i32 = 50;

/// The "work": job n % 4 == 3 is poison (always fails); job n % 4 == 1 fails its first attempt.
fn process(job: usize, delivery_count: u32) -> Result<(), &'static str> {
    match job % 4 {
        3 => Err("poison"),
        1 if delivery_count == 1 => Err("flaky dependency"),
        _ => Ok(()),
    }
}

fn job_number(data: &[u8]) -> Option<usize> {
    std::str::from_utf8(data).ok()?.strip_prefix("job-")?.parse().ok()
}

/// Outcome of the worker: jobs acked, failed attempts seen.
struct Worked {
    acked: Vec<usize>,
    failed_attempts: u32,
}

/// Works until every job is acked or dead-lettered, or ROUNDS_MAX rounds have passed.
fn work(engine: &Engine) -> corq::Result<Worked> {
    let consumer = engine.consumer("jobs", PREFETCH)?;
    let mut worked = Worked { acked: Vec::new(), failed_attempts: 0 };
    for _ in 0..ROUNDS_MAX {
        let dead = engine.queue_stats("jobs")?.dead_lettered as usize;
        if worked.acked.len() + dead == JOB_COUNT {
            break;
        }
        for delivery in consumer.consume_many(PREFETCH as usize, CONSUME_WAIT_MS)? {
            let job = job_number(delivery.data()).expect("a job-N payload");
            match process(job, delivery.delivery_count()) {
                Ok(()) => {
                    delivery.ack()?;
                    worked.acked.push(job);
                }
                Err(why) => {
                    println!("job {} attempt {} failed: {}", job, delivery.delivery_count(), why);
                    worked.failed_attempts += 1;
                    delivery.nack(-1)?; // retry after the queue's backoff
                }
            }
        }
    }
    consumer.close()?;
    Ok(worked)
}

/// Reads the dead letters (and acks them: an operator has taken note); returns their job numbers.
fn read_dead_letters(engine: &Engine) -> Result<Vec<usize>, Box<dyn Error>> {
    let dlq = engine.consumer("jobs.dlq", 64)?;
    let mut jobs = Vec::new();
    for dead in dlq.consume_many(64, 0)? {
        let text = |key| String::from_utf8_lossy(dead.header(key).unwrap_or(b"")).into_owned();
        println!(
            "dead letter {}: reason={} queue={} count={}",
            String::from_utf8_lossy(dead.data()),
            text("x-death-reason"),
            text("x-death-queue"),
            text("x-death-count")
        );
        if text("x-death-reason") != "max_attempts" || text("x-death-queue") != "jobs" {
            return Err("a dead letter without the expected x-death headers".into());
        }
        jobs.push(job_number(dead.data()).expect("a job-N payload"));
        dead.ack()?;
    }
    Ok(jobs)
}

fn run() -> Result<(), Box<dyn Error>> {
    let engine = Engine::in_memory(&[])?;
    let max_attempts = MAX_ATTEMPTS.to_string();
    engine.declare(
        "jobs",
        &[("max_attempts", &max_attempts), ("retry_delay_ms", "5"), ("retry_backoff", "2.0")],
    )?;

    let payloads: Vec<String> = (0..JOB_COUNT).map(|n| format!("job-{}", n)).collect();
    let batch: Vec<Message> = payloads.iter().map(|p| Message::new(p.as_bytes())).collect();
    let mut producer = engine.producer("jobs")?;
    let first_id = producer.send(&batch, &PublishOptions::default())?;
    producer.close();
    println!("published {} jobs, ids {}..{}", JOB_COUNT, first_id, first_id + JOB_COUNT as u64 - 1);

    let worked = work(&engine)?;
    let mut dead = read_dead_letters(&engine)?;
    let mut acked = worked.acked;
    acked.sort_unstable();
    dead.sort_unstable();

    let expect_acked: Vec<usize> = (0..JOB_COUNT).filter(|n| n % 4 != 3).collect();
    let expect_dead: Vec<usize> = (0..JOB_COUNT).filter(|n| n % 4 == 3).collect();
    // Each flaky job fails once, each poison job MAX_ATTEMPTS times.
    let expect_failed = (JOB_COUNT / 4) as u32 * (1 + MAX_ATTEMPTS);
    let stats = engine.queue_stats("jobs")?;
    println!(
        "acked {:?}, dead-lettered {:?}, failed attempts {}",
        acked, dead, worked.failed_attempts
    );
    let ok = acked == expect_acked
        && dead == expect_dead
        && worked.failed_attempts == expect_failed
        && stats.ready + stats.in_flight + stats.delayed == 0;
    if !ok {
        return Err("unexpected outcome: the jobs did not end as expected".into());
    }
    engine.close()?;
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => {
            println!("work_queue: every job acked or dead-lettered as expected");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("work_queue: {}", error);
            ExitCode::FAILURE
        }
    }
}
