"""Property tests (hypothesis): random shapes, options and layouts agree with the numpy reference;
random garbage arguments only ever raise TypeError, ValueError or MemoryError.

Example counts are bounded and the deadline is off so the file runs in seconds on two shared cores;
`derandomize=True` makes every run try the same examples (a failure reproduces on the next run).
"""

import fast_lstm
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference import lstm_backward_ref, lstm_forward_ref, random_lstm_problem

TOL = {np.float32: 1e-4, np.float64: 1e-9}  # relative to max(1, max|expected|)
ALLOWED = (TypeError, ValueError, MemoryError)
SETTINGS = dict(deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow])


def assert_close(name, actual, expected, dtype):
    assert isinstance(actual, np.ndarray) and actual.dtype == dtype, name
    assert actual.shape == expected.shape, f"{name}: {actual.shape} != {expected.shape}"
    assert np.isfinite(actual).all(), f"{name} not finite"
    scale = max(1.0, float(np.abs(expected).max(initial=0.0)))
    worst = float(np.abs(actual.astype(np.float64) - expected).max(initial=0.0))
    assert worst <= TOL[dtype] * scale, f"{name}: max|diff| {worst:.3g}"


sizes = st.tuples(st.integers(1, 7), st.integers(1, 9), st.integers(1, 40), st.integers(1, 70))
dtypes = st.sampled_from([np.float32, np.float64])


@settings(max_examples=60, **SETTINGS)
@given(
    shape=sizes,
    dtype=dtypes,
    isa=st.sampled_from(fast_lstm.available_isas()),
    threads=st.sampled_from([1, 2]),
    with_state=st.booleans(),
    upstream=st.tuples(st.booleans(), st.booleans(), st.booleans()),
    seed=st.integers(0, 2**16),
    scale=st.sampled_from([0.1, 1.0, 4.0]),
)
def test_random_problems_match_the_reference(shape, dtype, isa, threads, with_state, upstream, seed, scale):
    p = random_lstm_problem(*shape, dtype, seed=seed)
    p = p._replace(x=(p.x * scale).astype(dtype))
    h0, c0 = (p.h0, p.c0) if with_state else (None, None)
    ups = [g if use else None for g, use in zip((p.dy, p.dh_n, p.dc_n), upstream)]
    previous_isa, previous_threads = fast_lstm._force_isa(isa), fast_lstm.get_num_threads()
    fast_lstm.set_num_threads(threads)
    try:
        y, h_n, c_n, cache = fast_lstm.lstm_forward(p.x, p.w_ih, p.w_hh, p.b, h0, c0, training=True)
        grads = fast_lstm.lstm_backward(*ups, cache)
        inference = fast_lstm.lstm_forward(p.x, p.w_ih, p.w_hh, p.b, h0, c0)
    finally:
        fast_lstm._force_isa(previous_isa)
        fast_lstm.set_num_threads(previous_threads)
    *expected, ref_cache = lstm_forward_ref(p.x, p.w_ih, p.w_hh, p.b, h0, c0)
    for name, actual, wanted in zip(("y", "h_n", "c_n"), (y, h_n, c_n), expected):
        assert_close(name, actual, wanted, dtype)
    # Inference and training take different buffers (not promised bitwise equal): both near the reference.
    for name, actual, wanted in zip(("y", "h_n", "c_n"), inference[:3], expected):
        assert_close(f"inference {name}", actual, wanted, dtype)
    assert inference[3] is None
    names = ("dx", "dw_ih", "dw_hh", "db", "dh0", "dc0")
    for name, actual, wanted in zip(names, grads, lstm_backward_ref(*ups, ref_cache)):
        assert_close(name, actual, wanted, dtype)


@settings(max_examples=30, **SETTINGS)
@given(shape=sizes, dtype=dtypes, isa=st.sampled_from(fast_lstm.available_isas()), seed=st.integers(0, 2**16))
def test_packed_steps_and_forward_match_the_reference(shape, dtype, isa, seed):
    p = random_lstm_problem(*shape, dtype, seed=seed)
    previous = fast_lstm._force_isa(isa)
    try:
        packed = fast_lstm.PackedLSTM(p.w_ih, p.w_hh, p.b)
    finally:
        fast_lstm._force_isa(previous)
    assert packed.isa == isa and (packed.input_size, packed.hidden_size) == shape[2:]
    y_ref, h_ref, c_ref, _ = lstm_forward_ref(*p[:6])
    for name, actual, wanted in zip(("y", "h_n", "c_n"), packed.forward(p.x, p.h0, p.c0), (y_ref, h_ref, c_ref)):
        assert_close(name, actual, wanted, dtype)
    h, c = p.h0, p.c0
    for t in range(shape[0]):
        h, c = packed.step(p.x[t], h, c)
        assert_close(f"h_{t + 1}", h, y_ref[t], dtype)
    assert_close("c_T", c, c_ref, dtype)


