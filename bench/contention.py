"""Each implementation's calls sorted by how busy the core's floating-point units were just before.

  python bench/contention.py -s long                  # forward at 1 thread, 60 s

On a shared machine another tenant's thread on the same physical core (SMT) takes part of its
FMA units, for stretches of milliseconds to seconds. Sessions 19-23 saw the same 1-thread long
forward take 8.5 ms in some stretches and 11 ms in others. Before each timed call this times a
fixed loop of register-only FMAs (a probe compiled here with the system C compiler): its time is
the share of the FMA units the other tenant left at that moment. The calls of every
implementation are then grouped by the probe's quartiles, pooled over all implementations, and
each group's medians are compared. A ratio that holds in every group is the implementations'
own; one that moves with the group is the machine's. The probe runs on the calling thread's core
only, so the grouping means most at 1 thread; above it, each timed call also comes after the
probe's ~1 ms, so it includes each runtime's wake-up after such a gap (after_matmul.py's pause
block times that on its own). Not part of the pytest suite.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import lstm_impls

# Before each call. At 1 thread no runtime has worker threads, and a short pause keeps the samples
# many; at more, every runtime's idle workers spin after its call (ONNX Runtime's for 10-50 ms,
# OpenBLAS's for about 0.1 s: after_matmul.py), and the next call must not start beside them.
PAUSE_SECONDS = {1: 0.02}
QUIESCE_SECONDS = 0.2

# Ten independent multiply-add chains held in registers: no memory traffic, so its time depends
# only on the FP units (and the clock). AVX2+FMA when the CPU has them, else SSE2.
PROBE_SOURCE = r"""
#include <immintrin.h>
__attribute__((target("avx2,fma"))) static float probe_fma(long iterations) {
    __m256 a[10];
    const __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
    for (int i = 0; i < 10; ++i) a[i] = _mm256_set1_ps(1.0f + i);
    for (long k = 0; k < iterations; ++k)
        for (int i = 0; i < 10; ++i) a[i] = _mm256_fmadd_ps(a[i], m, c);
    float sum = 0;
    for (int i = 0; i < 10; ++i) sum += _mm256_cvtss_f32(a[i]);
    return sum;
}
static float probe_sse(long iterations) {
    __m128 a[10];
    const __m128 m = _mm_set1_ps(0.999999f), c = _mm_set1_ps(1e-7f);
    for (int i = 0; i < 10; ++i) a[i] = _mm_set1_ps(1.0f + i);
    for (long k = 0; k < iterations; ++k)
        for (int i = 0; i < 10; ++i) a[i] = _mm_add_ps(_mm_mul_ps(a[i], m), c);
    float sum = 0;
    for (int i = 0; i < 10; ++i) sum += _mm_cvtss_f32(a[i]);
    return sum;
}
float fp_probe(long iterations) {
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? probe_fma(iterations)
                                                                              : probe_sse(iterations);
}
"""
PROBE_ITERATIONS = 200_000  # about 0.4-1.5 ms


def build_probe(directory: str):
    """The compiled probe as a Python callable returning its seconds, or raise with the reason."""
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not compiler:
        raise RuntimeError("no C compiler found (set CC)")
    source, library = os.path.join(directory, "probe.c"), os.path.join(directory, "probe.so")
    with open(source, "w") as f:
        f.write(PROBE_SOURCE)
    subprocess.run([compiler, "-O2", "-shared", "-fPIC", "-o", library, source], check=True)
    probe = ctypes.CDLL(library).fp_probe
    probe.argtypes, probe.restype = [ctypes.c_long], ctypes.c_float

    def timed() -> float:
        start = time.perf_counter()
        probe(PROBE_ITERATIONS)
        return time.perf_counter() - start

    return timed


def measure(cases: dict, probe, seconds: float, pause: float) -> dict[str, list[tuple[float, float]]]:
    """Per implementation: (probe seconds, call seconds) pairs, the implementations in turn."""
    samples = {impl: [] for impl in cases}
    names = list(cases)
    end = time.time() + seconds
    turn = 0
    while time.time() < end or turn < len(names):
        impl = names[turn % len(names)]
        turn += 1
        time.sleep(pause)
        run = cases[impl].run
        run()  # re-warm the caches the others evicted
        busy = probe()
        start = time.perf_counter()
        run()
        samples[impl].append((busy, time.perf_counter() - start))
    return samples


def quartile_groups(samples: dict) -> list[tuple[str, float, float]]:
    """(name, low, high) probe bounds of the quarter groups, from every implementation's probes."""
    probes = sorted(busy for pairs in samples.values() for busy, _ in pairs)
    q1, _, q3 = statistics.quantiles(probes, n=4)
    return [("least busy quarter", 0.0, q1), ("middle half", q1, q3), ("busiest quarter", q3, float("inf"))]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-s", "--shape", default="long", choices=sorted(lstm_impls.GRID))
    parser.add_argument("-t", "--threads", type=int, default=1)
    parser.add_argument("-m", "--mode", default="forward", choices=lstm_impls.MODES)
    parser.add_argument("-d", "--seconds", type=float, default=60.0, help="how long to sample")
    args = parser.parse_args(argv)
    if args.threads < 1 or args.seconds <= 0:
        parser.error("--threads must be at least 1 and --seconds positive")

    problem = lstm_impls.problem(lstm_impls.GRID[args.shape])
    impls = lstm_impls.IMPLS_FORWARD if args.mode == "forward" else lstm_impls.IMPLS_TRAIN
    with tempfile.TemporaryDirectory() as directory, lstm_impls.all_libraries_at(args.threads):
        try:
            probe = build_probe(directory)
        except (RuntimeError, OSError, subprocess.CalledProcessError) as error:
            print(f"cannot build the FP probe: {error}", file=sys.stderr)
            return 1
        cases = {}
        for impl in impls:
            if impl == "numpy":
                continue  # slow, and not what this is about
            peer = lstm_impls.peer_for(impl)
            if not peer.available:
                print(f"{impl}: skipped ({peer.reason})")
                continue
            cases[impl] = lstm_impls.BUILDERS[impl](problem, args.mode, args.threads)
        samples = measure(cases, probe, args.seconds, PAUSE_SECONDS.get(args.threads, QUIESCE_SECONDS))

    groups = quartile_groups(samples)
    threads = f"{args.threads} thread" + ("s" if args.threads > 1 else "")
    print(f"{args.shape} {args.mode}, {threads}: median ms (calls) by the FP probe's time before the call")
    print("| group | probe ms | " + " | ".join(cases) + " | " + " | ".join(f"{i} / fast_lstm" for i in cases if i != "fast_lstm") + " |")
    print("|---|---:|" + "---:|" * (2 * len(cases) - 1))
    for name, low, high in groups:
        medians = {}
        cells = []
        for impl, pairs in samples.items():
            times = [t for busy, t in pairs if low <= busy < high]
            medians[impl] = statistics.median(times) if times else float("nan")
            cells.append(f"{medians[impl] * 1e3:.3f} ({len(times)})")
        probes = [busy for pairs in samples.values() for busy, _ in pairs if low <= busy < high]
        ratios = [f"{medians[i] / medians['fast_lstm']:.3f}" for i in cases if i != "fast_lstm"]
        print(f"| {name} | {statistics.median(probes) * 1e3:.2f} | " + " | ".join(cells + ratios) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
