"""Cell variants of lstm_forward / lstm_backward: peephole connections, the identity output
activation, the 1997 cell without forget gate and the coupled input-forget gate (CIFG), against
the numpy reference, finite differences and (peepholes) ONNX Runtime."""

import fast_lstm
import numpy as np
import pytest
from checks import FINITE_DIFFERENCE_TOL, FORWARD_TOL, GRADIENT_TOL, assert_close, numeric_gradient
from reference import lstm_backward_ref, lstm_forward_ref, lstm_loss, random_lstm_problem
from reference import three_gate_problem

DTYPES = [np.float32, np.float64]
GRADIENT_NAMES = ("dx", "dw_ih", "dw_hh", "db", "dh0", "dc0", "dpeephole")
# (T, B, D, H): one step of a few rows (the unpacked single-step path for the standard cell),
# odd unit counts that leave SIMD remainders, and a batch big enough for two threads.
SHAPES = [(1, 3, 5, 7), (4, 2, 3, 17), (6, 5, 9, 33), (12, 24, 40, 72)]
VARIANTS = {
    "peephole": dict(peephole=True, identity=False),
    "identity": dict(peephole=False, identity=True),
    "peephole+identity": dict(peephole=True, identity=True),
}


# The 3-gate cells (weights i, g, o): forget_gate=False, and couple_input_forget=True.
THREE_GATE_CELLS = {"no-forget-gate": dict(forget_gate=False), "cifg": dict(couple_input_forget=True)}


def peephole_weights(H, dtype, seed):
    return np.random.default_rng(seed).uniform(-0.5, 0.5, (3, H)).astype(dtype)


def run(p, peephole, identity, training=True, **options):
    activation = "identity" if identity else "tanh"
    y, h_n, c_n, cache = fast_lstm.lstm_forward(
        *p[:6], training=training, peephole=peephole, cell_activation=activation, **options
    )
    return (y, h_n, c_n), cache


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "T{}-B{}-D{}-H{}".format(*s))
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_variants_match_reference(each_isa, each_recurrent_product, variant, shape, dtype):
    options = VARIANTS[variant]
    p = random_lstm_problem(*shape, dtype, seed=sum(shape))
    peephole = peephole_weights(shape[3], dtype, seed=1) if options["peephole"] else None
    *expected, ref_cache = lstm_forward_ref(*p[:6], peephole=peephole, identity_output=options["identity"])
    for training in (False, True):
        outputs, cache = run(p, peephole, options["identity"], training=training)
        for name, actual, wanted in zip(("y", "h_n", "c_n"), outputs, expected):
            assert_close(f"{name} (training={training})", actual, wanted, dtype, FORWARD_TOL[dtype])
    gradients = fast_lstm.lstm_backward(p.dy, p.dh_n, p.dc_n, cache)
    expected_gradients = lstm_backward_ref(p.dy, p.dh_n, p.dc_n, ref_cache)
    assert len(gradients) == len(expected_gradients) == (7 if options["peephole"] else 6)
    for name, actual, wanted in zip(GRADIENT_NAMES, gradients, expected_gradients):
        assert_close(name, actual, wanted, dtype, GRADIENT_TOL[dtype])


