"""10,000 calls keep memory flat: no leak in the C++ buffers (RSS) nor in Python objects (tracemalloc).

Each test warms up (the first calls create the thread pool's workers, numpy's caches and the
allocator's arenas), then makes its calls in two halves and measures how much RSS and
tracemalloc's traced memory grow over each. A leak grows in both halves; a one-off growth (an
arena, a cache or a hash table resized once) shows in at most one, so the smaller growth is
compared with the slack. Slack: RSS 8 MB and traced Python memory 256 KB per half of 5,000
calls, i.e. 1.6 KB and 50 bytes per call: less than the smallest buffer a call allocates in C++
(the training cache of even these tiny problems is larger) and than any Python object plus array.
"""

import gc
import json
import os
import subprocess
import sys
import tracemalloc

import fast_lstm
import numpy as np
import pytest
from reference import random_lstm_problem

CALLS = 10_000
WARM_UP = 500
RSS_SLACK = 8 * 2**20
TRACEMALLOC_SLACK = 256 * 2**10

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs Linux /proc for RSS")


def rss_bytes():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def measure(work, calls=CALLS):
    """(RSS growth, traced growth) in bytes: the smaller of two halves of `calls` calls, after a warm-up."""
    for _ in range(WARM_UP):
        work()
    gc.collect()
    tracemalloc.start()
    try:
        rss, traced = [rss_bytes()], [tracemalloc.get_traced_memory()[0]]
        for _ in range(2):
            for _ in range(calls // 2):
                work()
            gc.collect()
            rss.append(rss_bytes())
            traced.append(tracemalloc.get_traced_memory()[0])
    finally:
        tracemalloc.stop()
    return min(rss[1] - rss[0], rss[2] - rss[1]), min(traced[1] - traced[0], traced[2] - traced[1])


# AddressSanitizer holds freed memory in quarantine (by design), so RSS grows under it whatever the
# code does; there only the Python side (tracemalloc) is checked, and ASan itself reports C++ misuse.
UNDER_ASAN = "libasan" in os.environ.get("LD_PRELOAD", "")


def assert_flat(growth, what):
    rss, traced = growth
    if not UNDER_ASAN:
        assert rss <= RSS_SLACK, f"{what}: RSS grew by {rss / 2**20:.1f} MB in each half of the calls"
    assert traced <= TRACEMALLOC_SLACK, f"{what}: Python allocations grew by {traced / 2**10:.0f} KB in each half"


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda d: np.dtype(d).name)
def test_forward_backward_keep_memory_flat(dtype):
    p = random_lstm_problem(3, 2, 5, 7, dtype, seed=100)

    def work():
        y, h_n, c_n, cache = fast_lstm.lstm_forward(*p[:6], training=True)
        fast_lstm.lstm_backward(p.dy, p.dh_n, p.dc_n, cache)

    assert_flat(measure(work), "lstm_forward + lstm_backward")


def test_packed_lstm_keeps_memory_flat():
    p = random_lstm_problem(3, 2, 5, 7, np.float32, seed=101)
    h_out, c_out = np.empty_like(p.h0), np.empty_like(p.c0)

    def work():
        packed = fast_lstm.PackedLSTM(p.w_ih, p.w_hh, p.b)
        packed.forward(p.x, p.h0, p.c0)
        packed.step(p.x[0], p.h0, p.c0)
        packed.step(p.x[0], p.h0, p.c0, h_out=h_out, c_out=c_out)

    assert_flat(measure(work), "PackedLSTM")


def test_refused_calls_keep_memory_flat():
    """The error paths (exceptions thrown from C++ after arrays were created or copied) free everything."""
    p = random_lstm_problem(3, 2, 5, 7, np.float32, seed=102)
    cache = fast_lstm.lstm_forward(*p[:6], training=True)[3]
    packed = fast_lstm.PackedLSTM(p.w_ih, p.w_hh, p.b)
    fortran_x = np.asfortranarray(p.x)  # copied by the binding before h0's check fails
    wrong_h0 = np.zeros((3, 7), np.float32)

    def work():
        for call in (
            lambda: fast_lstm.lstm_forward(fortran_x, p.w_ih, p.w_hh, p.b, wrong_h0),
            lambda: fast_lstm.lstm_forward(p.x.astype(np.float64), p.w_ih, p.w_hh, p.b),
            lambda: fast_lstm.lstm_backward(p.dy[:2], None, None, cache),
            lambda: packed.step(p.x[0], wrong_h0, p.c0),
            lambda: fast_lstm.set_num_threads(0),
        ):
            try:
                call()
            except (TypeError, ValueError):
                pass
            else:
                raise AssertionError("a bad call was accepted")

    assert_flat(measure(work, calls=CALLS // 5), "refused calls")


# Run in a fresh interpreter: what earlier tests left in the heap (freed blocks, pages that THP
# filled around them) moves RSS by tens of MB in either direction between cycles.
DROP_CYCLES = r"""
import ctypes, gc, json, os, sys
import fast_lstm
import numpy as np

def rss_bytes():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

def release_free_memory():
    fast_lstm.empty_buffer_cache()
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):
        pass

if sys.argv[1] == "off":
    fast_lstm.set_buffer_cache_limit(0)
rng = np.random.default_rng(103)
T, B, D, H = 64, 32, 64, 256
x = rng.standard_normal((T, B, D), dtype=np.float32)
w_ih = rng.uniform(-0.1, 0.1, (4 * H, D)).astype(np.float32)
w_hh = rng.uniform(-0.1, 0.1, (4 * H, H)).astype(np.float32)
b = np.zeros(4 * H, np.float32)
levels, peaks = [], []
for _ in range(6):
    caches = [fast_lstm.lstm_forward(x, w_ih, w_hh, b, training=True)[3] for _ in range(6)]
    peaks.append(rss_bytes())
    del caches
    gc.collect()
    release_free_memory()
    levels.append(rss_bytes())
print(json.dumps({"levels": levels, "peaks": peaks}))
"""


@pytest.mark.skipif(
    UNDER_ASAN,
    reason="AddressSanitizer keeps freed memory in quarantine (by design), so RSS cannot fall back here",
)
@pytest.mark.parametrize("buffer_cache", ["off", "emptied"])
def test_dropped_caches_give_their_memory_back(buffer_cache):
    """Big training caches (~13 MB each) made and dropped in cycles of six: after each cycle (and
    malloc_trim, without which glibc keeps up to ~30 MB of freed heap for reuse; the kernels'
    buffer cache either off or emptied) RSS is back within the slack of its level after the first
    cycle, in the last three cycles at least. A leak of even one buffer of each cache (the gates,
    8 MB) would add 48 MB per cycle."""
    run = subprocess.run([sys.executable, "-c", DROP_CYCLES, buffer_cache], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    measured = json.loads(run.stdout)
    levels, peaks = measured["levels"], measured["peaks"]
    assert min(peaks) - levels[0] > 6 * 8 * 2**20, "the caches should have been big; the test is set up wrong"
    # A leak raises every later level; a one-off (another arena, a page cache) raises one of them.
    assert min(levels[3:]) - levels[0] <= RSS_SLACK, f"RSS after each cycle (MB): {[x >> 20 for x in levels]}"
