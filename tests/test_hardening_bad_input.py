"""Bad input to every fast_lstm entry point is refused cleanly, before any work; odd but valid input
(read-only, unaligned, strided, aliased, big-endian) is either computed exactly as its clean copy or
refused with a message naming the argument.

The table extends the ones in test_lstm_kernels.py and test_packed_lstm.py (it does not repeat
their rows): lstm_backward, PackedLSTM's constructor, step and forward, the thread and ISA controls,
the activation hooks, keyword options (lengths=, recurrent_mask=), and sizes whose products overflow 32 or 64 bits. The huge
arrays are zero-stride views (np.lib.stride_tricks.as_strided) of a single element: they cost no
memory, and every one of them is over 2**48 bytes, more than any x86-64 process can map, so a
binding that copies before it checks sizes gets a MemoryError instead of eating the machine.
"""

import os
import re
from typing import Callable, NamedTuple

import fast_lstm
import numpy as np
import pytest
from numpy.lib.stride_tricks import as_strided
from reference import lstm_forward_ref, random_lstm_problem

T, B, D, H = 3, 2, 4, 5  # sizes of the problem every bad call below is cut from
F32, F64 = np.float32, np.float64

P32 = random_lstm_problem(T, B, D, H, F32, seed=60)
P64 = random_lstm_problem(T, B, D, H, F64, seed=60)
for _array in P32 + P64:
    _array.flags.writeable = False  # no case may change the shared problem (the kernels must not either)


def cache32():
    return fast_lstm.lstm_forward(*P32[:6], training=True)[3]


def cache64():
    return fast_lstm.lstm_forward(*P64[:6], training=True)[3]


def packed32():
    return fast_lstm.PackedLSTM(P32.w_ih, P32.w_hh, P32.b)


def huge(shape, dtype=F32):
    """A zero-stride view of one element with any shape: no memory behind it."""
    return as_strided(np.zeros(1, dtype), shape=shape, strides=(0,) * len(shape))


def z(*shape, dtype=F32):
    return np.zeros(shape, dtype)


def read_only(array):
    frozen = array.copy()
    frozen.flags.writeable = False
    return frozen


def forward(**changes):
    arguments = dict(zip(("x", "w_ih", "w_hh", "b", "h0", "c0"), P32[:6]))
    arguments.update(changes)
    return fast_lstm.lstm_forward(**arguments)


def backward(cache=None, **changes):
    arguments = dict(dy=P32.dy, dh_n=P32.dh_n, dc_n=P32.dc_n)
    arguments.update(changes)
    return fast_lstm.lstm_backward(cache=cache32() if cache is None else cache, **arguments)


def pack(**changes):
    arguments = dict(w_ih=P32.w_ih, w_hh=P32.w_hh, b=P32.b)
    arguments.update(changes)
    return fast_lstm.PackedLSTM(**arguments)


def step(**changes):
    arguments = dict(x_t=P32.x[0], h=P32.h0, c=P32.c0)
    arguments.update(changes)
    return packed32().step(arguments.pop("x_t"), arguments.pop("h"), arguments.pop("c"), **arguments)


def packed_forward(**changes):
    arguments = dict(x=P32.x, h0=P32.h0, c0=P32.c0)
    arguments.update(changes)
    return packed32().forward(**arguments)


# Huge sizes: the binding should refuse them from the shapes alone, naming the argument or the sizes.
BIG = r"x|w_ih|w_hh|b|x_t|T=|B=|D=|H="


class Bad(NamedTuple):
    id: str
    call: Callable[[], object]
    error: type
    argument: str  # regex of the argument(s) the message must name (as whole words)
    xfail: str = ""  # a known bug: the reason, with the strict xfail it earns until fixed


