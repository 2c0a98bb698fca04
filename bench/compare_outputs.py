"""Two builds of fast_lstm on the same inputs: are their results bitwise the same?

  pip install --no-deps --target /tmp/base .        # at the commit to compare against
  python bench/compare_outputs.py /tmp/base

A change meant to move speed alone (a tile's order, a kernel refactor) should leave every result
as it was, bit for bit; compare_builds.py then says whether it paid. This runs both builds on the
same random problems on every kernel path this CPU runs (fast_lstm.available_isas()), in float32
and float64, at 1 and 2 threads: lstm_forward (inference and training) and lstm_backward for the
standard cell and each cell option, gru_forward and gru_backward, and the SIMD sigmoid and tanh
over a range that reaches their saturation, infinities and NaN. It prints each result that
differs and exits 1 if any does. The base build is loaded beside the installed one as in
compare_builds.py.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

import numpy as np

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH_DIR)

from compare_builds import load_base  # noqa: E402  (next to this file)

# (T, B, D, H): partial vector blocks (H = 13, 24, 40), one step, one row (its own tile), batches
# that leave rows beside the row tiles (5, 7, 16, 32), and the small shape's D = H = 128.
SHAPES = ((7, 5, 9, 13), (5, 1, 16, 24), (1, 3, 8, 40), (12, 7, 33, 64), (30, 16, 64, 128), (20, 32, 128, 128))
CELL_OPTIONS = ("standard", "peephole", "identity", "no_forget_gate", "coupled", "recurrent_mask", "lengths",
                "projection", "cell_recurrence")


def lstm_arguments(option: str, x, w_ih, w_hh, b, h0, rng):
    """The weights and keyword arguments of lstm_forward for one cell option."""
    T, B, _ = x.shape
    H = h0.shape[1]
    kwargs: dict = {}
    if option == "peephole":
        kwargs["peephole"] = rng.uniform(-1, 1, (3, H)).astype(x.dtype)
    elif option == "identity":
        kwargs["cell_activation"] = "identity"
    elif option == "no_forget_gate":
        kwargs["forget_gate"] = False
    elif option == "coupled":
        kwargs["couple_input_forget"] = True
    elif option == "recurrent_mask":
        kwargs["recurrent_mask"] = ((rng.random((B, H)) > 0.3) / 0.7).astype(x.dtype)
    elif option == "lengths":
        kwargs["lengths"] = np.arange(B) % (T + 1)
    elif option == "projection":
        P = max(1, H // 2)
        kwargs["w_hr"] = rng.uniform(-0.5, 0.5, (P, H)).astype(x.dtype)
        w_hh, h0 = w_hh[:, :P].copy(), h0[:, :P].copy()
    elif option == "cell_recurrence":
        kwargs["recurrence"] = "cell"
    if option in ("no_forget_gate", "coupled"):  # three gates: i, g, o
        w_ih, w_hh, b = w_ih[: 3 * H], w_hh[: 3 * H], b[: 3 * H]
    return (w_ih, w_hh, b, h0), kwargs


def results(module, shape, dtype, option: str, seed: int) -> list[np.ndarray]:
    """Every array one build gives for one problem and cell option (the GRU with the standard one)."""
    rng = np.random.default_rng(seed)
    T, B, D, H = shape
    x = rng.standard_normal((T, B, D)).astype(dtype) * 2
    w_ih = rng.uniform(-0.5, 0.5, (4 * H, D)).astype(dtype)
    w_hh = rng.uniform(-0.5, 0.5, (4 * H, H)).astype(dtype)
    b = rng.uniform(-1, 1, 4 * H).astype(dtype)
    h0 = rng.standard_normal((B, H)).astype(dtype)
    c0 = rng.standard_normal((B, H)).astype(dtype)
    (w_ih, w_hh, b, h0), kwargs = lstm_arguments(option, x, w_ih, w_hh, b, h0, rng)
    y, h_n, c_n, cache = module.lstm_forward(x, w_ih, w_hh, b, h0, c0, training=True, **kwargs)
    out = [y, h_n, c_n, *module.lstm_backward(np.cos(y), np.sin(h_n), np.cos(c_n), cache)]
    out += module.lstm_forward(x, w_ih, w_hh, b, h0, c0, **kwargs)[:3]
    if option == "standard":
        w_ih3, w_hh3 = w_ih[: 3 * H], w_hh[: 3 * H]
        y, h_n, cache = module.gru_forward(x, w_ih3, w_hh3, b[: 3 * H], b[H:], h0, training=True)
        out += [y, h_n, *module.gru_backward(np.sin(y), np.cos(h_n), cache)]
        values = np.concatenate([np.linspace(-120, 120, 20011), [np.inf, -np.inf, np.nan, 0.0, -0.0, 1e-30]])
        out += [module._sigmoid(values.astype(dtype)), module._tanh(values.astype(dtype))]
    return [np.asarray(a) for a in out]


def compare(new, base) -> tuple[int, int]:
    """(arrays compared, arrays that differ) over every path, dtype, thread count, shape and option."""
    compared = differing = 0
    for isa in new.available_isas():
        new._force_isa(isa)
        base._force_isa(isa)
        for dtype in (np.float32, np.float64):
            for threads in (1, 2):
                new.set_num_threads(threads)
                base.set_num_threads(threads)
                for seed, shape in enumerate(SHAPES):
                    for option in CELL_OPTIONS:
                        where = f"{isa} {np.dtype(dtype).name} {threads}T shape {shape} {option}"
                        ours = results(new, shape, dtype, option, seed)
                        theirs = results(base, shape, dtype, option, seed)
                        if len(ours) != len(theirs):  # zip would stop at the shorter list unseen
                            compared, differing = compared + 1, differing + 1
                            print(f"differs: {where}: {len(ours)} results against {len(theirs)}")
                            continue
                        for index, (mine, other) in enumerate(zip(ours, theirs)):
                            compared += 1
                            if not np.array_equal(mine, other, equal_nan=True):
                                differing += 1
                                print(f"differs: {where} result {index}")
    return compared, differing


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base_dir", help="directory holding the fast_lstm package to compare against")
    args = parser.parse_args(argv)

    import fast_lstm as new

    with tempfile.TemporaryDirectory() as tmp:
        base = load_base(os.path.abspath(args.base_dir), tmp)
        compared, differing = compare(new, base)
    print(f"paths {', '.join(new.available_isas())}: {compared} arrays compared, {differing} differ")
    return 1 if differing else 0


if __name__ == "__main__":
    sys.exit(main())
