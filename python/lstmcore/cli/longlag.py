"""The training protocol shared by `adding` and `temporal-order` (Hochreiter & Schmidhuber 1997).

The paper trains online, one fresh random sequence at a time, and stops when the average training
error is below a bound and the 2000 most recent sequences were all processed correctly; it then
counts wrong answers on 2560 fresh test sequences.  Here training draws rounds of 2000 fresh
sequences.  Each round is first *judged* with the current weights (inference, so every judged
sequence is unseen: the "2000 most recent sequences" of the paper, judged before they are learnt
from), and the criterion is met when one round passes; otherwise the model trains one pass over
the round in minibatches (Adam), and the next round follows.  The count reported is the number of
training sequences consumed before the passing round.  Differences from the paper: minibatches
and Adam instead of online gradient descent, a softmax or linear
output instead of sigmoid units, Glorot/orthogonal initialisation, and a forget gate (which the
1997 cell did not have) whose bias starts at `--forget-bias` (3), so that it starts out remembering.
"""

from __future__ import annotations

import argparse
from typing import Callable, NamedTuple, Tuple

import numpy as np

from .. import fit
from ..layers import LSTM, Sequential
from ..optim import Adam
from .common import (
    Stopwatch, add_training_options, bounded_int, finite_float, positive_float, positive_int, say, terminal,
)

ROUND = 2000      # the paper's "2000 most recent sequences"
TEST_SEQUENCES = 2560
MIN_T = 10        # adding marks one of the first ten pairs; temporal-order needs t1 = T/10 >= 1, after E
FORGET_BIAS = 3.0  # sigmoid(3) = 0.95: with lstmcore's default of 1 (0.73) nothing survives 100 steps to learn from

Batch = Tuple[np.ndarray, np.ndarray, np.ndarray]  # x (N, T_max, F) float32, targets, lengths (N,) int64


class Task(NamedTuple):
    name: str
    make: Callable[[np.random.Generator, int, int], Batch]          # (rng, count, T) -> batch
    loss: str
    judge: Callable[[np.ndarray, np.ndarray], Tuple[np.ndarray, float]]  # (prediction, y) -> (correct, error)
    criterion: str       # the success criterion, in words
    error_bound: float   # the average training error must also be below this
    paper: str           # what the paper reports, for the closing line


def add_arguments(parser: argparse.ArgumentParser, *, hidden: int, rounds: int, lr: float) -> None:
    add_training_options(parser, epochs=rounds, hidden=hidden,
                         epochs_help=f"most rounds of {ROUND} fresh training sequences before giving up")
    group = parser.add_argument_group("task")
    group.add_argument("--T", dest="T", type=bounded_int(MIN_T, reason="shorter sequences do not fit the task"),
                       default=100, metavar="T",
                       help=f"minimal sequence length (default 100, the paper's; at least {MIN_T})")
    group.add_argument("--batch-size", type=positive_int, default=32, metavar="B", help="default 32")
    group.add_argument("--lr", type=positive_float, default=lr, help=f"Adam learning rate (default {lr:g})")
    group.add_argument("--forget-bias", type=finite_float, default=FORGET_BIAS, metavar="B",
                       help=f"initial forget-gate bias (default {FORGET_BIAS:g}: the cell starts out remembering, "
                            f"close to the 1997 cell, which had no forget gate)")


def train_until_criterion(args: argparse.Namespace, task: Task, model: Sequential) -> Tuple[bool, int, Sequential]:
    """Rounds until one passes the criterion or --epochs rounds are spent; prints progress and the result."""
    clock = Stopwatch()
    train_rng = np.random.default_rng([args.seed, 0])
    test_rng = np.random.default_rng([args.seed, 1])
    optimizer = Adam(lr=args.lr)
    seen, met = 0, False
    bar = None
    if not args.quiet and terminal():
        from tqdm.auto import tqdm
        bar = tqdm(total=args.epochs * ROUND, unit="seq", unit_scale=True, leave=False)
    try:
        for round_index in range(args.epochs):
            x, y, lengths = task.make(train_rng, ROUND, args.T)
            correct, error = task.judge(model.predict(x, lengths=lengths), y)
            if correct.all() and error < task.error_bound:
                met = True
                break
            if bar is not None:
                bar.set_postfix(correct=f"{correct.mean():.3f}", error=f"{error:.4f}", refresh=False)
            elif (round_index + 1) % 10 == 0 and not args.quiet:
                print(f"  {seen:>9,d} sequences: {correct.mean():6.1%} of the next {ROUND} correct, "
                      f"average error {error:.4f}, {clock.seconds():.0f} s", flush=True)
            fit(model, x, y, loss=task.loss, optimizer=optimizer, epochs=1, batch_size=args.batch_size,
                lengths=lengths, clip_norm=1.0, seed=args.seed + round_index, progress=False)
            seen += ROUND
            if bar is not None:
                bar.update(ROUND)
    finally:
        if bar is not None:
            bar.close()
    x, y, lengths = task.make(test_rng, TEST_SEQUENCES, args.T)
    correct, error = task.judge(model.predict(x, lengths=lengths), y)
    wrong = int((~correct).sum())
    seconds = clock.seconds()
    if met:
        print(f"{task.name} T={args.T}: criterion met after {seen:,d} training sequences "
              f"({task.criterion}); {wrong} of {TEST_SEQUENCES} test sequences wrong, "
              f"average test error {error:.4f}; wall time {seconds:.1f} s")
    else:
        print(f"{task.name} T={args.T}: criterion NOT met within {seen:,d} training sequences "
              f"({task.criterion}); {wrong} of {TEST_SEQUENCES} test sequences wrong, "
              f"average test error {error:.4f}; wall time {seconds:.1f} s")
    say(args, f"(paper: {task.paper})")
    return met, seen, model


def open_forget_gate(layer: LSTM, bias: float) -> None:
    """Sets the forget-gate bias (rows H..2H of b_ih; b_hh's rows to 0, since the kernels add them)."""
    hidden, parameters = layer.hidden_size, layer.parameters()
    parameters["bias_ih"][hidden:2 * hidden] = bias
    parameters["bias_hh"][hidden:2 * hidden] = 0.0


def length_draws(rng: np.random.Generator, count: int, T: int) -> np.ndarray:
    """Each sequence's length, uniform on [T, T + T/10] (the paper's random lengths)."""
    return rng.integers(T, T + T // 10 + 1, size=count)


def describe_budget(args: argparse.Namespace) -> str:
    return f"at most {args.epochs} rounds x {ROUND} = {args.epochs * ROUND:,d} training sequences"

