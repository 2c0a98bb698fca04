"""``python -m lstmcore``: the main job on built-in data.

For now a short deterministic job: one LSTM layer (D = H = 128, B = 32, T = 100, float32) on a
synthetic multichannel signal (sums of sines drawn from ``--seed``).  It times inference passes
and training steps (forward + backward of a next-step mean-squared error) and prints the active
ISA path, the thread count, the times and a checksum of the output.  No parameters are updated.
"""

from __future__ import annotations

import argparse
import time
from typing import Callable, Optional, Sequence

import numpy as np

import fast_lstm

from .layers import LSTM

INPUT_SIZE = 128
HIDDEN_SIZE = 128
BATCH = 32
STEPS = 100
COMPONENTS = 3  # sines per channel
PASSES = 5  # timed repetitions, after one untimed warm-up


def sine_mixtures(batch: int, steps: int, channels: int, rng: np.random.Generator) -> np.ndarray:
    """(batch, steps, channels) float32: each channel a sum of COMPONENTS sines of random
    period (5 to 50 steps), phase and weight, the weights summing to 1 so |x| <= 1."""
    shape = (batch, 1, channels, COMPONENTS)
    frequency = 1.0 / rng.uniform(5.0, 50.0, size=shape)
    phase = rng.uniform(0.0, 2.0 * np.pi, size=shape)
    weight = rng.uniform(0.1, 1.0, size=shape)
    weight /= weight.sum(axis=-1, keepdims=True)
    t = np.arange(steps, dtype=np.float64).reshape(1, steps, 1, 1)
    signal = (weight * np.sin(2.0 * np.pi * frequency * t + phase)).sum(axis=-1)
    return signal.astype(np.float32)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m lstmcore",
        description="Run the lstmcore demo job (a small LSTM on a built-in synthetic signal).",
    )
    parser.add_argument("--threads", type=_positive_int, default=None, metavar="N",
                        help="kernel threads (default: fast_lstm's own default)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the data and the initial weights (default 0)")
    parser.add_argument("--quiet", action="store_true", help="print only the checksum line")
    return parser


def _mean_seconds(run: Callable[[], object]) -> float:
    run()  # warm-up: first-touch of buffers, thread start
    start = time.perf_counter()
    for _ in range(PASSES):
        run()
    return (time.perf_counter() - start) / PASSES


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    if args.threads is not None:
        fast_lstm.set_num_threads(args.threads)

    rng = np.random.default_rng(args.seed)
    x = sine_mixtures(BATCH, STEPS, INPUT_SIZE, rng)
    layer = LSTM(INPUT_SIZE, HIDDEN_SIZE, dtype=np.float32, rng=rng)
    # Next-step prediction (H == D): y_t should approach x_{t+1}.
    target = x[:, 1:]
    count = target.size

    def training_step() -> float:
        layer.zero_grad()
        y = layer.forward(x, training=True)
        error = y[:, :-1] - target
        dy = np.zeros_like(y)
        dy[:, :-1] = (2.0 / count) * error
        layer.backward(dy)
        return float(np.mean(np.square(error, dtype=np.float64)))

    forward_seconds = _mean_seconds(lambda: layer(x))
    step_seconds = _mean_seconds(training_step)
    loss = training_step()
    y = layer(x)

    if not args.quiet:
        print(f"lstmcore {fast_lstm.__version__}: isa={fast_lstm.isa()} threads={fast_lstm.get_num_threads()}")
        print(f"job: LSTM D={INPUT_SIZE} H={HIDDEN_SIZE} B={BATCH} T={STEPS} float32, seed {args.seed}, "
              f"mean of {PASSES} passes")
        print(f"forward (inference): {forward_seconds * 1e3:.2f} ms/pass")
        print(f"training step (forward + MSE gradient + backward): {step_seconds * 1e3:.2f} ms/step")
        print(f"next-step MSE: {loss:.6g}")
    grad_hh = np.abs(layer.grads["weight_hh"], dtype=np.float64).sum()
    print(f"checksum: sum(y)={y.sum(dtype=np.float64):.6g} sum|dW_hh|={grad_hh:.6g}")
    return 0
