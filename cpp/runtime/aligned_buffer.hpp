// An owning, 64-byte aligned, uninitialised array (one cache line; an AVX-512 vector).
//
// Large buffers (the training cache, the gate gradients, packed operands) come from the buffer
// pool (buffer_pool.hpp), 2 MiB aligned from 2 MiB up: a block kept from an earlier call is
// reused with its pages already mapped; a new one is offered to transparent huge pages.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <utility>

#include "buffer_pool.hpp"

namespace fast_lstm {

template <typename T>
class AlignedBuffer {
  public:
    // Blocks this large come from the buffer cache; smaller ones from malloc. From 4 MiB down to
    // 256 KiB (packed weights, projection windows, the small shapes' records): glibc handed such
    // blocks back to the system and faulted them in again each call. Two builds on Zen 5, 1 thread:
    // small and long training steps 8-10% faster (small at 2 threads 12%), medium's forward 2-4%.
    static constexpr size_t pooled_minimum_bytes = size_t(256) << 10;

    AlignedBuffer() = default;
    explicit AlignedBuffer(int64_t count) : count_(count) {
        if (count <= 0) return;
        if (static_cast<uint64_t>(count) > SIZE_MAX / sizeof(T) - 64) throw std::bad_alloc();
        const size_t huge_page = size_t(2) << 20;
        const size_t raw = static_cast<size_t>(count) * sizeof(T);
        if (raw >= pooled_minimum_bytes) {
            // Smaller than a huge page: cache-line aligned, as from malloc (2 MiB aligned, every
            // such block would start on the same cache sets).
            const size_t alignment = raw >= huge_page ? huge_page : 64;
            data_ = static_cast<T*>(buffer_pool::acquire(raw, alignment, &pooled_bytes_));
        } else {
            data_ = static_cast<T*>(std::aligned_alloc(64, (raw + 63) / 64 * 64));
        }
        if (!data_) throw std::bad_alloc();
    }
    AlignedBuffer(AlignedBuffer&& other) noexcept
        : data_(std::exchange(other.data_, nullptr)),
          count_(std::exchange(other.count_, 0)),
          pooled_bytes_(std::exchange(other.pooled_bytes_, 0)) {}
    AlignedBuffer& operator=(AlignedBuffer&& other) noexcept {
        std::swap(data_, other.data_);
        std::swap(count_, other.count_);
        std::swap(pooled_bytes_, other.pooled_bytes_);
        return *this;
    }
    AlignedBuffer(const AlignedBuffer&) = delete;
    AlignedBuffer& operator=(const AlignedBuffer&) = delete;
    ~AlignedBuffer() {
        if (pooled_bytes_) {
            buffer_pool::release(data_, pooled_bytes_);
        } else {
            std::free(data_);
        }
    }

    T* data() { return data_; }
    const T* data() const { return data_; }
    int64_t size() const { return count_; }
    void fill_zero() {
        for (int64_t i = 0; i < count_; ++i) data_[i] = T(0);
    }

  private:
    T* data_ = nullptr;
    int64_t count_ = 0;
    size_t pooled_bytes_ = 0;  // the block's size when it came from the pool (0: malloc's)
};

}  // namespace fast_lstm
