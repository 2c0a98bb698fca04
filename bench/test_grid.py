"""The benchmark grid of BENCHMARKS.md: fast_lstm beside its peers, float32, at 1 and 2 threads.

  python -m pytest bench --benchmark-only [--quick] [-m SHAPE] --benchmark-json=results.json
  python bench/summary.py results.json

A cell is one shape, mode and thread count.  The implementations of a cell, numpy's sgemm (the
limit; numpy's sgemv for the stream) and numpy doing the shape's own matrix products (the limit
of the shape, lstm_impls.build_products) are timed together in interleaved blocks (interleave.py), so
that their ratios hold on a machine whose speed drifts.  Every benchmark records in extra_info:
impl, shape, mode, B, T, D, H, threads and flops (matmul FLOPs: forward 2*B*T*4H*(D+H), training
step 3x), and is grouped by "shape mode threads", so pytest-benchmark's own table puts the
implementations of one cell side by side.
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
            for impl in (*impls, lstm_impls.LIMIT_GEMM, lstm_impls.LIMIT_PRODUCTS):
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


def _skip_if_absent(impl: str, threads: int):
    reason = lstm_impls.unavailable_reason(impl, threads)
    if reason:
        pytest.skip(reason)


@pytest.mark.parametrize(("shape", "mode", "impl"), _grid_params())
def test_lstm(interleaved, threads, shape, mode, impl):
    def build_case(impl):
        _skip_if_absent(impl, threads)
        if impl == lstm_impls.LIMIT_GEMM:
            return lstm_impls.build_sgemm()
        if impl == lstm_impls.LIMIT_PRODUCTS:
            return lstm_impls.build_products(lstm_impls.problem(shape), mode)
        case = lstm_impls.BUILDERS[impl](lstm_impls.problem(shape), mode, threads)
        with case.context():
            y = np.asarray(case.output())
        np.testing.assert_allclose(y, lstm_impls.reference_output(shape), rtol=RTOL, atol=ATOL)
        return case

    if impl == lstm_impls.LIMIT_GEMM:
        flops = 2 * lstm_impls.SGEMM_N**3
    else:
        flops = shape.flops(mode)
    interleaved(
        build_case,
        group=f"{shape.name} {mode} {threads}T",
        impl=impl,
        version=lstm_impls.peer_for(impl).version,
        shape=shape.name,
        mode=mode,
        **shape.dims(),
        threads=threads,
        flops=flops,
    )


@pytest.mark.stream
@pytest.mark.parametrize("impl", (*lstm_impls.IMPLS_STREAM, lstm_impls.LIMIT_STREAM))
def test_stream(interleaved, threads, impl):
    """100 single-step calls at B=1, state carried by the caller; the time is for all 100 calls.
    Beside them, numpy's sgemv over the same weights for each of the 100 steps: the floor."""
    problem = lstm_impls.problem(STREAM)

    def build_case(impl):
        _skip_if_absent(impl, threads)
        if impl == lstm_impls.LIMIT_STREAM:
            return lstm_impls.build_sgemv(STREAM)
        case = lstm_impls.build_stream(impl, problem, threads)
        with case.context():
            h_last = np.asarray(case.output())
        np.testing.assert_allclose(
            h_last, lstm_impls.stream_reference_last_hidden(problem), rtol=RTOL, atol=ATOL
        )
        return case

    interleaved(
        build_case,
        group=f"stream step {threads}T",
        impl=impl,
        version=lstm_impls.peer_for(impl).version,
        shape=STREAM.name,
        mode="step",
        B=STREAM.B,
        T=1,
        D=STREAM.D,
        H=STREAM.H,
        steps=STREAM.T,
        threads=threads,
        flops=STREAM.forward_flops(),  # of all STREAM.T steps together
    )


@pytest.mark.sgemm
def test_sgemm(measure, threads):
    """numpy float32 matmul on its own, n x n by n x n: the machine's practical compute limit."""
    n = lstm_impls.SGEMM_N
    _skip_if_absent(lstm_impls.LIMIT_GEMM, threads)
    measure(
        lstm_impls.build_sgemm(n),
        group=f"sgemm {threads}T",
        impl=lstm_impls.LIMIT_GEMM,
        version=np.__version__,
        shape=f"sgemm{n}",
        mode="sgemm",
        threads=threads,
        flops=2 * n**3,
    )
