// GRU BPTT driver, the LSTM's design (lstm_backward.cpp): per step the fused elementwise gate
// gradients, then dh_{t-1} = dh_t * z + dG_h W_hh (hidden units split across threads, one
// barrier per step); after the loop dW_ih, dW_hh and dx as single GEMMs, the biases' gradients
// summed as the weight GEMMs pack dG_x^T and dG_h^T.
#include <cstring>
#include <functional>

#include "../runtime/thread_pool.hpp"
#include "gru.hpp"
#include "packing.hpp"

namespace fast_lstm {

template <typename T>
void gru_backward(int threads, const GruTrainingRecord<T>& record, const T* dy, const T* dh_n, T* dx, T* dw_ih,
                  T* dw_hh, T* db_ih, T* db_hh, T* dh0) {
    constexpr int64_t NG = 3;
    const Kernels<T>& kernels = *record.kernels;
    const LstmDims& dims = record.dims;
    const SequenceRows& rows = record.rows;
    const int64_t T_ = dims.steps, B = dims.batch, D = dims.input, H = dims.hidden;
    const int64_t VL = kernels.vector_width, Hp = record.hidden_padded, G = NG * Hp, blocks = Hp / VL;
    const int64_t N = rows.total, nr = kernels.gemm_nr, panels_h = ceil_div(H, nr), panels_d = ceil_div(D, nr);
    const bool dense = rows.dense();
    const T* mask = record.recurrent_mask.size() ? record.recurrent_mask.data() : nullptr;
    const T* states = record.hidden_states.data();  // (B + N, H)
    // What the recurrence read: h_{t-1}, or h_{t-1} * mask.
    const T* recurrent_states = mask ? record.recurrent_inputs.data() : states;

    AlignedBuffer<T> dy_buffer, h_prev_buffer, dx_buffer;
    const T* dy_rows = dy;
    const T* h_prev_rows = recurrent_states;  // h_0 .. h_{T-1}: the first T*B rows when dense
    T* dx_rows = dx;
    if (!dense) {
        if (dy) {
            dy_buffer = AlignedBuffer<T>(N * H);
            gather_sequence_rows(rows, dy_buffer.data(), dy, H);
            dy_rows = dy_buffer.data();
        }
        h_prev_buffer = AlignedBuffer<T>(N * H);
        gather_previous_states(rows, h_prev_buffer.data(), recurrent_states, H);
        h_prev_rows = h_prev_buffer.data();
        if (dx) {
            dx_buffer = AlignedBuffer<T>(N * D);
            dx_rows = dx_buffer.data();
        }
    }

    // dL/d(pre-activation) of the input and recurrent products, (N, 3H) gate-major, rows ld_dg
    // apart: spread where 3H is a multiple of 2 KB, as dG in lstm_backward.cpp, since dG_h and dG_x
    // are the A of the dh and dx GEMMs, read in place where a thread's columns are few.
    const int64_t ld_dg = spread_row_stride(NG * H, sizeof(T));
    AlignedBuffer<T> dgates_x(N * ld_dg), dgates_h(N * ld_dg);
    AlignedBuffer<T> dh(B * Hp), h_prev_packed(packed_b_size(N, H, nr));
    AlignedBuffer<T> dh_recurrent(mask ? B * Hp : 0);  // dG_h W_hh before the mask scales it
    dh.fill_zero();
    if (dh_n)  // sorted; a sequence's row keeps dh_n until its last step
        for (int64_t j = 0; j < B; ++j) std::memcpy(dh.data() + j * Hp, dh_n + rows.order[j] * H, sizeof(T) * H);

    // The dh GEMM splits hidden units by whole B panels, so it and the elementwise step
    // (by VL blocks) give each thread the same units: no barrier between them.
    threads = lstm_threads_for(threads, dims, panels_h);
    AlignedBuffer<T> a_workspace(threads * kernels.gemm_mc * kernels.gemm_kc);

    // The weight GEMMs add each gate unit's sum over all rows into these (gemm.hpp's a_row_sums).
    std::memset(db_ih, 0, sizeof(T) * NG * H);
    std::memset(db_hh, 0, sizeof(T) * NG * H);
    ThreadPool::instance().run(threads, [&](const Team& team) {
        T* workspace = a_workspace.data() + team.index * kernels.gemm_mc * kernels.gemm_kc;
        int64_t panel_begin, panel_end;
        split_range(panels_h, 1, team.size, team.index, &panel_begin, &panel_end);
        const int64_t block_begin = panel_begin * nr / VL;
        const int64_t block_end = panel_end * nr / VL < blocks ? panel_end * nr / VL : blocks;
        const int64_t unit_begin = panel_begin * nr, unit_end = panel_end * nr < H ? panel_end * nr : H;

        for (int64_t t = T_ - 1; t >= 0; --t) {
            const int64_t count = rows.count[t], at = rows.offset[t];
            if (count == 0) continue;
            GruBackwardStep<T> step{};
            step.batch = count;
            step.hidden = H;
            step.hidden_padded = Hp;
            step.gates_t = record.gate_values.data() + at * G;
            step.hn_t = record.hn_values.data() + at * Hp;
            step.state_prev = states + (t == 0 ? 0 : B + rows.offset[t - 1]) * H;
            step.ld_state_prev = H;
            step.dy_t = dy_rows ? dy_rows + at * H : nullptr;
            step.dh = dh.data();
            step.dgates_x = dgates_x.data() + at * ld_dg;
            step.dgates_h = dgates_h.data() + at * ld_dg;
            step.ld_dgates = ld_dg;
            if (block_begin < block_end) kernels.gru_backward_step(step, block_begin, block_end);
            team.sync();  // every unit's dG_h is needed by every thread's dh GEMM
            if (panel_begin < panel_end) {
                // dh now holds dh_t * z for the running rows: add dG_h W_hh (times the mask).
                T* target = mask ? dh_recurrent.data() : dh.data();
                const GemmArgs<T> recurrent{step.dgates_h, ld_dg, 1, record.w_hh_packed.data(), target, Hp,
                                            count, H, NG * H, !mask};
                kernels.gemm(recurrent, 0, count, panel_begin, panel_end, workspace);
                if (mask)
                    for (int64_t j = 0; j < count; ++j)
                        for (int64_t u = unit_begin; u < unit_end; ++u)
                            dh.data()[j * Hp + u] += mask[j * H + u] * dh_recurrent.data()[j * Hp + u];
            }
        }
        // h_{t-1} of every row as the B operand of dW_hh = dG_h^T h_prev.
        pack_b_panels(h_prev_packed.data(), h_prev_rows, H, 1, N, H, nr, panel_begin, panel_end);
        team.sync();

        int64_t begin, end;
        split_range(NG * H, kernels.gemm_mr, team.size, team.index, &begin, &end);
        if (begin < end) {
            // db_ih = dG_x^T 1 and db_hh = dG_h^T 1, in row order whatever the thread count. Summed
            // in the step kernel they cost a load, an add and a store per gate and row.
            const GemmArgs<T> grad_w_ih{dgates_x.data(), 1, ld_dg, record.x_packed.data(), dw_ih, D, NG * H, D, N,
                                        false, db_ih};
            kernels.gemm(grad_w_ih, begin, end, 0, panels_d, workspace);
            const GemmArgs<T> grad_w_hh{dgates_h.data(), 1, ld_dg, h_prev_packed.data(), dw_hh, H, NG * H, H, N,
                                        false, db_hh};
            kernels.gemm(grad_w_hh, begin, end, 0, panels_h, workspace);
        }
        split_range(N, kernels.gemm_mr, team.size, team.index, &begin, &end);
        if (dx && begin < end) {
            const GemmArgs<T> grad_x{dgates_x.data(), ld_dg, 1, record.w_ih_packed.data(), dx_rows, D, N, D, NG * H,
                                     false};
            kernels.gemm(grad_x, begin, end, 0, panels_d, workspace);
        }
    });

    if (N == 0) {  // no step ran: the weight GEMMs had no rows to sum
        std::memset(dw_ih, 0, sizeof(T) * NG * H * D);
        std::memset(dw_hh, 0, sizeof(T) * NG * H * H);
    }
    if (!dense && dx) scatter_sequence_rows(rows, dx, dx_rows, D);
    for (int64_t j = 0; j < B; ++j) std::memcpy(dh0 + rows.order[j] * H, dh.data() + j * Hp, sizeof(T) * H);
}

template void gru_backward<float>(int, const GruTrainingRecord<float>&, const float*, const float*, float*, float*,
                                  float*, float*, float*, float*);
template void gru_backward<double>(int, const GruTrainingRecord<double>&, const double*, const double*, double*,
                                   double*, double*, double*, double*, double*);

}  // namespace fast_lstm
