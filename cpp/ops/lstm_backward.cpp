// BPTT driver: per step the fused elementwise gate gradients and dh_{t-1} = dG_t W_hh (hidden
// units split across threads, one barrier per step; or, as the forward's rows split, each thread
// its own batch rows, no barrier); after the loop, dW_ih, dW_hh (with db) and dx as single GEMMs
// over all steps (a batch of one at one thread: dx's rows that the steps did not carry).
//
// With a projection (h_t = m_t W_hr^T, m_t = o * tanh(c_t), h of P features) each step has two
// more parts: the step's total dh_t is kept (for dW_hr = dh^T m) and projected back to
// dm_t = dh_t W_hr, the gradient the elementwise step takes in place of dh; a second barrier
// separates them, as dh_t splits by the P output columns and dm_t by the H hidden units.
//
// When the recurrence reads c_{t-1} (cell_recurrence), dG_t W_hh goes to dc_{t-1} instead, and
// h_{t-1} gets nothing from step t: dh is cleared for the running rows.
#include <algorithm>
#include <atomic>
#include <cstring>
#include <functional>

#include "../runtime/thread_pool.hpp"
#include "lstm.hpp"
#include "packing.hpp"

namespace fast_lstm {

namespace {
std::atomic<int64_t> carried_slices_total{0};

// The dx = dG W_ih tiles a batch of one's steps compute inside their dh product: groups of
// `rows` rows from the last row up, each against every panel of W_ih, in slices of `depth` k.
// A step takes the next slice once every dG row of its group is known (rows >= the step's).
struct CarriedInputGrad {
    int64_t rows = 0, depth = 0, slices = 0, panels = 0, total_rows = 0;
    int64_t group = 0, panel = 0, slice = 0;  // the next slice

