// Forward driver: one GEMM for the input projection of all steps, then per step the
// fused recurrent GEMM + cell update, hidden-unit blocks split across threads with
// one barrier per step.
#include <cstring>
#include <functional>

#include "../runtime/thread_pool.hpp"
#include "lstm.hpp"
#include "packing.hpp"

namespace fast_lstm {

int lstm_threads_for(int requested, const LstmDims& dims, int64_t hidden_blocks) {
    // Below ~0.2 MFLOP per step the per-step barrier costs more than the second core gives.
    const int64_t step_flops = 2 * dims.batch * 4 * dims.hidden * (dims.hidden + dims.input);
    if (step_flops < 200000) return 1;
    int threads = requested;
    if (threads > hidden_blocks) threads = static_cast<int>(hidden_blocks);
    return threads < 1 ? 1 : threads;
}

template <typename T>
void lstm_pack_weights(const Kernels<T>& kernels, int64_t D, int64_t H, const T* w_ih, const T* w_hh,
                       const T* bias, bool for_steps, LstmPackedWeights<T>* packed) {
    const int64_t VL = kernels.vector_width, Hp = round_up(H, VL), G = 4 * Hp, blocks = Hp / VL;
    const int64_t nr = kernels.gemm_nr;
    packed->kernels = &kernels;
    packed->input = D;
    packed->hidden = H;
    packed->hidden_padded = Hp;
    packed->w_ih_gemm = AlignedBuffer<T>(packed_b_size(D, G, nr));
    packed->w_hh_fused = AlignedBuffer<T>(packed_b_size(H, G, 4 * VL));
    packed->bias = AlignedBuffer<T>(G);
    AlignedBuffer<T> interleaved(G * (D > H ? D : H));
    interleave_gate_rows(interleaved.data(), w_ih, H, D, VL);
    pack_b_panels(packed->w_ih_gemm.data(), interleaved.data(), 1, D, D, G, nr, 0, ceil_div(G, nr));
    if (for_steps) {
        packed->w_ih_fused = AlignedBuffer<T>(packed_b_size(D, G, 4 * VL));
        pack_b_panels(packed->w_ih_fused.data(), interleaved.data(), 1, D, D, G, 4 * VL, 0, blocks);
    }
    interleave_gate_rows(interleaved.data(), w_hh, H, H, VL);
    pack_b_panels(packed->w_hh_fused.data(), interleaved.data(), 1, H, H, G, 4 * VL, 0, blocks);
    interleave_gate_rows(packed->bias.data(), bias, H, 1, VL);
}

template <typename T>
void lstm_forward(const Kernels<T>& kernels, int threads, const LstmDims& dims, const T* x, const T* w_ih,
                  const T* w_hh, const T* bias, const T* h0, const T* c0, T* y, T* h_n, T* c_n,
                  LstmTrainingRecord<T>* record) {
    LstmPackedWeights<T> packed;
    lstm_pack_weights(kernels, dims.input, dims.hidden, w_ih, w_hh, bias, false, &packed);
    lstm_forward_packed(packed, threads, dims, x, w_ih, w_hh, h0, c0, y, h_n, c_n, record);
}

template <typename T>
void lstm_forward_packed(const LstmPackedWeights<T>& packed, int threads, const LstmDims& dims, const T* x,
                         const T* w_ih, const T* w_hh, const T* h0, const T* c0, T* y, T* h_n, T* c_n,
                         LstmTrainingRecord<T>* record) {
    const Kernels<T>& kernels = *packed.kernels;
    const int64_t T_ = dims.steps, B = dims.batch, D = dims.input, H = dims.hidden;
    const int64_t VL = kernels.vector_width, Hp = packed.hidden_padded, G = 4 * Hp, blocks = Hp / VL;
    const int64_t rows = T_ * B, nr = kernels.gemm_nr;

    AlignedBuffer<T> zero_h, c_ping_pong, projection_buffer;
    const T* h_initial = h0;
    if (!h_initial) {
        zero_h = AlignedBuffer<T>(B * H);
        zero_h.fill_zero();
        h_initial = zero_h.data();
    }
    T* cells;  // (T+1, B, Hp) when training, else two (B, Hp) buffers used in turn
    if (record) {
        record->dims = dims;
        record->kernels = &kernels;
        record->hidden_padded = Hp;
        record->hidden_states = AlignedBuffer<T>((T_ + 1) * B * H);
        record->cell_states = AlignedBuffer<T>((T_ + 1) * B * Hp);
        record->gates = AlignedBuffer<T>(T_ * B * G);
        record->x_packed = AlignedBuffer<T>(packed_b_size(rows, D, nr));
        record->w_ih_packed = AlignedBuffer<T>(packed_b_size(4 * H, D, nr));
        record->w_hh_packed = AlignedBuffer<T>(packed_b_size(4 * H, H, nr));
        std::memcpy(record->hidden_states.data(), h_initial, sizeof(T) * B * H);
        cells = record->cell_states.data();
    } else {
        c_ping_pong = AlignedBuffer<T>(3 * B * Hp);
        cells = c_ping_pong.data();
        projection_buffer = AlignedBuffer<T>(rows * G);
    }
    // x W_ih^T for all steps. When training it goes straight into the saved-gates buffer,
    // which each step then overwrites in place with the activated gates (a tile reads its
    // pre-activations before it writes): one (T, B, 4Hp) buffer instead of two.
    T* xproj = record ? record->gates.data() : projection_buffer.data();
    // c_0, padded; the padding lanes stay zero through every step.
    for (int64_t i = 0; i < B * Hp; ++i) cells[i] = T(0);
    if (c0) copy_rows(cells, Hp, c0, H, B, H);

    threads = lstm_threads_for(threads, dims, blocks);
    AlignedBuffer<T> a_workspace(threads * kernels.gemm_mc * kernels.gemm_kc);

    ThreadPool::instance().run(threads, [&](const Team& team) {
        T* workspace = a_workspace.data() + team.index * kernels.gemm_mc * kernels.gemm_kc;
        int64_t begin, end;
        split_range(rows, kernels.gemm_mr, team.size, team.index, &begin, &end);
        if (begin < end) {
            const GemmArgs<T> projection{x, D, 1, packed.w_ih_gemm.data(), xproj, G, rows, G, D, false};
            kernels.gemm(projection, begin, end, 0, ceil_div(G, nr), workspace);
        }
        if (record) {  // the backward operands, packed while the data is at hand
            split_range(ceil_div(D, nr), 1, team.size, team.index, &begin, &end);
            pack_b_panels(record->x_packed.data(), x, D, 1, rows, D, nr, begin, end);
            pack_b_panels(record->w_ih_packed.data(), w_ih, D, 1, 4 * H, D, nr, begin, end);
            split_range(ceil_div(H, nr), 1, team.size, team.index, &begin, &end);
            pack_b_panels(record->w_hh_packed.data(), w_hh, H, 1, 4 * H, H, nr, begin, end);
        }
        team.sync();

        int64_t block_begin, block_end;
        split_range(blocks, 1, team.size, team.index, &block_begin, &block_end);
        for (int64_t t = 0; t < T_; ++t) {
            LstmForwardStep<T> step{};
            step.batch = B;
            step.hidden = H;
            step.hidden_padded = Hp;
            step.xproj_t = xproj + t * B * G;
            step.bias = packed.bias.data();
            step.w_hh_packed = packed.w_hh_fused.data();
            if (record) {
                step.h_prev = record->hidden_states.data() + t * B * H;
                step.h_out = record->hidden_states.data() + (t + 1) * B * H;
                step.c_prev = cells + t * B * Hp;
                step.c_out = cells + (t + 1) * B * Hp;
                step.gates_out = record->gates.data() + t * B * G;
            } else {
                step.h_prev = t == 0 ? h_initial : y + (t - 1) * B * H;
                step.h_out = y + t * B * H;
                // slot 0 holds c_0; slots 1 and 2 take turns as c_t.
                step.c_prev = cells + (t == 0 ? 0 : 1 + (t - 1) % 2) * B * Hp;
                step.c_out = cells + (1 + t % 2) * B * Hp;
                step.gates_out = nullptr;
            }
            step.ld_h_prev = H;
            step.ld_h_out = H;
            if (block_begin < block_end) kernels.lstm_forward_step(step, block_begin, block_end);
            team.sync();
        }
    });

    const T* h_last;
    const T* c_last;
    if (record) {
        std::memcpy(y, record->hidden_states.data() + B * H, sizeof(T) * T_ * B * H);
        h_last = record->hidden_states.data() + T_ * B * H;
        c_last = cells + T_ * B * Hp;
    } else {
        h_last = y + (T_ - 1) * B * H;
        c_last = cells + (1 + (T_ - 1) % 2) * B * Hp;
    }
    std::memcpy(h_n, h_last, sizeof(T) * B * H);
    copy_rows(c_n, H, c_last, Hp, B, H);
}

template <typename T>
void lstm_step(const LstmPackedWeights<T>& packed, int threads, int64_t B, const T* x_t, const T* h, const T* c,
               T* h_out, T* c_out) {
    const Kernels<T>& kernels = *packed.kernels;
    const int64_t D = packed.input, H = packed.hidden, Hp = packed.hidden_padded, blocks = Hp / kernels.vector_width;
    // The kernel reads and writes c with whole vectors: give it padded rows.
    AlignedBuffer<T> cells(2 * B * Hp);
    cells.fill_zero();
    copy_rows(cells.data(), Hp, c, H, B, H);

    LstmForwardStep<T> step{};
    step.batch = B;
    step.hidden = H;
    step.hidden_padded = Hp;
    step.x_t = x_t;
    step.ld_x = D;
    step.input = D;
    step.w_ih_packed = packed.w_ih_fused.data();
    step.bias = packed.bias.data();
    step.h_prev = h;
    step.ld_h_prev = H;
    step.c_prev = cells.data();
    step.w_hh_packed = packed.w_hh_fused.data();
    step.h_out = h_out;
    step.ld_h_out = H;
    step.c_out = cells.data() + B * Hp;

    const LstmDims dims{1, B, D, H};
    threads = lstm_threads_for(threads, dims, blocks);
    ThreadPool::instance().run(threads, [&](const Team& team) {
        int64_t begin, end;
        split_range(blocks, 1, team.size, team.index, &begin, &end);
        if (begin < end) kernels.lstm_forward_step(step, begin, end);
    });
    copy_rows(c_out, H, cells.data() + B * Hp, Hp, B, H);
}

#define FAST_LSTM_INSTANTIATE(T)                                                                                  \
    template void lstm_pack_weights<T>(const Kernels<T>&, int64_t, int64_t, const T*, const T*, const T*, bool,  \
                                       LstmPackedWeights<T>*);                                                  \
    template void lstm_forward<T>(const Kernels<T>&, int, const LstmDims&, const T*, const T*, const T*,         \
                                  const T*, const T*, const T*, T*, T*, T*, LstmTrainingRecord<T>*);             \
    template void lstm_forward_packed<T>(const LstmPackedWeights<T>&, int, const LstmDims&, const T*, const T*, \
                                         const T*, const T*, const T*, T*, T*, T*, LstmTrainingRecord<T>*);      \
    template void lstm_step<T>(const LstmPackedWeights<T>&, int, int64_t, const T*, const T*, const T*, T*, T*);
FAST_LSTM_INSTANTIATE(float)
FAST_LSTM_INSTANTIATE(double)
#undef FAST_LSTM_INSTANTIATE

}  // namespace fast_lstm
