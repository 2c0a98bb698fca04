"""fast_lstm's 2-thread speedup, its 1- and 2-thread calls timed in interleaved blocks.

  python bench/run.py -m scaling      # small, medium, large, xlarge; forward and training step

The grid (test_grid.py) times each thread count in its own cells, minutes apart, so the ratio of
its 1- and 2-thread rows carries the machine's drift in between. Here one cell holds both: the
same problem at 1 and at 2 threads, alternating block by block (interleave.py), so the speedup
1-thread median / 2-thread median is that of one stretch of time. The GEMM-bound shapes (medium,
large, xlarge) are those of the issue's 2-thread target; small comes along as a cheap smoke case
(a --quick run keeps it).

numpy's sgemm at 1 and 2 threads takes its turns in the same cell: its own speedup is what two
cores of this machine give a GEMM in that stretch of time (shared caches, memory bandwidth, the
other tenants), the ceiling beside fast_lstm's. Each row records its impl ("fast_lstm" or
"numpy_sgemm"), its thread count and scaling=True in extra_info; summary.py prints the speedups
in a table of their own.
"""

from __future__ import annotations

import numpy as np
import pytest

import lstm_impls
from lstm_impls import GRID
from test_grid import ATOL, RTOL

SHAPES = ("small", "medium", "large", "xlarge")
THREAD_COUNTS = (1, 2)
IMPLS = ("fast_lstm", lstm_impls.LIMIT_GEMM)


def _scaling_params():
    params = []
    for name in SHAPES:
        for mode in lstm_impls.MODES:
            for impl in IMPLS:
                for threads in THREAD_COUNTS:
                    params.append(
                        pytest.param(
                            GRID[name],
                            mode,
                            f"{impl}-{threads}T",
                            id=f"{name}-{mode}-{impl}-{threads}T",
                            marks=[pytest.mark.scaling, getattr(pytest.mark, name), getattr(pytest.mark, mode)],
                        )
                    )
    return params


def _split_impl(impl: str) -> tuple[str, int]:
    """("fast_lstm", 2) from "fast_lstm-2T"."""
    name, threads = impl.rsplit("-", 1)
    return name, int(threads.rstrip("T"))


@pytest.mark.parametrize(("shape", "mode", "impl"), _scaling_params())
def test_scaling(interleaved, shape, mode, impl):
    def build_case(impl):
        name, threads = _split_impl(impl)
        peer = lstm_impls.peer_for(name)
        if not peer.available:
            pytest.skip(peer.reason)
        if name == lstm_impls.LIMIT_GEMM:
            reason = lstm_impls.numpy_skip_reason(threads)
            if reason:
                pytest.skip(reason)
            case = lstm_impls.build_sgemm()
        else:
            case = lstm_impls.BUILDERS[name](lstm_impls.problem(shape), mode, threads)
        # Every block of this implementation runs at its own thread count.
        case.context = lambda: lstm_impls.all_libraries_at(threads)
        if name != lstm_impls.LIMIT_GEMM:
            with case.context():
                y = np.asarray(case.output())
            np.testing.assert_allclose(y, lstm_impls.reference_output(shape), rtol=RTOL, atol=ATOL)
        return case

    name, threads = _split_impl(impl)
    interleaved(
        build_case,
        group=f"{shape.name} {mode} scaling",
        impl=name,
        version=lstm_impls.peer_for(name).version,
        shape=shape.name,
        mode=mode,
        **shape.dims(),
        threads=threads,
        scaling=True,
        flops=2 * lstm_impls.SGEMM_N**3 if name == lstm_impls.LIMIT_GEMM else shape.flops(mode),
    )
