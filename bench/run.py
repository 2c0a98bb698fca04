"""Run the benchmark grid and print its summary.

  python bench/run.py            # the whole grid, 1 and 2 threads (about 5-10 minutes)
  python bench/run.py --quick    # tiny and small shapes, stream, sgemm; 3 rounds (under a minute)
  python bench/run.py -m medium --json medium.json   # any other pytest arguments pass through

Runs `python -m pytest bench --benchmark-only --benchmark-json=...`, then bench/summary.py on the
JSON.  The JSON is kept only when --json is given.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH_DIR)

import summary  # noqa: E402  (next to this file)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description="Run the fast-lstm benchmark grid and print its summary.",
        epilog="Other arguments are passed to pytest (e.g. -m medium, -k torch, --bench-budget 1).",
    )
    parser.add_argument("--quick", action="store_true", help="tiny and small shapes, 3 rounds")
    parser.add_argument("--json", metavar="PATH", help="keep the pytest-benchmark JSON here")
    args, pytest_args = parser.parse_known_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        json_path = os.path.abspath(args.json) if args.json else os.path.join(tmp, "results.json")
        command = [
            sys.executable,
            "-B",  # no __pycache__ in the source tree
            "-m",
            "pytest",
            BENCH_DIR,
            "--benchmark-only",
            f"--benchmark-json={json_path}",
            "--benchmark-columns=min,median,iqr,rounds",
            "-rs",
            *(["--quick"] if args.quick else []),
            *pytest_args,
        ]
        print("+", " ".join(command), flush=True)
        # Run from the bench directory so that a source tree in the current directory cannot
        # shadow the installed fast_lstm.
        status = subprocess.call(command, cwd=BENCH_DIR)
        # A selection that matches nothing leaves the JSON file empty (or absent).
        if not os.path.exists(json_path) or os.path.getsize(json_path) == 0:
            print(f"pytest exited with {status} and wrote no results", file=sys.stderr)
            return status or 1
        benchmarks, meta = summary.load(json_path)
        print()
        print(summary.summarize(benchmarks, meta))
    return status


if __name__ == "__main__":
    sys.exit(main())
