// What the LSTM and GRU forward drivers share before and around their steps: the inputs in
// sorted row order, and the input projection of a window of steps.
#pragma once

#include <cstdint>

#include "../kernels/kernel_table.hpp"
#include "../runtime/aligned_buffer.hpp"
#include "../runtime/thread_pool.hpp"
#include "packing.hpp"
#include "sequence_rows.hpp"

namespace fast_lstm {

// x as N rows (D), h0 (B, R) and the mask (B, R) in sorted order: the caller's arrays where they
// already are (no lengths), else copies. h0 null gives zeros. The mask is also copied when the
// record must keep it (keep_mask).
template <typename T>
struct SortedInputs {
    const T* x_rows = nullptr;
    const T* h_initial = nullptr;
    const T* mask = nullptr;
    AlignedBuffer<T> x_buffer, h0_buffer, mask_buffer;

    SortedInputs(const SequenceRows& rows, const T* x, int64_t D, const T* h0, const T* recurrent_mask, int64_t R,
                 bool keep_mask) {
        const int64_t B = rows.batch;
        x_rows = x;
        if (!rows.dense()) {
            x_buffer = AlignedBuffer<T>(rows.total * D);
            gather_sequence_rows(rows, x_buffer.data(), x, D);
            x_rows = x_buffer.data();
        }
        h_initial = h0;
        if (!h0 || !rows.sorted) {
            h0_buffer = AlignedBuffer<T>(B * R);
            if (h0) gather_batch(rows, h0_buffer.data(), h0, R);
            else h0_buffer.fill_zero();
            h_initial = h0_buffer.data();
        }
        mask = recurrent_mask;
        if (mask && (keep_mask || !rows.sorted)) {
            mask_buffer = AlignedBuffer<T>(B * R);
            gather_batch(rows, mask_buffer.data(), recurrent_mask, R);
            mask = mask_buffer.data();
        }
    }
};

// The operands a training forward packs for backward while the data is at hand, as GEMM B
// panels (this thread's share of the panels): x rows (N, D), W_ih (rows, D), W_hh (rows, R).
template <typename T>
void pack_backward_operands(const Team& team, int64_t nr, const T* x_rows, int64_t N, int64_t D, const T* w_ih,
                            const T* w_hh, int64_t rows, int64_t R, T* x_packed, T* w_ih_packed, T* w_hh_packed) {
    int64_t begin, end;
    split_range(ceil_div(D, nr), 1, team.size, team.index, &begin, &end);
    pack_b_panels(x_packed, x_rows, D, 1, N, D, nr, begin, end);
    pack_b_panels(w_ih_packed, w_ih, D, 1, rows, D, nr, begin, end);
    split_range(ceil_div(R, nr), 1, team.size, team.index, &begin, &end);
    pack_b_panels(w_hh_packed, w_hh, R, 1, rows, R, nr, begin, end);
}

// x W^T for the window of steps that starts at step `first`, into xproj (window rows, G; row
// stride ld_xproj) with w packed as GEMM B panels (D, G). Returns the step after the window.
// Every thread computes the same window. Given own_panels (the panels of G this thread's steps
// read, and the only ones they read until the next window), a thread computes all rows of
// those panels and needs no barrier: the gates it then reads are its own core's writes. Else
// the rows are split across the team, then a barrier.
struct PanelRange {
    int64_t begin = 0, end = 0;
};

template <typename T>
int64_t project_window(const Kernels<T>& kernels, const Team& team, const SequenceRows& rows, int64_t first,
                       int64_t window_rows, const T* x_rows, int64_t D, const T* w_packed, T* xproj, int64_t G,
                       int64_t ld_xproj, T* workspace, const PanelRange* own_panels = nullptr) {
    const int64_t last = window_end(rows, first, window_rows);
    const int64_t row0 = rows.offset[first], count = rows.offset[last - 1] + rows.count[last - 1] - row0;
    const GemmArgs<T> projection{x_rows + row0 * D, D, 1, w_packed, xproj, ld_xproj, count, G, D, false};
    if (own_panels) {
        if (own_panels->begin < own_panels->end)
            kernels.gemm(projection, 0, count, own_panels->begin, own_panels->end, workspace);
        return last;
    }
    int64_t begin, end;
    split_range(count, kernels.gemm_mr, team.size, team.index, &begin, &end);
    if (begin < end) kernels.gemm(projection, begin, end, 0, ceil_div(G, kernels.gemm_nr), workspace);
    team.sync();
    return last;
}

}  // namespace fast_lstm
