// BPTT driver: per step the fused elementwise gate gradients and dh_{t-1} = dG_t W_hh
// (hidden units split across threads, one barrier per step); after the loop,
// dW_ih, dW_hh, dx and db as single GEMMs / reductions over all steps.
#include <cstring>
#include <functional>

#include "../runtime/thread_pool.hpp"
#include "lstm.hpp"
#include "packing.hpp"

namespace fast_lstm {

template <typename T>
void lstm_backward(int threads, const LstmTrainingRecord<T>& record, const T* dy, const T* dh_n, const T* dc_n,
                   T* dx, T* dw_ih, T* dw_hh, T* db, T* dh0, T* dc0, T* dpeephole) {
    const Kernels<T>& kernels = *record.kernels;
    const LstmDims& dims = record.dims;
    const SequenceRows& rows = record.rows;
    const int64_t T_ = dims.steps, B = dims.batch, D = dims.input, H = dims.hidden;
    const int64_t NG = record.gates, VL = kernels.vector_width, Hp = record.hidden_padded, G = NG * Hp;
    const int64_t blocks = Hp / VL;
    const int64_t N = rows.total, nr = kernels.gemm_nr, panels_h = ceil_div(H, nr), panels_d = ceil_div(D, nr);
    const bool dense = rows.dense();
    const T* mask = record.recurrent_mask.size() ? record.recurrent_mask.data() : nullptr;

    // dy, h_{t-1} and dx as N rows (sequence_rows.hpp); without lengths, the caller's arrays.
    AlignedBuffer<T> dy_buffer, h_prev_buffer, dx_buffer;
    const T* dy_rows = dy;
    const T* h_prev_rows = record.hidden_states.data();  // h_0 .. h_{T-1}: the first T*B rows when dense
    T* dx_rows = dx;
    if (!dense) {
        if (dy) {
            dy_buffer = AlignedBuffer<T>(N * H);
            gather_sequence_rows(rows, dy_buffer.data(), dy, H);
            dy_rows = dy_buffer.data();
        }
        h_prev_buffer = AlignedBuffer<T>(N * H);
        gather_previous_states(rows, h_prev_buffer.data(), record.hidden_states.data(), H);
        h_prev_rows = h_prev_buffer.data();
        dx_buffer = AlignedBuffer<T>(N * D);
        dx_rows = dx_buffer.data();
    }

    AlignedBuffer<T> dgates(N * NG * H);  // dL/d(pre-activation), (N, NG*H) gate-major
    const T* peephole = record.peephole.size() ? record.peephole.data() : nullptr;
    AlignedBuffer<T> dpeephole_padded(peephole ? 3 * Hp : 0);
    dpeephole_padded.fill_zero();
    AlignedBuffer<T> dh(B * Hp), dc(B * Hp), h_prev_packed(packed_b_size(N, H, nr));
    dh.fill_zero();
    dc.fill_zero();
    for (int64_t j = 0; j < B; ++j) {  // sorted; a sequence's row keeps dh_n, dc_n until its last step
        if (dh_n) std::memcpy(dh.data() + j * Hp, dh_n + rows.order[j] * H, sizeof(T) * H);
        if (dc_n) std::memcpy(dc.data() + j * Hp, dc_n + rows.order[j] * H, sizeof(T) * H);
    }

    // The dh GEMM splits hidden units by whole B panels, so it and the elementwise
    // step (by VL blocks) give each thread the same units: no barrier between them.
    threads = lstm_threads_for(threads, dims, panels_h);
    AlignedBuffer<T> a_workspace(threads * kernels.gemm_mc * kernels.gemm_kc);

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
            LstmBackwardStep<T> step{};
            step.batch = count;
            step.hidden = H;
            step.hidden_padded = Hp;
            step.gates_t = record.gate_values.data() + at * G;
            step.c_t = record.cell_states.data() + (B + at) * Hp;
            step.c_prev = record.cell_states.data() + (t == 0 ? 0 : B + rows.offset[t - 1]) * Hp;
            step.dy_t = dy_rows ? dy_rows + at * H : nullptr;
            step.dh = dh.data();
            step.dc = dc.data();
            step.dgates_t = dgates.data() + at * NG * H;
            step.peephole = peephole;
            step.dpeephole = dpeephole_padded.data();
            step.identity_output = record.identity_output;
            step.coupled_forget = record.coupled_forget;
            if (block_begin < block_end) kernels.lstm_backward_step[NG - 3](step, block_begin, block_end);
            team.sync();  // every unit's dG_t is needed by every thread's dh GEMM
            if (panel_begin < panel_end) {
                // Only the running sequences' rows: the others keep their dh_n for their last step.
                const GemmArgs<T> recurrent{step.dgates_t, NG * H, 1, record.w_hh_packed.data(), dh.data(), Hp,
                                            count, H, NG * H, false};
                kernels.gemm(recurrent, 0, count, panel_begin, panel_end, workspace);
                if (mask)  // the recurrence read h_{t-1} * mask
                    for (int64_t j = 0; j < count; ++j)
                        for (int64_t u = unit_begin; u < unit_end; ++u) dh.data()[j * Hp + u] *= mask[j * H + u];
            }
        }
        // h_{t-1} of every row as the B operand of dW_hh = dG^T h_prev.
        pack_b_panels(h_prev_packed.data(), h_prev_rows, H, 1, N, H, nr, panel_begin, panel_end);
        team.sync();

