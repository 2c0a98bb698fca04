"""fast_lstm.PackedLSTM: weights packed once; whole-sequence inference and single steps."""

import fast_lstm
import numpy as np
import pytest
from reference import lstm_forward_ref, random_lstm_problem

DTYPES = [np.float32, np.float64]
TOL = {np.float32: 1e-5, np.float64: 1e-10}
SHAPES = [(1, 1, 1, 1), (6, 1, 17, 33), (5, 3, 64, 100), (4, 7, 3, 9)]


def dtype_id(dtype):
    return np.dtype(dtype).name


def assert_close(actual, expected, dtype):
    scale = max(1.0, float(np.abs(expected).max()))
    assert np.abs(actual - expected).max() <= TOL[dtype] * scale


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_steps_carry_state_like_the_reference(each_isa, shape, dtype):
    p = random_lstm_problem(*shape, dtype, seed=3)
    packed = fast_lstm.PackedLSTM(p.w_ih, p.w_hh, p.b)
    y_ref, h_ref, c_ref, _ = lstm_forward_ref(p.x, p.w_ih, p.w_hh, p.b, p.h0, p.c0)
    h, c = p.h0, p.c0
    for t in range(p.x.shape[0]):
        h, c = packed.step(p.x[t], h, c)
        assert h.dtype == dtype and c.dtype == dtype
        assert_close(h, y_ref[t], dtype)
    assert_close(h, h_ref, dtype)
    assert_close(c, c_ref, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_forward_is_bitwise_lstm_forward(each_isa, each_recurrent_product, shape, dtype):
    p = random_lstm_problem(*shape, dtype, seed=4)
    packed = fast_lstm.PackedLSTM(p.w_ih, p.w_hh, p.b)
    expected = fast_lstm.lstm_forward(p.x, p.w_ih, p.w_hh, p.b, p.h0, p.c0)[:3]
    for actual, wanted in zip(packed.forward(p.x, p.h0, p.c0), expected):
        assert np.array_equal(actual, wanted)
    assert np.array_equal(packed.forward(p.x)[0], fast_lstm.lstm_forward(p.x, p.w_ih, p.w_hh, p.b)[0])


def test_step_writes_into_caller_buffers_and_allows_in_place_state():
    p = random_lstm_problem(3, 2, 5, 17, np.float32, seed=5)
    packed = fast_lstm.PackedLSTM(p.w_ih, p.w_hh, p.b)
    h_new, c_new = packed.step(p.x[0], p.h0, p.c0)

    h_out, c_out = np.empty_like(p.h0), np.empty_like(p.c0)
    returned = packed.step(p.x[0], p.h0, p.c0, h_out=h_out, c_out=c_out)
    assert returned[0] is h_out and returned[1] is c_out
    assert np.array_equal(h_out, h_new) and np.array_equal(c_out, c_new)

    h, c = p.h0.copy(), p.c0.copy()  # h_out=h: the kernel must read the old h before overwriting it
    packed.step(p.x[0], h, c, h_out=h, c_out=c)
    assert np.array_equal(h, h_new) and np.array_equal(c, c_new)


def test_weights_are_copied_at_packing_time():
    p = random_lstm_problem(2, 2, 4, 5, np.float64, seed=6)
    w_hh = p.w_hh.copy()
    packed = fast_lstm.PackedLSTM(p.w_ih, w_hh, p.b)
    before = packed.forward(p.x)[0]
    w_hh[:] = 0
    assert np.array_equal(packed.forward(p.x)[0], before)


def test_properties():
    p = random_lstm_problem(2, 2, 4, 5, np.float32, seed=7)
    packed = fast_lstm.PackedLSTM(p.w_ih, p.w_hh, p.b)
    assert (packed.input_size, packed.hidden_size) == (4, 5)
    assert packed.dtype == np.float32
    assert packed.isa == fast_lstm.isa()


def _bad_step_calls():
    p = random_lstm_problem(2, 3, 4, 5, np.float32, seed=8)
    x, h, c = p.x[0], p.h0, p.c0
    return [
        ("x_t", TypeError, dict(x_t=x.astype(np.float64))),
        ("x_t", ValueError, dict(x_t=x[:, :3])),
        ("x_t", ValueError, dict(x_t=x[None])),
        ("x_t", ValueError, dict(x_t=x[:0])),
        ("x_t", TypeError, dict(x_t=None)),
        ("h", ValueError, dict(h=h[:2])),
        ("h", TypeError, dict(h=h.astype(np.float64))),
        ("c", ValueError, dict(c=c[:, :4])),
        ("c", TypeError, dict(c=[[0.0] * 5] * 3)),
        ("h_out", ValueError, dict(h_out=np.empty((3, 6), np.float32))),
        ("h_out", ValueError, dict(h_out=np.empty((5, 3), np.float32).T)),
        ("c_out", TypeError, dict(c_out=np.empty((3, 5), np.float64))),
        ("c_out", ValueError, dict(c_out=np.empty((3, 5), np.float32)[::-1])),
    ], dict(x_t=x, h=h, c=c), p


@pytest.mark.parametrize("case", range(13))
def test_bad_step_input_is_refused(case):
    cases, good, p = _bad_step_calls()
    argument, error, change = cases[case]
    packed = fast_lstm.PackedLSTM(p.w_ih, p.w_hh, p.b)
    kwargs = {**good, **change}
    with pytest.raises(error, match=rf"\b{argument}\b"):
        packed.step(kwargs.pop("x_t"), kwargs.pop("h"), kwargs.pop("c"), **kwargs)


def test_read_only_output_buffer_is_refused():
    p = random_lstm_problem(2, 3, 4, 5, np.float32, seed=9)
    packed = fast_lstm.PackedLSTM(p.w_ih, p.w_hh, p.b)
    frozen = np.empty_like(p.h0)
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="h_out"):
        packed.step(p.x[0], p.h0, p.c0, h_out=frozen)


@pytest.mark.parametrize(
    "args, error, argument",
    [
        ((np.zeros((8, 3), np.float32), np.zeros((2, 2), np.float32), np.zeros(8, np.float32)), ValueError, "w_hh"),
        ((np.zeros((8, 3), np.float32), np.zeros((8, 2), np.float64), np.zeros(8, np.float32)), TypeError, "w_hh"),
        ((np.zeros((7, 3), np.float32), np.zeros((8, 2), np.float32), np.zeros(8, np.float32)), ValueError, "w_ih"),
        ((np.zeros((8, 3), np.int32), np.zeros((8, 2), np.float32), np.zeros(8, np.float32)), TypeError, "w_ih"),
        ((np.zeros((8, 3), np.float32), np.zeros((8, 2), np.float32), np.zeros(4, np.float32)), ValueError, "b"),
    ],
)
def test_bad_weights_are_refused(args, error, argument):
    with pytest.raises(error, match=rf"\b{argument}\b"):
        fast_lstm.PackedLSTM(*args)


def test_forward_refuses_other_input_sizes():
    p = random_lstm_problem(2, 3, 4, 5, np.float32, seed=10)
    packed = fast_lstm.PackedLSTM(p.w_ih, p.w_hh, p.b)
    with pytest.raises(ValueError, match=r"\bx\b"):
        packed.forward(p.x[:, :, :3])
