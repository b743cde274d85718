// bench/rings/ring_peers.hpp — corq's rings and the queues they are compared with, behind one
// shape.
//
// A peer is a queue of std::uint64_t plus the per-thread handles the benchmark loops use:
//
//   Peer peer(ring_capacity);
//   auto producer = peer.producer();   // in the producing thread (moodycamel: a ProducerToken)
//   auto consumer = peer.consumer();   // in the consuming thread (moodycamel: a ConsumerToken)
//   producer.try_push(v) -> bool        producer.try_push_bulk(values, n) -> pushed (a prefix)
//   consumer.try_pop(v)  -> bool        consumer.try_pop_bulk(out, n)    -> popped
//
// How each peer is used, so that every one runs the way its documentation recommends:
//   corq::SpscRing / corq::MpmcRing   capacity 4096.
//   boost::lockfree::spsc_queue       capacity 4096 fixed at compile time (its fastest form);
//                                     bulk is its push(const T*, n) / pop(T*, n).
//   boost::lockfree::queue            fixed_sized, 4096 nodes: bounded, never allocates.
//   moodycamel::ConcurrentQueue       with a ProducerToken/ConsumerToken per thread (its fast
//   path);
//                                     pre-sized to 4096 and unbounded (enqueue allocates a block
//                                     when the pre-sized ones are in use), as it is used in
//                                     practice.
#pragma once

#include "bench_harness.hpp"

#include <corq/mpmc_ring.hpp>
#include <corq/spsc_ring.hpp>

#include <concurrentqueue/concurrentqueue.h>
#include <boost/lockfree/queue.hpp>
#include <boost/lockfree/spsc_queue.hpp>

#include <cstddef>
#include <cstdint>

namespace corq::bench {

using Item = std::uint64_t;

/// Handles over a queue whose operations need no per-thread state (corq and Boost).
template <class Queue, class Ops>
struct PlainHandle {
  Queue *queue;
  bool try_push(Item v) { return Ops::push(*queue, v); }
  std::size_t try_push_bulk(const Item *v, std::size_t n) { return Ops::push_bulk(*queue, v, n); }
  bool try_pop(Item &v) { return Ops::pop(*queue, v); }
  std::size_t try_pop_bulk(Item *out, std::size_t n) { return Ops::pop_bulk(*queue, out, n); }
};

template <class Ring>
struct CorqOps {
  static bool push(Ring &r, Item v) { return r.try_push(v); }
  static std::size_t push_bulk(Ring &r, const Item *v, std::size_t n) {
    return r.try_push_bulk(v, n);
  }
  static bool pop(Ring &r, Item &v) { return r.try_pop(v); }
  static std::size_t pop_bulk(Ring &r, Item *out, std::size_t n) { return r.try_pop_bulk(out, n); }
};

/// corq's ring `CorqRing` (SpscRing or MpmcRing of Item) as a peer: both have the same API.
template <class CorqRing>
struct CorqPeer {
  static constexpr const char *name = "corq";
  using Ring = CorqRing;
  using Handle = PlainHandle<Ring, CorqOps<Ring>>;
  explicit CorqPeer(std::size_t capacity) : ring(capacity) {}
  Handle producer() { return Handle{&ring}; }
  Handle consumer() { return Handle{&ring}; }
  Ring ring;
};
using CorqSpsc = CorqPeer<corq::SpscRing<Item>>;
using CorqMpmc = CorqPeer<corq::MpmcRing<Item>>;

struct BoostSpsc {
  static constexpr const char *name = "boost";
  using Queue = boost::lockfree::spsc_queue<Item, boost::lockfree::capacity<ring_capacity>>;
  struct Ops {
    static bool push(Queue &q, Item v) { return q.push(v); }
    static std::size_t push_bulk(Queue &q, const Item *v, std::size_t n) { return q.push(v, n); }
    static bool pop(Queue &q, Item &v) { return q.pop(v); }
    static std::size_t pop_bulk(Queue &q, Item *out, std::size_t n) { return q.pop(out, n); }
  };
  using Handle = PlainHandle<Queue, Ops>;
  explicit BoostSpsc(std::size_t /*capacity: fixed at compile time*/) {}
  Handle producer() { return Handle{&queue}; }
  Handle consumer() { return Handle{&queue}; }
  Queue queue;
};

struct BoostMpmc {
  static constexpr const char *name = "boost";
  using Queue = boost::lockfree::queue<Item, boost::lockfree::fixed_sized<true>>;
  struct Ops {
    static bool push(Queue &q, Item v) { return q.bounded_push(v); }
    static std::size_t push_bulk(Queue &q, const Item *v, std::size_t n) {
      std::size_t i = 0;
      while (i < n && q.bounded_push(v[i])) ++i;
      return i;
    }
    static bool pop(Queue &q, Item &v) { return q.pop(v); }
    static std::size_t pop_bulk(Queue &q, Item *out, std::size_t n) {
      std::size_t i = 0;
      while (i < n && q.pop(out[i])) ++i;
      return i;
    }
  };
  using Handle = PlainHandle<Queue, Ops>;
  explicit BoostMpmc(std::size_t capacity) : queue(capacity) {}
  Handle producer() { return Handle{&queue}; }
  Handle consumer() { return Handle{&queue}; }
  Queue queue;
};

// GCC 12 reports a false -Wstringop-overflow inside moodycamel's enqueue_bulk once it is inlined
// here (an atomic load through a block pointer it cannot prove non-null); the code is correct.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstringop-overflow"
#endif

/// moodycamel::ConcurrentQueue with tokens; the same type serves the SPSC and MPMC scenarios.
struct Moodycamel {
  static constexpr const char *name = "moodycamel";
  using Queue = moodycamel::ConcurrentQueue<Item>;

  struct Producer {
    Queue *queue;
    moodycamel::ProducerToken token;
    bool try_push(Item v) { return queue->enqueue(token, v); }
    std::size_t try_push_bulk(const Item *v, std::size_t n) {
      return queue->enqueue_bulk(token, v, n) ? n : 0;  // all or nothing
    }
  };
  struct Consumer {
    Queue *queue;
    moodycamel::ConsumerToken token;
    bool try_pop(Item &v) { return queue->try_dequeue(token, v); }
    std::size_t try_pop_bulk(Item *out, std::size_t n) {
      return queue->try_dequeue_bulk(token, out, n);
    }
  };

  explicit Moodycamel(std::size_t capacity) : queue(capacity) {}
  Producer producer() { return Producer{&queue, moodycamel::ProducerToken(queue)}; }
  Consumer consumer() { return Consumer{&queue, moodycamel::ConsumerToken(queue)}; }
  Queue queue;
};

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

}  // namespace corq::bench
