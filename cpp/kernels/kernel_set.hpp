// Assembles one ISA's Kernels<T> table from the templates, with that ISA's tile sizes.
//
// Included last by each kernels/isa_*.cpp, inside its own namespace, after it has
// defined Vec<T> (simd/vec_*.hpp) and Tiles<T> (register-tile and cache-block sizes).
#pragma once

#include "activations.hpp"
#include "dot_rows.hpp"
#include "gemm.hpp"
#include "gru_postgemm.hpp"
#include "lstm_postgemm.hpp"
#include "transpose_columns.hpp"

template <typename T>
void gemm_entry(const GemmArgs<T>& args, int64_t m_begin, int64_t m_end, int64_t panel_begin,
                int64_t panel_end, T* a_workspace) {
    gemm_blocked<T, Tiles<T>::gemm_mr, Tiles<T>::gemm_nv>(args, m_begin, m_end, panel_begin, panel_end,
                                                         a_workspace, Tiles<T>::gemm_kc, Tiles<T>::gemm_mc);
}

template <typename T>
void gemm_shared_a_entry(const GemmArgs<T>& first, const GemmArgs<T>& second, int64_t m_begin, int64_t m_end,
                         T* a_workspace) {
    const int64_t panels = gemm_panels<T, Tiles<T>::gemm_nv>(first.n);
    gemm_blocked<T, Tiles<T>::gemm_mr, Tiles<T>::gemm_nv>(first, m_begin, m_end, 0, panels, a_workspace,
                                                         Tiles<T>::gemm_kc, Tiles<T>::gemm_mc, &second);
}

// Null where the ISA has no registers to spare for a carried tile.
template <typename T>
constexpr auto gemm_row_carrying_entry() {
    using Entry = void (*)(const GemmArgs<T>&, int64_t, int64_t, const CarriedTile<T>&);
    if constexpr (Tiles<T>::lstm_carried_rows > 0)
        return Entry{&gemm_row_carrying<T, Tiles<T>::gemm_nv, Tiles<T>::lstm_carried_rows>};
    else
        return Entry{nullptr};
}

template <typename T, int NG>
void lstm_forward_step_entry(const LstmForwardStep<T>& step, int64_t block_begin, int64_t block_end) {
    lstm_forward_step<T, Tiles<T>::lstm_mr, NG, Tiles<T>::lstm_carried_rows, Tiles<T>::gemm_nv>(step, block_begin,
                                                                                              block_end);
}

template <typename T>
void gru_forward_step_entry(const GruForwardStep<T>& step, int64_t block_begin, int64_t block_end) {
    gru_forward_step<T, Tiles<T>::gru_mr>(step, block_begin, block_end);
}

template <typename T>
const Kernels<T>& kernel_table(Isa isa) {
    static_assert(Tiles<T>::gemm_mc % Tiles<T>::gemm_mr == 0, "MC must hold whole MR slivers");
    static const Kernels<T> table = {
        isa,
        Vec<T>::width,
        Tiles<T>::gemm_mr,
        Tiles<T>::gemm_nv * Vec<T>::width,
        Tiles<T>::gemm_kc,
        Tiles<T>::gemm_mc,
        Tiles<T>::lstm_carried_rows,
        &gemm_entry<T>,
        &gemm_shared_a_entry<T>,
        gemm_row_carrying_entry<T>(),
        {&lstm_forward_step_entry<T, 3>, &lstm_forward_step_entry<T, 4>},
        {&lstm_backward_step<T, 3>, &lstm_backward_step<T, 4>},
        &gru_forward_step_entry<T>,
        &gru_backward_step<T>,
        &dot_rows<T>,
        &lstm_cell_update<T>,
        &apply_elementwise<T, sigmoid<T>>,
        &apply_elementwise<T, tanh<T>>,
        &transpose_columns<T>,
    };
    return table;
}
