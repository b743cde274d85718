// corq/mpmc_ring.hpp — a bounded multi-producer multi-consumer ring.
//
// Any number of threads may push and pop concurrently. Lock-free: a thread that loses a race
// retries, but some thread always makes progress. No allocation after construction.
//
// Algorithm: Dmitry Vyukov's bounded MPMC queue. Every slot carries a sequence number that says
// whose turn it is:
//   sequence == i          slot is empty and waiting for the producer that claims index i;
//   sequence == i + 1      slot holds the element of index i, waiting for the consumer of index i;
//   sequence == i + cap    slot was consumed and is waiting for the producer of lap i + cap.
// A producer claims index i by CAS on enqueue_index_ (only if the slot says it is its turn), writes
// the element, then publishes by storing sequence = i + 1 (release). Consumers mirror this. The two
// shared indices live on their own cache lines; a slot's sequence and element share the slot's
// line.
//
// Each slot stores its sequence minus its own slot number (its "turn"), so a freshly zero-filled
// slot array already says "every slot empty, lap 0" and construction touches no memory: the slot
// array of a large ring is committed page by page as the ring first fills (see ring_storage.hpp).
//
// Bulk operations scan forward over consecutive slots whose sequence says "your turn" and claim all
// of them with one CAS; each slot is then published individually (consumers of earlier slots do not
// wait for later ones). A partial bulk takes whatever prefix is ready.
//
// Capacity bounds positions, not elements: a pop that has claimed a slot but not yet moved its
// element out (a thread preempted mid-pop) keeps that slot, and a push one lap later fails there
// even though size() counts the element as gone and the ring holds far fewer than capacity(). Such
// a failure while size() < capacity() is transient; a caller that must not reorder waits for it
// (the engine's Queue::push_in_order does) rather than putting the element elsewhere.
#pragma once

#include <corq/platform.hpp>
#include <corq/ring_storage.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <new>
#include <type_traits>
#include <utility>

namespace corq {

template <class T>
class MpmcRing {
 public:
  /// Creates a ring holding at least `capacity` elements (rounded up to a power of two).
  /// Throws std::invalid_argument if capacity is 0 or above 2^30, std::bad_alloc on no memory.
  explicit MpmcRing(std::size_t capacity)
      : cells_(detail::ring_capacity_for(capacity)), mask_(cells_.size() - 1) {}

  /// Destroys the elements still in the ring. No other thread may be using it.
  ~MpmcRing() {
    const std::size_t write = enqueue_index_.load(std::memory_order_acquire);
    if constexpr (!std::is_trivially_destructible_v<T>) {
      for (std::size_t i = dequeue_index_.load(std::memory_order_acquire); i != write; ++i) {
        cell(i).element()->~T();
      }
    }
  }

  MpmcRing(const MpmcRing &) = delete;
  MpmcRing &operator=(const MpmcRing &) = delete;

  std::size_t capacity() const noexcept { return mask_ + 1; }

  /// Any thread. Constructs an element in place; false (nothing constructed) if full.
  template <class... Args>
  bool try_emplace(Args &&...args) noexcept(std::is_nothrow_constructible_v<T, Args &&...>) {
    std::size_t index = enqueue_index_.load(std::memory_order_relaxed);
    for (;;) {
      Cell &c = cell(index);
      // Acquire pairs with the consumer's release of this slot: its old element is gone.
      const std::size_t sequence = load_sequence(index);
      const auto lag = static_cast<std::intptr_t>(sequence - index);
      if (lag == 0) {
        // Relaxed CAS: the claim needs no ordering, the slot's sequence carries the data.
        if (enqueue_index_.compare_exchange_weak(index, index + 1, std::memory_order_relaxed)) {
          ::new (static_cast<void *>(c.element())) T(std::forward<Args>(args)...);
          store_sequence(index, index + 1);  // publish to the consumer
          return true;
        }  // CAS failure reloaded `index`
      } else if (lag < 0) {
        return false;  // the slot still holds the element of the previous lap: full
      } else {
        index = enqueue_index_.load(std::memory_order_relaxed);  // another producer got ahead
      }
    }
  }

  bool try_push(const T &value) noexcept(std::is_nothrow_copy_constructible_v<T>) {
    return try_emplace(value);
  }
  /// Moves `value` in; false if full (and `value` is left untouched).
  bool try_push(T &&value) noexcept(std::is_nothrow_move_constructible_v<T>) {
    return try_emplace(std::move(value));
  }

  /// Any thread. Moves the oldest available element into `out`; false if empty.
  bool try_pop(T &out) noexcept(std::is_nothrow_move_assignable_v<T>) {
    std::size_t index = dequeue_index_.load(std::memory_order_relaxed);
    for (;;) {
      Cell &c = cell(index);
      // Acquire pairs with the producer's publish: the element is fully constructed.
      const std::size_t sequence = load_sequence(index);
      const auto lag = static_cast<std::intptr_t>(sequence - (index + 1));
      if (lag == 0) {
        if (dequeue_index_.compare_exchange_weak(index, index + 1, std::memory_order_relaxed)) {
          out = std::move(*c.element());
          c.element()->~T();
          store_sequence(index, index + capacity());  // free for next lap
          return true;
        }
      } else if (lag < 0) {
        return false;  // not yet published: empty
      } else {
        index = dequeue_index_.load(std::memory_order_relaxed);
      }
    }
  }

