#include "packing.hpp"

#include <cstring>
#if defined(__SSE2__)
#include <xmmintrin.h>
#endif
#include <vector>

#include "../runtime/thread_pool.hpp"

namespace fast_lstm {

namespace {

// Values k0 .. k0+depth-1 of one column of B to column j of a panel chunk (zeros for no column).
template <typename T>
void copy_column(T* chunk, int64_t nr, const T* column, int64_t j, int64_t k0, int64_t depth) {
    for (int64_t p = 0; p < depth; ++p) chunk[p * nr + j] = column ? column[k0 + p] : T(0);
}

// The same for four columns at once, by 4 x 4 transposes in SSE registers (part of every x86-64
// CPU): 8 memory operations per 16 values in place of 32. False where there is no such path.
// For the groups the ISA's own transpose (ColumnTranspose) does not take: those with padding.
inline bool copy_four_columns(float* chunk, int64_t nr, const float* const* columns, int64_t k0, int64_t depth) {
#if defined(__SSE2__)
    if (depth % 4) return false;
    for (int64_t p = 0; p < depth; p += 4) {
        __m128 a = _mm_loadu_ps(columns[0] + k0 + p), b = _mm_loadu_ps(columns[1] + k0 + p);
        __m128 c = _mm_loadu_ps(columns[2] + k0 + p), d = _mm_loadu_ps(columns[3] + k0 + p);
        _MM_TRANSPOSE4_PS(a, b, c, d);
        float* out = chunk + p * nr;
        _mm_storeu_ps(out, a);
        _mm_storeu_ps(out + nr, b);
        _mm_storeu_ps(out + 2 * nr, c);
        _mm_storeu_ps(out + 3 * nr, d);
    }
    return true;
#else
    return false;
#endif
}
inline bool copy_four_columns(double*, int64_t, const double* const*, int64_t, int64_t) { return false; }

template <typename T>
bool all_present(const T* const* columns, int64_t count) {
    for (int64_t j = 0; j < count; ++j)
        if (!columns[j]) return false;
    return true;
}

// Panels of B (K, N) whose column n lies contiguous in memory, at column_start(n), or is zero past
// N. The columns are walked a chunk of K at a time: 64 bytes of each of the panel's columns, whose
// kChunk x nr destination stays in L1. (Walking one k at a time down all nr columns touches nr
// cache lines per k; when the columns lie 4 KB apart, as rows of a (., 1024) float matrix do,
// they all fall in one L1 set and every read missed: packing the xlarge weights took 40 ms.)
template <typename T, typename ColumnStart>
void pack_contiguous_columns(T* dst, ColumnStart column_start, int64_t k, int64_t n, int64_t nr, int64_t panel_begin,
                             int64_t panel_end, ColumnTranspose<T> transpose) {
    constexpr int64_t kChunk = 64 / sizeof(T);
    std::vector<const T*> columns(nr);
    for (int64_t panel = panel_begin; panel < panel_end; ++panel) {
        T* out = dst + panel * k * nr;
        for (int64_t j = 0; j < nr; ++j) columns[j] = panel * nr + j < n ? column_start(panel * nr + j) : nullptr;
        for (int64_t k0 = 0; k0 < k; k0 += kChunk) {
            const int64_t depth = k - k0 < kChunk ? k - k0 : kChunk;
            T* chunk = out + k0 * nr;
            // Each column is its own stream, too many for the hardware prefetchers to follow.
            if (k0 + 2 * kChunk < k)
                for (int64_t j = 0; j < nr; ++j)
                    if (columns[j]) __builtin_prefetch(columns[j] + k0 + 2 * kChunk);
            int64_t j = 0;
            while (j < nr) {
                if (transpose.copy && j % transpose.width == 0 && j + transpose.width <= nr &&
                    all_present(&columns[j], transpose.width)) {
                    transpose.copy(chunk + j, nr, &columns[j], k0, depth);
                    j += transpose.width;
                } else if (j + 4 <= nr) {
                    if (!all_present(&columns[j], 4) || !copy_four_columns(chunk + j, nr, &columns[j], k0, depth))
                        for (int64_t q = j; q < j + 4; ++q) copy_column(chunk, nr, columns[q], q, k0, depth);
                    j += 4;
                } else {
                    copy_column(chunk, nr, columns[j], j, k0, depth);
                    ++j;
                }
            }
        }
    }
}

// n values from src to dst, n at most a GEMM panel's width: the panel widths in use get a copy
// of constant size, which the compiler inlines.
template <typename T>
inline void copy_short_run(T* dst, const T* src, int64_t n) {
    switch (n * int64_t(sizeof(T))) {
        case 32: std::memcpy(dst, src, 32); return;
        case 64: std::memcpy(dst, src, 64); return;
        case 128: std::memcpy(dst, src, 128); return;
        default: std::memcpy(dst, src, sizeof(T) * n);
    }
}

}  // namespace

template <typename T>
void interleave_gate_rows(T* dst, const T* src, int64_t gates, int64_t hidden, int64_t cols, int64_t vector_width) {
    const int64_t blocks = ceil_div(hidden, vector_width);
    for (int64_t block = 0; block < blocks; ++block)
        for (int64_t gate = 0; gate < gates; ++gate)
            for (int64_t lane = 0; lane < vector_width; ++lane) {
                const int64_t unit = block * vector_width + lane;
                T* row = dst + ((block * gates + gate) * vector_width + lane) * cols;
                if (unit < hidden) std::memcpy(row, src + (gate * hidden + unit) * cols, sizeof(T) * cols);
                else std::memset(row, 0, sizeof(T) * cols);
            }
}

template <typename T>
void pack_gate_panels(T* dst, const T* w, int64_t gates, int64_t hidden, int64_t cols, int64_t vector_width,
                      int64_t nr, int64_t panel_begin, int64_t panel_end, ColumnTranspose<T> transpose) {
    // Column n of B is interleaved row n: block, then gate, then lane. A padding unit past H has
    // no row: its column is zero. (A table, not divisions per column: those took a fifth of the
    // packing time at the tiny shape.)
    const int64_t padded = round_up(hidden, vector_width);
    std::vector<const T*> rows(gates * padded);
    for (int64_t block = 0, n = 0; block < padded / vector_width; ++block)
        for (int64_t gate = 0; gate < gates; ++gate)
            for (int64_t lane = 0; lane < vector_width; ++lane, ++n) {
                const int64_t unit = block * vector_width + lane;
                rows[n] = unit < hidden ? w + (gate * hidden + unit) * cols : nullptr;
            }
    pack_contiguous_columns<T>(dst, [&](int64_t column) { return rows[column]; }, cols, gates * padded, nr,
                               panel_begin, panel_end, transpose);
}

template <typename T>
void pack_gate_weights(int threads, int64_t gates, int64_t hidden, int64_t input, int64_t recurrent,
                       int64_t vector_width, int64_t nr, const T* w_ih, const T* w_hh, T* w_ih_gemm, T* w_hh_fused,
                       T* w_hh_gemm, T* w_ih_fused, ColumnTranspose<T> transpose) {
    const int64_t columns = gates * round_up(hidden, vector_width), tile = gates * vector_width;
    // Packing reads and writes each weight once: a second core pays from about 1 MB of them.
    const int64_t copies = (w_hh_fused ? 1 : 0) + (w_hh_gemm ? 1 : 0);
    const int64_t bytes = sizeof(T) * gates * hidden * (recurrent * copies + input * (w_ih_fused ? 2 : 1));
    ThreadPool::instance().run(bytes >= (1 << 20) ? threads : 1, [&](const Team& team) {
        int64_t begin, end;
        split_range(ceil_div(columns, nr), 1, team.size, team.index, &begin, &end);
        pack_gate_panels(w_ih_gemm, w_ih, gates, hidden, input, vector_width, nr, begin, end, transpose);
        if (w_hh_gemm)
            pack_gate_panels(w_hh_gemm, w_hh, gates, hidden, recurrent, vector_width, nr, begin, end, transpose);
        split_range(columns / tile, 1, team.size, team.index, &begin, &end);
        if (w_hh_fused)
            pack_gate_panels(w_hh_fused, w_hh, gates, hidden, recurrent, vector_width, tile, begin, end, transpose);
        if (w_ih_fused)
            pack_gate_panels(w_ih_fused, w_ih, gates, hidden, input, vector_width, tile, begin, end, transpose);
    });
}

template <typename T>
void pack_b_panels(T* dst, const T* b, int64_t row_stride, int64_t col_stride, int64_t k, int64_t n, int64_t nr,
                   int64_t panel_begin, int64_t panel_end, ColumnTranspose<T> transpose) {
    if (row_stride == 1) {  // B = M^T: each column is a row of M
        auto column_start = [=](int64_t column) { return b + column * col_stride; };
        pack_contiguous_columns<T>(dst, column_start, k, n, nr, panel_begin, panel_end, transpose);
        return;
    }
    // A few rows at a time, all this thread's panels of them: each row's runs are read in order
    // while its lines are in L1 (a whole panel at a time read 64 bytes of every row of B, a
    // cache miss each where rows lie a KB or more apart: x at the medium shape).
    constexpr int64_t kRowChunk = 8;
    for (int64_t p0 = 0; p0 < k; p0 += kRowChunk) {
        const int64_t p_end = k - p0 < kRowChunk ? k : p0 + kRowChunk;
        for (int64_t panel = panel_begin; panel < panel_end; ++panel) {
            T* out = dst + panel * k * nr;
            const int64_t n0 = panel * nr;
            const int64_t valid = n - n0 < nr ? n - n0 : nr;
            for (int64_t p = p0; p < p_end; ++p) {
                const T* row = b + p * row_stride + n0 * col_stride;
                if (col_stride == 1) {
                    copy_short_run(out + p * nr, row, valid);
                } else {
                    for (int64_t j = 0; j < valid; ++j) out[p * nr + j] = row[j * col_stride];
                }
                for (int64_t j = valid; j < nr; ++j) out[p * nr + j] = T(0);
            }
        }
    }
}

template <typename T>
void copy_rows(T* dst, int64_t dst_stride, const T* src, int64_t src_stride, int64_t rows, int64_t cols) {
    for (int64_t r = 0; r < rows; ++r) std::memcpy(dst + r * dst_stride, src + r * src_stride, sizeof(T) * cols);
}

#define FAST_LSTM_INSTANTIATE(T)                                                                              \
    template void interleave_gate_rows<T>(T*, const T*, int64_t, int64_t, int64_t, int64_t);                  \
    template void pack_gate_panels<T>(T*, const T*, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,       \
                                      int64_t, ColumnTranspose<T>);                                           \
    template void pack_gate_weights<T>(int, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, const T*,    \
                                       const T*, T*, T*, T*, T*, ColumnTranspose<T>);                         \
    template void pack_b_panels<T>(T*, const T*, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, \
                                   ColumnTranspose<T>);                                                       \
    template void copy_rows<T>(T*, int64_t, const T*, int64_t, int64_t, int64_t);
FAST_LSTM_INSTANTIATE(float)
FAST_LSTM_INSTANTIATE(double)
#undef FAST_LSTM_INSTANTIATE

}  // namespace fast_lstm
