#include "packing.hpp"

#include <cstring>

namespace fast_lstm {

template <typename T>
void interleave_gate_rows(T* dst, const T* src, int64_t gates, int64_t hidden, int64_t cols, int64_t vector_width) {
    const int64_t blocks = ceil_div(hidden, vector_width);
    for (int64_t block = 0; block < blocks; ++block)
        for (int64_t gate = 0; gate < gates; ++gate)
            for (int64_t lane = 0; lane < vector_width; ++lane) {
                const int64_t unit = block * vector_width + lane;
                T* row = dst + ((block * gates + gate) * vector_width + lane) * cols;
                if (unit < hidden) std::memcpy(row, src + (gate * hidden + unit) * cols, sizeof(T) * cols);
                else std::memset(row, 0, sizeof(T) * cols);
            }
}

template <typename T>
void pack_b_panels(T* dst, const T* b, int64_t row_stride, int64_t col_stride, int64_t k, int64_t n, int64_t nr,
                   int64_t panel_begin, int64_t panel_end) {
    for (int64_t panel = panel_begin; panel < panel_end; ++panel) {
        T* out = dst + panel * k * nr;
        const int64_t n0 = panel * nr;
        const int64_t valid = n - n0 < nr ? n - n0 : nr;
        for (int64_t p = 0; p < k; ++p) {
            const T* row = b + p * row_stride + n0 * col_stride;
            for (int64_t j = 0; j < valid; ++j) out[p * nr + j] = row[j * col_stride];
            for (int64_t j = valid; j < nr; ++j) out[p * nr + j] = T(0);
        }
    }
}

template <typename T>
void copy_rows(T* dst, int64_t dst_stride, const T* src, int64_t src_stride, int64_t rows, int64_t cols) {
    for (int64_t r = 0; r < rows; ++r) std::memcpy(dst + r * dst_stride, src + r * src_stride, sizeof(T) * cols);
}

#define FAST_LSTM_INSTANTIATE(T)                                                                              \
    template void interleave_gate_rows<T>(T*, const T*, int64_t, int64_t, int64_t, int64_t);                  \
    template void pack_b_panels<T>(T*, const T*, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t); \
    template void copy_rows<T>(T*, int64_t, const T*, int64_t, int64_t, int64_t);
FAST_LSTM_INSTANTIATE(float)
FAST_LSTM_INSTANTIATE(double)
#undef FAST_LSTM_INSTANTIATE

}  // namespace fast_lstm
