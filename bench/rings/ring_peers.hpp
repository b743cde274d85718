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
//                                     path); pre-sized to 4096 and unbounded (enqueue allocates a
//                                     block when the pre-sized ones are in use), as it is used in
//                                     practice.
//   moodycamel::ReaderWriterQueue     moodycamel's SPSC queue, sized for 4096; try_enqueue never
//                                     allocates, so it is bounded like the others. No bulk API:
//                                     bulk is a loop of single operations.
//   ck_ring (Concurrency Kit)         ck_ring_enqueue_spsc / ck_ring_dequeue_spsc over 4096 slots
//                                     of void* (it holds 4095: one slot tells full from empty); the
//                                     uint64_t travels as the pointer's bits. No bulk API: a loop.
#pragma once

#include "bench_harness.hpp"

#include <corq/mpmc_ring.hpp>
#include <corq/spsc_ring.hpp>

#include <concurrentqueue/concurrentqueue.h>
#include <readerwriterqueue/readerwriterqueue.h>
#include <boost/lockfree/queue.hpp>
#include <boost/lockfree/spsc_queue.hpp>

// ck_ring.h is C: one function its header defines returns `false` as a void*, which C++ rejects.
// Inside the header, `false` is spelled 0 (a null pointer constant in C++, false as a bool), so its
// functions still inline into the loops the way they would in C.
#if defined(__clang__)
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wkeyword-macro"
#endif
#define false 0
#include <ck_ring.h>
#undef false
#if defined(__clang__)
#pragma clang diagnostic pop
#endif

#include <cstddef>
#include <cstdint>
#include <vector>

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

/// Bulk for a queue that has none: single operations until one fails (a prefix, like the others).
template <class Ops, class Queue>
struct LoopedBulk {
  static std::size_t push_bulk(Queue &q, const Item *v, std::size_t n) {
    std::size_t i = 0;
    while (i < n && Ops::push(q, v[i])) ++i;
    return i;
  }
  static std::size_t pop_bulk(Queue &q, Item *out, std::size_t n) {
    std::size_t i = 0;
    while (i < n && Ops::pop(q, out[i])) ++i;
    return i;
  }
};

/// moodycamel::ReaderWriterQueue: moodycamel's own SPSC queue.
struct ReaderWriterQueue {
  static constexpr const char *name = "readerwriterqueue";
  using Queue = moodycamel::ReaderWriterQueue<Item>;
  struct Ops : LoopedBulk<Ops, Queue> {
    static bool push(Queue &q, Item v) { return q.try_enqueue(v); }  // never allocates
    static bool pop(Queue &q, Item &v) { return q.try_dequeue(v); }
  };
  using Handle = PlainHandle<Queue, Ops>;
  explicit ReaderWriterQueue(std::size_t capacity) : queue(capacity) {}
  Handle producer() { return Handle{&queue}; }
  Handle consumer() { return Handle{&queue}; }
  Queue queue;
};

/// Concurrency Kit's ck_ring in its SPSC mode.
struct CkRing {
  static constexpr const char *name = "ck_ring";
  struct Queue {
    explicit Queue(std::size_t capacity) : buffer(capacity) {
      ck_ring_init(&ring, static_cast<unsigned>(capacity));
    }
    alignas(cache_line_bytes) ck_ring_t ring;
    std::vector<ck_ring_buffer_t> buffer;
  };
  static_assert(sizeof(void *) == sizeof(Item), "the item travels as a pointer's bits");
  struct Ops : LoopedBulk<Ops, Queue> {
    static bool push(Queue &q, Item v) {
      return ck_ring_enqueue_spsc(&q.ring, q.buffer.data(), reinterpret_cast<void *>(v));
    }
    static bool pop(Queue &q, Item &v) {
      void *entry = nullptr;
      if (!ck_ring_dequeue_spsc(&q.ring, q.buffer.data(), &entry)) return false;
      v = reinterpret_cast<Item>(entry);
      return true;
    }
  };
  using Handle = PlainHandle<Queue, Ops>;
  explicit CkRing(std::size_t capacity) : queue(capacity) {}
  Handle producer() { return Handle{&queue}; }
  Handle consumer() { return Handle{&queue}; }
  Queue queue;
};

}  // namespace corq::bench
