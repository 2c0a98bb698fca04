"""Concurrency and determinism of the kernels.

- Four Python threads calling lstm_forward + lstm_backward (and PackedLSTM) at once on shared
  weights get bitwise the results of serial calls.
- The GIL is released while a kernel runs: another Python thread makes progress during the call.
  No timing threshold: the switch interval is raised so far that the only way the other thread can
  run while this one is inside the call is the call giving up the GIL itself.
- Kernel threads that share one CPU (a process allowed a single CPU, more kernel threads asked
  for) finish and give the 1-thread results: the barrier's waiters yield to a member on their CPU.
- Short calls that find the kernel threads asleep run alone and wake them for the next call
  (lstm_threads_for): after pauses of every length, on many CPUs or one, the results keep the
  1-thread bits and the threads keep serving later calls.
- For each ISA, results are bitwise identical across repeated runs and across set_num_threads(1, 2, 4)
  (test_lstm_kernels.py compares 1 and 2 threads once; this adds 4, repeats, PackedLSTM and step).
- An inference forward whose threads split the batch rows (whole sequences each, no barrier)
  rather than the hidden units gives the 1-thread bits too, for every cell kind, thread count,
  way of splitting, and recurrent product (fused tile or GEMM).
"""

import os
import subprocess
import sys
import textwrap
import threading
import time

import fast_lstm
import numpy as np
import pytest
from reference import random_lstm_problem

DTYPES = [np.float32, np.float64]


def dtype_id(dtype):
    return np.dtype(dtype).name


def forward_backward(p):
    y, h_n, c_n, cache = fast_lstm.lstm_forward(*p[:6], training=True)
    return (y, h_n, c_n) + fast_lstm.lstm_backward(p.dy, p.dh_n, p.dc_n, cache)


def packed_results(packed, p):
    h, c = packed.step(p.x[0], p.h0, p.c0)
    return packed.forward(p.x, p.h0, p.c0) + (h, c)


def assert_bitwise_equal(results, expected, what):
    assert len(results) == len(expected)
    for index, (actual, wanted) in enumerate(zip(results, expected)):
        assert actual.dtype == wanted.dtype and actual.shape == wanted.shape, f"{what}: result {index}"
        assert np.array_equal(actual, wanted, equal_nan=True), f"{what}: result {index} differs"


def run_in_threads(count, work):
    """Runs work(i) in `count` threads released together; returns the results, re-raising any error."""
    start = threading.Barrier(count)
    results, errors = [None] * count, []

    def body(index):
        try:
            start.wait()
            results[index] = work(index)
        except BaseException as error:  # noqa: BLE001 - reported to the test below
            errors.append(error)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


# ---------------------------------------------------------------------------------------------
# Four Python threads at once
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("threads", [1, 2], ids=lambda n: f"kernel-threads-{n}")
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_four_python_threads_share_weights_and_match_serial_calls(each_isa, restore_num_threads, dtype, threads):
    fast_lstm.set_num_threads(threads)
    shared = random_lstm_problem(12, 8, 48, 96, dtype, seed=80)
    for array in shared:
        array.flags.writeable = False  # shared weights: nobody may write them
    # Each thread has its own data and upstream gradients, and the same weights.
    problems = [
        shared._replace(**{name: getattr(random_lstm_problem(12, 8, 48, 96, dtype, seed=81 + i), name)
                           for name in ("x", "h0", "c0", "dy", "dh_n", "dc_n")})
        for i in range(4)
    ]
    serial = [forward_backward(p) for p in problems]
    for _ in range(3):  # a few rounds: interleavings differ from round to round
        concurrent = run_in_threads(4, lambda i: [forward_backward(problems[i]) for _ in range(3)])
        for i, repeats in enumerate(concurrent):
            for result in repeats:
                assert_bitwise_equal(result, serial[i], f"thread {i}")


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_four_python_threads_share_one_packed_lstm(each_isa, restore_num_threads, dtype):
    fast_lstm.set_num_threads(2)
    base = random_lstm_problem(10, 6, 40, 72, dtype, seed=85)
    packed = fast_lstm.PackedLSTM(base.w_ih, base.w_hh, base.b)
    problems = [random_lstm_problem(10, 6, 40, 72, dtype, seed=86 + i) for i in range(4)]
    serial = [packed_results(packed, p) for p in problems]
    concurrent = run_in_threads(4, lambda i: [packed_results(packed, problems[i]) for _ in range(4)])
    for i, repeats in enumerate(concurrent):
        for result in repeats:
            assert_bitwise_equal(result, serial[i], f"thread {i}")


