"""Tests of the Python binding (the package corq): good paths and bad input, standard library only.

    CORQ_LIBRARY=build/release/engine/libcorq.so python3 -m unittest -v test_corq   # from here

ctest runs them twice (examples/CMakeLists.txt): as python_binding on this source tree with
CORQ_LIBRARY, and as python_package (run_package_test.sh) against the package pip installed into a
virtual environment, found through pkg-config. They test whichever corq `import corq` finds, and run
the examples in examples/ next to this file against it. Durable-engine tests run only when corq_open
accepts a data directory in the library under test; otherwise they are skipped with the library's
own reason. CORQ_HEADER names corq.h when this file is not in the source tree.
"""

import ctypes
import gc
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import corq

HERE = os.path.dirname(os.path.abspath(__file__))
HEADER = os.environ.get("CORQ_HEADER") or os.path.join(
    HERE, "..", "..", "engine", "include", "corq", "corq.h"
)
WAIT_MS = 5000  # the longest any test waits for something it expects to happen
# The folder `import corq` found the package in: the child processes of the tests import it too.
PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(corq.__file__)))


class EngineTestCase(unittest.TestCase):
    """A fresh in-memory engine per test, closed after it."""

    def setUp(self):
        self.engine = corq.Engine()
        self.addCleanup(self.engine.close)

    def assertError(self, code, function, *args, **kwargs):
        """function(*args) raises corq.Error with this code and a non-empty detail message."""
        with self.assertRaises(corq.Error) as caught:
            function(*args, **kwargs)
        self.assertEqual(caught.exception.code, code, str(caught.exception))
        self.assertTrue(caught.exception.detail, "empty detail message")
        return caught.exception

    def consumer(self, queue, prefetch=16):
        consumer = self.engine.consumer(queue, prefetch)
        self.addCleanup(consumer.close)
        return consumer


class ModuleTest(unittest.TestCase):
    def test_error_constants_are_the_values_of_the_header(self):
        if not os.path.exists(HEADER):
            self.skipTest("corq.h not found at " + HEADER)
        with open(HEADER) as header:
            defined = dict(re.findall(r"#define CORQ_(OK|E[A-Z]+)\s+\(?(-?\d+)\)?", header.read()))
        self.assertEqual(len(defined), 17)
        for name, value in defined.items():
            self.assertEqual(getattr(corq, name), int(value), name)
            if name != "OK":
                self.assertEqual(corq.Error(int(value), "").name, "CORQ_" + name)

    def test_version_is_the_linked_library_version(self):
        self.assertRegex(corq.version(), r"^0\.\d+\.\d+$")


