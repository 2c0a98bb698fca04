// GEMM in the BLIS structure: block loops -> A packing -> register-blocked microkernel.
//
// C[M, N] (+)= A[M, K] B[K, N]. B comes packed once by the caller
// (ops/packing.cpp) as panels [N / NR][K][NR], zero-padded. An A with contiguous
// rows is read in place when few panels read it (see gemm_blocked); otherwise A is
// packed here per (MC x KC) block into [MC / MR][KC][MR], so the microkernel reads it
// contiguously whatever its strides (this is how A^T products such as dW = dG^T X are
// done without a transpose copy).
//
// Determinism: every C element is summed over k in the same order (KC blocks
// ascending, k ascending within) whichever rows and panels a thread is given,
// so results do not depend on the thread count.
#pragma once

#include "carried_tile.hpp"

template <typename T>
inline int64_t gemm_min(int64_t a, int64_t b) {
    return a < b ? a : b;
}

// Asks for the cache lines of base[offset, offset + n) ahead of their use. Rows of A far apart in
// memory (dG's rows are NG*H or a little more apart) each start a new page, where the hardware
// prefetcher does not follow. The run may lie past A's end (the rows after a last block): the
// address is formed as an integer, since a pointer past the array would be undefined, and a
// prefetch never faults.
template <typename T>
inline void prefetch_run(const T* base, int64_t offset, int64_t n) {
    const uintptr_t start = reinterpret_cast<uintptr_t>(base) + static_cast<uintptr_t>(offset * int64_t(sizeof(T)));
    for (int64_t at = 0; at < n * int64_t(sizeof(T)); at += 64)
        __builtin_prefetch(reinterpret_cast<const void*>(start + static_cast<uintptr_t>(at)), 0, 3);
}

// Four rows of A (contiguous along k, rows row_stride apart) into four adjacent lanes of a
// sliver (out[p * mr + 0..3] = rows 0..3 at column p), by 4 x 4 transposes in SSE registers (part
// of every x86-64 CPU): 8 memory operations per 16 values in place of 32, where packing h_{t-1}
// element by element took 2-3% of the large shape's forward. False where there is no such path.
inline bool gemm_pack_four_rows(float* out, int64_t mr, const float* a, int64_t row_stride, int64_t cols) {
#if defined(__SSE2__)
    if (mr % 4) return false;
    const float *r0 = a, *r1 = a + row_stride, *r2 = a + 2 * row_stride, *r3 = a + 3 * row_stride;
    int64_t p = 0;
    for (; p + 4 <= cols; p += 4) {
        __m128 w = _mm_loadu_ps(r0 + p), x = _mm_loadu_ps(r1 + p), y = _mm_loadu_ps(r2 + p), z = _mm_loadu_ps(r3 + p);
        _MM_TRANSPOSE4_PS(w, x, y, z);
        _mm_storeu_ps(out + p * mr, w);
        _mm_storeu_ps(out + (p + 1) * mr, x);
        _mm_storeu_ps(out + (p + 2) * mr, y);
        _mm_storeu_ps(out + (p + 3) * mr, z);
    }
    for (; p < cols; ++p) {
        out[p * mr] = r0[p];
        out[p * mr + 1] = r1[p];
        out[p * mr + 2] = r2[p];
        out[p * mr + 3] = r3[p];
    }
    return true;
#else
    return false;
#endif
}
inline bool gemm_pack_four_rows(double*, int64_t, const double*, int64_t, int64_t) { return false; }

