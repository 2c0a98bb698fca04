"""A batch of one's steps compute GEMM tiles inside their recurrent products (AVX-512).

Forward: where a thread's share of W_hh outgrows L1, the steps of a single sequence carry tiles
of x W_ih^T for a later group of steps along with their recurrent product, in place of the
window's projection GEMM (ops/lstm_forward.cpp). Backward, at one thread: each step's
dh_{t-1} = dG_t W_hh also computes a slice of dx = dG W_ih for rows already known, in place of
the dx GEMM's (ops/lstm_backward.cpp). The results must be the GEMMs' to the bit, and right.
"""

import fast_lstm
import numpy as np
import pytest
from checks import FORWARD_TOL, GRADIENT_TOL, assert_close
from reference import lstm_backward_ref, lstm_forward_ref, random_lstm_problem

DTYPES = [np.float32, np.float64]

# (T, D, H, threads). H = 96: 144 KB of float32 W_hh (288 KB float64) on one thread, half each on
# two (3 unit blocks a thread: a pair of blocks and a lone one), past any L1 in use. The others:
# groups of 8 steps with rows left after the last whole one (T = 37, 100), several projection
# windows (T = 1200: 512-row windows), an input narrower than H and one wider (the tile's depth
# then runs past the product's), the widest input one GEMM depth block takes (D = 256), and a
# last unit block with padding lanes (H = 56).
SHAPES = [
    (100, 64, 96, 1),
    (37, 16, 96, 1),
    (100, 64, 96, 2),
    (1200, 64, 96, 1),
    (40, 200, 96, 1),
    (24, 256, 96, 2),
    (100, 64, 64, 1),
    (50, 64, 56, 1),
]


def shape_id(shape):
    T, D, H, threads = shape
    return f"T{T}-D{D}-H{H}-{threads}t"


def run_all(p, carried):
    """Inference forward, training forward and backward, and PackedLSTM.forward, with the
    steps allowed to carry projection tiles or not; returns every result and the tiles carried."""
    previous = fast_lstm._allow_carried_projection(carried)
    try:
        tiles_before = fast_lstm._carried_projection_tiles()
        inference = fast_lstm.lstm_forward(p.x, p.w_ih, p.w_hh, p.b, p.h0, p.c0)[:3]
        packed = fast_lstm.PackedLSTM(p.w_ih, p.w_hh, p.b).forward(p.x, p.h0, p.c0)
        *training, cache = fast_lstm.lstm_forward(p.x, p.w_ih, p.w_hh, p.b, p.h0, p.c0, training=True)
        gradients = fast_lstm.lstm_backward(p.dy, p.dh_n, p.dc_n, cache)
        tiles = fast_lstm._carried_projection_tiles() - tiles_before
    finally:
        fast_lstm._allow_carried_projection(previous)
    return (*inference, *packed, *training, *gradients), tiles


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("shape", SHAPES, ids=shape_id)
def test_carried_projection_gives_the_gemms_bits(each_isa, restore_num_threads, shape, dtype):
    T, D, H, threads = shape
    fast_lstm.set_num_threads(threads)
    p = random_lstm_problem(T, 1, D, H, dtype, seed=shape)
    with_tiles, tiles = run_all(p, carried=True)
    without, no_tiles = run_all(p, carried=False)
    assert no_tiles == 0
    assert len(with_tiles) == len(without) == 3 + 3 + 3 + 6
    if each_isa == "avx512" and H == 96:
        assert tiles > 0, "the steps carried no projection tiles"
    elif each_isa != "avx512":
        assert tiles == 0
    for index, (a, b) in enumerate(zip(with_tiles, without)):
        assert np.array_equal(a, b), f"result {index} differs with the projection carried"


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("threads", [1, 2])
def test_carried_projection_matches_reference(each_isa, restore_num_threads, threads, dtype):
    fast_lstm.set_num_threads(threads)
    p = random_lstm_problem(45, 1, 40, 96, dtype, seed=threads)
    y_ref, h_ref, c_ref, cache_ref = lstm_forward_ref(p.x, p.w_ih, p.w_hh, p.b, p.h0, p.c0)
    grads_ref = lstm_backward_ref(p.dy, p.dh_n, p.dc_n, cache_ref)
    tiles_before = fast_lstm._carried_projection_tiles()
    y, h_n, c_n, cache = fast_lstm.lstm_forward(p.x, p.w_ih, p.w_hh, p.b, p.h0, p.c0, training=True)
    grads = fast_lstm.lstm_backward(p.dy, p.dh_n, p.dc_n, cache)
    if each_isa == "avx512":
        assert fast_lstm._carried_projection_tiles() > tiles_before
    assert len(grads) == len(grads_ref) == 6
    for name, actual, expected in zip(("y", "h_n", "c_n"), (y, h_n, c_n), (y_ref, h_ref, c_ref)):
        assert_close(name, actual, expected, dtype, FORWARD_TOL[dtype])
    for index, (actual, expected) in enumerate(zip(grads, grads_ref)):
        assert_close(f"gradient {index}", actual, expected, dtype, GRADIENT_TOL[dtype])