@st.composite
def strided_copy(draw, array):
    """The values of `array` in a random layout: Fortran order, negative or gapped strides, offset."""
    kind = draw(st.sampled_from(["fortran", "flip", "gap", "transpose-back", "unaligned", "same"]))
    if kind == "fortran":
        return np.asfortranarray(array)
    if kind == "flip":
        axis = draw(st.integers(0, array.ndim - 1))
        return np.flip(np.flip(array, axis).copy(), axis)
    if kind == "gap":
        step = draw(st.integers(2, 3))
        wide = np.zeros(array.shape[:-1] + (step * array.shape[-1],), array.dtype)
        wide[..., ::step] = array
        return wide[..., ::step]
    if kind == "transpose-back":
        order = draw(st.permutations(range(array.ndim)))
        inverse = np.argsort(order)
        return np.ascontiguousarray(array.transpose(order)).transpose(inverse)
    if kind == "unaligned":
        raw = np.zeros(array.nbytes + 1, np.uint8)
        view = raw[1:].view(array.dtype).reshape(array.shape)
        view[...] = array
        return view
    return array


@settings(max_examples=40, **SETTINGS)
@given(data=st.data(), shape=sizes, dtype=dtypes, seed=st.integers(0, 2**16))
def test_random_layouts_give_the_contiguous_results_bitwise(data, shape, dtype, seed):
    p = random_lstm_problem(*shape, dtype, seed=seed)
    v = p._make(data.draw(strided_copy(array), label=name) for name, array in zip(p._fields, p))
    *outputs, cache = fast_lstm.lstm_forward(*v[:6], training=True)
    grads = fast_lstm.lstm_backward(v.dy, v.dh_n, v.dc_n, cache)
    *expected, ref_cache = fast_lstm.lstm_forward(*p[:6], training=True)
    expected_grads = fast_lstm.lstm_backward(p.dy, p.dh_n, p.dc_n, ref_cache)
    for actual, wanted in zip(outputs + list(grads), expected + list(expected_grads)):
        assert np.array_equal(actual, wanted)
    packed = fast_lstm.PackedLSTM(v.w_ih, v.w_hh, v.b)
    clean = fast_lstm.PackedLSTM(p.w_ih, p.w_hh, p.b)
    x_t = data.draw(strided_copy(p.x[0]), label="x_t")
    for actual, wanted in zip(packed.step(x_t, v.h0, v.c0), clean.step(p.x[0], p.h0, p.c0)):
        assert np.array_equal(actual, wanted)
    for actual, wanted in zip(packed.forward(v.x, v.h0, v.c0), clean.forward(p.x, p.h0, p.c0)):
        assert np.array_equal(actual, wanted)


# ---------------------------------------------------------------------------------------------
# Garbage in: exceptions only
# ---------------------------------------------------------------------------------------------

JUNK_DTYPES = [np.float32, np.float64, np.float16, np.int32, np.int64, np.bool_, np.complex64, ">f4", ">f8", object]


@st.composite
def garbage(draw, shape):
    """Something for an argument that wants an array of `shape`: often right, often slightly wrong."""
    kind = draw(st.sampled_from(["right", "right", "wrong-shape", "wrong-dtype", "strided", "junk"]))
    dtype = np.float32 if kind != "wrong-dtype" else draw(st.sampled_from(JUNK_DTYPES))
    if kind == "wrong-shape":
        rank = draw(st.integers(0, 4))
        shape = tuple(draw(st.lists(st.integers(0, 5), min_size=rank, max_size=rank)))
    if kind == "junk":
        return draw(st.one_of(
            st.none(), st.integers(-(2**70), 2**70), st.floats(), st.text(max_size=4), st.booleans(),
            st.lists(st.floats(allow_nan=False), max_size=4), st.just(object()), st.just(b"\x00" * 8),
        ))
    array = np.asarray(draw(st.floats(-3, 3)) + np.arange(int(np.prod(shape, dtype=np.int64))) % 7,
                       dtype=np.float64).reshape(shape)
    array = array.astype(dtype)
    if kind == "strided" and array.ndim > 0:
        array = np.flip(array, draw(st.integers(0, array.ndim - 1)))
    return array


