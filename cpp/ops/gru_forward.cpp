// GRU forward driver, the LSTM's design (lstm_forward.cpp): one GEMM for the input projection
// of all steps, then per step the fused recurrent product + cell update, hidden-unit blocks
// split across threads with one barrier per step.
#include <algorithm>
#include <cstring>
#include <functional>

#include "../runtime/thread_pool.hpp"
#include "gru.hpp"
#include "packing.hpp"
#include "sequence_inputs.hpp"

namespace fast_lstm {

template <typename T>
void gru_forward(const Kernels<T>& kernels, int threads, const LstmDims& dims, const LstmSequenceOptions<T>& options,
                 const T* x, const T* w_ih, const T* w_hh, const T* b_ih, const T* b_hh, const T* h0, T* y, T* h_n,
                 GruTrainingRecord<T>* record) {
    constexpr int64_t NG = 3;
    const int64_t T_ = dims.steps, B = dims.batch, D = dims.input, H = dims.hidden;
    const int64_t VL = kernels.vector_width, Hp = round_up(H, VL), G = NG * Hp, blocks = Hp / VL;
    const int64_t nr = kernels.gemm_nr;
    const SequenceRows rows = sequence_rows(T_, B, options.lengths);
    const int64_t N = rows.total;
    const bool dense = rows.dense();

    // The weights in the kernels' layouts (w_ih for the all-steps GEMM, w_hh for the fused tile).
    AlignedBuffer<T> w_ih_gemm(packed_b_size(D, G, nr)), w_hh_fused(packed_b_size(H, G, NG * VL));
    AlignedBuffer<T> bias_x(G), bias_h(G);
    pack_gate_weights(lstm_threads_for(threads, dims, blocks), NG, H, D, H, VL, nr, w_ih, w_hh, w_ih_gemm.data(),
                      w_hh_fused.data(), static_cast<T*>(nullptr), static_cast<T*>(nullptr),
                      ColumnTranspose<T>{kernels.transpose_columns, VL});
    interleave_gate_rows(bias_x.data(), b_ih, NG, H, 1, VL);
    interleave_gate_rows(bias_h.data(), b_hh, NG, H, 1, VL);

    // The inputs in sorted row order, without the padding; the record keeps its own mask.
    SortedInputs<T> inputs(rows, x, D, h0, options.recurrent_mask, H, record != nullptr);
    const T *x_rows = inputs.x_rows, *h_initial = inputs.h_initial, *mask = inputs.mask;

    // outputs (N, H): each row's h_t, which the next step's update reads as h_{t-1}. When
    // training they follow h_0 in the record's (B + N, H) states.
    AlignedBuffer<T> output_buffer, recurrent_buffer, projection_buffer;
    T* outputs;
    if (record) {
        record->hidden_states = AlignedBuffer<T>((B + N) * H);
        std::memcpy(record->hidden_states.data(), h_initial, sizeof(T) * B * H);
        outputs = record->hidden_states.data() + B * H;
    } else if (dense) {
        outputs = y;
    } else {
        output_buffer = AlignedBuffer<T>(N * H);
        outputs = output_buffer.data();
    }
    // With a mask the recurrence reads its own rows, h * mask.
    const T* recurrent_initial = h_initial;
    T* recurrent_rows = outputs;
    if (mask) {
        T* storage;
        if (record) {
            record->recurrent_inputs = AlignedBuffer<T>((B + N) * H);
            storage = record->recurrent_inputs.data();
        } else {
            recurrent_buffer = AlignedBuffer<T>((B + N) * H);
            storage = recurrent_buffer.data();
        }
        for (int64_t i = 0; i < B * H; ++i) storage[i] = h_initial[i] * mask[i];
        recurrent_initial = storage;
        recurrent_rows = storage + B * H;
    }

    if (record) {
        record->dims = dims;
        record->kernels = &kernels;
        record->hidden_padded = Hp;
        record->rows = rows;
        record->recurrent_mask = std::move(inputs.mask_buffer);
        record->gate_values = AlignedBuffer<T>(N * G);
        record->hn_values = AlignedBuffer<T>(N * Hp);
        record->x_packed = AlignedBuffer<T>(packed_b_size(N, D, nr));
        record->w_ih_packed = AlignedBuffer<T>(packed_b_size(NG * H, D, nr));
        record->w_hh_packed = AlignedBuffer<T>(packed_b_size(NG * H, H, nr));
    }
    // x W_ih^T, a window of steps at a time: all rows when training (each step overwrites its rows
    // in place with the activated gates), an L2's worth ahead in inference.
    const int64_t window_rows = record ? N : projection_window_rows(B, D, G, sizeof(T));
    if (!record) projection_buffer = AlignedBuffer<T>(std::min(N, window_rows) * G);
    T* xproj = record ? record->gate_values.data() : projection_buffer.data();

    threads = lstm_threads_for(threads, dims, blocks);
    AlignedBuffer<T> a_workspace(threads * kernels.gemm_mc * kernels.gemm_kc);

    ThreadPool::instance().run(threads, [&](const Team& team) {
        T* workspace = a_workspace.data() + team.index * kernels.gemm_mc * kernels.gemm_kc;
        if (record)
            pack_backward_operands(team, nr, x_rows, N, D, w_ih, w_hh, NG * H, H, record->x_packed.data(),
                                   record->w_ih_packed.data(), record->w_hh_packed.data());

        int64_t block_begin, block_end;
        split_range(blocks, 1, team.size, team.index, &block_begin, &block_end);
        int64_t window_first_row = 0, window_last_step = 0;  // the projected window: steps before the latter
        for (int64_t t = 0; t < T_ && rows.count[t] > 0; ++t) {
            const int64_t at = rows.offset[t], previous = t == 0 ? 0 : rows.offset[t - 1];
            if (t == window_last_step) {
                window_last_step = project_window(kernels, team, rows, t, window_rows, x_rows, D, w_ih_gemm.data(),
                                                  xproj, G, G, workspace);
                window_first_row = at;
            }
            GruForwardStep<T> step{};
            step.batch = rows.count[t];
            step.hidden = H;
            step.hidden_padded = Hp;
            step.xproj_t = xproj + (at - window_first_row) * G;
            step.bias_x = bias_x.data();
            step.bias_h = bias_h.data();
            step.h_prev = t == 0 ? recurrent_initial : recurrent_rows + previous * H;
            step.ld_h_prev = H;
            step.state_prev = t == 0 ? h_initial : outputs + previous * H;
            step.ld_state_prev = H;
            step.w_hh_packed = w_hh_fused.data();
            step.h_out = outputs + at * H;
            step.ld_h_out = H;
            step.recurrent_mask = mask;
            step.h_masked_out = mask ? recurrent_rows + at * H : nullptr;
            step.gates_out = record ? xproj + at * G : nullptr;  // training: one window from row 0
            step.hn_out = record ? record->hn_values.data() + at * Hp : nullptr;
            step.reverse_blocks = t % 2 == 1;
            if (block_begin < block_end) kernels.gru_forward_step(step, block_begin, block_end);
            team.sync();
        }
    });

    if (outputs != y) {
        if (dense) std::memcpy(y, outputs, sizeof(T) * N * H);
        else scatter_sequence_rows(rows, y, outputs, H);
    }
    for (int64_t j = 0; j < B; ++j) {  // each sequence's state after its last step
        const int64_t length = rows.length[j];
        const T* h_last = length == 0 ? h_initial + j * H : outputs + rows.row(length - 1, j) * H;
        std::memcpy(h_n + rows.order[j] * H, h_last, sizeof(T) * H);
    }
}

#define FAST_LSTM_INSTANTIATE(T)                                                                                     \
    template void gru_forward<T>(const Kernels<T>&, int, const LstmDims&, const LstmSequenceOptions<T>&, const T*, \
                                 const T*, const T*, const T*, const T*, const T*, T*, T*, GruTrainingRecord<T>*);
FAST_LSTM_INSTANTIATE(float)
FAST_LSTM_INSTANTIATE(double)
#undef FAST_LSTM_INSTANTIATE

}  // namespace fast_lstm
