#include "sequence_rows.hpp"

#include <algorithm>
#include <cstring>
#include <numeric>

namespace fast_lstm {

SequenceRows sequence_rows(int64_t steps, int64_t batch, const int64_t* lengths) {
    SequenceRows rows;
    rows.steps = steps;
    rows.batch = batch;
    rows.order.resize(batch);
    std::iota(rows.order.begin(), rows.order.end(), int64_t(0));
    rows.length.assign(batch, steps);
    if (lengths) {
        std::stable_sort(rows.order.begin(), rows.order.end(),
                         [&](int64_t a, int64_t b) { return lengths[a] > lengths[b]; });
        for (int64_t j = 0; j < batch; ++j) {
            rows.length[j] = lengths[rows.order[j]];
            rows.sorted = rows.sorted && rows.order[j] == j;
        }
    }
    rows.count.assign(steps, 0);
    rows.offset.assign(steps, 0);
    int64_t running = batch;  // sequences longer than t, shrinking as t grows
    for (int64_t t = 0; t < steps; ++t) {
        while (running > 0 && rows.length[running - 1] <= t) --running;
        rows.count[t] = running;
        rows.offset[t] = rows.total;
        rows.total += running;
    }
    return rows;
}

int64_t window_end(const SequenceRows& rows, int64_t first_step, int64_t max_rows) {
    int64_t step = first_step, window = 0;
    while (step < rows.steps && rows.count[step] > 0 && (step == first_step || window + rows.count[step] <= max_rows))
        window += rows.count[step++];
    return step;
}

template <typename T>
void gather_sequence_rows(const SequenceRows& rows, T* dst, const T* src, int64_t width) {
    for (int64_t t = 0; t < rows.steps; ++t)
        for (int64_t j = 0; j < rows.count[t]; ++j)
            std::memcpy(dst + rows.row(t, j) * width, src + (t * rows.batch + rows.order[j]) * width,
                        sizeof(T) * width);
}

template <typename T>
void scatter_sequence_rows(const SequenceRows& rows, T* dst, const T* src, int64_t width) {
    for (int64_t t = 0; t < rows.steps; ++t) {
        for (int64_t j = 0; j < rows.count[t]; ++j)
            std::memcpy(dst + (t * rows.batch + rows.order[j]) * width, src + rows.row(t, j) * width,
                        sizeof(T) * width);
        for (int64_t j = rows.count[t]; j < rows.batch; ++j)
            std::memset(dst + (t * rows.batch + rows.order[j]) * width, 0, sizeof(T) * width);
    }
}

template <typename T>
void gather_previous_states(const SequenceRows& rows, T* dst, const T* states, int64_t width) {
    for (int64_t t = 0; t < rows.steps && rows.count[t] > 0; ++t) {
        const int64_t source = t == 0 ? 0 : rows.batch + rows.offset[t - 1];
        std::memcpy(dst + rows.offset[t] * width, states + source * width, sizeof(T) * rows.count[t] * width);
    }
}

template <typename T>
void gather_batch(const SequenceRows& rows, T* dst, const T* src, int64_t width) {
    for (int64_t j = 0; j < rows.batch; ++j)
        std::memcpy(dst + j * width, src + rows.order[j] * width, sizeof(T) * width);
}

template <typename T>
void scatter_batch(const SequenceRows& rows, T* dst, const T* src, int64_t width) {
    for (int64_t j = 0; j < rows.batch; ++j)
        std::memcpy(dst + rows.order[j] * width, src + j * width, sizeof(T) * width);
}

#define FAST_LSTM_INSTANTIATE(T)                                                              \
    template void gather_sequence_rows<T>(const SequenceRows&, T*, const T*, int64_t);        \
    template void scatter_sequence_rows<T>(const SequenceRows&, T*, const T*, int64_t);       \
    template void gather_previous_states<T>(const SequenceRows&, T*, const T*, int64_t);      \
    template void gather_batch<T>(const SequenceRows&, T*, const T*, int64_t);                \
    template void scatter_batch<T>(const SequenceRows&, T*, const T*, int64_t);
FAST_LSTM_INSTANTIATE(float)
FAST_LSTM_INSTANTIATE(double)
#undef FAST_LSTM_INSTANTIATE

}  // namespace fast_lstm
