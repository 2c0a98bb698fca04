"""recurrence='cell' in lstm_forward / lstm_backward: the gates read c_{t-1} through W_hh in place
of h_{t-1} (the cell-state recurrence form of the peephole LSTM). Against the numpy reference (with
every other cell option), the textbook equations written out step by step, float64 central
finite differences and per-sequence runs, on every ISA path; impossible combinations refused."""

import fast_lstm
import numpy as np
import pytest
from checks import FINITE_DIFFERENCE_TOL, FORWARD_TOL, GRADIENT_TOL, assert_close, numeric_gradient
from reference import (lstm_backward_ref, lstm_forward_ref, lstm_loss, random_lstm_problem, sigmoid,
                       three_gate_problem)

DTYPES = [np.float32, np.float64]
SHAPES = [(1, 1, 1, 1), (1, 3, 5, 7), (4, 2, 3, 17), (6, 5, 9, 33), (12, 24, 40, 72)]
CELLS = {"standard": {}, "peephole": dict(peephole=True), "identity": dict(cell_activation="identity"),
         "no-forget-gate": dict(forget_gate=False), "cifg": dict(couple_input_forget=True)}


def dtype_id(dtype):
    return np.dtype(dtype).name


def options_for(cell, H, dtype):
    options = dict(CELLS[cell])
    if options.pop("peephole", False):
        options["peephole"] = np.random.default_rng(1).uniform(-0.5, 0.5, (3, H)).astype(dtype)
    return options


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "T{}-B{}-D{}-H{}".format(*s))
@pytest.mark.parametrize("cell", list(CELLS))
def test_matches_reference(each_isa, each_recurrent_product, cell, shape, dtype):
    p = random_lstm_problem(*shape, dtype, seed=sum(shape))
    if cell in ("no-forget-gate", "cifg"):
        p = three_gate_problem(p)
    options = options_for(cell, shape[3], dtype)
    *expected, ref_cache = lstm_forward_ref(*p[:6], recurrence="cell", **options)
    for training in (False, True):
        *outputs, cache = fast_lstm.lstm_forward(*p[:6], training=training, recurrence="cell", **options)
        for name, actual, wanted in zip(("y", "h_n", "c_n"), outputs, expected):
            assert_close(f"{name} (training={training})", actual, wanted, dtype, FORWARD_TOL[dtype])
    gradients = fast_lstm.lstm_backward(p.dy, p.dh_n, p.dc_n, cache)
    wanted = lstm_backward_ref(p.dy, p.dh_n, p.dc_n, ref_cache)
    names = ("dx", "dw_ih", "dw_hh", "db", "dh0", "dc0", "dpeephole")
    assert len(gradients) == len(wanted)
    for name, actual, expected_gradient in zip(names, gradients, wanted):
        assert_close(name, actual, expected_gradient, dtype, GRADIENT_TOL[dtype])


