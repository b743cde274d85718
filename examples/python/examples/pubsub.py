"""pubsub.py — one order event, three services: publish/subscribe through a topic exchange.

The shop publishes each order event once, to the topic exchange "orders", with a routing key such
as "order.placed". Every service has its own queue, bound to the exchange with a pattern, and its
own retries and dead-letter queue ("<name>.dlq", declared with it):
    inventory  order.*       reserves stock
    email      order.placed  mails a confirmation (its mail server is down today)
    analytics  order.#       counts everything about orders
One publish puts a copy into each matching queue, all or none, with one message id. Each service
runs in its own thread and settles its own copy: inventory and analytics ack theirs, email nacks
until its queue's max_attempts and its copy dead-letters to email.dlq — the other copies are not
affected. An event nobody subscribes to is refused (mandatory=True: Error(EUNROUTABLE)) rather
than lost.

Run (with the package installed, or PYTHONPATH=examples/python and CORQ_LIBRARY set):
    python3 examples/python/examples/pubsub.py
Exit status 0 when every outcome is as expected.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Dict, List, Tuple

import corq

EMAIL_MAX_ATTEMPTS = 3
DEADLINE_S = 10.0  # bounds each service's loop: far more than the retries need
CONSUME_WAIT_MS = 20

print_lock = threading.Lock()


def expect(condition: bool, what: str) -> None:
    if not condition:
        sys.exit("unexpected outcome: " + what)


def say(text: str) -> None:
    with print_lock:
        print(text)


def publish_event(engine: corq.Engine, routing_key: str, payload: bytes) -> corq.Published:
    """One event through the exchange. Mandatory: if no service subscribes to the key, the shop
    hears of it (Error(EUNROUTABLE)) instead of losing it."""
    published = engine.publish_to_exchange(
        "orders", routing_key, payload, headers={"content-type": b"application/json"},
        mandatory=True,
    )
    say("shop: published %-16s -> %d queue(s)" % (routing_key, published.routed))
    return published


def serve(engine: corq.Engine, queue: str, failing: bool, acked: Dict[str, List[int]]) -> None:
    """A service: takes its queue's copies until the queue has nothing left to deliver (ready,
    delayed for a retry, or in flight); acks each, or — failing — nacks it (retried after the
    queue's backoff, dead-lettered at max_attempts). Records the message ids it acked."""
    acked[queue] = []
    deadline = time.monotonic() + DEADLINE_S
    with engine.consumer(queue, prefetch=16) as consumer:
        while time.monotonic() < deadline:
            stats = engine.stats(queue)
            if stats["ready"] + stats["delayed"] + stats["in_flight"] == 0:
                break
            for delivery in consumer.consume_many(16, timeout_ms=CONSUME_WAIT_MS):
                say("%-9s attempt %d of %s (message %d): %s" % (
                    queue, delivery.delivery_count, delivery.headers["x-routing-key"].decode(),
                    delivery.message_id, "failed, nack" if failing else "done, ack"))
                if failing:
                    delivery.nack()
                else:
                    delivery.ack()
                    acked[queue].append(delivery.message_id)


def main() -> None:
    with corq.Engine() as engine:  # in memory
        engine.declare_exchange("orders", "topic")
        # Email retries quickly (5 ms, no backoff growth) so the example does not wait, and gives
        # up after three attempts; the others keep the defaults.
        services: Dict[str, Tuple[str, Dict[str, corq.OptionValue]]] = {
            "inventory": ("order.*", {}),
            "email": ("order.placed", {"max_attempts": EMAIL_MAX_ATTEMPTS, "retry_delay_ms": 5,
                                       "retry_backoff": 1.0}),
            "analytics": ("order.#", {}),
        }
        for queue, (pattern, options) in services.items():
            engine.declare(queue, **options)
            engine.bind("orders", queue, pattern)

        placed = publish_event(engine, "order.placed", b'{"order": 1042, "total": 99.5}')
        shipped = publish_event(engine, "order.shipped", b'{"order": 1042}')
        expect(placed.routed == 3, "order.placed reaches inventory, email and analytics")
        expect(shipped.routed == 2, "order.shipped reaches inventory and analytics only")
        try:
            publish_event(engine, "payment.refunded", b'{"order": 1041}')
            expect(False, "an event no service subscribes to is refused")
        except corq.Error as error:
            expect(error.code == corq.EUNROUTABLE, "refused with EUNROUTABLE")
            say("shop: payment.refunded refused: %s" % error.name)

        acked: Dict[str, List[int]] = {}
        threads = [
            threading.Thread(target=serve, args=(engine, queue, queue == "email", acked))
            for queue in services
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        # Email's copy of order.placed is in email.dlq, with the one message id every copy has
        # and the routing headers, so an operator sees where it came from.
        with engine.consumer("email.dlq") as dlq:
            dead = dlq.consume_many(16, timeout_ms=1000)
            expect(len(dead) == 1, "email.dlq holds one dead letter")
            letter = dead[0]
            say("email.dlq: message %d %s reason=%s queue=%s exchange=%s key=%s" % (
                letter.message_id, letter.data.decode(),
                letter.headers["x-death-reason"].decode(), letter.headers["x-death-queue"].decode(),
                letter.headers["x-exchange"].decode(), letter.headers["x-routing-key"].decode()))
            expect(letter.message_id == placed.message_id, "the dead letter is the placed event")
            expect(letter.headers["x-death-reason"] == b"max_attempts", "reason max_attempts")
            expect(letter.headers["x-exchange"] == b"orders", "x-exchange is orders")
            letter.ack()

        both = sorted([placed.message_id, shipped.message_id])
        expect(sorted(acked["inventory"]) == both, "inventory acked both events")
        expect(sorted(acked["analytics"]) == both, "analytics acked both events")
        expect(acked["email"] == [], "email acked nothing")
        email = engine.stats("email")
        expect(email["nacked"] == EMAIL_MAX_ATTEMPTS and email["dead_lettered"] == 1,
               "email failed max_attempts times, then dead-lettered its copy")
        expect(engine.stats("inventory.dlq")["published"] == 0
               and engine.stats("analytics.dlq")["published"] == 0,
               "no dead letters for the services that worked")
        exchange = engine.exchange_stats("orders")
        say("exchange orders: %d bindings, %d published, %d copies routed, %d unroutable" % (
            exchange["bindings"], exchange["published"], exchange["routed"],
            exchange["unroutable"]))
        expect((exchange["bindings"], exchange["published"], exchange["routed"],
                exchange["unroutable"]) == (3, 3, 5, 1), "the exchange's counters agree")
    print("pubsub: ok")


if __name__ == "__main__":
    main()
