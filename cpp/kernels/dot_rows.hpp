// The product of a few rows with a weight matrix as PyTorch stores it, without packing:
//   out[b][r] += sum_k a[b][k] * w[r][k]      a (B, K), w (rows, K) row-major, out (B, ld_out)
// BLIS's small-matrix idea: for one step of a small batch, packing W (a full read and write
// of it, into fresh memory) costs more than the product itself, which reads W once.
#pragma once

// Lanes summed in a fixed order, so every ISA path and thread count rounds the same way.
template <typename T>
inline T lane_sum(Vec<T> v) {
    alignas(64) T lanes[Vec<T>::width];
    v.store(lanes);
    T sum = lanes[0];
    for (int i = 1; i < Vec<T>::width; ++i) sum += lanes[i];
    return sum;
}

// W rows [r, r + W_ROWS) against B rows of a: each weight vector is loaded once for all B rows.
template <typename T, int B, int W_ROWS>
inline void dot_rows_tile(const DotRowsArgs<T>& s, int64_t b0, int64_t r) {
    using V = Vec<T>;
    constexpr int VL = V::width;
    V acc[W_ROWS][B];
    for (int i = 0; i < W_ROWS; ++i)
        for (int b = 0; b < B; ++b) acc[i][b] = V::zero();
    int64_t k = 0;
    for (; k + VL <= s.depth; k += VL) {
        V a[B];
        for (int b = 0; b < B; ++b) a[b] = V::load(s.a + (b0 + b) * s.ld_a + k);
        for (int i = 0; i < W_ROWS; ++i) {
            const V w = V::load(s.w + (r + i) * s.depth + k);
            for (int b = 0; b < B; ++b) acc[i][b] = fma(w, a[b], acc[i][b]);
        }
    }
    if (k < s.depth) {
        const int rest = static_cast<int>(s.depth - k);
        V a[B];
        for (int b = 0; b < B; ++b) a[b] = V::load_partial(s.a + (b0 + b) * s.ld_a + k, rest);
        for (int i = 0; i < W_ROWS; ++i) {
            const V w = V::load_partial(s.w + (r + i) * s.depth + k, rest);
            for (int b = 0; b < B; ++b) acc[i][b] = fma(w, a[b], acc[i][b]);
        }
    }
    for (int i = 0; i < W_ROWS; ++i)
        for (int b = 0; b < B; ++b) s.out[(b0 + b) * s.ld_out + r + i] += lane_sum<T>(acc[i][b]);
}

template <typename T, int B>
inline void dot_rows_for_batch(const DotRowsArgs<T>& s, int64_t b0, int64_t row_begin, int64_t row_end) {
    constexpr int W_ROWS = B <= 2 ? 4 : 2;  // accumulators W_ROWS * B stay within the register file
    int64_t r = row_begin;
    for (; r + W_ROWS <= row_end; r += W_ROWS) dot_rows_tile<T, B, W_ROWS>(s, b0, r);
    for (; r < row_end; ++r) dot_rows_tile<T, B, 1>(s, b0, r);
}

template <typename T>
void dot_rows(const DotRowsArgs<T>& s, int64_t row_begin, int64_t row_end) {
    int64_t b0 = 0;
    for (; b0 + 4 <= s.batch; b0 += 4) dot_rows_for_batch<T, 4>(s, b0, row_begin, row_end);
    switch (s.batch - b0) {
        case 3: dot_rows_for_batch<T, 3>(s, b0, row_begin, row_end); break;
        case 2: dot_rows_for_batch<T, 2>(s, b0, row_begin, row_end); break;
        case 1: dot_rows_for_batch<T, 1>(s, b0, row_begin, row_end); break;
        default: break;
    }
}
