// corq/spsc_ring.hpp — a bounded single-producer single-consumer ring.
//
// Exactly one thread may push and exactly one (other) thread may pop at a time. All operations are
// wait-free: no locks, no CAS loops, no allocation after construction.
//
// Layout (one line per row; the producer and the consumer each write only their own line):
//   line A  slots_, mask_                      read-only after construction, shared by both sides
//   line B  write_index_, read_index_cache_    written by the producer only
//   line C  read_index_, write_index_cache_    written by the consumer only
// Each side keeps a private copy of the other side's index and re-reads the shared one only when
// its copy says the ring is full (producer) or empty (consumer). In steady state a push therefore
// touches the slot and line B, and a pop the slot and line C: the only cross-core traffic is the
// slot itself plus one index line per "cache miss" of the private copy (rigtorp's SPSCQueue, Erik
// Rigtorp 2018).
//
// Indices increase monotonically (64-bit; they do not wrap in practice), so full is
// `write - read == capacity` and empty is `write == read` with no wasted slot.
//
// Bulk operations construct or move a whole batch and publish it with one release store.
#pragma once

#include <corq/platform.hpp>
#include <corq/ring_storage.hpp>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <new>
#include <type_traits>
#include <utility>

namespace corq {

template <class T>
class SpscRing {
 public:
  /// Creates a ring holding at least `capacity` elements (rounded up to a power of two).
  /// Throws std::invalid_argument if capacity is 0 or above 2^30, std::bad_alloc on no memory.
  explicit SpscRing(std::size_t capacity)
      : slots_(detail::ring_capacity_for(capacity)), mask_(slots_.size() - 1) {}

  /// Destroys the elements still in the ring. No other thread may be using it.
  ~SpscRing() {
    if constexpr (!std::is_trivially_destructible_v<T>) {
      const std::size_t write = write_index_.load(std::memory_order_acquire);
      for (std::size_t i = read_index_.load(std::memory_order_acquire); i != write; ++i)
        slot(i)->~T();
    }
  }

  SpscRing(const SpscRing &) = delete;
  SpscRing &operator=(const SpscRing &) = delete;

  std::size_t capacity() const noexcept { return mask_ + 1; }

  /// Producer only. Constructs an element in place; false (and nothing constructed) if full.
  template <class... Args>
  bool try_emplace(Args &&...args) noexcept(std::is_nothrow_constructible_v<T, Args &&...>) {
    const std::size_t write = write_index_.load(std::memory_order_relaxed);  // own index
    if (write - read_index_cache_ == capacity()) {
      // Acquire pairs with the consumer's release in pop: the slot's old element is gone.
      read_index_cache_ = read_index_.load(std::memory_order_acquire);
      if (write - read_index_cache_ == capacity()) return false;
    }
    ::new (static_cast<void *>(slot(write))) T(std::forward<Args>(args)...);
    // Release publishes the constructed element to the consumer's acquire load.
    write_index_.store(write + 1, std::memory_order_release);
    return true;
  }

  /// Producer only. Copies `value` in; false if full.
  bool try_push(const T &value) noexcept(std::is_nothrow_copy_constructible_v<T>) {
    return try_emplace(value);
  }
  /// Producer only. Moves `value` in; false if full (and `value` is left untouched).
  bool try_push(T &&value) noexcept(std::is_nothrow_move_constructible_v<T>) {
    return try_emplace(std::move(value));
  }

  /// Producer only. Copies up to `count` elements from `values`, publishing them all at once.
  /// Returns how many were pushed (0..count), in order: a partial push takes a prefix.
  std::size_t try_push_bulk(const T *values,
                            std::size_t count) noexcept(std::is_nothrow_copy_constructible_v<T>) {
    const std::size_t write = write_index_.load(std::memory_order_relaxed);
    std::size_t free_slots = capacity() - (write - read_index_cache_);
    if (free_slots < count) {
      read_index_cache_ = read_index_.load(std::memory_order_acquire);
      free_slots = capacity() - (write - read_index_cache_);
    }
    const std::size_t n = std::min(count, free_slots);
    for (std::size_t i = 0; i < n; ++i) ::new (static_cast<void *>(slot(write + i))) T(values[i]);
    if (n != 0) write_index_.store(write + n, std::memory_order_release);
    return n;
  }

  /// Consumer only. Moves the oldest element into `out`; false (and `out` untouched) if empty.
  bool try_pop(T &out) noexcept(std::is_nothrow_move_assignable_v<T>) {
    const std::size_t read = read_index_.load(std::memory_order_relaxed);  // own index
    if (read == write_index_cache_) {
      // Acquire pairs with the producer's release: the element is fully constructed.
      write_index_cache_ = write_index_.load(std::memory_order_acquire);
      if (read == write_index_cache_) return false;
    }
    T *element = slot(read);
    out = std::move(*element);
    element->~T();
    // Release hands the now-empty slot back to the producer.
    read_index_.store(read + 1, std::memory_order_release);
    return true;
  }

  /// Consumer only. The oldest element, or nullptr if empty; stays valid until pop_front().
  /// Lets the consumer read an element in place without moving it.
  T *front() noexcept {
    const std::size_t read = read_index_.load(std::memory_order_relaxed);
    if (read == write_index_cache_) {
      write_index_cache_ = write_index_.load(std::memory_order_acquire);
      if (read == write_index_cache_) return nullptr;
    }
    return slot(read);
  }

  /// Consumer only. Destroys the element front() returned. Precondition: front() != nullptr.
  void pop_front() noexcept {
    const std::size_t read = read_index_.load(std::memory_order_relaxed);
    slot(read)->~T();
    read_index_.store(read + 1, std::memory_order_release);
  }

  /// Consumer only. Moves up to `count` of the oldest elements into `out[0..n)`, freeing all their
  /// slots with one release store. Returns n (0..count).
  std::size_t try_pop_bulk(T *out,
                           std::size_t count) noexcept(std::is_nothrow_move_assignable_v<T>) {
    const std::size_t read = read_index_.load(std::memory_order_relaxed);
    std::size_t available = write_index_cache_ - read;
    if (available < count) {
      write_index_cache_ = write_index_.load(std::memory_order_acquire);
      available = write_index_cache_ - read;
    }
    const std::size_t n = std::min(count, available);
    for (std::size_t i = 0; i < n; ++i) {
      T *element = slot(read + i);
      out[i] = std::move(*element);
      element->~T();
    }
    if (n != 0) read_index_.store(read + n, std::memory_order_release);
    return n;
  }

  /// Number of elements; exact when called by the producer or consumer with the other side idle,
  /// otherwise a snapshot that may be stale by the time it returns.
  std::size_t size() const noexcept {
    const std::size_t read = read_index_.load(std::memory_order_acquire);
    const std::size_t write = write_index_.load(std::memory_order_acquire);
    return write > read ? write - read : 0;  // read is loaded first so it can only lag
  }
  bool empty() const noexcept { return size() == 0; }

 private:
  T *slot(std::size_t index) const noexcept { return slots_.data() + (index & mask_); }

  // Line A: read-only after construction.
  detail::SlotArray<T> slots_;
  std::size_t mask_;
  // Line B: the producer's line.
  alignas(cache_line_bytes) std::atomic<std::size_t> write_index_{0};
  std::size_t read_index_cache_ = 0;
  // Line C: the consumer's line.
  alignas(cache_line_bytes) std::atomic<std::size_t> read_index_{0};
  std::size_t write_index_cache_ = 0;
  // Keep whatever follows the ring off the consumer's line.
  char tail_padding_[cache_line_bytes - 2 * sizeof(std::size_t)] = {};
};

}  // namespace corq
