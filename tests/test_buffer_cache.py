"""The scratch-buffer cache (cpp/runtime/buffer_pool.cpp): large buffers kept between calls.

- The API: default limit, set/get, bad arguments, empty_buffer_cache(), the environment variable.
- Reuse is invisible in results: a call that runs on blocks left by another problem (stale, non-zero
  contents) gives bitwise what it gives with the cache off, for the LSTM and the GRU, on every ISA.
- The limit holds: the cache never keeps more than it is allowed, and 0 keeps nothing.
- Threads taking and returning blocks at once get the results of serial calls.
- Large result arrays (y, dx, ...) live in cache blocks: ordinary writeable numpy arrays that hand
  their block back when freed, and that give, on stale blocks, the values of fresh memory.
"""

import os
import subprocess
import sys
import threading

import fast_lstm
import numpy as np
import pytest
from reference import random_lstm_problem

MIB = 1 << 20
# N = T*B = 4096 rows of 4H = 512 gate columns: an 8 MiB float32 record of gates, far above the
# cache's 256 KiB threshold; the "other" problem's 6 MiB fits in those blocks (at most twice its size).
BIG = dict(T=64, B=64, D=128, H=128)
OTHER = dict(T=60, B=60, D=120, H=100)
# float64 y (T, B, H) and dx (T, B, D) of 4 MiB each: results the cache holds.
LARGE_RESULTS = dict(T=64, B=64, D=128, H=128)


@pytest.fixture(autouse=True)
def restore_cache_limit():
    limit = fast_lstm.get_buffer_cache_limit()
    yield
    fast_lstm.set_buffer_cache_limit(limit)


def lstm_step(p, while_recorded=lambda: None):
    y, h_n, c_n, cache = fast_lstm.lstm_forward(*p[:6], training=True)
    while_recorded()
    return (y, h_n, c_n) + fast_lstm.lstm_backward(p.dy, p.dh_n, p.dc_n, cache)


def gru_step(p, while_recorded=lambda: None):
    rng = np.random.default_rng(1)
    H = p.h0.shape[1]
    w_ih = rng.uniform(-0.3, 0.3, (3 * H, p.x.shape[2])).astype(p.x.dtype)
    w_hh = rng.uniform(-0.3, 0.3, (3 * H, H)).astype(p.x.dtype)
    b_ih, b_hh = w_ih[:, 0].copy(), w_hh[:, 1].copy()
    y, h_n, cache = fast_lstm.gru_forward(p.x, w_ih, w_hh, b_ih, b_hh, p.h0, training=True)
    while_recorded()
    return (y, h_n) + fast_lstm.gru_backward(p.dy, p.dh_n, cache)


def assert_bitwise_equal(results, expected):
    assert len(results) == len(expected)
    for index, (actual, wanted) in enumerate(zip(results, expected)):
        assert np.array_equal(actual, wanted), f"result {index} differs"


def test_setters():
    fast_lstm.set_buffer_cache_limit(12345)
    assert fast_lstm.get_buffer_cache_limit() == 12345
    fast_lstm.empty_buffer_cache()
    assert fast_lstm.buffer_cache_bytes() == 0


@pytest.mark.parametrize("bad", [-1, 1.5, "1", None, True, 2**70])
def test_bad_limits_are_refused_naming_the_argument(bad):
    error = TypeError if not isinstance(bad, int) or isinstance(bad, bool) else ValueError
    with pytest.raises(error, match="nbytes"):
        fast_lstm.set_buffer_cache_limit(bad)


@pytest.mark.parametrize(
    "value, limit", [(None, 1024 * MIB), ("0", 0), ("64", 64 * MIB), ("lots", 1024 * MIB), ("-5", 1024 * MIB)]
)
def test_the_environment_sets_the_start_up_limit(value, limit):
    """Unset, or not a whole number of MB: the default, 1 GiB."""
    env = {name: text for name, text in os.environ.items() if name != "FAST_LSTM_BUFFER_CACHE_MB"}
    if value is not None:
        env["FAST_LSTM_BUFFER_CACHE_MB"] = value
    code = "import fast_lstm; print(fast_lstm.get_buffer_cache_limit())"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert int(out.stdout) == limit