// Packs rows [0, rows) x cols [0, cols) of A (strided) into MR-row slivers. A last sliver
// of fewer rows keeps the MR stride but is not zero-filled: only its valid rows are read.
template <typename T, int MR>
void gemm_pack_a(T* dst, const T* a, int64_t row_stride, int64_t col_stride, int64_t rows, int64_t cols) {
    if (row_stride == 1) {
        // A is a transpose (dW = dG^T X): its rows sit side by side in memory, so walk k outside
        // and read each k's run of all the rows once, in order, for every sliver. A sliver's MR
        // values go as one vector where the vector stays inside A's rows: its VL - MR lanes too
        // many land on the sliver's slot for k + 1, written after it (so the last k goes element
        // by element). Element by element, these copies took 5% of a training step.
        using V = Vec<T>;
        constexpr int VL = V::width;
        constexpr bool by_vector = MR <= VL && VL <= 2 * MR;
        for (int64_t p = 0; p < cols; ++p) {
            const T* src = a + p * col_stride;
            prefetch_run(a, (p + 4) * col_stride, rows);
            int64_t r0 = 0;
            if (by_vector && p + 1 < cols)
                for (; r0 + VL <= rows; r0 += MR) V::load(src + r0).store(dst + (r0 / MR) * cols * MR + p * MR);
            for (; r0 < rows; r0 += MR) {
                T* out = dst + (r0 / MR) * cols * MR + p * MR;
                const int64_t valid = gemm_min<T>(MR, rows - r0);
                for (int64_t r = 0; r < valid; ++r) out[r] = src[r0 + r];
            }
        }
        return;
    }
    for (int64_t r0 = 0; r0 < rows; r0 += MR) {
        T* sliver = dst + (r0 / MR) * cols * MR;
        const int64_t valid = gemm_min<T>(MR, rows - r0);
        int64_t r = 0;
        if (col_stride == 1)
            for (; r + 4 <= valid; r += 4) {
                for (int q = 4; q < 8; ++q) prefetch_run(a, (r0 + r + q) * row_stride, cols);  // the next four
                if (!gemm_pack_four_rows(sliver + r, MR, a + (r0 + r) * row_stride, row_stride, cols)) break;
            }
        for (; r < valid; ++r) {
            const T* src = a + (r0 + r) * row_stride;
            if (col_stride == 1) prefetch_run(a, (r0 + r + 2) * row_stride, cols);
            for (int64_t p = 0; p < cols; ++p) sliver[p * MR + r] = src[p * col_stride];
        }
    }
}

// Element (r, p) of an MR-row sliver of A: packed ([K][MR], DIRECT false) or read in place from
// rows lda apart (DIRECT true, A's rows contiguous along k).
template <typename T, int MR, bool DIRECT>
inline T gemm_a_at(const T* a, int64_t lda, int64_t p, int r) {
    return DIRECT ? a[r * lda + p] : a[p * MR + r];
}

// C tile [MR x NV*VL] = acc, or += acc; a last panel's tile only its first n_valid columns.
// Every loop over a tile's accumulators is unrolled (here and where they are zeroed), so each
// index is a constant and the tile stays in registers. With a loop gcc would not unroll (the
// partial panel's early exit) the whole tile went through the stack: 24 stores and 24 loads per
// microkernel call (removing it: 0.5-3.6% faster calls in an A/B on the Intel machine).
template <typename T, int MR, int NV>
__attribute__((always_inline)) inline void gemm_store_tile(Vec<T> (&acc)[MR][NV], T* c, int64_t ldc,
                                                          bool accumulate, int64_t n_valid) {
    using V = Vec<T>;
    constexpr int VL = V::width;
    if (n_valid == NV * VL) {
        if (accumulate) {
#pragma GCC unroll 32
            for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
                for (int j = 0; j < NV; ++j) (acc[r][j] + V::load(c + r * ldc + j * VL)).store(c + r * ldc + j * VL);
        } else {
#pragma GCC unroll 32
            for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
                for (int j = 0; j < NV; ++j) acc[r][j].store(c + r * ldc + j * VL);
        }
        return;
    }
    int lanes[NV];  // of each vector of a row, the same in every row
    for (int j = 0; j < NV; ++j) {
        const int64_t left = n_valid - j * VL;
        lanes[j] = left <= 0 ? 0 : static_cast<int>(gemm_min<T>(VL, left));
    }
#pragma GCC unroll 32
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
        for (int j = 0; j < NV; ++j) {
            if (lanes[j] == 0) continue;
            T* out = c + r * ldc + j * VL;
            (accumulate ? acc[r][j] + V::load_partial(out, lanes[j]) : acc[r][j]).store_partial(out, lanes[j]);
        }
}

