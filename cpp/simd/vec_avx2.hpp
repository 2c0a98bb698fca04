// SIMD vectors for AVX2 + FMA: 8 floats or 4 doubles per register.
//
// Included only by kernels/isa_avx2.cpp (compiled with -mavx2 -mfma), inside
// namespace fast_lstm::avx2, so nothing here can leak into code built for
// another ISA. Every type offers the same small set of operations; the kernel
// templates are written against that set alone.
#pragma once

template <typename T>
struct Vec;

template <>
struct Vec<float> {
    static constexpr int width = 8;
    __m256 v;

    static Vec load(const float* p) { return {_mm256_loadu_ps(p)}; }
    static Vec broadcast(float x) { return {_mm256_set1_ps(x)}; }
    static Vec zero() { return {_mm256_setzero_ps()}; }
    // Makes the compiler hold the value in a register rather than re-reading memory at each use.
    void keep_in_register() { __asm__("" : "+x"(v)); }
    void store(float* p) const { _mm256_storeu_ps(p, v); }

    static __m256i lane_mask(int n) {
        const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), lanes);
    }
    // First n lanes (0 <= n <= width); the rest read as zero and are never touched.
    static Vec load_partial(const float* p, int n) { return {_mm256_maskload_ps(p, lane_mask(n))}; }
    void store_partial(float* p, int n) const { _mm256_maskstore_ps(p, lane_mask(n), v); }

    friend Vec operator+(Vec a, Vec b) { return {_mm256_add_ps(a.v, b.v)}; }
    friend Vec operator-(Vec a, Vec b) { return {_mm256_sub_ps(a.v, b.v)}; }
    friend Vec operator*(Vec a, Vec b) { return {_mm256_mul_ps(a.v, b.v)}; }
    friend Vec operator/(Vec a, Vec b) { return {_mm256_div_ps(a.v, b.v)}; }
    // a * b + c with one rounding.
    friend Vec fma(Vec a, Vec b, Vec c) { return {_mm256_fmadd_ps(a.v, b.v, c.v)}; }
    static constexpr bool fma_is_fused = true;
    // max/min return their second operand when either is NaN: callers put x there to keep NaN.
    friend Vec max(Vec a, Vec b) { return {_mm256_max_ps(a.v, b.v)}; }
    friend Vec min(Vec a, Vec b) { return {_mm256_min_ps(a.v, b.v)}; }
    friend Vec abs(Vec a) { return {_mm256_andnot_ps(_mm256_set1_ps(-0.0f), a.v)}; }
    friend Vec copy_sign(Vec magnitude, Vec sign) {
        const __m256 sign_bit = _mm256_set1_ps(-0.0f);
        return {_mm256_or_ps(_mm256_andnot_ps(sign_bit, magnitude.v), _mm256_and_ps(sign_bit, sign.v))};
    }
    // (x > threshold) ? if_true : if_false, lane by lane; NaN compares false.
    friend Vec select_greater(Vec x, Vec threshold, Vec if_true, Vec if_false) {
        const __m256 mask = _mm256_cmp_ps(x.v, threshold.v, _CMP_GT_OQ);
        return {_mm256_blendv_ps(if_false.v, if_true.v, mask)};
    }
    friend Vec round_nearest(Vec a) { return {_mm256_round_ps(a.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)}; }
    // p * 2^n with n in the normal exponent range (exp clamps its input to keep it there).
    static constexpr bool scale_saturates = false;
    friend Vec scale_by_pow2(Vec p, Vec n) { return p * pow2_integer(n); }
    // 2^n for integral n in the normal exponent range, built in the exponent bits.
    friend Vec pow2_integer(Vec n) {
        const __m256i biased = _mm256_add_epi32(_mm256_cvtps_epi32(n.v), _mm256_set1_epi32(127));
        return {_mm256_castsi256_ps(_mm256_slli_epi32(biased, 23))};
    }
    // rows[i][j] <-> rows[j][i]: pairs of floats, then pairs of pairs within each 128-bit lane,
    // then the two lanes.
    static void transpose(Vec (&rows)[width]) {
        __m256 pairs[8], quads[8];
        for (int i = 0; i < 8; i += 2) {
            pairs[i] = _mm256_unpacklo_ps(rows[i].v, rows[i + 1].v);
            pairs[i + 1] = _mm256_unpackhi_ps(rows[i].v, rows[i + 1].v);
        }
        // quads[4g + e], 128-bit lane L: element 4L + e of rows 4g .. 4g + 3.
        for (int g = 0; g < 2; ++g)
            for (int half = 0; half < 2; ++half) {
                const __m256d a = _mm256_castps_pd(pairs[4 * g + half]);
                const __m256d b = _mm256_castps_pd(pairs[4 * g + 2 + half]);
                quads[4 * g + 2 * half] = _mm256_castpd_ps(_mm256_unpacklo_pd(a, b));
                quads[4 * g + 2 * half + 1] = _mm256_castpd_ps(_mm256_unpackhi_pd(a, b));
            }
        for (int e = 0; e < 4; ++e) {
            rows[e].v = _mm256_permute2f128_ps(quads[e], quads[4 + e], 0x20);
            rows[4 + e].v = _mm256_permute2f128_ps(quads[e], quads[4 + e], 0x31);
        }
    }
};

