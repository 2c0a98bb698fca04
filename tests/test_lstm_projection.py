"""The projection option of lstm_forward / lstm_backward (LSTMP, torch's proj_size): h_t = W_hr m_t
with m_t = o * act(c_t). Against the numpy reference (alone and with every other cell option),
torch.nn.LSTM(proj_size=P) (forward and every gradient, packed sequences too) and float64 central
finite differences, on every ISA path; bad shapes refused naming the argument."""

import re

import fast_lstm
import numpy as np
import pytest
from checks import FINITE_DIFFERENCE_TOL, FORWARD_TOL, GRADIENT_TOL, assert_close, numeric_gradient
from reference import lstm_backward_ref, lstm_forward_ref, random_projection_problem

DTYPES = [np.float32, np.float64]
# (T, B, D, H, P): P below, equal to and above H; remainders of the SIMD width and of GEMM panels.
SHAPES = [(1, 1, 1, 1, 1), (1, 3, 5, 7, 3), (4, 2, 3, 17, 5), (6, 5, 9, 33, 40), (5, 7, 8, 16, 16),
          (12, 24, 40, 72, 33)]
CELLS = {"standard": {}, "peephole": dict(peephole=True), "identity": dict(cell_activation="identity"),
         "no-forget-gate": dict(forget_gate=False), "cifg": dict(couple_input_forget=True)}


def dtype_id(dtype):
    return np.dtype(dtype).name


def kernel_options(cell, p):
    options = dict(CELLS[cell])
    if options.pop("peephole", False):
        options["peephole"] = p["peephole"]
    return options


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "T{}-B{}-D{}-H{}-P{}".format(*s))
@pytest.mark.parametrize("cell", list(CELLS))
def test_matches_reference(each_isa, each_recurrent_product, cell, shape, dtype):
    gates = 3 if cell in ("no-forget-gate", "cifg") else 4
    p = random_projection_problem(*shape, dtype, seed=sum(shape), gates=gates)
    options = kernel_options(cell, p)
    inputs = (p["x"], p["w_ih"], p["w_hh"], p["b"], p["h0"], p["c0"])
    *expected, ref_cache = lstm_forward_ref(*inputs, w_hr=p["w_hr"], **options)
    for training in (False, True):
        *outputs, cache = fast_lstm.lstm_forward(*inputs, training=training, w_hr=p["w_hr"], **options)
        for name, actual, wanted in zip(("y", "h_n", "c_n"), outputs, expected):
            assert_close(f"{name} (training={training})", actual, wanted, dtype, FORWARD_TOL[dtype])
    gradients = fast_lstm.lstm_backward(p["dy"], p["dh_n"], p["dc_n"], cache)
    wanted = lstm_backward_ref(p["dy"], p["dh_n"], p["dc_n"], ref_cache)
    names = ("dx", "dw_ih", "dw_hh", "db", "dh0", "dc0") + (("dpeephole",) if "peephole" in options else ()) + ("dw_hr",)
    assert len(gradients) == len(wanted) == len(names)
    for name, actual, expected_gradient in zip(names, gradients, wanted):
        assert_close(name, actual, expected_gradient, dtype, GRADIENT_TOL[dtype])


def test_gradients_match_finite_differences_with_lengths_mask_and_peepholes(each_isa, each_recurrent_product):
    p = random_projection_problem(4, 3, 3, 5, 2, np.float64, seed=17)
    lengths = np.array([4, 1, 3])
    mask = np.random.default_rng(2).uniform(0.5, 1.5, (3, 2))
    names = ("x", "w_ih", "w_hh", "b", "h0", "c0", "peephole", "w_hr")
    inputs = {name: p[name].copy() for name in names}

    def run(training=False):
        return fast_lstm.lstm_forward(*(inputs[n] for n in names[:6]), training=training, lengths=lengths,
                                      recurrent_mask=mask, peephole=inputs["peephole"], w_hr=inputs["w_hr"])

    def loss():
        y, h_n, c_n, _ = run()
        return float(np.sum(y * p["dy"]) + np.sum(h_n * p["dh_n"]) + np.sum(c_n * p["dc_n"]))

    gradients = fast_lstm.lstm_backward(p["dy"], p["dh_n"], p["dc_n"], run(training=True)[3])
    for name, analytic in zip(names, gradients):
        assert_close(f"d{name}", analytic, numeric_gradient(loss, inputs[name]), np.float64, FINITE_DIFFERENCE_TOL)


