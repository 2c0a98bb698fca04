// The standard LSTM cell (with forget gate): fused forward step and BPTT step.
//
// Forward, per row b and hidden unit u (PyTorch's equations, gate order i f g o):
//   [a_i a_f a_g a_o] = x_t W_ih^T + b + h_{t-1} W_hh^T
//   i = sigma(a_i)  f = sigma(a_f)  g = tanh(a_g)  o = sigma(a_o)
//   c_t = f * c_{t-1} + i * g          h_t = o * tanh(c_t)
// Without a forget gate of its own the cell has 3 gates i g o (weights (3H, .)): f = 1 - i when
// coupled (CIFG, ONNX input_forget), else f = 1, the original LSTM of 1997: c_t = c_{t-1} + i g.
// Options: peepholes (Gers & Schmidhuber 2000) add p_i * c_{t-1} to a_i, p_f * c_{t-1} to a_f
// and p_o * c_t to a_o (o is then computed after c_t); identity output makes h_t = o * c_t.
// Backward, with dh = dL/dh_t (from y_t and from step t+1), dc = dL/dc_t from step t+1:
//   do = dh * tanh(c_t)                dc += dh * o * (1 - tanh(c_t)^2)  (+ da_o * p_o)
//   da_i = dc * g * i(1-i)   da_f = dc * c_{t-1} * f(1-f)
//   da_g = dc * i * (1-g^2)  da_o = do * o(1-o)
//   dL/dc_{t-1} = dc * f (+ da_i * p_i + da_f * p_f)
//   dp_i += da_i * c_{t-1}   dp_f += da_f * c_{t-1}   dp_o += da_o * c_t
// dh_{t-1} = da W_hh is a GEMM done by the driver (ops/lstm_backward.cpp).
//
// Layouts: see LstmForwardStep / LstmBackwardStep in kernel_table.hpp. One tile
// is R batch rows x one block of VL hidden units x all four gates, so a block's
// i, f, g, o meet in registers and never travel through memory before the update.
#pragma once

#include "gate_product.hpp"

// Where each gate sits among the NG of a cell: i f g o, or i g o without a forget gate
// of its own (f = 1 - i when coupled, else no forgetting: f = 1).
template <int NG>
struct GateSlots {
    static constexpr int i = 0, f = NG == 4 ? 1 : -1, g = NG - 2, o = NG - 1;
};

// The cell update of one row and one block of units, from the summed pre-activations acc.
template <typename T, int NG>
inline void lstm_update_unit_block(const LstmForwardStep<T>& s, Vec<T> (&acc)[NG], int64_t row, int64_t block) {
    using V = Vec<T>;
    using Slot = GateSlots<NG>;
    constexpr int VL = V::width;
    const int64_t unit0 = block * VL;
    const int units = static_cast<int>(gemm_min<T>(VL, s.hidden - unit0));
    const V c_prev = V::load(s.c_prev + row * s.hidden_padded + unit0);
    if constexpr (NG == 4) {  // peepholes come with the forget gate (the bindings enforce it)
        if (s.peephole) {
            acc[Slot::i] = fma(V::load(s.peephole + unit0), c_prev, acc[Slot::i]);
            acc[Slot::f] = fma(V::load(s.peephole + s.hidden_padded + unit0), c_prev, acc[Slot::f]);
        }
    }
    const V i = sigmoid<T>(acc[Slot::i]);
    const V g = tanh<T>(acc[Slot::g]);
    V f;
    if constexpr (NG == 4) f = sigmoid<T>(acc[Slot::f]);
    else f = s.coupled_forget ? V::broadcast(T(1)) - i : V::broadcast(T(1));
    const V c = fma(f, c_prev, i * g);
    if (s.peephole) acc[Slot::o] = fma(V::load(s.peephole + 2 * s.hidden_padded + unit0), c, acc[Slot::o]);
    const V o = sigmoid<T>(acc[Slot::o]);
    const V h = o * (s.identity_output ? c : tanh<T>(c));
    c.store(s.c_out + row * s.hidden_padded + unit0);
    const int64_t at = row * s.ld_h_out + unit0;  // the mask has h_out's row stride
    store_hidden(h, s.h_out + at, s.recurrent_mask ? s.recurrent_mask + at : nullptr,
                 s.recurrent_mask ? s.h_masked_out + at : nullptr, units);
    if (s.gates_out) {
        T* saved = s.gates_out + row * s.ld_gates + NG * unit0;
        i.store(saved + Slot::i * VL);
        if constexpr (NG == 4) f.store(saved + Slot::f * VL);
        g.store(saved + Slot::g * VL);
        o.store(saved + Slot::o * VL);
    }
}