def test_allow_carried_projection_returns_the_previous_setting():
    assert fast_lstm._allow_carried_projection(False) is True
    assert fast_lstm._allow_carried_projection(True) is False


# Backward's carried dx: (T, D, H, options). It runs at one thread for a batch of one whose dx
# GEMM's depth (gates x H) fits one GEMM k block and whose D is whole GEMM panels (32 floats, 16
# doubles). The tiny shape of bench/; 16 rows, the fewest it carries (two groups of 8); groups
# past the steps' reach and a partly done group the GEMM recomputes (T = 37); 3 gates (H = 80:
# depth 240); peepholes and a recurrent mask (the dh product's rows masked after it); several
# panels of dx (D = 96); and shapes it must leave to the GEMM (T = 15, D = 40, H = 72).
BACKWARD_SHAPES = {
    "tiny": (100, 64, 64, {}),
    "two-groups": (16, 32, 64, {}),
    "partial-group": (37, 32, 32, {}),
    "three-gates": (50, 64, 80, dict(forget_gate=False)),
    "peephole-mask": (60, 64, 48, "peephole-mask"),
    "wide-input": (70, 96, 16, {}),
    "too-short": (15, 64, 64, {}),
    "partial-panel": (50, 40, 64, {}),
    "deep": (50, 64, 72, {}),
}
CARRIES = {"tiny", "two-groups", "partial-group", "three-gates", "peephole-mask", "wide-input"}


def backward_results(p, options, carried):
    """A training forward and its backward, the backward's steps allowed to carry dx tiles or not;
    returns the gradients and the slices carried."""
    H = p.h0.shape[1]
    if options == "peephole-mask":
        rng = np.random.default_rng(5)
        options = dict(peephole=rng.uniform(-0.5, 0.5, (3, H)).astype(p.x.dtype),
                       recurrent_mask=rng.uniform(0, 2, (1, H)).astype(p.x.dtype))
    gate_rows = 3 * H if not options.get("forget_gate", True) else 4 * H
    weights = [w[:gate_rows] for w in (p.w_ih, p.w_hh, p.b)]
    *_, cache = fast_lstm.lstm_forward(p.x, *weights, p.h0, p.c0, training=True, **options)
    previous = fast_lstm._allow_carried_projection(carried)
    try:
        before = fast_lstm._carried_input_grad_slices()
        gradients = fast_lstm.lstm_backward(p.dy, p.dh_n, p.dc_n, cache)
        slices = fast_lstm._carried_input_grad_slices() - before
    finally:
        fast_lstm._allow_carried_projection(previous)
    return gradients, slices


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", list(BACKWARD_SHAPES))
def test_carried_input_grad_gives_the_gemms_bits(each_isa, restore_num_threads, name, dtype):
    T, D, H, options = BACKWARD_SHAPES[name]
    fast_lstm.set_num_threads(1)
    p = random_lstm_problem(T, 1, D, H, dtype, seed=T + D + H)
    with_tiles, slices = backward_results(p, options, carried=True)
    without, no_slices = backward_results(p, options, carried=False)
    assert no_slices == 0
    if each_isa == "avx512" and name in CARRIES:
        assert slices > 0, "the backward's steps carried no dx tiles"
    else:
        assert slices == 0
    assert len(with_tiles) == len(without) == (7 if options == "peephole-mask" else 6)
    for index, (a, b) in enumerate(zip(with_tiles, without)):
        assert np.array_equal(a, b), f"gradient {index} differs with dx carried"


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_carried_input_grad_keeps_the_bits_of_two_threads(each_isa, restore_num_threads, dtype):
    p = random_lstm_problem(100, 1, 64, 64, dtype, seed=3)
    fast_lstm.set_num_threads(1)
    one_thread, slices = backward_results(p, {}, carried=True)
    assert (slices > 0) == (each_isa == "avx512")
    fast_lstm.set_num_threads(2)
    two_threads, _ = backward_results(p, {}, carried=True)
    for index, (a, b) in enumerate(zip(one_thread, two_threads)):
        assert np.array_equal(a, b), f"gradient {index} differs between 1 and 2 threads"


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_carried_input_grad_matches_reference(each_isa, restore_num_threads, dtype):
    fast_lstm.set_num_threads(1)
    p = random_lstm_problem(45, 1, 64, 48, dtype, seed=11)
    _, _, _, cache_ref = lstm_forward_ref(p.x, p.w_ih, p.w_hh, p.b, p.h0, p.c0)
    grads_ref = lstm_backward_ref(p.dy, p.dh_n, p.dc_n, cache_ref)
    grads, slices = backward_results(p, {}, carried=True)
    assert (slices > 0) == (each_isa == "avx512")
    assert len(grads) == len(grads_ref) == 6
    for index, (actual, expected) in enumerate(zip(grads, grads_ref)):
        assert_close(f"gradient {index}", actual, expected, dtype, GRADIENT_TOL[dtype])
