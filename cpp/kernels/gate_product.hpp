// The recurrent product inside the fused cell tiles: acc[r][gate] += h_{t-1}[r] W_hh^T for the
// NG gates of one block of VL hidden units, with W packed as [block][depth][NG gates][VL].
// Shared by every cell kind (lstm_postgemm.hpp, gru_postgemm.hpp).
#pragma once

#include "carried_tile.hpp"

// Calls add_term(k) for k < depth, upwards or downwards. Both LSTM products below take the
// direction: the sequence steps that walk their unit blocks backwards also walk each block's
// weights backwards, so a step starts on the very lines the last one read last. Of the tiny
// shape's 64 KB of W_hh, a 48 KB L1 then still holds 48 KB at the turn, not the last two
// blocks' 32 KB. The two agree on the order, so a row's bits do not depend on its tile.
template <typename AddTerm>
__attribute__((always_inline)) inline void for_each_depth(int64_t depth, bool descending, AddTerm add_term) {
    if (descending)
        for (int64_t k = depth - 1; k >= 0; --k) add_term(k);
    else
        for (int64_t k = 0; k < depth; ++k) add_term(k);
}

// acc[r][gate] += rows[r] W^T for one block of units, over k < depth, with W packed
// as [depth][NG gates][VL]. Kept out of line so the activation constants of the caller
// do not take the registers this loop needs for accumulators and weight vectors.
template <typename T, int R, int NG>
__attribute__((noinline)) void gate_product_rows(Vec<T> (&acc)[R][NG], const T* const (&rows)[R], const T* w,
                                            int64_t depth, bool descending = false) {
    using V = Vec<T>;
    constexpr int VL = V::width;
    V sum[R][NG];  // in registers: every loop over it is unrolled (else it lives on the stack)
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
        for (int g = 0; g < NG; ++g) sum[r][g] = acc[r][g];
    // Each weight vector is loaded once for all R rows (else: R loads per vector). Held in
    // registers: all NG weight vectors and one broadcast (R * NG + NG + 1), or all R broadcasts
    // and one weight vector (R * NG + R + 1); the smaller, so 3 x 4 fits AVX2's 16 registers.
    const auto add_term = [&](int64_t k) __attribute__((always_inline)) {
        if constexpr (R < NG) {
            V a[R];
            for (int r = 0; r < R; ++r) a[r] = V::broadcast(rows[r][k]);
            for (int g = 0; g < NG; ++g) {
                V weights = V::load(w + (k * NG + g) * VL);
                weights.keep_in_register();
                for (int r = 0; r < R; ++r) sum[r][g] = fma(a[r], weights, sum[r][g]);
            }
        } else {
            V weights[NG];
            for (int g = 0; g < NG; ++g) {
                weights[g] = V::load(w + (k * NG + g) * VL);
                weights[g].keep_in_register();
            }
            for (int r = 0; r < R; ++r) {
                const V a = V::broadcast(rows[r][k]);
                for (int g = 0; g < NG; ++g) sum[r][g] = fma(a, weights[g], sum[r][g]);
            }
        }
    };
    for_each_depth(depth, descending, add_term);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
        for (int g = 0; g < NG; ++g) acc[r][g] = sum[r][g];
}

// One row alone has only NG independent FMA chains, too few to hide the FMA
// latency: even and odd k go to separate sums, added at the end.
template <typename T, int NG>
__attribute__((noinline)) void gate_product_one_row(Vec<T> (&acc)[1][NG], const T* row, const T* w, int64_t depth) {
    using V = Vec<T>;
    constexpr int VL = V::width;
    V even[NG], odd[NG];
#pragma GCC unroll 8
    for (int g = 0; g < NG; ++g) {
        even[g] = acc[0][g];
        odd[g] = V::zero();
    }
    int64_t k = 0;
    for (; k + 2 <= depth; k += 2) {
        const V a0 = V::broadcast(row[k]), a1 = V::broadcast(row[k + 1]);
        for (int g = 0; g < NG; ++g) {
            even[g] = fma(a0, V::load(w + (k * NG + g) * VL), even[g]);
            odd[g] = fma(a1, V::load(w + ((k + 1) * NG + g) * VL), odd[g]);
        }
    }
    if (k < depth) {
        const V a0 = V::broadcast(row[k]);
        for (int g = 0; g < NG; ++g) even[g] = fma(a0, V::load(w + (k * NG + g) * VL), even[g]);
    }
#pragma GCC unroll 8
    for (int g = 0; g < NG; ++g) acc[0][g] = even[g] + odd[g];
}