// C tile [MR x NV*VL] (+)= A sliver [K][MR] * B panel [K][NV*VL]; a last panel stores only
// its n_valid columns. With PREFETCH_B, b_next (the next panel's B, same k range) is asked for
// into L2, a row of it per k, as this panel's is read.
template <typename T, int MR, int NV, bool DIRECT, bool PREFETCH_B = false>
inline void gemm_microkernel(int64_t k, const T* a_sliver, int64_t lda, const T* b_panel, T* c, int64_t ldc,
                             bool accumulate, int64_t n_valid, const T* b_next = nullptr) {
    using V = Vec<T>;
    constexpr int VL = V::width;
    constexpr int NR = NV * VL;
    V acc[MR][NV];
#pragma GCC unroll 32
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
        for (int j = 0; j < NV; ++j) acc[r][j] = V::zero();
    // The C tile's rows lie a row of C apart, often outside the caches (a step's C is its
    // projected inputs, MBs): ask for them now so the stores after the k loop do not wait.
    constexpr int C_LINES = (NR * int(sizeof(T)) + 63) / 64;
    for (int r = 0; r < MR; ++r)
        for (int line = 0; line < C_LINES; ++line)
            __builtin_prefetch(reinterpret_cast<const char*>(c + r * ldc) + 64 * line, 1, 3);

    for (int64_t p = 0; p < k; ++p) {
        if constexpr (PREFETCH_B)
            for (int line = 0; line < C_LINES; ++line)  // a B row is as wide as a C row
                __builtin_prefetch(reinterpret_cast<const char*>(b_next + p * NR) + 64 * line, 0, 2);
        V b[NV];
        for (int j = 0; j < NV; ++j) b[j] = V::load(b_panel + p * NR + j * VL);
        for (int r = 0; r < MR; ++r) {
            const V a = V::broadcast(gemm_a_at<T, MR, DIRECT>(a_sliver, lda, p, r));
            for (int j = 0; j < NV; ++j) acc[r][j] = fma(a, b[j], acc[r][j]);
        }
    }

    gemm_store_tile<T, MR, NV>(acc, c, ldc, accumulate, n_valid);
}

// The last sliver when it has ROWS < MR valid rows (a batch of 1 in the backward dh GEMM, the
// rows past the last whole sliver): only those rows are computed, across PANELS B panels at
// once so there are still enough independent FMA chains. Each C element sees the same FMA
// sequence as in the full tile, so the bits do not depend on which kernel ran.
template <typename T, int MR, int NV, bool DIRECT, int ROWS, int PANELS>
inline void gemm_edge_kernel(int64_t k, const T* a_sliver, int64_t lda, const T* b_panels, int64_t panel_stride, T* c,
                             int64_t ldc, bool accumulate, const int64_t (&n_valid)[PANELS]) {
    using V = Vec<T>;
    constexpr int VL = V::width;
    constexpr int NR = NV * VL;
    V acc[PANELS][ROWS][NV];
#pragma GCC unroll 32
    for (int q = 0; q < PANELS; ++q)
#pragma GCC unroll 32
        for (int r = 0; r < ROWS; ++r)
#pragma GCC unroll 4
            for (int j = 0; j < NV; ++j) acc[q][r][j] = V::zero();
    for (int64_t p = 0; p < k; ++p) {
        for (int r = 0; r < ROWS; ++r) {
            const V a = V::broadcast(gemm_a_at<T, MR, DIRECT>(a_sliver, lda, p, r));
            for (int q = 0; q < PANELS; ++q)
                for (int j = 0; j < NV; ++j)
                    acc[q][r][j] = fma(a, V::load(b_panels + q * panel_stride + p * NR + j * VL), acc[q][r][j]);
        }
    }
#pragma GCC unroll 32
    for (int q = 0; q < PANELS; ++q) gemm_store_tile<T, ROWS, NV>(acc[q], c + q * NR, ldc, accumulate, n_valid[q]);
}

