"""fast_lstm._sigmoid / _tanh, the SIMD activations inside the kernels, on every ISA, over the whole
float range, against numpy evaluated in extended precision (long double where the platform has it).
"""

import functools

import fast_lstm
import numpy as np
import pytest

# Error bound: |out - ref| <= ATOL + RTOL * |ref|.  RTOL is a few units of roundoff; ATOL only
# forgives results below the smallest normal number (flushed or imprecise subnormal outputs).
# Measured worst case on avx2 and generic: 1.3 eps (sigmoid), 1.2 eps (tanh), but 2.73 eps for the float32 tanh
# of the FMA paths (avx2, avx512: a rational form, every float checked once, kernels/activations.hpp); the
# bound allows 3 eps.
# A failure prints the worst error found, as a multiple of the bound.
F32_RTOL = 3 * float(np.finfo(np.float32).eps)
F32_ATOL = 1e-38
F64_RTOL = 3 * float(np.finfo(np.float64).eps)
F64_ATOL = 1e-300

BOUNDS = {np.float32: (F32_RTOL, F32_ATOL), np.float64: (F64_RTOL, F64_ATOL)}

DTYPES = [np.float32, np.float64]

# Reference precision: long double if it is wider than double here (x86: 64-bit mantissa), else double.
WIDE = np.longdouble if np.finfo(np.longdouble).eps < np.finfo(np.float64).eps else np.float64


def sigmoid_reference(x):
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-x.astype(WIDE)))


def tanh_reference(x):
    return np.tanh(x.astype(WIDE))


FUNCTIONS = {
    "sigmoid": (fast_lstm._sigmoid, sigmoid_reference, (0.0, 1.0)),
    "tanh": (fast_lstm._tanh, tanh_reference, (-1.0, 1.0)),
}


def dtype_id(dtype):
    return np.dtype(dtype).name


@functools.lru_cache(maxsize=None)
def whole_range(dtype):
    """Dense [-20, 20], log-spaced magnitudes 1e-30..max of both signs, zeros, subnormals, extremes."""
    info = np.finfo(dtype)
    dense = np.linspace(-20, 20, 400_001)
    magnitudes = np.geomspace(1e-30, float(info.max) / 2, 100_000)  # max itself is among the extremes
    subnormals = float(info.smallest_subnormal) * np.array([1, 2, 3, 1000, 2**20])
    largest_subnormal = np.nextafter(info.tiny, dtype(0))
    extremes = [info.tiny, largest_subnormal, info.max, 1e-30]
    positive = np.concatenate([magnitudes, subnormals, np.array(extremes, dtype=dtype)]).astype(dtype)
    x = np.concatenate([dense.astype(dtype), positive, -positive, np.array([0.0, -0.0], dtype=dtype)])
    assert np.isfinite(x).all()
    x.flags.writeable = False
    return x


@functools.lru_cache(maxsize=None)
def random_bit_patterns(dtype, count=200_000):
    """Uniformly random bit patterns: every exponent equally likely, NaNs and infinities included."""
    bits = {np.float32: np.uint32, np.float64: np.uint64}[dtype]
    rng = np.random.default_rng(1)
    x = rng.integers(0, np.iinfo(bits).max, size=count, dtype=bits, endpoint=True).view(dtype)
    x.flags.writeable = False
    return x


def assert_within_bound(function, x, out, dtype):
    """out[k] == ref(x[k]) up to ATOL + RTOL * |ref|; NaN exactly where x is NaN."""
    _, reference, _ = FUNCTIONS[function]
    assert isinstance(out, np.ndarray) and out is not x
    assert out.shape == x.shape and out.dtype == dtype, (out.shape, out.dtype)
    assert np.array_equal(np.isnan(out), np.isnan(x)), "NaN out where the input is not NaN, or vice versa"
    finite = ~np.isnan(x)
    x, out = x[finite], out[finite]
    if x.size == 0:
        return
    ref = reference(x)
    rtol, atol = BOUNDS[dtype]
    with np.errstate(invalid="ignore"):  # inf - inf where an exact limit is hit; counted as no error
        error = np.where(out == ref, 0, np.abs(out.astype(WIDE) - ref))
    ratio = error / (atol + rtol * np.abs(ref))
    worst = int(np.argmax(ratio))
    assert ratio[worst] <= 1, (
        f"{function}({np.dtype(dtype).name}): error {float(ratio[worst]):.3g} x the bound "
        f"at x = {x[worst]!r}: "
        f"got {out[worst]!r}, expected {float(ref[worst])!r} (relative error "
        f"{float(abs(out[worst] - ref[worst]) / abs(ref[worst])) if ref[worst] else float('nan'):.3g}; "
        f"{int(np.sum(ratio > 1))} of {ratio.size} inputs out of bound)"
    )