class GoodPathTest(EngineTestCase):
    def test_publish_consume_ack_removes_the_message(self):
        self.engine.declare("jobs")
        message_id = self.engine.publish("jobs", b"resize 42.png")
        consumer = self.consumer("jobs")
        delivery = consumer.consume(WAIT_MS)
        self.assertEqual(delivery.data, b"resize 42.png")
        self.assertEqual(delivery.message_id, message_id)
        self.assertEqual(delivery.delivery_count, 1)
        self.assertGreater(delivery.tag, 0)
        self.assertLess(abs(delivery.published_at_ms - time.time() * 1000), 60000)
        delivery.ack()
        self.assertIsNone(consumer.consume(0))
        stats = self.engine.stats("jobs")
        self.assertEqual((stats["acked"], stats["ready"], stats["in_flight"]), (1, 0, 0))

    def test_data_is_a_copy_that_outlives_the_settle(self):
        self.engine.declare("jobs")
        payload = bytes(range(256)) * 16  # NUL bytes included
        self.engine.publish("jobs", bytearray(payload))
        delivery = self.consumer("jobs").consume(WAIT_MS)
        delivery.ack()
        self.engine.purge("jobs")
        self.assertEqual(delivery.data, payload)

    def test_empty_payload_roundtrips(self):
        self.engine.declare("jobs")
        self.engine.publish("jobs", b"")
        delivery = self.consumer("jobs").consume(WAIT_MS)
        self.assertEqual((delivery.data, delivery.headers), (b"", {}))

    def test_headers_roundtrip_as_str_keys_and_bytes_values(self):
        self.engine.declare("jobs")
        headers = {"user": b"ada", b"trace": "abc-1", "binary": b"\x00\xff", "empty": b""}
        self.engine.publish("jobs", b"x", headers=headers)
        delivery = self.consumer("jobs").consume(WAIT_MS)
        self.assertEqual(
            delivery.headers,
            {"user": b"ada", "trace": b"abc-1", "binary": b"\x00\xff", "empty": b""},
        )

    def test_nack_retries_with_backoff_then_dead_letters_with_x_death_headers(self):
        self.engine.declare("jobs", max_attempts=3, retry_delay_ms=1, retry_backoff=1.0)
        message_id = self.engine.publish("jobs", b"flaky", headers={"k": b"v"})
        consumer = self.consumer("jobs")
        for attempt in range(1, 4):
            delivery = consumer.consume(WAIT_MS)
            self.assertIsNotNone(delivery, "attempt %d never came" % attempt)
            self.assertEqual(delivery.delivery_count, attempt)
            delivery.nack()
        self.assertIsNone(consumer.consume(50))
        dead = self.consumer("jobs.dlq").consume(WAIT_MS)
        self.assertEqual((dead.data, dead.message_id), (b"flaky", message_id))
        self.assertEqual(dead.headers["k"], b"v")
        self.assertEqual(dead.headers["x-death-reason"], b"max_attempts")
        self.assertEqual(dead.headers["x-death-queue"], b"jobs")
        self.assertEqual(dead.headers["x-death-count"], b"1")
        self.assertRegex(dead.headers["x-death-time-ms"].decode(), r"^\d+$")
        stats = self.engine.stats("jobs")
        self.assertEqual((stats["nacked"], stats["dead_lettered"]), (3, 1))

    def test_nack_with_delay_zero_requeues_at_once(self):
        self.engine.declare("jobs")
        self.engine.publish("jobs", b"a")
        consumer = self.consumer("jobs")
        consumer.consume(WAIT_MS).nack(delay_ms=0)
        self.assertEqual(consumer.consume(0).delivery_count, 2)

    def test_release_makes_it_ready_again_without_a_failed_attempt(self):
        self.engine.declare("jobs", max_attempts=1)
        self.engine.publish("jobs", b"a")
        consumer = self.consumer("jobs")
        consumer.consume(WAIT_MS).release()
        again = consumer.consume(WAIT_MS)
        self.assertEqual((again.data, again.delivery_count), (b"a", 2))
        stats = self.engine.stats("jobs")
        self.assertEqual((stats["released"], stats["nacked"], stats["dead_lettered"]), (1, 0, 0))

    def test_reject_dead_letters_at_once_with_the_reason(self):
        self.engine.declare("jobs")
        self.engine.publish("jobs", b"poison")
        self.consumer("jobs").consume(WAIT_MS).reject("cannot parse")
        dead = self.consumer("jobs.dlq").consume(WAIT_MS)
        self.assertEqual(dead.headers["x-death-reason"], b"rejected")
        self.assertEqual(dead.headers["x-death-detail"], b"cannot parse")

    def test_redrive_moves_dead_letters_back_to_their_queue(self):
        self.engine.declare("jobs")
        self.engine.publish("jobs", b"a")
        consumer = self.consumer("jobs")
        consumer.consume(WAIT_MS).reject()
        self.assertEqual(self.engine.redrive("jobs.dlq"), 1)
        back = consumer.consume(WAIT_MS)
        self.assertEqual((back.data, back.headers["x-death-reason"]), (b"a", b"rejected"))
        self.assertEqual(self.engine.redrive("jobs.dlq"), 0)

    def test_prefetch_window_bounds_unsettled_deliveries(self):
        self.engine.declare("jobs")
        for i in range(5):
            self.engine.publish("jobs", b"%d" % i)
        consumer = self.consumer("jobs", prefetch=2)
        first = consumer.consume_many(10, 0)
        self.assertEqual([d.data for d in first], [b"0", b"1"])
        self.assertIsNone(consumer.consume(0))
        started = time.monotonic()
        self.assertIsNone(consumer.consume(-1))  # full window: returns at once, no wait
        self.assertLess(time.monotonic() - started, 1.0)
        first[0].ack()
        self.assertEqual([d.data for d in consumer.consume_many(10, 0)], [b"2"])
        self.assertEqual(self.engine.stats("jobs")["in_flight"], 2)

    def test_consume_many_returns_at_most_1024_per_call(self):
        self.engine.declare("jobs")
        with self.engine.producer("jobs") as producer:
            producer.send([b"x"] * 1500)
        consumer = self.consumer("jobs", prefetch=65536)
        self.assertEqual(len(consumer.consume_many(5000, 0)), 1024)
        self.assertEqual(len(consumer.consume_many(5000, 0)), 476)

    def test_consume_times_out_with_none_and_empty_list(self):
        self.engine.declare("jobs")
        consumer = self.consumer("jobs")
        started = time.monotonic()
        self.assertIsNone(consumer.consume(30))
        self.assertEqual(consumer.consume_many(4, 30), [])
        self.assertGreaterEqual(time.monotonic() - started, 0.055)

    def test_consume_waits_for_a_delayed_publish(self):
        self.engine.declare("jobs")
        self.engine.publish("jobs", b"later", delay_ms=50)
        self.assertEqual(self.engine.stats("jobs")["delayed"], 1)
        consumer = self.consumer("jobs")
        self.assertIsNone(consumer.consume(0))
        self.assertEqual(consumer.consume(WAIT_MS).data, b"later")

    def test_expired_message_is_dead_lettered_never_delivered(self):
        self.engine.declare("jobs")
        self.engine.publish("jobs", b"stale", ttl_ms=1)
        time.sleep(0.02)
        self.assertIsNone(self.consumer("jobs").consume(0))
        dead = self.consumer("jobs.dlq").consume(WAIT_MS)
        self.assertEqual(dead.headers["x-death-reason"], b"expired")

    def test_extend_keeps_the_lease(self):
        self.engine.declare("jobs", lease_ms=100)
        self.engine.publish("jobs", b"slow")
        consumer = self.consumer("jobs")
        delivery = consumer.consume(WAIT_MS)
        delivery.extend(WAIT_MS)
        time.sleep(0.3)
        self.assertIsNone(consumer.consume(0))
        delivery.ack()

    def test_dedup_id_returns_the_first_publish_id(self):
        self.engine.declare("orders", dedup_window_ms=60000)
        first = self.engine.publish("orders", b"a", dedup_id="order-7")
        self.assertEqual(self.engine.publish("orders", b"b", dedup_id=b"order-7"), first)
        stats = self.engine.stats("orders")
        self.assertEqual((stats["ready"], stats["deduplicated"]), (1, 1))

    def test_producer_sends_a_batch_with_consecutive_ids(self):
        self.engine.declare("jobs")
        with self.engine.producer("jobs") as producer:
            ids = producer.send([b"a", (b"b", {"h": b"1"}), bytearray(b"c")])
            producer.flush()
            self.assertEqual(producer.send([]), [])
        self.assertEqual(ids, [ids[0], ids[0] + 1, ids[0] + 2])
        got = self.consumer("jobs").consume_many(10, WAIT_MS)
        self.assertEqual([(d.data, d.headers, d.message_id) for d in got],
                         [(b"a", {}, ids[0]), (b"b", {"h": b"1"}, ids[1]), (b"c", {}, ids[2])])

    def test_producer_batch_is_accepted_whole_or_not_at_all(self):
        self.engine.declare("jobs", max_length=2, overflow="reject")
        self.engine.publish("jobs", b"a")
        with self.engine.producer("jobs") as producer:
            self.assertError(corq.EFULL, producer.send, [b"b", b"c"])
        self.assertEqual(self.engine.stats("jobs")["ready"], 1)

    def test_stats_and_stats_json(self):
        self.engine.declare("jobs", max_length=100)
        self.engine.publish("jobs", b"abc")
        stats = self.engine.stats("jobs")
        self.assertEqual((stats["ready"], stats["bytes_ready"], stats["published"]), (1, 3, 1))
        self.assertGreaterEqual(stats["oldest_ready_age_ms"], 0)
        document = json.loads(self.engine.stats_json())
        self.assertEqual(document["queues"]["jobs"]["options"]["max_length"], 100)
        self.assertEqual(document["queues"]["jobs"]["stats"]["ready"], 1)
        self.assertIn("jobs.dlq", document["queues"])

    def test_purge_removes_ready_messages_and_counts_them(self):
        self.engine.declare("jobs")
        for _ in range(3):
            self.engine.publish("jobs", b"x")
        self.assertEqual(self.engine.purge("jobs"), 3)
        stats = self.engine.stats("jobs")
        self.assertEqual((stats["ready"], stats["purged"], stats["published"]), (0, 3, 3))
        self.assertEqual(self.engine.purge("jobs"), 0)

    def test_delete_removes_the_queue(self):
        self.engine.declare("jobs")
        self.engine.publish("jobs", b"x")
        self.engine.delete("jobs")
        self.assertError(corq.ENOENT, self.engine.publish, "jobs", b"x")
        self.assertError(corq.ENOENT, self.engine.stats, "jobs")

    def test_declare_is_idempotent_and_takes_bool_and_number_options(self):
        self.engine.declare("jobs", durable=False, max_length=10, retry_backoff=1.5)
        self.engine.declare("jobs", durable=False, max_length=10, retry_backoff=1.5)
        self.engine.declare("nodlq", dead_letter_queue="")
        options = json.loads(self.engine.stats_json())["queues"]["nodlq"]["options"]
        self.assertEqual(options["dead_letter_queue"], "")

    def test_engine_id_is_a_uuid_and_differs_per_in_memory_engine(self):
        eid = self.engine.engine_id
        self.assertRegex(eid, r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
        self.assertEqual(self.engine.engine_id, eid)
        with corq.Engine() as other:
            self.assertNotEqual(other.engine_id, eid)

    def test_sync_returns_at_once_in_memory(self):
        self.engine.sync(0)
        self.engine.declare("jobs")
        self.engine.publish("jobs", b"x", nowait=True)
        self.engine.sync(1000)

    def test_interrupt_ends_a_waiting_consume_and_keeps_the_consumer(self):
        self.engine.declare("jobs")
        consumer = self.consumer("jobs")
        got = []
        waiter = threading.Thread(target=lambda: got.append(consumer.consume(-1)))
        waiter.start()
        time.sleep(0.05)
        consumer.interrupt()
        waiter.join(WAIT_MS / 1000)
        self.assertFalse(waiter.is_alive())
        self.assertEqual(got, [None])
        self.engine.publish("jobs", b"z")
        delivery = consumer.consume(WAIT_MS)
        self.assertEqual(delivery.data, b"z")
        delivery.ack()

    def test_wakeup_ends_iteration_from_another_thread(self):
        self.engine.declare("jobs")
        consumer = self.consumer("jobs")
        seen = []

        def work():
            for delivery in consumer:
                seen.append(delivery.data)
                delivery.ack()

        worker = threading.Thread(target=work)
        worker.start()
        for i in range(3):
            self.engine.publish("jobs", b"%d" % i)
        deadline = time.monotonic() + WAIT_MS / 1000
        while len(seen) < 3 and time.monotonic() < deadline:
            time.sleep(0.005)
        consumer.wakeup()
        worker.join(WAIT_MS / 1000)
        self.assertFalse(worker.is_alive(), "iteration did not end after wakeup")
        self.assertEqual(seen, [b"0", b"1", b"2"])
        self.assertError(corq.ECLOSED, consumer.consume, 0)

    def test_engine_close_ends_iteration_in_another_thread(self):
        engine = corq.Engine()
        engine.declare("jobs")
        consumer = engine.consumer("jobs", 4)
        worker = threading.Thread(target=lambda: list(consumer))
        worker.start()
        time.sleep(0.05)
        engine.close()
        worker.join(WAIT_MS / 1000)
        self.assertFalse(worker.is_alive(), "iteration did not end after engine close")
        consumer.close()


class HandleLifetimeTest(EngineTestCase):
    def test_engine_context_manager_closes_it(self):
        with corq.Engine() as engine:
            engine.declare("jobs")
        self.assertTrue(engine.closed)
        self.assertError(corq.ECLOSED, engine.publish, "jobs", b"x")
        engine.close()  # idempotent

    def test_consumer_context_manager_closes_it_and_releases_unsettled(self):
        self.engine.declare("jobs")
        self.engine.publish("jobs", b"x")
        with self.engine.consumer("jobs", 4) as consumer:
            delivery = consumer.consume(WAIT_MS)
            self.assertEqual(self.engine.stats("jobs")["consumers"], 1)
        self.assertTrue(consumer.closed)
        stats = self.engine.stats("jobs")
        self.assertEqual((stats["consumers"], stats["ready"], stats["released"]), (0, 1, 1))
        self.assertError(corq.ECLOSED, delivery.ack)

    def test_producer_context_manager_closes_it(self):
        self.engine.declare("jobs")
        with self.engine.producer("jobs") as producer:
            producer.send([b"x"])
        self.assertError(corq.ECLOSED, producer.send, [b"y"])

    def test_unreferenced_consumer_is_closed_by_the_garbage_collector(self):
        self.engine.declare("jobs")
        consumer = self.engine.consumer("jobs", 4)
        self.assertEqual(self.engine.stats("jobs")["consumers"], 1)
        del consumer
        gc.collect()
        self.assertEqual(self.engine.stats("jobs")["consumers"], 0)

    def test_handles_outliving_their_engine_still_close(self):
        engine = corq.Engine()
        engine.declare("jobs")
        consumer = engine.consumer("jobs", 4)
        producer = engine.producer("jobs")
        engine.close()
        self.assertError(corq.ECLOSED, consumer.consume, 0)
        self.assertError(corq.ECLOSED, producer.send, [b"x"])
        consumer.close()
        producer.close()


class BadInputTest(EngineTestCase):
    def test_bad_queue_name_is_einval_with_a_message(self):
        for name in ("bad name", "", "x" * 201, "tab\t", "nul\0"):
            error = self.assertError(corq.EINVAL, self.engine.declare, name)
            self.assertIn("CORQ_EINVAL", str(error))

    def test_unknown_option_keys_are_einval(self):
        self.assertError(corq.EINVAL, corq.Engine, no_such_option=1)
        self.assertError(corq.EINVAL, self.engine.declare, "jobs", no_such_option=1)

    def test_bad_option_values_are_einval(self):
        self.assertError(corq.EINVAL, corq.Engine, max_message_bytes="lots")
        self.assertError(corq.EINVAL, self.engine.declare, "jobs", max_length="lots")
        self.assertError(corq.EINVAL, self.engine.declare, "jobs", overflow="explode")
        self.assertError(corq.EINVAL, self.engine.declare, "jobs", durable=True)  # in memory

    def test_redeclare_with_other_options_is_eexist(self):
        self.engine.declare("jobs", max_length=10)
        self.assertError(corq.EEXIST, self.engine.declare, "jobs", max_length=11)

    def test_unknown_queue_is_enoent(self):
        self.assertError(corq.ENOENT, self.engine.publish, "nope", b"x")
        self.assertError(corq.ENOENT, self.engine.consumer, "nope", 1)
        self.assertError(corq.ENOENT, self.engine.producer, "nope")
        self.assertError(corq.ENOENT, self.engine.stats, "nope")
        self.assertError(corq.ENOENT, self.engine.purge, "nope")
        self.assertError(corq.ENOENT, self.engine.delete, "nope")
        self.assertError(corq.ENOENT, self.engine.redrive, "nope")

    def test_settling_twice_is_estate(self):
        self.engine.declare("jobs")
        self.engine.publish("jobs", b"x")
        delivery = self.consumer("jobs").consume(WAIT_MS)
        delivery.ack()
        for settle in (delivery.ack, delivery.nack, delivery.release, delivery.reject):
            self.assertError(corq.ESTATE, settle)
        self.assertError(corq.ESTATE, delivery.extend, 1000)
        self.assertEqual(self.engine.stats("jobs")["acked"], 1)

    def test_oversize_message_is_etoobig(self):
        with corq.Engine(max_message_bytes="1KiB") as engine:
            engine.declare("jobs")
            engine.publish("jobs", b"x" * 1024)
            self.assertError(corq.ETOOBIG, engine.publish, "jobs", b"x" * 1025)
            with engine.producer("jobs") as producer:
                self.assertError(corq.ETOOBIG, producer.send, [b"x", b"x" * 1025])
            self.assertEqual(engine.stats("jobs")["ready"], 1)

    def test_consume_on_a_closed_consumer_is_eclosed(self):
        self.engine.declare("jobs")
        consumer = self.engine.consumer("jobs", 4)
        consumer.close()
        self.assertError(corq.ECLOSED, consumer.consume, 0)
        self.assertError(corq.ECLOSED, consumer.consume_many, 4, 0)
        self.assertError(corq.ECLOSED, consumer.wakeup)
        self.assertEqual(list(consumer), [])  # iteration just ends
        consumer.close()  # idempotent

    def test_consume_after_the_queue_is_deleted_is_enoent(self):
        self.engine.declare("jobs")
        consumer = self.consumer("jobs")
        self.engine.delete("jobs")
        self.assertError(corq.ENOENT, consumer.consume, 0)

    def test_full_queue_is_efull(self):
        self.engine.declare("small", max_length=1, overflow="reject")
        self.engine.publish("small", b"a")
        self.assertError(corq.EFULL, self.engine.publish, "small", b"b")
        self.engine.declare("blocking", max_length=1)
        self.engine.publish("blocking", b"a")
        started = time.monotonic()
        self.assertError(corq.EFULL, self.engine.publish, "blocking", b"b", timeout_ms=20)
        self.assertGreaterEqual(time.monotonic() - started, 0.015)

    def test_bad_prefetch_and_timeouts_are_einval(self):
        self.engine.declare("jobs")
        self.assertError(corq.EINVAL, self.engine.consumer, "jobs", 0)
        self.assertError(corq.EINVAL, self.engine.consumer, "jobs", 65537)
        consumer = self.consumer("jobs")
        self.assertError(corq.EINVAL, consumer.consume, -2)
        self.assertError(corq.EINVAL, consumer.consume_many, 0, 0)
        self.assertError(corq.EINVAL, self.engine.publish, "jobs", b"x", delay_ms=-1)

    def test_bad_settle_arguments_are_einval(self):
        self.engine.declare("jobs")
        self.engine.publish("jobs", b"x")
        delivery = self.consumer("jobs").consume(WAIT_MS)
        self.assertError(corq.EINVAL, delivery.nack, -2)
        self.assertError(corq.EINVAL, delivery.extend, 0)
        self.assertError(corq.EINVAL, delivery.reject, "r" * 1025)
        delivery.ack()  # still unsettled after the refused calls

    def test_bad_headers_are_einval(self):
        self.engine.declare("jobs")
        self.assertError(corq.EINVAL, self.engine.publish, "jobs", b"x", headers={"": b"v"})
        self.assertError(corq.EINVAL, self.engine.publish, "jobs", b"x", headers={"k" * 256: b""})
        too_many = {"h%d" % i: b"" for i in range(65)}
        self.assertError(corq.EINVAL, self.engine.publish, "jobs", b"x", headers=too_many)
        self.assertError(corq.EINVAL, self.engine.publish, "jobs", b"x", headers={"a\0b": b""})
        self.assertEqual(self.engine.stats("jobs")["published"], 0)

    def test_non_bytes_payload_is_a_type_error(self):
        self.engine.declare("jobs")
        with self.assertRaises(TypeError):
            self.engine.publish("jobs", "text")
        with self.assertRaises(TypeError):
            self.engine.publish("jobs", 42)


class ExchangeTest(EngineTestCase):
    """Pub/sub routing (corq.h "Pub/sub routing"): each call of the binding once, with the
    semantics the C API's own tests prove in depth."""

    def drain(self, queue):
        """The payloads ready in a queue, acked."""
        got = self.consumer(queue, 64).consume_many(64, 0)
        for delivery in got:
            delivery.ack()
        return [delivery.data for delivery in got]

    def test_fanout_to_three_queues_shares_one_message_id(self):
        services = ("inventory", "email", "analytics")
        self.engine.declare_exchange("orders", "fanout")
        for queue in services:
            self.engine.declare(queue)
            self.engine.bind("orders", queue)
        published = self.engine.publish_to_exchange(
            "orders", "order.placed", b"order 7", headers={"tenant": b"acme"}
        )
        message_id, routed = published  # a tuple, with names
        self.assertEqual((published.message_id, published.routed), (message_id, 3))
        for queue in services:
            delivery = self.consumer(queue).consume(WAIT_MS)
            self.assertEqual((delivery.data, delivery.message_id), (b"order 7", message_id))
            self.assertEqual(delivery.headers["tenant"], b"acme")
            self.assertEqual(delivery.headers["x-exchange"], b"orders")
            self.assertEqual(delivery.headers["x-routing-key"], b"order.placed")
            delivery.ack()
        self.assertEqual(self.engine.exchange_stats("orders")["routed"], 3)

    def test_direct_exchange_routes_by_equal_key(self):
        for queue in ("red", "blue"):
            self.engine.declare(queue)
        self.engine.declare_exchange("colours", "direct")
        self.engine.bind("colours", "red", "r")
        self.engine.bind("colours", "blue", key=b"b")
        self.assertEqual(self.engine.publish_to_exchange("colours", "r", b"1").routed, 1)
        self.assertEqual(self.engine.publish_to_exchange("colours", "b", b"2").routed, 1)
        self.assertEqual(self.engine.publish_to_exchange("colours", "*", b"3").routed, 0)
        self.assertEqual((self.drain("red"), self.drain("blue")), ([b"1"], [b"2"]))

    def test_topic_exchange_routes_by_pattern(self):
        for queue in ("placed", "errors", "all"):
            self.engine.declare(queue)
        self.engine.declare_exchange("events", "topic")
        self.engine.bind("events", "placed", "order.placed")
        self.engine.bind("events", "errors", "*.*.error")
        self.engine.bind("events", "all", "#")
        self.engine.bind("events", "all", "order.*")  # a second match: still one copy
        self.assertEqual(self.engine.publish_to_exchange("events", "order.placed", b"1").routed, 2)
        self.assertEqual(self.engine.publish_to_exchange("events", "a.b.error", b"2").routed, 2)
        self.assertEqual(self.engine.publish_to_exchange("events", None, b"3").routed, 1)
        self.assertEqual(self.drain("placed"), [b"1"])
        self.assertEqual(self.drain("errors"), [b"2"])
        self.assertEqual(self.drain("all"), [b"1", b"2", b"3"])

    def test_headers_binding_takes_a_dict_or_pairs_with_presence_only_values(self):
        for queue in ("pdf", "traced", "either"):
            self.engine.declare(queue)
        self.engine.declare_exchange("docs", "headers")
        self.engine.bind("docs", "pdf", arguments={"format": b"pdf", "type": "report"})
        self.engine.bind("docs", "traced", arguments=[("trace", None)])
        self.engine.bind(
            "docs", "either", arguments=[("x-match", "any"), ("format", b"pdf"), ("trace", None)]
        )
        publish = self.engine.publish_to_exchange
        self.assertEqual(
            publish("docs", "", b"1", headers={"format": b"pdf", "type": b"report"}).routed, 2
        )
        self.assertEqual(publish("docs", "", b"2", headers={"trace": b""}).routed, 2)
        self.assertEqual(publish("docs", "", b"3", headers={"format": b"zip"}).routed, 0)
        self.assertEqual(
            (self.drain("pdf"), self.drain("traced"), self.drain("either")),
            ([b"1"], [b"2"], [b"1", b"2"]),
        )

    def test_unbind_removes_exactly_that_binding(self):
        self.engine.declare("q")
        self.engine.declare_exchange("events", "topic")
        self.engine.bind("events", "q", "a.*")
        self.engine.bind("events", "q", "b.*")
        self.engine.unbind("events", "q", "a.*")
        self.assertEqual(self.engine.exchange_stats("events")["bindings"], 1)
        self.assertEqual(self.engine.publish_to_exchange("events", "a.1", b"x").routed, 0)
        self.assertEqual(self.engine.publish_to_exchange("events", "b.1", b"x").routed, 1)
        self.assertError(corq.ENOENT, self.engine.unbind, "events", "q", "a.*")

    def test_unbind_matches_the_arguments_too(self):
        self.engine.declare("q")
        self.engine.declare_exchange("docs", "headers")
        self.engine.bind("docs", "q", arguments={"a": b"1", "b": None})
        self.assertError(corq.ENOENT, self.engine.unbind, "docs", "q", arguments={"a": b"1"})
        self.engine.unbind("docs", "q", arguments=[("b", None), ("a", b"1")])  # any order
        self.assertEqual(self.engine.exchange_stats("docs")["bindings"], 0)

    def test_exchange_to_exchange_binding_forwards_until_unbound(self):
        self.engine.declare("audit")
        self.engine.declare_exchange("front", "topic")
        self.engine.declare_exchange("audit-x", "fanout")
        self.engine.bind_exchange("front", "audit-x", "order.#")
        self.engine.bind("audit-x", "audit")
        self.assertEqual(self.engine.publish_to_exchange("front", "order.placed", b"m").routed, 1)
        self.assertEqual(self.engine.publish_to_exchange("front", "user.created", b"n").routed, 0)
        self.assertEqual(self.engine.exchange_stats("audit-x")["published"], 1)
        self.engine.unbind_exchange("front", "audit-x", "order.#")
        self.assertEqual(self.engine.publish_to_exchange("front", "order.placed", b"o").routed, 0)
        self.assertEqual(self.drain("audit"), [b"m"])
        self.assertError(corq.ENOENT, self.engine.unbind_exchange, "front", "audit-x", "order.#")

    def test_delete_exchange_removes_it_and_its_bindings(self):
        self.engine.declare("q")
        self.engine.declare_exchange("src", "fanout")
        self.engine.declare_exchange("mid", "fanout")
        self.engine.bind_exchange("src", "mid")
        self.engine.bind("mid", "q")
        self.engine.delete_exchange("mid")
        self.assertEqual(self.engine.exchange_stats("src")["bindings"], 0)
        self.assertError(corq.ENOENT, self.engine.exchange_stats, "mid")
        self.assertError(corq.ENOENT, self.engine.delete_exchange, "mid")
        self.assertError(corq.ENOENT, self.engine.publish_to_exchange, "mid", "", b"m")

    def test_unroutable_is_dropped_and_counted_or_with_mandatory_eunroutable(self):
        self.engine.declare("q")
        self.engine.declare_exchange("x", "direct")
        self.engine.bind("x", "q", "k")
        dropped = self.engine.publish_to_exchange("x", "other", b"lost")
        self.assertEqual(dropped.routed, 0)
        self.assertGreater(dropped.message_id, 0)
        self.assertError(
            corq.EUNROUTABLE, self.engine.publish_to_exchange, "x", "other", b"m", mandatory=True
        )
        self.assertEqual(self.engine.publish_to_exchange("x", "k", b"m", mandatory=True).routed, 1)
        stats = self.engine.exchange_stats("x")
        self.assertEqual(
            stats, {"bindings": 1, "published": 3, "routed": 1, "unroutable": 2, "alternated": 0}
        )
        self.assertEqual(self.engine.stats("q")["ready"], 1)

    def test_alternate_exchange_takes_what_the_exchange_cannot_route(self):
        self.engine.declare("lost")
        self.engine.declare_exchange("alt", "fanout")
        self.engine.declare_exchange("x", "direct", alternate_exchange="alt")
        self.engine.bind("alt", "lost")
        published = self.engine.publish_to_exchange("x", "nope", b"m", mandatory=True)
        self.assertEqual(published.routed, 1)
        self.assertEqual(self.engine.exchange_stats("x")["alternated"], 1)
        self.assertEqual(self.drain("lost"), [b"m"])

    def test_internal_exchange_refuses_direct_publishes(self):
        self.engine.declare("q")
        self.engine.declare_exchange("inner", "fanout", internal=True)
        self.engine.declare_exchange("outer", "fanout")
        self.engine.bind_exchange("outer", "inner")
        self.engine.bind("inner", "q")
        self.assertError(corq.EINVAL, self.engine.publish_to_exchange, "inner", "", b"m")
        self.assertEqual(self.engine.publish_to_exchange("outer", "", b"m").routed, 1)

    def test_default_exchange_publishes_to_the_queue_named_by_the_key(self):
        self.engine.declare("q")
        published = self.engine.publish_to_exchange("", "q", b"m")
        self.assertEqual(published.routed, 1)
        delivery = self.consumer("q").consume(WAIT_MS)
        self.assertEqual(delivery.message_id, published.message_id)
        self.assertNotIn("x-exchange", delivery.headers)
        self.assertError(corq.ENOENT, self.engine.publish_to_exchange, "", "missing", b"m")
        self.assertError(
            corq.EUNROUTABLE, self.engine.publish_to_exchange, "", "missing", b"m", mandatory=True
        )

    def test_a_full_target_fails_the_whole_publish(self):
        self.engine.declare("roomy")
        self.engine.declare("tight", max_length=1, overflow="reject")
        self.engine.declare_exchange("x", "fanout")
        self.engine.bind("x", "roomy")
        self.engine.bind("x", "tight")
        self.assertEqual(self.engine.publish_to_exchange("x", "", b"1").routed, 2)
        self.assertError(corq.EFULL, self.engine.publish_to_exchange, "x", "", b"2")
        self.assertEqual(self.engine.stats("roomy")["ready"], 1)

    def test_dedup_id_is_checked_per_target_queue(self):
        self.engine.declare("windowed", dedup_window_ms=60000)
        self.engine.declare("plain")
        self.engine.declare_exchange("x", "fanout")
        self.engine.bind("x", "windowed")
        self.engine.bind("x", "plain")
        self.assertEqual(self.engine.publish_to_exchange("x", "", b"m", dedup_id="e-1").routed, 2)
        self.assertEqual(self.engine.publish_to_exchange("x", "", b"m", dedup_id="e-1").routed, 1)

    def test_exchange_publish_options_reach_every_copy(self):
        self.engine.declare("a")
        self.engine.declare("b")
        self.engine.declare_exchange("x", "fanout")
        self.engine.bind("x", "a")
        self.engine.bind("x", "b")
        self.engine.publish_to_exchange("x", "", b"later", delay_ms=3600000, nowait=True)
        self.assertEqual((self.engine.stats("a")["delayed"], self.engine.stats("b")["delayed"]),
                         (1, 1))

    def test_priority_is_passed_in_the_publish_options(self):
        # No queue here has max_priority: a priority is accepted and ignored; a negative one is
        # refused by corq, which proves the field reaches it (struct_size covers it).
        self.engine.declare("q")
        self.engine.declare_exchange("x", "fanout")
        self.engine.bind("x", "q")
        self.engine.publish("q", b"1", priority=5)
        self.engine.publish_to_exchange("x", "", b"2", priority=9)
        with self.engine.producer("q") as producer:
            producer.send([b"3"], priority=1)
            self.assertError(corq.EINVAL, producer.send, [b"4"], priority=-1)
        self.assertError(corq.EINVAL, self.engine.publish, "q", b"5", priority=-1)
        self.assertError(corq.EINVAL, self.engine.publish_to_exchange, "x", "", b"6", priority=-1)
        self.assertEqual(self.drain("q"), [b"1", b"2", b"3"])

    def test_a_priority_queue_delivers_higher_priorities_first(self):
        self.engine.declare("p", max_priority=5)
        self.engine.publish("p", b"low", priority=1)
        self.engine.publish("p", b"high", priority=5)
        self.engine.publish("p", b"over", priority=9)  # counts as 5, after "high"
        self.engine.publish("p", b"none")
        self.assertEqual(self.drain("p"), [b"high", b"over", b"low", b"none"])

    def test_stats_json_lists_exchanges(self):
        self.engine.declare_exchange("events", "topic")
        document = json.loads(self.engine.stats_json())
        self.assertEqual(document["exchanges"]["events"]["type"], "topic")
        self.assertEqual(document["exchanges"]["events"]["stats"]["published"], 0)


class ExchangeBadInputTest(EngineTestCase):
    def setUp(self):
        super().setUp()
        self.engine.declare("q")
        self.engine.declare_exchange("x", "topic")
        self.engine.declare_exchange("h", "headers")

    def test_bad_exchange_type_name_and_options_are_einval(self):
        self.assertError(corq.EINVAL, self.engine.declare_exchange, "y", "fan-out")
        self.assertError(corq.EINVAL, self.engine.declare_exchange, "y", "")
        self.assertError(corq.EINVAL, self.engine.declare_exchange, "bad name", "topic")
        self.assertError(corq.EINVAL, self.engine.declare_exchange, "x" * 201, "topic")
        self.assertError(corq.EINVAL, self.engine.declare_exchange, "y", "topic", internal="maybe")
        self.assertError(corq.EINVAL, self.engine.declare_exchange, "y", "topic", max_length=5)
        self.assertError(corq.EINVAL, self.engine.declare_exchange, "nul\0", "topic")
        self.assertError(corq.ENOENT, self.engine.exchange_stats, "y")  # none of them declared it

    def test_the_default_exchange_cannot_be_declared_deleted_or_bound(self):
        self.assertError(corq.EINVAL, self.engine.declare_exchange, "", "direct")
        self.assertError(corq.EINVAL, self.engine.delete_exchange, "")
        self.assertError(corq.EINVAL, self.engine.bind, "", "q", "q")
        self.assertError(corq.EINVAL, self.engine.unbind, "", "q", "q")
        self.assertError(corq.EINVAL, self.engine.bind_exchange, "", "x")

    def test_redeclaring_with_another_type_or_options_is_eexist(self):
        self.engine.declare_exchange("x", "topic")  # same: fine
        self.assertError(corq.EEXIST, self.engine.declare_exchange, "x", "direct")
        self.assertError(corq.EEXIST, self.engine.declare_exchange, "x", "topic", internal=True)

    def test_unknown_exchange_or_queue_is_enoent(self):
        self.assertError(corq.ENOENT, self.engine.bind, "nope", "q", "k")
        self.assertError(corq.ENOENT, self.engine.bind, "x", "nope", "k")
        self.assertError(corq.ENOENT, self.engine.bind_exchange, "x", "nope")
        self.assertError(corq.ENOENT, self.engine.bind_exchange, "nope", "x")
        self.assertError(corq.ENOENT, self.engine.unbind, "x", "q", "never.bound")
        self.assertError(corq.ENOENT, self.engine.delete_exchange, "nope")
        self.assertError(corq.ENOENT, self.engine.publish_to_exchange, "nope", "k", b"m")
        self.assertError(corq.ENOENT, self.engine.exchange_stats, "nope")

    def test_keys_over_255_bytes_and_bad_arguments_are_einval(self):
        long_key = "k" * 256
        self.engine.bind("x", "q", "k" * 255)
        self.assertError(corq.EINVAL, self.engine.bind, "x", "q", long_key)
        self.assertError(corq.EINVAL, self.engine.publish_to_exchange, "x", long_key, b"m")
        self.assertError(corq.EINVAL, self.engine.bind, "h", "q", arguments={"x-match": b"most"})
        self.assertError(corq.EINVAL, self.engine.bind, "h", "q", arguments={"": b"v"})
        self.assertError(corq.EINVAL, self.engine.bind, "h", "q", arguments=[("a\0b", b"v")])
        self.assertError(corq.EINVAL, self.engine.bind, "x", "q", "a\0b")
        with self.assertRaises(TypeError):
            self.engine.bind("h", "q", arguments=[("only-a-key",)])
        with self.assertRaises(TypeError):
            self.engine.bind("h", "q", arguments={"k": 42})
        self.assertEqual(self.engine.exchange_stats("x")["bindings"], 1)
        self.assertEqual(self.engine.exchange_stats("h")["bindings"], 0)

    def test_closed_engine_is_eclosed(self):
        engine = corq.Engine()
        engine.close()
        self.assertError(corq.ECLOSED, engine.declare_exchange, "x", "topic")
        self.assertError(corq.ECLOSED, engine.publish_to_exchange, "x", "", b"m")
        self.assertError(corq.ECLOSED, engine.exchange_stats, "x")


# murmur2("21") is -973932308 (Kafka's UtilsTest); & 0x7fffffff = 1173551340, so with 7 partitions
# Kafka's default partitioner puts the key "21" here:
KEY_21_OF_7 = 1173551340 % 7


class GroupTest(EngineTestCase):
    def test_a_group_member_gets_records_with_their_offsets_and_stream_headers(self):
        self.engine.declare_stream("events", partitions=2)
        appended = self.engine.append("events", b"placed", key=b"order-1")
        with self.engine.group_consumer("events", "billing", mode="shared", prefetch=8) as member:
            delivery = member.consume(timeout_ms=0)
            self.assertEqual(delivery.data, b"placed")
            self.assertEqual(delivery.message_id, appended.offset)
            self.assertEqual(delivery.headers["x-stream-partition"], str(appended.partition).encode())
            self.assertEqual(delivery.headers["x-stream-key"], b"order-1")
            delivery.ack()
            stats = self.engine.group_stats("events", "billing")
            self.assertEqual((stats["members"], stats["acked"], stats["lag"]), (1, 1, 0))
        self.assertEqual(self.engine.stream_stats("events")["groups"], 1)

    def test_nacked_past_max_attempts_goes_to_the_groups_dead_letter_queue(self):
        self.engine.declare_stream("events")
        self.engine.append("events", b"poison")
        with self.engine.group_consumer("events", "g", max_attempts=1) as member:
            member.consume(timeout_ms=0).nack(0)
            self.assertIsNone(member.consume(timeout_ms=0))
        with self.engine.consumer("events.g.dlq", 4) as dlq:
            dead = dlq.consume(timeout_ms=0)
            self.assertEqual(dead.headers["x-death-reason"], b"max_attempts")
            dead.ack()

    def test_seek_replays_and_delete_ends_the_members(self):
        self.engine.declare_stream("events")
        self.engine.append("events", b"a")
        with self.engine.group_consumer("events", "g") as member:
            member.consume(timeout_ms=0).ack()
            self.engine.group_seek("events", "g", "earliest")
            self.assertEqual(member.consume(timeout_ms=0).data, b"a")
            self.engine.group_delete("events", "g")
            self.assertError(corq.ENOENT, member.consume, 0)

    def test_bad_group_input_is_einval_enoent_or_eexist(self):
        self.engine.declare_stream("events")
        self.assertError(corq.EINVAL, self.engine.group_consumer, "events", "g", mode="fifo")
        self.assertError(corq.ENOENT, self.engine.group_consumer, "nope", "g")
        self.assertError(corq.ENOENT, self.engine.group_stats, "events", "nope")
        with self.engine.group_consumer("events", "g", mode="shared"):
            self.assertError(corq.EEXIST, self.engine.group_consumer, "events", "g")


class StreamTest(EngineTestCase):
    def reader(self, stream, partition=0, start="earliest"):
        reader = self.engine.stream_reader(stream, partition, start)
        self.addCleanup(reader.close)
        return reader

    def test_a_keyed_record_goes_to_the_partition_kafka_picks_and_comes_back_whole(self):
        self.engine.declare_stream("events", partitions=7)
        appended = self.engine.append("events", b"v\x00w", key=b"21", headers={"type": b"created"})
        self.assertEqual(appended, (KEY_21_OF_7, 0))
        self.assertEqual((appended.partition, appended.offset), (KEY_21_OF_7, 0))
        self.assertEqual(self.engine.append("events", b"again", key="21"), (KEY_21_OF_7, 1))
        records = self.reader("events", KEY_21_OF_7).read(max=10, timeout_ms=0)
        self.assertEqual([(r.key, r.data, r.offset) for r in records],
                         [(b"21", b"v\x00w", 0), (b"21", b"again", 1)])
        first = records[0]
        self.assertEqual((first.partition, first.headers), (KEY_21_OF_7, {"type": b"created"}))
        self.assertLess(abs(first.timestamp_ms - time.time() * 1000), 60000)
        self.assertLessEqual(first.timestamp_ms, records[1].timestamp_ms)

    def test_records_without_a_key_go_round_robin_and_an_empty_key_is_a_key(self):
        self.engine.declare_stream("events", partitions=4)
        partitions = [self.engine.append("events", b"x").partition for _ in range(8)]
        self.assertEqual(sorted(partitions), [0, 0, 1, 1, 2, 2, 3, 3])
        empty = {self.engine.append("events", b"e", key=b"").partition for _ in range(4)}
        self.assertEqual(len(empty), 1)  # hashed: always one partition
        records = self.reader("events", empty.pop()).read(timeout_ms=0)
        self.assertEqual([r.key for r in records], [None, None, b"", b"", b"", b""])

    def test_readers_start_at_earliest_latest_or_an_offset(self):
        self.engine.declare_stream("s")
        for data in (b"a", b"b", b"c"):
            self.engine.append("s", data)
        earliest = self.reader("s", start="earliest")
        latest = self.reader("s", start="latest")
        from_one = self.reader("s", start="offset:1")
        self.assertEqual([r.data for r in earliest.read(max=2, timeout_ms=0)], [b"a", b"b"])
        self.assertEqual([r.data for r in earliest.read(timeout_ms=0)], [b"c"])
        self.assertEqual(latest.read(timeout_ms=0), [])
        self.assertEqual([(r.offset, r.data) for r in from_one.read(timeout_ms=0)],
                         [(1, b"b"), (2, b"c")])
        self.engine.append("s", b"d")
        self.assertEqual([(r.offset, r.data) for r in latest.read(timeout_ms=0)], [(3, b"d")])
        self.assertEqual(self.reader("s", start="offset:4").read(timeout_ms=0), [])

    def test_a_reader_follows_the_tail_with_a_timeout(self):
        self.engine.declare_stream("s")
        reader = self.reader("s", start="latest")
        started = time.monotonic()
        self.assertEqual(reader.read(timeout_ms=30), [])
        self.assertGreaterEqual(time.monotonic() - started, 0.025)
        appender = threading.Timer(0.05, self.engine.append, ("s", b"late"))
        appender.start()
        self.addCleanup(appender.cancel)
        records = reader.read(timeout_ms=WAIT_MS)
        self.assertEqual([r.data for r in records], [b"late"])

    def test_wakeup_from_another_thread_ends_a_read_without_limit(self):
        self.engine.declare_stream("s")
        reader = self.reader("s")
        got = []
        worker = threading.Thread(target=lambda: got.append(reader.read(timeout_ms=-1)))
        worker.start()
        time.sleep(0.3)  # past one wait slice of the binding
        reader.wakeup()
        worker.join(WAIT_MS / 1000)
        self.assertFalse(worker.is_alive(), "read did not end after wakeup")
        self.assertEqual(got, [[]])
        self.engine.append("s", b"after")  # the reader still works
        self.assertEqual([r.data for r in reader.read(timeout_ms=WAIT_MS)], [b"after"])

    def test_skipped_counts_records_retention_deleted_before_they_were_read(self):
        self.engine.declare_stream("s", retention_records=3)
        reader = self.reader("s")
        for i in range(5):
            self.engine.append("s", b"%d" % i)
        self.assertEqual(reader.skipped, 0)
        records = reader.read(timeout_ms=0)
        self.assertEqual([(r.offset, r.data) for r in records], [(2, b"2"), (3, b"3"), (4, b"4")])
        self.assertEqual(reader.skipped, 2)
        self.assertEqual(self.reader("s", start="offset:0").skipped, 2)  # starts at offset 2

    def test_a_producer_batch_goes_to_one_partition_with_consecutive_offsets(self):
        self.engine.declare_stream("s", partitions=7, dedup_window_ms=60000)
        with self.engine.stream_producer("s") as producer:
            sent = producer.send([b"a", (b"b", {"h": b"1"}), bytearray(b"c")], key=b"21",
                                 dedup_id="batch-1")
            self.assertEqual(sent, (KEY_21_OF_7, 0))
            self.assertEqual((sent.partition, sent.first_offset), (KEY_21_OF_7, 0))
            again = producer.send([b"a", b"b", b"c"], key=b"21", dedup_id="batch-1")
            self.assertEqual(again, (KEY_21_OF_7, 0))  # the same batch: nothing appended
            self.assertEqual(producer.send([b"d"], key=b"21"), (KEY_21_OF_7, 3))
            unkeyed = producer.send([b"e", b"f"])
            self.assertLess(unkeyed.partition, 7)
        records = self.reader("s", KEY_21_OF_7).read(timeout_ms=0)
        records = [r for r in records if r.key == b"21"]
        self.assertEqual([(r.offset, r.data, r.headers) for r in records],
                         [(0, b"a", {}), (1, b"b", {"h": b"1"}), (2, b"c", {}), (3, b"d", {})])
        self.assertEqual(len({r.timestamp_ms for r in records[:3]}), 1)  # one batch, one time
        stats = self.engine.stream_stats("s")
        self.assertEqual((stats["appended"], stats["deduplicated"]), (6, 1))

    def test_stream_stats_count_partitions_records_bytes_and_deletions(self):
        self.engine.declare_stream("s", partitions=2, retention_records=2)
        self.assertEqual(
            self.engine.stream_stats("s"),
            {"partitions": 2, "records": 0, "bytes": 0, "appended": 0, "deleted": 0,
             "deduplicated": 0, "groups": 0},
        )
        for _ in range(3):
            self.engine.append("s", b"1234", key=b"k")  # one partition: the third deletes one
        self.assertEqual(
            self.engine.stream_stats("s"),
            {"partitions": 2, "records": 2, "bytes": 2 * 5, "appended": 3, "deleted": 1,
             "deduplicated": 0, "groups": 0},
        )
        self.engine.declare_stream("h", dedup_window_ms=60000)
        first = self.engine.append("h", b"xy", headers={"h": b"v"}, dedup_id="once")
        self.assertEqual(self.engine.append("h", b"z", dedup_id=b"once"), first)
        stats = self.engine.stream_stats("h")
        self.assertEqual((stats["records"], stats["bytes"]), (1, 2 + 2))  # payload and header
        self.assertEqual((stats["appended"], stats["deduplicated"]), (1, 1))

    def test_a_record_is_a_copy_that_outlives_the_next_read(self):
        self.engine.declare_stream("s", retention_records=1)
        payload = bytes(range(256)) * 4
        self.engine.append("s", payload, key=b"\x00k")
        reader = self.reader("s")
        first = reader.read(timeout_ms=0)[0]
        self.engine.append("s", b"next")  # retention deletes the first record
        self.assertEqual([r.data for r in reader.read(timeout_ms=0)], [b"next"])
        self.assertEqual((first.data, first.key), (payload, b"\x00k"))

    def test_delete_stream_ends_its_readers_with_enoent_and_frees_the_name(self):
        self.engine.declare_stream("s")
        self.engine.append("s", b"a")
        reader = self.reader("s")
        self.engine.delete_stream("s")
        self.assertError(corq.ENOENT, reader.read, timeout_ms=0)
        self.engine.declare_stream("s")
        self.assertEqual(self.engine.append("s", b"b").offset, 0)

    def test_streams_and_queues_have_separate_names(self):
        self.engine.declare("orders")
        self.engine.declare_stream("orders")
        self.engine.publish("orders", b"to the queue")
        self.engine.append("orders", b"to the stream")
        self.assertEqual(self.engine.stats("orders")["ready"], 1)
        self.assertEqual(self.engine.stream_stats("orders")["records"], 1)

    def test_stream_handles_close_with_their_context_and_then_are_eclosed(self):
        self.engine.declare_stream("s")
        with self.engine.stream_producer("s") as producer:
            producer.send([b"x"])
        with self.engine.stream_reader("s") as reader:
            self.assertEqual(len(reader.read(timeout_ms=0)), 1)
        self.assertTrue(producer.closed and reader.closed)
        self.assertError(corq.ECLOSED, producer.send, [b"y"])
        self.assertError(corq.ECLOSED, reader.read, timeout_ms=0)
        self.assertError(corq.ECLOSED, reader.wakeup)
        with self.assertRaises(corq.Error):
            reader.skipped
        producer.close()  # idempotent
        reader.close()

    def test_engine_close_ends_a_waiting_read_with_eclosed(self):
        engine = corq.Engine()
        engine.declare_stream("s")
        reader = engine.stream_reader("s")
        errors = []

        def work():
            try:
                reader.read(timeout_ms=-1)
            except corq.Error as error:
                errors.append(error.code)

        worker = threading.Thread(target=work)
        worker.start()
        time.sleep(0.05)
        engine.close()
        worker.join(WAIT_MS / 1000)
        self.assertFalse(worker.is_alive(), "read did not end after engine close")
        self.assertEqual(errors, [corq.ECLOSED])
        reader.close()

    def test_record_and_stats_structs_have_the_size_of_the_c_structs(self):
        # corq_stream_stats_get refuses a struct_size below its sizeof and names the size.
        stats = corq._StreamStats()
        stats.struct_size = 1
        rc = corq._lib.corq_stream_stats_get(None, b"s", ctypes.byref(stats))
        self.assertEqual(rc, corq.EINVAL)  # the NULL engine is checked first
        with corq.Engine() as engine:
            engine.declare_stream("s")
            rc = corq._lib.corq_stream_stats_get(engine._h(), b"s", ctypes.byref(stats))
            self.assertEqual(rc, corq.EINVAL)
            detail = corq._lib.corq_last_error().decode()
        self.assertEqual(int(re.search(r"at least (\d+)", detail).group(1)),
                         ctypes.sizeof(corq._StreamStats), detail)
        if ctypes.sizeof(ctypes.c_void_p) == 8:  # LP64: the layout of corq.h, padding included
            self.assertEqual(ctypes.sizeof(corq._StreamStats), 56)
            self.assertEqual(ctypes.sizeof(corq._StreamRecordC), 72)
            self.assertEqual(corq._StreamRecordC.offset.offset, 8)
            self.assertEqual(corq._StreamRecordC.header_count.offset, 64)


class StreamBadInputTest(EngineTestCase):
    def setUp(self):
        super().setUp()
        self.engine.declare_stream("s", partitions=2)

    def test_an_unknown_stream_is_enoent_with_its_name_in_the_detail(self):
        for call, args in (
            (self.engine.append, ("nope", b"x")),
            (self.engine.stream_reader, ("nope",)),
            (self.engine.stream_producer, ("nope",)),
            (self.engine.stream_stats, ("nope",)),
            (self.engine.delete_stream, ("nope",)),
        ):
            error = self.assertError(corq.ENOENT, call, *args)
            self.assertIn("nope", error.detail)
            self.assertIn("CORQ_ENOENT", str(error))

    def test_a_bad_start_is_einval(self):
        for start in ("soon", "offset:", "offset:-1", "time:x", ""):
            error = self.assertError(corq.EINVAL, self.engine.stream_reader, "s", 0, start)
            self.assertIn("bad start", error.detail)
        error = self.assertError(corq.EINVAL, self.engine.stream_reader, "s", 0, "offset:1")
        self.assertIn("past the end", error.detail)
        self.assertError(corq.EINVAL, self.engine.stream_reader, "s", 0, "earliest\0")

    def test_a_partition_out_of_range_is_einval(self):
        error = self.assertError(corq.EINVAL, self.engine.stream_reader, "s", 2)
        self.assertIn("no partition 2", error.detail)
        self.assertError(corq.EINVAL, self.engine.stream_reader, "s", -1)
        self.assertError(corq.EINVAL, self.engine.stream_reader, "s", 2 ** 32)

    def test_bad_names_options_and_redeclarations_are_einval_or_eexist(self):
        error = self.assertError(corq.EINVAL, self.engine.declare_stream, "bad name")
        self.assertIn("stream name", error.detail)
        self.assertError(corq.EINVAL, self.engine.declare_stream, "t", partitions=0)
        self.assertError(corq.EINVAL, self.engine.declare_stream, "t", partitions=1025)
        self.assertError(corq.EINVAL, self.engine.declare_stream, "t", discard="oldest")
        error = self.assertError(corq.EINVAL, self.engine.declare_stream, "t", max_length=5)
        self.assertIn("not a stream option", error.detail)
        error = self.assertError(corq.EINVAL, self.engine.declare_stream, "t", durable=True)
        self.assertIn("disk engine", error.detail)
        self.assertError(corq.EEXIST, self.engine.declare_stream, "s", partitions=3)
        self.engine.declare_stream("s", partitions=2)  # the same: fine

    def test_bad_reads_and_batches_are_einval(self):
        reader = self.engine.stream_reader("s")
        self.addCleanup(reader.close)
        self.assertError(corq.EINVAL, reader.read, max=0)
        self.assertError(corq.EINVAL, reader.read, timeout_ms=-2)
        with self.engine.stream_producer("s") as producer:
            error = self.assertError(corq.EINVAL, producer.send, [])
            self.assertIn("count must be at least 1", error.detail)
            self.assertError(corq.EINVAL, producer.send, [b"x"], key=b"k", timeout_ms=-2)
        self.assertError(corq.EINVAL, self.engine.append, "s", b"x", headers={"": b"v"})
        with self.assertRaises(TypeError):
            self.engine.append("s", b"x", key=42)
        with self.assertRaises(TypeError):
            self.engine.append("s", "text")
        self.assertEqual(self.engine.stream_stats("s")["appended"], 0)

    def test_full_stream_with_discard_new_is_efull(self):
        self.engine.declare_stream("small", retention_records=1, discard="new")
        self.engine.append("small", b"a")
        error = self.assertError(corq.EFULL, self.engine.append, "small", b"b")
        self.assertIn("discard=new", error.detail)
        with self.engine.stream_producer("small") as producer:
            self.assertError(corq.EFULL, producer.send, [b"c"])

    def test_oversize_record_is_etoobig(self):
        with corq.Engine(max_message_bytes="1KiB") as engine:
            engine.declare_stream("s")
            engine.append("s", b"x" * 1024)
            self.assertError(corq.ETOOBIG, engine.append, "s", b"x" * 1024, key=b"k")
            with engine.stream_producer("s") as producer:
                self.assertError(corq.ETOOBIG, producer.send, [b"x", b"x" * 1025])
            self.assertEqual(engine.stream_stats("s")["records"], 1)

    def test_closed_engine_is_eclosed(self):
        engine = corq.Engine()
        engine.close()
        self.assertError(corq.ECLOSED, engine.declare_stream, "s")
        self.assertError(corq.ECLOSED, engine.append, "s", b"x")
        self.assertError(corq.ECLOSED, engine.stream_reader, "s")
        self.assertError(corq.ECLOSED, engine.stream_stats, "s")


class TransactionTest(EngineTestCase):
    """Engine.transaction(): publishes, appends and acks applied together at commit, or none."""

    RELAY_MESSAGES = 100  # how many messages the consume-transform-produce test moves
    LEASE_MS = 300  # a lease short enough to run out within a test, long enough to commit in

    def setUp(self):
        super().setUp()
        self.engine.declare("in", lease_ms=self.LEASE_MS)
        self.engine.declare("out")
        self.engine.declare_stream("s")

    def drain(self, queue):
        """The payloads a queue holds now, consumed and acked."""
        with self.engine.consumer(queue, 1024) as consumer:
            deliveries = consumer.consume_many(1024, 0)
            for delivery in deliveries:
                delivery.ack()
        return [delivery.data for delivery in deliveries]

    def records(self, stream):
        with self.engine.stream_reader(stream) as reader:
            return [record.data for record in reader.read(1024, 0)]

    def held(self, queue="in"):
        """A delivery from `queue`, held by a consumer closed after the test."""
        self.engine.publish(queue, b"x")
        consumer = self.consumer(queue)
        delivery = consumer.consume(WAIT_MS)
        self.assertIsNotNone(delivery)
        return consumer, delivery

    def test_leaving_the_block_commits_a_publish_and_an_append(self):
        with self.engine.transaction() as txn:
            self.assertIsInstance(txn, corq.Transaction)
            txn.publish("", "out", b"p1", headers={"k": b"v"})
            txn.append("s", b"r1", key=b"key-1")
            self.assertEqual(self.engine.stats("out")["ready"], 0, "visible before commit")
            self.assertEqual(self.records("s"), [], "readable before commit")
        self.assertTrue(txn.closed)
        self.assertEqual(self.drain("out"), [b"p1"])
        self.assertEqual(self.records("s"), [b"r1"])

    def test_a_publish_through_an_exchange_routes_at_commit(self):
        self.engine.declare_exchange("events", "topic")
        with self.engine.transaction() as txn:
            txn.publish("events", "order.placed", b"o1")
            self.engine.bind("events", "out", "order.*")  # bound before the commit
        self.assertEqual(self.drain("out"), [b"o1"])

    def test_an_exception_in_the_block_aborts_and_goes_on(self):
        consumer, delivery = self.held()
        with self.assertRaises(ZeroDivisionError):
            with self.engine.transaction() as txn:
                txn.publish("", "out", b"p")
                txn.append("s", b"r")
                txn.ack(delivery)
                1 / 0
        self.assertTrue(txn.closed)
        self.assertEqual(self.engine.stats("out")["published"], 0)
        self.assertEqual(self.records("s"), [])
        self.assertEqual(self.engine.stats("in")["acked"], 0)
        delivery.ack()  # still held: the aborted ack was not applied

    def test_explicit_abort_discards_and_the_block_then_commits_nothing(self):
        with self.engine.transaction() as txn:
            txn.publish("", "out", b"p")
            txn.abort()
            txn.abort()  # idempotent
        self.assertEqual(self.engine.stats("out")["published"], 0)
        self.assertIn('"aborted":1', self.engine.stats_json())

    def test_explicit_commit_without_a_block(self):
        txn = self.engine.transaction(timeout_ms=1000)
        self.assertEqual(txn.timeout_ms, 1000)
        txn.publish("", "out", b"p")
        txn.commit()
        self.assertTrue(txn.closed)
        self.assertEqual(self.drain("out"), [b"p"])

    def test_the_default_commit_timeout_is_the_publish_default(self):
        with self.engine.transaction() as txn:
            self.assertEqual(txn.timeout_ms, corq.PUBLISH_TIMEOUT_MS_DEFAULT)

    def test_an_unreferenced_transaction_is_aborted_by_the_garbage_collector(self):
        txn = self.engine.transaction()
        txn.publish("", "out", b"p")
        del txn
        gc.collect()
        self.assertIn('"aborted":1', self.engine.stats_json())
        self.assertIn('"open":0', self.engine.stats_json())
        self.assertEqual(self.engine.stats("out")["published"], 0)

    def test_a_committed_ack_is_final_after_a_consumer_reopen_and_past_the_lease(self):
        consumer, delivery = self.held()
        with self.engine.transaction() as txn:
            txn.ack(delivery)
            self.assertEqual(self.engine.stats("in")["in_flight"], 1, "acked before commit")
        consumer.close()  # would release what it still held
        time.sleep(2 * self.LEASE_MS / 1000.0)  # a held delivery's lease would have run out
        with self.engine.consumer("in") as again:
            self.assertIsNone(again.consume(0))
        stats = self.engine.stats("in")
        self.assertEqual((stats["acked"], stats["ready"], stats["delayed"]), (1, 0, 0))

    def test_an_aborted_ack_leaves_the_delivery_held_until_its_lease_runs_out(self):
        consumer, delivery = self.held()
        with self.engine.transaction() as txn:
            txn.ack(delivery)
            txn.abort()
        self.assertEqual(self.engine.stats("in")["in_flight"], 1)
        again = consumer.consume(WAIT_MS)  # after the lease, the backoff: delivered again
        self.assertIsNotNone(again, "the delivery never came back")
        self.assertEqual((again.data, again.delivery_count), (b"x", 2))
        self.assertEqual(self.engine.stats("in")["acked"], 0)

    def test_consume_transform_produce_moves_each_message_exactly_once(self):
        self.engine.declare("a")
        self.engine.declare("b")
        for i in range(self.RELAY_MESSAGES):
            self.engine.publish("a", b"m%d" % i)
        consumer = self.consumer("a", 16)
        relayed = 0
        while True:
            delivery = consumer.consume(0)
            if delivery is None:
                break
            with self.engine.transaction() as txn:
                txn.publish("", "b", b"T(" + delivery.data + b")")
                txn.ack(delivery)
            relayed += 1
            self.assertLessEqual(relayed, self.RELAY_MESSAGES, "a message came twice")
        self.assertEqual(relayed, self.RELAY_MESSAGES)
        a = self.engine.stats("a")
        self.assertEqual((a["ready"], a["in_flight"], a["acked"]), (0, 0, self.RELAY_MESSAGES))
        self.assertEqual(
            self.drain("b"), [b"T(m%d)" % i for i in range(self.RELAY_MESSAGES)]
        )

    def test_a_group_members_ack_commits_with_an_append(self):
        self.engine.declare_stream("payments")
        self.engine.append("payments", b"pay-1")
        with self.engine.group_consumer("payments", "billing") as member:
            delivery = member.consume(WAIT_MS)
            with self.engine.transaction() as txn:
                txn.append("s", b"entry-1")
                txn.ack(delivery)
                self.assertEqual(self.engine.group_stats("payments", "billing")["acked"], 0)
        self.assertEqual(self.engine.group_stats("payments", "billing")["acked"], 1)
        self.assertEqual(self.records("s"), [b"entry-1"])


class TransactionBadInputTest(EngineTestCase):
    """Refused operations raise at once and leave the transaction usable; a failed commit applies
    nothing; a transaction is spent after commit or abort."""

    def setUp(self):
        super().setUp()
        self.engine.declare("in")
        self.engine.declare("out")
        self.engine.declare_stream("s")

    def held(self):
        self.engine.publish("in", b"x")
        consumer = self.consumer("in")
        return consumer, consumer.consume(WAIT_MS)

    def test_a_tag_the_consumer_no_longer_holds_is_estate_at_once(self):
        consumer, delivery = self.held()
        delivery.ack()
        with self.engine.transaction() as txn:
            self.assertError(corq.ESTATE, txn.ack, delivery)
            txn.publish("", "out", b"kept")  # still usable
        self.assertEqual(self.engine.stats("out")["ready"], 1)

    def test_the_same_delivery_twice_in_one_transaction_is_estate(self):
        consumer, delivery = self.held()
        with self.engine.transaction() as txn:
            txn.ack(delivery)
            error = self.assertError(corq.ESTATE, txn.ack, delivery)
            self.assertIn("already", error.detail)
        self.assertEqual(self.engine.stats("in")["acked"], 1)

    def test_an_unknown_queue_exchange_or_stream_is_enoent_at_once_and_it_stays_usable(self):
        with self.engine.transaction() as txn:
            error = self.assertError(corq.ENOENT, txn.publish, "", "nope", b"x")
            self.assertIn("nope", error.detail)
            self.assertEqual(error.name, "CORQ_ENOENT")
            self.assertError(corq.ENOENT, txn.publish, "no-exchange", "k", b"x")
            self.assertError(corq.ENOENT, txn.append, "no-stream", b"x")
            self.assertFalse(txn.closed)
            txn.publish("", "out", b"kept")
            txn.append("s", b"kept")
        self.assertEqual(self.engine.stats("out")["ready"], 1)
        self.assertEqual(self.engine.stream_stats("s")["records"], 1)

    def test_a_delivery_settled_before_commit_fails_it_and_nothing_is_applied(self):
        consumer, delivery = self.held()
        txn = self.engine.transaction()
        txn.publish("", "out", b"p")
        txn.append("s", b"r")
        txn.ack(delivery)
        delivery.ack()  # settled outside the transaction
        error = self.assertError(corq.ESTATE, txn.commit)
        self.assertIn(str(delivery.tag), error.detail)
        self.assertTrue(txn.closed, "commit ends the transaction whatever it raises")
        self.assertEqual(self.engine.stats("out")["published"], 0)
        self.assertEqual(self.engine.stream_stats("s")["records"], 0)

    def test_a_commit_that_fails_at_the_end_of_the_block_raises_from_it(self):
        self.engine.declare("small", max_length=1, overflow="reject")
        self.engine.publish("small", b"filler")
        consumer, delivery = self.held()
        with self.assertRaises(corq.Error) as caught:
            with self.engine.transaction() as txn:
                txn.publish("", "out", b"p")
                txn.publish("", "small", b"q")
                txn.ack(delivery)
        self.assertEqual(caught.exception.code, corq.EFULL, str(caught.exception))
        self.assertIn("small", caught.exception.detail)
        self.assertEqual(self.engine.stats("out")["published"], 0)
        delivery.ack()  # the failed commit left it held

    def test_after_commit_or_abort_every_call_is_eclosed(self):
        consumer, delivery = self.held()
        for end in ("commit", "abort", "block"):
            if end == "block":
                with self.engine.transaction() as txn:
                    pass
            else:
                txn = self.engine.transaction()
                getattr(txn, end)()
            self.assertTrue(txn.closed)
            error = self.assertError(corq.ECLOSED, txn.publish, "", "out", b"x")
            self.assertIn("no longer open", error.detail)
            self.assertError(corq.ECLOSED, txn.append, "s", b"x")
            self.assertError(corq.ECLOSED, txn.ack, delivery)
            self.assertError(corq.ECLOSED, txn.commit)
            txn.abort()  # a no-op
        self.assertEqual(self.engine.stats("out")["published"], 0)
        delivery.ack()  # no refused ack reached it

    def test_bad_arguments_are_einval_etoobig_or_type_errors(self):
        consumer, delivery = self.held()
        with self.engine.transaction() as txn:
            self.assertError(corq.EINVAL, txn.publish, "", "bad name!", b"x")
            self.assertError(corq.EINVAL, txn.publish, "", "out", b"x", priority=-1)
            with self.assertRaises(TypeError):
                txn.publish("", "out", "text, not bytes")
            with self.assertRaises(TypeError):
                txn.ack(delivery.tag)
            self.assertError(corq.ETOOBIG, txn.publish, "", "out", b"x" * (2 << 20))
            consumer.close()
            self.assertError(corq.ECLOSED, txn.ack, delivery)
            txn.publish("", "out", b"kept")
        self.assertEqual(self.engine.stats("out")["ready"], 1)
        self.assertError(corq.EINVAL, self.engine.transaction, timeout_ms=-2)
        self.assertError(corq.EINVAL, self.engine.transaction, timeout_ms=2**31)
        txn = self.engine.transaction()
        txn.publish("", "out", b"dropped")
        self.assertError(corq.EINVAL, txn.commit, -2)
        self.assertTrue(txn.closed, "commit ends the transaction whatever it raises")
        self.assertEqual(self.engine.stats("out")["ready"], 1)

    def test_a_closed_engine_aborts_it_and_its_calls_are_eclosed(self):
        engine = corq.Engine()
        engine.declare("q")
        txn = engine.transaction()
        txn.publish("", "q", b"x")
        engine.close()
        self.assertError(corq.ECLOSED, txn.publish, "", "q", b"x")
        self.assertError(corq.ECLOSED, txn.commit)
        self.assertTrue(txn.closed)
        self.assertError(corq.ECLOSED, engine.transaction)


class CoverageTest(unittest.TestCase):
    def test_every_function_of_corq_h_is_declared_to_ctypes(self):
        if not os.path.exists(HEADER):
            self.skipTest("corq.h not found at " + HEADER)
        with open(HEADER) as header:
            functions = re.findall(r"CORQ_API\s[^;(]*?\b(corq_\w+)\s*\(", header.read())
        self.assertGreaterEqual(len(functions), 70)  # as many as corq.h has now, or more
        undeclared = [f for f in functions if getattr(corq._lib, f).argtypes is None]
        self.assertEqual(undeclared, [])

    def test_stats_types_name_exactly_the_keys_the_calls_return(self):
        with corq.Engine() as engine:
            engine.declare("q")
            engine.declare_exchange("x", "fanout")
            engine.declare_stream("s")
            with engine.group_consumer("s", "g"):
                pass
            for typed, returned in ((corq.QueueStats, engine.stats("q")),
                                    (corq.ExchangeStats, engine.exchange_stats("x")),
                                    (corq.StreamStats, engine.stream_stats("s")),
                                    (corq.GroupStats, engine.group_stats("s", "g"))):
                self.assertEqual(set(typed.__annotations__), set(returned), typed.__name__)
                self.assertTrue(all(isinstance(v, int) for v in returned.values()))

    def test_the_package_is_typed(self):
        self.assertTrue(os.path.isfile(os.path.join(os.path.dirname(corq.__file__), "py.typed")))


class AckUptoTest(EngineTestCase):
    def test_ack_upto_acks_every_held_delivery_up_to_the_tag(self):
        self.engine.declare("jobs")
        for i in range(5):
            self.engine.publish("jobs", b"%d" % i)
        consumer = self.consumer("jobs")
        got = consumer.consume_many(5, WAIT_MS)
        self.assertEqual(len(got), 5)
        got[1].ack()
        consumer.ack_upto(got[2])  # 0 and 2 (1 is settled already)
        stats = self.engine.stats("jobs")
        self.assertEqual((stats["acked"], stats["in_flight"]), (3, 2))
        consumer.ack_upto(got[4].tag)  # a tag works too
        stats = self.engine.stats("jobs")
        self.assertEqual((stats["acked"], stats["in_flight"], stats["ready"]), (5, 0, 0))
        self.assertError(corq.ESTATE, got[3].ack)

    def test_ack_upto_with_nothing_held_is_estate(self):
        self.engine.declare("jobs")
        self.engine.publish("jobs", b"x")
        consumer = self.consumer("jobs")
        delivery = consumer.consume(WAIT_MS)
        delivery.ack()
        self.assertError(corq.ESTATE, consumer.ack_upto, delivery)

    def test_ack_upto_refuses_other_consumers_deliveries_and_bad_tags(self):
        self.engine.declare("jobs")
        self.engine.publish("jobs", b"x")
        mine, other = self.consumer("jobs"), self.consumer("jobs")
        delivery = other.consume(WAIT_MS)
        self.assertError(corq.EINVAL, mine.ack_upto, delivery)
        self.assertError(corq.EINVAL, mine.ack_upto, -1)
        self.assertError(corq.EINVAL, mine.ack_upto, 2**64)
        with self.assertRaises(TypeError):
            mine.ack_upto("1")
        with self.assertRaises(TypeError):
            mine.ack_upto(True)
        self.assertEqual(self.engine.stats("jobs")["in_flight"], 1)
        mine.close()
        self.assertError(corq.ECLOSED, mine.ack_upto, 1)
        delivery.ack()


class WaitDurableTest(EngineTestCase):
    def test_wait_durable_returns_at_once_in_memory_for_an_assigned_id(self):
        self.engine.declare("jobs")
        message_id = self.engine.publish("jobs", b"x", nowait=True)
        self.engine.wait_durable(message_id)
        self.engine.wait_durable(message_id, timeout_ms=0)

    def test_wait_durable_refuses_ids_never_assigned_and_bad_timeouts(self):
        self.engine.declare("jobs")
        message_id = self.engine.publish("jobs", b"x")
        error = self.assertError(corq.EINVAL, self.engine.wait_durable, message_id + 1000)
        self.assertIn("never assigned", error.detail)
        self.assertError(corq.EINVAL, self.engine.wait_durable, -1)
        self.assertError(corq.EINVAL, self.engine.wait_durable, 2**64)
        self.assertError(corq.EINVAL, self.engine.wait_durable, message_id, -2)
        self.assertError(corq.EINVAL, self.engine.wait_durable, message_id, 2**31)
        self.assertError(corq.EINVAL, self.engine.sync, 2**32)  # not truncated to 0
        with self.engine.producer("jobs") as producer:
            self.assertError(corq.EINVAL, producer.flush, -2)
        with self.assertRaises(TypeError):
            self.engine.wait_durable(message_id, 1.5)


class TempQueueTest(EngineTestCase):
    def test_declare_temp_names_a_queue_deleted_with_its_last_consumer(self):
        name = self.engine.declare_temp(max_length=10)
        self.assertRegex(name, r"^corq\.gen-[0-9a-f]{16}$")
        self.assertNotEqual(self.engine.declare_temp(), name)
        self.engine.declare_exchange("events", "fanout")
        self.engine.bind("events", name)
        self.assertEqual(self.engine.publish_to_exchange("events", "", b"e").routed, 1)
        options = json.loads(self.engine.stats_json())["queues"][name]["options"]
        self.assertEqual((options["max_length"], options["durable"]), (10, False))
        with self.engine.consumer(name) as consumer:
            self.assertEqual(consumer.consume(WAIT_MS).data, b"e")
        self.assertError(corq.ENOENT, self.engine.stats, name)
        self.assertEqual(self.engine.exchange_stats("events")["bindings"], 0)

    def test_declare_temp_refuses_durable_and_keep_options(self):
        self.assertError(corq.EINVAL, self.engine.declare_temp, durable=True)
        self.assertError(corq.EINVAL, self.engine.declare_temp, auto_delete=False)
        self.assertError(corq.EINVAL, self.engine.declare_temp, no_such_option=1)
        self.engine.close()
        self.assertError(corq.ECLOSED, self.engine.declare_temp)


class RequestReplyTest(EngineTestCase):
    def responder(self, queue, answer, count=1):
        """A thread that answers `count` requests on `queue` with answer(delivery)."""
        consumer = self.engine.consumer(queue, 4)
        seen = []

        def serve():
            for _ in range(count):
                delivery = consumer.consume(WAIT_MS)
                if delivery is None:
                    return
                seen.append(delivery)
                data, headers = answer(delivery)
                delivery.respond(data, headers)

        thread = threading.Thread(target=serve)
        thread.start()

        def finish():
            thread.join(WAIT_MS / 1000)
            consumer.close()

        self.addCleanup(finish)
        return seen, thread

    def test_request_gets_the_response_with_its_correlation_id(self):
        self.engine.declare("rpc")
        seen, thread = self.responder("rpc", lambda d: (d.data.upper(), {"served-by": b"t1"}))
        reply = self.engine.request("", "rpc", bytearray(b"ping"), headers={"h": b"1"},
                                    timeout_ms=WAIT_MS)
        thread.join(WAIT_MS / 1000)
        self.assertIsInstance(reply, corq.Reply)
        self.assertEqual(reply.data, b"PING")
        self.assertEqual(reply.headers["served-by"], b"t1")
        request = seen[0]
        self.assertEqual(request.headers["h"], b"1")
        self.assertTrue(request.headers["x-reply-to"].startswith(b"corq.reply-"))
        self.assertEqual(reply.headers["x-correlation-id"], request.headers["x-correlation-id"])
        stats = self.engine.stats("rpc")  # respond acked the request
        self.assertEqual((stats["acked"], stats["in_flight"]), (1, 0))

    def test_request_through_an_exchange(self):
        self.engine.declare_exchange("services", "direct")
        self.engine.declare("prices")
        self.engine.bind("services", "prices", "price.get")
        seen, thread = self.responder("prices", lambda d: (b"42", None))
        reply = self.engine.request("services", "price.get", b"?", timeout_ms=WAIT_MS)
        thread.join(WAIT_MS / 1000)
        self.assertEqual(reply.data, b"42")
        self.assertEqual(set(reply.headers), {"x-correlation-id"})
        self.assertEqual(seen[0].headers["x-exchange"], b"services")

    def test_request_without_a_responder_times_out_or_is_unroutable(self):
        self.engine.declare("rpc")
        started = time.monotonic()
        error = self.assertError(corq.ETIMEDOUT, self.engine.request, "", "rpc", b"x",
                                 timeout_ms=30)
        self.assertGreaterEqual(time.monotonic() - started, 0.025)
        self.assertIn("30 ms", error.detail)
        self.assertError(corq.EUNROUTABLE, self.engine.request, "", "nobody", b"x")
        self.assertError(corq.ENOENT, self.engine.request, "no-exchange", "k", b"x")
        self.assertError(corq.EINVAL, self.engine.request, "", "rpc", b"x", timeout_ms=-2)
        self.assertError(corq.EINVAL, self.engine.request, "", "rpc", b"x", timeout_ms=2**31)
        with self.assertRaises(TypeError):
            self.engine.request("", "rpc", "text")

    def test_respond_to_a_plain_message_is_einval_and_acks_nothing(self):
        self.engine.declare("jobs")
        self.engine.publish("jobs", b"not a request")
        delivery = self.consumer("jobs").consume(WAIT_MS)
        error = self.assertError(corq.EINVAL, delivery.respond, b"answer")
        self.assertIn("x-reply-to", error.detail)
        delivery.ack()  # still held after the refused respond

    def test_respond_twice_is_estate(self):
        self.engine.declare("rpc")
        seen, thread = self.responder("rpc", lambda d: (b"first", None))
        self.assertEqual(self.engine.request("", "rpc", b"x", timeout_ms=WAIT_MS).data, b"first")
        thread.join(WAIT_MS / 1000)
        self.assertError(corq.ESTATE, seen[0].respond, b"again")


class LogCallbackTest(unittest.TestCase):
    def test_log_lines_reach_the_callback_until_it_is_removed(self):
        engine = corq.Engine()
        lines = []
        engine.set_log_callback(lambda level, message: lines.append(("first", level, message)))
        engine.set_log_callback(lambda level, message: lines.append(("second", level, message)))
        engine.close()  # logs "engine closed" at LOG_INFO, from this thread
        self.assertEqual(lines, [("second", corq.LOG_INFO, "engine closed")])
        engine = corq.Engine()
        engine.set_log_callback(lambda level, message: lines.append(("third", level, message)))
        engine.set_log_callback(None)
        engine.close()
        self.assertEqual(len(lines), 1)

    def test_an_exception_in_the_callback_goes_to_unraisablehook_not_into_corq(self):
        raised = []
        previous = sys.unraisablehook
        sys.unraisablehook = lambda unraisable: raised.append(unraisable.exc_type)
        try:
            engine = corq.Engine()

            def broken(level, message):
                raise RuntimeError("log sink down")

            engine.set_log_callback(broken)
            engine.close()
        finally:
            sys.unraisablehook = previous
        self.assertEqual(raised, [RuntimeError])
        self.assertTrue(engine.closed)

    def test_bad_callbacks_and_closed_engines_are_refused(self):
        engine = corq.Engine()
        with self.assertRaises(TypeError):
            engine.set_log_callback("print")
        engine.close()
        with self.assertRaises(corq.Error) as caught:
            engine.set_log_callback(print)
        self.assertEqual(caught.exception.code, corq.ECLOSED)

    def test_a_callback_left_set_at_exit_is_removed_before_python_shuts_down(self):
        program = (
            "import corq\n"
            "engine = corq.Engine()\n"
            "engine.set_log_callback(lambda level, message: print('logged', message))\n"
            "print('exiting')\n"
        )
        result = subprocess.run([sys.executable, "-c", program], env=_child_environment(),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout.decode().split(), ["exiting"])
        self.assertEqual(result.stderr, b"")


def _child_environment(**changes):
    """This process's environment for a child that imports the same corq package: PYTHONPATH
    leads to it; each change sets a variable (None: removes it)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = PACKAGE_PARENT
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def _loaded_library_file():
    """The file of the libcorq this process mapped (from /proc/self/maps), or None."""
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                path = line.split(None, 5)[-1].strip()
                if os.path.basename(path).startswith("libcorq.so"):
                    return path
    except OSError:
        pass
    return None


# What a child prints: what corq loaded, and the file the process mapped.
_REPORT = (
    "import corq, os, sys\n"
    "sys.path.insert(0, %r)\n"
    "import test_corq\n"
    "print(corq.library_path)\n"
    "print(os.path.realpath(test_corq._loaded_library_file()))\n"
) % HERE


class LibraryLookupTest(unittest.TestCase):
    """The order of the module docstring, each step in a child process with its own environment."""

    def setUp(self):
        mapped = _loaded_library_file()
        if mapped is None:
            self.skipTest("no /proc/self/maps entry for libcorq")
        self.library = os.path.realpath(mapped)
        self.libdir = os.path.dirname(mapped)
        self.scratch = tempfile.TemporaryDirectory()
        self.addCleanup(self.scratch.cleanup)

    def child(self, program=_REPORT, **changes):
        changes.setdefault("CORQ_LIBRARY", None)
        changes.setdefault("LD_LIBRARY_PATH", None)
        return subprocess.run([sys.executable, "-c", program], env=_child_environment(**changes),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)

    def write_pc(self, folder, libdir):
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "corq.pc"), "w") as pc:
            pc.write("libdir=%s\nincludedir=%s\n\nName: corq\nDescription: test\n"
                     "Version: %s\nLibs: -L${libdir} -lcorq\nCflags: -I${includedir}\n"
                     % (libdir, libdir, corq.version()))
        return folder

    def expected_in(self, libdir):
        for name in ("libcorq.so.0", "libcorq.so"):
            if os.path.exists(os.path.join(libdir, name)):
                return os.path.join(libdir, name)
        self.skipTest("neither libcorq.so.0 nor libcorq.so in " + libdir)

    def test_pkg_config_finds_the_library_when_corq_library_is_unset(self):
        if shutil.which("pkg-config") is None:
            self.skipTest("no pkg-config program")
        pc = self.write_pc(os.path.join(self.scratch.name, "pc"), self.libdir)
        result = self.child(PKG_CONFIG_PATH=pc, PKG_CONFIG_LIBDIR=pc)
        self.assertEqual(result.returncode, 0, result.stderr)
        loaded, mapped = result.stdout.decode().split("\n")[:2]
        self.assertEqual(loaded, self.expected_in(self.libdir))
        self.assertEqual(mapped, self.library)

    def test_corq_library_wins_over_pkg_config(self):
        pc = self.write_pc(os.path.join(self.scratch.name, "pc"), "/nonexistent/lib")
        result = self.child(CORQ_LIBRARY=self.library, PKG_CONFIG_PATH=pc, PKG_CONFIG_LIBDIR=pc)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout.decode().split("\n")[:2], [self.library, self.library])

    def test_a_bad_corq_library_is_an_import_error_naming_it(self):
        for bad in ("/nonexistent/libcorq.so", os.path.abspath(__file__)):
            result = self.child("import corq", CORQ_LIBRARY=bad)
            self.assertNotEqual(result.returncode, 0)
            stderr = result.stderr.decode()
            self.assertIn("ImportError: corq: cannot load the library CORQ_LIBRARY names (%s)"
                          % bad, stderr)

    def test_the_loader_path_comes_after_pkg_config(self):
        # pkg-config knows nothing of corq: LD_LIBRARY_PATH finds "libcorq.so.0".
        if not os.path.exists(os.path.join(self.libdir, "libcorq.so.0")):
            self.skipTest("no libcorq.so.0 in " + self.libdir)
        empty = os.path.join(self.scratch.name, "empty")
        os.makedirs(empty)
        result = self.child(PKG_CONFIG_PATH=empty, PKG_CONFIG_LIBDIR=empty,
                            LD_LIBRARY_PATH=self.libdir)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout.decode().split("\n")[:2], ["libcorq.so.0", self.library])
        # pkg-config knows corq, but its libdir has no library: the loader still finds it.
        pc = self.write_pc(os.path.join(self.scratch.name, "pc"), empty)
        result = self.child(PKG_CONFIG_PATH=pc, PKG_CONFIG_LIBDIR=pc, LD_LIBRARY_PATH=self.libdir)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout.decode().split("\n")[:2], ["libcorq.so.0", self.library])

    def test_nothing_found_is_an_import_error_listing_every_attempt(self):
        empty = os.path.join(self.scratch.name, "empty")
        os.makedirs(empty)
        result = self.child("import corq; print(corq.library_path)",
                            PKG_CONFIG="/nonexistent/pkg-config", PKG_CONFIG_PATH=empty)
        if result.returncode == 0:
            self.skipTest("a libcorq is installed where the loader looks: "
                          + result.stdout.decode().strip())
        stderr = result.stderr.decode()
        self.assertIn("ImportError: corq: cannot find libcorq: set CORQ_LIBRARY", stderr)
        self.assertIn("pkg-config: no program '/nonexistent/pkg-config'", stderr)
        self.assertIn("libcorq.so.0", stderr)


class ExamplesTest(unittest.TestCase):
    """The examples of README.md, run as a user runs them, against the corq under test."""

    def run_example(self, name):
        path = os.path.join(HERE, "examples", name)
        if not os.path.exists(path):
            self.skipTest("no " + path)
        result = subprocess.run([sys.executable, path], env=_child_environment(),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        self.assertEqual(result.returncode, 0, result.stderr.decode())
        return result.stdout.decode()

    def test_work_queue(self):
        output = self.run_example("work_queue.py")
        self.assertIn("workers: 9 acked, 12 failed attempts", output)
        self.assertTrue(output.endswith("work_queue: ok\n"), output)

    def test_pubsub(self):
        output = self.run_example("pubsub.py")
        self.assertIn("shop: payment.refunded refused: CORQ_EUNROUTABLE", output)
        self.assertTrue(output.endswith("pubsub: ok\n"), output)


class BenchTest(unittest.TestCase):
    """bench.py (the bindings' common benchmark protocol) runs and reports as the protocol says."""

    def test_bench_prints_one_json_line_per_mode(self):
        path = os.path.join(HERE, "bench.py")
        if not os.path.exists(path):
            self.skipTest("no " + path)
        result = subprocess.run([sys.executable, path, "--messages", "640"],
                                env=_child_environment(), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, timeout=60)
        self.assertEqual(result.returncode, 0, result.stderr.decode())
        lines = [json.loads(line) for line in result.stdout.decode().splitlines()]
        self.assertEqual([(r["binding"], r["mode"], r["messages"]) for r in lines],
                         [("python", "single", 640), ("python", "batch", 640)])
        self.assertTrue(all(r["seconds"] > 0 for r in lines))
        bad = subprocess.run([sys.executable, path, "--messages", "100"], env=_child_environment(),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        self.assertEqual(bad.returncode, 2)
        self.assertIn(b"multiple of 64", bad.stderr)


def _durable_engines_unsupported():
    """None if corq_open accepts a data directory, else the library's reason."""
    with tempfile.TemporaryDirectory() as directory:
        try:
            corq.Engine(directory).close()
        except corq.Error as error:
            return "durable engines not in this build: %s" % error
    return None


_DURABLE_SKIP = _durable_engines_unsupported()


@unittest.skipIf(_DURABLE_SKIP is not None, _DURABLE_SKIP or "")
class DurableTest(unittest.TestCase):
    """Written against the contract in corq.h and DESIGN.md; runs once corq_open takes a dir."""

    def setUp(self):
        self.directory = tempfile.TemporaryDirectory()
        self.addCleanup(self.directory.cleanup)

    def reopen(self, **options):
        engine = corq.Engine(self.directory.name, **options)
        self.addCleanup(engine.close)
        return engine

    def test_published_messages_survive_a_reopen(self):
        with corq.Engine(self.directory.name) as engine:
            engine.declare("orders", durable=True)
            ids = [engine.publish("orders", b"%d" % i, headers={"n": b"%d" % i}) for i in range(3)]
        engine = self.reopen()
        engine.declare("orders", durable=True)
        with engine.consumer("orders", 8) as consumer:
            got = consumer.consume_many(8, WAIT_MS)
            self.assertEqual([(d.data, d.headers["n"], d.message_id) for d in got],
                             [(b"%d" % i, b"%d" % i, ids[i]) for i in range(3)])

    def test_acked_messages_do_not_come_back_after_sync(self):
        with corq.Engine(self.directory.name) as engine:
            engine.declare("orders", durable=True)
            engine.publish("orders", b"done")
            engine.publish("orders", b"todo")
            with engine.consumer("orders", 1) as consumer:
                consumer.consume(WAIT_MS).ack()
            engine.sync(WAIT_MS)
        engine = self.reopen()
        with engine.consumer("orders", 8) as consumer:
            self.assertEqual([d.data for d in consumer.consume_many(8, WAIT_MS)], [b"todo"])

    def test_nowait_publishes_and_producer_batches_are_durable_after_sync_and_flush(self):
        with corq.Engine(self.directory.name, sync="always") as engine:
            engine.declare("orders", durable=True)
            engine.publish("orders", b"a", nowait=True)
            engine.sync(WAIT_MS)
            with engine.producer("orders") as producer:
                producer.send([b"b", b"c"], nowait=True)
                producer.flush(WAIT_MS)
        engine = self.reopen()
        self.assertEqual(engine.stats("orders")["ready"], 3)

    def test_dead_letters_of_a_durable_queue_survive_a_reopen(self):
        with corq.Engine(self.directory.name) as engine:
            engine.declare("orders", durable=True)
            engine.publish("orders", b"poison")
            with engine.consumer("orders", 1) as consumer:
                consumer.consume(WAIT_MS).reject("bad")
            engine.sync(WAIT_MS)
        engine = self.reopen()
        with engine.consumer("orders.dlq", 1) as consumer:
            dead = consumer.consume(WAIT_MS)
            self.assertEqual((dead.data, dead.headers["x-death-reason"]), (b"poison", b"rejected"))

    def test_queues_on_a_disk_engine_are_durable_by_default(self):
        engine = self.reopen()
        engine.declare("orders")
        options = json.loads(engine.stats_json())["queues"]["orders"]["options"]
        self.assertIs(options["durable"], True)

    def test_a_second_open_of_the_directory_is_ebusy(self):
        self.reopen()
        with self.assertRaises(corq.Error) as caught:
            corq.Engine(self.directory.name)
        self.assertEqual(caught.exception.code, corq.EBUSY)
        self.assertTrue(caught.exception.detail)

    def test_fanned_out_copies_in_durable_queues_survive_a_reopen_with_one_id(self):
        with corq.Engine(self.directory.name) as engine:
            engine.declare_exchange("orders", "topic")
            for queue in ("inventory", "email"):
                engine.declare(queue)
                engine.bind("orders", queue, "order.*")
            published = engine.publish_to_exchange("orders", "order.placed", b"o-1")
            self.assertEqual(published.routed, 2)
        engine = self.reopen()
        for queue in ("inventory", "email"):
            with engine.consumer(queue, 1) as consumer:
                delivery = consumer.consume(WAIT_MS)
                self.assertEqual((delivery.data, delivery.message_id),
                                 (b"o-1", published.message_id))
                self.assertEqual(delivery.headers["x-routing-key"], b"order.placed")
                delivery.ack()

    def test_durable_exchanges_and_bindings_come_back_after_a_reopen(self):
        with corq.Engine(self.directory.name) as engine:
            engine.declare_exchange("orders", "topic")
            engine.declare_exchange("scratch", "fanout", durable=False)
            engine.declare("inventory")
            engine.bind("orders", "inventory", "order.*")
        engine = self.reopen()
        stats = engine.exchange_stats("orders")  # DESIGN.md §6 "Durability"
        self.assertEqual(stats["bindings"], 1)
        with self.assertRaises(corq.Error) as caught:
            engine.exchange_stats("scratch")
        self.assertEqual(caught.exception.code, corq.ENOENT)
        self.assertEqual(engine.publish_to_exchange("orders", "order.paid", b"o-2").routed, 1)

    def test_durable_streams_and_group_offsets_come_back_after_a_reopen(self):
        with corq.Engine(self.directory.name) as engine:
            engine.declare_stream("events", partitions=2)  # durable by default on a disk engine
            first = engine.append("events", b"placed", key=b"order-1")
            engine.append("events", b"paid", key=b"order-1")
            with engine.group_consumer("events", "billing", prefetch=8) as member:
                member.consume(timeout_ms=0).ack()  # "placed" settled, "paid" not
        engine = self.reopen()
        self.assertEqual(engine.stream_stats("events")["records"], 2)
        with engine.stream_reader("events", first.partition) as reader:
            self.assertEqual([r.data for r in reader.read(8)], [b"placed", b"paid"])
        self.assertEqual(engine.group_stats("events", "billing")["lag"], 1)
        with engine.group_consumer("events", "billing", prefetch=8) as member:
            delivery = member.consume(timeout_ms=0)
            self.assertEqual(delivery.data, b"paid")
            self.assertEqual(delivery.message_id, first.offset + 1)
            delivery.ack()

    def test_a_committed_transaction_survives_a_reopen_and_an_aborted_one_does_not(self):
        with corq.Engine(self.directory.name) as engine:
            engine.declare("in")
            engine.declare("out")
            engine.declare_stream("s")
            engine.publish("in", b"a")
            engine.publish("in", b"b")
            with engine.consumer("in", 2) as consumer:
                first, second = consumer.consume_many(2, WAIT_MS)
                with engine.transaction() as txn:
                    txn.publish("", "out", b"from-a")
                    txn.append("s", b"from-a")
                    txn.ack(first)
                with engine.transaction() as txn:
                    txn.publish("", "out", b"from-b")
                    txn.ack(second)
                    txn.abort()
        engine = self.reopen()
        with engine.consumer("out") as consumer:
            delivery = consumer.consume(WAIT_MS)
            self.assertEqual(delivery.data, b"from-a")
            self.assertIsNone(consumer.consume(0))
        with engine.stream_reader("s") as reader:
            self.assertEqual([r.data for r in reader.read(16, 0)], [b"from-a"])
        with engine.consumer("in") as consumer:
            again = consumer.consume(WAIT_MS)
            self.assertEqual((again.data, again.delivery_count), (b"b", 2))
            self.assertIsNone(consumer.consume(0))

    def test_in_flight_delivery_comes_back_after_a_reopen_with_its_count(self):
        engine = corq.Engine(self.directory.name)
        engine.declare("orders", durable=True)
        engine.publish("orders", b"a")
        consumer = engine.consumer("orders", 1)
        self.assertEqual(consumer.consume(WAIT_MS).delivery_count, 1)
        engine.close()  # with the delivery unsettled
        consumer.close()
        with self.reopen().consumer("orders", 1) as consumer:
            again = consumer.consume(WAIT_MS)
            self.assertEqual((again.data, again.delivery_count), (b"a", 2))


if __name__ == "__main__":
    unittest.main()
