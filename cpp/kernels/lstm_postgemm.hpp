// The standard LSTM cell (with forget gate): fused forward step and BPTT step.
//
// Forward, per row b and hidden unit u (PyTorch's equations, gate order i f g o):
//   [a_i a_f a_g a_o] = x_t W_ih^T + b + h_{t-1} W_hh^T
//   i = sigma(a_i)  f = sigma(a_f)  g = tanh(a_g)  o = sigma(a_o)
//   c_t = f * c_{t-1} + i * g          h_t = o * tanh(c_t)
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

// acc[r][gate] += rows[r] W^T for one block of units, over k < depth, with W packed
// as [depth][i f g o][VL]. Kept out of line so the activation constants of the caller
// do not take the registers this loop needs for accumulators and weight vectors.
template <typename T, int R>
__attribute__((noinline)) void gate_product_rows(Vec<T> (&acc)[R][4], const T* const (&rows)[R], const T* w,
                                            int64_t depth) {
    using V = Vec<T>;
    constexpr int VL = V::width;
    V sum[R][4];
    for (int r = 0; r < R; ++r)
        for (int g = 0; g < 4; ++g) sum[r][g] = acc[r][g];
    for (int64_t k = 0; k < depth; ++k) {
        V w_i = V::load(w + k * 4 * VL), w_f = V::load(w + k * 4 * VL + VL);
        V w_g = V::load(w + k * 4 * VL + 2 * VL), w_o = V::load(w + k * 4 * VL + 3 * VL);
        // Load each weight vector once for all R rows (else: R loads per vector).
        w_i.keep_in_register();
        w_f.keep_in_register();
        w_g.keep_in_register();
        w_o.keep_in_register();
        for (int r = 0; r < R; ++r) {
            const V a = V::broadcast(rows[r][k]);
            sum[r][0] = fma(a, w_i, sum[r][0]);
            sum[r][1] = fma(a, w_f, sum[r][1]);
            sum[r][2] = fma(a, w_g, sum[r][2]);
            sum[r][3] = fma(a, w_o, sum[r][3]);
        }
    }
    for (int r = 0; r < R; ++r)
        for (int g = 0; g < 4; ++g) acc[r][g] = sum[r][g];
}

// One row alone has only four independent FMA chains, too few to hide the FMA
// latency: even and odd k go to separate sums, added at the end.
template <typename T>
__attribute__((noinline)) void gate_product_one_row(Vec<T> (&acc)[1][4], const T* row, const T* w, int64_t depth) {
    using V = Vec<T>;
    constexpr int VL = V::width;
    V even[4], odd[4];
    for (int g = 0; g < 4; ++g) {
        even[g] = acc[0][g];
        odd[g] = V::zero();
    }
    int64_t k = 0;
    for (; k + 2 <= depth; k += 2) {
        const V a0 = V::broadcast(row[k]), a1 = V::broadcast(row[k + 1]);
        for (int g = 0; g < 4; ++g) {
            even[g] = fma(a0, V::load(w + k * 4 * VL + g * VL), even[g]);
            odd[g] = fma(a1, V::load(w + (k + 1) * 4 * VL + g * VL), odd[g]);
        }
    }
    if (k < depth) {
        const V a0 = V::broadcast(row[k]);
        for (int g = 0; g < 4; ++g) even[g] = fma(a0, V::load(w + k * 4 * VL + g * VL), even[g]);
    }
    for (int g = 0; g < 4; ++g) acc[0][g] = even[g] + odd[g];
}

template <typename T, int R>
inline void gate_product(Vec<T> (&acc)[R][4], const T* const (&rows)[R], const T* w, int64_t depth) {
    if constexpr (R == 1) gate_product_one_row<T>(acc, rows[0], w, depth);
    else gate_product_rows<T, R>(acc, rows, w, depth);
}