BAD_CALLS = [
    # ---- lstm_forward: dtypes and types the existing table does not try
    Bad("fwd-x-uint8", lambda: forward(x=P32.x.astype(np.uint8)), TypeError, "x"),
    Bad("fwd-x-int64", lambda: forward(x=P32.x.astype(np.int64)), TypeError, "x"),
    Bad("fwd-x-longdouble", lambda: forward(x=P32.x.astype(np.longdouble)), TypeError, "x"),
    Bad("fwd-x-structured", lambda: forward(x=np.zeros((T, B, D), "f4,f4")), TypeError, "x"),
    Bad("fwd-x-str", lambda: forward(x=np.full((T, B, D), "a")), TypeError, "x"),
    Bad("fwd-x-memoryview", lambda: forward(x=memoryview(np.ascontiguousarray(P32.x))), TypeError, "x"),
    Bad("fwd-x-tuple", lambda: forward(x=tuple(P32.x.tolist())), TypeError, "x"),
    Bad("fwd-w_ih-float16", lambda: forward(w_ih=P32.w_ih.astype(np.float16)), TypeError, "w_ih"),
    Bad("fwd-w_hh-int8", lambda: forward(w_hh=P32.w_hh.astype(np.int8)), TypeError, "w_hh"),
    Bad("fwd-w_hh-big-endian", lambda: forward(w_hh=P32.w_hh.astype(">f4")), TypeError, "w_hh"),
    Bad("fwd-h0-int32", lambda: forward(h0=P32.h0.astype(np.int32)), TypeError, "h0"),
    Bad("fwd-c0-complex64", lambda: forward(c0=P32.c0.astype(np.complex64)), TypeError, "c0"),
    Bad("fwd-h0-list", lambda: forward(h0=P32.h0.tolist()), TypeError, "h0"),
    Bad("fwd-c0-python-float", lambda: forward(c0=0.0), TypeError, "c0"),
    Bad("fwd-all-float64-but-b", lambda: forward(**dict(zip(("x", "w_ih", "w_hh"), P64[:3]))), TypeError, "b"),
    Bad("fwd-all-float64-but-c0", lambda: forward(**dict(zip(("x", "w_ih", "w_hh", "b", "h0"), P64[:5]))), TypeError, "c0"),
    # ---- lstm_forward: ranks, shapes, disagreements
    Bad("fwd-h0-rank0", lambda: forward(h0=np.array(0, F32)), ValueError, "h0"),
    Bad("fwd-h0-transposed", lambda: forward(h0=np.ascontiguousarray(P32.h0.T)), ValueError, "h0"),
    Bad("fwd-c0-rank3", lambda: forward(c0=P32.c0[:, :, None]), ValueError, "c0"),
    Bad("fwd-w_hh-rank3", lambda: forward(w_hh=P32.w_hh[None]), ValueError, "w_hh"),
    Bad("fwd-w_hh-transposed", lambda: forward(w_hh=np.ascontiguousarray(P32.w_hh.T)), ValueError, "w_hh"),
    Bad("fwd-w_ih-transposed", lambda: forward(w_ih=np.ascontiguousarray(P32.w_ih.T)), ValueError, "w_ih"),
    Bad("fwd-b-row-vector", lambda: forward(b=P32.b[None, :]), ValueError, "b"),
    Bad("fwd-x-batch-first", lambda: forward(x=z(B, T, D)), ValueError, "h0|c0"),
    Bad("fwd-H-0", lambda: forward(w_ih=z(0, D), w_hh=z(0, 0), b=z(0), h0=None, c0=None), ValueError, "w_ih"),
    Bad("fwd-D-0", lambda: forward(x=z(T, B, 0), w_ih=z(4 * H, 0)), ValueError, "x|w_ih"),
    Bad("fwd-T-0-with-states", lambda: forward(x=z(0, B, D)), ValueError, "x"),
    Bad("fwd-B-0-with-empty-states", lambda: forward(x=z(T, 0, D), h0=z(0, H), c0=z(0, H)), ValueError, "x"),
    Bad("fwd-T-0-B-0", lambda: forward(x=z(0, 0, D), h0=None, c0=None), ValueError, "x"),
    # ---- lstm_forward: options
    Bad("fwd-training-str", lambda: forward(training="yes"), TypeError, "training"),
    Bad("fwd-training-positional", lambda: fast_lstm.lstm_forward(*P32[:6], True), TypeError, "training"),
    Bad("fwd-unknown-keyword", lambda: forward(lenghts=np.ones(B, np.int64)), TypeError, "lenghts"),
    # ---- lstm_forward: sizes whose products overflow 32 or 64 bits
    Bad("fwd-T-2**40", lambda: forward(x=huge((2**40, B, D)), h0=None, c0=None), ValueError, BIG),
    Bad("fwd-T*B-2**32-wraps-to-0", lambda: forward(x=huge((2**32, 2**16, D)), h0=None, c0=None), ValueError, BIG),
    Bad("fwd-B-2**32+1", lambda: forward(x=huge((2**16, 2**32 + 1, D)), h0=None, c0=None), ValueError, BIG),
    Bad("fwd-T*B*D-2**60", lambda: forward(x=huge((2**20, 2**20, 2**20)), w_ih=huge((4 * H, 2**20))), ValueError, BIG),
    Bad(
        "fwd-H-2**29",
        lambda: forward(w_ih=huge((2**31, D)), w_hh=huge((2**31, 2**29)), b=huge((2**31,)), h0=None, c0=None),
        ValueError,
        BIG,
    ),
    # ---- lstm_backward
    Bad("bwd-cache-from-inference", lambda: backward(cache=forward(training=False)[3] or "none"), TypeError, "cache"),
    Bad("bwd-cache-is-packed-lstm", lambda: backward(cache=packed32()), TypeError, "cache"),
    Bad("bwd-cache-is-tuple", lambda: backward(cache=forward(training=True)), TypeError, "cache"),
    Bad("bwd-arguments-swapped", lambda: fast_lstm.lstm_backward(cache32(), None, None, P32.dy), TypeError, "cache"),
    Bad("bwd-dy-batch-first", lambda: backward(dy=z(B, T, H)), ValueError, "dy"),
    Bad("bwd-dy-gates-shaped", lambda: backward(dy=z(T, B, 4 * H)), ValueError, "dy"),
    Bad("bwd-dy-T-0", lambda: backward(dy=z(0, B, H)), ValueError, "dy"),
    Bad("bwd-dy-of-another-forward", lambda: backward(dy=z(T + 2, B + 1, H)), ValueError, "dy"),
    Bad("bwd-dy-int64", lambda: backward(dy=P32.dy.astype(np.int64)), TypeError, "dy"),
    Bad("bwd-dy-bool", lambda: backward(dy=P32.dy > 0), TypeError, "dy"),
    Bad("bwd-dy-float32-for-float64-cache", lambda: backward(cache=cache64(), dy=P32.dy, dh_n=None, dc_n=None), TypeError, "dy"),
    Bad("bwd-dh_n-float32-for-float64-cache", lambda: backward(cache=cache64(), dy=None, dc_n=None), TypeError, "dh_n"),
    Bad("bwd-dh_n-rank1", lambda: backward(dy=None, dh_n=P32.dh_n[0]), ValueError, "dh_n"),
    Bad("bwd-dh_n-python-float", lambda: backward(dh_n=1.0), TypeError, "dh_n"),
    Bad("bwd-dc_n-list", lambda: backward(dc_n=P32.dc_n.tolist()), TypeError, "dc_n"),
    Bad("bwd-dc_n-transposed", lambda: backward(dc_n=np.ascontiguousarray(P32.dc_n.T)), ValueError, "dc_n"),
    Bad("bwd-dy-huge", lambda: backward(dy=huge((2**40, B, H))), ValueError, "dy"),
    # ---- PackedLSTM(w_ih, w_hh, b)
    Bad("pack-w_ih-None", lambda: pack(w_ih=None), TypeError, "w_ih"),
    Bad("pack-w_hh-list", lambda: pack(w_hh=P32.w_hh.tolist()), TypeError, "w_hh"),
    Bad("pack-b-None", lambda: pack(b=None), TypeError, "b"),
    Bad("pack-b-float64", lambda: pack(b=P64.b), TypeError, "b"),
    Bad("pack-w_ih-float16", lambda: pack(w_ih=P32.w_ih.astype(np.float16)), TypeError, "w_ih"),
    Bad("pack-H-0", lambda: pack(w_ih=z(0, D), w_hh=z(0, 0), b=z(0)), ValueError, "w_ih"),
    Bad("pack-D-0", lambda: pack(w_ih=z(4 * H, 0)), ValueError, "w_ih"),
    Bad("pack-w_ih-rank3", lambda: pack(w_ih=P32.w_ih[None]), ValueError, "w_ih"),
    Bad("pack-w_hh-transposed", lambda: pack(w_hh=np.ascontiguousarray(P32.w_hh.T)), ValueError, "w_hh"),
    Bad(
        "pack-H-2**29",
        lambda: pack(w_ih=huge((2**31, D)), w_hh=huge((2**31, 2**29)), b=huge((2**31,))),
        ValueError,
        BIG,
    ),
    # ---- PackedLSTM.forward(x, h0, c0)
    Bad("packed-forward-x-None", lambda: packed_forward(x=None), TypeError, "x"),
    Bad("packed-forward-x-float64", lambda: packed_forward(x=P64.x), TypeError, "x"),
    Bad("packed-forward-x-rank2", lambda: packed_forward(x=P32.x[0]), ValueError, "x"),
    Bad("packed-forward-T-0", lambda: packed_forward(x=z(0, B, D)), ValueError, "x"),
    Bad("packed-forward-B-0", lambda: packed_forward(x=z(T, 0, D), h0=None, c0=None), ValueError, "x"),
    Bad("packed-forward-h0-batch", lambda: packed_forward(h0=z(B + 1, H)), ValueError, "h0"),
    Bad("packed-forward-c0-int", lambda: packed_forward(c0=P32.c0.astype(np.int32)), TypeError, "c0"),
    Bad("packed-forward-T-2**40", lambda: packed_forward(x=huge((2**40, B, D)), h0=None, c0=None), ValueError, BIG),
    # ---- PackedLSTM.step(x_t, h, c, *, h_out, c_out)
    Bad("step-x_t-rank1", lambda: step(x_t=P32.x[0, 0]), ValueError, "x_t"),
    Bad("step-x_t-int", lambda: step(x_t=P32.x[0].astype(np.int64)), TypeError, "x_t"),
    Bad("step-h-None", lambda: step(h=None), TypeError, "h"),
    Bad("step-c-None", lambda: step(c=None), TypeError, "c"),
    Bad("step-h-rank3", lambda: step(h=P32.h0[None]), ValueError, "h"),
    Bad("step-c-float64", lambda: step(c=P64.c0), TypeError, "c"),
    Bad("step-h_out-list", lambda: step(h_out=[[0.0] * H] * B), TypeError, "h_out"),
    Bad("step-c_out-read-only", lambda: step(c_out=read_only(P32.c0)), ValueError, "c_out"),
    Bad("step-h_out-every-other-element", lambda: step(h_out=z(B, 2 * H)[:, ::2]), ValueError, "h_out"),
    Bad("step-c_out-wrong-shape", lambda: step(c_out=z(B + 1, H)), ValueError, "c_out"),
    Bad(
        "step-h_out-is-c_out",
        lambda: (lambda out: step(h_out=out, c_out=out))(z(B, H)),
        ValueError,
        "h_out|c_out",
    ),
    Bad("step-x_t-huge-batch", lambda: step(x_t=huge((2**40, D)), h=huge((2**40, H)), c=huge((2**40, H))), ValueError, BIG),
    # ---- set_num_threads(n)
    Bad("threads-2**31", lambda: fast_lstm.set_num_threads(2**31), ValueError, "n"),
    Bad("threads-minus-2**31", lambda: fast_lstm.set_num_threads(-(2**31)), ValueError, "n"),
    Bad("threads-1025", lambda: fast_lstm.set_num_threads(1025), ValueError, "n"),
    Bad(
        "threads-2**70",
        lambda: fast_lstm.set_num_threads(2**70),
        ValueError,
        "n",
    ),
    Bad("threads-True", lambda: fast_lstm.set_num_threads(True), TypeError, "n"),
    Bad("threads-False", lambda: fast_lstm.set_num_threads(False), TypeError, "n"),
    Bad("threads-float-1.0", lambda: fast_lstm.set_num_threads(1.0), TypeError, "n"),
    Bad("threads-list", lambda: fast_lstm.set_num_threads([2]), TypeError, "n"),
    # ---- _force_isa(name)
    Bad("isa-None", lambda: fast_lstm._force_isa(None), TypeError, "name"),
    Bad("isa-int", lambda: fast_lstm._force_isa(2), TypeError, "name"),
    Bad("isa-embedded-nul", lambda: fast_lstm._force_isa("generic\0"), ValueError, "name"),
    Bad("isa-leading-space", lambda: fast_lstm._force_isa(" generic"), ValueError, "name"),
    Bad("isa-sse2", lambda: fast_lstm._force_isa("sse2"), ValueError, "name"),
    # ---- _sigmoid(x), _tanh(x)
    Bad("sigmoid-None", lambda: fast_lstm._sigmoid(None), TypeError, "x"),
    Bad("sigmoid-list", lambda: fast_lstm._sigmoid([0.5]), TypeError, "x"),
    Bad("sigmoid-numpy-scalar", lambda: fast_lstm._sigmoid(F32(0.5)), TypeError, "x"),
    Bad("sigmoid-int64", lambda: fast_lstm._sigmoid(np.arange(4)), TypeError, "x"),
    Bad("tanh-float16", lambda: fast_lstm._tanh(np.zeros(4, np.float16)), TypeError, "x"),
    Bad("tanh-complex128", lambda: fast_lstm._tanh(np.zeros(4, np.complex128)), TypeError, "x"),
    Bad("tanh-big-endian", lambda: fast_lstm._tanh(np.zeros(4, ">f8")), TypeError, "x"),
    # 2**55 float32 elements: only a MemoryError (numpy's names the shape) or a ValueError will do.
    Bad("tanh-2**55-elements", lambda: fast_lstm._tanh(huge((2**55,))), MemoryError, r"x|shape"),
]

