#include "buffer_pool.hpp"

#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#if defined(__SANITIZE_ADDRESS__)
#define FAST_LSTM_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FAST_LSTM_ASAN 1
#endif
#endif
#if defined(FAST_LSTM_ASAN)
#include <sanitizer/asan_interface.h>
#endif

namespace fast_lstm {

namespace buffer_pool {

namespace {

constexpr size_t kDefaultLimitMb = 1024;

struct Block {
    void* data;
    size_t capacity;
};

// Start-up limit: FAST_LSTM_BUFFER_CACHE_MB when it is a whole number of MB, else the default.
size_t initial_limit() {
    const char* text = std::getenv("FAST_LSTM_BUFFER_CACHE_MB");
    if (text && *text) {
        char* end = nullptr;
        const unsigned long long mb = std::strtoull(text, &end, 10);
        if (*end == '\0' && text[0] != '-' && mb <= (SIZE_MAX >> 20)) return static_cast<size_t>(mb) << 20;
    }
    return kDefaultLimitMb << 20;
}

struct Pool {
    std::mutex mutex;
    std::vector<Block> blocks;  // oldest first: evicted first
    size_t cached = 0;
    size_t limit = initial_limit();
};

// Never destroyed: arrays freed during interpreter shutdown may still give blocks back.
Pool& pool() {
    static Pool* instance = new Pool;
    return *instance;
}

// Bytes [from, to) of a block are off limits (cached, or past what its user asked for):
// AddressSanitizer reports a stale pointer or an overrun reaching them.
void hide(void* data, size_t from, size_t to) {
#if defined(FAST_LSTM_ASAN)
    ASAN_POISON_MEMORY_REGION(static_cast<char*>(data) + from, to - from);
#else
    (void)data, (void)from, (void)to;
#endif
}
void unhide(void* data, size_t bytes) {
#if defined(FAST_LSTM_ASAN)
    ASAN_UNPOISON_MEMORY_REGION(data, bytes);
#else
    (void)data, (void)bytes;
#endif
}

// Frees the oldest blocks until at most `keep` bytes are cached. Caller holds the mutex.
void trim_to(Pool& p, size_t keep) {
    size_t drop = 0;
    while (drop < p.blocks.size() && p.cached > keep) {
        unhide(p.blocks[drop].data, p.blocks[drop].capacity);
        std::free(p.blocks[drop].data);
        p.cached -= p.blocks[drop].capacity;
        ++drop;
    }
    p.blocks.erase(p.blocks.begin(), p.blocks.begin() + static_cast<std::ptrdiff_t>(drop));
}

}  // namespace

void* acquire(size_t bytes, size_t alignment, size_t* capacity) {
    Pool& p = pool();
    {
        // The smallest cached block that fits, if it is no more than twice the request: a far
        // larger one would hold pages this call does not use and that a later call could.
        std::lock_guard<std::mutex> lock(p.mutex);
        size_t best = p.blocks.size();
        for (size_t i = 0; i < p.blocks.size(); ++i) {
            const Block& block = p.blocks[i];
            const bool fits = block.capacity >= bytes && block.capacity / 2 <= bytes &&
                              reinterpret_cast<uintptr_t>(block.data) % alignment == 0;
            if (fits && (best == p.blocks.size() || block.capacity < p.blocks[best].capacity)) best = i;
        }
        if (best < p.blocks.size()) {
            const Block block = p.blocks[best];
            p.blocks.erase(p.blocks.begin() + static_cast<std::ptrdiff_t>(best));
            p.cached -= block.capacity;
            unhide(block.data, bytes);  // the rest stays poisoned
            *capacity = block.capacity;
            return block.data;
        }
    }
    if (bytes > SIZE_MAX - alignment) return nullptr;
    const size_t rounded = (bytes + alignment - 1) / alignment * alignment;
    void* data = std::aligned_alloc(alignment, rounded);
    if (!data) return nullptr;
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    // Transparent huge pages: one fault per 2 MiB instead of per 4 KiB on first touch.
    madvise(data, rounded, MADV_HUGEPAGE);  // advice only; failure is harmless
#endif
    hide(data, bytes, rounded);
    *capacity = rounded;
    return data;
}

void release(void* block, size_t capacity) {
    if (!block) return;
    Pool& p = pool();
    std::lock_guard<std::mutex> lock(p.mutex);
    if (capacity <= p.limit) {
        try {  // release() runs in destructors: a failed push_back frees the block instead
            p.blocks.push_back(Block{block, capacity});
            p.cached += capacity;
            hide(block, 0, capacity);
            trim_to(p, p.limit);
            return;
        } catch (const std::bad_alloc&) {
        }
    }
    unhide(block, capacity);
    std::free(block);
}

size_t cached_bytes() {
    Pool& p = pool();
    std::lock_guard<std::mutex> lock(p.mutex);
    return p.cached;
}

size_t limit() {
    Pool& p = pool();
    std::lock_guard<std::mutex> lock(p.mutex);
    return p.limit;
}

void set_limit(size_t bytes) {
    Pool& p = pool();
    std::lock_guard<std::mutex> lock(p.mutex);
    p.limit = bytes;
    trim_to(p, bytes);
}

void clear() {
    Pool& p = pool();
    std::lock_guard<std::mutex> lock(p.mutex);
    trim_to(p, 0);
}

}  // namespace buffer_pool

}  // namespace fast_lstm