def test_changing_the_thread_count_during_calls_changes_no_result(restore_num_threads):
    """set_num_threads from one Python thread while others run kernels: results stay bitwise equal."""
    p = random_lstm_problem(10, 8, 40, 96, np.float32, seed=90)
    expected = forward_backward(p)
    stop = threading.Event()

    def flip():
        n = 0
        while not stop.is_set():
            fast_lstm.set_num_threads(1 + n % 4)
            n += 1

    flipper = threading.Thread(target=flip)
    flipper.start()
    try:
        results = run_in_threads(3, lambda i: [forward_backward(p) for _ in range(5)])
    finally:
        stop.set()
        flipper.join()
    for repeats in results:
        for result in repeats:
            assert_bitwise_equal(result, expected, "under changing thread counts")


ONE_CPU_SCRIPT = textwrap.dedent(
    """
    import os, sys, time
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # before the pool's workers exist
    sys.path.insert(0, sys.argv[1])
    import fast_lstm, numpy as np
    from reference import random_lstm_problem

    def forward_backward(p):
        y, h_n, c_n, cache = fast_lstm.lstm_forward(*p[:6], training=True)
        return (y, h_n, c_n) + fast_lstm.lstm_backward(p.dy, p.dh_n, p.dc_n, cache)

    p = random_lstm_problem(300, 6, 16, 64, np.float32, seed=91)
    short = random_lstm_problem(20, 1, 64, 64, np.float32, seed=92)  # run alone when the pool sleeps
    fast_lstm.set_num_threads(1)
    expected, expected_short = forward_backward(p), forward_backward(short)
    for threads in (2, 4):
        fast_lstm.set_num_threads(threads)
        for run in range(3):
            for problem, wanted, pause in ((p, expected, 0), (short, expected_short, 0.005), (short, expected_short, 0)):
                time.sleep(pause)
                results = forward_backward(problem)
                assert len(results) == len(wanted)
                for index, (a, b) in enumerate(zip(results, wanted)):
                    assert np.array_equal(a, b), f"{threads} threads, run {run}: result {index} differs"
    print("all equal")
    """
)


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs os.sched_setaffinity (Linux)")
def test_kernel_threads_sharing_one_cpu_finish_with_the_serial_results():
    """300 steps, a barrier or more each, with 2 and 4 kernel threads on one CPU: every call ends
    (the timeout fails a deadlock) with the 1-thread bits. How fast is bench's business
    (compare_builds.py), not a test's: no timing is asserted."""
    tests_dir = os.path.dirname(os.path.abspath(__file__))
    result = subprocess.run(
        [sys.executable, "-c", ONE_CPU_SCRIPT, tests_dir], capture_output=True, text=True, timeout=240
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "all equal"


@pytest.mark.parametrize("threads", [2, 4], ids=lambda n: f"kernel-threads-{n}")
def test_short_calls_after_pauses_keep_the_serial_results(each_isa, restore_num_threads, threads):
    """Calls short enough to run alone while the kernel threads sleep (lstm_threads_for), after
    pauses that let them fall asleep or not, mixed with longer calls that use them: every result
    has the 1-thread bits, and no call hangs (the kernel threads are woken, never lost)."""
    short = random_lstm_problem(20, 1, 64, 64, np.float32, seed=93)  # 1.3 MFLOP: short
    longer = random_lstm_problem(60, 8, 32, 64, np.float32, seed=94)  # 24 MFLOP: uses the threads
    packed = fast_lstm.PackedLSTM(short.w_ih, short.w_hh, short.b)
    fast_lstm.set_num_threads(1)
    expected = {"short": forward_backward(short), "longer": forward_backward(longer),
                "packed": packed_results(packed, short)}
    fast_lstm.set_num_threads(threads)
    for pause in (0.0, 0.0005, 0.003, 0.02, 0.0):
        for name in ("short", "packed", "short", "longer", "short"):
            time.sleep(pause)
            results = packed_results(packed, short) if name == "packed" else forward_backward(
                short if name == "short" else longer)
            assert_bitwise_equal(results, expected[name], f"{name} after a {pause * 1e3:g} ms pause")


# ---------------------------------------------------------------------------------------------
# The GIL is released during the kernels
# ---------------------------------------------------------------------------------------------


def progress_during(call, attempts=8):
    """Whether a second Python thread advanced a counter while `call()` ran in this thread.

    With the switch interval at 1000 s this thread never hands over the GIL on its own; the
    counting thread sleeps briefly between increments (which releases the GIL), so it never
    blocks this one. The counter can change between the two reads only if `call` released the
    GIL. A call that does release it may still finish before the counter thread is scheduled on
    a busy machine, so the call is tried up to `attempts` times; one advance is proof.
    """
    counter = [0]
    stop = threading.Event()

    def count():
        while not stop.is_set():
            counter[0] += 1
            stop.wait(0.0001)  # releases the GIL

    previous = sys.getswitchinterval()
    counting = threading.Thread(target=count)
    counting.start()
    try:
        while counter[0] == 0:
            stop.wait(0.001)
        sys.setswitchinterval(1000.0)
        # A GIL request the counting thread made before the change still times out after the old
        # interval: let it run once (this wait releases the GIL) so its next request uses the new one.
        stop.wait(0.01)
        for _ in range(attempts):
            before = counter[0]
            call()
            after = counter[0]
            if after > before:
                return True
        return False
    finally:
        sys.setswitchinterval(previous)
        stop.set()
        counting.join()


@pytest.fixture(scope="module")
def long_problem():
    """About 1 GFLOP of forward and 2 of backward: tens of milliseconds or more per call."""
    return random_lstm_problem(40, 32, 256, 256, np.float32, seed=91)


@pytest.fixture
def one_kernel_thread(restore_num_threads):
    # The counting thread then has the second core; with both busy it may still run, but later.
    fast_lstm.set_num_threads(1)


def test_gil_is_released_during_lstm_forward(one_kernel_thread, long_problem):
    p = long_problem
    assert progress_during(lambda: fast_lstm.lstm_forward(*p[:6], training=True))


def test_gil_is_released_during_lstm_backward(one_kernel_thread, long_problem):
    p = long_problem
    cache = fast_lstm.lstm_forward(*p[:6], training=True)[3]
    assert progress_during(lambda: fast_lstm.lstm_backward(p.dy, p.dh_n, p.dc_n, cache))


def test_gil_is_released_during_packed_forward_and_step(one_kernel_thread, long_problem):
    p = long_problem
    packed = fast_lstm.PackedLSTM(p.w_ih, p.w_hh, p.b)
    assert progress_during(lambda: packed.forward(p.x, p.h0, p.c0))
    big = random_lstm_problem(1, 512, 512, 512, np.float32, seed=92)  # one step of ~2 GFLOP
    packed_big = fast_lstm.PackedLSTM(big.w_ih, big.w_hh, big.b)
    assert progress_during(lambda: packed_big.step(big.x[0], big.h0, big.c0))


def test_the_progress_probe_can_fail():
    """The probe says "no progress" for a long call that holds the GIL (sorting a Python list of
    floats runs in C without releasing it; numpy's own loops would release it)."""
    values = np.random.default_rng(0).standard_normal(1_000_000).tolist()
    assert not progress_during(lambda: sorted(values), attempts=3)


# ---------------------------------------------------------------------------------------------
# Determinism per ISA: repeated runs and thread counts 1, 2, 4
# ---------------------------------------------------------------------------------------------

DETERMINISM_SHAPES = [(9, 7, 33, 100), (6, 16, 64, 130), (4, 3, 5, 520)]


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("shape", DETERMINISM_SHAPES, ids=lambda s: "T{}-B{}-D{}-H{}".format(*s))
def test_bitwise_identical_across_runs_and_thread_counts(each_isa, restore_num_threads, shape, dtype):
    p = random_lstm_problem(*shape, dtype, seed=93)
    fast_lstm.set_num_threads(1)
    expected = forward_backward(p) + packed_results(fast_lstm.PackedLSTM(p.w_ih, p.w_hh, p.b), p)
    for threads in (1, 2, 4, 2, 1):
        fast_lstm.set_num_threads(threads)
        assert fast_lstm.get_num_threads() == threads
        for run in range(2):
            results = forward_backward(p) + packed_results(fast_lstm.PackedLSTM(p.w_ih, p.w_hh, p.b), p)
            assert_bitwise_equal(results, expected, f"{threads} threads, run {run}")


# Every kind of step with lengths (so the running rows shrink) and masks, at a batch of a few
# register tiles and one with a remainder row.
VARIANT_BATCHES = {"B6": 6, "B21": 21}


def variant_results(variant, B, dtype):
    T, D, H, P = 7, 24, 160, 48
    rng = np.random.default_rng(94)
    lengths = rng.integers(0, T + 1, B)
    if variant == "gru":
        w = [rng.uniform(-0.1, 0.1, s).astype(dtype) for s in [(3 * H, D), (3 * H, H), (3 * H,), (3 * H,)]]
        x, h0 = rng.standard_normal((T, B, D)).astype(dtype), rng.standard_normal((B, H)).astype(dtype)
        mask = rng.uniform(0, 2, (B, H)).astype(dtype)
        y, h_n, cache = fast_lstm.gru_forward(x, *w, h0, training=True, lengths=lengths, recurrent_mask=mask)
        return (y, h_n) + fast_lstm.gru_backward(np.ones_like(y), h_n, cache)
    p = random_lstm_problem(T, B, D, H, dtype, seed=95)
    options = dict(lengths=lengths)
    w_hh, h0, R = p.w_hh, p.h0, H
    if variant == "peephole":
        options.update(peephole=rng.uniform(-0.5, 0.5, (3, H)).astype(dtype))
    if variant == "projection":
        R = P
        w_hh, h0 = p.w_hh[:, :P].copy(), p.h0[:, :P].copy()
        options.update(w_hr=rng.uniform(-0.1, 0.1, (P, H)).astype(dtype))
    if variant == "cell-recurrence":
        options.update(recurrence="cell")
    else:
        options.update(recurrent_mask=rng.uniform(0, 2, (B, R)).astype(dtype))
    y, h_n, c_n, cache = fast_lstm.lstm_forward(p.x, p.w_ih, w_hh, p.b, h0, p.c0, training=True, **options)
    return (y, h_n, c_n) + fast_lstm.lstm_backward(np.ones_like(y), h_n, c_n, cache)


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("batch", list(VARIANT_BATCHES))
@pytest.mark.parametrize("variant", ["peephole", "projection", "cell-recurrence", "gru"])
def test_variants_bitwise_identical_across_thread_counts(each_isa, restore_num_threads, variant, batch, dtype):
    fast_lstm.set_num_threads(1)
    expected = variant_results(variant, VARIANT_BATCHES[batch], dtype)
    for threads in (2, 4):
        fast_lstm.set_num_threads(threads)
        assert_bitwise_equal(variant_results(variant, VARIANT_BATCHES[batch], dtype), expected, f"{threads} threads")


# ---------------------------------------------------------------------------------------------
# Forward and backward with the batch rows split across threads
# ---------------------------------------------------------------------------------------------

# Calls above 16.8 MFLOP, so they use the threads even right after a pause. (61, 17): windows
# of projected steps end inside the sequence, and 17 rows split unevenly; (60, 35): 4 threads of
# 8-9 rows; (300, 3): one or two rows a thread when forced.
ROWS_SPLIT_SHAPES = [(61, 17, 40, 64), (60, 35, 24, 72), (300, 3, 30, 96)]
CELL_KINDS = {
    "standard": {},
    "peephole": "peephole",
    "no-forget-gate": dict(forget_gate=False),
    "coupled-gates": dict(couple_input_forget=True),
    "identity-output": dict(cell_activation="identity"),
}


@pytest.fixture
def restore_thread_split():
    previous = fast_lstm._force_thread_split("auto")
    yield
    fast_lstm._force_thread_split(previous)


def forward_results(p, options):
    """Inference with and without initial states, and a training forward with its backward: the
    training record (gates and every c_t, which the rows split writes by rows) must give the
    backward the serial gradients, and the backward's own rows split (no peepholes) the same."""
    gate_rows = 3 * p.h0.shape[1] if not options.get("forget_gate", True) or options.get("couple_input_forget") else None
    weights = [w[:gate_rows] for w in (p.w_ih, p.w_hh, p.b)]  # 3 gates: i, g, o
    plain = fast_lstm.lstm_forward(p.x, *weights, p.h0, p.c0, **options)[:3]
    no_state = fast_lstm.lstm_forward(p.x, *weights, **options)[:3]
    y, h_n, c_n, cache = fast_lstm.lstm_forward(p.x, *weights, p.h0, p.c0, training=True, **options)
    gradients = fast_lstm.lstm_backward(np.sin(y), h_n, c_n, cache)
    return plain + no_state + (y, h_n, c_n) + tuple(gradients)


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("kind", list(CELL_KINDS))
@pytest.mark.parametrize("shape", ROWS_SPLIT_SHAPES, ids=lambda s: "T{}-B{}-D{}-H{}".format(*s))
def test_rows_split_across_threads_keeps_the_serial_results(
    each_isa, each_recurrent_product, restore_num_threads, restore_thread_split, shape, kind, dtype
):
    p = random_lstm_problem(*shape, dtype, seed=96)
    H = shape[3]
    options = CELL_KINDS[kind]
    if options == "peephole":
        options = dict(peephole=np.random.default_rng(97).uniform(-0.5, 0.5, (3, H)).astype(dtype))
    fast_lstm.set_num_threads(1)
    expected = forward_results(p, options)
    packed_expected = None
    if kind == "standard":
        packed_expected = fast_lstm.PackedLSTM(p.w_ih, p.w_hh, p.b).forward(p.x, p.h0, p.c0)
    for threads in (2, 3, 4):
        fast_lstm.set_num_threads(threads)
        for split in ("rows", "units", "auto"):
            fast_lstm._force_thread_split(split)
            what = f"{threads} threads, split {split}"
            assert_bitwise_equal(forward_results(p, options), expected, what)
            if packed_expected is not None:
                packed = fast_lstm.PackedLSTM(p.w_ih, p.w_hh, p.b)
                assert_bitwise_equal(packed.forward(p.x, p.h0, p.c0), packed_expected, what + ", packed")


def test_force_thread_split_names_its_choices(restore_thread_split):
    assert fast_lstm._force_thread_split("rows") == "auto"
    assert fast_lstm._force_thread_split("units") == "rows"
    with pytest.raises(ValueError, match="'auto', 'units', 'rows'"):
        fast_lstm._force_thread_split("columns")