# lengths= and recurrent_mask= join the table once lstm_forward documents them (cell variants: to do).
# test_lstm_sequences.py already refuses float/bool/str lengths, (B,) mismatches, values outside
# [0, T] and wrong mask shapes/dtypes; these rows are the ones it does not try.
DOC = fast_lstm.lstm_forward.__doc__ or ""
if "lengths" in DOC:
    BAD_CALLS += [
        Bad("fwd-lengths-python-int", lambda: forward(lengths=T), ValueError, "lengths"),
        Bad("fwd-lengths-object-array", lambda: forward(lengths=np.array([1] * B, dtype=object)), TypeError, "lengths"),
        Bad("fwd-lengths-str", lambda: forward(lengths="12"), TypeError, "lengths"),
        Bad("fwd-lengths-list-with-float", lambda: forward(lengths=[1] * (B - 1) + [2.5]), TypeError, "lengths"),
        Bad("fwd-lengths-timedelta", lambda: forward(lengths=np.ones(B, "m8[s]")), TypeError, "lengths"),
        Bad("fwd-lengths-int8-negative", lambda: forward(lengths=np.full(B, -1, np.int8)), ValueError, "lengths"),
        Bad("fwd-lengths-None-elements", lambda: forward(lengths=[None] * B), TypeError, "lengths"),
        Bad("fwd-lengths-huge-B", lambda: forward(lengths=huge((2**40,), np.int64)), ValueError, "lengths"),
    ]
