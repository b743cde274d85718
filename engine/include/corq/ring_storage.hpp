// corq/ring_storage.hpp — the slot array shared by SpscRing and MpmcRing.
//
// A ring owns `capacity` slots of raw storage (a power of two, so that an index maps to a slot with
// a mask instead of a division) and constructs/destroys elements in them explicitly. The array is
// aligned to a cache line and padded by one line on each side so that the first and last slots
// never share a line with whatever the heap puts next to the ring.
//
// The storage starts zero-filled. Large arrays come straight from mmap, whose pages the kernel
// commits only when first written: a queue declared with room for a million messages costs resident
// memory only for the slots it has actually used (MpmcRing is built so that all-zero means empty).
#pragma once

#include <corq/platform.hpp>

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <new>
#include <stdexcept>

#include <sys/mman.h>

namespace corq::detail {

/// Largest capacity a ring accepts: keeps `capacity * sizeof(slot)` far from overflow and the
/// monotonically increasing 64-bit indices far from wrapping (2^62 operations take centuries).
inline constexpr std::size_t ring_capacity_max = std::size_t{1} << 30;

/// Rounds a requested capacity up to a power of two, at least 2. Throws std::invalid_argument for 0
/// or for more than ring_capacity_max: a ring with an unusable capacity is a programming error.
inline std::size_t ring_capacity_for(std::size_t requested) {
  if (requested == 0 || requested > ring_capacity_max) {
    throw std::invalid_argument("corq ring: capacity must be in [1, 2^30]");
  }
  return std::bit_ceil(requested < 2 ? std::size_t{2} : requested);
}

/// Arrays at least this big are mapped (lazily committed) instead of taken from the heap.
inline constexpr std::size_t lazy_mapping_bytes_min = std::size_t{256} << 10;

/// Raw, zero-filled, cache-line-aligned, padded storage for `count` objects of type Slot. Does not
/// construct. Throws std::bad_alloc when the memory cannot be had.
template <class Slot>
class SlotArray {
 public:
  explicit SlotArray(std::size_t count) : count_(count) {
    bytes_ = count * sizeof(Slot) + 2 * padding_bytes;
    if (bytes_ >= lazy_mapping_bytes_min) {
      // MAP_NORESERVE: don't charge the whole capacity against overcommit limits up front.
      void *mapping = ::mmap(nullptr, bytes_, PROT_READ | PROT_WRITE,
                             MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
      if (mapping == MAP_FAILED) throw std::bad_alloc();
      base_ = static_cast<std::byte *>(mapping);  // page-aligned, zero-filled by the kernel
      mapped_ = true;
    } else {
      base_ = static_cast<std::byte *>(::operator new (bytes_, std::align_val_t{alignment}));
      std::memset(base_, 0, bytes_);
    }
    slots_ = reinterpret_cast<Slot *>(base_ + padding_bytes);
  }
  ~SlotArray() {
    if (mapped_) {
      ::munmap(base_, bytes_);
    } else {
      ::operator delete (base_, std::align_val_t{alignment});
    }
  }
  SlotArray(const SlotArray &) = delete;
  SlotArray &operator=(const SlotArray &) = delete;

  Slot *data() const noexcept { return slots_; }
  std::size_t size() const noexcept { return count_; }

 private:
  static constexpr std::size_t alignment = alignof(Slot) > cache_line_bytes ? alignof(Slot)
                                                                            : cache_line_bytes;
  // Padding must keep the slots aligned for Slot as well as away from neighbours.
  static constexpr std::size_t padding_bytes = alignment;

  std::size_t count_;
  std::size_t bytes_;
  std::byte *base_;
  Slot *slots_;
  bool mapped_ = false;
};

}  // namespace corq::detail
