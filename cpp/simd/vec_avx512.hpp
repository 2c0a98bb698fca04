// SIMD vectors for AVX-512 (F + DQ): 16 floats or 8 doubles per register.
//
// Included only by kernels/isa_avx512.cpp (compiled with -mavx512f -mavx512dq
// -mfma), inside namespace fast_lstm::avx512. Same operations as vec_avx2.hpp.
#pragma once

template <typename T>
struct Vec;

template <>
struct Vec<float> {
    static constexpr int width = 16;
    __m512 v;

    static Vec load(const float* p) { return {_mm512_loadu_ps(p)}; }
    static Vec broadcast(float x) { return {_mm512_set1_ps(x)}; }
    static Vec zero() { return {_mm512_setzero_ps()}; }
    // Makes the compiler hold the value in a register rather than re-reading memory at each use.
    void keep_in_register() { __asm__("" : "+v"(v)); }
    void store(float* p) const { _mm512_storeu_ps(p, v); }

    static __mmask16 lane_mask(int n) { return static_cast<__mmask16>((1u << n) - 1u); }
    static Vec load_partial(const float* p, int n) { return {_mm512_maskz_loadu_ps(lane_mask(n), p)}; }
    void store_partial(float* p, int n) const { _mm512_mask_storeu_ps(p, lane_mask(n), v); }

    friend Vec operator+(Vec a, Vec b) { return {_mm512_add_ps(a.v, b.v)}; }
    friend Vec operator-(Vec a, Vec b) { return {_mm512_sub_ps(a.v, b.v)}; }
    friend Vec operator*(Vec a, Vec b) { return {_mm512_mul_ps(a.v, b.v)}; }
    friend Vec operator/(Vec a, Vec b) { return {_mm512_div_ps(a.v, b.v)}; }
    friend Vec fma(Vec a, Vec b, Vec c) { return {_mm512_fmadd_ps(a.v, b.v, c.v)}; }
    static constexpr bool fma_is_fused = true;
    // As on AVX2: the second operand is returned when either is NaN.
    friend Vec max(Vec a, Vec b) { return {_mm512_max_ps(a.v, b.v)}; }
    friend Vec min(Vec a, Vec b) { return {_mm512_min_ps(a.v, b.v)}; }
    friend Vec abs(Vec a) { return {_mm512_abs_ps(a.v)}; }
    friend Vec copy_sign(Vec magnitude, Vec sign) {
        const __m512i sign_bit = _mm512_set1_epi32(static_cast<int>(0x80000000u));
        const __m512i m = _mm512_andnot_si512(sign_bit, _mm512_castps_si512(magnitude.v));
        const __m512i s = _mm512_and_si512(sign_bit, _mm512_castps_si512(sign.v));
        return {_mm512_castsi512_ps(_mm512_or_si512(m, s))};
    }
    friend Vec select_greater(Vec x, Vec threshold, Vec if_true, Vec if_false) {
        const __mmask16 mask = _mm512_cmp_ps_mask(x.v, threshold.v, _CMP_GT_OQ);
        return {_mm512_mask_blend_ps(mask, if_false.v, if_true.v)};
    }
    friend Vec round_nearest(Vec a) {
        return {_mm512_roundscale_ps(a.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)};
    }
    // p * 2^n in one instruction: +inf past the largest value, subnormals then 0 below the smallest.
    static constexpr bool scale_saturates = true;
    friend Vec scale_by_pow2(Vec p, Vec n) { return {_mm512_scalef_ps(p.v, n.v)}; }
    friend Vec pow2_integer(Vec n) {
        const __m512i biased = _mm512_add_epi32(_mm512_cvtps_epi32(n.v), _mm512_set1_epi32(127));
        return {_mm512_castsi512_ps(_mm512_slli_epi32(biased, 23))};
    }
    // rows[i][j] <-> rows[j][i]: pairs of floats, then pairs of pairs within each 128-bit lane,
    // then the lanes themselves in two rounds.
    static void transpose(Vec (&rows)[width]) {
        __m512 pairs[16], quads[16];
        for (int i = 0; i < 16; i += 2) {
            pairs[i] = _mm512_unpacklo_ps(rows[i].v, rows[i + 1].v);
            pairs[i + 1] = _mm512_unpackhi_ps(rows[i].v, rows[i + 1].v);
        }
        // quads[4g + e], 128-bit lane L: element 4L + e of rows 4g .. 4g + 3.
        for (int g = 0; g < 4; ++g)
            for (int half = 0; half < 2; ++half) {
                const __m512d a = _mm512_castps_pd(pairs[4 * g + half]);
                const __m512d b = _mm512_castps_pd(pairs[4 * g + 2 + half]);
                quads[4 * g + 2 * half] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, b));
                quads[4 * g + 2 * half + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, b));
            }
        // Output row 4L + e is lane L of quads[e], quads[4 + e], quads[8 + e], quads[12 + e].
        for (int e = 0; e < 4; ++e) {
            const __m512 low_top = _mm512_shuffle_f32x4(quads[e], quads[4 + e], 0x44);
            const __m512 high_top = _mm512_shuffle_f32x4(quads[e], quads[4 + e], 0xEE);
            const __m512 low_bottom = _mm512_shuffle_f32x4(quads[8 + e], quads[12 + e], 0x44);
            const __m512 high_bottom = _mm512_shuffle_f32x4(quads[8 + e], quads[12 + e], 0xEE);
            rows[e].v = _mm512_shuffle_f32x4(low_top, low_bottom, 0x88);
            rows[4 + e].v = _mm512_shuffle_f32x4(low_top, low_bottom, 0xDD);
            rows[8 + e].v = _mm512_shuffle_f32x4(high_top, high_bottom, 0x88);
            rows[12 + e].v = _mm512_shuffle_f32x4(high_top, high_bottom, 0xDD);
        }
    }
};