if "recurrent_mask" in DOC:
    BAD_CALLS += [
        Bad("fwd-recurrent_mask-rank1", lambda: forward(recurrent_mask=z(H)), ValueError, "recurrent_mask"),
        Bad("fwd-recurrent_mask-transposed", lambda: forward(recurrent_mask=z(H, B)), ValueError, "recurrent_mask"),
        Bad("fwd-recurrent_mask-int", lambda: forward(recurrent_mask=np.ones((B, H), np.int32)), TypeError, "recurrent_mask"),
        Bad("fwd-recurrent_mask-big-endian", lambda: forward(recurrent_mask=np.ones((B, H), ">f4")), TypeError, "recurrent_mask"),
        Bad("fwd-recurrent_mask-python-float", lambda: forward(recurrent_mask=0.5), TypeError, "recurrent_mask"),
    ]


def gru_problem():
    rng = np.random.default_rng(61)
    return [rng.standard_normal(shape).astype(F32) for shape in ((T, B, D), (3 * H, D), (3 * H, H), (3 * H,), (3 * H,))]


def uninitialised(cls):
    """An instance made by __new__ alone: no C++ object behind it."""
    return cls.__new__(cls)


# Bool options take a bool (Python's or numpy's), nothing else: pybind11's bool would take None or
# an int, so forget_gate=None silently ran the 1997 cell. And instances made by __new__ alone, whose
# C++ object was never constructed, are refused (reading them crashed).
BAD_CALLS += [
    Bad("fwd-training-None", lambda: forward(training=None), TypeError, "training"),
    Bad("fwd-training-str-False", lambda: forward(training="False"), TypeError, "training"),
    Bad("fwd-forget_gate-None", lambda: forward(forget_gate=None), TypeError, "forget_gate"),
    Bad("fwd-couple_input_forget-int", lambda: forward(couple_input_forget=0), TypeError, "couple_input_forget"),
    Bad("bwd-input_grad-None", lambda: backward(input_grad=None), TypeError, "input_grad"),
    Bad("gru-fwd-training-int", lambda: fast_lstm.gru_forward(*gru_problem(), training=1), TypeError, "training"),
    Bad("gru-bwd-input_grad-str",
        lambda: fast_lstm.gru_backward(None, None, fast_lstm.gru_forward(*gru_problem(), training=True)[2], input_grad="no"),
        TypeError, "input_grad"),
    Bad("packed-new-only-step", lambda: uninitialised(fast_lstm.PackedLSTM).step(P32.x[0], P32.h0, P32.c0),
        TypeError, "PackedLSTM"),
    Bad("packed-new-only-forward", lambda: uninitialised(fast_lstm.PackedLSTM).forward(P32.x), TypeError, "PackedLSTM"),
    Bad("packed-new-only-isa", lambda: uninitialised(fast_lstm.PackedLSTM).isa, TypeError, "PackedLSTM"),
    Bad("packed-new-only-hidden_size", lambda: uninitialised(fast_lstm.PackedLSTM).hidden_size, TypeError, "PackedLSTM"),
    Bad("bwd-cache-new-only", lambda: backward(cache=uninitialised(fast_lstm.LstmCache)), TypeError, "LstmCache"),
    Bad("lstm-cache-new-only-repr", lambda: repr(uninitialised(fast_lstm.LstmCache)), TypeError, "LstmCache"),
    Bad("gru-cache-new-only-shape", lambda: uninitialised(fast_lstm.GruCache).shape, TypeError, "GruCache"),
    Bad("gru-bwd-cache-new-only", lambda: fast_lstm.gru_backward(None, None, uninitialised(fast_lstm.GruCache)),
        TypeError, "GruCache"),
]


