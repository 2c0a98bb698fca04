// Weight packing's inner copy: VL columns of B, each contiguous in memory, to rows of a panel.
#pragma once

// chunk[p * nr + j] = columns[j][k0 + p] for j < VL, p < depth, by VL x VL transposes in
// registers: 2 memory operations per VL values, where a copy value by value takes 2 per value.
template <typename T>
void transpose_columns(T* chunk, int64_t nr, const T* const* columns, int64_t k0, int64_t depth) {
    using V = Vec<T>;
    constexpr int VL = V::width;
    int64_t p = 0;
    for (; p + VL <= depth; p += VL) {
        V rows[VL];
        for (int j = 0; j < VL; ++j) rows[j] = V::load(columns[j] + k0 + p);
        V::transpose(rows);
        for (int i = 0; i < VL; ++i) rows[i].store(chunk + (p + i) * nr);
    }
    for (; p < depth; ++p)
        for (int j = 0; j < VL; ++j) chunk[p * nr + j] = columns[j][k0 + p];
}
