"""Each implementation's call right after a numpy matmul, beside the same call on a quiet machine.

  python bench/after_matmul.py -s long -t 2          # forward; -m train for the training step

After each of its calls numpy's OpenBLAS keeps its worker threads spinning for about 0.1 s, as
ONNX Runtime's and OpenMP's pools do after theirs. A model whose Dense layer (a numpy matmul) runs
just before its LSTM starts every LSTM call beside such a spinner, which holds a core. This times,
per implementation and in turn: a block of quiet calls (each block after a 0.2 s pause, so no
runtime still spins), then a block in which an untimed (N x N) numpy float32 matmul precedes every
timed call. All libraries run at the same thread count. Not part of the pytest suite: the suite's
interleaved blocks pause on purpose (interleave.py) so that no row pays for another's spinners.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np

import lstm_impls

QUIESCE_SECONDS = 0.2  # past the spin of every runtime here (OpenBLAS's ~0.1 s is the longest)


def measure(cases: dict, square: np.ndarray, rounds: int, calls: int) -> dict[str, tuple[float, float]]:
    """Per implementation: median seconds of (quiet calls, calls right after the matmul)."""
    times = {impl: ([], []) for impl in cases}
    names = list(cases)
    for r in range(rounds):
        for impl in names[r % len(names) :] + names[: r % len(names)]:  # rotate who goes first
            run = cases[impl].run
            for after, samples in ((False, times[impl][0]), (True, times[impl][1])):
                time.sleep(QUIESCE_SECONDS)
                run()  # re-warm the caches the others evicted
                for _ in range(calls):
                    if after:
                        square @ square
                    start = time.perf_counter()
                    run()
                    samples.append(time.perf_counter() - start)
    return {impl: (statistics.median(q), statistics.median(a)) for impl, (q, a) in times.items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-s", "--shape", default="long", choices=sorted(lstm_impls.GRID))
    parser.add_argument("-t", "--threads", type=int, default=2)
    parser.add_argument("-m", "--mode", default="forward", choices=lstm_impls.MODES)
    parser.add_argument("-r", "--rounds", type=int, default=10, help="rounds (each implementation once per round)")
    parser.add_argument("-c", "--calls", type=int, default=5, help="timed calls per block")
    parser.add_argument("-n", "--matmul", type=int, default=512, help="N of the N x N matmul before each call")
    args = parser.parse_args(argv)
    if min(args.threads, args.rounds, args.calls, args.matmul) < 1:
        parser.error("--threads, --rounds, --calls and --matmul must be at least 1")
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
        medians = measure(cases, square, args.rounds, args.calls)

    print(f"{args.shape} {args.mode}, {args.threads} threads, after a {args.matmul} x {args.matmul} matmul")
    print("| implementation | quiet ms | after the matmul ms | after / quiet |")
    print("|---|---:|---:|---:|")
    for impl, (quiet, after) in medians.items():
        print(f"| {impl} | {quiet * 1e3:.3f} | {after * 1e3:.3f} | {after / quiet:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
