"""GEMM outputs with spread rows under every cell option and in PackedLSTM.forward.

Rows a multiple of 2 KB apart (512 float32s, 256 float64s) get a stride a little wider
(spread_row_stride in cpp/ops/packing.hpp): the forward's gate arrays (NG * H columns), and the
backward's gate gradients dG (NG * H columns too), dW_ih, dW_hh (through a scratch shared by the
two) and dx. test_lstm_kernels.py covers the standard cell; here each option's other arrays
(peepholes, a projection, the cell recurrence, three gates) must line up with those strides. Each
shape below spreads the gate rows and at least one of dW_ih, dW_hh and dx, and leaves another
dense.
"""

import fast_lstm
import numpy as np
import pytest
from checks import FORWARD_TOL, GRADIENT_TOL, assert_close
from reference import lstm_backward_ref, lstm_forward_ref, random_projection_problem

DTYPES = [np.float32, np.float64]
T, B = 4, 16  # 64 rows: deep enough for the backward to spread dW (kSpreadMinDepth)


def spread_width(dtype):
    """The column count whose rows lie 2 KB apart."""
    return 2048 // np.dtype(dtype).itemsize


def cell_case(cell, dtype):
    """(D, H, P, gates, kernel options without arrays) for `cell`; P = H means no projection."""
    E = spread_width(dtype)
    return {
        # 4E/4 gate columns; dW_ih and dx spread, dW_hh (E/4 columns) dense.
        "peephole": (E, E // 4, E // 4, 4, dict(peephole=True)),
        "identity": (E, E // 4, E // 4, 4, dict(cell_activation="identity")),
        # 3E gate columns; dW_ih, dW_hh and dx all spread.
        "no-forget-gate": (E, E, E, 3, dict(forget_gate=False)),
        "cifg": (E, E, E, 3, dict(couple_input_forget=True)),
        # h has P = E features: dW_hh spread, dW_ih and dx (D = 40) dense.
        "projection": (40, E // 4, E, 4, {}),
        # W_hh reads c (H = E features): dW_hh spread, dW_ih and dx dense.
        "cell-recurrence": (40, E, E, 4, dict(recurrence="cell")),
    }[cell]


CELLS = ["peephole", "identity", "no-forget-gate", "cifg", "projection", "cell-recurrence"]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("cell", CELLS)
def test_cell_options_with_spread_rows_match_reference(each_isa, each_recurrent_product, restore_num_threads, cell,
                                                        dtype):
    D, H, P, gates, options = cell_case(cell, dtype)
    p = random_projection_problem(T, B, D, H, P, dtype, seed=D + H + P, gates=gates)
    options = dict(options)
    if options.pop("peephole", False):
        options["peephole"] = p["peephole"]
    if P != H:
        options["w_hr"] = p["w_hr"]
    inputs = (p["x"], p["w_ih"], p["w_hh"], p["b"], p["h0"], p["c0"])
    *expected, reference_cache = lstm_forward_ref(*inputs, **options)
    expected_gradients = lstm_backward_ref(p["dy"], p["dh_n"], p["dc_n"], reference_cache)
    names = ("dx", "dw_ih", "dw_hh", "db", "dh0", "dc0") + (("dpeephole",) if "peephole" in options else ())
    names += ("dw_hr",) if "w_hr" in options else ()

    fast_lstm.set_num_threads(1)
    inference = fast_lstm.lstm_forward(*inputs, **options)[:3]
    *training, cache = fast_lstm.lstm_forward(*inputs, training=True, **options)
    for outputs in (inference, training):
        for name, actual, wanted in zip(("y", "h_n", "c_n"), outputs, expected):
            assert_close(name, actual, wanted, dtype, FORWARD_TOL[dtype])
    gradients = fast_lstm.lstm_backward(p["dy"], p["dh_n"], p["dc_n"], cache)
    assert len(gradients) == len(expected_gradients) == len(names)
    for name, actual, wanted in zip(names, gradients, expected_gradients):
        assert_close(name, actual, wanted, dtype, GRADIENT_TOL[dtype])

    fast_lstm.set_num_threads(2)
    *training_2, cache_2 = fast_lstm.lstm_forward(*inputs, training=True, **options)
    for name, one, two in zip(("y", "h_n", "c_n") + names, training + list(gradients),
                              training_2 + list(fast_lstm.lstm_backward(p["dy"], p["dh_n"], p["dc_n"], cache_2))):
        assert np.array_equal(one, two), f"{name} differs between 1 and 2 threads"


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("spread", ["gates", "gates+input"])
def test_packed_forward_with_spread_rows_matches_reference_and_lstm_forward(each_isa, each_recurrent_product,
                                                                            restore_num_threads, spread, dtype):
    E = spread_width(dtype)
    D = E if spread == "gates+input" else 40
    p = random_projection_problem(T, B, D, E // 4, E // 4, dtype, seed=D)
    inputs = (p["x"], p["w_ih"], p["w_hh"], p["b"], p["h0"], p["c0"])
    expected = lstm_forward_ref(*inputs)[:3]
    packed = fast_lstm.PackedLSTM(p["w_ih"], p["w_hh"], p["b"])
    for threads in (1, 2):
        fast_lstm.set_num_threads(threads)
        outputs = packed.forward(p["x"], p["h0"], p["c0"])
        for name, actual, wanted, unpacked in zip(("y", "h_n", "c_n"), outputs, expected,
                                                  fast_lstm.lstm_forward(*inputs)[:3]):
            assert_close(f"{name} ({threads} threads)", actual, wanted, dtype, FORWARD_TOL[dtype])
            assert np.array_equal(actual, unpacked), f"{name}: PackedLSTM.forward differs from lstm_forward"
