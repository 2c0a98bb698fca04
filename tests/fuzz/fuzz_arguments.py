"""Coverage-guided fuzz target for the argument-parsing layer of fast_lstm (cpp/bindings.cpp).

Each input is decoded into one call of a fast_lstm entry point (lstm_forward, lstm_backward,
PackedLSTM and its step / forward, set_num_threads, _force_isa, _sigmoid, _tanh) with arguments of
random types, dtypes, ranks, shapes, strides, alignment, writeability and values (NaN and inf
included), sometimes consistent with each other and sometimes not. The contract checked:

- only TypeError, ValueError or MemoryError escape (anything else, or a crash, is a finding);
- a call that returns gives results of the documented types, shapes and dtype;
- no call changes the thread count or the ISA unless it is the call that sets them.

Huge shapes are zero-stride views of one element (no memory). Real arrays stay small, and a
shape whose copy would be between 1 MB and 2**48 bytes is shrunk, so a binding that copies
before checking sizes fails with a MemoryError instead of filling the machine's memory.

Run (needs `pip install atheris`):
    python tests/fuzz/fuzz_arguments.py tests/fuzz/corpus -max_total_time=60
or through .ci/fuzz.sh. The decoder below does not need atheris, so tests/test_hardening_fuzz.py
replays the corpus in the ordinary test run. The file is not named test_*.py: pytest does not collect it.
"""

import os
import struct
import sys

import numpy as np
from numpy.lib.stride_tricks import as_strided

ALLOWED = (TypeError, ValueError, MemoryError)

# Known bugs reported to the kernel owner; inputs that hit them are not generated while listed
# here (so a bounded CI run tests everything else). Remove an entry once the bug is fixed.
KNOWN_BUGS: set = set()

DTYPES = [np.float32, np.float64, np.float32, np.float64, np.float32, np.float16, np.int32, np.int64,
          np.bool_, np.complex64, np.dtype(">f4"), np.dtype(">f8"), object, np.uint8]
