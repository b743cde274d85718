// engine/queue/block_cache.cpp — see block_cache.hpp.
#include "queue/block_cache.hpp"

#include <mimalloc.h>

#include <cstdint>
#include <cstdlib>
#include <mutex>

#include <pthread.h>

#if defined(__SANITIZE_ADDRESS__)
#define CORQ_BLOCK_CACHE 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CORQ_BLOCK_CACHE 0
#endif
#endif
#ifndef CORQ_BLOCK_CACHE
#define CORQ_BLOCK_CACHE 1
#endif

namespace corq::core::block_cache {
namespace {

#if defined(CORQ_SYSTEM_ALLOCATOR)
void *allocate(unsigned size_class) noexcept { return std::malloc(bytes_of(size_class)); }
void release(void *block) noexcept { std::free(block); }
#else
void *allocate(unsigned size_class) noexcept { return mi_malloc(bytes_of(size_class)); }
void release(void *block) noexcept { mi_free(block); }
#endif

#if CORQ_BLOCK_CACHE

constexpr std::uint32_t chain_blocks = 64;
constexpr std::size_t depot_chains_max = 256;

/// A free block, linked through its own memory.
struct FreeBlock {
  FreeBlock *next;        // within a chain
  FreeBlock *next_chain;  // in the depot: the chain below (valid in a chain's first block only)
};
static_assert(sizeof(FreeBlock) <= block_bytes);

void release_chain(FreeBlock *chain) noexcept {
  while (chain != nullptr) {
    FreeBlock *next = chain->next;
    release(chain);
    chain = next;
  }
}

class Depot {
 public:
  /// A chain of chain_blocks blocks, or nullptr if the depot is empty.
  FreeBlock *take_chain() noexcept {
    std::lock_guard lock(mutex_);
    FreeBlock *chain = top_;
    if (chain != nullptr) {
      top_ = chain->next_chain;
      --chains_;
    }
    return chain;
  }
  /// Keeps a full chain; false if the depot is at its bound (the caller frees the chain).
  bool give_chain(FreeBlock *chain) noexcept {
    std::lock_guard lock(mutex_);
    if (chains_ >= depot_chains_max) return false;
    chain->next_chain = top_;
    top_ = chain;
    ++chains_;
    return true;
  }
  std::size_t blocks() noexcept {
    std::lock_guard lock(mutex_);
    return chains_ * chain_blocks;
  }

 private:
  std::mutex mutex_;
  FreeBlock *top_ = nullptr;
  std::size_t chains_ = 0;
};

/// One per size class. Never destroyed: a thread may exit (and flush into them) after static
/// destructors ran. Their blocks stay reachable from here, so leak checkers do not report them.
Depot &depot(unsigned size_class) noexcept {
  static Depot *const instances = new Depot[size_classes];
  return instances[size_class];
}

/// A thread's two chains of one size class. Trivial on purpose: a thread_local with a constructor
/// or destructor gets a TLS guard variable, which in a shared library costs a __tls_get_addr call
/// per access whatever the model of the variable itself. Thread exit is handled by a pthread key
/// instead, registered the first time a thread keeps blocks.
struct ClassBlocks {
  FreeBlock *current;
  FreeBlock *full;  // exactly chain_blocks blocks, or nullptr
  std::uint32_t current_count;
};
struct ThreadBlocks {
  ClassBlocks classes[size_classes];
  bool registered;
};

// Initial-exec: a fixed offset from the thread pointer, no __tls_get_addr call per access (the
// engine already keeps mimalloc loaded, which needs static TLS too). Zero-initialized.
[[gnu::tls_model("initial-exec")]] thread_local ThreadBlocks local;

/// At thread exit: each class's full chain to its depot (or the allocator), the rest to the
/// allocator.
void flush_thread(void *blocks) noexcept {
  auto *t = static_cast<ThreadBlocks *>(blocks);
  for (unsigned c = 0; c < size_classes; ++c) {
    ClassBlocks &k = t->classes[c];
    if (k.full != nullptr && !depot(c).give_chain(k.full)) release_chain(k.full);
    release_chain(k.current);
    k = ClassBlocks{nullptr, nullptr, 0};
  }
  t->registered = true;  // a late give() after this keeps to the chains
}

pthread_key_t thread_exit_key() noexcept {
  static const pthread_key_t key = [] {
    pthread_key_t k{};
    pthread_key_create(&k, flush_thread);
    return k;
  }();
  return key;
}

[[gnu::noinline]] void register_thread(ThreadBlocks &t) noexcept {
  t.registered = true;
  pthread_setspecific(thread_exit_key(), &t);
}

#endif  // CORQ_BLOCK_CACHE

}  // namespace

template <unsigned size_class>
void *take_from() noexcept {
#if CORQ_BLOCK_CACHE
  ThreadBlocks &t = local;
  ClassBlocks &k = t.classes[size_class];
  if (k.current == nullptr) [[unlikely]] {
    if (!t.registered) register_thread(t);
    if (k.full != nullptr) {
      k.current = k.full;
      k.full = nullptr;
    } else {
      k.current = depot(size_class).take_chain();
      if (k.current == nullptr) return allocate(size_class);
    }
    k.current_count = chain_blocks;
  }
  FreeBlock *block = k.current;
  k.current = block->next;
  --k.current_count;
  return block;
#else
  return allocate(size_class);
#endif
}

template <unsigned size_class>
void give_to(void *block) noexcept {
#if CORQ_BLOCK_CACHE
  ThreadBlocks &t = local;
  if (!t.registered) [[unlikely]]
    register_thread(t);
  ClassBlocks &k = t.classes[size_class];
  if (k.current_count == chain_blocks) [[unlikely]] {
    if (k.full != nullptr && !depot(size_class).give_chain(k.full)) release_chain(k.full);
    k.full = k.current;
    k.current = nullptr;
    k.current_count = 0;
  }
  auto *free_block = static_cast<FreeBlock *>(block);
  free_block->next = k.current;
  k.current = free_block;
  ++k.current_count;
#else
  release(block);
#endif
}

template void *take_from<0>() noexcept;
template void *take_from<1>() noexcept;
template void give_to<0>(void *block) noexcept;
template void give_to<1>(void *block) noexcept;

bool enabled() noexcept { return CORQ_BLOCK_CACHE != 0; }

std::size_t depot_blocks(unsigned size_class) noexcept {
#if CORQ_BLOCK_CACHE
  return depot(size_class).blocks();
#else
  (void)size_class;
  return 0;
#endif
}

}  // namespace corq::core::block_cache
