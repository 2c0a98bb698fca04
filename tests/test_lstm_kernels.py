"""lstm_forward / lstm_backward against the numpy reference, PyTorch and finite differences,
and the contract around them: determinism across threads, untouched inputs, any memory layout,
the training cache, thread and ISA controls, and refusal of bad input.
"""

import functools
import os
import re
import subprocess
import sys

import fast_lstm
import numpy as np
import pytest
from checks import FINITE_DIFFERENCE_TOL, FORWARD_TOL, GRADIENT_TOL, assert_close, numeric_gradient
from reference import lstm_backward_ref, lstm_forward_ref, lstm_loss, random_lstm_problem

DTYPES = [np.float32, np.float64]


FORWARD_NAMES = ("y", "h_n", "c_n")
GRADIENT_NAMES = ("dx", "dw_ih", "dw_hh", "db", "dh0", "dc0")

# (T, B, D, H): the edge sizes 1, odd sizes that leave SIMD remainders, D != H (one D == H).
SHAPES = [
    (1, 1, 1, 1),
    (1, 1, 3, 3),
    (1, 16, 100, 17),
    (2, 1, 17, 3),
    (3, 2, 3, 17),
    (5, 5, 33, 1),
    (4, 2, 1, 33),
    (6, 1, 33, 3),
    (7, 16, 17, 33),
    (8, 5, 17, 17),
    (9, 5, 100, 33),
    (10, 1, 100, 100),
    (11, 2, 100, 17),
    (12, 16, 100, 3),
    (1, 5, 100, 100),
    (3, 16, 3, 1),
    (16, 16, 33, 100),
    (20, 1, 17, 100),
    (25, 2, 3, 33),
    (30, 2, 33, 17),
    (30, 5, 3, 100),
    (30, 16, 17, 33),
]

# Which upstream gradients backward receives; the others are passed as None (meaning zeros).
UPSTREAM = {
    "dy,dh_n,dc_n": ("dy", "dh_n", "dc_n"),
    "dh_n,dc_n": ("dh_n", "dc_n"),
    "dy": ("dy",),
    "none": (),
}


def shape_id(shape):
    return "T{}-B{}-D{}-H{}".format(*shape)


def dtype_id(dtype):
    return np.dtype(dtype).name


def forward(p, *, with_state=True, training=True):
    h0, c0 = (p.h0, p.c0) if with_state else (None, None)
    return fast_lstm.lstm_forward(p.x, p.w_ih, p.w_hh, p.b, h0, c0, training=training)


def upstream_args(p, upstream):
    given = UPSTREAM[upstream]
    return [getattr(p, name) if name in given else None for name in ("dy", "dh_n", "dc_n")]


# The reference is computed once per case and shared by the ISAs; nobody may write to the
# cached arrays (test_inputs_are_not_modified checks that the kernels do not).
@functools.lru_cache(maxsize=None)
def reference_forward(shape, dtype, with_state):
    p = random_lstm_problem(*shape, dtype, seed=shape)
    h0, c0 = (p.h0, p.c0) if with_state else (None, None)
    return p, lstm_forward_ref(p.x, p.w_ih, p.w_hh, p.b, h0, c0)


@functools.lru_cache(maxsize=None)
def reference_backward(shape, dtype, with_state, upstream):
    p, (_, _, _, cache) = reference_forward(shape, dtype, with_state)
    return lstm_backward_ref(*upstream_args(p, upstream), cache)