    bool ready(int64_t t) const { return rows > 0 && total_rows - (group + 1) * rows >= t; }
    int64_t first_row() const { return total_rows - (group + 1) * rows; }
    void advance() {
        if (++slice < slices) return;
        slice = 0;
        if (++panel < panels) return;
        panel = 0;
        ++group;
    }
    // Rows at the end that the carried tiles finished, for every panel.
    int64_t rows_done() const { return group * rows; }
};
}  // namespace

int64_t carried_input_grad_slices() { return carried_slices_total.load(std::memory_order_relaxed); }

// The rows split of the steps: rows [row_begin, row_end) of a dense batch, every step backwards,
// the elementwise step then those rows' dh_{t-1} = dG_t W_hh (of dh, dc: (B, Hp) rows).
template <typename T>
void backward_own_rows(const LstmTrainingRecord<T>& record, int64_t row_begin, int64_t row_end, const T* dy_rows,
                       T* dh, T* dc, T* dgates, int64_t ld_dg, T* workspace) {
    const Kernels<T>& kernels = *record.kernels;
    const int64_t B = record.dims.batch, H = record.dims.hidden, Hp = record.hidden_padded, NG = record.gates;
    const int64_t rows = row_end - row_begin;
    const T* cells = record.cell_states.data();  // c_0 rows, then c_t of step t at B + t * B
    LstmBackwardStep<T> step{};
    step.batch = rows;
    step.hidden = H;
    step.hidden_padded = Hp;
    step.ld_gates = record.gate_stride;
    step.ld_dgates = ld_dg;
    step.dc = dc + row_begin * Hp;
    T* dh_rows = dh + row_begin * Hp;
    step.dh = dh_rows;
    step.identity_output = record.identity_output;
    step.coupled_forget = record.coupled_forget;
    for (int64_t t = record.dims.steps - 1; t >= 0; --t) {
        const int64_t at = t * B + row_begin;
        step.gates_t = record.gate_values.data() + at * record.gate_stride;
        step.c_t = cells + (B + at) * Hp;
        step.c_prev = cells + (t == 0 ? row_begin : at) * Hp;
        step.dgates_t = dgates + at * ld_dg;
        step.dy_t = dy_rows ? dy_rows + at * H : nullptr;
        kernels.lstm_backward_step[NG - 3](step, 0, Hp / kernels.vector_width);
        const GemmArgs<T> recurrent{step.dgates_t, ld_dg, 1, record.w_hh_packed.data(), dh_rows, Hp, rows, H,
                                    NG * H, false};
        kernels.gemm(recurrent, 0, rows, 0, ceil_div(H, kernels.gemm_nr), workspace);
    }
}

template <typename T>
void lstm_backward(int threads, const LstmTrainingRecord<T>& record, const T* dy, const T* dh_n, const T* dc_n,
                   T* dx, T* dw_ih, T* dw_hh, T* db, T* dh0, T* dc0, T* dpeephole, T* dw_hr) {
    const Kernels<T>& kernels = *record.kernels;
    const LstmDims& dims = record.dims;
    const SequenceRows& rows = record.rows;
    const int64_t T_ = dims.steps, B = dims.batch, D = dims.input, H = dims.hidden;
    const int64_t NG = record.gates, VL = kernels.vector_width, Hp = record.hidden_padded;
    const int64_t blocks = Hp / VL, P = record.projection, R = P ? P : H;  // R: features of h
    const int64_t N = rows.total, nr = kernels.gemm_nr, panels_h = ceil_div(H, nr), panels_d = ceil_div(D, nr);
    const int64_t panels_r = ceil_div(R, nr);
    const bool dense = rows.dense(), cell_recurrence = record.cell_recurrence;
    const T* mask = record.recurrent_mask.size() ? record.recurrent_mask.data() : nullptr;

    // dy, the recurrence's operand (h_{t-1}, or c_{t-1}) and dx as N rows (sequence_rows.hpp);
    // without lengths, the caller's arrays and the record's.
    AlignedBuffer<T> dy_buffer, h_prev_buffer, dx_buffer;
    const T* dy_rows = dy;
    const T* recurrent_states = cell_recurrence ? record.cell_states.data() : record.hidden_states.data();
    const int64_t ld_recurrent = cell_recurrence ? Hp : R;
    const T* h_prev_rows = recurrent_states;  // state 0 .. T-1: the first T*B rows when dense
    T* dx_rows = dx;
    if (!dense) {
        if (dy) {
            dy_buffer = AlignedBuffer<T>(N * R);
            gather_sequence_rows(rows, dy_buffer.data(), dy, R);
            dy_rows = dy_buffer.data();
        }
        h_prev_buffer = AlignedBuffer<T>(N * ld_recurrent);
        gather_previous_states(rows, h_prev_buffer.data(), recurrent_states, ld_recurrent);
        h_prev_rows = h_prev_buffer.data();
        if (dx) {
            dx_buffer = AlignedBuffer<T>(N * D);
            dx_rows = dx_buffer.data();
        }
    }

    // dL/d(pre-activation), (N, NG*H) gate-major, rows ld_dg apart. They are the A of the per-step
    // dh GEMM and of dx, read in place where a thread's columns are few (gemm.hpp), 12 rows at a
    // time: at NG*H a multiple of 2 KB (the medium and large shapes) those rows share one or two
    // sets of an 8-way L1 and evict each other before their lines are used up. Spread, on Zen 4
    // at 1 / 2 threads: the backward of medium 15% / 8% faster, large 13% / 13% (packing the A
    // blocks instead gained about as much).
    const int64_t ld_dg = spread_row_stride(NG * H, sizeof(T));
    AlignedBuffer<T> dgates(N * ld_dg);
    const T* peephole = record.peephole.size() ? record.peephole.data() : nullptr;
    AlignedBuffer<T> dpeephole_padded(peephole ? 3 * Hp : 0);
    dpeephole_padded.fill_zero();
    // dh: the gradient reaching h_{t-1} through the recurrence (B, R), row stride ld_dh; without a
    // projection also what the elementwise step reads, so padded like c.
    const int64_t ld_dh = P ? R : Hp;
    AlignedBuffer<T> dh(B * ld_dh), dc(B * Hp), h_prev_packed(packed_b_size(N, R, nr));
    AlignedBuffer<T> dh_total(P ? N * R : 0), dm(P ? B * Hp : 0), m_packed(P ? packed_b_size(N, H, nr) : 0);
    dh.fill_zero();
    dc.fill_zero();
    dm.fill_zero();
    for (int64_t j = 0; j < B; ++j) {  // sorted; a sequence's row keeps dh_n, dc_n until its last step
        if (dh_n) std::memcpy(dh.data() + j * ld_dh, dh_n + rows.order[j] * R, sizeof(T) * R);
        if (dc_n) std::memcpy(dc.data() + j * Hp, dc_n + rows.order[j] * H, sizeof(T) * H);
    }

    // The dh GEMM splits h's features by whole B panels; without a projection the elementwise
    // step (by VL blocks) then gives each thread the same units: no barrier between them.
    threads = lstm_threads_for(threads, dims, std::max(panels_h, panels_r));
    // Or each thread its own rows, as the forward's rows split (lstm_forward.cpp) and with the
    // same choice: row j's step and its dh_{t-1} = dG_t[j] W_hh read only row j, so no barrier
    // per step. Peepholes (dpeephole is a sum over rows), a projection, lengths, a mask or the
    // cell recurrence keep the units split.
    const bool own_rows = rows_split_pays(threads, B, dense && !mask && !P && !cell_recurrence && !peephole);
    AlignedBuffer<T> a_workspace(threads * kernels.gemm_mc * kernels.gemm_kc);

    // dW_ih, dW_hh and dx whose rows would lie a multiple of 2 KB apart are computed into `spread`
    // with rows a little further apart, then copied out: a copy of C is ~1/K of its GEMM, worth
    // it only with a deep enough K.
    constexpr int64_t kSpreadMinDepth = 64;
    // dW_ih and dW_hh share one stride there, so each thread's rows of it are the same for both.
    const bool deep_w = N >= kSpreadMinDepth;
    const int64_t ld_w = spread_row_stride(std::max(D, R), sizeof(T));
    const int64_t ld_w_ih = deep_w && spread_row_stride(D, sizeof(T)) != D ? ld_w : D;
    const int64_t ld_w_hh = deep_w && spread_row_stride(R, sizeof(T)) != R ? ld_w : R;
    const int64_t ld_x = NG * H >= kSpreadMinDepth ? spread_row_stride(D, sizeof(T)) : D;
    const bool spread_w = ld_w_ih != D || ld_w_hh != R, spread_x = dx && ld_x != D;
    AlignedBuffer<T> spread(std::max(spread_w ? NG * H * ld_w : 0, spread_x ? N * ld_x : 0));
    // GEMM rows [begin, end) of `args` into out (row stride ld_out), through `spread` when args.ldc differs.
    auto gemm_rows = [&](GemmArgs<T> args, T* out, int64_t ld_out, int64_t begin, int64_t end, int64_t panels,
                         T* workspace) {
        const bool through = args.ldc != ld_out;
        args.c = through ? spread.data() : out;
        kernels.gemm(args, begin, end, 0, panels, workspace);
        if (through)
            copy_rows(out + begin * ld_out, ld_out, spread.data() + begin * args.ldc, args.ldc, end - begin, args.n);
    };

    // dW_ih = dG^T X and dW_hh = dG^T H as one pass over dG^T, packing each block of it once (the
    // small shape's training step: 3-12% faster), when both go straight into the caller's arrays
    // (not taking turns through `spread`) and a depth block of both Bs stays in half an L2 while
    // each block of A's rows reads it (medium's 512 KB did not gain).
    const int64_t b_depth_block_bytes = (D + R) * std::min<int64_t>(N, kernels.gemm_kc) * int64_t(sizeof(T));
    const bool shared_a = !spread_w && b_depth_block_bytes <= (256 << 10);

    // A batch of one at one thread: each step's dh product (1 row: its W_hh streams from L2 while
    // the FMA units wait half idle) also computes a slice of dx for rows already known
    // (CarriedInputGrad, Kernels::gemm_row_carrying), about as many FMAs as its own; the dx GEMM
    // after the loop computes the rest. Its tiles' sums must be the GEMM's chains (one k block)
    // and whole panels wide, straight into dx.
    CarriedInputGrad carry;
    const int64_t carried_rows = kernels.lstm_carried_rows;
    if (carried_rows > 0 && kernels.gemm_row_carrying && carried_tiles_allowed() && threads == 1 && !own_rows &&
        B == 1 && dense && dx && !P && !cell_recurrence && !spread_x && NG * H <= kernels.gemm_kc && D % nr == 0 &&
        N >= 2 * carried_rows) {
        carry.rows = carried_rows;
        carry.total_rows = N;
        carry.panels = panels_d;
        // Slices as deep as make the tile's FMAs (rows x nr x depth) those of the row's product.
        carry.depth = ceil_div(panels_h * NG * H, carried_rows);
        carry.slices = ceil_div(NG * H, carry.depth);
    }
    int64_t slices_carried = 0;

    std::memset(db, 0, sizeof(T) * NG * H);  // the dW_hh GEMM adds each unit's sum into it
    ThreadPool::instance().run(threads, [&](const Team& team) {
        T* workspace = a_workspace.data() + team.index * kernels.gemm_mc * kernels.gemm_kc;
        int64_t panel_begin, panel_end;  // of the H hidden units
        split_range(panels_h, 1, team.size, team.index, &panel_begin, &panel_end);
        const int64_t block_begin = panel_begin * nr / VL;
        const int64_t block_end = std::min(panel_end * nr / VL, blocks);
        int64_t h_panel_begin, h_panel_end;  // of h's R features
        split_range(panels_r, 1, team.size, team.index, &h_panel_begin, &h_panel_end);
        const int64_t h_begin = h_panel_begin * nr, h_end = std::min(h_panel_end * nr, R);

        if (own_rows) {
            int64_t row_begin, row_end;
            split_range(B, 1, team.size, team.index, &row_begin, &row_end);
            if (row_begin < row_end)
                backward_own_rows(record, row_begin, row_end, dy_rows, dh.data(), dc.data(), dgates.data(), ld_dg,
                                  workspace);
        } else {
            for (int64_t t = T_ - 1; t >= 0; --t) {
                const int64_t count = rows.count[t], at = rows.offset[t];
                if (count == 0) continue;
                LstmBackwardStep<T> step{};
                step.batch = count;
                step.hidden = H;
                step.hidden_padded = Hp;
                step.ld_gates = record.gate_stride;
                step.gates_t = record.gate_values.data() + at * record.gate_stride;
                step.c_t = record.cell_states.data() + (B + at) * Hp;
                step.c_prev = record.cell_states.data() + (t == 0 ? 0 : B + rows.offset[t - 1]) * Hp;
                step.dc = dc.data();
                step.dgates_t = dgates.data() + at * ld_dg;
                step.ld_dgates = ld_dg;
                step.peephole = peephole;
                step.dpeephole = dpeephole_padded.data();
                step.identity_output = record.identity_output;
                step.coupled_forget = record.coupled_forget;
                if (P) {
                    // dh_t = dy_t + dh (this thread's features, which its own dh GEMM wrote), kept for dW_hr.
                    T* total = dh_total.data() + at * R;
                    for (int64_t j = 0; j < count; ++j)
                        for (int64_t u = h_begin; u < h_end; ++u)
                            total[j * R + u] = dh.data()[j * R + u] + (dy_rows ? dy_rows[(at + j) * R + u] : T(0));
                    team.sync();
                    if (panel_begin < panel_end) {  // dm_t = dh_t W_hr: the gradient at o * tanh(c_t)
                        const GemmArgs<T> back{total, R, 1, record.w_hr_packed.data(), dm.data(), Hp, count, H, P,
                                               false};
                        kernels.gemm(back, 0, count, panel_begin, panel_end, workspace);
                    }
                    step.dy_t = nullptr;
                    step.dh = dm.data();
                } else {
                    step.dy_t = dy_rows ? dy_rows + at * H : nullptr;
                    step.dh = dh.data();
                }
                if (block_begin < block_end) kernels.lstm_backward_step[NG - 3](step, block_begin, block_end);
                team.sync();  // every unit's dG_t is needed by every thread's dh GEMM
                if (cell_recurrence) {
                    if (panel_begin < panel_end) {  // dc_{t-1} += dG_t W_hh; h_{t-1} fed nothing at step t
                        const GemmArgs<T> recurrent{step.dgates_t, ld_dg, 1, record.w_hh_packed.data(), dc.data(), Hp,
                                                    count, H, NG * H, true};
                        kernels.gemm(recurrent, 0, count, panel_begin, panel_end, workspace);
                        T* cleared = dh.data() + panel_begin * nr;
                        const int64_t width = std::min(panel_end * nr, H) - panel_begin * nr;
                        for (int64_t j = 0; j < count; ++j)
                            std::fill(cleared + j * ld_dh, cleared + j * ld_dh + width, T(0));
                    }
                } else if (h_panel_begin < h_panel_end) {
                    // Only the running sequences' rows: the others keep their dh_n for their last step.
                    const GemmArgs<T> recurrent{step.dgates_t, ld_dg, 1, record.w_hh_packed.data(), dh.data(), ld_dh,
                                                count, R, NG * H, false};
                    if (carry.ready(t)) {
                        const int64_t first = carry.first_row(), k_begin = carry.slice * carry.depth;
                        const CarriedTile<T> slice{dgates.data() + first * ld_dg, ld_dg,
                                                   record.w_ih_packed.data() + carry.panel * NG * H * nr,
                                                   k_begin, std::min(k_begin + carry.depth, NG * H),
                                                   dx_rows + first * D + carry.panel * nr, D};
                        kernels.gemm_row_carrying(recurrent, h_panel_begin, h_panel_end, slice);
                        carry.advance();
                        ++slices_carried;
                    } else {
                        kernels.gemm(recurrent, 0, count, h_panel_begin, h_panel_end, workspace);
                    }
                    if (mask)  // the recurrence read h_{t-1} * mask
                        for (int64_t j = 0; j < count; ++j)
                            for (int64_t u = h_begin; u < h_end; ++u) dh.data()[j * ld_dh + u] *= mask[j * R + u];
                }
                // Without a projection the next step's elementwise part reads only this thread's
                // units of dh; with one, the dh_t loop above does, and its barrier follows.
            }
        }
        // h_{t-1} of every row as the B operand of dW_hh = dG^T h_prev, m_t of dW_hr = dh^T m.
        pack_b_panels(h_prev_packed.data(), h_prev_rows, ld_recurrent, 1, N, R, nr, h_panel_begin, h_panel_end);
        if (P)
            pack_b_panels(m_packed.data(), record.projection_inputs.data(), H, 1, N, H, nr, panel_begin, panel_end);
        team.sync();

        int64_t begin, end;
        split_range(NG * H, kernels.gemm_mr, team.size, team.index, &begin, &end);
        if (begin < end) {
            const GemmArgs<T> grad_w_ih{dgates.data(), 1, ld_dg, record.x_packed.data(), dw_ih, ld_w_ih, NG * H, D,
                                        N, false};
            // db = dG^T 1, summed as the dW_hh GEMM packs dG^T: each unit's sum in row order, the
            // same at any thread count. Summed in the steps, it cost the rows split a meeting of
            // the threads every few steps and a pass over dG: on the Intel machine the training
            // step at 2 threads now takes 3-7% less on long, small and medium (A/B of builds).
            const GemmArgs<T> grad_w_hh{dgates.data(), 1, ld_dg, h_prev_packed.data(), dw_hh, ld_w_hh, NG * H, R,
                                        N, false, db};
            if (shared_a) {
                kernels.gemm_shared_a(grad_w_ih, grad_w_hh, begin, end, workspace);
            } else {
                gemm_rows(grad_w_ih, dw_ih, D, begin, end, panels_d, workspace);
                gemm_rows(grad_w_hh, dw_hh, R, begin, end, panels_r, workspace);
            }
        }
        if (P) {
            split_range(P, kernels.gemm_mr, team.size, team.index, &begin, &end);
            if (begin < end) {
                const GemmArgs<T> grad_w_hr{dh_total.data(), 1, R, m_packed.data(), dw_hr, H, P, H, N, false};
                kernels.gemm(grad_w_hr, begin, end, 0, panels_h, workspace);
            }
        }
        if (spread_w && spread_x) team.sync();  // dx's rows of `spread` are other threads' dW rows
        split_range(N - carry.rows_done(), kernels.gemm_mr, team.size, team.index, &begin, &end);
        if (dx && begin < end) {
            const GemmArgs<T> grad_x{dgates.data(), ld_dg, 1, record.w_ih_packed.data(), dx_rows, ld_x, N, D, NG * H,
                                     false};
            gemm_rows(grad_x, dx_rows, D, begin, end, panels_d, workspace);
        }
    });

    if (slices_carried) carried_slices_total.fetch_add(slices_carried, std::memory_order_relaxed);
    if (N == 0) {  // no step ran: the weight GEMMs had no rows to sum
        std::memset(dw_ih, 0, sizeof(T) * NG * H * D);
        std::memset(dw_hh, 0, sizeof(T) * NG * H * R);
        if (P) std::memset(dw_hr, 0, sizeof(T) * P * H);
    }
    if (!dense && dx) scatter_sequence_rows(rows, dx, dx_rows, D);
    if (peephole && dpeephole) copy_rows(dpeephole, H, dpeephole_padded.data(), Hp, 3, H);
    for (int64_t j = 0; j < B; ++j) {
        std::memcpy(dh0 + rows.order[j] * R, dh.data() + j * ld_dh, sizeof(T) * R);
        std::memcpy(dc0 + rows.order[j] * H, dc.data() + j * Hp, sizeof(T) * H);
    }
}

template void lstm_backward<float>(int, const LstmTrainingRecord<float>&, const float*, const float*, const float*,
                                   float*, float*, float*, float*, float*, float*, float*, float*);
template void lstm_backward<double>(int, const LstmTrainingRecord<double>&, const double*, const double*,
                                    const double*, double*, double*, double*, double*, double*, double*, double*,
                                    double*);

}  // namespace fast_lstm
