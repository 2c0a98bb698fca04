// The dispatch table: what every ISA implements, as plain structs and function pointers.
//
// Each ISA (kernels/isa_*.cpp) fills one Kernels<T> per dtype from the same
// templates compiled under its own flags. Everything above this header
// (ops/, bindings) is ISA-agnostic and calls through the table.
#pragma once

#include <cstdint>

namespace fast_lstm {

enum class Isa { generic = 0, avx2 = 1, avx512 = 2 };

// C[M, N] (+)= A[M, K] * B[K, N].
// A is read through strides (element (m, k) at a[m * a_row_stride + k * a_col_stride]),
// B was packed by pack_b_panels into panels of nr columns.
template <typename T>
struct GemmArgs {
    const T* a;
    int64_t a_row_stride;
    int64_t a_col_stride;
    const T* b_packed;
    T* c;
    int64_t ldc;
    int64_t m, n, k;
    bool accumulate;  // false: C = A B; true: C += A B
    // When set, also sums[i] += sum over k of A[i, k], for the rows the call computes, each in k
    // order (whichever threads split the rows): db = dG^T 1 beside dW = dG^T X.
    T* a_row_sums = nullptr;
};

// k [k_begin, k_end) of a tile of another product, C = A B, that a batch of one's product
// computes along (carried_tile.hpp): the forward's gate products carry x W_ih^T for later steps
// (LstmCarriedProjection), the backward's dh product carries dx = dG W_ih
// (Kernels::gemm_row_carrying). The kernels' lstm_carried_rows rows of A (lda apart, contiguous
// along k) against one B panel ([K][nr], as pack_b_panels lays it), into C (rows ldc apart, nr
// columns, every one valid). From k_begin = 0 the sums start at zero, else from what C holds:
// the previous slice's partial sums.
template <typename T>
struct CarriedTile {
    const T* a;
    int64_t lda;
    const T* b_panel;
    int64_t k_begin, k_end;
    T* c;
    int64_t ldc;
};

// x W_ih^T for rows of later steps, computed by a batch-of-one step's row tiles while their
// products stream W_hh (LstmForwardStep::carried; a CarriedTile each). Tile q is
// the Kernels' lstm_carried_rows rows of x (rows `depth` apart) against GEMM panel
// panel_begin + q of w_packed (depth, G; panels nr wide), into c (rows ld_c apart) at that
// panel's columns. A step computes tiles [tile_begin, tile_end), one per row-tile call: its
// walk's last calls, whose weights come from L2 (the first ones' are still in L1).
template <typename T>
struct LstmCarriedProjection {
    const T* x;
    int64_t depth;
    const T* w_packed;
    int64_t nr;
    T* c;
    int64_t ld_c;
    int64_t panel_begin, tile_begin, tile_end;
};

// One forward step of the standard LSTM for all B rows, fused: the recurrent
// product for the four gates of a block of hidden units stays in registers
// through the activations and the cell update.
//   xproj_t (B, 4*Hp)  x_t W_ih^T, gate-interleaved: [unit block][i f g o][VL], row stride
//                      ld_gates (>= NG*Hp; so are gates_out's rows); or null, and then
//   x_t     (B, D)     with w_ih_packed [unit block][D][i f g o][VL]: the input product is done in
//                      the tile too (single steps, where an M=B GEMM would be mostly padding)
//   bias    (4*Hp)     b, gate-interleaved
//   h_prev  (B, R)     row stride ld_h_prev; R = recurrent_depth: H, or P with a projection
//   c_prev  (B, Hp)
//   w_hh    packed     [unit block][R][i f g o][VL]; or null, and then xproj_t already holds
//                      x_t W_ih^T + h_{t-1} W_hh^T (the driver ran the recurrent product as a GEMM)
//   h_out   (B, H)     row stride ld_h_out (with a projection: o * tanh(c_t), which the driver projects)
//   recurrent_mask (B, H), h_masked_out (B, H): when not null, h_t * mask is also written
//                      (row stride ld_h_out), the operand of the next step's recurrence
//   c_out   (B, Hp)    may be c_prev: each tile reads its c_prev before it writes
//   gates_out (B, 4*Hp) activated i, f, g, o, gate-interleaved; null when not training.
//                      May be xproj_t: each tile reads its inputs before it writes.
template <typename T>
struct LstmForwardStep {
    int64_t batch, hidden, hidden_padded, ld_gates;
    const T* xproj_t;
    const T* x_t;
    int64_t ld_x, input;
    const T* w_ih_packed;
    const T* bias;
    const T* h_prev;
    int64_t ld_h_prev, recurrent_depth;
    const T* c_prev;
    const T* w_hh_packed;
    T* h_out;
    int64_t ld_h_out;
    const T* recurrent_mask;
    T* h_masked_out;
    T* c_out;
    T* gates_out;
    const T* peephole;     // (3, Hp): p_i, p_f on c_{t-1}, p_o on c_t; null: none
    bool identity_output;  // h_t = o * c_t instead of o * tanh(c_t)
    bool coupled_forget;   // 3-gate cells: f = 1 - i (else f = 1)
    // Walk the blocks last to first. Steps alternate: a step then starts on the weights the
    // previous one read last, which are still in cache when a thread's share of W_hh is up to
    // twice the cache's size (the tiny shape: 64 KB against a 32-48 KB L1).
    bool reverse_blocks;
    // Sum over W_hh's rows last to first too (gate_product.hpp): the sequence forward's odd
    // steps. Not a PackedLSTM step's, whose bits would then depend on its calls' parity.
    bool descending_depth;
    // A batch of one only: tiles of a later step's projection to compute too; null: none.
    const LstmCarriedProjection<T>* carried;
};

// One backward step of the standard LSTM, elementwise, for all B rows.
//   gates_t (B, 4*Hp)  activated gates saved by the forward step (interleaved), row stride ld_gates
//   c_t, c_prev (B, Hp)
//   dy_t    (B, H)     gradient arriving at h_t from the output; null = zero
//   dh      (B, Hp)    gradient arriving at h_t from step t+1 (or dh_n)
//   dc      (B, Hp)    in: dL/dc_t from step t+1; out: dL/dc_{t-1}
//   dgates_t (B, 4*H)  pre-activation gate gradients, PyTorch gate-major layout; row stride ld_dgates
template <typename T>
struct LstmBackwardStep {
    int64_t batch, hidden, hidden_padded, ld_gates, ld_dgates;
    const T* gates_t;
    const T* c_t;
    const T* c_prev;
    const T* dy_t;
    const T* dh;
    T* dc;
    T* dgates_t;
    const T* peephole;  // (3, Hp) as in the forward step; null: none
    T* dpeephole;       // (3, Hp) accumulated (+=) over rows and steps
    bool identity_output;
    bool coupled_forget;
};

// One forward step of the GRU (PyTorch's formulation, gate order r, z, n) for all B rows,
// fused like the LSTM step: the recurrent product of a block's three gates stays in registers.
//   xproj_t  (B, 3*Hp) x_t W_ih^T without bias, gate-interleaved [unit block][r z n][VL]
//   bias_x, bias_h (3*Hp) b_ih and b_hh, gate-interleaved (b_hn must stay apart: r scales it)
//   h_prev   (B, H)    the recurrence's operand (h_{t-1}, times the mask if any), row stride ld_h_prev
//   state_prev (B, H)  h_{t-1} itself, for h_t = (1 - z) n + z h_{t-1}; row stride ld_state_prev
//   w_hh     packed    [unit block][H][r z n][VL]
//   h_out    (B, H)    row stride ld_h_out; recurrent_mask / h_masked_out as in LstmForwardStep
//   gates_out (B, 3*Hp) activated r, z, n, gate-interleaved; null when not training; may be xproj_t
//   hn_out   (B, Hp)   W_hn h_{t-1} + b_hn (the reset gate's operand, needed by backward); null when not training
template <typename T>
struct GruForwardStep {
    int64_t batch, hidden, hidden_padded;
    const T* xproj_t;
    const T* bias_x;
    const T* bias_h;
    const T* h_prev;
    int64_t ld_h_prev;
    const T* state_prev;
    int64_t ld_state_prev;
    const T* w_hh_packed;
    T* h_out;
    int64_t ld_h_out;
    const T* recurrent_mask;
    T* h_masked_out;
    T* gates_out;
    T* hn_out;
    bool reverse_blocks;  // as in LstmForwardStep
};

// One backward step of the GRU, elementwise, for all B rows.
//   gates_t (B, 3*Hp), hn_t (B, Hp)   saved by the forward step
//   state_prev (B, H)  h_{t-1}, row stride ld_state_prev
//   dy_t    (B, H)     gradient arriving at h_t from the output; null = zero
//   dh      (B, Hp)    in: dL/dh_t from step t+1; out: dL/dh_t * z, the direct path to h_{t-1}
//                      (the driver adds the recurrent part dgates_h W_hh)
//   dgates_x (B, 3*H)  dL/d(x_t W_ih^T + b_ih), gate-major as PyTorch's weights
//   dgates_h (B, 3*H)  dL/d(h_{t-1} W_hh^T + b_hh): equal to dgates_x but for n, scaled by r
//                      (both with row stride ld_dgates)
template <typename T>
struct GruBackwardStep {
    int64_t batch, hidden, hidden_padded, ld_dgates;
    const T* gates_t;
    const T* hn_t;
    const T* state_prev;
    int64_t ld_state_prev;
    const T* dy_t;
    T* dh;
    T* dgates_x;
    T* dgates_h;
};

// out (B, ld_out) += a (B, K) W^T for W (rows, K) row-major, as the caller stores it.
template <typename T>
struct DotRowsArgs {
    T* out;
    int64_t ld_out;
    const T* a;
    int64_t ld_a;
    int64_t batch;
    const T* w;
    int64_t depth;  // K
};

// The standard cell's update from summed pre-activations in PyTorch's gate-major order:
//   pre (B, 4H) = [a_i | a_f | a_g | a_o]; c_prev, c_out, h_out (B, H); c_out may be c_prev.
template <typename T>
struct LstmCellUpdate {
    int64_t batch, hidden;
    const T* pre;
    const T* c_prev;
    T* c_out;
    T* h_out;
};

template <typename T>
struct Kernels {
    Isa isa;
    int vector_width;  // VL: hidden units per block in the gate-interleaved layouts
    int gemm_mr, gemm_nr;
    int64_t gemm_kc, gemm_mc;
    // Rows of a carried projection tile (LstmCarriedProjection); 0: the ISA carries none.
    int lstm_carried_rows;