// A one-row product (the backward's dh_{t-1} = dG_t W_hh for a batch of one) with a slice of
// another product's TR-row tile computed along. The row alone keeps NV FMA chains going, each
// waiting on the last FMA and on its B from L2, the FMA units half idle; the tile's FMAs fill
// them. The row's C elements are FMA chains over k ascending from zero, stored as
// gemm_edge_kernel and gemm_microkernel store theirs for a k within one k block, and so are the
// tile's (carried_tile.hpp): the bits do not depend on which kernel computed them.
template <typename T, int NV, int TR>
void gemm_row_carrying(const GemmArgs<T>& g, int64_t panel_begin, int64_t panel_end, const CarriedTile<T>& s) {
    using V = Vec<T>;
    constexpr int VL = V::width;
    constexpr int64_t NR = NV * VL;
    V tile[TR][NV];
    carried_tile_load<T, TR, NV>(tile, s);
    // One k of the tile after every `every` k of the row, spread over all the row's panels.
    const int64_t terms = s.k_end - s.k_begin, row_terms = (panel_end - panel_begin) * g.k;
    const int64_t every = terms <= 0 ? row_terms + 1 : row_terms / terms > 1 ? row_terms / terms : 1;
    int64_t next = s.k_begin;
    for (int64_t panel = panel_begin; panel < panel_end; ++panel) {
        const T* b = g.b_packed + panel * g.k * NR;
        V acc[1][NV];
#pragma GCC unroll 4
        for (int j = 0; j < NV; ++j) acc[0][j] = V::zero();
        for (int64_t p0 = 0; p0 < g.k; p0 += every) {
            const int64_t p_end = gemm_min<T>(p0 + every, g.k);
            for (int64_t p = p0; p < p_end; ++p) {
                const V a = V::broadcast(g.a[p * g.a_col_stride]);
#pragma GCC unroll 4
                for (int j = 0; j < NV; ++j) acc[0][j] = fma(a, V::load(b + p * NR + j * VL), acc[0][j]);
            }
            if (next < s.k_end) carried_tile_add_term<T, TR, NV>(tile, s, next++);
        }
        gemm_store_tile<T, 1, NV>(acc, g.c + panel * NR, g.ldc, g.accumulate, gemm_min<T>(NR, g.n - panel * NR));
    }
    while (next < s.k_end) carried_tile_add_term<T, TR, NV>(tile, s, next++);
    carried_tile_store<T, TR, NV>(tile, s);
}

// The most panels, a power of two, whose ROWS-row tiles hold no more accumulators than the full
// MR-row tile (which fits the registers).
template <int MR, int ROWS>
constexpr int gemm_edge_panels() {
    int panels = 1;
    while (2 * panels * ROWS <= MR) panels *= 2;
    return panels;
}

// Panels [panel_begin, panel_end) of an edge sliver of ROWS rows, PANELS at a time. Eight FMA
// chains just cover the FMA latency, with nothing to spare: AVX-512's 4-row edge (the 64 rows
// of the medium and large shapes, 3-4% of their forward on Zen 5): with 16 the whole forward
// went 0.5-0.7% faster.
template <typename T, int MR, int NV, bool DIRECT, int ROWS>
void gemm_edge_rows(const GemmArgs<T>& g, int64_t kc, int64_t k0, const T* a_sliver, int64_t lda, T* c_rows,
                    bool accumulate, int64_t panel_begin, int64_t panel_end) {
    constexpr int64_t NR = NV * Vec<T>::width;
    constexpr int PANELS = gemm_edge_panels<MR, ROWS>();
    int64_t panel = panel_begin;
    for (; panel + PANELS <= panel_end; panel += PANELS) {
        int64_t n_valid[PANELS];
        for (int q = 0; q < PANELS; ++q) n_valid[q] = gemm_min<T>(NR, g.n - (panel + q) * NR);
        gemm_edge_kernel<T, MR, NV, DIRECT, ROWS, PANELS>(kc, a_sliver, lda, g.b_packed + panel * g.k * NR + k0 * NR,
                                                          g.k * NR, c_rows + panel * NR, g.ldc, accumulate, n_valid);
    }
    for (; panel < panel_end; ++panel) {
        const int64_t n_valid[1] = {gemm_min<T>(NR, g.n - panel * NR)};
        gemm_edge_kernel<T, MR, NV, DIRECT, ROWS, 1>(kc, a_sliver, lda, g.b_packed + panel * g.k * NR + k0 * NR,
                                                     g.k * NR, c_rows + panel * NR, g.ldc, accumulate, n_valid);
    }
}

template <typename T, int MR, int NV, bool DIRECT, int ROWS = MR - 1>
void gemm_edge(int64_t rows, const GemmArgs<T>& g, int64_t kc, int64_t k0, const T* a_sliver, int64_t lda,
               T* c_rows, bool accumulate, int64_t panel_begin, int64_t panel_end) {
    if constexpr (ROWS >= 1) {
        if (rows == ROWS)
            gemm_edge_rows<T, MR, NV, DIRECT, ROWS>(g, kc, k0, a_sliver, lda, c_rows, accumulate, panel_begin,
                                                    panel_end);
        else
            gemm_edge<T, MR, NV, DIRECT, ROWS - 1>(rows, g, kc, k0, a_sliver, lda, c_rows, accumulate, panel_begin,
                                                   panel_end);
    }
}

