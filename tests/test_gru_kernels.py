"""gru_forward / gru_backward: against the numpy reference (reference_gru.py), torch.nn.GRU
(forward and every gradient, with and without packed variable-length sequences) and float64
central finite differences, on every ISA path; and bad input refused naming the argument."""

import re

import fast_lstm
import numpy as np
import pytest
from checks import FINITE_DIFFERENCE_TOL, FORWARD_TOL, GRADIENT_TOL, assert_close, numeric_gradient
from numpy.lib.stride_tricks import as_strided
from reference_gru import gru_backward_ref, gru_forward_ref, gru_loss, random_gru_problem

DTYPES = [np.float32, np.float64]
GRADIENT_NAMES = ("dx", "dw_ih", "dw_hh", "db_ih", "db_hh", "dh0")
# (T, B, D, H): one step, odd unit counts that leave SIMD remainders (and row remainders of the
# 3-row tile), D != H, a single unit, and a batch big enough for two threads.
SHAPES = [(1, 1, 1, 1), (1, 3, 5, 7), (4, 2, 3, 17), (6, 5, 9, 33), (3, 7, 4, 8), (12, 24, 40, 72)]


def dtype_id(dtype):
    return np.dtype(dtype).name


def run(p, training=True, **options):
    y, h_n, cache = fast_lstm.gru_forward(p.x, p.w_ih, p.w_hh, p.b_ih, p.b_hh, p.h0, training=training, **options)
    return y, h_n, cache


def check_against_reference(p, dtype, **options):
    y_ref, h_ref, ref_cache = gru_forward_ref(*p[:6], **options)
    for training in (False, True):
        y, h_n, cache = run(p, training=training, **options)
        assert_close(f"y (training={training})", y, y_ref, dtype, FORWARD_TOL[dtype])
        assert_close(f"h_n (training={training})", h_n, h_ref, dtype, FORWARD_TOL[dtype])
    gradients = fast_lstm.gru_backward(p.dy, p.dh_n, cache)
    expected = gru_backward_ref(p.dy, p.dh_n, ref_cache)
    assert len(gradients) == 6
    for name, actual, wanted in zip(GRADIENT_NAMES, gradients, expected):
        assert_close(name, actual, wanted, dtype, GRADIENT_TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "T{}-B{}-D{}-H{}".format(*s))