template <typename T, int R>
inline void lstm_forward_tile(const LstmForwardStep<T>& s, int64_t block, int64_t b0) {
    using V = Vec<T>;
    constexpr int VL = V::width;
    const int64_t gates_stride = 4 * s.hidden_padded;
    const int64_t unit0 = block * VL;
    const int units = static_cast<int>(gemm_min<T>(VL, s.hidden - unit0));

    V acc[R][4];
    const T* h_prev[R];
    const T* x_t[R];
    for (int r = 0; r < R; ++r) {
        for (int g = 0; g < 4; ++g) acc[r][g] = V::load(s.bias + 4 * unit0 + g * VL);
        if (s.xproj_t) {
            const T* pre = s.xproj_t + (b0 + r) * gates_stride + 4 * unit0;
            for (int g = 0; g < 4; ++g) acc[r][g] = acc[r][g] + V::load(pre + g * VL);
        }
        h_prev[r] = s.h_prev + (b0 + r) * s.ld_h_prev;
        x_t[r] = s.x_t ? s.x_t + (b0 + r) * s.ld_x : nullptr;
    }
    if (s.x_t) gate_product<T, R>(acc, x_t, s.w_ih_packed + block * s.input * 4 * VL, s.input);
    gate_product<T, R>(acc, h_prev, s.w_hh_packed + block * s.hidden * 4 * VL, s.hidden);
    for (int r = 0; r < R; ++r) {
        const int64_t row = b0 + r;
        const V c_prev = V::load(s.c_prev + row * s.hidden_padded + unit0);
        if (s.peephole) {
            acc[r][0] = fma(V::load(s.peephole + unit0), c_prev, acc[r][0]);
            acc[r][1] = fma(V::load(s.peephole + s.hidden_padded + unit0), c_prev, acc[r][1]);
        }
        const V i = sigmoid<T>(acc[r][0]);
        const V f = sigmoid<T>(acc[r][1]);
        const V g = tanh<T>(acc[r][2]);
        const V c = fma(f, c_prev, i * g);
        if (s.peephole) acc[r][3] = fma(V::load(s.peephole + 2 * s.hidden_padded + unit0), c, acc[r][3]);
        const V o = sigmoid<T>(acc[r][3]);
        const V h = o * (s.identity_output ? c : tanh<T>(c));
        c.store(s.c_out + row * s.hidden_padded + unit0);
        T* h_out = s.h_out + row * s.ld_h_out + unit0;
        if (units == VL) h.store(h_out);
        else h.store_partial(h_out, units);
        if (s.recurrent_mask) {
            const int64_t at = row * s.ld_h_out + unit0;
            T* masked = s.h_masked_out + at;
            if (units == VL) (h * V::load(s.recurrent_mask + at)).store(masked);
            else (h * V::load_partial(s.recurrent_mask + at, units)).store_partial(masked, units);
        }
        if (s.gates_out) {
            T* saved = s.gates_out + row * gates_stride + 4 * unit0;
            i.store(saved);
            f.store(saved + VL);
            g.store(saved + 2 * VL);
            o.store(saved + 3 * VL);
        }
    }
}

template <typename T, int MR>
void lstm_forward_step(const LstmForwardStep<T>& s, int64_t block_begin, int64_t block_end) {
    for (int64_t block = block_begin; block < block_end; ++block) {
        int64_t b0 = 0;
        for (; b0 + MR <= s.batch; b0 += MR) lstm_forward_tile<T, MR>(s, block, b0);
        for (; b0 < s.batch; ++b0) lstm_forward_tile<T, 1>(s, block, b0);
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

template <typename T>
void lstm_backward_step(const LstmBackwardStep<T>& s, int64_t block_begin, int64_t block_end) {
    using V = Vec<T>;
    constexpr int VL = V::width;
    const V one = V::broadcast(T(1));
    const int64_t hp = s.hidden_padded;
    for (int64_t row = 0; row < s.batch; ++row) {
        for (int64_t block = block_begin; block < block_end; ++block) {
            const int64_t unit0 = block * VL;
            const int units = static_cast<int>(gemm_min<T>(VL, s.hidden - unit0));
            const int64_t at = row * hp + unit0;
            const T* saved = s.gates_t + row * 4 * hp + 4 * unit0;
            const V i = V::load(saved), f = V::load(saved + VL);
            const V g = V::load(saved + 2 * VL), o = V::load(saved + 3 * VL);

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

            const V da_i = dc * g * i * (one - i);
            const V da_f = dc * c_prev * f * (one - f);
            const V da_g = dc * i * (one - g * g);
            V dc_prev = dc * f;
            if (s.peephole) {  // a_i and a_f read c_{t-1}
                dc_prev = fma(da_i, V::load(s.peephole + unit0), dc_prev);
                dc_prev = fma(da_f, V::load(s.peephole + hp + unit0), dc_prev);
                T* dp = s.dpeephole + unit0;
                fma(da_i, c_prev, V::load(dp)).store(dp);
                fma(da_f, c_prev, V::load(dp + hp)).store(dp + hp);
                fma(da_o, c, V::load(dp + 2 * hp)).store(dp + 2 * hp);
            }
            dc_prev.store(s.dc + at);
            T* out = s.dgates_t + row * 4 * s.hidden + unit0;
            if (units == VL) {
                da_i.store(out);
                da_f.store(out + s.hidden);
                da_g.store(out + 2 * s.hidden);
                da_o.store(out + 3 * s.hidden);
            } else {
                da_i.store_partial(out, units);
                da_f.store_partial(out + s.hidden, units);
                da_g.store_partial(out + 2 * s.hidden, units);
                da_o.store_partial(out + 3 * s.hidden, units);
            }
        }
    }
}