// acc = bias + the projected input of `row`, for one block of units.
template <typename T, int NG>
inline void lstm_load_preactivations(const LstmForwardStep<T>& s, Vec<T> (&acc)[NG], int64_t row, int64_t block) {
    using V = Vec<T>;
    constexpr int VL = V::width;
    const int64_t unit0 = block * VL;
    for (int g = 0; g < NG; ++g) acc[g] = V::load(s.bias + NG * unit0 + g * VL);
    if (s.xproj_t) {
        const T* pre = s.xproj_t + row * s.ld_gates + NG * unit0;
        for (int g = 0; g < NG; ++g) acc[g] = acc[g] + V::load(pre + g * VL);
    }
}

// R rows (b0 ...) x one block of units x all NG gates.
template <typename T, int R, int NG>
inline void lstm_forward_tile(const LstmForwardStep<T>& s, int64_t block, int64_t b0) {
    constexpr int VL = Vec<T>::width;
    Vec<T> acc[R][NG];
    const T* h_prev[R];
    const T* x_t[R];
    for (int r = 0; r < R; ++r) {
        lstm_load_preactivations<T, NG>(s, acc[r], b0 + r, block);
        h_prev[r] = s.h_prev + (b0 + r) * s.ld_h_prev;
        x_t[r] = s.x_t ? s.x_t + (b0 + r) * s.ld_x : nullptr;
    }
    if (s.x_t) gate_product_rows<T, R, NG>(acc, x_t, s.w_ih_packed + block * s.input * NG * VL, s.input);
    if (s.w_hh_packed)
        gate_product_rows<T, R, NG>(acc, h_prev, s.w_hh_packed + block * s.recurrent_depth * NG * VL,
                                    s.recurrent_depth, s.descending_depth);
    for (int r = 0; r < R; ++r) lstm_update_unit_block<T, NG>(s, acc[r], b0 + r, block);
}

// One row x NB blocks of units (block ...) x all NG gates: the tile of a row left over by the
// R-row tiles (a batch of one), where one block alone leaves the core waiting on the latency
// of a single cell update. With a `carried` tile (TR rows of a later step's projection, NV
// vectors wide) its product computes that too.
template <typename T, int NB, int NG, int TR, int NV>
inline void lstm_forward_row_tile(const LstmForwardStep<T>& s, int64_t block, int64_t row,
                                  const CarriedTile<T>* carried) {
    constexpr int VL = Vec<T>::width;
    Vec<T> acc[NB][NG];
    for (int b = 0; b < NB; ++b) lstm_load_preactivations<T, NG>(s, acc[b], row, block + b);
    if (s.x_t) {
        const int64_t stride = s.input * NG * VL;
        gate_product_blocks<T, NB, NG>(acc, s.x_t + row * s.ld_x, s.w_ih_packed + block * stride, stride, s.input);
    }
    const int64_t stride = s.recurrent_depth * NG * VL;
    const T* h_prev = s.h_prev + row * s.ld_h_prev;
    const T* w_hh = s.w_hh_packed + block * stride;
    bool product_done = false;
    if constexpr (TR > 0) {
        if (carried && s.w_hh_packed) {
            gate_product_blocks_carrying<T, NB, NG, TR, NV>(acc, h_prev, w_hh, stride, s.recurrent_depth,
                                                            s.descending_depth, *carried);
            product_done = true;
        }
    }
    if (s.w_hh_packed && !product_done)
        gate_product_blocks<T, NB, NG>(acc, h_prev, w_hh, stride, s.recurrent_depth, s.descending_depth);
    for (int b = 0; b < NB; ++b) lstm_update_unit_block<T, NG>(s, acc[b], row, block + b);
}