  /// Any thread. Copies a prefix of `values[0..count)` in with one claim; returns its length.
  std::size_t try_push_bulk(const T *values,
                            std::size_t count) noexcept(std::is_nothrow_copy_constructible_v<T>) {
    return try_emplace_bulk(count, [values](std::size_t i) -> const T & { return values[i]; });
  }

  /// Any thread. Claims up to `count` slots with one CAS and constructs element i of the claimed
  /// prefix from `make(i)`; returns how many. Lets a caller fill the ring without a staging array.
  template <class Make>
  std::size_t try_emplace_bulk(std::size_t count, Make &&make) {
    std::size_t first = 0;
    const std::size_t n = claim(enqueue_index_, count, 0, first);
    for (std::size_t i = 0; i < n; ++i) {
      ::new (static_cast<void *>(cell(first + i).element())) T(make(i));
      store_sequence(first + i, first + i + 1);
    }
    return n;
  }

  /// Any thread. Moves up to `count` of the oldest available elements into `out`; returns how many.
  std::size_t try_pop_bulk(T *out,
                           std::size_t count) noexcept(std::is_nothrow_move_assignable_v<T>) {
    return try_pop_bulk_with(count,
                             [out](std::size_t i, T &&element) { out[i] = std::move(element); });
  }

  /// Any thread. Claims up to `count` of the oldest elements with one CAS and hands element i of
  /// them to `take(i, T&&)`; returns how many.
  template <class Take>
  std::size_t try_pop_bulk_with(std::size_t count, Take &&take) {
    std::size_t first = 0;
    const std::size_t n = claim(dequeue_index_, count, 1, first);
    for (std::size_t i = 0; i < n; ++i) {
      T *element = cell(first + i).element();
      take(i, std::move(*element));
      element->~T();
      store_sequence(first + i, first + i + capacity());
    }
    return n;
  }

  /// Any thread. Copies the oldest element into `out` without removing it; false if empty. Only for
  /// types whose copy reads nothing but atomics, with acquire loads (the element may be popped, and
  /// its slot refilled, while it is being copied; acquire keeps the re-check of the slot after the
  /// copy, and the copy is kept only if the slot did not change meanwhile — a seqlock read).
  bool peek_front(T &out) const noexcept {
    static_assert(std::is_nothrow_copy_assignable_v<T>);
    for (;;) {
      const std::size_t index = dequeue_index_.load(std::memory_order_acquire);
      if (load_sequence(index) != index + 1) {
        if (dequeue_index_.load(std::memory_order_acquire) == index) return false;  // empty
        continue;                                                                   // raced a pop
      }
      out = *cell(index).element();
      if (load_sequence(index) == index + 1) return true;  // still the same element: copy is whole
    }
  }

  /// A snapshot of the element count (claimed-but-unpublished elements included).
  std::size_t size() const noexcept {
    const std::size_t read = dequeue_index_.load(std::memory_order_acquire);
    const std::size_t write = enqueue_index_.load(std::memory_order_acquire);
    return write > read ? write - read : 0;
  }
  bool empty() const noexcept { return size() == 0; }

 private:
  struct Cell {
    std::size_t turn;  // sequence - slot number; accessed only through std::atomic_ref
    alignas(T) unsigned char storage[sizeof(T)];
    T *element() noexcept { return std::launder(reinterpret_cast<T *>(storage)); }
  };
  static_assert(alignof(Cell) >= std::atomic_ref<std::size_t>::required_alignment);

  Cell &cell(std::size_t index) const noexcept { return cells_.data()[index & mask_]; }

  /// The sequence number of the slot of `index` (acquire: pairs with store_sequence's release).
  std::size_t load_sequence(std::size_t index) const noexcept {
    return std::atomic_ref<std::size_t>(cell(index).turn).load(std::memory_order_acquire) +
           (index & mask_);
  }
  void store_sequence(std::size_t index, std::size_t sequence) noexcept {
    std::atomic_ref<std::size_t>(cell(index).turn)
        .store(sequence - (index & mask_), std::memory_order_release);
  }

  /// Claims up to `count` consecutive indices from `shared_index` whose slots are ready for this
  /// side (`turn` 0 = producer: sequence == index; 1 = consumer: sequence == index + 1).
  /// Returns how many were claimed and their first index in `first`.
  std::size_t claim(std::atomic<std::size_t> &shared_index, std::size_t count, std::size_t turn,
                    std::size_t &first) noexcept {
    std::size_t index = shared_index.load(std::memory_order_relaxed);
    for (;;) {
      std::size_t ready = 0;
      while (ready < count && ready <= mask_ &&
             load_sequence(index + ready) == index + ready + turn) {
        ++ready;
      }
      if (ready == 0) {
        const std::size_t sequence = load_sequence(index);
        if (static_cast<std::intptr_t>(sequence - (index + turn)) < 0) return 0;  // full / empty
        index = shared_index.load(std::memory_order_relaxed);  // lost a race; look again
        continue;
      }
      if (shared_index.compare_exchange_weak(index, index + ready, std::memory_order_relaxed)) {
        first = index;
        return ready;
      }
    }
  }

  // Read-only after construction.
  detail::SlotArray<Cell> cells_;
  std::size_t mask_;
  // Written by producers only.
  alignas(cache_line_bytes) std::atomic<std::size_t> enqueue_index_{0};
  // Written by consumers only.
  alignas(cache_line_bytes) std::atomic<std::size_t> dequeue_index_{0};
  char tail_padding_[cache_line_bytes - sizeof(std::size_t)] = {};
};

}  // namespace corq