def test_textbook_equations_with_zero_g_rows(each_isa):
    """i = sigmoid(W_i x_t + U_i c_{t-1} + b_i), likewise f and o; c_t = f c_{t-1} + i tanh(W_c x_t + b_c);
    h_t = o tanh(c_t), written out independently of the reference."""
    T, B, D, H = 5, 3, 4, 6
    p = random_lstm_problem(T, B, D, H, np.float64, seed=9)
    w_hh = p.w_hh.copy()
    w_hh[2 * H:3 * H] = 0.0  # no recurrent term in the cell input
    y, h_n, c_n, _ = fast_lstm.lstm_forward(p.x, p.w_ih, w_hh, p.b, p.h0, p.c0, recurrence="cell")
    W = np.split(p.w_ih, 4)
    U = np.split(p.w_hh, 4)
    b = np.split(p.b, 4)
    c = p.c0
    for t in range(T):
        i = sigmoid(p.x[t] @ W[0].T + c @ U[0].T + b[0])
        f = sigmoid(p.x[t] @ W[1].T + c @ U[1].T + b[1])
        o = sigmoid(p.x[t] @ W[3].T + c @ U[3].T + b[3])
        c = f * c + i * np.tanh(p.x[t] @ W[2].T + b[2])
        np.testing.assert_allclose(y[t], o * np.tanh(c), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(c_n, c, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(h_n, y[-1], rtol=0, atol=0)


def test_gradients_match_finite_differences_with_lengths_and_peepholes(each_isa, each_recurrent_product):
    p = random_lstm_problem(4, 3, 3, 5, np.float64, seed=17)
    lengths = np.array([4, 0, 3])
    inputs = [a.copy() for a in p[:6]] + [np.random.default_rng(2).uniform(-0.5, 0.5, (3, 5))]

    def run(training=False):
        return fast_lstm.lstm_forward(*inputs[:6], training=training, lengths=lengths, peephole=inputs[6],
                                      recurrence="cell")

    def loss():
        y, h_n, c_n, _ = run()
        return lstm_loss(y, h_n, c_n, p)

    gradients = fast_lstm.lstm_backward(p.dy, p.dh_n, p.dc_n, run(training=True)[3])
    for position, (name, analytic) in enumerate(zip(("dx", "dw_ih", "dw_hh", "db", "dh0", "dc0", "dpeephole"),
                                                    gradients)):
        assert_close(name, analytic, numeric_gradient(loss, inputs[position]), np.float64, FINITE_DIFFERENCE_TOL)
    # h0 is read only as the state of the empty sequence.
    assert not gradients[4][[0, 2]].any() and gradients[4][1].any()


def test_lengths_give_each_sequence_its_own_result(each_isa):
    p = random_lstm_problem(6, 4, 5, 9, np.float64, seed=3)
    lengths = np.array([2, 6, 0, 4])
    y, h_n, c_n, _ = fast_lstm.lstm_forward(*p[:6], lengths=lengths, recurrence="cell")
    for b, length in enumerate(lengths):
        if length == 0:
            np.testing.assert_array_equal(c_n[b], p.c0[b])
            continue
        alone = fast_lstm.lstm_forward(p.x[:length, b:b + 1], p.w_ih, p.w_hh, p.b, p.h0[b:b + 1], p.c0[b:b + 1],
                                       recurrence="cell")
        np.testing.assert_allclose(y[:length, b], alone[0][:, 0], rtol=1e-13, atol=1e-14)
        np.testing.assert_allclose(c_n[b], alone[2][0], rtol=1e-13, atol=1e-14)


def test_one_and_two_threads_are_bitwise_equal(each_isa, each_recurrent_product, restore_num_threads):
    p = random_lstm_problem(10, 24, 64, 96, np.float32, seed=5)
    lengths = np.random.default_rng(7).integers(0, 11, 24)
    results = []
    for threads in (1, 2):
        fast_lstm.set_num_threads(threads)
        *outputs, cache = fast_lstm.lstm_forward(*p[:6], training=True, lengths=lengths, recurrence="cell")
        results.append(tuple(outputs) + fast_lstm.lstm_backward(p.dy, p.dh_n, p.dc_n, cache))
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


P = random_lstm_problem(3, 2, 4, 5, np.float32, seed=60)


@pytest.mark.parametrize("changes, error, message", [
    (dict(recurrence="cells"), ValueError, "recurrence"),
    (dict(recurrence=1), TypeError, "recurrence"),
    (dict(recurrence="cell", w_hr=np.zeros((2, 5), np.float32), w_hh=np.zeros((20, 2), np.float32)), ValueError,
     "w_hr"),
    (dict(recurrence="cell", recurrent_mask=np.ones((2, 5), np.float32)), ValueError, "recurrent_mask"),
])
def test_impossible_combinations_are_refused(changes, error, message):
    arguments = dict(zip(("x", "w_ih", "w_hh", "b", "h0", "c0"), P[:6]))
    arguments.update(changes)
    with pytest.raises(error, match=message):
        fast_lstm.lstm_forward(**arguments)
