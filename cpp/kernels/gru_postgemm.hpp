// The GRU cell (Cho et al. 2014) in PyTorch's formulation: fused forward step and BPTT step.
//
// Forward, per row b and hidden unit u (gate order r, z, n as torch.nn.GRU):
//   [x_r x_z x_n] = x_t W_ih^T + b_ih          [h_r h_z h_n] = h_{t-1} W_hh^T + b_hh
//   r = sigma(x_r + h_r)   z = sigma(x_z + h_z)   n = tanh(x_n + r * h_n)
//   h_t = (1 - z) * n + z * h_{t-1}  =  n + z * (h_{t-1} - n)
// h_n must be kept apart from x_n (r scales it alone), so the biases stay separate too.
// Backward, with dh = dL/dh_t (from y_t and from step t+1):
//   da_n = dh * (1 - z) * (1 - n^2)         (n's pre-activation)
//   da_z = dh * (h_{t-1} - n) * z (1 - z)
//   da_r = da_n * h_n * r (1 - r)
//   dG_x = [da_r, da_z, da_n]               dG_h = [da_r, da_z, da_n * r]
//   dh_{t-1} = dh * z + dG_h W_hh            (the GEMM is the driver's, ops/gru_backward.cpp)
//
// Layouts: GruForwardStep / GruBackwardStep in kernel_table.hpp. A forward tile is R batch
// rows x one block of VL hidden units x the three gates.
#pragma once

#include "gate_product.hpp"

template <typename T, int R>
inline void gru_forward_tile(const GruForwardStep<T>& s, int64_t block, int64_t b0) {
    using V = Vec<T>;
    constexpr int VL = V::width, NG = 3;
    const int64_t gates_stride = NG * s.hidden_padded;
    const int64_t unit0 = block * VL;
    const int units = static_cast<int>(gemm_min<T>(VL, s.hidden - unit0));

    V acc[R][NG];  // h_{t-1} W_hh^T + b_hh
    const T* h_prev[R];
    for (int r = 0; r < R; ++r) {
        for (int g = 0; g < NG; ++g) acc[r][g] = V::load(s.bias_h + NG * unit0 + g * VL);
        h_prev[r] = s.h_prev + (b0 + r) * s.ld_h_prev;
    }
    gate_product<T, R, NG>(acc, h_prev, s.w_hh_packed + block * s.hidden * NG * VL, s.hidden);
    for (int r = 0; r < R; ++r) {
        const int64_t row = b0 + r;
        const T* xproj = s.xproj_t + row * gates_stride + NG * unit0;
        const T* bias_x = s.bias_x + NG * unit0;
        const V reset = sigmoid<T>(acc[r][0] + V::load(xproj) + V::load(bias_x));
        const V update = sigmoid<T>(acc[r][1] + V::load(xproj + VL) + V::load(bias_x + VL));
        const V hn = acc[r][2];
        const V n = tanh<T>(fma(reset, hn, V::load(xproj + 2 * VL) + V::load(bias_x + 2 * VL)));
        const T* state = s.state_prev + row * s.ld_state_prev + unit0;
        const V h_before = units == VL ? V::load(state) : V::load_partial(state, units);
        const V h = fma(update, h_before - n, n);
        const int64_t at = row * s.ld_h_out + unit0;  // the mask has h_out's row stride
        store_hidden(h, s.h_out + at, s.recurrent_mask ? s.recurrent_mask + at : nullptr,
                     s.recurrent_mask ? s.h_masked_out + at : nullptr, units);
        if (s.gates_out) {
            T* saved = s.gates_out + row * gates_stride + NG * unit0;
            reset.store(saved);
            update.store(saved + VL);
            n.store(saved + 2 * VL);
            hn.store(s.hn_out + row * s.hidden_padded + unit0);
        }
    }
}

template <typename T, int MR>
void gru_forward_step(const GruForwardStep<T>& s, int64_t block_begin, int64_t block_end) {
    for (int64_t i = 0; i < block_end - block_begin; ++i) {
        const int64_t block = s.reverse_blocks ? block_end - 1 - i : block_begin + i;
        int64_t b0 = 0;
        for (; b0 + MR <= s.batch; b0 += MR) gru_forward_tile<T, MR>(s, block, b0);
        for (; b0 < s.batch; ++b0) gru_forward_tile<T, 1>(s, block, b0);
    }
}

template <typename T>
void gru_backward_step(const GruBackwardStep<T>& s, int64_t block_begin, int64_t block_end) {
    using V = Vec<T>;
    constexpr int VL = V::width, NG = 3;
    const V one = V::broadcast(T(1));
    const int64_t hp = s.hidden_padded, H = s.hidden;
    for (int64_t row = 0; row < s.batch; ++row) {
        for (int64_t block = block_begin; block < block_end; ++block) {
            const int64_t unit0 = block * VL;
            const int units = static_cast<int>(gemm_min<T>(VL, H - unit0));
            auto load = [units](const T* p) { return units == VL ? V::load(p) : V::load_partial(p, units); };
            const T* saved = s.gates_t + row * NG * hp + NG * unit0;
            const V reset = V::load(saved), update = V::load(saved + VL), n = V::load(saved + 2 * VL);
            const V hn = V::load(s.hn_t + row * hp + unit0);
            const V h_before = load(s.state_prev + row * s.ld_state_prev + unit0);

            T* dh_at = s.dh + row * hp + unit0;
            V dh = V::load(dh_at);
            if (s.dy_t) dh = dh + load(s.dy_t + row * H + unit0);
            const V da_n = dh * (one - update) * (one - n * n);
            const V da_z = dh * (h_before - n) * update * (one - update);
            const V da_r = da_n * hn * reset * (one - reset);
            (dh * update).store(dh_at);

            T* dx = s.dgates_x + row * s.ld_dgates + unit0;
            T* dhh = s.dgates_h + row * s.ld_dgates + unit0;
            const V grads_x[NG] = {da_r, da_z, da_n};
            const V grads_h[NG] = {da_r, da_z, da_n * reset};
            for (int gate = 0; gate < NG; ++gate) {
                if (units == VL) {
                    grads_x[gate].store(dx + gate * H);
                    grads_h[gate].store(dhh + gate * H);
                } else {
                    grads_x[gate].store_partial(dx + gate * H, units);
                    grads_h[gate].store_partial(dhh + gate * H, units);
                }
            }
        }
    }
}
