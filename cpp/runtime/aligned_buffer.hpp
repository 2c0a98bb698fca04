// An owning, 64-byte aligned, uninitialised array (one cache line; an AVX-512 vector).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <utility>

namespace fast_lstm {

template <typename T>
class AlignedBuffer {
  public:
    AlignedBuffer() = default;
    explicit AlignedBuffer(int64_t count) : count_(count) {
        if (count <= 0) return;
        if (static_cast<uint64_t>(count) > SIZE_MAX / sizeof(T) - 64) throw std::bad_alloc();
        const size_t bytes = (static_cast<size_t>(count) * sizeof(T) + 63) / 64 * 64;
        data_ = static_cast<T*>(std::aligned_alloc(64, bytes));
        if (!data_) throw std::bad_alloc();
    }
    AlignedBuffer(AlignedBuffer&& other) noexcept
        : data_(std::exchange(other.data_, nullptr)), count_(std::exchange(other.count_, 0)) {}
    AlignedBuffer& operator=(AlignedBuffer&& other) noexcept {
        std::swap(data_, other.data_);
        std::swap(count_, other.count_);
        return *this;
    }
    AlignedBuffer(const AlignedBuffer&) = delete;
    AlignedBuffer& operator=(const AlignedBuffer&) = delete;
    ~AlignedBuffer() { std::free(data_); }

    T* data() { return data_; }
    const T* data() const { return data_; }
    int64_t size() const { return count_; }
    void fill_zero() {
        for (int64_t i = 0; i < count_; ++i) data_[i] = T(0);
    }

  private:
    T* data_ = nullptr;
    int64_t count_ = 0;
};

}  // namespace fast_lstm