// Rows [m0, m0 + mc) x k [k0, k0 + kc) of A against panels [panel_begin, panel_end), with A's
// slivers at `a` (packed [mc / MR][kc][MR] when not DIRECT, else A itself at row m0, column k0).
template <typename T, int MR, int NV, bool DIRECT>
void gemm_block(const GemmArgs<T>& g, int64_t m0, int64_t mc, int64_t k0, int64_t kc, const T* a, bool accumulate,
                int64_t panel_begin, int64_t panel_end) {
    constexpr int64_t NR = NV * Vec<T>::width;
    const int64_t lda = g.a_row_stride;
    auto sliver = [&](int64_t r0) { return DIRECT ? a + r0 * lda : a + (r0 / MR) * kc * MR; };
    const int64_t whole = mc - mc % MR;  // rows in whole slivers
    // The edge rows go through the panels a group at a time, right after the whole slivers have
    // read that group: its B is then still in L1. After the last panel it would have to come
    // again from memory, MBs of it when B is a large weight matrix.
    constexpr int64_t EDGE_GROUP = 8;
    // A B too large for L2 (W_hh of the large and xlarge shapes, per step) streams from L3 or
    // memory, and the first sliver of each panel waited for it: that sliver asks for the next
    // panel's B (into L2) as it reads its own. Measured on Zen 5 (AVX-512), forward: large 2.8%
    // and xlarge 8-10% faster; with a B well inside L2 (small, long) 0.2-0.8% slower. The medium
    // shape's W_hh is exactly 1 MB, so it prefetches: without, 0.996 (in the noise).
    const bool prefetch_b = (panel_end - panel_begin) * g.k * NR * int64_t(sizeof(T)) >= (int64_t(1) << 20);
    for (int64_t group = panel_begin; group < panel_end; group += EDGE_GROUP) {
        const int64_t group_end = gemm_min<T>(group + EDGE_GROUP, panel_end);
        for (int64_t panel = group; panel < group_end; ++panel) {
            const T* b_panel = g.b_packed + panel * g.k * NR + k0 * NR;
            const int64_t n_valid = gemm_min<T>(NR, g.n - panel * NR);
            int64_t r0 = 0;
            if (prefetch_b && whole > 0 && panel + 1 < panel_end) {
                gemm_microkernel<T, MR, NV, DIRECT, true>(kc, sliver(0), lda, b_panel, g.c + m0 * g.ldc + panel * NR,
                                                          g.ldc, accumulate, n_valid, b_panel + g.k * NR);
                r0 = MR;
            }
            for (; r0 < whole; r0 += MR)
                gemm_microkernel<T, MR, NV, DIRECT>(kc, sliver(r0), lda, b_panel,
                                                    g.c + (m0 + r0) * g.ldc + panel * NR, g.ldc, accumulate, n_valid);
        }
        if (whole < mc)
            gemm_edge<T, MR, NV, DIRECT>(mc - whole, g, kc, k0, sliver(whole), lda, g.c + (m0 + whole) * g.ldc,
                                         accumulate, group, group_end);
    }
}

// sums[r] += the sum over k of row r of an A block, for its mc rows: packed ([mc / MR][kc][MR], a
// last sliver's rows past mc unset) or in place (rows lda apart, contiguous along k). In k order:
// with the blocks taken in k order, a row's sum is the same whichever thread computes it.
template <typename T, int MR, bool DIRECT>
void gemm_add_row_sums(T* sums, const T* a, int64_t lda, int64_t mc, int64_t kc) {
    for (int64_t r0 = 0; r0 < mc; r0 += MR) {
        const T* sliver = DIRECT ? a + r0 * lda : a + (r0 / MR) * kc * MR;
        const int rows = static_cast<int>(gemm_min<T>(MR, mc - r0));
        T acc[MR] = {};
        for (int r = 0; r < rows; ++r) acc[r] = sums[r0 + r];
        if (!DIRECT && rows == MR) {  // the common case, a whole sliver: vectorised across its rows
            for (int64_t p = 0; p < kc; ++p)
                for (int r = 0; r < MR; ++r) acc[r] += sliver[p * MR + r];
        } else {
            for (int r = 0; r < rows; ++r)
                for (int64_t p = 0; p < kc; ++p) acc[r] += gemm_a_at<T, MR, DIRECT>(sliver, lda, p, r);
        }
        for (int r = 0; r < rows; ++r) sums[r0 + r] = acc[r];
    }
}