HUGE_DIMS = [2**31 - 1, 2**31, 2**32, 2**32 + 1, 2**40, 2**62 // 4]
REAL_LIMIT = 2**20  # bytes of a materialised array
UNMAPPABLE = 2**48  # bytes no x86-64 process can map: a copy this big fails at once


class Source:
    """Reads decisions from the fuzzer's bytes; zeros once they run out (so every input is valid)."""

    def __init__(self, data: bytes):
        self.data, self.pos = data, 0
        self.wild = False  # perturb every argument, not just the chosen one

    def byte(self) -> int:
        if self.pos >= len(self.data):
            return 0
        self.pos += 1
        return self.data[self.pos - 1]

    def below(self, n: int) -> int:
        return self.byte() % n if n > 1 else 0

    def choose(self, options):
        return options[self.below(len(options))]

    def flag(self) -> bool:
        return self.byte() & 1 == 1

    def integer(self) -> int:
        kind = self.below(6)
        if kind == 0:
            return self.below(8)
        if kind == 1:
            return -self.below(8)
        if kind == 2:
            return self.choose([1024, 1025, 2**31 - 1, 2**31, 2**32 + 1, 2**63 - 1, 2**63, 2**64, 2**70, -(2**63)])
        raw = bytes(self.byte() for _ in range(8))
        return int.from_bytes(raw, "little", signed=True)

    def value(self) -> float:
        special = self.below(16)
        if special == 0:
            return float("nan")
        if special == 1:
            return float("inf")
        if special == 2:
            return float("-inf")
        if special == 3:
            return 1e30
        return (self.byte() - 128) / 32.0


def fits(shape, itemsize):
    n = 1
    for d in shape:
        n *= d
    return n * itemsize


def make_array(src: Source, shape, perturb=True):
    """An array for an argument wanting `shape`: float32 in some layout; if `perturb`, maybe another
    dtype, rank or shape (a huge one included)."""
    dtype = np.dtype(src.choose(DTYPES)) if perturb and src.below(4) == 0 else np.dtype(np.float32)
    shape = list(shape)
    mutation = src.below(8) if perturb else -1
    if mutation == 0 and shape:
        shape[src.below(len(shape))] += src.choose([-1, 1, 2, -2])
    elif mutation == 1:
        shape.insert(src.below(len(shape) + 1), src.choose([0, 1, 2]))
    elif mutation == 2 and shape:
        shape.pop(src.below(len(shape)))
    elif mutation == 3 and shape:
        shape[src.below(len(shape))] = src.choose(HUGE_DIMS + [0])
    shape = tuple(max(d, 0) for d in shape)
    if REAL_LIMIT < fits(shape, dtype.itemsize) < UNMAPPABLE:
        shape = tuple(min(d, 3) for d in shape)
    if fits(shape, dtype.itemsize) > REAL_LIMIT or src.below(16) == 0:
        if dtype == object:  # no zero-stride views of object arrays: a float one stands in
            dtype = np.dtype(np.float64)
        with np.errstate(all="ignore"):
            one = np.full(1, src.value()).astype(dtype)
        return as_strided(one, shape=shape, strides=(0,) * len(shape), writeable=False)
    count = fits(shape, 1)
    values = np.array([src.value() for _ in range(min(count, 16))] or [0.0])
    with np.errstate(all="ignore"):
        array = np.resize(values, count).reshape(shape).astype(dtype)
    layout = src.below(8)
    if layout == 1:
        array = np.asfortranarray(array)
    elif layout == 2 and array.ndim:
        array = np.flip(array, src.below(array.ndim))
    elif layout == 3 and array.ndim:
        wide = np.zeros(array.shape[:-1] + (2 * array.shape[-1],), array.dtype)
        wide[..., ::2] = array
        array = wide[..., ::2]
    elif layout == 4 and array.dtype != object and array.size:
        raw = np.zeros(array.nbytes + 1, np.uint8)
        view = raw[1:].view(array.dtype).reshape(array.shape)
        view[...] = array
        array = view
    elif layout == 5:
        array.flags.writeable = False
    return array


def make_argument(src: Source, shape, perturb=True):
    if not (perturb or src.wild):
        return make_array(src, shape, perturb=False)
    kind = src.below(12)
    if kind == 0:
        return None
    if kind == 1:
        return src.choose([0, 1.5, "x", [1.0, 2.0], (1,), b"\x00" * 4, object(), True, src.integer()])
    if kind == 2:
        return make_array(src, shape).tolist() if fits(shape, 1) < 64 else None
    return make_array(src, shape)


def make_arguments(src: Source, shapes):
    """Arguments for `shapes`: all perturbed (wild inputs), one perturbed, or none."""
    bad = src.below(len(shapes) + 1)
    return [make_argument(src, shape, perturb=(i == bad)) for i, shape in enumerate(shapes)]


def check_arrays(result, shapes, dtype):
    assert isinstance(result, tuple) and len(result) == len(shapes), f"returned {type(result).__name__}"
    for index, (array, shape) in enumerate(zip(result, shapes)):
        assert isinstance(array, np.ndarray), f"result {index} is {type(array).__name__}"
        assert array.shape == shape, f"result {index} has shape {array.shape}, expected {shape}"
        assert array.dtype == dtype, f"result {index} has dtype {array.dtype}, expected {dtype}"


def sizes(src: Source):
    return tuple(src.choose([1, 1, 2, 3, 5, 8, 17, 0]) for _ in range(4))  # T, B, D, H


def call_forward(src: Source, fast_lstm):
    T, B, D, H = sizes(src)
    args = make_arguments(src, [(T, B, D), (4 * H, D), (4 * H, H), (4 * H,), (B, H), (B, H)])
    training = src.choose([False, True, True, True, None, 1, "yes"])
    options = {}
    doc = fast_lstm.lstm_forward.__doc__ or ""
    if "lengths" in doc and src.below(3) == 0:
        options["lengths"] = src.choose([
            np.array([src.below(T + 2) - (src.below(8) == 0) for _ in range(B)], np.int64).astype(
                src.choose([np.int64, np.int8, np.uint32])),  # -1 wraps to 2**32 - 1 in uint32: also out of range
            [src.integer() for _ in range(B)], make_argument(src, (B,)), None])
    if "recurrent_mask" in doc and src.below(3) == 0:
        options["recurrent_mask"] = make_argument(src, (B, H))
    result = fast_lstm.lstm_forward(*args, training=training, **options)
    # Accepted: the arguments must agree with each other, whatever sizes the fuzzer meant.
    x, w_ih, w_hh, b, h0, c0 = args
    T, B, D = x.shape
    H = w_hh.shape[1]
    assert w_ih.shape == (4 * H, D) and w_hh.shape == (4 * H, H) and b.shape == (4 * H,), "inconsistent weights accepted"
    assert all(s is None or s.shape == (B, H) for s in (h0, c0)), "inconsistent states accepted"
    assert min(T, B, D, H) >= 1, "an empty size was accepted"
    dtype = x.dtype
    assert all(a is None or a.dtype == dtype for a in args), "mixed dtypes accepted"
    assert isinstance(result, tuple) and len(result) == 4
    check_arrays(result[:3], [(T, B, H), (B, H), (B, H)], dtype)
    if not training:
        assert result[3] is None
        return
    cache = result[3]
    assert isinstance(cache, fast_lstm.LstmCache) and cache.shape == (T, B, D, H) and cache.dtype == dtype
    upstream = make_arguments(src, [(T, B, H), (B, H), (B, H)])
    if src.below(8) == 0:
        upstream[src.below(3)] = cache
    grads = fast_lstm.lstm_backward(*upstream, cache if src.below(8) else src.choose([None, result, 3]))
    assert all(u is None or (u.dtype == dtype and u.shape == s) for u, s in zip(upstream, [(T, B, H), (B, H), (B, H)]))
    check_arrays(grads, [(T, B, D), (4 * H, D), (4 * H, H), (4 * H,), (B, H), (B, H)], dtype)


def call_packed(src: Source, fast_lstm):
    T, B, D, H = sizes(src)
    w_ih, w_hh, b = make_arguments(src, [(4 * H, D), (4 * H, H), (4 * H,)])
    packed = fast_lstm.PackedLSTM(w_ih, w_hh, b)
    D, H, dtype = packed.input_size, packed.hidden_size, packed.dtype
    assert w_ih.shape == (4 * H, D) and w_hh.shape == (4 * H, H) and b.shape == (4 * H,), "inconsistent weights accepted"
    assert w_ih.dtype == w_hh.dtype == b.dtype == dtype and min(D, H) >= 1
    for _ in range(1 + src.below(3)):
        if src.flag():
            x, h0, c0 = make_arguments(src, [(T, B, D), (B, H), (B, H)])
            result = packed.forward(x, h0, c0)
            T_, B_ = x.shape[:2]
            check_arrays(result, [(T_, B_, H), (B_, H), (B_, H)], dtype)
        else:
            x_t, h, c = make_arguments(src, [(B, D), (B, H), (B, H)])
            outs = {}
            for name in ("h_out", "c_out"):
                choice = src.below(4)
                if choice == 1:
                    outs[name] = make_argument(src, (B, H))
                elif choice == 2:
                    outs[name] = src.choose([h, c, x_t])
            result = packed.step(x_t, h, c, **outs)
            check_arrays(result, [(x_t.shape[0], H)] * 2, dtype)
            for name, array in zip(("h_out", "c_out"), result):
                if outs.get(name) is not None:
                    assert array is outs[name], f"{name} given but another array returned"


def call_threads(src: Source, fast_lstm):
    n = src.choose([src.integer(), src.integer(), 1.0, "2", None, True, np.int64(2), [2]])
    if "set_num_threads-beyond-int64" in KNOWN_BUGS and type(n) is int and not -(2**63) <= n < 2**63:
        return
    fast_lstm.set_num_threads(n)
    assert not isinstance(n, (bool, float, str, list)) and n is not None, f"set_num_threads accepted {n!r}"
    assert 1 <= int(n) <= 1024 and fast_lstm.get_num_threads() == int(n)


def call_isa(src: Source, fast_lstm):
    name = src.choose(["avx512", "avx2", "generic", "", "AVX2", "generic\0", None, 2, "sse"] + [
        bytes(src.byte() for _ in range(src.below(6))).decode("latin-1")])
    previous = fast_lstm._force_isa(name)
    assert previous in fast_lstm.available_isas() and fast_lstm.isa() == name


def call_activation(src: Source, fast_lstm):
    function = src.choose([fast_lstm._sigmoid, fast_lstm._tanh])
    rank = src.below(4)
    x = make_argument(src, tuple(src.choose([0, 1, 3, 8, 17]) for _ in range(rank)))
    y = function(x)
    assert isinstance(y, np.ndarray) and y.shape == x.shape and y.dtype == x.dtype and y is not x


ENTRIES = [call_forward, call_forward, call_packed, call_packed, call_threads, call_isa, call_activation]


def run_one(data: bytes, fast_lstm):
    src = Source(data)
    entry = src.choose(ENTRIES)
    src.wild = src.below(4) == 0
    threads, isa = fast_lstm.get_num_threads(), fast_lstm.isa()
    try:
        with np.errstate(all="ignore"):
            entry(src, fast_lstm)
    except ALLOWED:
        pass
    finally:
        changed = (fast_lstm.get_num_threads(), fast_lstm.isa()) != (threads, isa)
        fast_lstm.set_num_threads(threads)
        fast_lstm._force_isa(isa)
    if changed:
        assert entry in (call_threads, call_isa), f"{entry.__name__} changed the thread count or the ISA"


def main():
    import atheris

    with atheris.instrument_imports():
        import fast_lstm
    # Coverage feedback comes from the decisions this module takes (the C++ is not instrumented).
    module = sys.modules[__name__]
    for name, value in list(vars(module).items()):
        if callable(value) and getattr(value, "__module__", None) == __name__ and hasattr(value, "__code__"):
            setattr(module, name, atheris.instrument_func(value))
    fast_lstm.set_num_threads(min(2, fast_lstm.get_num_threads()))
    atheris.Setup(sys.argv, lambda data: run_one(data, fast_lstm))
    atheris.Fuzz()


if __name__ == "__main__":
    main()