// lstm_forward_row_tile where the ISA carries tiles (TR > 0), kept out of the step: inlined there,
// the tiny forward ran 4-7% slower on AVX-512 (session 41); without a tile, inlined is 1-2% faster
// (AVX2).
template <typename T, int NB, int NG, int TR, int NV>
__attribute__((noinline)) void lstm_forward_row_tile_apart(const LstmForwardStep<T>& s, int64_t block, int64_t row,
                                                           const CarriedTile<T>* carried) {
    lstm_forward_row_tile<T, NB, NG, TR, NV>(s, block, row, carried);
}

// Tile `call` of a step's carried projection (LstmCarriedProjection), or null when that call
// carries none: the walk's last calls carry the step's tiles.
template <typename T>
inline const CarriedTile<T>* carried_tile_of(const LstmCarriedProjection<T>* p, int64_t call, int64_t calls,
                                            CarriedTile<T>* tile) {
    if (!p) return nullptr;
    const int64_t q = p->tile_begin + call - (calls - (p->tile_end - p->tile_begin));
    if (q < p->tile_begin || q >= p->tile_end) return nullptr;
    const int64_t panel = p->panel_begin + q;
    *tile = CarriedTile<T>{p->x, p->depth, p->w_packed + panel * p->depth * p->nr, 0, p->depth, p->c + panel * p->nr,
                           p->ld_c};
    return tile;
}

// With TR > 0 a batch of one also computes s.carried's projection tiles (else it must be null).
template <typename T, int MR, int NG, int TR = 0, int NV = 1>
void lstm_forward_step(const LstmForwardStep<T>& s, int64_t block_begin, int64_t block_end) {
    // Rows left by the MR-row tiles go in 2-row tiles, whose 2 * NG FMA chains still hide the FMA
    // latency. One row left alone would read all of W_hh again for itself: an odd MR gives up
    // one MR-row tile instead, so that (B = 3q + 1) 3(q - 1) rows + 2 + 2 take no lone row.
    int64_t whole = s.batch - s.batch % MR;  // rows in whole MR-row tiles
    if (MR % 2 == 1 && (s.batch - whole) % 2 == 1 && whole > 0) whole -= MR;
    const int64_t paired = s.batch - (s.batch - whole) % 2;
    const int64_t blocks = block_end - block_begin;
    for (int64_t i = 0; i < blocks; ++i) {
        const int64_t block = s.reverse_blocks ? block_end - 1 - i : block_begin + i;
        for (int64_t b0 = 0; b0 < whole; b0 += MR) lstm_forward_tile<T, MR, NG>(s, block, b0);
        for (int64_t b0 = whole; b0 < paired; b0 += 2) lstm_forward_tile<T, 2, NG>(s, block, b0);
    }
    const LstmCarriedProjection<T>* carried = s.batch == 1 ? s.carried : nullptr;
    const int64_t calls = (blocks + 1) / 2;
    CarriedTile<T> tile;
    for (int64_t row = paired; row < s.batch; ++row) {
        // Pairs of blocks from the walk's start; a block left over comes last.
        int64_t i = 0;
        for (; i + 2 <= blocks; i += 2) {
            const int64_t block = s.reverse_blocks ? block_end - 2 - i : block_begin + i;
            const CarriedTile<T>* call_tile = carried_tile_of(carried, i / 2, calls, &tile);
            if constexpr (TR > 0) lstm_forward_row_tile_apart<T, 2, NG, TR, NV>(s, block, row, call_tile);
            else lstm_forward_row_tile<T, 2, NG, TR, NV>(s, block, row, call_tile);
        }
        if (i < blocks) {
            const int64_t block = s.reverse_blocks ? block_begin : block_end - 1;
            const CarriedTile<T>* call_tile = carried_tile_of(carried, i / 2, calls, &tile);
            if constexpr (TR > 0) lstm_forward_row_tile_apart<T, 1, NG, TR, NV>(s, block, row, call_tile);
            else lstm_forward_row_tile<T, 1, NG, TR, NV>(s, block, row, call_tile);
        }
    }
}

