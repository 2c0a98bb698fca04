"""`temporal-order`: the temporal order problem, experiment 6a of Hochreiter & Schmidhuber (1997).

Task (as defined in the paper): sequences of symbols from {a, b, c, d, B, E, X, Y}, each given as a
one-hot input vector.  A sequence starts with E and ends with B (the trigger symbol); in between
the symbols are drawn from {a, b, c, d}, except at two positions t1 and t2, each X or Y.  The length
is random in [100, 110], t1 in [10, 20] and t2 in [50, 60].  The class to output at the end
depends only on the order of the two relevant symbols: X,X -> Q; X,Y -> R; Y,X -> S; Y,Y -> U
(four output units).  With `--T`, lengths are in [T, T + T/10], t1 in [T/10, T/5] and t2 in
[T/2, 3T/5] (T = 100, the default, is the paper's setting).

Success (the paper's): a sequence is classified correctly when the final absolute error of every
output unit is below 0.3; training stops when the average training error is below 0.1 and the 2000
most recent sequences were classified correctly.  The paper reports 31,390 training sequences on
average.  Protocol here: lstmcore/cli/longlag.py; the outputs are softmax probabilities (the
paper's were sigmoid units), and "average training error" is the mean squared error per unit.

Model: LSTM(8 -> H) to each sequence's end, then Dense(H -> 4) logits; cross-entropy at the end.
"""

from __future__ import annotations

import argparse
from typing import Tuple

import numpy as np

from ..layers import LSTM, Dense, Sequential
from . import longlag
from .common import apply_threads, check_writable, header, save_model, say

NAME = "temporal-order"
HELP = "the temporal order problem (6a) of Hochreiter & Schmidhuber (1997)"
SYMBOLS = "abcdBEXY"
A, B_TRIGGER, E_START, X, Y = 0, 4, 5, 6, 7
CLASSES = "QRSU"  # (X,X), (X,Y), (Y,X), (Y,Y)
TOLERANCE = 0.3
ERROR_BOUND = 0.1


def make(rng: np.random.Generator, count: int, T: int) -> longlag.Batch:
    lengths = longlag.length_draws(rng, count, T)
    steps = int(lengths.max())
    symbols = rng.integers(A, A + 4, size=(count, steps))      # distractors a, b, c, d
    rows = np.arange(count)
    symbols[:, 0] = E_START
    symbols[rows, lengths - 1] = B_TRIGGER
    t1 = rng.integers(T // 10, T // 5 + 1, size=count)
    t2 = rng.integers(T // 2, 3 * T // 5 + 1, size=count)
    first_is_y, second_is_y = rng.integers(0, 2, size=count), rng.integers(0, 2, size=count)
    symbols[rows, t1] = X + first_is_y
    symbols[rows, t2] = X + second_is_y
    x = np.eye(len(SYMBOLS), dtype=np.float32)[symbols]
    x[np.arange(steps)[None, :] >= lengths[:, None]] = 0.0      # padding: no symbol
    return x, (2 * first_is_y + second_is_y).astype(np.int64), lengths


def judge(logits: np.ndarray, target: np.ndarray) -> Tuple[np.ndarray, float]:
    shifted = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
    probability = np.exp(shifted)
    probability /= probability.sum(axis=1, keepdims=True)
    error = probability - np.eye(len(CLASSES))[target]
    return np.abs(error).max(axis=1) < TOLERANCE, float(np.mean(error ** 2))


TASK = longlag.Task(
    name="temporal order problem (6a)", make=make, loss="cross_entropy", judge=judge,
    criterion=f"all of {longlag.ROUND} unseen sequences with every output's |error| < {TOLERANCE}, "
              f"mean squared error < {ERROR_BOUND}",
    error_bound=ERROR_BOUND,
    paper="31,390 sequences on average (lengths 100-110)",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    longlag.add_arguments(parser, hidden=32, rounds=100, lr=1e-3)


def run(args: argparse.Namespace) -> int:
    apply_threads(args)
    check_writable(args.save, "--save")
    header(args, NAME)
    say(args, f"task: E ... B over {{a,b,c,d}}, X/Y at t1 in [{args.T // 10}, {args.T // 5}] and t2 in "
              f"[{args.T // 2}, {3 * args.T // 5}], lengths {args.T}..{args.T + args.T // 10}, 4 classes; "
              f"{longlag.describe_budget(args)}")
    say(args, f"model: LSTM(8 -> {args.hidden}) -> Dense(4) softmax; Adam lr {args.lr:g}, forget-gate bias {args.forget_bias:g}, batches of {args.batch_size}")
    model = Sequential(LSTM(len(SYMBOLS), args.hidden, return_sequences=False, seed=args.seed),
                       Dense(args.hidden, len(CLASSES), seed=args.seed + 1))
    longlag.open_forget_gate(model.layers[0], args.forget_bias)
    met, _, model = longlag.train_until_criterion(args, TASK, model)
    save_model(model, args)
    return 0 if met else 3
