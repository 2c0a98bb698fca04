"""`forecast`: a CNN-LSTM forecaster in the layout of Kim & Cho (2019) on the weekly Mauna Loa CO2 record.

Kim, T.-Y. and Cho, S.-B. (2019), "Predicting residential energy consumption using CNN-LSTM
neural networks", Energy 182: two 1-D convolution + max-pooling stages extract local features of
the input window, an LSTM models their order in time, and two dense layers map its last state to
the forecast.  Sizes here (theirs were tuned for household power):

    Conv1D(1 -> 32, k=3, relu) -> MaxPool1D(2) -> Conv1D(32 -> 32, k=3, relu) -> MaxPool1D(2)
    -> LSTM(32 -> H) -> Dense(H -> 32, relu) -> Dense(32 -> horizon)

The window is `--window` weeks and the forecast the next `--horizon` weeks, all at once; data
handling and scoring as in `demo` (lstmcore/cli/series.py): validation RMSE/MAE in ppm on the most
recent windows, beside the last-value and seasonal-naive forecasts.
"""

from __future__ import annotations

import argparse
from typing import List, Optional, Sequence, Tuple

from ..datasets import load_co2
from ..layers import LSTM, Conv1D, Dense, Layer, MaxPool1D, Sequential
from . import series as forecasting
from .common import (
    Stopwatch, add_training_options, apply_threads, bounded_int, check_writable, header, positive_float, positive_int,
    say,
)
from .demo import add_plot_options, check_plot_path

NAME = "forecast"
HELP = "CNN-LSTM forecaster (Kim & Cho 2019 layout) on the real Mauna Loa CO2 record"
FILTERS, KERNEL, POOL, DENSE = 32, 3, 2, 32


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_training_options(parser, epochs=30, hidden=48)
    shortest = shortest_window(feature_stages(seed=0))
    group = parser.add_argument_group("task")
    group.add_argument("--window", type=bounded_int(shortest, reason="the weeks two convolution-pooling stages "
                                                                     "reduce to one step for the LSTM"),
                       default=104, metavar="W",
                       help=f"weeks of history the model reads (default 104; at least {shortest})")
    group.add_argument("--horizon", type=positive_int, default=26, metavar="K",
                       help="weeks it predicts, at once (default 26)")
    group.add_argument("--batch-size", type=positive_int, default=32, metavar="B", help="default 32")
    group.add_argument("--lr", type=positive_float, default=3e-3, help="Adam learning rate (default 3e-3)")
    add_plot_options(parser, "lstmcore-forecast.png")


def feature_stages(seed: int) -> List[Layer]:
    """The two convolution-pooling stages in front of the LSTM (valid convolutions)."""
    return [Conv1D(1, FILTERS, KERNEL, activation="relu", seed=seed), MaxPool1D(POOL),
            Conv1D(FILTERS, FILTERS, KERNEL, activation="relu", seed=seed + 1), MaxPool1D(POOL)]


def shortest_window(stages: Sequence[Layer]) -> int:
    """The fewest weeks the stages turn into at least one step, by the layers' own shape rules
    (kernel 3, pool 2: 10 -> 8 -> 4 -> 2 -> 1), so the bound follows any change of the layout."""
    window = 1
    while True:
        shape: Tuple[Optional[int], ...] = (window, 1)
        try:
            for layer in stages:
                shape = layer.output_shape(shape)
        except ValueError:  # too short for one of the stages
            window += 1
            continue
        return window


def build_model(horizon: int, hidden: int, seed: int) -> Sequential:
    return Sequential(
        *feature_stages(seed),
        LSTM(FILTERS, hidden, return_sequences=False, seed=seed + 2),
        Dense(hidden, DENSE, activation="relu", seed=seed + 3),
        Dense(DENSE, horizon, seed=seed + 4),
    )


def run(args: argparse.Namespace) -> int:
    apply_threads(args)
    check_writable(args.save, "--save")
    check_plot_path(args)
    clock = Stopwatch()
    model = build_model(args.horizon, args.hidden, args.seed)
    data = load_co2()
    windows = forecasting.make_windows(data, args.window, args.horizon)
    header(args, NAME)
    say(args, f"data: {data.name}, {data.dates[0]} .. {data.dates[-1]}, {len(data.values)} weeks")
    say(args, f"task: from {args.window} weeks predict the next {args.horizon}; {len(windows.x_train)} training "
              f"windows, {len(windows.x_val)} validation windows (the most recent)")
    say(args, "model: " + " -> ".join(_describe(layer) for layer in model.layers))
    return forecasting.train_and_report(args, data, windows, "CNN-LSTM", model, lr=args.lr,
                                        batch_size=args.batch_size, clock=clock)


def _describe(layer: object) -> str:
    name = type(layer).__name__
    if name == "Conv1D":
        return f"Conv1D({layer.in_channels}->{layer.out_channels}, k={layer.kernel_size}, {layer.activation})"
    if name == "MaxPool1D":
        return f"MaxPool1D({layer.pool_size})"
    if name == "LSTM":
        return f"LSTM({layer.input_size}->{layer.hidden_size})"
    if name == "Dense":
        return f"Dense({layer.in_features}->{layer.out_features}{', ' + layer.activation if layer.activation else ''})"
    return name