def test_zero_peepholes_and_tanh_are_the_standard_cell(each_isa):
    p = random_lstm_problem(5, 3, 4, 9, np.float64, seed=3)
    standard, standard_cache = run(p, None, False)
    zero, zero_cache = run(p, np.zeros((3, 9)), False)
    for a, b in zip(standard, zero):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(fast_lstm.lstm_backward(p.dy, p.dh_n, p.dc_n, standard_cache),
                    fast_lstm.lstm_backward(p.dy, p.dh_n, p.dc_n, zero_cache)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_variant_gradients_match_finite_differences(each_isa, each_recurrent_product, variant):
    options = VARIANTS[variant]
    p = random_lstm_problem(4, 3, 3, 5, np.float64, seed=17)
    lengths = np.array([4, 2, 3])
    inputs = [a.copy() for a in p[:6]] + [peephole_weights(5, np.float64, seed=2)]
    keywords = dict(lengths=lengths, cell_activation="identity" if options["identity"] else "tanh")

    def loss():
        peephole = inputs[6] if options["peephole"] else None
        y, h_n, c_n, _ = fast_lstm.lstm_forward(*inputs[:6], peephole=peephole, **keywords)
        return lstm_loss(y, h_n, c_n, p)

    peephole = inputs[6] if options["peephole"] else None
    _, _, _, cache = fast_lstm.lstm_forward(*inputs[:6], training=True, peephole=peephole, **keywords)
    gradients = fast_lstm.lstm_backward(p.dy, p.dh_n, p.dc_n, cache)
    for position, (name, analytic) in enumerate(zip(GRADIENT_NAMES, gradients)):
        numeric = numeric_gradient(loss, inputs[position])
        assert_close(name, analytic, numeric, np.float64, FINITE_DIFFERENCE_TOL)


def test_one_and_two_threads_are_bitwise_equal_with_peepholes(each_isa, each_recurrent_product, restore_num_threads):
    p = random_lstm_problem(10, 24, 64, 96, np.float32, seed=5)
    peephole = peephole_weights(96, np.float32, seed=6)
    results = []
    for threads in (1, 2):
        fast_lstm.set_num_threads(threads)
        outputs, cache = run(p, peephole, True)
        results.append(outputs + fast_lstm.lstm_backward(p.dy, p.dh_n, p.dc_n, cache))
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def onnx_peephole_lstm(p, peephole):
    """ONNX Runtime's LSTM operator with input P; ONNX orders gates i, o, f, c and peepholes i, o, f."""
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from onnx import TensorProto, checker, helper, numpy_helper

    T, B, D = p.x.shape
    H = p.w_hh.shape[1]

    def to_iofc(a):
        i, f, g, o = np.split(a, 4, axis=0)
        return np.ascontiguousarray(np.concatenate([i, o, f, g], axis=0))

    p_i, p_f, p_o = peephole
    initializers = [
        numpy_helper.from_array(to_iofc(p.w_ih)[None], "W"),
        numpy_helper.from_array(to_iofc(p.w_hh)[None], "R"),
        numpy_helper.from_array(np.concatenate([to_iofc(p.b), np.zeros_like(p.b)])[None], "B"),
        numpy_helper.from_array(np.concatenate([p_i, p_o, p_f])[None], "P"),
    ]
    f32 = TensorProto.FLOAT
    node = helper.make_node("LSTM", ["X", "W", "R", "B", "", "initial_h", "initial_c", "P"], ["Y", "Y_h", "Y_c"],
                            hidden_size=H)
    graph = helper.make_graph(
        [node], "peephole_lstm",
        inputs=[helper.make_tensor_value_info("X", f32, [T, B, D]),
                helper.make_tensor_value_info("initial_h", f32, [1, B, H]),
                helper.make_tensor_value_info("initial_c", f32, [1, B, H])],
        outputs=[helper.make_tensor_value_info("Y", f32, [T, 1, B, H]),
                 helper.make_tensor_value_info("Y_h", f32, [1, B, H]),
                 helper.make_tensor_value_info("Y_c", f32, [1, B, H])],
        initializer=initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    checker.check_model(model)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    y, h_n, c_n = session.run(None, {"X": p.x, "initial_h": p.h0[None], "initial_c": p.c0[None]})
    return y[:, 0], h_n[0], c_n[0]


def test_peephole_forward_matches_onnx_runtime(each_isa):
    p = random_lstm_problem(8, 4, 6, 13, np.float32, seed=9)
    peephole = peephole_weights(13, np.float32, seed=10)
    expected = onnx_peephole_lstm(p, peephole)
    outputs, _ = run(p, peephole, False, training=False)
    for name, actual, wanted in zip(("y", "h_n", "c_n"), outputs, expected):
        assert_close(name, actual, wanted, np.float32, 1e-5)


@pytest.mark.parametrize("identity", [False, True], ids=["tanh", "identity"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "T{}-B{}-D{}-H{}".format(*s))
@pytest.mark.parametrize("cell", list(THREE_GATE_CELLS))
def test_three_gate_cells_match_reference(each_isa, cell, shape, dtype, identity):
    options = THREE_GATE_CELLS[cell]
    p = three_gate_problem(random_lstm_problem(*shape, dtype, seed=sum(shape) + 1))
    activation = "identity" if identity else "tanh"
    *expected, ref_cache = lstm_forward_ref(*p[:6], identity_output=identity, **options)
    for training in (False, True):
        *outputs, cache = fast_lstm.lstm_forward(*p[:6], training=training, cell_activation=activation, **options)
        for name, actual, wanted in zip(("y", "h_n", "c_n"), outputs, expected):
            assert_close(f"{name} (training={training})", actual, wanted, dtype, FORWARD_TOL[dtype])
    gradients = fast_lstm.lstm_backward(p.dy, p.dh_n, p.dc_n, cache)
    expected_gradients = lstm_backward_ref(p.dy, p.dh_n, p.dc_n, ref_cache)
    assert gradients[1].shape == p.w_ih.shape and gradients[3].shape == p.b.shape
    for name, actual, wanted in zip(GRADIENT_NAMES, gradients, expected_gradients):
        assert_close(name, actual, wanted, dtype, GRADIENT_TOL[dtype])


def test_the_1997_cell_is_a_standard_cell_with_its_forget_gate_held_open(each_isa):
    """forget_gate=False against the standard kernel with f rows of zero weights and a bias of
    1000, where sigmoid is exactly 1: the two must agree (the gradients of the shared gates too)."""
    p = random_lstm_problem(6, 3, 5, 9, np.float64, seed=41)
    H = 9
    open_gate = p._replace(w_ih=p.w_ih.copy(), w_hh=p.w_hh.copy(), b=p.b.copy())
    open_gate.w_ih[H:2 * H] = 0.0
    open_gate.w_hh[H:2 * H] = 0.0
    open_gate.b[H:2 * H] = 1000.0
    *standard, standard_cache = fast_lstm.lstm_forward(*open_gate[:6], training=True)
    *cell_1997, cache_1997 = fast_lstm.lstm_forward(*three_gate_problem(p)[:6], training=True, forget_gate=False)
    for name, a, b in zip(("y", "h_n", "c_n"), standard, cell_1997):
        assert_close(name, b, a, np.float64, 1e-12)
    keep = np.r_[0:H, 2 * H : 4 * H]
    expected = fast_lstm.lstm_backward(p.dy, p.dh_n, p.dc_n, standard_cache)
    got = fast_lstm.lstm_backward(p.dy, p.dh_n, p.dc_n, cache_1997)
    for name, a, b in zip(GRADIENT_NAMES, expected, got):
        assert_close(name, b, a[keep] if name in ("dw_ih", "dw_hh", "db") else a, np.float64, 1e-12)


@pytest.mark.parametrize("cell", list(THREE_GATE_CELLS))
def test_three_gate_gradients_match_finite_differences(each_isa, cell):
    options = THREE_GATE_CELLS[cell]
    p = three_gate_problem(random_lstm_problem(4, 3, 3, 5, np.float64, seed=19))
    lengths = np.array([3, 4, 1])
    inputs = [a.copy() for a in p[:6]]

    def loss():
        y, h_n, c_n, _ = fast_lstm.lstm_forward(*inputs, lengths=lengths, **options)
        return lstm_loss(y, h_n, c_n, p)

    _, _, _, cache = fast_lstm.lstm_forward(*inputs, training=True, lengths=lengths, **options)
    gradients = fast_lstm.lstm_backward(p.dy, p.dh_n, p.dc_n, cache)
    for position, (name, analytic) in enumerate(zip(GRADIENT_NAMES, gradients)):
        numeric = numeric_gradient(loss, inputs[position])
        assert_close(name, analytic, numeric, np.float64, FINITE_DIFFERENCE_TOL)


@pytest.mark.parametrize(
    "keywords, error, message",
    [
        (dict(forget_gate=False, couple_input_forget=True), ValueError, "couple_input_forget=True needs forget_gate=True"),
        (dict(forget_gate=False, peephole=np.zeros((3, 3))), ValueError, "peephole is only supported with a forget gate"),
        (dict(couple_input_forget=True), ValueError, r"w_hh must have shape \(3\*H, H\) \(gates i, g, o"),
        (dict(forget_gate=False, w_ih=np.zeros((8, 2))), ValueError, r"w_ih must have shape \(3\*H, D\) \(gates i, g, o"),
    ],
)
def test_impossible_cell_combinations_are_refused(keywords, error, message):
    p = random_lstm_problem(4, 3, 2, 3, np.float64, seed=2)
    arguments = dict(zip(("x", "w_ih", "w_hh", "b", "h0", "c0"), p[:6]))
    arguments.update(keywords)
    with pytest.raises(error, match=message):
        fast_lstm.lstm_forward(**arguments)


@pytest.mark.parametrize(
    "keywords, error, message",
    [
        (dict(peephole=np.zeros((3, 2))), ValueError, r"peephole must have shape \(3, H\) = \(3, 3\)"),
        (dict(peephole=np.zeros(9)), ValueError, r"peephole must have shape \(3, H\)"),
        (dict(peephole=np.zeros((3, 3), np.float32)), TypeError, "peephole has dtype float32 but x has float64"),
        (dict(peephole=[[0.0] * 3] * 3), TypeError, "peephole must be a numpy.ndarray"),
        (dict(cell_activation="relu"), ValueError, "cell_activation must be 'tanh' or 'identity', got 'relu'"),
        (dict(cell_activation=None), TypeError, "cell_activation must be 'tanh' or 'identity'"),
    ],
)
def test_bad_cell_options_are_refused(keywords, error, message):
    p = random_lstm_problem(4, 3, 2, 3, np.float64, seed=2)
    with pytest.raises(error, match=message):
        fast_lstm.lstm_forward(*p[:6], **keywords)
