// Forward driver: the input projection as one GEMM per window of steps (an L2's worth of rows),
// then per step the recurrent product and the cell update (fused in one tile, or a GEMM then
// the update when the tile's weights outgrow L1), hidden-unit blocks split across threads
// with one barrier per step; or, for inference with enough rows, the rows split across
// threads with no barrier at all.
#include <algorithm>
#include <atomic>
#include <cstring>
#include <functional>

#include "../runtime/cpu_features.hpp"
#include "../runtime/thread_pool.hpp"
#include "lstm.hpp"
#include "packing.hpp"
#include "sequence_inputs.hpp"

namespace fast_lstm {

int lstm_threads_for(int requested, const LstmDims& dims, int64_t hidden_blocks) {
    // Below ~20 kFLOP per step (B=1, D=H=32) the per-step barrier costs what the second core
    // gives. Above it a second core pays even for one sequence where a barrier is cheap: each
    // core then streams half of W_hh per step (at D=H=64, B=1: a 64 KB L2 stream becomes two
    // 32 KB ones); Zen 3 and Zen 4 ran the tiny shape's forward (65 kFLOP a step) 1.2-1.25x
    // faster at 2 threads (bench runs BH, BR, BS). Where a barrier costs more, the step must be
    // larger to pay for it: on the Intel machine (a wait ~0.36 us) the tiny forward ran 1.3-2x
    // slower at 2 threads than at 1 (runs CK, CL); B=4 at D=H=64 (262 kFLOP) ran the same, B=1
    // at D=H=128 (262 kFLOP) 1.2x faster (a diagnostic A/B, session 34). 400 FLOP per ns of a
    // wait puts that machine's line at ~145 kFLOP and keeps 2 threads for the tiny shape where
    // a wait is under ~0.16 us.
    const int64_t step_flops = 2 * dims.batch * 4 * dims.hidden * (dims.hidden + dims.input);
    if (step_flops < 20000) return 1;
    int threads = requested;
    if (threads > hidden_blocks) threads = static_cast<int>(hidden_blocks);
    if (threads < 2) return 1;
    constexpr double flops_per_wait_ns = 400;
    constexpr int64_t never_barrier_bound = int64_t(1) << 20;  // no wait on record costs 2.6 us
    if (step_flops < never_barrier_bound && step_flops < flops_per_wait_ns * ThreadPool::instance().barrier_wait_ns())
        return 1;
    // The workers sleep from 0.1 ms after a region. Waking them took 0.1-0.5 ms on a virtual
    // machine whose idle CPU had halted: a tiny-shape call (B=1, T=100, D=H=64: 6.5 MFLOP,
    // 0.18 ms alone) at 2 threads ran 2.7-3.8x slower after a 1 ms pause than back to back.
    // A call this short runs alone then, and wakes them for a next call that may follow.
    constexpr int64_t short_call_flops = int64_t(16) << 20;
    if (step_flops * dims.steps < short_call_flops && !ThreadPool::instance().workers_awake(threads)) {
        ThreadPool::instance().wake_workers(threads);
        return 1;
    }
    return threads;
}

namespace {
std::atomic<RecurrentProduct> recurrent_product_choice{RecurrentProduct::automatic};
std::atomic<ThreadSplit> thread_split_choice{ThreadSplit::automatic};
std::atomic<bool> carried_projection_choice{true};
std::atomic<int64_t> carried_tiles_total{0};
}  // namespace

bool allow_carried_projection(bool allow) { return carried_projection_choice.exchange(allow); }
int64_t carried_projection_tiles() { return carried_tiles_total.load(std::memory_order_relaxed); }
bool carried_tiles_allowed() { return carried_projection_choice.load(); }

RecurrentProduct force_recurrent_product(RecurrentProduct choice) { return recurrent_product_choice.exchange(choice); }
ThreadSplit force_thread_split(ThreadSplit choice) { return thread_split_choice.exchange(choice); }

// Whether `threads` threads run a forward (inference or training) on their own rows
// (forward_own_rows) rather than their own hidden units. Units need a barrier per step, where a
// thread waits for the other core's slowest moment and then reads its half of h_{t-1}; rows need
// neither, but each thread streams all of W_hh per step instead of its share.
// Measured at 2 threads, back to back, rows / units: on Zen 3 (AVX2, fused tile) small (B=32,
// H=128) 0.88-0.91, long (B=16, H=128: 8 rows a thread) 0.76-0.79; on Zen 4 (AVX-512, where
// H=128 takes the recurrent GEMM) small 0.74-0.97, long 0.58-0.88, medium and large 0.98-0.99,
// xlarge (W_hh 16 MB) 0.99-1.005. Fewer than 8 rows a thread not measured. The training
// forward, which also writes the record's gates and cells by rows, on Zen 4, median of per-call
// pairs: long 0.82, small 0.94, medium 0.95, large 0.95, xlarge 0.98 (the training step 0.93-0.98);
// forced onto AVX2 there, long 0.99, small 0.975.
bool rows_split_pays(int threads, int64_t batch, bool splittable) {
    if (threads < 2 || !splittable) return false;
    switch (thread_split_choice.load()) {
        case ThreadSplit::units: return false;
        case ThreadSplit::rows: return batch >= threads;
        default: return batch >= 8 * int64_t(threads);
    }
}

// A fused-tile step of `batch` rows with what the packed weights fix: the standard layout of
// h (H features, no projection); the caller adds the step's arrays.
template <typename T>
LstmForwardStep<T> fused_step(const LstmPackedWeights<T>& packed, int64_t batch) {
    LstmForwardStep<T> step{};
    step.batch = batch;
    step.hidden = packed.hidden;
    step.hidden_padded = packed.hidden_padded;
    step.bias = packed.bias.data();
    step.w_hh_packed = packed.w_hh_fused.data();
    step.ld_h_prev = packed.hidden;
    step.recurrent_depth = packed.hidden;
    step.ld_h_out = packed.hidden;
    step.peephole = packed.peephole.size() ? packed.peephole.data() : nullptr;
    step.identity_output = packed.identity_output;
    step.coupled_forget = packed.coupled_forget;
    return step;
}

// The rows split: this thread's rows [row_begin, row_end) of a dense batch, every step, with
// the fused tile (or the recurrent GEMM, then the tile's cell update); h_t written to outputs
// (N, H). It projects its own rows of each window of steps: gathered from x into a buffer of
// its own, then one GEMM. Inference updates c in place (B, Hp); training (saved_gates, the
// record's (N, ld_gates) rows) keeps every c_t, in (B + N, Hp) rows after c_0, and the gates.
template <typename T>
void forward_own_rows(const LstmPackedWeights<T>& packed, const LstmDims& dims, int64_t row_begin, int64_t row_end,
                      const T* x_rows, const T* h_initial, T* outputs, T* cells, int64_t ld_gates,
                      int64_t window_rows, T* workspace, T* saved_gates) {
    const Kernels<T>& kernels = *packed.kernels;
    const int64_t T_ = dims.steps, B = dims.batch, D = dims.input, H = dims.hidden;
    const int64_t Hp = packed.hidden_padded, G = packed.gates * Hp, rows = row_end - row_begin;
    if (rows <= 0) return;
    const int64_t window_steps = std::min(T_, std::max<int64_t>(1, window_rows / rows));
    AlignedBuffer<T> window_x(window_steps * rows * D), window_gates(window_steps * rows * ld_gates);
    const bool recurrent_gemm = packed.w_hh_gemm.size() > 0;
    LstmForwardStep<T> step = fused_step(packed, rows);
    step.ld_gates = ld_gates;
    if (recurrent_gemm) step.w_hh_packed = nullptr;
    step.c_out = cells + row_begin * Hp;
    step.c_prev = step.c_out;
    const bool cells_per_row = saved_gates != nullptr;
    int64_t window_first = 0;
    for (int64_t t = 0; t < T_; ++t) {
        if (t == window_first + window_steps || t == 0) {
            window_first = t;
            const int64_t steps = std::min(window_steps, T_ - t);
            for (int64_t s = 0; s < steps; ++s)
                std::memcpy(window_x.data() + s * rows * D, x_rows + ((t + s) * B + row_begin) * D,
                            sizeof(T) * rows * D);
            const GemmArgs<T> projection{window_x.data(), D, 1, packed.w_ih_gemm.data(), window_gates.data(),
                                         ld_gates, steps * rows, G, D, false};
            kernels.gemm(projection, 0, steps * rows, 0, ceil_div(G, kernels.gemm_nr), workspace);
        }
        T* gates_t = window_gates.data() + (t - window_first) * rows * ld_gates;
        step.xproj_t = gates_t;
        step.h_prev = (t == 0 ? h_initial : outputs + (t - 1) * B * H) + row_begin * H;
        step.h_out = outputs + (t * B + row_begin) * H;
        if (cells_per_row) {
            step.c_prev = cells + (t == 0 ? row_begin : B + (t - 1) * B + row_begin) * Hp;
            step.c_out = cells + (B + t * B + row_begin) * Hp;
            step.gates_out = saved_gates + (t * B + row_begin) * ld_gates;
        }
        step.reverse_blocks = t % 2 == 1;
        step.descending_depth = step.reverse_blocks;
        if (recurrent_gemm) {  // gates_t += h_{t-1} W_hh^T; the tile then only updates the cells
            const GemmArgs<T> recurrent{step.h_prev, H, 1, packed.w_hh_gemm.data(), gates_t, ld_gates, rows, G, H,
                                        true};
            kernels.gemm(recurrent, 0, rows, 0, ceil_div(G, kernels.gemm_nr), workspace);
        }
        kernels.lstm_forward_step[packed.gates - 3](step, 0, Hp / kernels.vector_width);
    }
}

// A sequence step's recurrent product as a GEMM into the projected inputs, then the cell update
// as its own pass, in place of the fused tile. The tile's panel of one unit block, R x NG*VL, is
// read again by every MR-row tile; once it outgrows L1 (R = 256 at AVX2's 32 columns: 32 KB)
// AVX2's 3-row tile needs 11 bytes of weights from L2 per FMA, the GEMM's 6 x 16 tile 5.
// Measured on Zen 3 (AVX2), fused against GEMM: 10-13% slower at H = 256, 4% at H = 512;
// at H = 128 the GEMM is 2% slower on small, and on long from 11% faster (forward, 1 thread)
// to 5% slower (training step): no clear winner, so the fused tile stays.
// The GEMM columns of a thread must be its whole unit blocks: NG*VL a multiple of nr.
template <typename T>
bool recurrent_gemm_pays(int64_t gates, int64_t vector_width, int64_t nr, int64_t recurrent_depth) {
    if ((gates * vector_width) % nr) return false;
    switch (recurrent_product_choice.load()) {
        case RecurrentProduct::fused: return false;
        case RecurrentProduct::gemm: return true;
        default: return recurrent_depth * gates * vector_width * int64_t(sizeof(T)) > (int64_t(24) << 10);
    }
}

template <typename T>
void lstm_pack_weights(const Kernels<T>& kernels, int threads, int64_t D, int64_t H, const T* w_ih,
                       const T* w_hh, const T* bias, const LstmCellOptions<T>& cell, bool for_steps,
                       LstmPackedWeights<T>* packed) {
    const int64_t NG = cell.gates, VL = kernels.vector_width, Hp = round_up(H, VL), G = NG * Hp;
    const int64_t nr = kernels.gemm_nr, P = cell.projection, R = P ? P : H;  // R: features of h
    packed->kernels = &kernels;
    packed->projection = P;
    packed->cell_recurrence = cell.cell_recurrence;
    packed->gates = cell.gates;
    packed->coupled_forget = cell.coupled_forget;
    packed->input = D;
    packed->hidden = H;
    packed->hidden_padded = Hp;
    const bool recurrent_gemm = recurrent_gemm_pays<T>(NG, VL, nr, R);
    packed->w_ih_gemm = AlignedBuffer<T>(packed_b_size(D, G, nr));
    if (for_steps || !recurrent_gemm) packed->w_hh_fused = AlignedBuffer<T>(packed_b_size(R, G, NG * VL));
    if (recurrent_gemm) packed->w_hh_gemm = AlignedBuffer<T>(packed_b_size(R, G, nr));
    packed->bias = AlignedBuffer<T>(G);
    if (for_steps) packed->w_ih_fused = AlignedBuffer<T>(packed_b_size(D, G, NG * VL));
    if (P) packed->w_hr_gemm = AlignedBuffer<T>(packed_b_size(H, P, nr));

    // An empty buffer's data() is null: pack_gate_weights skips it.
    const ColumnTranspose<T> transpose{kernels.transpose_columns, VL};
    pack_gate_weights(threads, NG, H, D, R, VL, nr, w_ih, w_hh, packed->w_ih_gemm.data(), packed->w_hh_fused.data(),
                      packed->w_hh_gemm.data(), packed->w_ih_fused.data(), transpose);
    if (P) pack_b_panels(packed->w_hr_gemm.data(), cell.w_hr, 1, H, H, P, nr, 0, ceil_div(P, nr), transpose);
    interleave_gate_rows(packed->bias.data(), bias, NG, H, 1, VL);
    packed->identity_output = cell.identity_output;
    if (cell.peephole) {
        packed->peephole = AlignedBuffer<T>(3 * Hp);
        packed->peephole.fill_zero();
        copy_rows(packed->peephole.data(), Hp, cell.peephole, H, 3, H);
    }
}

// One inference step of a few rows: the weights are read once, where they lie. Packing them
// would read and write all of them into fresh memory, several times this step's own cost.
template <typename T>
bool unpacked_step_pays(const LstmDims& dims, const LstmCellOptions<T>& cell, const LstmSequenceOptions<T>& options,
                        const LstmTrainingRecord<T>* record) {
    return dims.steps == 1 && dims.batch <= 16 && !record && !options.lengths && !options.recurrent_mask &&
           cell.gates == 4 && !cell.peephole && !cell.identity_output && !cell.projection &&
           !cell.cell_recurrence;  // the standard cell only
}

template <typename T>
void lstm_forward_unpacked_step(const Kernels<T>& kernels, int threads, const LstmDims& dims, const T* x,
                                const T* w_ih, const T* w_hh, const T* bias, const T* h0, const T* c0, T* y, T* h_n,
                                T* c_n) {
    const int64_t B = dims.batch, D = dims.input, H = dims.hidden, VL = kernels.vector_width;
    AlignedBuffer<T> pre(B * 4 * H), zeros;
    for (int64_t b = 0; b < B; ++b) std::memcpy(pre.data() + b * 4 * H, bias, sizeof(T) * 4 * H);
    if (!h0 || !c0) {
        zeros = AlignedBuffer<T>(B * H);
        zeros.fill_zero();
    }
    const DotRowsArgs<T> input{pre.data(), 4 * H, x, D, B, w_ih, D};
    const DotRowsArgs<T> recurrent{pre.data(), 4 * H, h0 ? h0 : zeros.data(), H, B, w_hh, H};
    const LstmCellUpdate<T> update{B, H, pre.data(), c0 ? c0 : zeros.data(), c_n, y};
    // Threads take whole vectors of hidden units, all four gates of each: no barrier.
    threads = lstm_threads_for(threads, dims, ceil_div(H, VL));
    ThreadPool::instance().run(threads, [&](const Team& team) {
        int64_t begin, end;
        split_range(H, VL, team.size, team.index, &begin, &end);
        if (begin == end) return;
        for (int64_t gate = 0; gate < 4; ++gate) {
            kernels.dot_rows(input, gate * H + begin, gate * H + end);
            kernels.dot_rows(recurrent, gate * H + begin, gate * H + end);
        }
        kernels.lstm_cell_update(update, begin, end);
    });
    std::memcpy(h_n, y, sizeof(T) * B * H);
}

template <typename T>
void lstm_forward(const Kernels<T>& kernels, int threads, const LstmDims& dims, const LstmCellOptions<T>& cell,
                  const LstmSequenceOptions<T>& options, const T* x, const T* w_ih, const T* w_hh, const T* bias,
                  const T* h0, const T* c0, T* y, T* h_n, T* c_n, LstmTrainingRecord<T>* record) {
    if (unpacked_step_pays(dims, cell, options, record)) {
        lstm_forward_unpacked_step(kernels, threads, dims, x, w_ih, w_hh, bias, h0, c0, y, h_n, c_n);
        return;
    }
    LstmPackedWeights<T> packed;
    lstm_pack_weights(kernels, lstm_threads_for(threads, dims, ceil_div(dims.hidden, kernels.vector_width)), dims.input,
                      dims.hidden, w_ih, w_hh, bias, cell, false, &packed);
    lstm_forward_packed(packed, threads, dims, options, x, w_ih, w_hh, cell.w_hr, h0, c0, y, h_n, c_n, record);
}

template <typename T>
void lstm_forward_packed(const LstmPackedWeights<T>& packed, int threads, const LstmDims& dims,
                         const LstmSequenceOptions<T>& options, const T* x, const T* w_ih, const T* w_hh,
                         const T* w_hr, const T* h0, const T* c0, T* y, T* h_n, T* c_n,
                         LstmTrainingRecord<T>* record) {
    const Kernels<T>& kernels = *packed.kernels;
    const int64_t T_ = dims.steps, B = dims.batch, D = dims.input, H = dims.hidden;
    const int64_t NG = packed.gates, VL = kernels.vector_width, Hp = packed.hidden_padded, G = NG * Hp;
    // The gate arrays (pre-activations, then the record's activated gates) are the C of the
    // projection and recurrent GEMMs: their rows go a little further apart than G when G is a
    // multiple of 2 KB (spread_row_stride).
    const int64_t ld_gates = spread_row_stride(G, sizeof(T));
    const int64_t blocks = Hp / VL, nr = kernels.gemm_nr;
    const int64_t P = packed.projection, R = P ? P : H;  // R: features of h (and of y, h0, h_n, the mask)
    const SequenceRows rows = sequence_rows(T_, B, options.lengths);
    const int64_t N = rows.total;
    const bool dense = rows.dense();  // then also sorted: x, y and the states are used in place

    // The inputs in sorted row order, without the padding; the record keeps its own mask.
    SortedInputs<T> inputs(rows, x, D, h0, options.recurrent_mask, R, record != nullptr);
    const T *x_rows = inputs.x_rows, *h_initial = inputs.h_initial, *mask = inputs.mask;

    // The recurrence reads `recurrent` rows: h_0 then each row's h_t, times the mask when
    // there is one (then h_t itself goes to `outputs`, else the two are one array).
    AlignedBuffer<T> recurrent_buffer, output_buffer, c_in_place, projection_buffer, unprojected_buffer;
    T* recurrent_storage = nullptr;  // (B + N, R)
    if (record) {
        record->hidden_states = AlignedBuffer<T>((B + N) * R);
        recurrent_storage = record->hidden_states.data();
    } else if (mask) {
        recurrent_buffer = AlignedBuffer<T>((B + N) * R);
        recurrent_storage = recurrent_buffer.data();
    }
    T* outputs;  // (N, R)
    if (dense && (mask || !record)) {
        outputs = y;
    } else if (!mask && recurrent_storage) {
        outputs = recurrent_storage + B * R;
    } else {
        output_buffer = AlignedBuffer<T>(N * R);
        outputs = output_buffer.data();
    }
    const T* recurrent_initial = h_initial;
    T* recurrent_rows = outputs;
    if (recurrent_storage) {
        for (int64_t i = 0; i < B * R; ++i) recurrent_storage[i] = mask ? h_initial[i] * mask[i] : h_initial[i];
        recurrent_initial = recurrent_storage;
        recurrent_rows = recurrent_storage + B * R;
    }

    // Cells: when training, (B + N, Hp) rows like the hidden states; else one (B, Hp) array
    // updated in place, where a finished sequence's row simply stays as it was. When the
    // recurrence reads c_{t-1}, every tile reads all of it while the others write c_t: rows too.
    const bool cell_recurrence = packed.cell_recurrence;
    const bool cells_per_row = record || cell_recurrence;
    T* cells;
    if (record) {
        record->dims = dims;
        record->kernels = &kernels;
        record->hidden_padded = Hp;
        record->rows = rows;
        record->recurrent_mask = std::move(inputs.mask_buffer);
        record->identity_output = packed.identity_output;
        record->gates = packed.gates;
        record->coupled_forget = packed.coupled_forget;
        record->projection = P;
        record->cell_recurrence = cell_recurrence;
        if (packed.peephole.size()) {
            record->peephole = AlignedBuffer<T>(3 * Hp);
            std::memcpy(record->peephole.data(), packed.peephole.data(), sizeof(T) * 3 * Hp);
        }
        record->cell_states = AlignedBuffer<T>((B + N) * Hp);
        record->gate_stride = ld_gates;
        record->gate_values = AlignedBuffer<T>(N * ld_gates);
        record->x_packed = AlignedBuffer<T>(packed_b_size(N, D, nr));
        record->w_ih_packed = AlignedBuffer<T>(packed_b_size(NG * H, D, nr));
        record->w_hh_packed = AlignedBuffer<T>(packed_b_size(NG * H, R, nr));
        if (P) {
            record->projection_inputs = AlignedBuffer<T>(N * H);
            record->w_hr_packed = AlignedBuffer<T>(packed_b_size(P, H, nr));
        }
        cells = record->cell_states.data();
    } else {
        c_in_place = AlignedBuffer<T>((cells_per_row ? B + N : B) * Hp);
        cells = c_in_place.data();
    }
    const bool recurrent_gemm = packed.w_hh_gemm.size() > 0;
    const int64_t panels_per_block = NG * VL / nr;  // whole with recurrent_gemm (recurrent_gemm_pays)
    threads = lstm_threads_for(threads, dims, blocks);
    // Then h_t goes straight to y (when training, to the record's states) and c is one (B, Hp)
    // array updated in place (when training, the record's rows of every step): no lengths, mask,
    // projection or cell recurrence.
    const bool own_rows = rows_split_pays(threads, B, dense && !mask && !P && !cell_recurrence &&
                                                          outputs == (record ? recurrent_rows : y));

    // x W_ih^T, a window of steps at a time: an L2's worth of rows projected ahead instead of all N
    // (26 MB at the grid's medium shape, 105 MB at xlarge), so the steps read them from cache.
    // Inference projects into one reused window buffer (with own_rows, each thread into its own);
    // training straight into the window's rows of the saved-gates buffer, which each step then
    // overwrites in place with the activated gates (a tile reads its pre-activations before it
    // writes).
    const int64_t window_rows = projection_window_rows(B, D, G, sizeof(T));
    if (!record && !own_rows) projection_buffer = AlignedBuffer<T>(std::min(N, window_rows) * ld_gates);
    // With a projection the tile writes o * tanh(c_t) (the record's rows, or one step's), which
    // a GEMM then projects to h_t.
    T* unprojected = nullptr;
    if (P && record) {
        unprojected = record->projection_inputs.data();
    } else if (P) {
        unprojected_buffer = AlignedBuffer<T>(B * H);
        unprojected = unprojected_buffer.data();
    }
    // c_0, padded and sorted; the padding lanes stay zero through every step.
    for (int64_t i = 0; i < B * Hp; ++i) cells[i] = T(0);
    if (c0)
        for (int64_t j = 0; j < B; ++j) copy_rows(cells + j * Hp, Hp, c0 + rows.order[j] * H, H, 1, H);

    AlignedBuffer<T> a_workspace(threads * kernels.gemm_mc * kernels.gemm_kc);

    // A batch of one: each step's row tiles also project a later group of steps (of the
    // kernels' carried rows), for the thread's own panels, while their products stream W_hh
    // from L2 (LstmCarriedProjection). The window's GEMM then projects only its first group and
    // the rows after its last whole one. A step has a tile for each of its last row-tile calls
    // while a group's panels, 2 per unit block on AVX-512, fit in half a group of steps. With a
    // depth past one GEMM k block the GEMM's bits would differ. Only where a thread's share of
    // W_hh outgrows L1 (below): else the product does not wait and the tile only costs.
    const int64_t group = kernels.lstm_carried_rows;
    const bool carry = group > 0 && carried_projection_choice.load() && B == 1 && dense && !P && !recurrent_gemm &&
                       !cell_recurrence && (NG * VL) % nr == 0 && 2 * (NG * VL / nr) <= group &&
                       D <= kernels.gemm_kc;

    ThreadPool::instance().run(threads, [&](const Team& team) {
        T* workspace = a_workspace.data() + team.index * kernels.gemm_mc * kernels.gemm_kc;
        if (record) {
            pack_backward_operands(team, nr, x_rows, N, D, w_ih, w_hh, NG * H, R, record->x_packed.data(),
                                   record->w_ih_packed.data(), record->w_hh_packed.data());
            if (P) {
                int64_t begin, end;
                split_range(ceil_div(H, nr), 1, team.size, team.index, &begin, &end);
                pack_b_panels(record->w_hr_packed.data(), w_hr, H, 1, P, H, nr, begin, end);
            }
        }
        if (own_rows) {
            int64_t row_begin, row_end;
            split_range(B, 1, team.size, team.index, &row_begin, &row_end);
            forward_own_rows(packed, dims, row_begin, row_end, x_rows, h_initial, outputs, cells, ld_gates,
                             window_rows, workspace, record ? record->gate_values.data() : nullptr);
            return;
        }

        int64_t block_begin, block_end, panel_begin = 0, panel_end = 0;
        split_range(blocks, 1, team.size, team.index, &block_begin, &block_end);
        if (P) split_range(ceil_div(P, nr), 1, team.size, team.index, &panel_begin, &panel_end);
        // A thread's unit blocks are whole GEMM panels of the gates when NG*VL is a multiple of nr:
        // then it projects its own columns of each window.
        const PanelRange block_panels{block_begin * NG * VL / nr, block_end * NG * VL / nr};
        const PanelRange* own_panels = (NG * VL) % nr == 0 ? &block_panels : nullptr;
        int64_t window_first_row = 0, window_last_step = 0;  // the projected window: steps before the latter
        T* xproj = nullptr;                                   // its first row
        int64_t carried_groups = 0;  // whole groups of the window; those after the first are carried
        LstmCarriedProjection<T> carried{};
        // Measured on Zen 4 (32 KB L1), tile on / off, 1 thread: W_hh shares of 49-144 KB (H =
        // 56-96) 0.92-0.95, 196 KB 0.98; 36 KB (H = 48) 1.00-1.03, 16 KB 1.03; the tiny shape at 2
        // threads (32 KB a thread) 1.01-1.03.
        const int64_t w_hh_share = (block_end - block_begin) * R * NG * VL * int64_t(sizeof(T));
        const bool thread_carries = carry && 4 * w_hh_share > 5 * l1_data_cache_bytes();
        int64_t tiles_carried = 0;
        for (int64_t t = 0; t < T_ && rows.count[t] > 0; ++t) {
            const int64_t at = rows.offset[t], previous = t == 0 ? 0 : rows.offset[t - 1], count = rows.count[t];
            if (t == window_last_step) {
                xproj = record ? record->gate_values.data() + at * ld_gates : projection_buffer.data();
                if (thread_carries) {
                    window_last_step = window_end(rows, t, window_rows);
                    const int64_t steps = window_last_step - t;  // = rows: a batch of one
                    carried_groups = steps / group >= 2 ? steps / group : 0;
                    const GemmArgs<T> projection{x_rows + at * D, D, 1, packed.w_ih_gemm.data(), xproj, ld_gates,
                                                 steps, G, D, false};
                    const int64_t head = carried_groups ? group : steps, tail = carried_groups * group;
                    kernels.gemm(projection, 0, head, own_panels->begin, own_panels->end, workspace);
                    if (carried_groups && tail < steps)
                        kernels.gemm(projection, tail, steps, own_panels->begin, own_panels->end, workspace);
                } else {
                    window_last_step = project_window(kernels, team, rows, t, window_rows, x_rows, D,
                                                      packed.w_ih_gemm.data(), xproj, G, ld_gates, workspace,
                                                      own_panels);
                }
                window_first_row = at;
            }
            const LstmCarriedProjection<T>* step_carries = nullptr;
            const int64_t in_window = at - window_first_row;
            if (thread_carries && in_window / group + 1 < carried_groups) {
                const int64_t next_group = in_window / group + 1, slot = in_window % group;
                const int64_t panels = own_panels->end - own_panels->begin;
                carried = LstmCarriedProjection<T>{x_rows + (window_first_row + next_group * group) * D, D,
                                                   packed.w_ih_gemm.data(), nr,
                                                   xproj + next_group * group * ld_gates, ld_gates,
                                                   own_panels->begin, slot * panels / group,
                                                   (slot + 1) * panels / group};
                if (carried.tile_end > carried.tile_begin) step_carries = &carried;
                tiles_carried += carried.tile_end - carried.tile_begin;
            }
            LstmForwardStep<T> step{};
            step.batch = count;
            step.hidden = H;
            step.hidden_padded = Hp;
            step.ld_gates = ld_gates;
            step.xproj_t = xproj + (at - window_first_row) * ld_gates;
            step.bias = packed.bias.data();
            step.w_hh_packed = recurrent_gemm ? nullptr : packed.w_hh_fused.data();
            step.h_prev = t == 0 ? recurrent_initial : recurrent_rows + previous * R;
            step.ld_h_prev = R;
            step.recurrent_depth = R;
            if (cell_recurrence) {  // c_{t-1} in place of h_{t-1} (R = H: no projection then)
                step.h_prev = cells + (t == 0 ? 0 : B + previous) * Hp;
                step.ld_h_prev = Hp;
            }
            // Without a projection the tile writes h_t (and h_t * mask) itself.
            T* step_unprojected = P ? unprojected + (record ? at * H : 0) : nullptr;
            step.h_out = P ? step_unprojected : outputs + at * H;
            step.ld_h_out = H;
            step.recurrent_mask = P ? nullptr : mask;
            step.h_masked_out = mask && !P ? recurrent_rows + at * H : nullptr;
            if (cells_per_row) {
                step.c_prev = cells + (t == 0 ? 0 : B + previous) * Hp;
                step.c_out = cells + (B + at) * Hp;
                step.gates_out = record ? record->gate_values.data() + at * ld_gates : nullptr;
            } else {
                step.c_prev = cells;
                step.c_out = cells;
                step.gates_out = nullptr;
            }
            step.peephole = packed.peephole.size() ? packed.peephole.data() : nullptr;
            step.identity_output = packed.identity_output;
            step.coupled_forget = packed.coupled_forget;
            step.reverse_blocks = t % 2 == 1;
            step.descending_depth = step.reverse_blocks;
            step.carried = step_carries;
            if (recurrent_gemm && block_begin < block_end) {
                // This thread's columns of x_t W_ih^T += h_{t-1} W_hh^T: its own unit blocks only.
                const GemmArgs<T> recurrent{step.h_prev, step.ld_h_prev, 1, packed.w_hh_gemm.data(),
                                            xproj + (at - window_first_row) * ld_gates, ld_gates, count, G, R,
                                            true};
                kernels.gemm(recurrent, 0, count, block_begin * panels_per_block,
                             block_end * panels_per_block, workspace);
            }
            if (block_begin < block_end) kernels.lstm_forward_step[NG - 3](step, block_begin, block_end);
            team.sync();
            if (!P) continue;
            // h_t = (o * tanh(c_t)) W_hr^T, output columns split across threads.
            if (panel_begin < panel_end) {
                const GemmArgs<T> project{step_unprojected, H, 1, packed.w_hr_gemm.data(), outputs + at * R, R,
                                          count, P, H, false};
                kernels.gemm(project, 0, count, panel_begin, panel_end, workspace);
                if (mask) {
                    const int64_t column_end = std::min(panel_end * nr, P);
                    for (int64_t j = 0; j < count; ++j)
                        for (int64_t u = panel_begin * nr; u < column_end; ++u)
                            recurrent_rows[(at + j) * R + u] = outputs[(at + j) * R + u] * mask[j * R + u];
                }
            }
            team.sync();
        }
        if (tiles_carried) carried_tiles_total.fetch_add(tiles_carried, std::memory_order_relaxed);
    });

    if (outputs != y) {
        if (dense) std::memcpy(y, outputs, sizeof(T) * N * R);
        else scatter_sequence_rows(rows, y, outputs, R);
    }
    // Each sequence's state after its last step (h_0, c_0 for an empty one).
    for (int64_t j = 0; j < B; ++j) {
        const int64_t length = rows.length[j], caller_row = rows.order[j];
        const int64_t last = length == 0 ? -1 : rows.row(length - 1, j);
        const T* h_last = last < 0 ? h_initial + j * R : outputs + last * R;
        const T* c_last = cells + (cells_per_row && last >= 0 ? B + last : j) * Hp;
        std::memcpy(h_n + caller_row * R, h_last, sizeof(T) * R);
        std::memcpy(c_n + caller_row * H, c_last, sizeof(T) * H);
    }
}

template <typename T>
void lstm_step(const LstmPackedWeights<T>& packed, int threads, int64_t B, const T* x_t, const T* h, const T* c,
               T* h_out, T* c_out, bool reverse_blocks) {
    const Kernels<T>& kernels = *packed.kernels;
    const int64_t D = packed.input, H = packed.hidden, Hp = packed.hidden_padded, blocks = Hp / kernels.vector_width;
    // The kernel reads and writes c with whole vectors: give it padded rows.
    AlignedBuffer<T> cells(2 * B * Hp);
    cells.fill_zero();
    copy_rows(cells.data(), Hp, c, H, B, H);

    LstmForwardStep<T> step = fused_step(packed, B);
    step.ld_gates = packed.gates * Hp;  // no gate arrays here: x_t's product is in the tile
    step.x_t = x_t;
    step.ld_x = D;
    step.input = D;
    step.w_ih_packed = packed.w_ih_fused.data();
    step.h_prev = h;
    step.c_prev = cells.data();
    step.h_out = h_out;
    step.c_out = cells.data() + B * Hp;
    step.reverse_blocks = reverse_blocks;

    const LstmDims dims{1, B, D, H};
    threads = lstm_threads_for(threads, dims, blocks);
    ThreadPool::instance().run(threads, [&](const Team& team) {
        int64_t begin, end;
        split_range(blocks, 1, team.size, team.index, &begin, &end);
        if (begin < end) kernels.lstm_forward_step[packed.gates - 3](step, begin, end);
    });
    copy_rows(c_out, H, cells.data() + B * Hp, Hp, B, H);
}

#define FAST_LSTM_INSTANTIATE(T)                                                                                  \
    template void lstm_pack_weights<T>(const Kernels<T>&, int, int64_t, int64_t, const T*, const T*, const T*,   \
                                       const LstmCellOptions<T>&, bool, LstmPackedWeights<T>*);                 \
    template void lstm_forward<T>(const Kernels<T>&, int, const LstmDims&, const LstmCellOptions<T>&,            \
                                  const LstmSequenceOptions<T>&,                                                 \
                                  const T*, const T*, const T*, const T*, const T*, const T*, T*, T*, T*,        \
                                  LstmTrainingRecord<T>*);                                                       \
    template void lstm_forward_packed<T>(const LstmPackedWeights<T>&, int, const LstmDims&,                      \
                                         const LstmSequenceOptions<T>&, const T*, const T*, const T*, const T*,  \
                                         const T*, const T*, T*, T*, T*, LstmTrainingRecord<T>*);                \
    template void lstm_step<T>(const LstmPackedWeights<T>&, int, int64_t, const T*, const T*, const T*, T*, T*, bool);
FAST_LSTM_INSTANTIATE(float)
FAST_LSTM_INSTANTIATE(double)
#undef FAST_LSTM_INSTANTIATE

}  // namespace fast_lstm
