// corq/ring_storage.hpp — the slot array shared by SpscRing and MpmcRing.
//
// A ring owns `capacity` slots of raw storage (a power of two, so that an index maps to a slot with
// a mask instead of a division) and constructs/destroys elements in them explicitly. The array is
// aligned to a cache line and padded by one line on each side so that the first and last slots never
// share a line with whatever the heap puts next to the ring.
#pragma once

#include <corq/platform.hpp>

#include <bit>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <new>
#include <stdexcept>

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

/// Raw, cache-line-aligned, padded storage for `count` objects of type Slot. Does not construct.
template <class Slot>
class SlotArray {
 public:
  explicit SlotArray(std::size_t count) : count_(count) {
    bytes_ = count * sizeof(Slot) + 2 * padding_bytes;
    base_ = static_cast<std::byte *>(::operator new(bytes_, std::align_val_t{alignment}));
    slots_ = reinterpret_cast<Slot *>(base_ + padding_bytes);
  }
  ~SlotArray() { ::operator delete(base_, bytes_, std::align_val_t{alignment}); }
  SlotArray(const SlotArray &) = delete;
  SlotArray &operator=(const SlotArray &) = delete;

  Slot *data() const noexcept { return slots_; }
  std::size_t size() const noexcept { return count_; }

 private:
  static constexpr std::size_t alignment =
      alignof(Slot) > cache_line_bytes ? alignof(Slot) : cache_line_bytes;
  // Padding must keep the slots aligned for Slot as well as away from neighbours.
  static constexpr std::size_t padding_bytes = alignment;

  std::size_t count_;
  std::size_t bytes_;
  std::byte *base_;
  Slot *slots_;
};

}  // namespace corq::detail