@st.composite
def dims(draw):
    return draw(st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 3), st.integers(0, 3)))


def check_result(result, shapes, dtype=np.float32):
    """A tuple of len(shapes) new arrays of those shapes (None: not an array, checked by the caller)."""
    assert isinstance(result, tuple) and len(result) == len(shapes), result
    for array, shape in zip(result, shapes):
        if shape is not None:
            assert isinstance(array, np.ndarray) and array.shape == shape and array.dtype == dtype, (array, shape)


@settings(max_examples=300, **SETTINGS)
@given(data=st.data(), size=dims(), training=st.booleans())
def test_garbage_forward_and_backward_raise_only_clean_errors(data, size, training):
    T, B, D, H = size
    args = [data.draw(garbage(shape), label=name) for name, shape in
            (("x", (T, B, D)), ("w_ih", (4 * H, D)), ("w_hh", (4 * H, H)), ("b", (4 * H,)),
             ("h0", (B, H)), ("c0", (B, H)))]
    try:
        result = fast_lstm.lstm_forward(*args, training=training)
    except ALLOWED:
        return
    check_result(result, [(T, B, H), (B, H), (B, H), None])
    if not training:
        assert result[3] is None
        return
    ups = [data.draw(garbage(shape), label=name) for name, shape in
           (("dy", (T, B, H)), ("dh_n", (B, H)), ("dc_n", (B, H)))]
    try:
        grads = fast_lstm.lstm_backward(*ups, result[3])
    except ALLOWED:
        return
    check_result(grads, [(T, B, D), (4 * H, D), (4 * H, H), (4 * H,), (B, H), (B, H)])


@settings(max_examples=200, **SETTINGS)
@given(data=st.data(), size=dims())
def test_garbage_packed_lstm_raises_only_clean_errors(data, size):
    T, B, D, H = size
    weights = [data.draw(garbage(shape), label=name) for name, shape in
               (("w_ih", (4 * H, D)), ("w_hh", (4 * H, H)), ("b", (4 * H,)))]
    try:
        packed = fast_lstm.PackedLSTM(*weights)
    except ALLOWED:
        return
    x_t, h, c = (data.draw(garbage(shape), label=name) for name, shape in
                 (("x_t", (B, D)), ("h", (B, H)), ("c", (B, H))))
    outs = {name: data.draw(st.one_of(st.none(), garbage((B, H))), label=name) for name in ("h_out", "c_out")}
    try:
        check_result(packed.step(x_t, h, c, **outs), [(B, H), (B, H)])
    except ALLOWED:
        pass
    x, h0, c0 = (data.draw(garbage(shape), label=name) for name, shape in
                 (("x", (T, B, D)), ("h0", (B, H)), ("c0", (B, H))))
    try:
        check_result(packed.forward(x, h0, c0), [(T, B, H), (B, H), (B, H)])
    except ALLOWED:
        pass


@settings(max_examples=100, **SETTINGS)
@given(value=st.one_of(st.integers(-(2**80), 2**80), st.integers(-5, 1100), st.floats(), st.text(max_size=8),
                       st.sampled_from(["avx2", "generic", "avx512"]), st.none(), st.booleans(), st.binary(max_size=8)))
def test_garbage_controls_raise_only_clean_errors(value):
    threads, isa = fast_lstm.get_num_threads(), fast_lstm.isa()
    try:
        fast_lstm.set_num_threads(value)
    except ALLOWED:
        assert fast_lstm.get_num_threads() == threads
    else:
        assert type(value) is int and 1 <= value <= 1024 and fast_lstm.get_num_threads() == value
    finally:
        fast_lstm.set_num_threads(threads)
    try:
        previous = fast_lstm._force_isa(value)
    except ALLOWED:
        assert fast_lstm.isa() == isa
    else:
        assert previous == isa and fast_lstm.isa() in fast_lstm.available_isas()
        fast_lstm._force_isa(isa)
