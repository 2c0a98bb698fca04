"""The LSTM cell variants of fast_lstm at the grid's medium shape, beside the standard cell.

  python bench/run.py -m cells     # every variant; 1 and 2 threads

Issue 3's target: peephole and CIFG within 10% of the standard cell's time. Rows appear in the
summary as shape "medium <cell>". Only the projection (P = H/2) has a peer, torch.nn.LSTM with
proj_size (which runs outside oneDNN); ONNX Runtime's peepholes are a correctness reference in
tests/test_lstm_cells.py. FLOPs are those of the standard cell, so GFLOP/s compares times directly;
the 3-gate cells do three quarters of that work, the projection about 0.6 of it.
Marked `cells`; a --quick run leaves it out.
"""

from __future__ import annotations

import numpy as np
import pytest

import lstm_impls

MEDIUM = lstm_impls.GRID["medium"]
CELLS = ("standard", "peephole", "cifg", "no-forget-gate", "projection", "cell-recurrence")
PROJECTION = MEDIUM.H // 2


def cell_arguments(p: lstm_impls.Problem, cell: str):
    """(w_ih, w_hh, b, keyword options) of `cell`, from the medium problem's weights."""
    H = p.shape.H
    b = p.b
    if cell == "projection":
        return p.w_ih, projection_weights(p)[0], b, {"w_hr": projection_weights(p)[1]}
    if cell in ("standard", "peephole", "cell-recurrence"):
        options = {}
        if cell == "peephole":
            options["peephole"] = np.random.default_rng(1).uniform(-0.5, 0.5, (3, H)).astype(np.float32)
        if cell == "cell-recurrence":
            options["recurrence"] = "cell"
        return p.w_ih, p.w_hh, b, options
    keep = np.r_[0:H, 2 * H : 4 * H]  # gates i, g, o
    options = {"couple_input_forget": True} if cell == "cifg" else {"forget_gate": False}
    return (np.ascontiguousarray(p.w_ih[keep]), np.ascontiguousarray(p.w_hh[keep]),
            np.ascontiguousarray(b[keep]), options)


def projection_weights(p: lstm_impls.Problem):
    """w_hh (4H, P) and w_hr (P, H) for the projection rows, torch's default init."""
    rng = np.random.default_rng(2)
    bound = 1.0 / np.sqrt(p.shape.H)
    w_hh = rng.uniform(-bound, bound, (4 * p.shape.H, PROJECTION)).astype(np.float32)
    return w_hh, rng.uniform(-bound, bound, (PROJECTION, p.shape.H)).astype(np.float32)


def initial_states(p: lstm_impls.Problem, cell: str):
    return (p.h0[:, :PROJECTION].copy() if cell == "projection" else p.h0), p.c0


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
    h0, c0 = initial_states(p, cell)
    features = PROJECTION if cell == "projection" else MEDIUM.H
    dy = np.ones((MEDIUM.T, MEDIUM.B, features), dtype=np.float32)

    def run():
        outputs = fl.lstm_forward(p.x, w_ih, w_hh, b, h0, c0, training=mode == "train", **options)
        if mode == "train":
            return fl.lstm_backward(dy, None, None, outputs[3])
        return outputs

    y = run()[0] if mode == "forward" else fl.lstm_forward(p.x, w_ih, w_hh, b, h0, c0, **options)[0]
    assert np.isfinite(y).all() and y.shape == (MEDIUM.T, MEDIUM.B, features)
    if cell == "projection":
        torch_y = torch_projection_output(p)
        if torch_y is not None:
            np.testing.assert_allclose(y, torch_y, rtol=1e-3, atol=1e-4)
    if cell == "standard":  # the same kernel as the grid's row
        np.testing.assert_allclose(y, lstm_impls.reference_output(MEDIUM), rtol=1e-4, atol=1e-5)

    flops = MEDIUM.flops(mode)
    measure(
        lstm_impls.Case(run=run, output=lambda: y, info={"isa": fl.isa()}),
        group=f"cells {mode} {threads}T",
        impl="fast_lstm",
        version=peer.version,
        shape=f"medium {cell}",
        mode=mode,
        **MEDIUM.dims(),
        threads=threads,
        flops=flops,
    )


def torch_projection(p: lstm_impls.Problem):
    """torch.nn.LSTM(proj_size=P) with the projection rows' weights, or None without torch."""
    if not lstm_impls.TORCH.available:
        return None
    torch = lstm_impls.TORCH.module
    w_hh, w_hr = projection_weights(p)
    lstm = torch.nn.LSTM(MEDIUM.D, MEDIUM.H, proj_size=PROJECTION)
    with torch.no_grad():
        for name, value in (("weight_ih_l0", p.w_ih), ("weight_hh_l0", w_hh), ("bias_ih_l0", p.b),
                            ("weight_hr_l0", w_hr)):
            getattr(lstm, name).copy_(torch.from_numpy(value))
        lstm.bias_hh_l0.zero_()
    return lstm


def torch_projection_output(p: lstm_impls.Problem):
    lstm = torch_projection(p)
    if lstm is None:
        return None
    torch = lstm_impls.TORCH.module
    h0, c0 = initial_states(p, "projection")
    with torch.no_grad():
        return lstm(torch.from_numpy(p.x), (torch.from_numpy(h0)[None], torch.from_numpy(c0)[None]))[0].numpy()


@pytest.mark.cells
@pytest.mark.filterwarnings("ignore:LSTM with projections")
@pytest.mark.parametrize("mode", ["forward", "train"])
def test_projection_torch(measure, threads, mode):
    """The peer of the projection row: torch.nn.LSTM(proj_size=H/2), same weights and data."""
    peer = lstm_impls.peer_for("torch")
    if not peer.available:
        pytest.skip(peer.reason)
    torch = peer.module
    p = lstm_impls.problem(MEDIUM)
    lstm = torch_projection(p)
    h0_np, c0_np = initial_states(p, "projection")
    x, h0, c0 = (torch.from_numpy(a.copy()) for a in (p.x, h0_np[None], c0_np[None]))
    if mode == "forward":
        case = lstm_impls.Case(run=lambda: lstm(x, (h0, c0)), output=lambda: None, context=torch.inference_mode)
    else:
        leaves = [x.requires_grad_(), h0.requires_grad_(), c0.requires_grad_(), *lstm.parameters()]

        def run():
            for leaf in leaves:
                leaf.grad = None
            y, _ = lstm(x, (h0, c0))
            y.sum().backward()
            return y

        case = lstm_impls.Case(run=run, output=lambda: None)
    measure(
        case,
        group=f"cells {mode} {threads}T",
        impl="torch",
        version=peer.version,
        shape="medium projection",
        mode=mode,
        **MEDIUM.dims(),
        threads=threads,
        flops=MEDIUM.flops(mode),
    )
