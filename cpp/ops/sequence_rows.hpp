// Where each (step, sequence) row of a variable-length batch lives, with no padding
// (the layout of PyTorch's PackedSequence).
//
// Sequences are ordered longest first (stable), so at step t the sequences still running
// are the first count[t] of that order, and step t's rows are the contiguous range
// [offset[t], offset[t] + count[t]) of every per-step array the drivers keep. Past its
// length a sequence has no rows at all: no compute is spent on padding. A batch without
// lengths is the special case count[t] = B, offset[t] = t * B, order = identity, in
// which these arrays are the caller's (T, B, .) arrays themselves.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

namespace fast_lstm {

struct SequenceRows {
    int64_t steps = 0, batch = 0, total = 0;  // T, B, N = sum of lengths
    std::vector<int64_t> count, offset;       // (T,) rows of each step and where they start
    std::vector<int64_t> order;               // sorted row j is the caller's row order[j]
    std::vector<int64_t> length;              // sorted lengths (B,)
    bool sorted = true;                       // order is the identity

    // Every sequence runs all T steps: the rows are the caller's (T, B, .) layout.
    bool dense() const { return total == steps * batch; }
    // The row of sequence j (sorted order) at step t < length[j].
    int64_t row(int64_t t, int64_t j) const { return offset[t] + j; }
};

// lengths (B,) in [0, T], or null for full-length sequences.
SequenceRows sequence_rows(int64_t steps, int64_t batch, const int64_t* lengths);

// The end of the window of steps starting at first_step whose rows number at most max_rows
// (always at least one step); the rows of steps [first_step, end) are contiguous.
int64_t window_end(const SequenceRows& rows, int64_t first_step, int64_t max_rows);

// Rows of x W_ih^T projected ahead by a forward pass (an LSTM's, training or not; a GRU's in
// inference), at least one step's. About 512 KB of gates, an L2's worth, so the steps read them
// back from L2 rather than L3 (4 MB windows cost the small and long shapes 10-14%). But at
// least 256 rows, and as many as the input width, so the GEMM stays efficient and streams no
// more of W_ih per window than it writes gates (one step of 64 rows cost the large shape 12-17%;
// 256 rows looked 1-6% slower there, near the noise); and at most the 4 MB, which every shape
// ran well with.
inline int64_t projection_window_rows(int64_t batch, int64_t inputs, int64_t gate_columns, int64_t element_size) {
    const int64_t row_bytes = gate_columns * element_size;
    const int64_t wanted = std::max({(int64_t(512) << 10) / row_bytes, int64_t(256), inputs});
    const int64_t rows = std::min(wanted, (int64_t(4) << 20) / row_bytes);
    return std::max(rows, batch);
}

// dst (N, width) <- src (T, B, width) at each row's (step, caller row).
template <typename T>
void gather_sequence_rows(const SequenceRows& rows, T* dst, const T* src, int64_t width);

// dst (T, B, width) <- src (N, width); entries past a sequence's length are set to zero.
template <typename T>
void scatter_sequence_rows(const SequenceRows& rows, T* dst, const T* src, int64_t width);

// dst (N, width) <- the state each row started from. states (B + N, width) holds the B
// initial states (sorted), then each row's state after its step; the rows of step t start
// from step t-1's rows of the same sequences (the first count[t] of them).
template <typename T>
void gather_previous_states(const SequenceRows& rows, T* dst, const T* states, int64_t width);

// dst (B, width) in sorted order <- src (B, width) in the caller's order, and back.
template <typename T>
void gather_batch(const SequenceRows& rows, T* dst, const T* src, int64_t width);
template <typename T>
void scatter_batch(const SequenceRows& rows, T* dst, const T* src, int64_t width);

}  // namespace fast_lstm
