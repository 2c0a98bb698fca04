// Weight and operand re-layout for the kernels, apart from compute (as oneDNN's rnn_reorders).
#pragma once

#include <cstdint>

namespace fast_lstm {

inline int64_t round_up(int64_t value, int64_t multiple) { return (value + multiple - 1) / multiple * multiple; }
inline int64_t ceil_div(int64_t value, int64_t divisor) { return (value + divisor - 1) / divisor; }

// An ISA's copy of `width` columns of B at once to a panel (Kernels::transpose_columns):
// chunk[p * nr + j] = columns[j][k0 + p] for j < width, p < depth. Null: none (the packing's
// own 4-column copy then does all).
template <typename T>
struct ColumnTranspose {
    void (*copy)(T* chunk, int64_t nr, const T* const* columns, int64_t k0, int64_t depth) = nullptr;
    int64_t width = 0;
};

// Rows of a gate-major matrix src (NG*H, K) (PyTorch: i rows, then f, g, o) reordered
// to the gate-interleaved order of the fused kernels: dst (NG*Hp, K) with row
// (block * NG + gate) * VL + lane = src row gate * H + block * VL + lane, and zero
// rows for the padding units past H.
template <typename T>
void interleave_gate_rows(T* dst, const T* src, int64_t gates, int64_t hidden, int64_t cols, int64_t vector_width);

// W^T in the panels of pack_b_panels, with W's rows gate-interleaved on the way (without the
// intermediate of interleave_gate_rows): B (K = cols, N = gates * Hp), column n = interleaved row n.
template <typename T>
void pack_gate_panels(T* dst, const T* w, int64_t gates, int64_t hidden, int64_t cols, int64_t vector_width,
                      int64_t nr, int64_t panel_begin, int64_t panel_end, ColumnTranspose<T> transpose);

// A cell's weights for the kernels, on `threads` threads when there are enough of them (NG gates
// of H units, padded to vector_width): W_ih^T (D, NG*Hp) as GEMM panels of nr columns, W_hh^T
// (R, NG*Hp) as the fused tiles' NG*VL-column panels and/or as GEMM panels, and, when w_ih_fused
// is not null, W_ih^T as fused-tile panels. A null destination is skipped.
template <typename T>
void pack_gate_weights(int threads, int64_t gates, int64_t hidden, int64_t input, int64_t recurrent,
                       int64_t vector_width, int64_t nr, const T* w_ih, const T* w_hh, T* w_ih_gemm, T* w_hh_fused,
                       T* w_hh_gemm, T* w_ih_fused, ColumnTranspose<T> transpose);

// Elements of B (K, N), element (k, n) at b[k * row_stride + n * col_stride], laid
// out as panels [ceil(N / nr)][K][nr] zero-padded past N. Only panels
// [panel_begin, panel_end) are written, so threads can share the work.
template <typename T>
void pack_b_panels(T* dst, const T* b, int64_t row_stride, int64_t col_stride, int64_t k, int64_t n, int64_t nr,
                   int64_t panel_begin, int64_t panel_end, ColumnTranspose<T> transpose = {});

inline int64_t packed_b_size(int64_t k, int64_t n, int64_t nr) { return ceil_div(n, nr) * k * nr; }

// A row stride for a GEMM's C of `cols` columns that keeps its rows out of each other's cache
// sets: rows a multiple of 2 KB apart share a few L1 and L2 sets, where the microkernel's C tile
// and the B panel evict each other (the backward's dW and dx GEMMs at H = 512, 1024 ran 5-14%
// slower than into the same C with rows 64 bytes further apart). Else `cols` itself.
inline int64_t spread_row_stride(int64_t cols, int64_t element_size) {
    const int64_t row_bytes = cols * element_size;
    return row_bytes % 2048 == 0 ? cols + 64 / element_size : cols;
}

// Copies rows (rows, cols) between buffers of different row strides (padding in or out).
template <typename T>
void copy_rows(T* dst, int64_t dst_stride, const T* src, int64_t src_stride, int64_t rows, int64_t cols);

}  // namespace fast_lstm
