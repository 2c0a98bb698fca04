"""pytest-benchmark plumbing of the fast-lstm benchmark suite (see test_grid.py for what is timed).

Options (after `python -m pytest bench --benchmark-only`):
  --quick            only the tiny and small shapes (plus stream and sgemm), 3 timed rounds each;
                     the same as FAST_LSTM_BENCH_QUICK=1.  For CI: under a minute.  Leaves out
                     the training epochs of test_fit_epoch.py (marker `fit`).
  --bench-budget S   seconds of timed calls per implementation and cell in a full run (default
                     2.0), spread over 5 interleaved blocks (3 when a call takes seconds); see
                     interleave.py.  Benchmarks timed on their own (test_cells.py, test_sgemm) get
                     budget / (time of one call) rounds, kept within [3, 1000].
Selection: one marker per shape (-m medium, -m "large or xlarge"), per mode (-m forward, -m train,
-m stream, -m sgemm, -m fit), -m scaling (test_scaling.py), or -k on the ids, e.g.
-k "medium and torch" (beware that -k large also matches xlarge; -m large does not).

Each benchmark also records in extra_info the share of the machine other processes used while
it ran (other_cpu_load); summary.py flags rows above 15%.  The header reports the same at start.

Rounds are run with benchmark.pedantic, so pytest-benchmark's own --benchmark-min-rounds,
--benchmark-max-time and --benchmark-warmup do not apply; --bench-budget and --quick do.
The grid's rows (test_grid.py) are timed together per cell, in interleaved blocks (interleave.py);
their samples reach pytest-benchmark through interleave.REPLAY_CLOCK, which this file installs as
its timer, so --benchmark-timer cannot be given.
"""

from __future__ import annotations

import functools
import math
import os
import platform
import statistics
import time
from typing import Optional

import pytest

import interleave
import lstm_impls

MIN_ROUNDS = 3
MAX_ROUNDS = 1000
QUIESCE_SECONDS = 0.3
QUICK_ROUNDS = 3
DEFAULT_BUDGET_S = 2.0
BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
DEFAULT_STORAGE = "file://./.benchmarks"  # pytest-benchmark's default
DEFAULT_TIMER = "time.perf_counter"  # pytest-benchmark's default

MARKERS = {
    **{name: f"the {name} shape of the grid" for name in lstm_impls.GRID},
    "forward": "inference forward pass",
    "train": "training step: forward + backward of sum(y)",
    "stream": "B=1 single-step calls carrying state",
    "sgemm": "numpy float32 matmul, the practical compute limit",
    "fit": "one training epoch of a whole model (LSTM + Dense, MSE, Adam), lstmcore against torch",
    "gru": "the GRU (fast_lstm.gru_forward/gru_backward beside torch.nn.GRU) on the grid's shapes",
    "cells": "the LSTM cell variants (peephole, CIFG, the 1997 cell) beside the standard cell, medium shape",
    "scaling": "fast_lstm at 1 and 2 threads in interleaved blocks: its 2-thread speedup",
}
# Marks a --quick run leaves out besides the big shapes: seconds per call, not for CI.
NOT_QUICK = ("fit", "cells")


