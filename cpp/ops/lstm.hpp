// The LSTM drivers: loops over time around the kernels of one ISA (oneDNN's ref_rnn split).
//
// Shapes and pointers arrive validated by the bindings; nothing here re-checks them.
// All arrays are C-contiguous; x (T, B, D), weights as PyTorch's nn.LSTM (gate order
// i, f, g, o), states (B, H), y (T, B, H).
#pragma once

#include <cstdint>

#include "../kernels/kernel_table.hpp"
#include "../runtime/aligned_buffer.hpp"
#include "sequence_rows.hpp"

namespace fast_lstm {

struct LstmDims {
    int64_t steps, batch, input, hidden;  // T, B, D, H
};

// Per-call options of a sequence batch.
template <typename T>
struct LstmSequenceOptions {
    const int64_t* lengths = nullptr;   // (B,) in [0, T]; null: every sequence runs all T steps
    const T* recurrent_mask = nullptr;  // (B, H): the recurrence reads h_{t-1} * mask (variational
                                        // dropout, one mask for all steps); null: plain h_{t-1}
};

// The cell's variant (lstm_postgemm.hpp), fixed by the weights rather than the batch.
template <typename T>
struct LstmCellOptions {
    int gates = 4;                 // 4: i f g o; 3: i g o, without a forget gate of its own
    bool coupled_forget = false;   // 3 gates: f = 1 - i (CIFG); else f = 1 (the 1997 cell)
    const T* peephole = nullptr;   // (3, H): p_i, p_f, p_o; null: no peepholes (4 gates only)
    bool identity_output = false;  // h_t = o * c_t
    int64_t projection = 0;        // P: h_t = W_hr (o * tanh(c_t)) has P features (LSTMP); 0: none
    const T* w_hr = nullptr;       // (P, H) with a projection
    bool cell_recurrence = false;  // the gates read c_{t-1} through W_hh in place of h_{t-1}
};

// What lstm_backward needs from a training forward pass. Per-step arrays hold the N rows
// of `rows` (sequence_rows.hpp): (T * B) of them without lengths, in the caller's order.
template <typename T>
struct LstmTrainingRecord {
    LstmDims dims{};
    const Kernels<T>* kernels = nullptr;  // backward must read the layouts forward wrote
    int64_t hidden_padded = 0;
    SequenceRows rows;
    AlignedBuffer<T> recurrent_mask;   // (B, H) in sorted order; empty without one
    AlignedBuffer<T> peephole;         // (3, Hp); empty without peepholes
    bool identity_output = false;
    int gates = 4;                     // NG of the cell; weights and gate arrays have NG*H rows
    bool coupled_forget = false;
    int64_t projection = 0;            // P, or 0; h has R = P (else H) features below
    bool cell_recurrence = false;      // W_hh read c_{t-1}: dW_hh = dG^T c_prev, dc_{t-1} += dG W_hh
    AlignedBuffer<T> x_packed;         // x rows (N, D) as GEMM B panels, for dW_ih = dG^T x
    AlignedBuffer<T> hidden_states;    // (B + N, R): h_0, then each row's h_t; times the mask if any
                                       // (what the recurrence read, so what dW_hh needs)
    AlignedBuffer<T> cell_states;      // (B + N, Hp): c_0, then each row's c_t
    AlignedBuffer<T> gate_values;      // activated gates: (N, NG*Hp), gate-interleaved, row stride gate_stride
    int64_t gate_stride = 0;
    AlignedBuffer<T> w_ih_packed;      // W_ih (4H, D) as GEMM B panels, for dx = dG W_ih
    AlignedBuffer<T> w_hh_packed;      // W_hh (4H, R) as GEMM B panels, for dh = dG W_hh
    AlignedBuffer<T> projection_inputs;  // (N, H): o * tanh(c_t) of each row, for dW_hr; projection only
    AlignedBuffer<T> w_hr_packed;        // W_hr (P, H) as GEMM B panels, for dm = dh W_hr; projection only
};

// The weights in the layouts the forward kernels read, packed once and reusable by any
// number of calls (fast_lstm.PackedLSTM keeps one).
template <typename T>
struct LstmPackedWeights {
    const Kernels<T>* kernels = nullptr;
    int64_t input = 0, hidden = 0, hidden_padded = 0;
    AlignedBuffer<T> w_ih_gemm;   // W_ih^T, gate-interleaved, as GEMM B panels: the all-steps input projection
    AlignedBuffer<T> w_ih_fused;  // [unit block][D][NG gates][VL]: the input product inside single steps
    AlignedBuffer<T> w_hh_fused;  // [unit block][R][NG gates][VL], R = P with a projection, else H;
                                  // empty when sequences use w_hh_gemm and no single step will run
    AlignedBuffer<T> w_hh_gemm;   // W_hh^T, gate-interleaved, as GEMM B panels: a sequence step's
                                  // recurrent product as a GEMM; empty when the fused tile does it
    AlignedBuffer<T> bias;        // (NG*Hp) gate-interleaved
    AlignedBuffer<T> peephole;    // (3, Hp); empty without peepholes
    bool identity_output = false;
    int gates = 4;
    bool coupled_forget = false;
    int64_t projection = 0;       // P, or 0
    bool cell_recurrence = false;
    AlignedBuffer<T> w_hr_gemm;   // W_hr^T (H, P) as GEMM B panels: h_t = (o * tanh(c_t)) W_hr^T
};

// for_steps: also pack w_ih_fused (needed by lstm_step only).
template <typename T>
void lstm_pack_weights(const Kernels<T>& kernels, int threads, int64_t input, int64_t hidden, const T* w_ih,
                       const T* w_hh, const T* bias, const LstmCellOptions<T>& cell, bool for_steps,
                       LstmPackedWeights<T>* packed);

// h0, c0 may be null (zeros); record null = inference (nothing saved). w_ih, w_hh and w_hr
// (null without a projection) are the raw weights, read only when recording (backward wants
// them in other layouts).
// Past its length a sequence's state is frozen (h_n, c_n are its state at its length) and
// its y rows are zero. With a projection, h0, h_n and the rows of y have P features.
template <typename T>
void lstm_forward_packed(const LstmPackedWeights<T>& packed, int threads, const LstmDims& dims,
                         const LstmSequenceOptions<T>& options, const T* x, const T* w_ih, const T* w_hh,
                         const T* w_hr, const T* h0, const T* c0, T* y, T* h_n, T* c_n,
                         LstmTrainingRecord<T>* record);

// lstm_pack_weights + lstm_forward_packed.
template <typename T>
void lstm_forward(const Kernels<T>& kernels, int threads, const LstmDims& dims, const LstmCellOptions<T>& cell,
                  const LstmSequenceOptions<T>& options, const T* x, const T* w_ih, const T* w_hh, const T* bias,
                  const T* h0, const T* c0, T* y, T* h_n, T* c_n, LstmTrainingRecord<T>* record);

// One step for B rows: x_t (B, D), h, c (B, H) -> h_out, c_out (B, H). h_out must not
// overlap h; c_out may be c. Packed with for_steps. A caller of consecutive steps alternates
// reverse_blocks, so each step starts on the weights the last one read last, still in cache.
template <typename T>
void lstm_step(const LstmPackedWeights<T>& packed, int threads, int64_t batch, const T* x_t, const T* h, const T* c,
               T* h_out, T* c_out, bool reverse_blocks);

// dx may be null: its GEMM is skipped (an input that needs no gradient, such as a first
// layer's data). dy, dh_n, dc_n may be null (zeros); dy past a sequence's length is ignored
// and dx there is zero. dpeephole (3, H) is written when the forward pass had peepholes,
// dw_hr (P, H) when it had a projection. Outputs are overwritten, not accumulated.
template <typename T>
void lstm_backward(int threads, const LstmTrainingRecord<T>& record, const T* dy, const T* dh_n, const T* dc_n,
                   T* dx, T* dw_ih, T* dw_hh, T* db, T* dh0, T* dc0, T* dpeephole, T* dw_hr);

// How a sequence step computes h_{t-1} W_hh^T: chosen per shape (automatic), or forced, for
// tests of both paths. The choice is read when weights are packed. Returns the previous one.
enum class RecurrentProduct { automatic, fused, gemm };
RecurrentProduct force_recurrent_product(RecurrentProduct choice);

// How threads share a forward (inference or training): each its own hidden units of every step,
// with one barrier per step (units); or each its own rows, whole sequences, with none (rows).
// Chosen per shape (automatic), or forced for tests; rows where the driver cannot split them stay
// units. Returns the previous choice.
enum class ThreadSplit { automatic, units, rows };
ThreadSplit force_thread_split(ThreadSplit choice);

// Whether a batch of one's steps may project later steps in their row tiles (lstm_forward.cpp;
// else the window's GEMM projects every row), for tests that compare the two. Returns the
// previous setting.
bool allow_carried_projection(bool allow);
// Projection tiles the steps have carried since import (for tests that the path ran).
int64_t carried_projection_tiles();
// The setting allow_carried_projection last made; it also governs the backward's carried dx.
bool carried_tiles_allowed();
// Slices of dx tiles that backward steps have carried since import (lstm_backward.cpp).
int64_t carried_input_grad_slices();

// Whether `threads` threads take their own rows of a batch of `batch` (lstm_forward.cpp), where
// the driver can split them (splittable).
bool rows_split_pays(int threads, int64_t batch, bool splittable);

// Threads worth using for a recurrence whose step costs this many flops.
int lstm_threads_for(int requested, const LstmDims& dims, int64_t hidden_blocks);

}  // namespace fast_lstm