def test_matches_reference(each_isa, shape, dtype):
    check_against_reference(random_gru_problem(*shape, dtype, seed=sum(shape)), dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("lengths", [[4, 2, 5, 0, 5], [1, 1, 1, 1, 1], [5, 5, 5, 5, 5], [0, 0, 0, 0, 0]],
                         ids=["unsorted-with-empty", "all-one", "all-full", "all-empty"])
def test_lengths_and_mask_match_reference(each_isa, lengths, dtype):
    p = random_gru_problem(5, 5, 6, 19, dtype, seed=3)
    mask = (np.random.default_rng(4).random((5, 19)) > 0.3).astype(dtype) / dtype(0.7)
    check_against_reference(p, dtype, lengths=np.array(lengths))
    check_against_reference(p, dtype, recurrent_mask=mask)
    check_against_reference(p, dtype, lengths=np.array(lengths), recurrent_mask=mask)


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_gate_gradient_rows_spread_match_reference(each_isa, restore_num_threads, dtype):
    """3H a multiple of 2 KB (6 KB rows here): the backward's dG_x and dG_h rows get a wider
    stride (spread_row_stride), which the step kernel and the dh, dW and dx GEMMs all follow."""
    H = 6144 // (3 * np.dtype(dtype).itemsize)  # 3H * itemsize = 6 KB: H = 512 float32s, 256 float64s
    p = random_gru_problem(3, 13, 40, H, dtype, seed=H)
    fast_lstm.set_num_threads(1)
    check_against_reference(p, dtype)
    check_against_reference(p, dtype, lengths=np.array([3, 1, 0, 2, 3, 3, 1, 2, 2, 3, 0, 1, 3]))
    one = fast_lstm.gru_backward(p.dy, p.dh_n, run(p)[2])
    fast_lstm.set_num_threads(2)
    for name, a, b in zip(GRADIENT_NAMES, one, fast_lstm.gru_backward(p.dy, p.dh_n, run(p)[2])):
        np.testing.assert_array_equal(a, b, err_msg=name)


def test_gradients_match_finite_differences(each_isa):
    p = random_gru_problem(4, 3, 3, 5, np.float64, seed=17)
    options = dict(lengths=np.array([4, 2, 3]), recurrent_mask=np.random.default_rng(1).uniform(0.5, 1.5, (3, 5)))
    inputs = [a.copy() for a in p[:6]]

    def loss():
        y, h_n, _ = fast_lstm.gru_forward(*inputs, **options)
        return gru_loss(y, h_n, p)

    _, _, cache = fast_lstm.gru_forward(*inputs, training=True, **options)
    for position, (name, analytic) in enumerate(zip(GRADIENT_NAMES, fast_lstm.gru_backward(p.dy, p.dh_n, cache))):
        assert_close(name, analytic, numeric_gradient(loss, inputs[position]), np.float64, FINITE_DIFFERENCE_TOL)


def torch_gru(torch, p, dtype, lengths=None):
    """torch.nn.GRU on p (optionally packed): outputs and the gradients of the test loss, as numpy."""
    T, B, D = p.x.shape
    H = p.h0.shape[1]
    gru = torch.nn.GRU(D, H).to(getattr(torch, dtype_id(dtype)))
    with torch.no_grad():
        for name, value in zip(("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"), p[1:5]):
            getattr(gru, name).copy_(torch.from_numpy(value))
    x = torch.from_numpy(p.x.copy()).requires_grad_()
    h0 = torch.from_numpy(p.h0.copy())[None].requires_grad_()
    if lengths is None:
        y, h_n = gru(x, h0)
    else:
        packed = torch.nn.utils.rnn.pack_padded_sequence(x, torch.tensor(lengths), enforce_sorted=False)
        y_packed, h_n = gru(packed, h0)
        y, _ = torch.nn.utils.rnn.pad_packed_sequence(y_packed, total_length=T)
    ((y * torch.from_numpy(p.dy)).sum() + (h_n[0] * torch.from_numpy(p.dh_n)).sum()).backward()
    grads = (x.grad, gru.weight_ih_l0.grad, gru.weight_hh_l0.grad, gru.bias_ih_l0.grad, gru.bias_hh_l0.grad, h0.grad[0])
    return (y.detach().numpy(), h_n[0].detach().numpy()), [g.numpy() for g in grads]


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("shape, lengths", [((9, 4, 10, 20), None), ((1, 2, 3, 4), None), ((7, 5, 6, 11), [4, 7, 1, 7, 3])],
                         ids=["full", "one-step", "packed"])
def test_matches_torch_gru(torch, each_isa, shape, lengths, dtype):
    p = random_gru_problem(*shape, dtype, seed=21)
    expected_outputs, expected_grads = torch_gru(torch, p, dtype, lengths)
    y, h_n, cache = run(p, lengths=lengths)
    tol = {np.float32: 1e-5, np.float64: 1e-12}[dtype]
    for name, actual, wanted in zip(("y", "h_n"), (y, h_n), expected_outputs):
        assert_close(name, actual, wanted, dtype, tol)
    gradients = fast_lstm.gru_backward(p.dy, p.dh_n, cache)
    for name, actual, wanted in zip(GRADIENT_NAMES, gradients, expected_grads):
        assert_close(name, actual, wanted, dtype, {np.float32: 1e-4, np.float64: 1e-12}[dtype])


def test_one_and_two_threads_are_bitwise_equal(each_isa, restore_num_threads):
    p = random_gru_problem(10, 24, 64, 96, np.float32, seed=5)
    mask = np.random.default_rng(6).uniform(0, 2, (24, 96)).astype(np.float32)
    lengths = np.random.default_rng(7).integers(0, 11, 24)
    results = []
    for threads in (1, 2):
        fast_lstm.set_num_threads(threads)
        y, h_n, cache = run(p, lengths=lengths, recurrent_mask=mask)
        results.append((y, h_n) + fast_lstm.gru_backward(p.dy, p.dh_n, cache))
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_none_upstream_gradients_are_zeros_and_cache_is_reusable(each_isa):
    p = random_gru_problem(3, 2, 4, 6, np.float64, seed=8)
    _, _, cache = run(p)
    zeros = fast_lstm.gru_backward(np.zeros_like(p.dy), np.zeros_like(p.dh_n), cache)
    for a, b in zip(fast_lstm.gru_backward(None, None, cache), zeros):
        np.testing.assert_array_equal(a, b)
    first = fast_lstm.gru_backward(p.dy, p.dh_n, cache)
    for a, b in zip(first, fast_lstm.gru_backward(p.dy, p.dh_n, cache)):
        np.testing.assert_array_equal(a, b)
    assert repr(cache) == "<GruCache T=3 B=2 D=4 H=6 float64>" and cache.shape == (3, 2, 4, 6)


def test_strided_inputs_give_the_contiguous_result_and_are_not_written(each_isa):
    p = random_gru_problem(4, 3, 5, 9, np.float32, seed=9)
    strided = [np.asfortranarray(a) for a in p[:6]]
    for a in strided:
        a.flags.writeable = False
    expected = run(p, training=False)[:2]
    y, h_n, _ = fast_lstm.gru_forward(*strided)
    np.testing.assert_array_equal(y, expected[0])
    np.testing.assert_array_equal(h_n, expected[1])


def test_nan_in_one_sequence_stays_in_that_sequence(each_isa):
    p = random_gru_problem(4, 3, 5, 9, np.float64, seed=10)
    x = p.x.copy()
    x[1, 2, 0] = np.nan
    y, h_n, _ = fast_lstm.gru_forward(x, *p[1:6])
    y_ref, h_ref, _ = gru_forward_ref(x, *p[1:6])
    assert np.isnan(y[1:, 2]).all() and not np.isnan(y[:, :2]).any() and not np.isnan(y[0]).any()
    assert_close("y", y, y_ref, np.float64, FORWARD_TOL[np.float64])
    assert_close("h_n", h_n, h_ref, np.float64, FORWARD_TOL[np.float64])


# ---- bad input: refused before any work, naming the argument
T, B, D, H = 3, 2, 4, 5
P = random_gru_problem(T, B, D, H, np.float32, seed=60)


def forward(**changes):
    arguments = dict(zip(("x", "w_ih", "w_hh", "b_ih", "b_hh", "h0"), P[:6]))
    arguments.update(changes)
    return fast_lstm.gru_forward(**arguments)


def backward(**changes):
    arguments = dict(dy=P.dy, dh_n=P.dh_n, cache=forward(training=True)[2])
    arguments.update(changes)
    return fast_lstm.gru_backward(**arguments)


def huge(shape):
    return as_strided(np.zeros(1, np.float32), shape=shape, strides=(0,) * len(shape))


LSTM_CACHE = fast_lstm.lstm_forward(np.zeros((1, 1, 1), np.float32), np.zeros((4, 1), np.float32),
                                    np.zeros((4, 1), np.float32), np.zeros(4, np.float32), training=True)[3]

BAD_CALLS = {
    "x-int": (lambda: forward(x=P.x.astype(np.int32)), TypeError, "x"),
    "x-list": (lambda: forward(x=P.x.tolist()), TypeError, "x"),
    "x-rank2": (lambda: forward(x=P.x[0]), ValueError, "x"),
    "x-empty-T": (lambda: forward(x=P.x[:0]), ValueError, "x"),
    "x-wrong-D": (lambda: forward(x=P.x[:, :, :3]), ValueError, "w_ih"),
    "w_ih-float64": (lambda: forward(w_ih=P.w_ih.astype(np.float64)), TypeError, "w_ih"),
    "w_ih-4-gates": (lambda: forward(w_ih=np.zeros((4 * H, D), np.float32)), ValueError, "w_ih"),
    "w_ih-w_hh-disagree": (lambda: forward(w_ih=np.zeros((3 * (H + 1), D), np.float32)), ValueError, "w_hh"),
    "w_ih-not-3H": (lambda: forward(w_ih=np.zeros((3 * H + 1, D), np.float32)), ValueError, "w_ih"),
    "w_hh-shape": (lambda: forward(w_hh=P.w_hh[:, :-1]), ValueError, "w_hh"),
    "b_ih-shape": (lambda: forward(b_ih=P.b_ih[:-1]), ValueError, "b_ih"),
    "b_hh-shape": (lambda: forward(b_hh=np.zeros((3 * H, 1), np.float32)), ValueError, "b_hh"),
    "b_hh-float64": (lambda: forward(b_hh=P.b_hh.astype(np.float64)), TypeError, "b_hh"),
    "b_hh-None": (lambda: forward(b_hh=None), TypeError, "b_hh"),
    "h0-shape": (lambda: forward(h0=P.h0.T.copy()), ValueError, "h0"),
    "h0-dtype": (lambda: forward(h0=P.h0.astype(np.float64)), TypeError, "h0"),
    "lengths-too-long": (lambda: forward(lengths=[T + 1, 1]), ValueError, "lengths"),
    "lengths-negative": (lambda: forward(lengths=[-1, 1]), ValueError, "lengths"),
    "lengths-float": (lambda: forward(lengths=[1.0, 1.0]), TypeError, "lengths"),
    "mask-shape": (lambda: forward(recurrent_mask=np.ones((B, H + 1), np.float32)), ValueError, "recurrent_mask"),
    "huge-T": (lambda: forward(x=huge((2**40, B, D))), ValueError, "x|T="),
    "huge-H": (lambda: forward(w_ih=huge((3 * 2**21, D)), w_hh=huge((3 * 2**21, 2**21)),
                               b_ih=huge((3 * 2**21,)), b_hh=huge((3 * 2**21,)), h0=None), ValueError, "w_ih|H="),
    "bwd-cache-None": (lambda: backward(cache=None), TypeError, "cache"),
    "bwd-lstm-cache": (lambda: backward(cache=LSTM_CACHE), TypeError, "cache"),
    "bwd-dy-shape": (lambda: backward(dy=P.dy[:-1]), ValueError, "dy"),
    "bwd-dy-dtype": (lambda: backward(dy=P.dy.astype(np.float64)), TypeError, "dy"),
    "bwd-dh_n-shape": (lambda: backward(dh_n=P.dh_n[:, :-1]), ValueError, "dh_n"),
    "lstm-backward-gru-cache": (lambda: fast_lstm.lstm_backward(None, None, None, forward(training=True)[2]),
                                TypeError, "cache"),
}


@pytest.mark.parametrize("case", list(BAD_CALLS))
def test_bad_call_is_refused_naming_the_argument(case):
    call, error, argument = BAD_CALLS[case]
    with pytest.raises(error) as raised:
        call()
    assert re.search(rf"\b({argument})", str(raised.value)), f"message does not name {argument}: {raised.value}"