def pytest_addoption(parser):
    group = parser.getgroup("fast-lstm benchmarks")
    group.addoption(
        "--quick",
        action="store_true",
        default=os.environ.get("FAST_LSTM_BENCH_QUICK", "") not in ("", "0"),
        help="smoke run: tiny and small shapes only, 3 rounds (also FAST_LSTM_BENCH_QUICK=1)",
    )
    group.addoption(
        "--bench-budget",
        type=float,
        default=DEFAULT_BUDGET_S,
        help=f"seconds of timed rounds per benchmark (default {DEFAULT_BUDGET_S})",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    # pytest-benchmark creates its storage directory at start-up even when nothing is saved, in
    # whatever directory pytest runs from; keep it in bench/ (see .gitignore) unless one is given.
    if config.getoption("benchmark_storage", None) == DEFAULT_STORAGE:
        config.option.benchmark_storage = "file://" + os.path.join(BENCH_DIR, ".benchmarks")
    _install_replay_clock(config)
    for name, description in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {description}")


def _install_replay_clock(config):
    """Make interleave.REPLAY_CLOCK pytest-benchmark's timer (read when its session starts)."""
    timer = config.getoption("benchmark_timer", None)
    if timer is None:  # pytest-benchmark not loaded (-p no:benchmark): nothing to time with
        return
    if timer != DEFAULT_TIMER:
        raise pytest.UsageError(
            f"--benchmark-timer={timer}: this suite times its rounds with {DEFAULT_TIMER} and "
            "replays them to pytest-benchmark (bench/interleave.py); leave the option out"
        )
    config.option.benchmark_timer = "interleave.REPLAY_CLOCK"


def pytest_collection_modifyitems(config, items):
    if not config.getoption("--quick"):
        return
    dropped = {name for name in lstm_impls.GRID if name not in lstm_impls.QUICK_SHAPES}
    dropped |= set(NOT_QUICK)
    kept, deselected = [], []
    for item in items:
        dropped_marks = {m.name for m in item.iter_markers()} & dropped
        (deselected if dropped_marks else kept).append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept


def pytest_report_header(config):
    lines = []
    for impl in ("fast_lstm", "torch", "onnxruntime", "numpy"):
        peer = lstm_impls.peer_for(impl)
        if peer.available:
            extra = ""
            if impl == "fast_lstm":
                fl = peer.module
                extra = f" isa={fl.isa()} available={fl.available_isas()}"
            lines.append(f"  {impl} {peer.version}{extra}")
        else:
            lines.append(f"  {impl}: SKIPPED, {peer.reason}")
    lines.append(f"  numpy thread count set by: {lstm_impls.numpy_thread_control()}")
    mode = "quick (tiny, small; 3 rounds)" if config.getoption("--quick") else (
        f"full, {config.getoption('--bench-budget')} s budget per benchmark"
    )
    sample = OtherLoad()
    time.sleep(0.5)
    others = sample.fraction()
    if others is not None:
        busy = "  <- busy machine: 2-thread figures will be unreliable" if others >= 0.15 else ""
        lines.append(f"  CPU used by other processes at start: {others:.0%} of the machine{busy}")
    return [f"fast-lstm benchmarks: {mode}; cpu {_cpu_name()}"] + lines


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
    except OSError:
        return platform.processor() or platform.machine()
    lines = text.splitlines()
    models = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    name = models[0] if models else "?"
    return f"{name}, {os.cpu_count()} CPUs, avx512f {'yes' if ' avx512f' in text else 'no'}"


class OtherLoad:
    """CPU used by other processes while we measure, as a fraction of the whole machine.

    The machine is shared: a core taken by someone else turns a 2-thread run whose workers
    spin-wait at a barrier every step into a 10-100x slower one.  That cannot be prevented from
    here, so it is recorded with each benchmark and the summary flags the rows it spoils.
    Linux only (/proc); None elsewhere.
    """

    def __init__(self):
        self._start = self._read()

    @staticmethod
    def _read():
        try:
            with open("/proc/stat") as f:
                fields = [int(v) for v in f.readline().split()[1:]]
            with open("/proc/self/stat") as f:
                own = f.read().rsplit(")", 1)[1].split()
        except OSError:
            return None
        # user nice system idle iowait irq softirq steal: busy is all but idle and iowait.
        busy = sum(fields[:8]) - fields[3] - fields[4]
        return busy, sum(fields[:8]), int(own[11]) + int(own[12])  # own utime + stime

    def fraction(self) -> Optional[float]:
        end = self._read()
        # Under 20 clock ticks (0.1 s on 2 CPUs at 100 Hz) the fraction is mostly rounding.
        if self._start is None or end is None or end[1] - self._start[1] < 20:
            return None
        others = (end[0] - self._start[0]) - (end[2] - self._start[2])
        return round(max(0, others) / (end[1] - self._start[1]), 3)


@pytest.fixture(params=lstm_impls.THREADS, ids=lambda n: f"{n}T")
def threads(request):
    """Thread count of the test, applied to every library in the process."""
    with lstm_impls.all_libraries_at(request.param):
        yield request.param


@pytest.fixture
def measure(request, benchmark):
    """measure(case, group=..., **extra_info): warm up case.run, then time it in bounded rounds."""
    quick = request.config.getoption("--quick")
    budget = request.config.getoption("--bench-budget")

    def _measure(case: lstm_impls.Case, *, group: str, **extra_info):
        benchmark.group = group
        benchmark.extra_info.update(case.info)
        benchmark.extra_info.update(extra_info)
        # Other runtimes' idle threads spin for a while after their last call (OpenBLAS for up
        # to ~0.1 s, OpenMP's too) and take a core from a 2-thread run whose workers meet at a
        # barrier every step; at the tiny shape that made a call 10x slower. Let them go to sleep.
        time.sleep(QUIESCE_SECONDS)
        load = OtherLoad()
        with case.context():
            # Two untimed calls: the first pays one-time costs (lazy initialisation, weight
            # re-layout, page faults of new buffers), the second gives the time of one call.
            case.run()
            start = time.perf_counter()
            case.run()
            one_call = time.perf_counter() - start
            if quick:
                rounds, warmup = QUICK_ROUNDS, 0
            else:
                rounds = int(min(MAX_ROUNDS, max(MIN_ROUNDS, budget / max(one_call, 1e-9))))
                warmup = min(5, rounds // 10)
            benchmark.extra_info["rounds"] = rounds
            benchmark.pedantic(case.run, rounds=rounds, iterations=1, warmup_rounds=warmup)
            benchmark.extra_info["other_cpu_load"] = load.fraction()

    return _measure


# The samples of every interleaved cell measured so far in this session, by cell key.
_CELLS: dict[tuple, interleave.CellSamples] = {}


def _cell_key(item) -> tuple:
    """One cell: the same test function with the same parameters but for `impl`."""
    params = {k: v for k, v in item.callspec.params.items() if k != "impl"}
    return (item.originalname, tuple(sorted(params.items(), key=lambda kv: kv[0])))


@pytest.fixture
def interleaved(request, benchmark):
    """interleaved(build_case, group=..., **extra_info): time this test's implementation together
    with the other selected implementations of its cell (interleave.py), and record its samples.

    The test is parametrized by `impl`; `build_case(impl)` returns that implementation's Case, or
    raises pytest.skip (peer missing) or AssertionError (wrong output).  The first test of a cell
    measures the whole cell; its other tests reuse the samples.
    """
    quick = request.config.getoption("--quick")
    budget = request.config.getoption("--bench-budget")
    own_impl = request.node.callspec.params["impl"]
    key = _cell_key(request.node)

    def _interleaved(build_case, *, group: str, **extra_info):
        cell = _CELLS.get(key)
        if cell is None:
            impls = [
                item.callspec.params["impl"]
                for item in request.session.items
                if hasattr(item, "callspec") and _cell_key(item) == key
            ]
            threads = dict(key[1]).get("threads", 1)
            cell = _CELLS[key] = interleave.measure_cell(
                {impl: functools.partial(build_case, impl) for impl in impls},
                budget_seconds=budget,
                quick=quick,
                pause_between_blocks=threads > 1,
                load_meter=lambda: OtherLoad().fraction,
            )
        samples = cell.of(own_impl)
        benchmark.group = group
        benchmark.extra_info.update(cell.info[own_impl])
        benchmark.extra_info.update(extra_info)
        benchmark.extra_info["rounds"] = len(samples)
        benchmark.extra_info["interleaved_with"] = sorted(set(cell.samples) - {own_impl})
        benchmark.extra_info["other_cpu_load"] = cell.other_cpu_load
        with interleave.REPLAY_CLOCK.replaying(samples):
            benchmark.pedantic(_replayed_round, rounds=len(samples), iterations=1)
        # The replay must hand pytest-benchmark exactly these samples, or every figure is wrong.
        if benchmark.stats is not None:  # None under --benchmark-disable
            recorded = benchmark.stats.stats
            assert recorded.rounds == len(samples) and math.isclose(recorded.median, statistics.median(samples))

    return _interleaved


def _replayed_round():
    """The target of a replayed round: its duration comes from the clock, not from running it."""
