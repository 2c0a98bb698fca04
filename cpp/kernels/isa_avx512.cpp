// AVX-512 kernels: compiled with -mavx512f -mavx512dq -mfma (see CMakeLists.txt),
// called only when the CPU and OS (XCR0 ZMM state) support them.
#include <immintrin.h>

#include <cstdint>

#include "kernel_table.hpp"

namespace fast_lstm {
namespace avx512 {

#include "../simd/vec_avx512.hpp"

// 32 zmm registers: GEMM 12 x 32 floats (24 accumulators); fused LSTM 6 rows x 4 gates, GRU 8 x 3.
template <typename T>
struct Tiles {
    static constexpr int gemm_mr = 12;
    static constexpr int gemm_nv = 2;
    static constexpr int lstm_mr = 6;
    static constexpr int gru_mr = 8;
    static constexpr int64_t gemm_kc = 256;
    // A batch of one's steps carry projection tiles of 8 rows x 32 floats: 16 accumulators
    // beside the 8 of the 2-block gate product.
    static constexpr int lstm_carried_rows = 8;
    // 132 rows, as on AVX2: the xlarge shape's 128-row step GEMMs are then one block, and its
    // 16 MB W_ih and W_hh stream once a step instead of twice (at 96). Intel (2 MB L2): xlarge's
    // 1-thread forward 1.09x-1.15x torch in bench runs CE and CF (0.90x-0.92x at 96, CC and CD).
    static constexpr int64_t gemm_mc = 132;
};

#include "kernel_set.hpp"

}  // namespace avx512

const Kernels<float>& avx512_kernels_f32() { return avx512::kernel_table<float>(Isa::avx512); }
const Kernels<double>& avx512_kernels_f64() { return avx512::kernel_table<double>(Isa::avx512); }

}  // namespace fast_lstm
