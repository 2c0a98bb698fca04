"""The least time a streaming step can take on this machine, beside PackedLSTM.step and LSTMCell.

  python bench/stream_bound.py              # the grid's stream shape (B=1, D=H=256), 1 and 2 threads

A step of a single sequence must read every weight once: W_ih and W_hh, 4H x (D + H) floats (2 MB
at the stream shape), and its threads must meet before the next step. The probe
(probes/weight_stream_bound.c, built here with the system C compiler) does only that, in C: no
cell update, no Python call. Its time a step is what this machine's memory system takes to deliver
the weights once, which every step of any kernel must wait for; a PackedLSTM.step of the smallest
shape (D = H = 16) adds what the Python call costs. Each round runs the probe,
then times PackedLSTM.step and torch.nn.LSTMCell in turn, so all see the same machine; the
medians of the rounds are printed. Not part of the pytest suite: the suite's stream rows time the
peers; this times what the hardware allows.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

import lstm_impls

PROBE_SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "probes", "weight_stream_bound.c")
# The smallest step: what PackedLSTM.step costs besides its arithmetic and weight traffic.
CALL_SHAPE = lstm_impls.Shape("stream-call", B=1, T=100, D=16, H=16)
# Idle worker threads of the runtime timed last spin for a while (OpenMP's, fast_lstm's own); the
# next measurement at 2 threads must not start beside them.
QUIESCE_SECONDS = 0.2


def build_probe(directory: str) -> str:
    """The probe's executable, or raise with the reason."""
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not compiler:
        raise RuntimeError("no C compiler found (set CC)")
    executable = os.path.join(directory, "weight_stream_bound")
    subprocess.run([compiler, "-O3", "-mavx2", "-mfma", "-pthread", "-o", executable, PROBE_SOURCE], check=True)
    return executable


def probe_step_seconds(executable: str, threads: int, megabytes: float) -> float:
    """The probe's median seconds a step for `megabytes` of weights over `threads` threads."""
    result = subprocess.run([executable, str(threads), f"{megabytes:.6f}"], check=True, capture_output=True, text=True)
    match = re.search(r"us_per_step=([0-9.]+)", result.stdout)
    if not match:
        raise RuntimeError(f"unexpected probe output: {result.stdout!r}")
    return float(match.group(1)) * 1e-6


def step_seconds(case: lstm_impls.Case, steps: int, seconds: float) -> float:
    """Median seconds a step of `case` (whose run makes `steps` steps), timed for about `seconds`."""
    samples = []
    end = time.perf_counter() + seconds
    with case.context():
        case.run()  # re-warm the caches the others evicted
        while time.perf_counter() < end or not samples:
            start = time.perf_counter()
            case.run()
            samples.append((time.perf_counter() - start) / steps)
    return statistics.median(samples)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-t", "--threads", type=int, nargs="+", default=list(lstm_impls.THREADS))
    parser.add_argument("-r", "--rounds", type=int, default=5)
    parser.add_argument("-d", "--seconds", type=float, default=0.5, help="timing of each step per round")
    args = parser.parse_args(argv)
    if min(args.threads) < 1 or args.rounds < 1 or args.seconds <= 0:
        parser.error("--threads and --rounds must be at least 1, --seconds positive")
    if not lstm_impls.FAST_LSTM.available:
        print(f"fast_lstm is not installed: {lstm_impls.FAST_LSTM.reason}", file=sys.stderr)
        return 1
    if "avx2" not in lstm_impls.FAST_LSTM.module.available_isas():
        print("the probe needs AVX2 with FMA, which this CPU lacks", file=sys.stderr)
        return 1

    shape = lstm_impls.STREAM
    megabytes = 4 * shape.H * (shape.D + shape.H) * np.dtype(np.float32).itemsize / 2**20
    problem, call_problem = lstm_impls.problem(shape), lstm_impls.problem(CALL_SHAPE)
    with tempfile.TemporaryDirectory() as directory:
        try:
            probe = build_probe(directory)
        except (RuntimeError, OSError, subprocess.CalledProcessError) as error:
            print(f"cannot build the probe: {error}", file=sys.stderr)
            return 1
        print(f"stream shape B={shape.B} D={shape.D} H={shape.H}: {megabytes:.2f} MB of weights a step; "
              f"median us a step over {args.rounds} rounds")
        print("| threads | weights streamed (probe) | call alone (D=H=16) | probe + call | PackedLSTM.step "
              "| torch LSTMCell | LSTMCell / PackedLSTM.step |")
        print("|---:|---:|---:|---:|---:|---:|---:|")
        for threads in args.threads:
            with lstm_impls.all_libraries_at(threads):
                cases = {
                    "ours": lstm_impls.build_stream("fast_lstm_packed", problem, threads),
                    "call": lstm_impls.build_stream("fast_lstm_packed", call_problem, threads),
                }
                if lstm_impls.TORCH.available:
                    cases["torch"] = lstm_impls.build_stream("torch", problem, threads)
                rounds = {name: [] for name in ["floor", *cases]}
                for _ in range(args.rounds):
                    time.sleep(QUIESCE_SECONDS)
                    rounds["floor"].append(probe_step_seconds(probe, threads, megabytes))
                    for name, case in cases.items():
                        time.sleep(QUIESCE_SECONDS)
                        steps = call_problem.shape.T if name == "call" else shape.T
                        rounds[name].append(step_seconds(case, steps, args.seconds))
            us = {name: statistics.median(values) * 1e6 for name, values in rounds.items()}
            torch_cells = (f"{us['torch']:.1f} | {us['torch'] / us['ours']:.2f}x" if "torch" in us
                           else f"- ({lstm_impls.TORCH.reason}) | -")
            print(f"| {threads} | {us['floor']:.1f} | {us['call']:.1f} | {us['floor'] + us['call']:.1f} | "
                  f"{us['ours']:.1f} | {torch_cells} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
