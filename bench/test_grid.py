"""The benchmark grid of BENCHMARKS.md: fast_lstm beside its peers, float32, at 1 and 2 threads.

  python -m pytest bench --benchmark-only [--quick] [-m SHAPE] --benchmark-json=results.json
  python bench/summary.py results.json

Every benchmark records in extra_info: impl, shape, mode, B, T, D, H, threads and flops (matmul
FLOPs: forward 2*B*T*4H*(D+H), training step 3x), and is grouped by "shape mode threads", so
pytest-benchmark's own table puts the implementations of one cell side by side.
Before timing, each implementation's y is checked against the numpy reference (untimed), so a
row never times something other than the LSTM it names.
"""

from __future__ import annotations

import numpy as np
import pytest

import lstm_impls
from lstm_impls import GRID, STREAM

# float32 through 100-200 steps at H up to 1024: the implementations differ by ~1e-6 in practice.
RTOL, ATOL = 1e-3, 1e-4


def _grid_params():
    params = []
    for shape in GRID.values():
        for mode in lstm_impls.MODES:
            impls = lstm_impls.IMPLS_FORWARD if mode == "forward" else lstm_impls.IMPLS_TRAIN
            for impl in impls:
                params.append(
                    pytest.param(
                        shape,
                        mode,
                        impl,
                        id=f"{shape.name}-{mode}-{impl}",
                        marks=[getattr(pytest.mark, shape.name), getattr(pytest.mark, mode)],
                    )
                )
    return params


def _skip_if_absent(impl: str):
    peer = lstm_impls.peer_for(impl)
    if not peer.available:
        pytest.skip(peer.reason)
    return peer


@pytest.mark.parametrize(("shape", "mode", "impl"), _grid_params())
def test_lstm(measure, threads, shape, mode, impl):
    peer = _skip_if_absent(impl)
    problem = lstm_impls.problem(shape)
    case = lstm_impls.BUILDERS[impl](problem, mode, threads)
    with case.context():
        y = np.asarray(case.output())
    np.testing.assert_allclose(y, lstm_impls.reference_output(shape), rtol=RTOL, atol=ATOL)

    flops = shape.forward_flops() * (lstm_impls.TRAIN_FLOPS_FACTOR if mode == "train" else 1)
    measure(
        case,
        group=f"{shape.name} {mode} {threads}T",
        impl=impl,
        version=peer.version,
        shape=shape.name,
        mode=mode,
        B=shape.B,
        T=shape.T,
        D=shape.D,
        H=shape.H,
        threads=threads,
        flops=flops,
    )


@pytest.mark.stream
@pytest.mark.parametrize("impl", lstm_impls.IMPLS_STREAM)
def test_stream(measure, threads, impl):
    """100 single-step calls at B=1, state carried by the caller; the time is for all 100 calls."""
    peer = _skip_if_absent(impl)
    problem = lstm_impls.problem(STREAM)
    case = lstm_impls.build_stream(impl, problem, threads)
    with case.context():
        h_last = np.asarray(case.output())
    np.testing.assert_allclose(
        h_last, lstm_impls.stream_reference_last_hidden(problem), rtol=RTOL, atol=ATOL
    )

    _measure_stream(measure, case, threads, impl=impl, version=peer.version)


def _measure_stream(measure, case, threads, **extra_info):
    """A stream row: the time of STREAM.T single-step calls, reported per call by the summary."""
    measure(
        case,
        group=f"stream step {threads}T",
        shape=STREAM.name,
        mode="step",
        B=STREAM.B,
        T=1,
        D=STREAM.D,
        H=STREAM.H,
        steps=STREAM.T,
        threads=threads,
        flops=STREAM.forward_flops(),  # of all STREAM.T steps together
        **extra_info,
    )


@pytest.mark.stream
def test_stream_weight_read(measure, threads):
    """The floor of a single step: numpy's float32 matrix-vector product over the step's weights,
    [W_ih | W_hh] (4H, D+H), once per step for the stream's 100 steps. At B=1 a step must read
    every weight once (2 MB at D=H=256), so this is its memory-bound limit on this machine."""
    s = STREAM
    rng = np.random.default_rng(0)
    weights = rng.standard_normal((4 * s.H, s.D + s.H), dtype=np.float32)
    inputs = [rng.standard_normal(s.D + s.H, dtype=np.float32) for _ in range(s.T)]
    out = np.empty(4 * s.H, dtype=np.float32)

    def run():
        for v in inputs:
            np.matmul(weights, v, out=out)
        return out

    case = lstm_impls.Case(run=run, output=lambda: out)
    _measure_stream(
        measure,
        case,
        threads,
        impl="numpy_sgemv",
        version=np.__version__,
        numpy_threads=lstm_impls.numpy_thread_control(),
    )


@pytest.mark.sgemm
def test_sgemm(measure, threads):
    """numpy float32 matmul, n x n by n x n: the machine's practical compute limit."""
    n = lstm_impls.SGEMM_N
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    out = np.empty((n, n), dtype=np.float32)

    def run():
        return np.matmul(a, b, out=out)

    case = lstm_impls.Case(run=run, output=lambda: out)
    measure(
        case,
        group=f"sgemm {threads}T",
        impl="numpy_sgemm",
        version=np.__version__,
        shape=f"sgemm{n}",
        mode="sgemm",
        n=n,
        threads=threads,
        flops=2 * n**3,
        numpy_threads=lstm_impls.numpy_thread_control(),
    )