# ---------------------------------------------------------------------------------------------
# Agreement with the numpy reference, PyTorch and finite differences
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("upstream", list(UPSTREAM))
@pytest.mark.parametrize("with_state", [True, False], ids=["h0,c0", "no-h0,c0"])
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("shape", SHAPES, ids=shape_id)
def test_matches_reference(each_isa, each_recurrent_product, shape, dtype, with_state, upstream):
    p, expected_outputs = reference_forward(shape, dtype, with_state)

    for training in (False, True):
        *outputs, cache = forward(p, with_state=with_state, training=training)
        for name, actual, expected in zip(FORWARD_NAMES, outputs, expected_outputs):
            assert_close(f"{name} (training={training})", actual, expected, dtype, FORWARD_TOL[dtype])

    gradients = fast_lstm.lstm_backward(*upstream_args(p, upstream), cache)
    expected_gradients = reference_backward(shape, dtype, with_state, upstream)
    assert len(gradients) == len(GRADIENT_NAMES)
    for name, actual, expected in zip(GRADIENT_NAMES, gradients, expected_gradients):
        assert_close(name, actual, expected, dtype, GRADIENT_TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("batch", [1, 2, 3, 4, 5, 7, 16, 17])
def test_single_inference_steps_match_reference(each_isa, batch, dtype):
    """T = 1 without training reads the weights unpacked for small batches: every row, unit and depth remainder."""
    for D, H in [(1, 1), (17, 9), (40, 33), (8, 16)]:
        p = random_lstm_problem(1, batch, D, H, dtype, seed=batch * 100 + D)
        expected = lstm_forward_ref(*p[:6])[:3]
        for h0, c0 in [(p.h0, p.c0), (None, None)]:
            outputs = fast_lstm.lstm_forward(p.x, p.w_ih, p.w_hh, p.b, h0, c0)[:3]
            if h0 is None:
                expected = lstm_forward_ref(*p[:4])[:3]
            for name, actual, wanted in zip(FORWARD_NAMES, outputs, expected):
                assert_close(f"{name} (D={D}, H={H})", actual, wanted, dtype, FORWARD_TOL[dtype])


def assert_forward_and_backward_match_reference(p, dtype):
    """One training forward and backward of problem p, every output against the numpy reference."""
    *expected_outputs, ref_cache = lstm_forward_ref(*p[:6])
    *outputs, cache = forward(p)
    for name, actual, expected in zip(FORWARD_NAMES, outputs, expected_outputs):
        assert_close(name, actual, expected, dtype, FORWARD_TOL[dtype])
    gradients = fast_lstm.lstm_backward(p.dy, p.dh_n, p.dc_n, cache)
    expected_gradients = lstm_backward_ref(p.dy, p.dh_n, p.dc_n, ref_cache)
    for name, actual, expected in zip(GRADIENT_NAMES, gradients, expected_gradients):
        assert_close(name, actual, expected, dtype, GRADIENT_TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("batch", range(1, 14))
def test_every_batch_remainder_matches_reference(each_isa, each_recurrent_product, batch, dtype):
    """The per-step dh GEMM has B rows: B = 1..13 leaves every remainder of the GEMM's row tile
    (6 on AVX2, 12 on AVX-512, 4 portable), which runs a kernel of its own, and of the fused
    step's row tile (3 on AVX2, 6 on AVX-512, 2 portable), whose left-over rows take 2-row tiles
    and, for an odd count, one-row tiles."""
    p = random_lstm_problem(3, batch, 5, 7, dtype, seed=batch)
    assert_forward_and_backward_match_reference(p, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_saturated_gates_match_reference(each_isa, dtype):
    """Inputs 30x larger push every gate deep into the flat tails of sigmoid and tanh."""
    p = random_lstm_problem(9, 5, 33, 17, dtype, seed=5)
    p = p._replace(x=(p.x * 30).astype(dtype), c0=(p.c0 * 30).astype(dtype))
    assert_forward_and_backward_match_reference(p, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_nan_propagates_like_the_reference(each_isa, dtype):
    """A NaN in x[t, b] poisons sequence b from step t on, and nothing else."""
    p = random_lstm_problem(6, 4, 17, 33, dtype, seed=6)
    p.x[2, 1, 5] = np.nan
    *expected_outputs, _ = lstm_forward_ref(*p[:6])
    *outputs, _ = forward(p)
    for name, actual, expected in zip(FORWARD_NAMES, outputs, expected_outputs):
        assert_close(name, actual, expected, dtype, FORWARD_TOL[dtype])
    assert np.isnan(outputs[0][2:, 1]).all() and not np.isnan(outputs[0][:2]).any()


TORCH_SHAPES = [(1, 1, 1, 1), (5, 3, 17, 33), (30, 16, 100, 17), (12, 1, 3, 100), (7, 5, 33, 3)]


@pytest.mark.parametrize("with_state", [True, False], ids=["h0,c0", "no-h0,c0"])
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("shape", TORCH_SHAPES, ids=shape_id)
def test_matches_torch_lstm(torch, each_isa, shape, dtype, with_state):
    T, B, D, H = shape
    p = random_lstm_problem(*shape, dtype, seed=shape)
    torch_dtype = {np.float32: torch.float32, np.float64: torch.float64}[dtype]

    lstm = torch.nn.LSTM(D, H, batch_first=False, dtype=torch_dtype)
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(torch.from_numpy(p.w_ih))
        lstm.weight_hh_l0.copy_(torch.from_numpy(p.w_hh))
        lstm.bias_ih_l0.copy_(torch.from_numpy(p.b))
        lstm.bias_hh_l0.zero_()  # b = bias_ih + bias_hh
    x = torch.from_numpy(p.x.copy()).requires_grad_()
    h0 = torch.from_numpy(p.h0[None].copy()).requires_grad_()  # torch wants (num_layers, B, H)
    c0 = torch.from_numpy(p.c0[None].copy()).requires_grad_()
    y, (h_n, c_n) = lstm(x, (h0, c0)) if with_state else lstm(x)
    loss = (
        (y * torch.from_numpy(p.dy)).sum()
        + (h_n[0] * torch.from_numpy(p.dh_n)).sum()
        + (c_n[0] * torch.from_numpy(p.dc_n)).sum()
    )
    loss.backward()

    def numpy(tensor):
        return tensor.detach().numpy()

    *outputs, cache = forward(p, with_state=with_state)
    for name, actual, expected in zip(FORWARD_NAMES, outputs, (y, h_n[0], c_n[0])):
        assert_close(name, actual, numpy(expected), dtype, FORWARD_TOL[dtype])

    gradients = fast_lstm.lstm_backward(p.dy, p.dh_n, p.dc_n, cache)
    expected_gradients = [x.grad, lstm.weight_ih_l0.grad, lstm.weight_hh_l0.grad, lstm.bias_ih_l0.grad]
    if with_state:
        expected_gradients += [h0.grad[0], c0.grad[0]]
    for name, actual, expected in zip(GRADIENT_NAMES, gradients, expected_gradients):
        assert_close(name, actual, numpy(expected), dtype, GRADIENT_TOL[dtype])


@pytest.mark.parametrize("shape", [(4, 3, 5, 7), (2, 1, 3, 2)], ids=shape_id)
def test_gradients_match_central_finite_differences(each_isa, each_recurrent_product, shape):
    """Every entry of every gradient against (L(v + eps) - L(v - eps)) / 2eps, in float64."""
    p = random_lstm_problem(*shape, np.float64, seed=11)
    _, _, _, cache = forward(p)
    gradients = fast_lstm.lstm_backward(p.dy, p.dh_n, p.dc_n, cache)

    def loss(inputs):
        y, h_n, c_n, _ = fast_lstm.lstm_forward(*inputs)
        return lstm_loss(y, h_n, c_n, p)

    for position, (name, analytic) in enumerate(zip(GRADIENT_NAMES, gradients)):
        inputs = [array.copy() for array in p[:6]]  # x, w_ih, w_hh, b, h0, c0
        numeric = numeric_gradient(lambda: loss(inputs), inputs[position])
        assert_close(name, analytic, numeric, np.float64, FINITE_DIFFERENCE_TOL)


# ---------------------------------------------------------------------------------------------
# Determinism, untouched inputs, memory layouts, the training cache
# ---------------------------------------------------------------------------------------------


def run_forward_backward(p):
    """All nine results of one forward (with h0, c0) and one backward (with every upstream gradient)."""
    y, h_n, c_n, cache = forward(p)
    return (y, h_n, c_n) + tuple(fast_lstm.lstm_backward(p.dy, p.dh_n, p.dc_n, cache))


def assert_all_equal(results, expected_results):
    for name, actual, expected in zip(FORWARD_NAMES + GRADIENT_NAMES, results, expected_results):
        assert actual.dtype == expected.dtype, name
        assert np.array_equal(actual, expected), f"{name} differs"


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("shape", [(20, 16, 64, 96), (8, 1, 40, 300), (5, 7, 33, 100)], ids=shape_id)
def test_one_and_two_threads_are_bitwise_equal(each_isa, each_recurrent_product, restore_num_threads, shape, dtype):
    p = random_lstm_problem(*shape, dtype, seed=shape)
    fast_lstm.set_num_threads(1)
    one_thread = run_forward_backward(p)
    fast_lstm.set_num_threads(2)
    assert fast_lstm.get_num_threads() == 2
    assert_all_equal(run_forward_backward(p), one_thread)


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_a_sequence_gives_the_same_bits_alone_or_in_any_tile_of_a_batch(each_isa, restore_num_threads, dtype):
    """With the recurrent product in the fused tile, 9 rows go through every tile shape (6, 3 or 2
    rows, and the lone row's tile); each row must give what it gives as a batch of one, on the
    steps that sum over W_hh downwards as on those that sum upwards."""
    previous = fast_lstm._force_recurrent_product("fused")
    try:
        fast_lstm.set_num_threads(1)
        p = random_lstm_problem(6, 9, 24, 40, dtype, seed=9)
        y, h_n, c_n = fast_lstm.lstm_forward(p.x, p.w_ih, p.w_hh, p.b, p.h0, p.c0)[:3]
        for row in range(9):
            alone = fast_lstm.lstm_forward(p.x[:, row : row + 1], p.w_ih, p.w_hh, p.b, p.h0[row : row + 1],
                                           p.c0[row : row + 1])[:3]
            for name, in_batch, by_itself in zip(FORWARD_NAMES, (y[:, row], h_n[row], c_n[row]), alone):
                assert np.array_equal(in_batch, by_itself[..., 0, :]), f"row {row}: {name} differs"
    finally:
        fast_lstm._force_recurrent_product(previous)


# Arrays whose rows would lie a multiple of 2 KB apart (512 float32s, 256 float64s) get rows a
# little further apart (spread_row_stride in ops/packing.hpp): the gate arrays of the forward and
# the backward's gate gradients (4H columns: H = 128, 256, 512 here), and the GEMM outputs dW_ih,
# dW_hh and dx of the backward, through a scratch. With only one of dW_ih, dW_hh spread, both
# share that scratch's stride (that of the wider, which with D = 512 and H = 600 is H itself).
SPREAD_SHAPES = [
    (8, 8, 512, 512),
    (8, 8, 512, 100),
    (8, 8, 100, 512),
    (4, 16, 512, 600),
    (4, 16, 256, 256),
    (6, 3, 40, 128),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("shape", SPREAD_SHAPES, ids=shape_id)
def test_gemm_outputs_with_spread_rows_match_reference(each_isa, each_recurrent_product, restore_num_threads, shape,
                                                        dtype):
    p = random_lstm_problem(*shape, dtype, seed=shape)
    *expected_outputs, reference_cache = lstm_forward_ref(p.x, p.w_ih, p.w_hh, p.b, p.h0, p.c0)
    expected = lstm_backward_ref(p.dy, p.dh_n, p.dc_n, reference_cache)
    fast_lstm.set_num_threads(1)
    inference = fast_lstm.lstm_forward(p.x, p.w_ih, p.w_hh, p.b, p.h0, p.c0)[:3]
    one_thread = run_forward_backward(p)
    for outputs in (inference, one_thread[:3]):
        for name, actual, wanted in zip(FORWARD_NAMES, outputs, expected_outputs):
            assert_close(name, actual, wanted, dtype, FORWARD_TOL[dtype])
    for name, actual, wanted in zip(GRADIENT_NAMES, one_thread[3:], expected):
        assert_close(name, actual, wanted, dtype, GRADIENT_TOL[dtype])
    fast_lstm.set_num_threads(2)
    assert_all_equal(run_forward_backward(p), one_thread)


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("batch", [5, 6, 7, 13])
def test_packed_gemm_rows_in_fours_match_reference(each_isa, each_recurrent_product, restore_num_threads, batch,
                                                   dtype):
    """An A whose rows lie a multiple of 2 KB apart and that many B panels read (h_{t-1} at
    H = 512, x at D = 512) is packed, four rows at a time where it can: these batches leave
    1, 2, 3 rows after the fours of a sliver (of 12 rows on AVX-512, 6 on AVX2, 4 portable)."""
    p = random_lstm_problem(2, batch, 512, 512, dtype, seed=batch)
    fast_lstm.set_num_threads(1)
    assert_forward_and_backward_match_reference(p, dtype)
    inference = fast_lstm.lstm_forward(p.x, p.w_ih, p.w_hh, p.b, p.h0, p.c0)[:3]
    for name, actual, expected in zip(FORWARD_NAMES, inference, lstm_forward_ref(*p[:6])[:3]):
        assert_close(name, actual, expected, dtype, FORWARD_TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_inputs_are_not_modified(each_isa, dtype):
    p = random_lstm_problem(7, 5, 17, 33, dtype, seed=7)
    before = [array.copy() for array in p]
    run_forward_backward(p)
    forward(p, with_state=False, training=False)
    for name, original, after in zip(p._fields, before, p):
        assert np.array_equal(original, after), f"{name} was modified"


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_the_two_recurrent_products_both_match_the_reference(each_isa, dtype):
    """The fused tile and the GEMM before the cell update sum in different orders: both are near the
    reference, and their bits differ, which shows that the test hook the tests above are parametrized
    by does switch between them."""
    p = random_lstm_problem(6, 7, 20, 40, dtype, seed=11)
    expected = lstm_forward_ref(p.x, p.w_ih, p.w_hh, p.b, p.h0, p.c0)[0]
    outputs = {}
    for name in ("fused", "gemm"):
        previous = fast_lstm._force_recurrent_product(name)
        try:
            outputs[name] = fast_lstm.lstm_forward(p.x, p.w_ih, p.w_hh, p.b, p.h0, p.c0)[0]
        finally:
            fast_lstm._force_recurrent_product(previous)
        assert_close(f"y ({name})", outputs[name], expected, dtype, FORWARD_TOL[dtype])
    assert not np.array_equal(outputs["fused"], outputs["gemm"])


def test_a_bad_recurrent_product_name_is_refused():
    with pytest.raises(ValueError, match="name must be one of 'auto', 'fused', 'gemm', got 'blas'"):
        fast_lstm._force_recurrent_product("blas")
    assert fast_lstm._force_recurrent_product("auto") == "auto"


def every_other_element(a):
    """A view of a's values with a stride of two elements along the last axis."""
    wide = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)
    wide[..., ::2] = a
    return wide[..., ::2]


def read_only(a):
    a = a.copy()
    a.flags.writeable = False
    return a


# Each layout rewrites every array of a problem; results must equal those from C-contiguous copies.
LAYOUTS = {
    "fortran-order": lambda a: np.asfortranarray(a) if a.ndim > 1 else every_other_element(a),
    "every-other-element": every_other_element,
    "negative-strides": lambda a: np.flip(np.flip(a).copy()),
    "zero-stride-broadcast": lambda a: np.broadcast_to(a[:1], a.shape),
    "read-only": read_only,
}


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_any_memory_layout_gives_the_contiguous_result(layout, dtype):
    p = random_lstm_problem(6, 5, 17, 33, dtype, seed=8)
    views = p._make(LAYOUTS[layout](array) for array in p)
    if layout != "read-only":
        assert not any(view.flags.c_contiguous for view in views)
    contiguous = views._make(np.ascontiguousarray(view) for view in views)
    assert_all_equal(run_forward_backward(views), run_forward_backward(contiguous))


def test_transposed_time_and_batch_view_is_accepted():
    """x stored batch-major (B, T, D) and passed as its (T, B, D) transpose, as a batch_first user would."""
    p = random_lstm_problem(6, 5, 17, 33, np.float32, seed=9)
    x_view = np.ascontiguousarray(p.x.transpose(1, 0, 2)).transpose(1, 0, 2)
    assert not x_view.flags.c_contiguous
    assert_all_equal(run_forward_backward(p._replace(x=x_view)), run_forward_backward(p))


def test_big_endian_input_is_refused_or_read_correctly():
    p = random_lstm_problem(3, 2, 4, 5, np.float32, seed=10)
    swapped = p.x.astype(p.x.dtype.newbyteorder(">"))
    try:
        y, _, _, _ = fast_lstm.lstm_forward(swapped, p.w_ih, p.w_hh, p.b, p.h0, p.c0)
    except TypeError as error:
        assert re.search(r"\bx\b", str(error)), str(error)
    else:
        assert np.array_equal(y, forward(p)[0])


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_cache_records_the_forward_pass_and_can_be_reused(dtype):
    p = random_lstm_problem(5, 3, 17, 33, dtype, seed=12)
    _, _, _, cache = forward(p)
    assert cache.shape == (5, 3, 17, 33)
    assert cache.dtype == dtype
    first = fast_lstm.lstm_backward(p.dy, p.dh_n, p.dc_n, cache)
    second = fast_lstm.lstm_backward(p.dy, p.dh_n, p.dc_n, cache)
    for name, a, b in zip(GRADIENT_NAMES, first, second):
        assert np.array_equal(a, b), f"{name} differs on the second backward call"


def test_no_cache_unless_training():
    p = random_lstm_problem(3, 2, 4, 5, np.float32, seed=13)
    assert fast_lstm.lstm_forward(p.x, p.w_ih, p.w_hh, p.b)[3] is None
    assert forward(p, training=False)[3] is None
    assert forward(p, training=True)[3] is not None


def test_backward_without_cache_raises():
    p = random_lstm_problem(3, 2, 4, 5, np.float32, seed=14)
    with pytest.raises((TypeError, ValueError), match=r"\bcache\b"):
        fast_lstm.lstm_backward(p.dy, p.dh_n, p.dc_n, None)


T, B, D, H = 3, 2, 4, 5  # the sizes of the problem the bad-input cases below are cut from

# (case id, replaced arguments, expected error, regex naming the argument the message must name)
BAD_BACKWARD_INPUTS = [
    ("dy-one-step-too-many", lambda a: {"dy": np.zeros((T + 1, B, H), np.float32)}, ValueError, "dy"),
    ("dy-batch", lambda a: {"dy": np.zeros((T, B + 1, H), np.float32)}, ValueError, "dy"),
    ("dy-hidden", lambda a: {"dy": np.zeros((T, B, H + 1), np.float32)}, ValueError, "dy"),
    ("dy-rank2", lambda a: {"dy": a["dy"][0]}, ValueError, "dy"),
    ("dy-float64", lambda a: {"dy": a["dy"].astype(np.float64)}, TypeError, "dy"),
    ("dh_n-batch", lambda a: {"dh_n": np.zeros((B + 1, H), np.float32)}, ValueError, "dh_n"),
    ("dh_n-rank3", lambda a: {"dh_n": a["dh_n"][None]}, ValueError, "dh_n"),
    ("dh_n-int32", lambda a: {"dh_n": a["dh_n"].astype(np.int32)}, TypeError, "dh_n"),
    ("dc_n-hidden", lambda a: {"dc_n": np.zeros((B, H - 1), np.float32)}, ValueError, "dc_n"),
    ("dc_n-float64", lambda a: {"dc_n": a["dc_n"].astype(np.float64)}, TypeError, "dc_n"),
    ("dy-list", lambda a: {"dy": a["dy"].tolist()}, TypeError, "dy"),
]


@pytest.mark.parametrize(
    "replace, error, argument",
    [case[1:] for case in BAD_BACKWARD_INPUTS],
    ids=[case[0] for case in BAD_BACKWARD_INPUTS],
)
def test_bad_backward_input_is_refused(replace, error, argument):
    p = random_lstm_problem(T, B, D, H, np.float32, seed=15)
    _, _, _, cache = forward(p)
    arguments = {"dy": p.dy, "dh_n": p.dh_n, "dc_n": p.dc_n}
    arguments.update(replace(arguments))
    with pytest.raises(error, match=rf"\b({argument})\b"):
        fast_lstm.lstm_backward(arguments["dy"], arguments["dh_n"], arguments["dc_n"], cache)


def f32_zeros(*shape):
    return np.zeros(shape, np.float32)


# (case id, replaced arguments, expected error, regex naming the argument the message must name).
# Where two arguments disagree and either could be the one blamed, both names are accepted.
BAD_FORWARD_INPUTS = [
    # dtypes: TypeError
    ("x-int32", lambda a: {"x": a["x"].astype(np.int32)}, TypeError, "x"),
    ("x-float16", lambda a: {"x": a["x"].astype(np.float16)}, TypeError, "x"),
    ("x-complex64", lambda a: {"x": a["x"].astype(np.complex64)}, TypeError, "x"),
    ("x-bool", lambda a: {"x": a["x"] > 0}, TypeError, "x"),
    ("x-object", lambda a: {"x": a["x"].astype(object)}, TypeError, "x"),
    ("w_ih-complex128", lambda a: {"w_ih": a["w_ih"].astype(np.complex128)}, TypeError, "w_ih"),
    ("w_ih-float64-with-x-float32", lambda a: {"w_ih": a["w_ih"].astype(np.float64)}, TypeError, "w_ih"),
    ("w_hh-float64", lambda a: {"w_hh": a["w_hh"].astype(np.float64)}, TypeError, "w_hh"),
    ("b-float64", lambda a: {"b": a["b"].astype(np.float64)}, TypeError, "b"),
    ("b-int64", lambda a: {"b": a["b"].astype(np.int64)}, TypeError, "b"),
    ("h0-float64", lambda a: {"h0": a["h0"].astype(np.float64)}, TypeError, "h0"),
    ("c0-float64", lambda a: {"c0": a["c0"].astype(np.float64)}, TypeError, "c0"),
    ("x-float64-with-rest-float32", lambda a: {"x": a["x"].astype(np.float64)}, TypeError, "x|w_ih"),
    # ranks: ValueError
    ("x-rank2", lambda a: {"x": a["x"][0]}, ValueError, "x"),
    ("x-rank4", lambda a: {"x": a["x"][None]}, ValueError, "x"),
    ("w_ih-rank1", lambda a: {"w_ih": a["w_ih"].ravel()}, ValueError, "w_ih"),
    ("w_ih-rank3", lambda a: {"w_ih": a["w_ih"][None]}, ValueError, "w_ih"),
    ("w_hh-rank1", lambda a: {"w_hh": a["w_hh"].ravel()}, ValueError, "w_hh"),
    ("b-rank0", lambda a: {"b": np.array(0, np.float32)}, ValueError, "b"),
    ("b-rank2", lambda a: {"b": a["b"][:, None]}, ValueError, "b"),
    ("h0-rank1", lambda a: {"h0": a["h0"][0]}, ValueError, "h0"),
    ("h0-torch-style-rank3", lambda a: {"h0": a["h0"][None]}, ValueError, "h0"),
    ("c0-torch-style-rank3", lambda a: {"c0": a["c0"][None]}, ValueError, "c0"),
    # shapes: ValueError
    ("w_ih-D-mismatch", lambda a: {"w_ih": f32_zeros(4 * H, D + 1)}, ValueError, "w_ih"),
    ("w_ih-rows-not-4H", lambda a: {"w_ih": f32_zeros(4 * H + 1, D)}, ValueError, "w_ih"),
    ("w_hh-not-square-in-H", lambda a: {"w_hh": f32_zeros(4 * H, H + 1)}, ValueError, "w_hh"),
    ("w_hh-other-H", lambda a: {"w_hh": f32_zeros(4 * (H + 1), H + 1)}, ValueError, "w_ih|w_hh"),
    (
        "three-gate-weights",
        lambda a: {"w_ih": f32_zeros(3 * H, D), "w_hh": f32_zeros(3 * H, H), "b": f32_zeros(3 * H)},
        ValueError,
        "w_ih|w_hh",
    ),
    ("b-too-long", lambda a: {"b": f32_zeros(4 * H + 4)}, ValueError, "b"),
    ("b-too-short", lambda a: {"b": f32_zeros(4 * H - 1)}, ValueError, "b"),
    ("b-separate-ih-and-hh-biases", lambda a: {"b": f32_zeros(8 * H)}, ValueError, "b"),
    ("h0-batch", lambda a: {"h0": f32_zeros(B + 1, H)}, ValueError, "h0"),
    ("h0-hidden", lambda a: {"h0": f32_zeros(B, H + 1)}, ValueError, "h0"),
    ("c0-batch", lambda a: {"c0": f32_zeros(B - 1, H)}, ValueError, "c0"),
    ("c0-hidden", lambda a: {"c0": f32_zeros(B, H - 1)}, ValueError, "c0"),
    ("T-0", lambda a: {"x": f32_zeros(0, B, D), "h0": None, "c0": None}, ValueError, "x"),
    ("B-0", lambda a: {"x": f32_zeros(T, 0, D), "h0": None, "c0": None}, ValueError, "x"),
    # not arrays: TypeError
    ("x-None", lambda a: {"x": None}, TypeError, "x"),
    ("w_ih-None", lambda a: {"w_ih": None}, TypeError, "w_ih"),
    ("w_hh-None", lambda a: {"w_hh": None}, TypeError, "w_hh"),
    ("b-None", lambda a: {"b": None}, TypeError, "b"),
    ("x-list", lambda a: {"x": a["x"].tolist()}, TypeError, "x"),
    ("w_hh-list", lambda a: {"w_hh": a["w_hh"].tolist()}, TypeError, "w_hh"),
    ("b-list", lambda a: {"b": a["b"].tolist()}, TypeError, "b"),
    ("x-python-float", lambda a: {"x": 1.0}, TypeError, "x"),
]


@pytest.mark.parametrize(
    "replace, error, argument",
    [case[1:] for case in BAD_FORWARD_INPUTS],
    ids=[case[0] for case in BAD_FORWARD_INPUTS],
)
def test_bad_forward_input_is_refused(replace, error, argument):
    p = random_lstm_problem(T, B, D, H, np.float32, seed=16)
    arguments = {name: getattr(p, name) for name in ("x", "w_ih", "w_hh", "b", "h0", "c0")}
    arguments.update(replace(arguments))
    with pytest.raises(error, match=rf"\b({argument})\b"):
        fast_lstm.lstm_forward(**arguments, training=True)


@pytest.mark.parametrize("shape", [(3, 2, 0, 5), (3, 2, 4, 0)], ids=["D-0", "H-0"])
def test_empty_feature_sizes_work_or_are_refused(shape):
    """D = 0 or H = 0 is a degenerate but well-defined LSTM: either compute it or refuse it cleanly."""
    p = random_lstm_problem(*shape, np.float64, seed=17)
    try:
        *outputs, cache = forward(p)
    except ValueError as error:
        assert any(name in str(error) for name in ("x", "w_ih", "w_hh", "b", "h0", "c0"))
        return
    *expected_outputs, ref_cache = lstm_forward_ref(*p[:6])
    for name, actual, expected in zip(FORWARD_NAMES, outputs, expected_outputs):
        assert_close(name, actual, expected, np.float64, FORWARD_TOL[np.float64])
    gradients = fast_lstm.lstm_backward(p.dy, p.dh_n, p.dc_n, cache)
    expected_gradients = lstm_backward_ref(p.dy, p.dh_n, p.dc_n, ref_cache)
    for name, actual, expected in zip(GRADIENT_NAMES, gradients, expected_gradients):
        assert_close(name, actual, expected, np.float64, GRADIENT_TOL[np.float64])


# ---------------------------------------------------------------------------------------------
# Thread count, ISA selection, version
# ---------------------------------------------------------------------------------------------


def test_num_threads_round_trips(restore_num_threads):
    assert fast_lstm.get_num_threads() >= 1
    for n in (1, 2):
        fast_lstm.set_num_threads(n)
        assert fast_lstm.get_num_threads() == n


@pytest.mark.parametrize(
    "bad, error",
    [(0, ValueError), (-1, ValueError), ("2", TypeError), (2.5, TypeError), (None, TypeError)],
    ids=["0", "-1", "str", "float", "None"],
)
def test_set_num_threads_refuses(restore_num_threads, bad, error):
    before = fast_lstm.get_num_threads()
    with pytest.raises(error):
        fast_lstm.set_num_threads(bad)
    assert fast_lstm.get_num_threads() == before


KNOWN_ISAS = ["avx512", "avx2", "generic"]  # best first
MISSING_ISAS = [name for name in KNOWN_ISAS if name not in fast_lstm.available_isas()]


def test_available_isas_are_known_best_first_and_end_in_generic():
    available = fast_lstm.available_isas()
    assert available[-1] == "generic"
    assert available == [name for name in KNOWN_ISAS if name in available]
    assert fast_lstm.isa() in available


def test_force_isa_switches_and_returns_the_previous_one():
    start = fast_lstm.isa()
    try:
        assert fast_lstm._force_isa("generic") == start
        assert fast_lstm.isa() == "generic"
    finally:
        fast_lstm._force_isa(start)
    assert fast_lstm.isa() == start


@pytest.mark.parametrize("name", ["bogus", "", "AVX2"] + MISSING_ISAS)
def test_force_isa_refuses_unknown_or_unavailable(name):
    start = fast_lstm.isa()
    with pytest.raises(ValueError):
        fast_lstm._force_isa(name)
    assert fast_lstm.isa() == start


def run_python(code, tmp_path, **env):
    """Runs code in a fresh interpreter (from an empty directory, so the installed package is imported)."""
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("name", fast_lstm.available_isas())
def test_isa_env_var_forces_the_path_at_import(name, tmp_path):
    result = run_python("import fast_lstm; print(fast_lstm.isa())", tmp_path, FAST_LSTM_ISA=name)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == name


@pytest.mark.parametrize("value", ["bogus"] + MISSING_ISAS)
def test_isa_env_var_with_a_bad_value_is_reported(value, tmp_path):
    """Either an import error or a warning is fine, as long as it names the variable."""
    result = run_python("import fast_lstm; print(fast_lstm.isa())", tmp_path, FAST_LSTM_ISA=value)
    assert result.returncode >= 0, f"killed by signal {-result.returncode}"
    assert "FAST_LSTM_ISA" in result.stdout + result.stderr, result.stdout + result.stderr
    if result.returncode == 0:
        assert result.stdout.strip().splitlines()[-1] in fast_lstm.available_isas()


def test_version_is_a_nonempty_string():
    assert isinstance(fast_lstm.__version__, str) and fast_lstm.__version__
