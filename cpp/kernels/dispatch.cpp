// The one place that maps an ISA to its tables.
#include "kernel_table.hpp"

namespace fast_lstm {

template <>
const Kernels<float>& kernels_for<float>(Isa isa) {
    switch (isa) {
        case Isa::avx512: return avx512_kernels_f32();
        case Isa::avx2: return avx2_kernels_f32();
        default: return generic_kernels_f32();
    }
}

template <>
const Kernels<double>& kernels_for<double>(Isa isa) {
    switch (isa) {
        case Isa::avx512: return avx512_kernels_f64();
        case Isa::avx2: return avx2_kernels_f64();
        default: return generic_kernels_f64();
    }
}

}  // namespace fast_lstm