@pytest.mark.parametrize("step", [lstm_step, gru_step], ids=["lstm", "gru"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_reused_blocks_give_the_results_of_fresh_ones(each_isa, step, dtype):
    big, other = random_lstm_problem(**BIG, dtype=dtype, seed=3), random_lstm_problem(**OTHER, dtype=dtype, seed=4)
    fast_lstm.set_buffer_cache_limit(0)
    expected = step(other)

    fast_lstm.set_buffer_cache_limit(1024 * MIB)
    fast_lstm.empty_buffer_cache()
    step(big)  # leaves its blocks, full of its own values, in the cache
    left = fast_lstm.buffer_cache_bytes()
    assert left >= 8 * MIB
    held = []
    results = step(other, while_recorded=lambda: held.append(fast_lstm.buffer_cache_bytes()))
    assert_bitwise_equal(results, expected)
    del results  # its result arrays hold blocks too, until freed
    # The second problem's record ran on some of those blocks, which came back after it (with
    # any it needed of sizes the first did not leave)...
    assert held[0] < left
    assert fast_lstm.buffer_cache_bytes() >= left
    # ...and repeats of it settle on blocks already cached (a first repeat may still add one:
    # best fit can hand a block to an earlier request of another size).
    assert_bitwise_equal(step(other), expected)
    settled = fast_lstm.buffer_cache_bytes()
    assert_bitwise_equal(step(other), expected)
    assert fast_lstm.buffer_cache_bytes() == settled


def test_blocks_are_taken_while_a_call_holds_them():
    fast_lstm.empty_buffer_cache()
    p = random_lstm_problem(**BIG, dtype=np.float32, seed=5)
    lstm_step(p)
    cached = fast_lstm.buffer_cache_bytes()
    assert cached > 0
    y, h_n, c_n, cache = fast_lstm.lstm_forward(*p[:6], training=True)
    assert fast_lstm.buffer_cache_bytes() < cached  # the record holds blocks from the cache
    del cache, y  # y, a result array, holds one too
    assert fast_lstm.buffer_cache_bytes() == cached


def test_the_limit_holds():
    p = random_lstm_problem(**BIG, dtype=np.float64, seed=6)
    fast_lstm.set_buffer_cache_limit(20 * MIB)
    for _ in range(3):
        lstm_step(p)
        assert 0 < fast_lstm.buffer_cache_bytes() <= 20 * MIB
    fast_lstm.set_buffer_cache_limit(5 * MIB)  # lowering frees what is beyond
    assert fast_lstm.buffer_cache_bytes() <= 5 * MIB
    fast_lstm.set_buffer_cache_limit(0)
    assert fast_lstm.buffer_cache_bytes() == 0
    lstm_step(p)
    assert fast_lstm.buffer_cache_bytes() == 0


def test_threads_sharing_the_cache_get_serial_results():
    problems = [random_lstm_problem(**shape, dtype=np.float32, seed=7 + i) for i, shape in enumerate([BIG, OTHER] * 2)]
    fast_lstm.set_buffer_cache_limit(0)
    expected = [lstm_step(p) for p in problems]
    fast_lstm.set_buffer_cache_limit(1024 * MIB)
    results, errors = [None] * len(problems), []

    def work(index):
        try:
            for _ in range(3):
                results[index] = lstm_step(problems[index])
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(problems))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    for actual, wanted in zip(results, expected):
        assert_bitwise_equal(actual, wanted)


@pytest.mark.parametrize("step", [lstm_step, gru_step], ids=["lstm", "gru"])
def test_large_results_run_on_stale_blocks_with_the_values_of_fresh_memory(each_isa, step):
    first = random_lstm_problem(**LARGE_RESULTS, dtype=np.float64, seed=8)
    second = random_lstm_problem(**LARGE_RESULTS, dtype=np.float64, seed=9)
    lengths = np.arange(LARGE_RESULTS["B"]) % (LARGE_RESULTS["T"] + 1)  # y rows past a length are zero
    fast_lstm.set_buffer_cache_limit(0)
    expected = step(second)
    expected_padded = fast_lstm.lstm_forward(*second[:6], lengths=lengths)[0]

    fast_lstm.set_buffer_cache_limit(1024 * MIB)
    fast_lstm.empty_buffer_cache()
    step(first)  # its y and dx, freed, leave 4 MiB blocks full of its values
    assert_bitwise_equal(step(second), expected)
    step(first)
    padded = fast_lstm.lstm_forward(*second[:6], lengths=lengths)[0]
    assert np.array_equal(padded, expected_padded)
    assert not padded[LARGE_RESULTS["T"] - 1, 0].any()  # sequence 0 has length 0


def test_large_results_are_plain_arrays_that_give_their_blocks_back():
    p = random_lstm_problem(**LARGE_RESULTS, dtype=np.float64, seed=10)
    fast_lstm.empty_buffer_cache()
    lstm_step(p)
    cached = fast_lstm.buffer_cache_bytes()
    assert cached >= 2 * 4 * MIB  # the record's blocks and the two large results'

    results = lstm_step(p)
    assert fast_lstm.buffer_cache_bytes() <= cached - 2 * 4 * MIB  # y and dx hold theirs
    y, dx = results[0], results[3]
    assert y.shape == dx.shape == (64, 64, 128) and y.dtype == dx.dtype == np.float64
    assert y.flags.c_contiguous and y.flags.writeable and y.flags.aligned
    assert dx.flags.c_contiguous and dx.flags.writeable and dx.flags.aligned
    assert not np.shares_memory(y, dx)
    y[0, 0, 0] = 7.0  # writeable in place like any numpy result
    assert y[0, 0, 0] == 7.0
    view = dx[1:3]
    del results, y, dx
    assert fast_lstm.buffer_cache_bytes() < cached  # a view keeps its block alive
    assert view.shape == (2, 64, 128) and np.isfinite(view).all()
    del view
    assert fast_lstm.buffer_cache_bytes() == cached