    // Rows [m_begin, m_end) and B panels [panel_begin, panel_end) of the product;
    // a_workspace holds gemm_mc * gemm_kc elements for packing A.
    void (*gemm)(const GemmArgs<T>& args, int64_t m_begin, int64_t m_end, int64_t panel_begin,
                 int64_t panel_end, T* a_workspace);
    // Rows [m_begin, m_end) of two products of one A (first.a, strides, m and k; all panels of
    // each), A packed once for both: dW_ih = dG^T X and dW_hh = dG^T H read the same dG.
    void (*gemm_shared_a)(const GemmArgs<T>& first, const GemmArgs<T>& second, int64_t m_begin, int64_t m_end,
                          T* a_workspace);
    // Panels [panel_begin, panel_end) of a one-row product (args.m = 1, args.k <= gemm_kc) to the
    // bit as gemm computes them, with a slice of another product's tile computed along; null
    // where lstm_carried_rows is 0.
    void (*gemm_row_carrying)(const GemmArgs<T>& args, int64_t panel_begin, int64_t panel_end,
                              const CarriedTile<T>& slice);
    // Unit blocks [block_begin, block_end) of one step.
    // Indexed by the cell's gate count minus 3: [0] i g o (no forget gate of its own), [1] i f g o.
    void (*lstm_forward_step[2])(const LstmForwardStep<T>& step, int64_t block_begin, int64_t block_end);
    void (*lstm_backward_step[2])(const LstmBackwardStep<T>& step, int64_t block_begin, int64_t block_end);
    void (*gru_forward_step)(const GruForwardStep<T>& step, int64_t block_begin, int64_t block_end);
    void (*gru_backward_step)(const GruBackwardStep<T>& step, int64_t block_begin, int64_t block_end);
    // Rows [row_begin, row_end) of W.
    void (*dot_rows)(const DotRowsArgs<T>& args, int64_t row_begin, int64_t row_end);
    // Hidden units [unit_begin, unit_end).
    void (*lstm_cell_update)(const LstmCellUpdate<T>& update, int64_t unit_begin, int64_t unit_end);

    void (*sigmoid)(T* y, const T* x, int64_t n);
    void (*tanh)(T* y, const T* x, int64_t n);
    // vector_width columns of B to a panel: chunk[p * nr + j] = columns[j][k0 + p], p < depth.
    void (*transpose_columns)(T* chunk, int64_t nr, const T* const* columns, int64_t k0, int64_t depth);
};

// Tables of each ISA; the avx2/avx512 ones must only be called on CPUs that have them.
const Kernels<float>& generic_kernels_f32();
const Kernels<double>& generic_kernels_f64();
const Kernels<float>& avx2_kernels_f32();
const Kernels<double>& avx2_kernels_f64();
const Kernels<float>& avx512_kernels_f32();
const Kernels<double>& avx512_kernels_f64();

}  // namespace fast_lstm

namespace fast_lstm {

// The table of `isa` for dtype T (kernels/dispatch.cpp); isa must be supported.
template <typename T>
const Kernels<T>& kernels_for(Isa isa);

}  // namespace fast_lstm