// B panels of n columns.
template <typename T, int NV>
inline int64_t gemm_panels(int64_t n) {
    return (n + NV * Vec<T>::width - 1) / (NV * Vec<T>::width);
}

// `also`, when given, is a second product of the same A (a, strides, m, k) against other B panels
// (all of them): each block of A is then packed once for both.
template <typename T, int MR, int NV>
void gemm_blocked(const GemmArgs<T>& g, int64_t m_begin, int64_t m_end, int64_t panel_begin,
                  int64_t panel_end, T* a_workspace, int64_t kc_max, int64_t mc_max,
                  const GemmArgs<T>* also = nullptr) {
    const int64_t also_panels = also ? gemm_panels<T, NV>(also->n) : 0;
    // An A whose rows are contiguous along k (x W^T, dG W) is read where it lies when few panels
    // will read it: packing would cost 5-10% of such a GEMM (the per-step dh = dG W_hh of the
    // backward). Many panels re-read the block once each: from MR rows a multiple of 2 KB
    // apart, which share few L1 sets, that went faster from one contiguous packed stream (the
    // large and xlarge shapes' h, 2 and 4 KB rows). AVX-512's 12 rows at once also lost to the
    // packed stream at other strides beyond 256 columns: on Zen 4 the forward of small and medium
    // (0.5 and 1 KB rows, 512-1024 columns) 2-4% faster packed, the backward of large level (its
    // dh GEMM at 1 thread and dx now packed, 512 columns); on Zen 5, with its 48 KB L1, direct
    // had been 0.9% faster at medium. On AVX-512, rows a multiple of 2 KB apart are packed even
    // for few panels. AVX2's 6 rows keep the rule of Zen 3 (forced onto avx2 on Zen 4, small's
    // forward ran 6% slower packed).
    constexpr int64_t NR = NV * Vec<T>::width;
    T* row_sums = g.a_row_sums ? g.a_row_sums : also ? also->a_row_sums : nullptr;
    const int64_t panels = panel_end - panel_begin, row_bytes = g.a_row_stride * int64_t(sizeof(T));
    const bool sets_shared = row_bytes % 2048 == 0;
    const bool in_place = MR >= 8 ? panels * NR <= 256 && !sets_shared : panels <= 16 || !sets_shared;
    const bool direct = g.a_col_stride == 1 && in_place;
    for (int64_t k0 = 0; k0 < g.k; k0 += kc_max) {
        const int64_t kc = gemm_min<T>(kc_max, g.k - k0);
        const bool accumulate = g.accumulate || k0 > 0;
        const bool also_accumulate = also && (also->accumulate || k0 > 0);
        for (int64_t m0 = m_begin; m0 < m_end; m0 += mc_max) {
            const int64_t mc = gemm_min<T>(mc_max, m_end - m0);
            const T* a = g.a + m0 * g.a_row_stride + k0 * g.a_col_stride;
            if (direct) {
                if (row_sums) gemm_add_row_sums<T, MR, true>(row_sums + m0, a, g.a_row_stride, mc, kc);
                gemm_block<T, MR, NV, true>(g, m0, mc, k0, kc, a, accumulate, panel_begin, panel_end);
                if (also) gemm_block<T, MR, NV, true>(*also, m0, mc, k0, kc, a, also_accumulate, 0, also_panels);
            } else {
                gemm_pack_a<T, MR>(a_workspace, a, g.a_row_stride, g.a_col_stride, mc, kc);
                if (row_sums) gemm_add_row_sums<T, MR, false>(row_sums + m0, a_workspace, 0, mc, kc);
                gemm_block<T, MR, NV, false>(g, m0, mc, k0, kc, a_workspace, accumulate, panel_begin, panel_end);
                if (also)
                    gemm_block<T, MR, NV, false>(*also, m0, mc, k0, kc, a_workspace, also_accumulate, 0, also_panels);
            }
        }
    }
}
