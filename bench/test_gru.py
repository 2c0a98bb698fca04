"""GRU on the grid's shapes: fast_lstm.gru_forward/gru_backward beside torch.nn.GRU, 1 and 2 threads.

  python bench/run.py -m gru            # every shape; add -m "gru and medium" for one
  python bench/run.py --quick           # includes the tiny and small GRU rows

Rows appear in the summary as shape "<name> gru". FLOPs are the GRU's matmul FLOPs,
2*B*T*3H*(D+H) forward and 3x that for a training step (forward + backward of sum(y) with
respect to x, both weights, both biases and h0), so GFLOP/s and "of sgemm" read as for the LSTM.
As in the LSTM's cells, numpy's n=2048 sgemm and numpy doing the cell's own matrix products
(lstm_impls.build_matrix_products, three gates) are timed beside the GRUs: "of sgemm" and "of
products" in the summary.
Issue 3's target: at least as fast as torch.nn.GRU on the GEMM-bound shapes, 3x on tiny.
Before timing, each implementation's y is checked against a numpy GRU (untimed).
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

import lstm_impls
from lstm_impls import GRID

IMPLS = ("fast_lstm", "torch")
LIMITS = (lstm_impls.LIMIT_GEMM, lstm_impls.LIMIT_PRODUCTS)
RTOL, ATOL = 1e-3, 1e-4


def gru_flops(shape: lstm_impls.Shape) -> int:
    return 2 * shape.B * shape.T * 3 * shape.H * (shape.D + shape.H)


@functools.lru_cache(maxsize=None)
def gru_problem(shape: lstm_impls.Shape):
    """x, w_ih (3H, D), w_hh (3H, H), b_ih, b_hh (3H,), h0: torch.nn.GRU's default init."""
    rng = np.random.default_rng(20241123)
    B, T, D, H = shape.B, shape.T, shape.D, shape.H
    bound = 1.0 / np.sqrt(H)

    def uniform(*dims):
        return rng.uniform(-bound, bound, size=dims).astype(np.float32)

    x = rng.standard_normal((T, B, D), dtype=np.float32)
    return x, uniform(3 * H, D), uniform(3 * H, H), uniform(3 * H), uniform(3 * H), \
        rng.standard_normal((B, H), dtype=np.float32) * np.float32(0.5)


@functools.lru_cache(maxsize=None)
def numpy_gru_output(shape: lstm_impls.Shape) -> np.ndarray:
    x, w_ih, w_hh, b_ih, b_hh, h = gru_problem(shape)
    T, H = x.shape[0], w_hh.shape[1]
    sigmoid = lambda v: 1.0 / (1.0 + np.exp(-v))  # noqa: E731
    projected = x @ w_ih.T + b_ih
    y = np.empty((T, x.shape[1], H), np.float32)
    for t in range(T):
        recurrent = h @ w_hh.T + b_hh
        r = sigmoid(projected[t, :, :H] + recurrent[:, :H])
        z = sigmoid(projected[t, :, H:2 * H] + recurrent[:, H:2 * H])
        n = np.tanh(projected[t, :, 2 * H:] + r * recurrent[:, 2 * H:])
        h = (1 - z) * n + z * h
        y[t] = h
    return y


def build_fast_lstm(shape, mode):
    fl = lstm_impls.FAST_LSTM.module
    x, w_ih, w_hh, b_ih, b_hh, h0 = gru_problem(shape)
    dy = np.ones((shape.T, shape.B, shape.H), np.float32)

    def forward(training=False):
        return fl.gru_forward(x, w_ih, w_hh, b_ih, b_hh, h0, training=training)

    def run():
        if mode == "forward":
            return forward()
        return fl.gru_backward(dy, None, forward(training=True)[2])

    return lstm_impls.Case(run=run, output=lambda: forward()[0], info={"isa": fl.isa()})


def build_torch(shape, mode):
    torch = lstm_impls.TORCH.module
    x_np, w_ih, w_hh, b_ih, b_hh, h0_np = gru_problem(shape)
    gru = torch.nn.GRU(shape.D, shape.H)
    with torch.no_grad():
        for name, value in zip(("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"), (w_ih, w_hh, b_ih, b_hh)):
            getattr(gru, name).copy_(torch.from_numpy(value))
    x, h0 = torch.from_numpy(x_np.copy()), torch.from_numpy(h0_np[None].copy())

    def output():
        with torch.no_grad():
            return gru(x, h0)[0].numpy()

    if mode == "forward":
        return lstm_impls.Case(run=lambda: gru(x, h0), output=output, context=torch.inference_mode)
    x.requires_grad_(True)
    h0.requires_grad_(True)
    leaves = [x, h0, *gru.parameters()]

    def run():
        for leaf in leaves:
            leaf.grad = None
        y, _ = gru(x, h0)
        y.sum().backward()
        return y

    return lstm_impls.Case(run=run, output=output)


BUILDERS = {"fast_lstm": build_fast_lstm, "torch": build_torch}


def _params():
    return [
        pytest.param(shape, mode, impl, id=f"gru-{shape.name}-{mode}-{impl}",
                     marks=[pytest.mark.gru, getattr(pytest.mark, shape.name), getattr(pytest.mark, mode)])
        for shape in GRID.values() for mode in lstm_impls.MODES for impl in (*IMPLS, *LIMITS)
    ]


@pytest.mark.parametrize(("shape", "mode", "impl"), _params())
def test_gru(interleaved, threads, shape, mode, impl):
    def build_case(impl):
        reason = lstm_impls.unavailable_reason(impl, threads)
        if reason:
            pytest.skip(reason)
        if impl == lstm_impls.LIMIT_GEMM:
            return lstm_impls.build_sgemm()
        if impl == lstm_impls.LIMIT_PRODUCTS:
            x, w_ih, w_hh = gru_problem(shape)[:3]
            return lstm_impls.build_matrix_products(x, w_ih, w_hh, mode)
        case = BUILDERS[impl](shape, mode)
        with case.context():
            y = np.asarray(case.output())
        np.testing.assert_allclose(y, numpy_gru_output(shape), rtol=RTOL, atol=ATOL)
        return case

    interleaved(
        build_case,
        group=f"gru {shape.name} {mode} {threads}T",
        impl=impl,
        version=lstm_impls.peer_for(impl).version,
        shape=f"{shape.name} gru",
        mode=mode,
        **shape.dims(),
        threads=threads,
        flops=2 * lstm_impls.SGEMM_N**3 if impl == lstm_impls.LIMIT_GEMM
        else gru_flops(shape) * lstm_impls.mode_flops_factor(mode),
    )
