"""Two builds of fast_lstm in one process, their calls interleaved: is a change faster?

  pip install --no-deps --target /tmp/base .        # at the commit to compare against
  python bench/compare_builds.py /tmp/base -s small -t 1 -m forward

The installed fast_lstm is "new"; the fast_lstm package under the given directory is loaded
beside it as "base" (copied to a temporary directory under another name, so both import). Each
round calls one build then the other (the order alternating), a few timed calls each, and the
medians of all calls are compared. On this project's shared 2-core machines, separate processes
timed in turn disagreed by up to 10% about the same build (the speed of a process depends on
where it lands); two copies of one build compared this way agree within 1% (give the installed
package's own site-packages directory for such an A/A check). Not part of the
benchmark suite: it answers "did this commit change the speed", not "how do we compare".

--after-matmul N puts an untimed (N x N) float32 numpy matmul, at the same thread count, before
every timed call: the call then starts while numpy's BLAS workers still spin, as OpenBLAS's do
for about 0.1 s after each of its calls, the way a model's Dense layer leaves them for its LSTM.
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import statistics
import sys
import tempfile
import time

import numpy as np

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH_DIR)

import lstm_impls  # noqa: E402  (next to this file)

BASE_NAME = "fast_lstm_base"


def load_base(site_dir: str, tmp: str):
    """The fast_lstm package under site_dir, imported as fast_lstm_base."""
    source = os.path.join(site_dir, "fast_lstm")
    if not os.path.isfile(os.path.join(source, "__init__.py")):
        raise SystemExit(f"{site_dir}: no fast_lstm package there (pip install --target {site_dir} .)")
    shutil.copytree(source, os.path.join(tmp, BASE_NAME), ignore=shutil.ignore_patterns("__pycache__"))
    sys.path.insert(0, tmp)
    return importlib.import_module(BASE_NAME)


def runner(module, problem: lstm_impls.Problem, mode: str):
    """One timed call of `mode` on `problem` with this build."""
    p = problem
    if mode == "forward":
        return lambda: module.lstm_forward(p.x, p.w_ih, p.w_hh, p.b, p.h0, p.c0)
    if mode == "train":

        def step():
            y, _, _, cache = module.lstm_forward(p.x, p.w_ih, p.w_hh, p.b, p.h0, p.c0, training=True)
            return module.lstm_backward(np.ones_like(y), None, None, cache)

        return step
    raise ValueError(f"mode must be 'forward' or 'train', got {mode!r}")


def compare(
    new, base, problem, mode: str, threads: int, rounds: int, calls: int, after_matmul: int = 0
) -> tuple[float, float]:
    """Medians (seconds) of new's and base's calls, interleaved round by round; with after_matmul,
    each timed call right after an untimed (after_matmul x after_matmul) numpy matmul."""
    runs = {"new": runner(new, problem, mode), "base": runner(base, problem, mode)}
    square = np.ones((after_matmul, after_matmul), np.float32) if after_matmul else None
    for module in (new, base):
        module.set_num_threads(threads)
    times: dict[str, list[float]] = {"new": [], "base": []}
    for r in range(rounds):
        for name in ("new", "base") if r % 2 == 0 else ("base", "new"):
            run = runs[name]
            run()  # the other build ran last: its buffers, not ours, are in cache
            for _ in range(calls):
                if square is not None:
                    square @ square
                start = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - start)
    return statistics.median(times["new"]), statistics.median(times["base"])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base_dir", help="directory holding the fast_lstm package to compare against")
    parser.add_argument("-s", "--shape", default="small", choices=sorted(lstm_impls.GRID))
    parser.add_argument("-t", "--threads", type=int, default=1)
    parser.add_argument("-m", "--mode", default="forward", choices=("forward", "train"))
    parser.add_argument("-r", "--rounds", type=int, default=20, help="rounds (each build once per round)")
    parser.add_argument("-c", "--calls", type=int, default=5, help="timed calls per build and round")
    parser.add_argument(
        "--after-matmul",
        type=int,
        default=0,
        metavar="N",
        help="an untimed (N x N) numpy float32 matmul before each timed call (see above)",
    )
    args = parser.parse_args(argv)
    if args.threads < 1 or args.rounds < 1 or args.calls < 1 or args.after_matmul < 0:
        parser.error("--threads, --rounds and --calls must be at least 1, --after-matmul at least 0")
    if args.after_matmul:
        reason = lstm_impls.numpy_skip_reason(args.threads)
        if reason:
            parser.error(f"--after-matmul: numpy cannot run at {args.threads} threads here: {reason}")

    import fast_lstm as new

    with tempfile.TemporaryDirectory() as tmp:
        base = load_base(os.path.abspath(args.base_dir), tmp)
        problem = lstm_impls.problem(lstm_impls.GRID[args.shape])
        with lstm_impls.all_libraries_at(args.threads):
            new_median, base_median = compare(
                new, base, problem, args.mode, args.threads, args.rounds, args.calls, args.after_matmul
            )
    after = f" after a {args.after_matmul}^2 matmul" if args.after_matmul else ""
    print(
        f"{args.shape} {args.mode} {args.threads}T{after}: base {base_median * 1e3:.3f} ms, "
        f"new {new_median * 1e3:.3f} ms, new / base {new_median / base_median:.3f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
