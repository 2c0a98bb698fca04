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
                   T* dx, T* dw_ih, T* dw_hh, T* db, T* dh0, T* dc0) {
    const Kernels<T>& kernels = *record.kernels;
    const LstmDims& dims = record.dims;
    const int64_t T_ = dims.steps, B = dims.batch, D = dims.input, H = dims.hidden;
    const int64_t VL = kernels.vector_width, Hp = record.hidden_padded, G = 4 * Hp, blocks = Hp / VL;
    const int64_t rows = T_ * B, nr = kernels.gemm_nr, panels_h = ceil_div(H, nr), panels_d = ceil_div(D, nr);

    AlignedBuffer<T> dgates(rows * 4 * H);  // dL/d(pre-activation), (T, B, 4H) gate-major
    AlignedBuffer<T> dh(B * Hp), dc(B * Hp), h_prev_packed(packed_b_size(rows, H, nr));
    dh.fill_zero();
    dc.fill_zero();
    if (dh_n) copy_rows(dh.data(), Hp, dh_n, H, B, H);
    if (dc_n) copy_rows(dc.data(), Hp, dc_n, H, B, H);

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

        for (int64_t t = T_ - 1; t >= 0; --t) {
            LstmBackwardStep<T> step{};
            step.batch = B;
            step.hidden = H;
            step.hidden_padded = Hp;
            step.gates_t = record.gates.data() + t * B * G;
            step.c_t = record.cell_states.data() + (t + 1) * B * Hp;
            step.c_prev = record.cell_states.data() + t * B * Hp;
            step.dy_t = dy ? dy + t * B * H : nullptr;
            step.dh = dh.data();
            step.dc = dc.data();
            step.dgates_t = dgates.data() + t * B * 4 * H;
            if (block_begin < block_end) kernels.lstm_backward_step(step, block_begin, block_end);
            team.sync();  // every unit's dG_t is needed by every thread's dh GEMM
            if (panel_begin < panel_end) {
                const GemmArgs<T> recurrent{step.dgates_t, 4 * H, 1, record.w_hh_packed.data(), dh.data(), Hp,
                                            B, H, 4 * H, false};
                kernels.gemm(recurrent, 0, B, panel_begin, panel_end, workspace);
            }
        }
        // h_0 .. h_{T-1} as the B operand of dW_hh = dG^T h_prev.
        pack_b_panels(h_prev_packed.data(), record.hidden_states.data(), H, 1, rows, H, nr, panel_begin, panel_end);
        team.sync();

        int64_t begin, end;
        split_range(4 * H, kernels.gemm_mr, team.size, team.index, &begin, &end);
        if (begin < end) {
            const GemmArgs<T> grad_w_ih{dgates.data(), 1, 4 * H, record.x_packed.data(), dw_ih, D, 4 * H, D, rows,
                                        false};
            kernels.gemm(grad_w_ih, begin, end, 0, panels_d, workspace);
            const GemmArgs<T> grad_w_hh{dgates.data(), 1, 4 * H, h_prev_packed.data(), dw_hh, H, 4 * H, H, rows,
                                        false};
            kernels.gemm(grad_w_hh, begin, end, 0, panels_h, workspace);
        }
        split_range(rows, kernels.gemm_mr, team.size, team.index, &begin, &end);
        if (begin < end) {
            const GemmArgs<T> grad_x{dgates.data(), 4 * H, 1, record.w_ih_packed.data(), dx, D, rows, D, 4 * H,
                                     false};
            kernels.gemm(grad_x, begin, end, 0, panels_d, workspace);
        }
        // db = column sums of dG, rows in ascending order whatever the split.
        split_range(4 * H, 1, team.size, team.index, &begin, &end);
        for (int64_t col = begin; col < end; ++col) db[col] = T(0);
        for (int64_t row = 0; row < rows; ++row) {
            const T* grad = dgates.data() + row * 4 * H;
            for (int64_t col = begin; col < end; ++col) db[col] += grad[col];
        }
    });

    copy_rows(dh0, H, dh.data(), Hp, B, H);
    copy_rows(dc0, H, dc.data(), Hp, B, H);
}

template void lstm_backward<float>(int, const LstmTrainingRecord<float>&, const float*, const float*, const float*,
                                   float*, float*, float*, float*, float*, float*);
template void lstm_backward<double>(int, const LstmTrainingRecord<double>&, const double*, const double*,
                                    const double*, double*, double*, double*, double*, double*, double*);

}  // namespace fast_lstm