// The same cell equations on gate-major pre-activations (the unpacked single-step path).
template <typename T>
void lstm_cell_update(const LstmCellUpdate<T>& s, int64_t unit_begin, int64_t unit_end) {
    using V = Vec<T>;
    constexpr int VL = V::width;
    const int64_t H = s.hidden;
    for (int64_t row = 0; row < s.batch; ++row) {
        const T* pre = s.pre + row * 4 * H;
        for (int64_t u = unit_begin; u < unit_end; u += VL) {
            const int n = static_cast<int>(gemm_min<T>(VL, unit_end - u));
            auto load = [n](const T* p) { return n == VL ? V::load(p) : V::load_partial(p, n); };
            const V i = sigmoid<T>(load(pre + u));
            const V f = sigmoid<T>(load(pre + H + u));
            const V g = tanh<T>(load(pre + 2 * H + u));
            const V o = sigmoid<T>(load(pre + 3 * H + u));
            const V c = fma(f, load(s.c_prev + row * H + u), i * g);
            const V h = o * tanh<T>(c);
            if (n == VL) {
                c.store(s.c_out + row * H + u);
                h.store(s.h_out + row * H + u);
            } else {
                c.store_partial(s.c_out + row * H + u, n);
                h.store_partial(s.h_out + row * H + u, n);
            }
        }
    }
}

template <typename T, int NG>
void lstm_backward_step(const LstmBackwardStep<T>& s, int64_t block_begin, int64_t block_end) {
    using V = Vec<T>;
    using Slot = GateSlots<NG>;
    constexpr int VL = V::width;
    const V one = V::broadcast(T(1));
    const int64_t hp = s.hidden_padded;
    for (int64_t row = 0; row < s.batch; ++row) {
        for (int64_t block = block_begin; block < block_end; ++block) {
            const int64_t unit0 = block * VL;
            const int units = static_cast<int>(gemm_min<T>(VL, s.hidden - unit0));
            const int64_t at = row * hp + unit0;
            const T* saved = s.gates_t + row * s.ld_gates + NG * unit0;
            const V i = V::load(saved + Slot::i * VL), g = V::load(saved + Slot::g * VL);
            const V o = V::load(saved + Slot::o * VL);
            V f;
            if constexpr (NG == 4) f = V::load(saved + Slot::f * VL);
            else f = s.coupled_forget ? one - i : one;

            V dh = V::load(s.dh + at);
            if (s.dy_t) {
                const T* dy = s.dy_t + row * s.hidden + unit0;
                dh = dh + (units == VL ? V::load(dy) : V::load_partial(dy, units));
            }
            const V c = V::load(s.c_t + at), c_prev = V::load(s.c_prev + at);
            // h = o * act(c): act = tanh (act' = 1 - tanh^2) or the identity (act' = 1).
            const V act_c = s.identity_output ? c : tanh<T>(c);
            const V act_slope = s.identity_output ? one : one - act_c * act_c;
            const V da_o = dh * act_c * o * (one - o);
            V dc = fma(dh * o, act_slope, V::load(s.dc + at));
            if (s.peephole) dc = fma(da_o, V::load(s.peephole + 2 * hp + unit0), dc);  // a_o read c_t

            // With a coupled forget gate c = (1 - i) c_prev + i g, so dc/di = g - c_prev.
            const V dc_di = NG == 3 && s.coupled_forget ? g - c_prev : g;
            const V da_i = dc * dc_di * i * (one - i);
            const V da_g = dc * i * (one - g * g);
            V dc_prev = dc * f;
            V da_f = V::zero();
            if constexpr (NG == 4) {
                da_f = dc * c_prev * f * (one - f);
                if (s.peephole) {  // a_i and a_f read c_{t-1}
                    dc_prev = fma(da_i, V::load(s.peephole + unit0), dc_prev);
                    dc_prev = fma(da_f, V::load(s.peephole + hp + unit0), dc_prev);
                    T* dp = s.dpeephole + unit0;
                    fma(da_i, c_prev, V::load(dp)).store(dp);
                    fma(da_f, c_prev, V::load(dp + hp)).store(dp + hp);
                    fma(da_o, c, V::load(dp + 2 * hp)).store(dp + 2 * hp);
                }
            }
            dc_prev.store(s.dc + at);

            T* out = s.dgates_t + row * s.ld_dgates + unit0;
            V grads[NG];
            grads[Slot::i] = da_i;
            if constexpr (NG == 4) grads[Slot::f] = da_f;
            grads[Slot::g] = da_g;
            grads[Slot::o] = da_o;
            for (int gate = 0; gate < NG; ++gate) {
                if (units == VL) grads[gate].store(out + gate * s.hidden);
                else grads[gate].store_partial(out + gate * s.hidden, units);
            }
        }
    }
}