template <>
struct Vec<double> {
    static constexpr int width = 4;
    __m256d v;

    static Vec load(const double* p) { return {_mm256_loadu_pd(p)}; }
    static Vec broadcast(double x) { return {_mm256_set1_pd(x)}; }
    static Vec zero() { return {_mm256_setzero_pd()}; }
    void keep_in_register() { __asm__("" : "+x"(v)); }
    void store(double* p) const { _mm256_storeu_pd(p, v); }

    static __m256i lane_mask(int n) {
        const __m256i lanes = _mm256_setr_epi64x(0, 1, 2, 3);
        return _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), lanes);
    }
    static Vec load_partial(const double* p, int n) { return {_mm256_maskload_pd(p, lane_mask(n))}; }
    void store_partial(double* p, int n) const { _mm256_maskstore_pd(p, lane_mask(n), v); }

    friend Vec operator+(Vec a, Vec b) { return {_mm256_add_pd(a.v, b.v)}; }
    friend Vec operator-(Vec a, Vec b) { return {_mm256_sub_pd(a.v, b.v)}; }
    friend Vec operator*(Vec a, Vec b) { return {_mm256_mul_pd(a.v, b.v)}; }
    friend Vec operator/(Vec a, Vec b) { return {_mm256_div_pd(a.v, b.v)}; }
    friend Vec fma(Vec a, Vec b, Vec c) { return {_mm256_fmadd_pd(a.v, b.v, c.v)}; }
    static constexpr bool fma_is_fused = true;
    friend Vec max(Vec a, Vec b) { return {_mm256_max_pd(a.v, b.v)}; }
    friend Vec min(Vec a, Vec b) { return {_mm256_min_pd(a.v, b.v)}; }
    friend Vec abs(Vec a) { return {_mm256_andnot_pd(_mm256_set1_pd(-0.0), a.v)}; }
    friend Vec copy_sign(Vec magnitude, Vec sign) {
        const __m256d sign_bit = _mm256_set1_pd(-0.0);
        return {_mm256_or_pd(_mm256_andnot_pd(sign_bit, magnitude.v), _mm256_and_pd(sign_bit, sign.v))};
    }
    friend Vec select_greater(Vec x, Vec threshold, Vec if_true, Vec if_false) {
        const __m256d mask = _mm256_cmp_pd(x.v, threshold.v, _CMP_GT_OQ);
        return {_mm256_blendv_pd(if_false.v, if_true.v, mask)};
    }
    friend Vec round_nearest(Vec a) { return {_mm256_round_pd(a.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)}; }
    // p * 2^n with n in the normal exponent range (exp clamps its input to keep it there).
    static constexpr bool scale_saturates = false;
    friend Vec scale_by_pow2(Vec p, Vec n) { return p * pow2_integer(n); }
    friend Vec pow2_integer(Vec n) {
        const __m256i n64 = _mm256_cvtepi32_epi64(_mm256_cvtpd_epi32(n.v));
        const __m256i biased = _mm256_add_epi64(n64, _mm256_set1_epi64x(1023));
        return {_mm256_castsi256_pd(_mm256_slli_epi64(biased, 52))};
    }
    // rows[i][j] <-> rows[j][i]: pairs of doubles within each 128-bit lane, then the two lanes.
    static void transpose(Vec (&rows)[width]) {
        const __m256d even01 = _mm256_unpacklo_pd(rows[0].v, rows[1].v), odd01 = _mm256_unpackhi_pd(rows[0].v, rows[1].v);
        const __m256d even23 = _mm256_unpacklo_pd(rows[2].v, rows[3].v), odd23 = _mm256_unpackhi_pd(rows[2].v, rows[3].v);
        rows[0].v = _mm256_permute2f128_pd(even01, even23, 0x20);
        rows[1].v = _mm256_permute2f128_pd(odd01, odd23, 0x20);
        rows[2].v = _mm256_permute2f128_pd(even01, even23, 0x31);
        rows[3].v = _mm256_permute2f128_pd(odd01, odd23, 0x31);
    }
};
