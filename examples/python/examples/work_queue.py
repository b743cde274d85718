"""work_queue.py — a work queue with retries, backoff and a dead-letter queue, from Python.

A producer sends twelve jobs as one atomic batch; two worker threads, each with its own consumer
(prefetch 4), take them. Some jobs fail once and then succeed (a flaky dependency): the worker
nacks them and corq retries them after the queue's backoff. Some always fail (poison): after
max_attempts failed attempts corq dead-letters them to "jobs.dlq" with x-death-* headers, where an
operator (here: the end of main) reads them. When every job is settled for good, main stops the
workers with Consumer.wakeup() — their `for delivery in consumer` loops end — joins them and
closes their consumers.

Run (with the package installed, or PYTHONPATH=examples/python and CORQ_LIBRARY set):
    python3 examples/python/examples/work_queue.py
Exit status 0 when every outcome is as expected.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import List

import corq

JOB_COUNT = 12
MAX_ATTEMPTS = 3
PREFETCH = 4
WORKERS = 2
DEADLINE_S = 10.0  # bounds the wait for the workers: far more than the retries need


def expect(condition: bool, what: str) -> None:
    if not condition:
        sys.exit("unexpected outcome: " + what)


def process(job: int, delivery_count: int) -> None:
    """The "work": job n % 4 == 3 is poison (always fails); n % 4 == 1 fails its first attempt."""
    if job % 4 == 3:
        raise ValueError("poison")
    if job % 4 == 1 and delivery_count == 1:
        raise ConnectionError("flaky dependency")


class Worker(threading.Thread):
    """One worker: its own consumer (a consumer is used by one thread at a time), until wakeup()."""

    def __init__(self, engine: corq.Engine, name: str) -> None:
        super().__init__(name=name)
        self.consumer = engine.consumer("jobs", prefetch=PREFETCH)
        self.acked: List[int] = []
        self.failed_attempts = 0

    def run(self) -> None:
        for delivery in self.consumer:  # ends after wakeup() with ECLOSED
            job = int(delivery.headers["job"])
            try:
                process(job, delivery.delivery_count)
            except Exception as error:
                print("%s: job %d attempt %d failed: %s"
                      % (self.name, job, delivery.delivery_count, error))
                self.failed_attempts += 1
                delivery.nack()  # retry after the queue's backoff, or dead-letter
            else:
                delivery.ack()
                self.acked.append(job)


def settled(engine: corq.Engine) -> int:
    """Jobs that are done for good: acked, or dead-lettered."""
    stats = engine.stats("jobs")
    return stats["acked"] + stats["dead_lettered"]


def main() -> None:
    with corq.Engine() as engine:  # in memory
        # Three attempts per job; retries after 10 ms, then 20 ms. "jobs.dlq" is declared with it.
        engine.declare("jobs", max_attempts=MAX_ATTEMPTS, retry_delay_ms=10, retry_backoff=2.0)
        with engine.producer("jobs") as producer:
            ids = producer.send([(b"job-%d" % n, {"job": str(n)}) for n in range(JOB_COUNT)])
        expect(len(ids) == JOB_COUNT, "one id per job")

        workers = [Worker(engine, "worker-%d" % i) for i in range(WORKERS)]
        for worker in workers:
            worker.start()
        deadline = time.monotonic() + DEADLINE_S
        while settled(engine) < JOB_COUNT and time.monotonic() < deadline:
            time.sleep(0.01)
        for worker in workers:
            worker.consumer.wakeup()  # any thread: the worker's loop ends
        for worker in workers:
            worker.join()
            worker.consumer.close()  # after the join: never while another thread is in a call

        acked = sorted(job for worker in workers for job in worker.acked)
        failed_attempts = sum(worker.failed_attempts for worker in workers)
        print("workers: %d acked, %d failed attempts" % (len(acked), failed_attempts))

        with engine.consumer("jobs.dlq", prefetch=JOB_COUNT) as dlq:
            dead = dlq.consume_many(JOB_COUNT, timeout_ms=1000)
            for letter in dead:
                print("dead letter %s: reason=%s queue=%s count=%s" % (
                    letter.data.decode(), letter.headers["x-death-reason"].decode(),
                    letter.headers["x-death-queue"].decode(),
                    letter.headers["x-death-count"].decode()))
                expect(letter.headers["x-death-reason"] == b"max_attempts", "reason max_attempts")
                expect(letter.headers["x-death-queue"] == b"jobs", "x-death-queue is jobs")
            if dead:
                dlq.ack_upto(dead[-1])  # handled: an operator has taken note

        stats = engine.stats("jobs")
        expect(acked == [n for n in range(JOB_COUNT) if n % 4 != 3], "every other job acked once")
        expect(sorted(int(d.headers["job"]) for d in dead) == [3, 7, 11],
               "the poison jobs, and only they, dead-lettered")
        expect(stats["acked"] == 9 and stats["dead_lettered"] == 3, "the queue's counters agree")
        # Jobs 1, 5 and 9 failed once; 3, 7 and 11 failed MAX_ATTEMPTS times each.
        expect(failed_attempts == 3 + 3 * MAX_ATTEMPTS == stats["nacked"], "failed attempts")
        expect(stats["ready"] + stats["delayed"] + stats["in_flight"] == 0, "nothing left")
    print("work_queue: ok")


if __name__ == "__main__":
    main()
