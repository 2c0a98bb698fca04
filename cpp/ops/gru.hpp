// The GRU drivers: loops over time around the GRU kernels of one ISA (kernels/gru_postgemm.hpp).
//
// Shapes and pointers arrive validated by the bindings. All arrays are C-contiguous; x (T, B, D),
// weights as PyTorch's nn.GRU (gate order r, z, n): w_ih (3H, D), w_hh (3H, H), b_ih, b_hh (3H,);
// h (B, H), y (T, B, H). Dimensions and per-call options are the LSTM's (lstm.hpp).
#pragma once

#include <cstdint>

#include "../kernels/kernel_table.hpp"
#include "../runtime/aligned_buffer.hpp"
#include "lstm.hpp"
#include "sequence_rows.hpp"

namespace fast_lstm {

// What gru_backward needs from a training forward pass; per-step arrays hold the N rows of `rows`.
template <typename T>
struct GruTrainingRecord {
    LstmDims dims{};
    const Kernels<T>* kernels = nullptr;  // backward must read the layouts forward wrote
    int64_t hidden_padded = 0;
    SequenceRows rows;
    AlignedBuffer<T> recurrent_mask;    // (B, H) in sorted order; empty without one
    AlignedBuffer<T> x_packed;          // x rows (N, D) as GEMM B panels, for dW_ih = dG_x^T x
    AlignedBuffer<T> hidden_states;     // (B + N, H): h_0, then each row's h_t
    AlignedBuffer<T> recurrent_inputs;  // (B + N, H): hidden_states * mask, what the recurrence read
                                        // (so what dW_hh needs); empty without a mask
    AlignedBuffer<T> gate_values;       // activated r, z, n: (N, 3*Hp), gate-interleaved
    AlignedBuffer<T> hn_values;         // W_hn h_{t-1} + b_hn: (N, Hp)
    AlignedBuffer<T> w_ih_packed;       // W_ih (3H, D) as GEMM B panels, for dx = dG_x W_ih
    AlignedBuffer<T> w_hh_packed;       // W_hh (3H, H) as GEMM B panels, for dh = dG_h W_hh
};

// h0 may be null (zeros); record null = inference (nothing saved). Past its length a
// sequence's state is frozen (h_n is its state at its length) and its y rows are zero.
template <typename T>
void gru_forward(const Kernels<T>& kernels, int threads, const LstmDims& dims, const LstmSequenceOptions<T>& options,
                 const T* x, const T* w_ih, const T* w_hh, const T* b_ih, const T* b_hh, const T* h0, T* y, T* h_n,
                 GruTrainingRecord<T>* record);

// dx may be null: its GEMM is skipped. dy, dh_n may be null (zeros); dy past a sequence's
// length is ignored and dx there is zero.
// Outputs are overwritten, not accumulated.
template <typename T>
void gru_backward(int threads, const GruTrainingRecord<T>& record, const T* dy, const T* dh_n, T* dx, T* dw_ih,
                  T* dw_hh, T* db_ih, T* db_hh, T* dh0);

}  // namespace fast_lstm
