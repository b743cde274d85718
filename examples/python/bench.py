"""bench.py — the Python binding's throughput in the bindings' common benchmark protocol.

    CORQ_LIBRARY=build/release/engine/libcorq.so python3 examples/python/bench.py \
        --mode single|batch|all --messages 200000

(or with the package installed: V/bin/python examples/python/bench.py ...). Opens an in-memory
engine, declares the transient queue "bench" (max_length 8192, as bench/bindings/c_bench.c does)
and a consumer with prefetch 256, then runs N/64
rounds through the public API, as a user writes it:
  single  64 x Engine.publish of one 64-byte message, then 64 x Consumer.consume(0) and ack each;
  batch   one Producer.send of 64 messages, consume_many until 64 were taken, one ack_upto of the
          last.
A warm-up of min(N/10, 10000) messages the same way runs first, untimed. Prints one JSON line per
mode measured: {"binding": "python", "mode": "single", "messages": N, "seconds": S}.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Callable, List

import corq

ROUND = 64  # messages per round
PAYLOAD = b"x" * 64
PREFETCH = 256
WARMUP_MAX = 10000


def expect(condition: bool, what: str) -> None:
    if not condition:
        sys.exit("bench: " + what)


def single_rounds(engine: corq.Engine, consumer: corq.Consumer, rounds: int) -> None:
    for _ in range(rounds):
        for _ in range(ROUND):
            engine.publish("bench", PAYLOAD)
        for _ in range(ROUND):
            delivery = consumer.consume(0)
            expect(delivery is not None, "a published message was not there to consume")
            assert delivery is not None
            delivery.ack()


def batch_rounds(engine: corq.Engine, consumer: corq.Consumer, rounds: int) -> None:
    with engine.producer("bench") as producer:
        batch: List[corq.BatchItem] = [PAYLOAD] * ROUND
        for _ in range(rounds):
            producer.send(batch)
            taken = 0
            last = None
            while taken < ROUND:
                deliveries = consumer.consume_many(ROUND - taken, 0)
                expect(bool(deliveries), "a sent batch was not there to consume")
                taken += len(deliveries)
                last = deliveries[-1]
            assert last is not None
            consumer.ack_upto(last)


MODES = {"single": single_rounds, "batch": batch_rounds}


def measure(mode: str, messages: int) -> float:
    rounds: Callable[[corq.Engine, corq.Consumer, int], None] = MODES[mode]
    with corq.Engine() as engine:
        # max_length 8192: the ready ring's first lap (page faults) falls in the warm-up.
        engine.declare("bench", max_length=8192)
        with engine.consumer("bench", prefetch=PREFETCH) as consumer:
            warmup = min(messages // 10, WARMUP_MAX)
            rounds(engine, consumer, max(1, warmup // ROUND))
            started = time.perf_counter()
            rounds(engine, consumer, messages // ROUND)
            seconds = time.perf_counter() - started
        stats = engine.stats("bench")
        expect(stats["ready"] == 0 and stats["in_flight"] == 0, "messages left over")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mode", choices=["single", "batch", "all"], default="all")
    parser.add_argument("--messages", type=int, default=200000,
                        help="messages per mode, a multiple of 64 (default 200000)")
    args = parser.parse_args()
    if args.messages <= 0 or args.messages % ROUND != 0:
        parser.error("--messages must be a positive multiple of 64")
    for mode in (["single", "batch"] if args.mode == "all" else [args.mode]):
        seconds = measure(mode, args.messages)
        print(json.dumps({"binding": "python", "mode": mode, "messages": args.messages,
                          "seconds": round(seconds, 6)}), flush=True)


if __name__ == "__main__":
    main()
