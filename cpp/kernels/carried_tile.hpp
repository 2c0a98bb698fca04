// The accumulators of a CarriedTile (kernel_table.hpp) while another product runs beside them:
// TR rows x NV vectors, in registers as long as every loop over them is unrolled (so are the
// callers'). Each C value is one FMA chain over k ascending, continued through C across
// slices, and stored as the GEMM stores its tiles for a k within one k block: the bits are
// the GEMM's, whichever kernel computed them.
#pragma once

template <typename T, int TR, int NV>
__attribute__((always_inline)) inline void carried_tile_load(Vec<T> (&sums)[TR][NV], const CarriedTile<T>& tile) {
    using V = Vec<T>;
    // One branch for the whole tile: a select per vector would read C even where it starts at zero.
    if (tile.k_begin == 0) {
#pragma GCC unroll 16
        for (int r = 0; r < TR; ++r)
#pragma GCC unroll 4
            for (int j = 0; j < NV; ++j) sums[r][j] = V::zero();
    } else {
#pragma GCC unroll 16
        for (int r = 0; r < TR; ++r)
#pragma GCC unroll 4
            for (int j = 0; j < NV; ++j) sums[r][j] = V::load(tile.c + r * tile.ldc + j * V::width);
    }
}

// sums[r] += A[r][k] B_panel[k], for one k of the tile.
template <typename T, int TR, int NV>
__attribute__((always_inline)) inline void carried_tile_add_term(Vec<T> (&sums)[TR][NV], const CarriedTile<T>& tile,
                                                                 int64_t k) {
    using V = Vec<T>;
    V b[NV];
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) b[j] = V::load(tile.b_panel + (k * NV + j) * V::width);
#pragma GCC unroll 16
    for (int r = 0; r < TR; ++r) {
        const V a = V::broadcast(tile.a[r * tile.lda + k]);
#pragma GCC unroll 4
        for (int j = 0; j < NV; ++j) sums[r][j] = fma(a, b[j], sums[r][j]);
    }
}

template <typename T, int TR, int NV>
__attribute__((always_inline)) inline void carried_tile_store(const Vec<T> (&sums)[TR][NV], const CarriedTile<T>& tile) {
#pragma GCC unroll 16
    for (int r = 0; r < TR; ++r)
#pragma GCC unroll 4
        for (int j = 0; j < NV; ++j) sums[r][j].store(tile.c + r * tile.ldc + j * Vec<T>::width);
}