// acc[b][gate] += row W_b^T for NB consecutive blocks of units (W_b at w + b * block_stride),
// one row: the LSTM's tile for a single row, where NB blocks give NB * NG independent FMA chains
// and NB independent cell updates for the out-of-order core to overlap. Each sum runs over k in
// order (up or down, as in gate_product_rows), so NB does not change the bits.
template <typename T, int NB, int NG>
__attribute__((noinline)) void gate_product_blocks(Vec<T> (&acc)[NB][NG], const T* row, const T* w,
                                              int64_t block_stride, int64_t depth, bool descending = false) {
    using V = Vec<T>;
    constexpr int VL = V::width;
    V sum[NB][NG];  // in registers, as in gate_product_rows
#pragma GCC unroll 8
    for (int b = 0; b < NB; ++b)
#pragma GCC unroll 8
        for (int g = 0; g < NG; ++g) sum[b][g] = acc[b][g];
    const auto add_term = [&](int64_t k) __attribute__((always_inline)) {
        const V a = V::broadcast(row[k]);
        for (int b = 0; b < NB; ++b)
            for (int g = 0; g < NG; ++g)
                sum[b][g] = fma(a, V::load(w + b * block_stride + (k * NG + g) * VL), sum[b][g]);
    };
    for_each_depth(depth, descending, add_term);
#pragma GCC unroll 8
    for (int b = 0; b < NB; ++b)
#pragma GCC unroll 8
        for (int g = 0; g < NG; ++g) acc[b][g] = sum[b][g];
}

// gate_product_blocks, carrying along a tile of another product (a CarriedTile): per k of the
// gate product also one k of the tile's TR rows x NV vectors. A single row's product waits on
// W_hh from L2 (the tiny shape's 64 KB against a 32 KB L1) with the FMA units half idle; the
// tile's FMAs fill them.
template <typename T, int NB, int NG, int TR, int NV>
__attribute__((noinline)) void gate_product_blocks_carrying(Vec<T> (&acc)[NB][NG], const T* row, const T* w,
                                                            int64_t block_stride, int64_t depth, bool descending,
                                                            const CarriedTile<T>& tile) {
    using V = Vec<T>;
    constexpr int VL = V::width;
    V sum[NB][NG];  // in registers, as in gate_product_rows
    V carried[TR][NV];
#pragma GCC unroll 8
    for (int b = 0; b < NB; ++b)
#pragma GCC unroll 8
        for (int g = 0; g < NG; ++g) sum[b][g] = acc[b][g];
    carried_tile_load<T, TR, NV>(carried, tile);
    // Every loop unrolled: with the tile's 16 more accumulators gcc left them on the stack.
    const auto add_term = [&](int64_t k) __attribute__((always_inline)) {
        const V a = V::broadcast(row[k]);
#pragma GCC unroll 8
        for (int b = 0; b < NB; ++b)
#pragma GCC unroll 8
            for (int g = 0; g < NG; ++g)
                sum[b][g] = fma(a, V::load(w + b * block_stride + (k * NG + g) * VL), sum[b][g]);
    };
    const int64_t tile_terms = tile.k_end - tile.k_begin;
    const int64_t both = depth < tile_terms ? depth : tile_terms;
    for (int64_t i = 0; i < both; ++i) {
        add_term(descending ? depth - 1 - i : i);
        carried_tile_add_term<T, TR, NV>(carried, tile, tile.k_begin + i);
    }
    for (int64_t i = both; i < depth; ++i) add_term(descending ? depth - 1 - i : i);
    for (int64_t i = both; i < tile_terms; ++i) carried_tile_add_term<T, TR, NV>(carried, tile, tile.k_begin + i);
#pragma GCC unroll 8
    for (int b = 0; b < NB; ++b)
#pragma GCC unroll 8
        for (int g = 0; g < NG; ++g) acc[b][g] = sum[b][g];
    carried_tile_store<T, TR, NV>(carried, tile);
}

// Stores h_t of one row's unit block (units < VL in the last block of H), and h_t * mask too
// where the recurrence reads a masked h (mask and masked_out null otherwise).
template <typename T>
inline void store_hidden(Vec<T> h, T* out, const T* mask, T* masked_out, int units) {
    using V = Vec<T>;
    if (units == V::width) {
        h.store(out);
        if (mask) (h * V::load(mask)).store(masked_out);
    } else {
        h.store_partial(out, units);
        if (mask) (h * V::load_partial(mask, units)).store_partial(masked_out, units);
    }
}

template <typename T, int R, int NG>
inline void gate_product(Vec<T> (&acc)[R][NG], const T* const (&rows)[R], const T* w, int64_t depth) {
    if constexpr (R == 1) gate_product_one_row<T, NG>(acc, rows[0], w, depth);
    else gate_product_rows<T, R, NG>(acc, rows, w, depth);
}
