// wal/log/aligned_buffer.hpp — a growable byte buffer aligned to the block size, so that it can be
// handed to O_DIRECT writes as it is (no bounce copy).
#pragma once

#include "io/vfs.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>

namespace corq::wal {

class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  ~AlignedBuffer() { std::free(data_); }
  AlignedBuffer(const AlignedBuffer &) = delete;
  AlignedBuffer &operator=(const AlignedBuffer &) = delete;

  std::byte *data() noexcept { return data_; }
  const std::byte *data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  std::size_t capacity() const noexcept { return capacity_; }
  /// Names the current allocation, unique in the process (0: none). A new allocation gets a new
  /// id even at the same address, so an id says "these pages, still" — what registering a buffer
  /// with io_uring needs to know (Vfs::register_buffers).
  std::uint64_t allocation() const noexcept { return allocation_; }

  /// Makes room for `bytes` more and returns where they go; size grows by `bytes`.
  /// Throws std::bad_alloc.
  std::byte *extend(std::size_t bytes) {
    reserve(size_ + bytes);
    std::byte *at = data_ + size_;
    size_ += bytes;
    return at;
  }
  void append(const void *bytes, std::size_t count) {
    if (count != 0) std::memcpy(extend(count), bytes, count);
  }
  /// Zero-fills up to the next multiple of block_bytes.
  void pad_to_block() {
    const std::size_t padded = (size_ + block_bytes - 1) / block_bytes * block_bytes;
    if (padded != size_) std::memset(extend(padded - size_), 0, padded - size_);
  }
  void clear() noexcept { size_ = 0; }
  void resize(std::size_t bytes) {
    reserve(bytes);
    size_ = bytes;
  }
  void swap(AlignedBuffer &other) noexcept {
    std::swap(data_, other.data_);
    std::swap(size_, other.size_);
    std::swap(capacity_, other.capacity_);
    std::swap(allocation_, other.allocation_);
  }

 private:
  void reserve(std::size_t bytes) {
    if (bytes <= capacity_) return;
    std::size_t capacity = capacity_ == 0 ? 64 * 1024 : capacity_;
    while (capacity < bytes) capacity *= 2;
    capacity = (capacity + block_bytes - 1) / block_bytes * block_bytes;
    auto *grown = static_cast<std::byte *>(std::aligned_alloc(block_bytes, capacity));
    if (grown == nullptr) throw std::bad_alloc();
    if (size_ != 0) std::memcpy(grown, data_, size_);
    std::free(data_);
    data_ = grown;
    capacity_ = capacity;
    static std::atomic<std::uint64_t> allocations{0};
    allocation_ = allocations.fetch_add(1, std::memory_order_relaxed) + 1;
  }

  std::byte *data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
  std::uint64_t allocation_ = 0;
};

}  // namespace corq::wal
