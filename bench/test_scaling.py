"""fast_lstm's 2-thread speedup, its 1- and 2-thread calls timed in interleaved blocks.

  python bench/run.py -m scaling      # small, medium, large, xlarge; forward and training step

The grid (test_grid.py) times each thread count in its own cells, minutes apart, so the ratio of
its 1- and 2-thread rows carries the machine's drift in between. Here one cell holds both: the
same problem at 1 and at 2 threads, alternating block by block (interleave.py), so the speedup
1-thread median / 2-thread median is that of one stretch of time. The GEMM-bound shapes (medium,
large, xlarge) are those of the issue's 2-thread target; small comes along as a cheap smoke case
(a --quick run keeps it). Each row records impl "fast_lstm", its thread count and scaling=True
in extra_info; summary.py prints the speedups in a table of their own.
"""

from __future__ import annotations

import numpy as np
import pytest

import lstm_impls
from lstm_impls import GRID
from test_grid import ATOL, RTOL

SHAPES = ("small", "medium", "large", "xlarge")
THREAD_COUNTS = (1, 2)


def _scaling_params():
    params = []
    for name in SHAPES:
        for mode in lstm_impls.MODES:
            for threads in THREAD_COUNTS:
                params.append(
                    pytest.param(
                        GRID[name],
                        mode,
                        f"fast_lstm-{threads}T",
                        id=f"{name}-{mode}-{threads}T",
                        marks=[pytest.mark.scaling, getattr(pytest.mark, name), getattr(pytest.mark, mode)],
                    )
                )
    return params


def _threads_of(impl: str) -> int:
    return int(impl.rsplit("-", 1)[1].rstrip("T"))


@pytest.mark.parametrize(("shape", "mode", "impl"), _scaling_params())
def test_scaling(interleaved, shape, mode, impl):
    def build_case(impl):
        peer = lstm_impls.peer_for("fast_lstm")
        if not peer.available:
            pytest.skip(peer.reason)
        threads = _threads_of(impl)
        case = lstm_impls.BUILDERS["fast_lstm"](lstm_impls.problem(shape), mode, threads)
        # Every block of this implementation runs at its own thread count.
        case.context = lambda: lstm_impls.all_libraries_at(threads)
        with case.context():
            y = np.asarray(case.output())
        np.testing.assert_allclose(y, lstm_impls.reference_output(shape), rtol=RTOL, atol=ATOL)
        return case

    interleaved(
        build_case,
        group=f"{shape.name} {mode} scaling",
        impl="fast_lstm",
        version=lstm_impls.peer_for("fast_lstm").version,
        shape=shape.name,
        mode=mode,
        **shape.dims(),
        threads=_threads_of(impl),
        scaling=True,
        flops=shape.flops(mode),
    )