template <>
struct Vec<double> {
    static constexpr int width = 8;
    __m512d v;

    static Vec load(const double* p) { return {_mm512_loadu_pd(p)}; }
    static Vec broadcast(double x) { return {_mm512_set1_pd(x)}; }
    static Vec zero() { return {_mm512_setzero_pd()}; }
    void keep_in_register() { __asm__("" : "+v"(v)); }
    void store(double* p) const { _mm512_storeu_pd(p, v); }

    static __mmask8 lane_mask(int n) { return static_cast<__mmask8>((1u << n) - 1u); }
    static Vec load_partial(const double* p, int n) { return {_mm512_maskz_loadu_pd(lane_mask(n), p)}; }
    void store_partial(double* p, int n) const { _mm512_mask_storeu_pd(p, lane_mask(n), v); }

    friend Vec operator+(Vec a, Vec b) { return {_mm512_add_pd(a.v, b.v)}; }
    friend Vec operator-(Vec a, Vec b) { return {_mm512_sub_pd(a.v, b.v)}; }
    friend Vec operator*(Vec a, Vec b) { return {_mm512_mul_pd(a.v, b.v)}; }
    friend Vec operator/(Vec a, Vec b) { return {_mm512_div_pd(a.v, b.v)}; }
    friend Vec fma(Vec a, Vec b, Vec c) { return {_mm512_fmadd_pd(a.v, b.v, c.v)}; }
    static constexpr bool fma_is_fused = true;
    friend Vec max(Vec a, Vec b) { return {_mm512_max_pd(a.v, b.v)}; }
    friend Vec min(Vec a, Vec b) { return {_mm512_min_pd(a.v, b.v)}; }
    friend Vec abs(Vec a) { return {_mm512_abs_pd(a.v)}; }
    friend Vec copy_sign(Vec magnitude, Vec sign) {
        const __m512i sign_bit = _mm512_set1_epi64(static_cast<long long>(0x8000000000000000ull));
        const __m512i m = _mm512_andnot_si512(sign_bit, _mm512_castpd_si512(magnitude.v));
        const __m512i s = _mm512_and_si512(sign_bit, _mm512_castpd_si512(sign.v));
        return {_mm512_castsi512_pd(_mm512_or_si512(m, s))};
    }
    friend Vec select_greater(Vec x, Vec threshold, Vec if_true, Vec if_false) {
        const __mmask8 mask = _mm512_cmp_pd_mask(x.v, threshold.v, _CMP_GT_OQ);
        return {_mm512_mask_blend_pd(mask, if_false.v, if_true.v)};
    }
    friend Vec round_nearest(Vec a) {
        return {_mm512_roundscale_pd(a.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)};
    }
    // p * 2^n in one instruction: +inf past the largest value, subnormals then 0 below the smallest.
    static constexpr bool scale_saturates = true;
    friend Vec scale_by_pow2(Vec p, Vec n) { return {_mm512_scalef_pd(p.v, n.v)}; }
    friend Vec pow2_integer(Vec n) {
        const __m512i n64 = _mm512_cvtepi32_epi64(_mm512_cvtpd_epi32(n.v));
        const __m512i biased = _mm512_add_epi64(n64, _mm512_set1_epi64(1023));
        return {_mm512_castsi512_pd(_mm512_slli_epi64(biased, 52))};
    }
    // rows[i][j] <-> rows[j][i]: pairs of doubles within each 128-bit lane, then the lanes.
    static void transpose(Vec (&rows)[width]) {
        __m512d pairs[8];
        for (int i = 0; i < 8; i += 2) {
            pairs[i] = _mm512_unpacklo_pd(rows[i].v, rows[i + 1].v);
            pairs[i + 1] = _mm512_unpackhi_pd(rows[i].v, rows[i + 1].v);
        }
        // pairs[2g + e], 128-bit lane L: element 2L + e of rows 2g, 2g + 1.
        for (int e = 0; e < 2; ++e) {
            const __m512d low_top = _mm512_shuffle_f64x2(pairs[e], pairs[2 + e], 0x44);
            const __m512d high_top = _mm512_shuffle_f64x2(pairs[e], pairs[2 + e], 0xEE);
            const __m512d low_bottom = _mm512_shuffle_f64x2(pairs[4 + e], pairs[6 + e], 0x44);
            const __m512d high_bottom = _mm512_shuffle_f64x2(pairs[4 + e], pairs[6 + e], 0xEE);
            rows[e].v = _mm512_shuffle_f64x2(low_top, low_bottom, 0x88);
            rows[2 + e].v = _mm512_shuffle_f64x2(low_top, low_bottom, 0xDD);
            rows[4 + e].v = _mm512_shuffle_f64x2(high_top, high_bottom, 0x88);
            rows[6 + e].v = _mm512_shuffle_f64x2(high_top, high_bottom, 0xDD);
        }
    }
};