@pytest.mark.parametrize("option, value", [("training", True), ("forget_gate", False), ("couple_input_forget", True)])
def test_numpy_bools_choose_what_python_bools_do(option, value):
    # Without a forget gate of its own the cell has 3 gates: the first 3H rows of the weights.
    three_gates = {} if option == "training" else dict(w_ih=P32.w_ih[: 3 * H], w_hh=P32.w_hh[: 3 * H], b=P32.b[: 3 * H])
    wanted = forward(**three_gates, **{option: value})
    got = forward(**three_gates, **{option: np.bool_(value)})
    assert type(got[3]) is type(wanted[3])
    for a, b in zip(got[:3], wanted[:3]):
        assert np.array_equal(a, b)


@pytest.mark.skipif("lengths" not in DOC, reason="lstm_forward has no lengths= yet")
@pytest.mark.parametrize("layout", ["every-other", "reversed-view", "big-endian", "read-only", "int8", "uint16", "list"])
def test_lengths_in_any_integer_layout_give_the_int64_result(layout):
    p = random_lstm_problem(5, 4, 6, 7, F64, seed=67)
    lengths = np.array([5, 0, 3, 1], np.int64)
    variants = {
        "every-other": lambda: np.repeat(lengths, 2)[::2],
        "reversed-view": lambda: lengths[::-1].copy()[::-1],
        "big-endian": lambda: lengths.astype(">i8"),
        "read-only": lambda: read_only(lengths),
        "int8": lambda: lengths.astype(np.int8),
        "uint16": lambda: lengths.astype(np.uint16),
        "list": lambda: lengths.tolist(),
    }
    odd = variants[layout]()
    *outputs, cache = fast_lstm.lstm_forward(*p[:6], training=True, lengths=odd)
    grads = fast_lstm.lstm_backward(p.dy, p.dh_n, p.dc_n, cache)
    *expected, cache_ref = fast_lstm.lstm_forward(*p[:6], training=True, lengths=lengths)
    expected_grads = fast_lstm.lstm_backward(p.dy, p.dh_n, p.dc_n, cache_ref)
    for actual, wanted in zip(outputs + list(grads), expected + list(expected_grads)):
        assert np.array_equal(actual, wanted)
    assert np.array_equal(np.asarray(odd), lengths), "lengths was modified"