@pytest.mark.parametrize("function", list(FUNCTIONS))
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_whole_range_matches_reference(each_isa, dtype, function):
    x = whole_range(dtype)
    assert_within_bound(function, x, FUNCTIONS[function][0](x), dtype)


@pytest.mark.parametrize("function", list(FUNCTIONS))
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_random_bit_patterns_match_reference(each_isa, dtype, function):
    x = random_bit_patterns(dtype)
    assert_within_bound(function, x, FUNCTIONS[function][0](x), dtype)


@pytest.mark.parametrize("function", list(FUNCTIONS))
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_every_vector_tail_length(each_isa, dtype, function):
    """Lengths 0..67 cover every remainder after the widest SIMD block (16 floats) several times."""
    rng = np.random.default_rng(2)
    for n in range(68):
        x = rng.uniform(-10, 10, n).astype(dtype)
        assert_within_bound(function, x, FUNCTIONS[function][0](x), dtype)


# f(+inf), f(-inf), f(+0), f(-0): the limits are exact, not merely within the bound.
EXACT_VALUES = {"sigmoid": [1.0, 0.0, 0.5, 0.5], "tanh": [1.0, -1.0, 0.0, 0.0]}


@pytest.mark.parametrize("function", list(FUNCTIONS))
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_exact_limits_at_infinity_and_zero(each_isa, dtype, function):
    x = np.array([np.inf, -np.inf, 0.0, -0.0], dtype=dtype)
    out = FUNCTIONS[function][0](x)
    expected = np.array(EXACT_VALUES[function], dtype=dtype)
    assert np.array_equal(out, expected), f"{function}({x.tolist()}) = {out.tolist()}, not {expected.tolist()}"


@pytest.mark.parametrize("function", list(FUNCTIONS))
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_nan_gives_nan(each_isa, dtype, function):
    bits = {np.float32: np.uint32, np.float64: np.uint64}[dtype]
    quiet = np.array([np.nan], dtype=dtype).view(bits)[0]
    sign = bits(1) << bits(8 * np.dtype(dtype).itemsize - 1)
    nans = np.array([quiet, quiet | sign, quiet | bits(1), quiet + bits(12345)], dtype=bits).view(dtype)
    x = np.concatenate([nans, np.linspace(-3, 3, 7).astype(dtype), nans])  # NaNs in and out of SIMD blocks
    out = FUNCTIONS[function][0](x)
    assert np.array_equal(np.isnan(out), np.isnan(x))


@pytest.mark.parametrize("function", list(FUNCTIONS))
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_outputs_stay_in_range(each_isa, dtype, function):
    apply, _, (low, high) = FUNCTIONS[function]
    x = np.concatenate([whole_range(dtype), random_bit_patterns(dtype), np.array([np.inf, -np.inf], dtype)])
    out = apply(x[~np.isnan(x)])
    assert out.min() >= low and out.max() <= high, (out.min(), out.max())


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_tanh_is_exactly_odd(each_isa, dtype):
    x = np.concatenate([whole_range(dtype), random_bit_patterns(dtype)])
    x = x[~np.isnan(x)]
    assert np.array_equal(fast_lstm._tanh(-x), -fast_lstm._tanh(x))


@pytest.mark.parametrize("function", list(FUNCTIONS))
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_any_shape_gives_a_new_array_and_leaves_the_input_alone(dtype, function):
    x = np.random.default_rng(3).uniform(-5, 5, (3, 5, 7)).astype(dtype)
    before = x.copy()
    out = FUNCTIONS[function][0](x)
    assert not np.shares_memory(out, x)
    assert np.array_equal(x, before)
    assert_within_bound(function, x, out, dtype)


def test_float_tanh_every_float_where_it_nears_one(each_isa):
    """On the FMA paths the float tanh is a rational form whose rounding peaks where tanh nears 1
    (2.73 eps near |x| = 8, kernels/activations.hpp) and which hands over to exact +-1 at 8.1: every
    float in [4, 10] is checked, not a sample. (Without fused multiply-adds the form errs by 3.49
    eps and passes 1, which is why the portable path keeps the exp form; this test caught that.)"""
    bits = np.arange(np.float32(4).view(np.uint32), np.float32(10).view(np.uint32) + 1, dtype=np.uint32)
    x = bits.view(np.float32)
    out = fast_lstm._tanh(x)
    assert out.max() <= 1
    assert_within_bound("tanh", x, out, np.float32)
