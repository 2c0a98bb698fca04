// SIMD exp, sigmoid and tanh, written once against the Vec operations.
//
// Accuracy (checked against numpy over the whole float range by
// tests/test_activations.py): |error| <= 1e-38 + 3 eps * |ref| in float32 and
// 1e-300 + 3 eps * |ref| in float64 (measured: 1.3 eps worst, but 2.73 for the
// float tanh of the FMA paths, a rational form below). NaN in gives NaN out; +-inf
// give the exact limits.
//
// exp follows Cephes: x = n ln2 + r with |r| <= ln2/2, exp(r) by a polynomial
// (float) or a Pade form (double), then scaled by 2^n. Where the vector scales in
// one instruction that saturates (AVX-512's vscalef: +inf on overflow, subnormals
// then 0 on underflow), that is the whole of it. Elsewhere 2^n is built in the
// exponent bits, so n stays in the normal range: inputs below the clamp give the
// smallest normal-range result instead of a subnormal (absolute error < 1e-38
// float, < 1e-307 double), and above it a separate test gives +inf.
#pragma once

template <typename T>
struct ExpConstants;

// saturated_*: past these exp is +inf or 0 in T; the clamp then only keeps r finite.
template <>
struct ExpConstants<float> {
    static constexpr float max_input = 88.0f;
    static constexpr float min_input = -87.0f;
    static constexpr float saturated_max = 100.0f;
    static constexpr float saturated_min = -110.0f;
};
template <>
struct ExpConstants<double> {
    static constexpr double max_input = 708.0;
    static constexpr double min_input = -708.0;
    static constexpr double saturated_max = 720.0;
    static constexpr double saturated_min = -760.0;
};

// c_n x^n + ... + c_1 x + c_0 by Horner's rule (one fma per coefficient), highest coefficient first.
template <typename T, typename... Lower>
inline Vec<T> horner(Vec<T> x, T highest, Lower... lower) {
    Vec<T> p = Vec<T>::broadcast(highest);
    ((p = fma(p, x, Vec<T>::broadcast(static_cast<T>(lower)))), ...);
    return p;
}

template <typename T>
inline Vec<T> exp_core(Vec<T> r);

template <>
inline Vec<float> exp_core(Vec<float> r) {
    using V = Vec<float>;
    const V p = horner(r, 1.9875691500e-4f, 1.3981999507e-3f, 8.3334519073e-3f, 4.1665795894e-2f, 1.6666665459e-1f,
                       5.0000001201e-1f);
    return fma(p, r * r, r) + V::broadcast(1.0f);
}

template <>
inline Vec<double> exp_core(Vec<double> r) {
    using V = Vec<double>;
    const V r2 = r * r;
    V p = V::broadcast(1.26177193074810590878e-4);
    p = fma(p, r2, V::broadcast(3.02994407707441961300e-2));
    p = fma(p, r2, V::broadcast(9.99999999999999999910e-1));
    p = p * r;
    V q = V::broadcast(3.00198505138664455042e-6);
    q = fma(q, r2, V::broadcast(2.52448340349684104192e-3));
    q = fma(q, r2, V::broadcast(2.27265548208155028766e-1));
    q = fma(q, r2, V::broadcast(2.00000000000000000009e0));
    // exp(r) = 1 + 2 r P(r^2) / (Q(r^2) - r P(r^2))
    return fma(V::broadcast(2.0), p / (q - p), V::broadcast(1.0));
}

template <typename T>
inline Vec<T> exp(Vec<T> x) {
    using V = Vec<T>;
    constexpr bool saturates = V::scale_saturates;
    const V max_input = V::broadcast(saturates ? ExpConstants<T>::saturated_max : ExpConstants<T>::max_input);
    const V min_input = V::broadcast(saturates ? ExpConstants<T>::saturated_min : ExpConstants<T>::min_input);
    // max/min put x second so a NaN survives the clamp.
    const V clamped = min(max_input, max(min_input, x));
    const V n = round_nearest(clamped * V::broadcast(T(1.44269504088896340736)));
    // ln2 split in a high part exact in few bits and a low correction (Cody-Waite).
    V r = fma(n, V::broadcast(T(-0.693145751953125)), clamped);
    r = fma(n, V::broadcast(T(-1.428606820309417232e-6)), r);
    const V value = scale_by_pow2(exp_core<T>(r), n);
    if constexpr (saturates) return value;
    // Past the clamp the true value overflows: give +inf, so sigmoid(-inf) = 0 and tanh(inf) = 1 exactly.
    return select_greater(x, max_input, V::broadcast(static_cast<T>(__builtin_inf())), value);
}

