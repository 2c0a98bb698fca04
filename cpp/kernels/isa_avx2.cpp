// AVX2 + FMA kernels: compiled with -mavx2 -mfma (see CMakeLists.txt), called only
// when the CPU and OS support them (runtime/cpu_features.cpp).
#include <immintrin.h>

#include <cstdint>

#include "kernel_table.hpp"

namespace fast_lstm {
namespace avx2 {

#include "../simd/vec_avx2.hpp"

// 16 ymm registers: GEMM 6 x 16 floats (12 accumulators, the Haswell tile);
// fused LSTM 3 rows x 4 gates (12 accumulators + 3 broadcasts + 1 weight vector: 10-23% faster
// than 2 rows x 4 gates on the recurrent product alone, Zen 3, and 3 cell updates side by side),
// GRU 3 rows x 3 gates (9 + 3).
template <typename T>
struct Tiles {
    static constexpr int gemm_mr = 6;
    static constexpr int gemm_nv = 2;
    static constexpr int lstm_mr = 3;
    static constexpr int gru_mr = 3;
    static constexpr int64_t gemm_kc = 256;
    // 16 registers: the 2-block gate product's 8 accumulators leave no room for a carried tile.
    static constexpr int lstm_carried_rows = 0;
    // 132 rows: a 132 KB A block in L2 (512 KB on Zen 3), and a large B read half as often as at
    // 72; 3-8% faster than 72 on the M = 128-256, K = 1024 GEMMs of the xlarge shape (Zen 3).
    static constexpr int64_t gemm_mc = 132;
};

#include "kernel_set.hpp"

}  // namespace avx2

const Kernels<float>& avx2_kernels_f32() { return avx2::kernel_table<float>(Isa::avx2); }
const Kernels<double>& avx2_kernels_f64() { return avx2::kernel_table<double>(Isa::avx2); }

}  // namespace fast_lstm