# Broadcast views that pass the size checks (a few bytes behind them) but whose contiguous copy
# is larger than this machine's memory: refused naming the argument, before any copy is tried.
PHYSICAL_MEMORY = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
WIDE_D = 2**14


def over_memory_x():
    """x (T, B, WIDE_D) whose copy takes twice this machine's memory, within the size checks."""
    steps = -(-2 * PHYSICAL_MEMORY // (B * WIDE_D * 4))
    if (steps + 1) * B * WIDE_D > 2**40:
        pytest.skip(f"{PHYSICAL_MEMORY / 2**40:.1f} TiB of memory: no input over it passes the size checks")
    return huge((steps, B, WIDE_D))


def over_memory_w_ih():
    """w_ih (4H, D) of 2 TiB, with H = 4096 and D = 2**25 within the size checks."""
    if 2**41 <= PHYSICAL_MEMORY:
        pytest.skip(f"{PHYSICAL_MEMORY / 2**40:.1f} TiB of memory: a 2 TiB copy would fit")
    return huge((4 * 4096, 2**25))


OVER_MEMORY = {
    "lstm_forward-x": ("x", lambda: forward(x=over_memory_x(), w_ih=huge((4 * H, WIDE_D)), h0=None, c0=None)),
    "packed-forward-x": ("x", lambda: pack(w_ih=huge((4 * H, WIDE_D))).forward(over_memory_x())),
    "lstm_forward-w_ih": ("w_ih", lambda: forward(w_ih=over_memory_w_ih(), w_hh=huge((4 * 4096, 4096)),
                                                 b=huge((4 * 4096,)), x=huge((T, B, 2**25)), h0=None, c0=None)),
}


@pytest.mark.parametrize("case", list(OVER_MEMORY))
def test_a_copy_larger_than_memory_is_refused_naming_the_argument(case):
    argument, call = OVER_MEMORY[case]
    refusal = rf"^{argument} \(.*\) needs a C-contiguous, aligned copy of [\d.]+ GiB, which does not fit"
    with pytest.raises(MemoryError, match=refusal):
        call()


def test_the_table_is_big_enough_and_ids_are_unique():
    assert len(BAD_CALLS) >= 60
    assert len({case.id for case in BAD_CALLS}) == len(BAD_CALLS)


def _params():
    return [
        pytest.param(case, id=case.id, marks=[pytest.mark.xfail(strict=True, reason=case.xfail)] if case.xfail else [])
        for case in BAD_CALLS
    ]


@pytest.mark.parametrize("case", _params())
def test_bad_call_is_refused_naming_the_argument(case, restore_num_threads):
    threads, isa = fast_lstm.get_num_threads(), fast_lstm.isa()
    with pytest.raises(case.error) as raised:
        case.call()
    message = str(raised.value)
    assert re.search(rf"\b({case.argument})\b", message), f"{type(raised.value).__name__} does not name it: {message}"
    # A refused call changes no global setting.
    assert (fast_lstm.get_num_threads(), fast_lstm.isa()) == (threads, isa)


# ---------------------------------------------------------------------------------------------
# Valid but unusual input: read-only (even at the OS level), unaligned, strided, aliased
# ---------------------------------------------------------------------------------------------


def os_read_only(array, tmp_path, name):
    """A copy of `array` in a file mapped without write permission: any write through it would crash."""
    path = tmp_path / f"{name}.bin"
    np.ascontiguousarray(array).tofile(path)
    return np.memmap(path, dtype=array.dtype, mode="r", shape=array.shape)


@pytest.mark.parametrize("dtype", [F32, F64], ids=lambda d: np.dtype(d).name)
def test_inputs_in_read_only_memory_are_accepted_and_never_written(tmp_path, dtype):
    p = random_lstm_problem(4, 3, 7, 9, dtype, seed=61)
    frozen = p._make(os_read_only(array, tmp_path, name) for name, array in zip(p._fields, p))

    y, h_n, c_n, cache = fast_lstm.lstm_forward(*frozen[:6], training=True)
    grads = fast_lstm.lstm_backward(frozen.dy, frozen.dh_n, frozen.dc_n, cache)
    y_ref, h_ref, c_ref, cache_ref = fast_lstm.lstm_forward(*p[:6], training=True)
    grads_ref = fast_lstm.lstm_backward(p.dy, p.dh_n, p.dc_n, cache_ref)
    for actual, expected in zip((y, h_n, c_n) + grads, (y_ref, h_ref, c_ref) + grads_ref):
        assert np.array_equal(actual, expected)

    packed = fast_lstm.PackedLSTM(frozen.w_ih, frozen.w_hh, frozen.b)
    for actual, expected in zip(packed.forward(frozen.x, frozen.h0, frozen.c0), (y_ref, h_ref, c_ref)):
        assert np.array_equal(actual, expected)
    clean = fast_lstm.PackedLSTM(p.w_ih, p.w_hh, p.b)
    for actual, expected in zip(packed.step(frozen.x[0], frozen.h0, frozen.c0), clean.step(p.x[0], p.h0, p.c0)):
        assert np.array_equal(actual, expected)
    for name, original, mapped in zip(p._fields, p, frozen):
        assert np.array_equal(original, mapped), f"{name} changed"


def unaligned(array):
    """A C-contiguous copy of `array` whose data pointer is 1 byte off the element alignment."""
    raw = np.zeros(array.nbytes + 1, np.uint8)
    view = raw[1:].view(array.dtype).reshape(array.shape)
    view[...] = array
    assert not view.flags.aligned and view.flags.c_contiguous
    return view


def every_other_element(a):
    wide = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)
    wide[..., ::2] = a
    return wide[..., ::2]


