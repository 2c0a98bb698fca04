"""Each implementation's call right after a numpy matmul or a short pause, beside back-to-back calls.

  python bench/after_matmul.py -s long -t 2          # forward; -m train for the training step

After each of its calls numpy's OpenBLAS keeps its worker threads spinning for about 0.1 s, as
ONNX Runtime's and OpenMP's pools do after theirs. A model whose Dense layer (a numpy matmul) runs
just before its LSTM starts every LSTM call beside such a spinner, which holds a core. This times,
per implementation and in turn: a block of quiet calls (each block after a 0.2 s pause, so no
runtime still spins), then a block in which an untimed (N x N) numpy float32 matmul precedes every
timed call, and a block in which the caller sleeps a moment (--pause-ms) before each timed call.
All libraries run at the same thread count. Not part of the pytest suite: the suite's interleaved
blocks pause on purpose (interleave.py) so that no row pays for another's spinners.

The pause is the case of a caller that does other work between calls: each runtime's idle workers
spin a while after a call and then sleep (fast_lstm's after 0.1 ms, ONNX Runtime's after 10-50 ms),
and a call that finds them asleep waits for their wake-up, which on a virtual machine whose idle
CPU halted took 0.1-0.3 ms.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np

import lstm_impls

QUIESCE_SECONDS = 0.2  # past the spin of every runtime here (OpenBLAS's ~0.1 s is the longest)


CONDITIONS = ("quiet", "pause", "matmul")  # what precedes each timed call: nothing, a sleep, a matmul


def measure(cases: dict, square: np.ndarray, pause: float, rounds: int, calls: int) -> dict[str, dict[str, float]]:
    """Per implementation and condition (CONDITIONS): median seconds of the timed calls."""
    times = {impl: {condition: [] for condition in CONDITIONS} for impl in cases}
    names = list(cases)
    for r in range(rounds):
        for impl in names[r % len(names) :] + names[: r % len(names)]:  # rotate who goes first
            run = cases[impl].run
            for condition in CONDITIONS:
                time.sleep(QUIESCE_SECONDS)
                run()  # re-warm the caches the others evicted
                for _ in range(calls):
                    if condition == "matmul":
                        square @ square
                    elif condition == "pause":
                        time.sleep(pause)
                    start = time.perf_counter()
                    run()
                    times[impl][condition].append(time.perf_counter() - start)
    return {impl: {c: statistics.median(t) for c, t in by_condition.items()} for impl, by_condition in times.items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-s", "--shape", default="long", choices=sorted(lstm_impls.GRID))
    parser.add_argument("-t", "--threads", type=int, default=2)
    parser.add_argument("-m", "--mode", default="forward", choices=lstm_impls.MODES)
    parser.add_argument("-r", "--rounds", type=int, default=10, help="rounds (each implementation once per round)")
    parser.add_argument("-c", "--calls", type=int, default=5, help="timed calls per block")
    parser.add_argument("-n", "--matmul", type=int, default=512, help="N of the N x N matmul before each call")
    parser.add_argument("-p", "--pause-ms", type=float, default=1.0, help="the sleep before each call of the pause block")
    args = parser.parse_args(argv)
    if min(args.threads, args.rounds, args.calls, args.matmul) < 1 or args.pause_ms <= 0:
        parser.error("--threads, --rounds, --calls and --matmul must be at least 1, --pause-ms positive")
    reason = lstm_impls.numpy_skip_reason(args.threads)
    if reason:
        parser.error(f"numpy cannot run at {args.threads} threads here: {reason}")

    shape = lstm_impls.GRID[args.shape]
    problem = lstm_impls.problem(shape)
    impls = lstm_impls.IMPLS_FORWARD if args.mode == "forward" else lstm_impls.IMPLS_TRAIN
    with lstm_impls.all_libraries_at(args.threads):
        cases = {}
        for impl in impls:
            if impl == "numpy":
                continue  # the plain numpy LSTM is numpy's matmuls themselves
            peer = lstm_impls.peer_for(impl)
            if not peer.available:
                print(f"{impl}: skipped ({peer.reason})")
                continue
            cases[impl] = lstm_impls.BUILDERS[impl](problem, args.mode, args.threads)
        square = np.ones((args.matmul, args.matmul), np.float32)
        medians = measure(cases, square, args.pause_ms / 1e3, args.rounds, args.calls)

    pause, matmul = f"a {args.pause_ms:g} ms pause", f"a {args.matmul} x {args.matmul} matmul"
    print(f"{args.shape} {args.mode}, {args.threads} threads: median ms of calls back to back, after {pause}, after {matmul}")
    print(f"| implementation | back to back | after {pause} | after {matmul} | pause / back to back | matmul / back to back |")
    print("|---|---:|---:|---:|---:|---:|")
    for impl, m in medians.items():
        quiet = m["quiet"]
        print(f"| {impl} | {quiet * 1e3:.3f} | {m['pause'] * 1e3:.3f} | {m['matmul'] * 1e3:.3f} "
              f"| {m['pause'] / quiet:.2f}x | {m['matmul'] / quiet:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