def test_lengths_give_each_sequence_its_own_result(each_isa):
    p = random_projection_problem(6, 4, 5, 9, 4, np.float64, seed=3)
    lengths = np.array([2, 6, 0, 4])
    y, h_n, c_n, _ = fast_lstm.lstm_forward(p["x"], p["w_ih"], p["w_hh"], p["b"], p["h0"], p["c0"],
                                            lengths=lengths, w_hr=p["w_hr"])
    for b, length in enumerate(lengths):
        if length == 0:
            np.testing.assert_array_equal(h_n[b], p["h0"][b])
            continue
        alone = fast_lstm.lstm_forward(p["x"][:length, b:b + 1], p["w_ih"], p["w_hh"], p["b"], p["h0"][b:b + 1],
                                       p["c0"][b:b + 1], w_hr=p["w_hr"])
        np.testing.assert_allclose(y[:length, b], alone[0][:, 0], rtol=1e-13, atol=1e-14)
        np.testing.assert_allclose(h_n[b], alone[1][0], rtol=1e-13, atol=1e-14)
        np.testing.assert_allclose(c_n[b], alone[2][0], rtol=1e-13, atol=1e-14)
        assert not y[length:, b].any()


@pytest.mark.filterwarnings("ignore:LSTM with projections")
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("lengths", [None, [4, 7, 1, 7, 3]], ids=["full", "packed"])
def test_matches_torch_proj_size(torch, each_isa, lengths, dtype):
    T, B, D, H, P = 7, 5, 6, 11, 4
    p = random_projection_problem(T, B, D, H, P, dtype, seed=21)
    lstm = torch.nn.LSTM(D, H, proj_size=P).to(getattr(torch, dtype_id(dtype)))
    with torch.no_grad():
        for name, key in (("weight_ih_l0", "w_ih"), ("weight_hh_l0", "w_hh"), ("bias_ih_l0", "b"),
                          ("weight_hr_l0", "w_hr")):
            getattr(lstm, name).copy_(torch.from_numpy(p[key]))
        lstm.bias_hh_l0.zero_()
    x, h0, c0 = (torch.from_numpy(p[k].copy()).requires_grad_() for k in ("x", "h0", "c0"))
    if lengths is None:
        y, (h_n, c_n) = lstm(x, (h0[None], c0[None]))
    else:
        packed = torch.nn.utils.rnn.pack_padded_sequence(x, torch.tensor(lengths), enforce_sorted=False)
        y_packed, (h_n, c_n) = lstm(packed, (h0[None], c0[None]))
        y, _ = torch.nn.utils.rnn.pad_packed_sequence(y_packed, total_length=T)
    loss = (y * torch.from_numpy(p["dy"])).sum() + (h_n[0] * torch.from_numpy(p["dh_n"])).sum()
    (loss + (c_n[0] * torch.from_numpy(p["dc_n"])).sum()).backward()

    *outputs, cache = fast_lstm.lstm_forward(p["x"], p["w_ih"], p["w_hh"], p["b"], p["h0"], p["c0"],
                                             training=True, lengths=lengths, w_hr=p["w_hr"])
    tol = {np.float32: 1e-5, np.float64: 1e-12}[dtype]
    for name, actual, wanted in zip(("y", "h_n", "c_n"), outputs, (y, h_n[0], c_n[0])):
        assert_close(name, actual, wanted.detach().numpy(), dtype, tol)
    gradients = fast_lstm.lstm_backward(p["dy"], p["dh_n"], p["dc_n"], cache)
    expected = (x.grad, lstm.weight_ih_l0.grad, lstm.weight_hh_l0.grad, lstm.bias_ih_l0.grad, h0.grad, c0.grad,
                lstm.weight_hr_l0.grad)
    for name, actual, wanted in zip(("dx", "dw_ih", "dw_hh", "db", "dh0", "dc0", "dw_hr"), gradients, expected):
        assert_close(name, actual, wanted.numpy(), dtype, {np.float32: 1e-4, np.float64: 1e-12}[dtype])