LAYOUTS = {
    "unaligned": unaligned,
    "fortran-order": lambda a: np.asfortranarray(a) if a.ndim > 1 else every_other_element(a),
    "negative-strides": lambda a: np.flip(np.flip(a).copy()),
    "every-other-element": every_other_element,
}


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_forward_backward_accept_unaligned_arrays(layout):
    """The layouts test in test_lstm_kernels.py misses unaligned data; this adds it (and backward's dy)."""
    p = random_lstm_problem(5, 3, 9, 17, F64, seed=62)
    views = p._make(LAYOUTS[layout](array) for array in p)
    *outputs, cache = fast_lstm.lstm_forward(*views[:6], training=True)
    grads = fast_lstm.lstm_backward(views.dy, views.dh_n, views.dc_n, cache)
    *expected, cache_ref = fast_lstm.lstm_forward(*p[:6], training=True)
    expected_grads = fast_lstm.lstm_backward(p.dy, p.dh_n, p.dc_n, cache_ref)
    for actual, wanted in zip(outputs + list(grads), expected + list(expected_grads)):
        assert np.array_equal(actual, wanted)


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_packed_lstm_accepts_any_layout(layout):
    p = random_lstm_problem(5, 3, 9, 17, F32, seed=63)
    v = p._make(LAYOUTS[layout](array) for array in p)
    packed, clean = fast_lstm.PackedLSTM(v.w_ih, v.w_hh, v.b), fast_lstm.PackedLSTM(p.w_ih, p.w_hh, p.b)
    for actual, wanted in zip(packed.forward(v.x, v.h0, v.c0), clean.forward(p.x, p.h0, p.c0)):
        assert np.array_equal(actual, wanted)
    x_t = LAYOUTS[layout](p.x[1])
    for actual, wanted in zip(packed.step(x_t, v.h0, v.c0), clean.step(p.x[1], p.h0, p.c0)):
        assert np.array_equal(actual, wanted)


