"""`adding`: the adding problem, experiment 4 of Hochreiter & Schmidhuber (1997), "Long short-term memory".

Task (as defined in the paper): each sequence is a series of pairs (value, marker).  Values are
drawn uniformly from [-1, 1]; markers are 1.0, 0.0 or -1.0.  The length is random in [T, T + T/10].
Exactly two pairs are marked with 1.0: first one of the first ten pairs (its value is X1), then one
of the first T/2 - 1 pairs not yet marked (its value is X2).  Every other marker is 0, except the
first and the last pair's, which are -1.  (When the first pair is the one marked, X1 is set to 0.
The last pair is never marked: at T = 10 it can be one of the first ten, and is then left out.)
At the end of the sequence the target is 0.5 + (X1 + X2) / 4.0, in [0, 1]; there is no error
signal before the end.

Success (the paper's): a sequence is processed correctly when the absolute error at its end is
below 0.04; training stops when the average training error is below 0.01 and the 2000 most recent
sequences were processed correctly.  The paper reports 74,000 (T = 100), 209,000 (T = 500) and
853,000 (T = 1000) training sequences on average.  Protocol here: lstmcore/cli/longlag.py.

Model: LSTM(2 -> H) read to each sequence's own end (variable lengths run in the kernel), then
Dense(H -> 1); squared error at the end of the sequence.
"""

from __future__ import annotations

import argparse
from typing import Tuple

import numpy as np

from ..layers import LSTM, Dense, Sequential
from . import longlag
from .common import apply_threads, check_writable, header, save_model, say

NAME = "adding"
HELP = "the adding problem of Hochreiter & Schmidhuber (1997), lengths --T (default 100)"
TOLERANCE = 0.04
ERROR_BOUND = 0.01


def make(rng: np.random.Generator, count: int, T: int) -> longlag.Batch:
    lengths = longlag.length_draws(rng, count, T)
    x = np.zeros((count, int(lengths.max()), 2), np.float32)
    rows = np.arange(count)
    values = rng.uniform(-1.0, 1.0, size=x.shape[:2])
    values[np.arange(x.shape[1])[None, :] >= lengths[:, None]] = 0.0  # padding stays zero
    x[:, :, 0] = values
    x[rows, 0, 1] = -1.0
    x[rows, lengths - 1, 1] = -1.0
    # One of the first ten pairs, but never the last (its -1 ends the sequence): that matters only at
    # T = 10, where a sequence of length 10 ends at the tenth pair.
    first = rng.integers(0, np.minimum(10, lengths - 1))
    # One of the first T/2 - 1 pairs still unmarked: draw among T/2 - 1 slots and skip `first`.
    second = rng.integers(0, T // 2 - 1, size=count)
    second = second + (second >= first)
    x[rows, first, 1] = 1.0
    x[rows, second, 1] = 1.0
    x[rows, 0, 0] = np.where(x[rows, 0, 1] == 1.0, 0.0, x[rows, 0, 0])  # a marked first pair counts 0
    x1, x2 = x[rows, first, 0], x[rows, second, 0]
    target = (0.5 + (x1.astype(np.float64) + x2) / 4.0).astype(np.float32)[:, None]
    return x, target, lengths


def judge(prediction: np.ndarray, target: np.ndarray) -> Tuple[np.ndarray, float]:
    error = np.abs(prediction[:, 0].astype(np.float64) - target[:, 0])
    return error < TOLERANCE, float(np.mean(error ** 2))


TASK = longlag.Task(
    name="adding problem", make=make, loss="mse", judge=judge,
    criterion=f"all of {longlag.ROUND} unseen sequences with |error| < {TOLERANCE} at the end, "
              f"mean squared error < {ERROR_BOUND}",
    error_bound=ERROR_BOUND,
    paper="74,000 sequences on average at T=100, 209,000 at T=500, 853,000 at T=1000",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    longlag.add_arguments(parser, hidden=32, rounds=250, lr=2e-3)


def run(args: argparse.Namespace) -> int:
    apply_threads(args)
    check_writable(args.save, "--save")
    header(args, NAME)
    say(args, f"task: pairs (value in [-1, 1], marker), lengths {args.T}..{args.T + args.T // 10}, target "
              f"0.5 + (X1 + X2) / 4 at the end; {longlag.describe_budget(args)}")
    say(args, f"model: LSTM(2 -> {args.hidden}) -> Dense(1); Adam lr {args.lr:g}, forget-gate bias {args.forget_bias:g}, batches of {args.batch_size}")
    model = Sequential(LSTM(2, args.hidden, return_sequences=False, seed=args.seed),
                       Dense(args.hidden, 1, seed=args.seed + 1))
    longlag.open_forget_gate(model.layers[0], args.forget_bias)
    met, _, model = longlag.train_until_criterion(args, TASK, model)
    save_model(model, args)
    return 0 if met else 3
