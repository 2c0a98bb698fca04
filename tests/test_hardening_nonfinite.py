"""The non-finite policy of fast_lstm: NaN and +-inf propagate as in numpy, never crash, never refuse.

A non-finite value in any input of lstm_forward / lstm_backward (x, w_ih, w_hh, b, h0, c0, dy,
dh_n, dc_n), of PackedLSTM.forward or of PackedLSTM.step gives NaN and inf exactly where the
float64 numpy reference (tests/reference.py, which does the same arithmetic) has them, and finite
values that agree with it everywhere else: a NaN in sequence b poisons sequence b only, from its
step on; an infinity saturates the gates it reaches (sigmoid(+inf) = 1, tanh(-inf) = -1) and
becomes NaN only where numpy also makes inf - inf or 0 * inf. test_lstm_kernels.py already pins a
NaN in x; this file covers every other input, both infinities and the streaming API.
"""

import fast_lstm
import numpy as np
import pytest
from reference import lstm_backward_ref, lstm_forward_ref, random_lstm_problem

DTYPES = [np.float32, np.float64]
TOL = {np.float32: 1e-4, np.float64: 1e-10}  # on finite entries, relative to max(1, max|expected|)
NAMES = ("y", "h_n", "c_n", "dx", "dw_ih", "dw_hh", "db", "dh0", "dc0")
INPUTS = ("x", "w_ih", "w_hh", "b", "h0", "c0", "dy", "dh_n", "dc_n")
VALUES = {"nan": np.nan, "+inf": np.inf, "-inf": -np.inf}


def dtype_id(dtype):
    return np.dtype(dtype).name


def assert_same_nonfinite_and_close(name, actual, expected, dtype):
    """NaN, +inf and -inf at the same places as the reference; the finite rest within TOL."""
    actual64 = actual.astype(np.float64)
    assert actual.dtype == dtype and actual.shape == expected.shape, name
    for kind, test in (("NaN", np.isnan), ("+inf", np.isposinf), ("-inf", np.isneginf)):
        where_actual, where_expected = test(actual64), test(expected)
        assert np.array_equal(where_actual, where_expected), (
            f"{name}: {kind} at {int(where_actual.sum())} places, the reference has {int(where_expected.sum())}"
        )
    finite = np.isfinite(expected)
    if finite.any():
        scale = max(1.0, float(np.abs(expected[finite]).max()))
        worst = float(np.abs(actual64[finite] - expected[finite]).max())
        assert worst <= TOL[dtype] * scale, f"{name}: finite entries differ by {worst:.3g}"


def poisoned(dtype, field, value, seed=70):
    """A problem with one non-finite entry in the middle of `field`; also returns where it is."""
    p = random_lstm_problem(5, 4, 9, 17, dtype, seed=seed)
    array = getattr(p, field)
    index = tuple(size // 2 for size in array.shape)
    array[index] = value
    return p, index


@pytest.mark.parametrize("value", list(VALUES))
@pytest.mark.parametrize("field", INPUTS)
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_nonfinite_input_propagates_like_numpy(each_isa, dtype, field, value):
    p, _ = poisoned(dtype, field, VALUES[value])
    before = [array.copy() for array in p]
    with np.errstate(all="ignore"):
        *outputs, cache = fast_lstm.lstm_forward(*p[:6], training=True)
        grads = fast_lstm.lstm_backward(p.dy, p.dh_n, p.dc_n, cache)
        *expected, ref_cache = lstm_forward_ref(*p[:6])
        expected_grads = lstm_backward_ref(p.dy, p.dh_n, p.dc_n, ref_cache)
    results = list(outputs) + list(grads)
    for name, actual, wanted in zip(NAMES, results, list(expected) + list(expected_grads)):
        assert_same_nonfinite_and_close(name, actual, wanted, dtype)
    # The policy is "propagate", not "refuse" and not "silently repair": a NaN always surfaces (an
    # infinity may legitimately vanish, e.g. b = +inf only saturates a gate, as it does in numpy).
    if value == "nan":
        assert any(np.isnan(r).any() for r in results), "the NaN input vanished"
    for name, original, after in zip(p._fields, before, p):
        assert np.array_equal(original, after, equal_nan=True), f"{name} was modified"


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_nan_in_one_sequence_leaves_the_others_finite(each_isa, dtype):
    """The row-locality half of the policy, stated directly (h0 of sequence 2 is NaN)."""
    p = random_lstm_problem(6, 4, 9, 17, dtype, seed=71)
    p.h0[2, 3] = np.nan
    y, h_n, c_n, cache = fast_lstm.lstm_forward(*p[:6], training=True)
    dx, _, _, _, dh0, dc0 = fast_lstm.lstm_backward(p.dy, p.dh_n, p.dc_n, cache)
    others = [0, 1, 3]
    for name, array in (("y", y[:, others]), ("h_n", h_n[others]), ("c_n", c_n[others])):
        assert np.isfinite(array).all(), f"{name} of another sequence is not finite"
    for name, array in (("dx", dx[:, others]), ("dh0", dh0[others]), ("dc0", dc0[others])):
        assert np.isfinite(array).all(), f"{name} of another sequence is not finite"
    assert np.isnan(y[:, 2]).all() and np.isnan(h_n[2]).all()


@pytest.mark.parametrize("value", list(VALUES))
@pytest.mark.parametrize("field", ["x", "w_ih", "w_hh", "b", "h0", "c0"])
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_packed_lstm_nonfinite_propagates_like_numpy(each_isa, dtype, field, value):
    p, _ = poisoned(dtype, field, VALUES[value], seed=72)
    with np.errstate(all="ignore"):
        packed = fast_lstm.PackedLSTM(p.w_ih, p.w_hh, p.b)
        expected = lstm_forward_ref(*p[:6])[:3]
        for name, actual, wanted in zip(NAMES, packed.forward(p.x, p.h0, p.c0), expected):
            assert_same_nonfinite_and_close(f"forward {name}", actual, wanted, dtype)
        h, c = p.h0, p.c0
        for t in range(p.x.shape[0]):
            h, c = packed.step(p.x[t], h, c)
            assert_same_nonfinite_and_close(f"step {t} h", h, expected[0][t], dtype)
        assert_same_nonfinite_and_close("last step c", c, expected[2], dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_huge_finite_inputs_saturate_without_inventing_nan(each_isa, dtype):
    """Finite but extreme inputs (1e18, far past every gate's saturation) give finite results equal to numpy's."""
    p = random_lstm_problem(4, 3, 9, 17, dtype, seed=73)
    signs = np.sign(p.x).astype(dtype)
    p = p._replace(x=(signs * dtype(1e18)).astype(dtype))
    *outputs, cache = fast_lstm.lstm_forward(*p[:6], training=True)
    grads = fast_lstm.lstm_backward(p.dy, p.dh_n, p.dc_n, cache)
    with np.errstate(over="ignore"):  # the reference's exp(-a) overflows to inf, which sigmoid maps to 0
        *expected, ref_cache = lstm_forward_ref(*p[:6])
        expected_grads = lstm_backward_ref(p.dy, p.dh_n, p.dc_n, ref_cache)
    for name, actual, wanted in zip(NAMES, list(outputs) + list(grads), list(expected) + list(expected_grads)):
        assert np.isfinite(wanted).all(), f"reference {name} not finite: the test is set up wrong"
        assert np.isfinite(actual).all(), f"{name} has non-finite values from finite inputs"
        assert_same_nonfinite_and_close(name, actual, wanted, dtype)
