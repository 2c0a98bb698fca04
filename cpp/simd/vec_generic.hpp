// Portable "vectors": fixed-size arrays with element loops that the compiler
// maps to the baseline SIMD of the target (SSE2 on x86-64, NEON on arm64).
//
// Included only by kernels/isa_generic.cpp, inside namespace fast_lstm::generic.
// It uses no library calls so that it behaves the same everywhere.
#pragma once

template <typename T>
struct VecBits;
template <>
struct VecBits<float> {
    using Int = int32_t;
    static constexpr int mantissa_bits = 23;
    static constexpr Int exponent_bias = 127;
    // Adding then subtracting 1.5 * 2^23 rounds to the nearest integer for |x| < 2^22.
    static constexpr float round_magic = 12582912.0f;
};
template <>
struct VecBits<double> {
    using Int = int64_t;
    static constexpr int mantissa_bits = 52;
    static constexpr Int exponent_bias = 1023;
    static constexpr double round_magic = 6755399441055744.0;
};

template <typename T>
struct Vec {
    static constexpr int width = 16 / static_cast<int>(sizeof(T));
    using Int = typename VecBits<T>::Int;
    T v[width];

    static Vec load(const T* p) {
        Vec r;
        for (int i = 0; i < width; ++i) r.v[i] = p[i];
        return r;
    }
    static Vec broadcast(T x) {
        Vec r;
        for (int i = 0; i < width; ++i) r.v[i] = x;
        return r;
    }
    static Vec zero() { return broadcast(T(0)); }
    void keep_in_register() {}
    void store(T* p) const {
        for (int i = 0; i < width; ++i) p[i] = v[i];
    }
    static Vec load_partial(const T* p, int n) {
        Vec r = zero();
        for (int i = 0; i < n; ++i) r.v[i] = p[i];
        return r;
    }
    void store_partial(T* p, int n) const {
        for (int i = 0; i < n; ++i) p[i] = v[i];
    }

    template <typename Op>
    static Vec map2(Vec a, Vec b, Op op) {
        Vec r;
        for (int i = 0; i < width; ++i) r.v[i] = op(a.v[i], b.v[i]);
        return r;
    }
    friend Vec operator+(Vec a, Vec b) { return map2(a, b, [](T x, T y) { return x + y; }); }
    friend Vec operator-(Vec a, Vec b) { return map2(a, b, [](T x, T y) { return x - y; }); }
    friend Vec operator*(Vec a, Vec b) { return map2(a, b, [](T x, T y) { return x * y; }); }
    friend Vec operator/(Vec a, Vec b) { return map2(a, b, [](T x, T y) { return x / y; }); }
    // Unfused on purpose: a fused multiply-add in software would be slow, and the
    // baseline ISA has none. The error bound of the activations allows for it.
    friend Vec fma(Vec a, Vec b, Vec c) { return a * b + c; }
    static constexpr bool fma_is_fused = false;  // two roundings: the float tanh takes its exp form
    // Same NaN rule as the hardware max/min: the second operand wins when either is NaN.
    friend Vec max(Vec a, Vec b) { return map2(a, b, [](T x, T y) { return x > y ? x : y; }); }
    friend Vec min(Vec a, Vec b) { return map2(a, b, [](T x, T y) { return x < y ? x : y; }); }
    friend Vec abs(Vec a) { return copy_sign(a, zero()); }
    friend Vec copy_sign(Vec magnitude, Vec sign) {
        Vec r;
        for (int i = 0; i < width; ++i) {
            const Int sign_bit = Int(1) << (8 * sizeof(T) - 1);
            const Int bits = (to_bits(magnitude.v[i]) & ~sign_bit) | (to_bits(sign.v[i]) & sign_bit);
            __builtin_memcpy(&r.v[i], &bits, sizeof(T));
        }
        return r;
    }
    friend Vec select_greater(Vec x, Vec threshold, Vec if_true, Vec if_false) {
        Vec r;
        for (int i = 0; i < width; ++i) r.v[i] = x.v[i] > threshold.v[i] ? if_true.v[i] : if_false.v[i];
        return r;
    }
    friend Vec round_nearest(Vec a) {
        const T magic = VecBits<T>::round_magic;
        Vec r;
        for (int i = 0; i < width; ++i) {
            volatile T shifted = a.v[i] + magic;  // volatile keeps the rounding step from being folded away
            r.v[i] = shifted - magic;
        }
        return r;
    }
    // p * 2^n with n in the normal exponent range (exp clamps its input to keep it there).
    static constexpr bool scale_saturates = false;
    friend Vec scale_by_pow2(Vec p, Vec n) { return p * pow2_integer(n); }
    friend Vec pow2_integer(Vec n) {
        Vec r;
        for (int i = 0; i < width; ++i) {
            // A NaN exponent (from a NaN input) must not reach the integer cast, which
            // would be undefined; the caller's mantissa is NaN then and carries it.
            const T exponent = n.v[i] == n.v[i] ? n.v[i] : T(0);
            const Int bits = (static_cast<Int>(exponent) + VecBits<T>::exponent_bias) << VecBits<T>::mantissa_bits;
            __builtin_memcpy(&r.v[i], &bits, sizeof(T));
        }
        return r;
    }
    // rows[i][j] <-> rows[j][i].
    static void transpose(Vec (&rows)[width]) {
        for (int i = 0; i < width; ++i)
            for (int j = i + 1; j < width; ++j) {
                const T above = rows[i].v[j];
                rows[i].v[j] = rows[j].v[i];
                rows[j].v[i] = above;
            }
    }

  private:
    static Int to_bits(T x) {
        Int bits;
        __builtin_memcpy(&bits, &x, sizeof(T));
        return bits;
    }
};