template <typename T>
inline Vec<T> sigmoid(Vec<T> x) {
    using V = Vec<T>;
    const V one = V::broadcast(T(1));
    return one / (one + exp<T>(V::zero() - x));
}

template <typename T>
inline Vec<T> tanh_small(Vec<T> x);

// Cephes tanhf: odd polynomial for |x| <= 0.625, where 1 - 2/(e^2x + 1) would cancel.
template <>
inline Vec<float> tanh_small(Vec<float> x) {
    using V = Vec<float>;
    const V z = x * x;
    const V p = horner(z, -5.70498872745e-3f, 2.06390887954e-2f, -5.37397155531e-2f, 1.33314422036e-1f,
                       -3.33332819422e-1f);
    return fma(p * z, x, x);
}

// Cephes tanh: x + x^3 P(x^2) / Q(x^2) for |x| <= 0.625.
template <>
inline Vec<double> tanh_small(Vec<double> x) {
    using V = Vec<double>;
    const V z = x * x;
    V p = V::broadcast(-9.64399179425052238628e-1);
    p = fma(p, z, V::broadcast(-9.92877231001918586564e1));
    p = fma(p, z, V::broadcast(-1.61468768441708447952e3));
    V q = z + V::broadcast(1.12811678491632931402e2);
    q = fma(q, z, V::broadcast(2.23548839060100448583e3));
    q = fma(q, z, V::broadcast(4.84406305325125486048e3));
    return fma(z * p / q, x, x);
}

template <typename T>
inline Vec<T> tanh_from_exp(Vec<T> x) {
    using V = Vec<T>;
    const V one = V::broadcast(T(1));
    const V magnitude = abs(x);
    const V large = one - V::broadcast(T(2)) / (exp<T>(magnitude + magnitude) + one);
    return select_greater(magnitude, V::broadcast(T(0.625)), copy_sign(large, x), tanh_small<T>(x));
}

template <typename T>
inline Vec<T> tanh(Vec<T> x) {
    return tanh_from_exp<T>(x);
}

// float: tanh(x) = x P(x^2) / Q(x^2), degrees 5 / 4 in x^2, one division and no exp: about half
// the operations of the exp form above. The cell takes two tanh per unit, and the forwards of
// the small and long shapes ran 5-7% faster on AVX2 (Zen 3). The coefficients are a minimax fit
// of the relative error of tanh(x) / x on [0, 9.1] (tests/tanh_rational_fit.py: Lawson iteration; the
// fit errs by 1.5e-9), so float rounding is nearly all of the error: 2.73 eps at worst over
// every float (x (P / Q) rounds better than x P / Q: 3.03). Past |x| = 8.1 the lanes take +-1
// exactly (tanh(8.1) = 1 - 1.8e-7, 1.5 eps away; from 8.17 the quotient could round above 1),
// infinities included, while x^2 may overflow harmlessly. NaN compares false and stays NaN.
// Its bound needs fused multiply-adds: with two roundings each (the portable path) it errs by
// 3.49 eps and passes 1 from 7.94, so that path keeps the exp form.
template <>
inline Vec<float> tanh(Vec<float> x) {
    using V = Vec<float>;
    if constexpr (!V::fma_is_fused) return tanh_from_exp<float>(x);
    const V z = x * x;
    const V p =
        horner(z, -1.203536749e-11f, 3.035809470e-08f, 2.791308361e-05f, 3.863652237e-03f, 1.367618442e-01f, 1.0f);
    const V q = horner(z, 1.280772381e-06f, 3.930386156e-04f, 2.722872980e-02f, 4.700951576e-01f, 1.0f);
    return select_greater(abs(x), V::broadcast(8.1f), copy_sign(V::broadcast(1.0f), x), x * (p / q));
}

// Elementwise over arrays (used by tests to check the bound above).
template <typename T, Vec<T> (*F)(Vec<T>)>
void apply_elementwise(T* y, const T* x, int64_t n) {
    using V = Vec<T>;
    int64_t i = 0;
    for (; i + V::width <= n; i += V::width) F(V::load(x + i)).store(y + i);
    if (i < n) F(V::load_partial(x + i, static_cast<int>(n - i))).store_partial(y + i, static_cast<int>(n - i));
}
