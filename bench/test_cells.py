"""The LSTM cell variants of fast_lstm at the grid's medium shape, beside the standard cell.

  python bench/run.py -m cells     # standard, peephole, CIFG and the 1997 cell; 1 and 2 threads

Issue 3's target: peephole and CIFG within 10% of the standard cell's time. Rows appear in the
summary as shape "medium <cell>" with fast_lstm alone (no peer has these cells, except ONNX
Runtime's peepholes, checked for correctness in tests/test_lstm_cells.py). FLOPs are those of the
standard cell, so GFLOP/s compares times directly; the 3-gate cells do three quarters of that work.
Marked `cells`; a --quick run leaves it out.
"""

from __future__ import annotations

import numpy as np
import pytest

import lstm_impls

MEDIUM = lstm_impls.GRID["medium"]
CELLS = ("standard", "peephole", "cifg", "no-forget-gate")


def cell_arguments(p: lstm_impls.Problem, cell: str):
    """(w_ih, w_hh, b, keyword options) of `cell`, from the medium problem's weights."""
    H = p.shape.H
    b = p.b
    if cell in ("standard", "peephole"):
        options = {}
        if cell == "peephole":
            options["peephole"] = np.random.default_rng(1).uniform(-0.5, 0.5, (3, H)).astype(np.float32)
        return p.w_ih, p.w_hh, b, options
    keep = np.r_[0:H, 2 * H : 4 * H]  # gates i, g, o
    options = {"couple_input_forget": True} if cell == "cifg" else {"forget_gate": False}
    return (np.ascontiguousarray(p.w_ih[keep]), np.ascontiguousarray(p.w_hh[keep]),
            np.ascontiguousarray(b[keep]), options)


@pytest.mark.cells
@pytest.mark.parametrize("mode", ["forward", "train"])
@pytest.mark.parametrize("cell", CELLS)
def test_cell(measure, threads, cell, mode):
    peer = lstm_impls.peer_for("fast_lstm")
    if not peer.available:
        pytest.skip(peer.reason)
    fl = peer.module
    p = lstm_impls.problem(MEDIUM)
    w_ih, w_hh, b, options = cell_arguments(p, cell)
    dy = np.ones((MEDIUM.T, MEDIUM.B, MEDIUM.H), dtype=np.float32)

    def run():
        outputs = fl.lstm_forward(p.x, w_ih, w_hh, b, p.h0, p.c0, training=mode == "train", **options)
        if mode == "train":
            return fl.lstm_backward(dy, None, None, outputs[3])
        return outputs

    y = run()[0] if mode == "forward" else fl.lstm_forward(p.x, w_ih, w_hh, b, p.h0, p.c0, **options)[0]
    assert np.isfinite(y).all() and y.shape == (MEDIUM.T, MEDIUM.B, MEDIUM.H)
    if cell == "standard":  # the same kernel as the grid's row
        np.testing.assert_allclose(y, lstm_impls.reference_output(MEDIUM), rtol=1e-4, atol=1e-5)

    flops = MEDIUM.forward_flops() * (lstm_impls.TRAIN_FLOPS_FACTOR if mode == "train" else 1)
    measure(
        lstm_impls.Case(run=run, output=lambda: y, info={"isa": fl.isa()}),
        group=f"cells {mode} {threads}T",
        impl="fast_lstm",
        version=peer.version,
        shape=f"medium {cell}",
        mode=mode,
        B=MEDIUM.B,
        T=MEDIUM.T,
        D=MEDIUM.D,
        H=MEDIUM.H,
        threads=threads,
        flops=flops,
    )