@pytest.mark.parametrize("function", ["_sigmoid", "_tanh"])
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_activation_hooks_accept_any_layout(layout, function):
    x = np.random.default_rng(64).standard_normal((3, 4, 33)).astype(F32) * 5
    hook = getattr(fast_lstm, function)
    assert np.array_equal(hook(LAYOUTS[layout](x)), hook(x))


@pytest.mark.parametrize("argument", ["h0", "w_hh", "dy"])
def test_big_endian_arrays_are_refused_or_read_correctly(argument):
    """Extends test_big_endian_input_is_refused_or_read_correctly (x only) to the other arguments."""
    p = random_lstm_problem(3, 2, 4, 5, F64, seed=65)
    swapped = p._replace(**{argument: getattr(p, argument).astype(">f8")})
    try:
        *outputs, cache = fast_lstm.lstm_forward(*swapped[:6], training=True)
        grads = fast_lstm.lstm_backward(swapped.dy, swapped.dh_n, swapped.dc_n, cache)
    except TypeError as error:
        assert re.search(rf"\b{argument}\b", str(error)), str(error)
        return
    *expected, cache_ref = fast_lstm.lstm_forward(*p[:6], training=True)
    expected_grads = fast_lstm.lstm_backward(p.dy, p.dh_n, p.dc_n, cache_ref)
    for actual, wanted in zip(outputs + list(grads), expected + list(expected_grads)):
        assert np.array_equal(actual, wanted)


# PackedLSTM.step output buffers that overlap its inputs: computed as with fresh buffers, or refused.
# Rows: (id, which input h_out aliases, which input c_out aliases); D == H so x_t can alias a state.
ALIASES = [
    ("h_out=c", "c", None),
    ("c_out=h", None, "h"),
    ("h_out=c,c_out=h", "c", "h"),
    ("c_out=x_t", None, "x_t"),
    ("h_out=h-shifted-by-one-row", "h-shifted", None),
    ("h_out=x_t", "x_t", None),
]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("case, h_alias, c_alias", ALIASES)
def test_step_outputs_aliasing_inputs_are_correct_or_refused(restore_num_threads, case, h_alias, c_alias, threads):
    fast_lstm.set_num_threads(threads)
    batch, size = 8, 64  # big enough for several unit blocks per thread
    p = random_lstm_problem(1, batch + 1, size, size, F32, seed=66)
    packed = fast_lstm.PackedLSTM(p.w_ih, p.w_hh, p.b)
    storage = p.h0.copy()  # (batch + 1, H): h is rows 0..batch-1, "h-shifted" rows 1..batch
    inputs = {"x_t": p.x[0, :batch].copy(), "h": storage[:batch], "c": p.c0[:batch].copy()}
    expected = packed.step(inputs["x_t"].copy(), inputs["h"].copy(), inputs["c"].copy())
    buffers = {**inputs, "h-shifted": storage[1:]}
    outs = {}
    if h_alias:
        outs["h_out"] = buffers[h_alias]
    if c_alias:
        outs["c_out"] = buffers[c_alias]
    try:
        h_new, c_new = packed.step(inputs["x_t"], inputs["h"], inputs["c"], **outs)
    except ValueError as error:
        assert re.search(r"\b(h_out|c_out)\b", str(error)), str(error)
        return
    assert np.array_equal(h_new, expected[0]), "h is wrong"
    assert np.array_equal(c_new, expected[1]), "c is wrong"


def test_reference_agrees_with_the_problem_used_by_the_table():
    """Guards the table: the unmodified problem runs, so each row fails only because of its change."""
    y, h_n, c_n, cache = fast_lstm.lstm_forward(*P32[:6], training=True)
    y_ref = lstm_forward_ref(*P32[:6])[0]
    assert np.abs(y - y_ref).max() < 1e-5
    fast_lstm.lstm_backward(P32.dy, P32.dh_n, P32.dc_n, cache)
    packed32().step(P32.x[0], P32.h0, P32.c0, h_out=z(B, H), c_out=z(B, H))
    packed32().forward(P32.x, P32.h0, P32.c0)
    pack()
    fast_lstm.lstm_backward(None, None, None, cache64())
