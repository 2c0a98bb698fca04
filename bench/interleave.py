"""Time the implementations of one benchmark cell (one shape, mode and thread count) together.

The machine is shared, and its speed drifts by 10-50% over tens of seconds.  Timed one after the
other, ~2 s each, two implementations can land in different phases of that drift, and their ratio
then measures the drift.  So every implementation of a cell is timed in short blocks, taken in
turn, several times over:

    block 1:  A A A A  B B B B  C C C C
    block 2:  B B B B  C C C C  A A A A      (the order rotates, so no one always goes first)
    ...

Every call is timed on its own.  Each implementation gets about the same seconds of timed calls
(the budget), spread over the whole measurement of the cell, so each one samples the same drift.

pytest-benchmark times one function per test, and a test can use its `benchmark` fixture once.
The samples of a cell are taken in whichever of its tests runs first.  Each test then hands its
own samples to pytest-benchmark through `REPLAY_CLOCK`, installed as pytest-benchmark's timer
(conftest.py).  The clock reads time.perf_counter, except inside `REPLAY_CLOCK.replaying(samples)`.
There it returns timestamps that differ by exactly those samples, so pytest-benchmark's statistics,
JSON and tables hold the interleaved timings.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from typing import Callable, Iterable, Iterator

import pytest

from lstm_impls import Case

# Other runtimes' idle worker threads spin for a while after their last call (OpenBLAS for up to
# ~0.1 s, OpenMP's and ONNX Runtime's pools too).  At 2 threads they take a core from the next
# implementation, whose workers meet at a barrier every step, so each block starts after a pause.
QUIESCE_SECONDS = 0.2
FULL_BLOCKS = 5
# Cells whose calls take seconds (xlarge, a training epoch) get fewer blocks, of one call each.
FEWEST_BLOCKS = 3
MAX_CALLS = 1000  # per implementation and cell, over all blocks
# A call shorter than this also gets one untimed call at the start of each block: it re-warms the
# caches the other implementations evicted, at a cost that does not matter.
REWARM_BELOW_SECONDS = 0.05


@dataclasses.dataclass
class CellSamples:
    """What one cell's measurement left for its tests: per implementation, the seconds of each
    timed call, its Case.info, or the exception that building or checking it raised."""

    samples: dict[str, list[float]]
    info: dict[str, dict]
    failures: dict[str, BaseException]
    other_cpu_load: float | None

    def of(self, impl: str) -> list[float]:
        """The samples of `impl`; re-raises its failure (a skip, or a wrong output) in its test."""
        if impl in self.failures:
            raise self.failures[impl]
        return self.samples[impl]


def measure_cell(
    builders: dict[str, Callable[[], Case]],
    *,
    budget_seconds: float,
    quick: bool,
    pause_between_blocks: bool,
    load_meter: Callable[[], Callable[[], float | None]],
) -> CellSamples:
    """Build every implementation (untimed), then time them in interleaved blocks.

    `builders[impl]()` returns the Case, or raises (pytest.skip for a missing peer, AssertionError
    for a wrong output); the exception is kept for that implementation's own test.
    `load_meter()` starts measuring other processes' share of the machine; calling its result
    stops and returns it.
    """
    cases: dict[str, Case] = {}
    failures: dict[str, BaseException] = {}
    for impl, build in builders.items():
        try:
            cases[impl] = build()
        except (Exception, pytest.skip.Exception) as err:  # skip derives from BaseException
            failures[impl] = err

    meter = load_meter()
    one_call = {impl: _first_calls(case, pause_between_blocks) for impl, case in cases.items()}
    slowest = max(one_call.values(), default=0.0)
    blocks = FEWEST_BLOCKS if quick or slowest * FULL_BLOCKS > FEWEST_BLOCKS * budget_seconds else FULL_BLOCKS
    calls_per_block, rewarm = {}, {}
    for impl, seconds in one_call.items():
        rewarm[impl] = seconds < REWARM_BELOW_SECONDS
        if quick:
            calls_per_block[impl] = 1
        else:
            per_block = budget_seconds / blocks / max(seconds, 1e-9)
            calls_per_block[impl] = int(min(MAX_CALLS // blocks, max(1, round(per_block))))

    samples: dict[str, list[float]] = {impl: [] for impl in cases}
    order = list(cases)
    for block in range(blocks):
        rotation = block % len(order) if order else 0
        for impl in order[rotation:] + order[:rotation]:
            case = cases[impl]
            if pause_between_blocks:
                time.sleep(QUIESCE_SECONDS)
            with case.context():
                if rewarm[impl]:
                    case.run()
                samples[impl].extend(_timed_calls(case.run, calls_per_block[impl]))
    info = {impl: dict(case.info) for impl, case in cases.items()}
    return CellSamples(samples, info, failures, meter())


def _first_calls(case: Case, pause: bool) -> float:
    """Two untimed calls: the first pays one-time costs (lazy initialisation, weight re-layout,
    page faults of new buffers), the second gives the time of one call."""
    if pause:
        time.sleep(QUIESCE_SECONDS)
    with case.context():
        case.run()
        start = time.perf_counter()
        case.run()
        return time.perf_counter() - start


def _timed_calls(run: Callable[[], object], count: int) -> list[float]:
    durations = []
    for _ in range(count):
        start = time.perf_counter()
        run()
        durations.append(time.perf_counter() - start)
    return durations


class ReplayClock:
    """pytest-benchmark's timer: time.perf_counter, or a replay of given durations.

    pytest-benchmark times a round as `end = timer()` minus `start = timer()`.  While replaying,
    the clock answers each start with its current reading and each end with that reading plus the
    next duration, so every round measures exactly one given duration.
    """

    def __init__(self):
        self._durations: Iterator[float] | None = None
        self._now = 0.0
        self._awaiting_end = False

    def __call__(self) -> float:
        if self._durations is None:
            return time.perf_counter()
        if self._awaiting_end:
            self._now += next(self._durations)
        self._awaiting_end = not self._awaiting_end
        return self._now

    @contextlib.contextmanager
    def replaying(self, durations: Iterable[float]):
        self._durations, self._now, self._awaiting_end = iter(durations), 0.0, False
        try:
            yield
        finally:
            self._durations = None


REPLAY_CLOCK = ReplayClock()
