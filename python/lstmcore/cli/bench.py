"""`bench`: a quick, self-contained timing table of fast_lstm against the peers that are installed.

For each shape (T steps, B batch, D = H units, float32) it times, with the same thread count:
  forward   inference over the whole sequence
  train     forward (keeping what backward needs) + backward for the weights and inputs
in fast_lstm, torch.nn.LSTM (when PyTorch is installed) and a plain numpy LSTM (one matmul per
step, forward only).  Each figure is the median of --repeats runs after one warm-up; the ratio
is peer time / fast_lstm time (above 1: fast_lstm is faster).  The repository's full benchmark
suite is bench/run.py in a source checkout.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

import fast_lstm

from .common import Stopwatch, add_runtime_options, apply_threads, positive_int, say

NAME = "bench"
HELP = "quick timing table: fast_lstm against torch.nn.LSTM and numpy, when installed"
SHAPES = ((100, 32, 128), (100, 1, 256), (50, 64, 512))  # (T, B, H = D)
QUICK_SHAPES = SHAPES[:1]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_runtime_options(parser)
    group = parser.add_argument_group("benchmark")
    group.add_argument("--repeats", type=positive_int, default=7, metavar="N", help="timed runs per cell (default 7)")
    group.add_argument("--hidden", type=positive_int, default=None, metavar="H",
                       help="time one shape T=100, B=32 with D = H (default: the built-in shapes)")
    group.add_argument("--quick", action="store_true", help="one shape, fewer repeats")


def median_seconds(run: Callable[[], object], repeats: int) -> float:
    run()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def fast_lstm_cases(x: np.ndarray, w_ih: np.ndarray, w_hh: np.ndarray, b: np.ndarray) -> Dict[str, Callable[[], object]]:
    def train() -> None:
        y, _, _, cache = fast_lstm.lstm_forward(x, w_ih, w_hh, b, training=True)
        fast_lstm.lstm_backward(np.ones_like(y), None, None, cache)
    return {"forward": lambda: fast_lstm.lstm_forward(x, w_ih, w_hh, b, training=False), "train": train}


def numpy_cases(x: np.ndarray, w_ih: np.ndarray, w_hh: np.ndarray, b: np.ndarray) -> Dict[str, Callable[[], object]]:
    hidden = w_hh.shape[1]

    def forward() -> np.ndarray:
        gates_x = x @ w_ih.T + b                 # every step's input projection at once
        h = np.zeros((x.shape[1], hidden), x.dtype)
        c = np.zeros_like(h)
        for gates in gates_x:
            gates = gates + h @ w_hh.T
            i, f = 1 / (1 + np.exp(-gates[:, :hidden])), 1 / (1 + np.exp(-gates[:, hidden:2 * hidden]))
            g, o = np.tanh(gates[:, 2 * hidden:3 * hidden]), 1 / (1 + np.exp(-gates[:, 3 * hidden:]))
            c = f * c + i * g
            h = o * np.tanh(c)
        return h
    return {"forward": forward}


def torch_cases(x: np.ndarray, w_ih: np.ndarray, w_hh: np.ndarray, b: np.ndarray, threads: int
                ) -> Optional[Dict[str, Callable[[], object]]]:
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    layer = torch.nn.LSTM(w_ih.shape[1], w_hh.shape[1])
    with torch.no_grad():
        layer.weight_ih_l0.copy_(torch.from_numpy(w_ih))
        layer.weight_hh_l0.copy_(torch.from_numpy(w_hh))
        layer.bias_ih_l0.copy_(torch.from_numpy(b))
        layer.bias_hh_l0.zero_()
    inputs = torch.from_numpy(x)

    def forward() -> None:
        with torch.inference_mode():
            layer(inputs)

    def train() -> None:
        trainable = inputs.clone().requires_grad_(True)
        layer.zero_grad(set_to_none=True)
        y, _ = layer(trainable)
        y.sum().backward()
    return {"forward": forward, "train": train}


def run(args: argparse.Namespace) -> int:
    apply_threads(args)
    clock = Stopwatch()
    threads = fast_lstm.get_num_threads()
    shapes: Tuple[Tuple[int, int, int], ...] = QUICK_SHAPES if args.quick else SHAPES
    if args.hidden is not None:
        shapes = ((100, 32, args.hidden),)
    repeats = min(args.repeats, 3) if args.quick else args.repeats
    rng = np.random.default_rng(args.seed)
    say(args, f"fast_lstm {fast_lstm.__version__}: isa={fast_lstm.isa()} threads={threads}; float32, D = H, "
              f"median of {repeats} runs in ms; ratio = peer / fast_lstm")
    have_torch = True
    rows: List[Tuple[str, str, str, float, Optional[float]]] = []
    for steps, batch, hidden in shapes:
        x = rng.standard_normal((steps, batch, hidden)).astype(np.float32)
        w_ih = (rng.standard_normal((4 * hidden, hidden)) / np.sqrt(hidden)).astype(np.float32)
        w_hh = (rng.standard_normal((4 * hidden, hidden)) / np.sqrt(hidden)).astype(np.float32)
        b = np.zeros(4 * hidden, np.float32)
        shape = f"T={steps} B={batch} H={hidden}"
        ours = {task: median_seconds(case, repeats) for task, case in fast_lstm_cases(x, w_ih, w_hh, b).items()}
        for task, seconds in ours.items():
            rows.append((shape, task, "fast_lstm", seconds, None))
        peers = [("numpy", numpy_cases(x, w_ih, w_hh, b))]
        torch_peer = torch_cases(x, w_ih, w_hh, b, threads)
        have_torch = torch_peer is not None
        if torch_peer is not None:
            peers.insert(0, ("torch", torch_peer))
        for peer, cases in peers:
            for task, case in cases.items():
                seconds = median_seconds(case, repeats)
                rows.append((shape, task, peer, seconds, seconds / ours[task]))
    print(f"{'shape':<22} {'task':<8} {'implementation':<14} {'ms':>9} {'ratio':>7}")
    for shape, task, name, seconds, ratio in rows:
        print(f"{shape:<22} {task:<8} {name:<14} {seconds * 1e3:9.2f} {'' if ratio is None else f'{ratio:6.2f}x':>7}")
    if not have_torch:
        print("torch: not installed, skipped (pip install torch to compare)")
    say(args, "numpy: forward only (a Python loop over time; no backward)")
    say(args, f"wall time {clock.seconds():.1f} s")
    return 0