        int64_t begin, end;
        split_range(NG * H, kernels.gemm_mr, team.size, team.index, &begin, &end);
        if (begin < end) {
            const GemmArgs<T> grad_w_ih{dgates.data(), 1, NG * H, record.x_packed.data(), dw_ih, D, NG * H, D, N,
                                        false};
            kernels.gemm(grad_w_ih, begin, end, 0, panels_d, workspace);
            const GemmArgs<T> grad_w_hh{dgates.data(), 1, NG * H, h_prev_packed.data(), dw_hh, H, NG * H, H, N,
                                        false};
            kernels.gemm(grad_w_hh, begin, end, 0, panels_h, workspace);
        }
        split_range(N, kernels.gemm_mr, team.size, team.index, &begin, &end);
        if (begin < end) {
            const GemmArgs<T> grad_x{dgates.data(), NG * H, 1, record.w_ih_packed.data(), dx_rows, D, N, D, NG * H,
                                     false};
            kernels.gemm(grad_x, begin, end, 0, panels_d, workspace);
        }
        // db = column sums of dG, rows in ascending order whatever the split.
        split_range(NG * H, 1, team.size, team.index, &begin, &end);
        for (int64_t col = begin; col < end; ++col) db[col] = T(0);
        for (int64_t row = 0; row < N; ++row) {
            const T* grad = dgates.data() + row * NG * H;
            for (int64_t col = begin; col < end; ++col) db[col] += grad[col];
        }
    });

    if (N == 0) {  // no step ran: the weight GEMMs had no rows to sum
        std::memset(dw_ih, 0, sizeof(T) * NG * H * D);
        std::memset(dw_hh, 0, sizeof(T) * NG * H * H);
    }
    if (!dense) scatter_sequence_rows(rows, dx, dx_rows, D);
    if (peephole && dpeephole) copy_rows(dpeephole, H, dpeephole_padded.data(), Hp, 3, H);
    for (int64_t j = 0; j < B; ++j) {
        std::memcpy(dh0 + rows.order[j] * H, dh.data() + j * Hp, sizeof(T) * H);
        std::memcpy(dc0 + rows.order[j] * H, dc.data() + j * Hp, sizeof(T) * H);
    }
}

template void lstm_backward<float>(int, const LstmTrainingRecord<float>&, const float*, const float*, const float*,
                                   float*, float*, float*, float*, float*, float*, float*);
template void lstm_backward<double>(int, const LstmTrainingRecord<double>&, const double*, const double*,
                                    const double*, double*, double*, double*, double*, double*, double*, double*);

}  // namespace fast_lstm