def test_one_and_two_threads_are_bitwise_equal(each_isa, each_recurrent_product, restore_num_threads):
    p = random_projection_problem(10, 24, 64, 96, 40, np.float32, seed=5)
    mask = np.random.default_rng(6).uniform(0, 2, (24, 40)).astype(np.float32)
    lengths = np.random.default_rng(7).integers(0, 11, 24)
    results = []
    for threads in (1, 2):
        fast_lstm.set_num_threads(threads)
        *outputs, cache = fast_lstm.lstm_forward(p["x"], p["w_ih"], p["w_hh"], p["b"], p["h0"], p["c0"],
                                                 training=True, lengths=lengths, recurrent_mask=mask, w_hr=p["w_hr"])
        results.append(tuple(outputs) + fast_lstm.lstm_backward(p["dy"], p["dh_n"], p["dc_n"], cache))
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


P32 = random_projection_problem(3, 2, 4, 5, 3, np.float32, seed=60)


def forward(**changes):
    arguments = {k: P32[k] for k in ("x", "w_ih", "w_hh", "b", "h0", "c0", "w_hr")}
    arguments.update(changes)
    return fast_lstm.lstm_forward(**arguments)


def backward(**changes):
    arguments = dict(dy=P32["dy"], dh_n=P32["dh_n"], dc_n=P32["dc_n"], cache=forward(training=True)[3])
    arguments.update(changes)
    return fast_lstm.lstm_backward(**arguments)


BAD_CALLS = {
    "w_hr-rank1": (lambda: forward(w_hr=P32["w_hr"][0]), ValueError, "w_hr"),
    "w_hr-empty": (lambda: forward(w_hr=np.zeros((0, 5), np.float32)), ValueError, "w_hr"),
    "w_hr-wrong-H": (lambda: forward(w_hr=np.zeros((3, 6), np.float32)), ValueError, "w_hr"),
    "w_hr-float64": (lambda: forward(w_hr=P32["w_hr"].astype(np.float64)), TypeError, "w_hr"),
    "w_hr-list": (lambda: forward(w_hr=P32["w_hr"].tolist()), TypeError, "w_hr"),
    "w_hh-H-columns": (lambda: forward(w_hh=np.zeros((20, 5), np.float32)), ValueError, "w_hh"),
    "h0-H-columns": (lambda: forward(h0=np.zeros((2, 5), np.float32)), ValueError, "h0"),
    "c0-P-columns": (lambda: forward(c0=np.zeros((2, 3), np.float32)), ValueError, "c0"),
    "mask-H-columns": (lambda: forward(recurrent_mask=np.ones((2, 5), np.float32)), ValueError, "recurrent_mask"),
    "dy-H-features": (lambda: backward(dy=np.zeros((3, 2, 5), np.float32)), ValueError, "dy"),
    "dh_n-H-features": (lambda: backward(dh_n=np.zeros((2, 5), np.float32)), ValueError, "dh_n"),
    "dc_n-P-features": (lambda: backward(dc_n=np.zeros((2, 3), np.float32)), ValueError, "dc_n"),
}


@pytest.mark.parametrize("case", list(BAD_CALLS))
def test_bad_call_is_refused_naming_the_argument(case):
    call, error, argument = BAD_CALLS[case]
    with pytest.raises(error) as raised:
        call()
    assert re.search(rf"\b{argument}\b", str(raised.value)), f"message does not name {argument}: {raised.value}"


def test_shapes_of_results():
    y, h_n, c_n, cache = forward(training=True)
    assert (y.shape, h_n.shape, c_n.shape) == ((3, 2, 3), (2, 3), (2, 5))
    shapes = [g.shape for g in fast_lstm.lstm_backward(None, None, None, cache)]
    assert shapes == [(3, 2, 4), (20, 4), (20, 3), (20,), (2, 3), (2, 5), (3, 5)]
