"""Peak memory of one xlarge training step (issue 7's memory target), fast_lstm beside torch.nn.LSTM.

  python bench/peak_memory.py            # the grid's xlarge shape, 2 threads
  python bench/peak_memory.py --shape medium --threads 1

Each implementation runs in a fresh Python process: import, build the data, then one training
step (forward + backward of sum(y) with respect to x, weights, bias, h0, c0). Reported: the
process's peak RSS (ru_maxrss, which includes the library itself), and its growth during the
step, measured from just before the step. Not a pytest-benchmark test: peak RSS is per process.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))

CHILD = r"""
import resource, sys
import numpy as np
sys.path.insert(0, {bench_dir!r})
import lstm_impls
impl, shape, threads = {impl!r}, lstm_impls.GRID[{shape!r}], {threads}
p = lstm_impls.problem(shape)
with lstm_impls.all_libraries_at(threads):
    case = (lstm_impls.build_fast_lstm if impl == "fast_lstm" else lstm_impls.build_torch)(p, "train", threads)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    case.run()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(peak / 1024, (peak - before) / 1024)
"""


def measure(impl: str, shape: str, threads: int):
    code = CHILD.format(bench_dir=BENCH_DIR, impl=impl, shape=shape, threads=threads)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=BENCH_DIR)
    if result.returncode != 0:
        return None, result.stderr.strip().splitlines()[-1] if result.stderr else f"exit {result.returncode}"
    peak, growth = (float(v) for v in result.stdout.split())
    return (peak, growth), ""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", default="xlarge")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    print(f"| impl | peak RSS MB | growth during the step MB |  ({args.shape} training step, {args.threads} threads)")
    print("|---|---:|---:|")
    for impl in ("fast_lstm", "torch"):
        figures, error = measure(impl, args.shape, args.threads)
        if figures is None:
            print(f"| {impl} | skipped: {error} | |")
        else:
            print(f"| {impl} | {figures[0]:.0f} | {figures[1]:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
