// Portable kernels: no ISA flags beyond the compiler's baseline; run on any CPU.
#include <cstdint>
#if defined(__SSE2__)
#include <xmmintrin.h>  // the 4 x 4 transposes of gemm_pack_four_rows, baseline on x86-64
#endif

#include "kernel_table.hpp"

namespace fast_lstm {
namespace generic {

#include "../simd/vec_generic.hpp"

template <typename T>
struct Tiles {
    static constexpr int gemm_mr = 4;
    static constexpr int gemm_nv = 2;
    static constexpr int lstm_mr = 2;
    static constexpr int gru_mr = 2;
    static constexpr int64_t gemm_kc = 256;
    static constexpr int lstm_carried_rows = 0;  // no registers to spare a tile in
    static constexpr int64_t gemm_mc = 64;
};

#include "kernel_set.hpp"

}  // namespace generic

const Kernels<float>& generic_kernels_f32() { return generic::kernel_table<float>(Isa::generic); }
const Kernels<double>& generic_kernels_f64() { return generic::kernel_table<double>(Isa::generic); }

}  // namespace fast_lstm
