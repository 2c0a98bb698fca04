"""`demo` (the default command): a year-ahead forecast of the weekly Mauna Loa CO2 record.

An LSTM reads two years (104 weeks) and a dense head predicts the next 52 weeks at once; it
trains on 1958-1992 windows and is scored on the most recent ones (about 1993-2001), beside the
last-value and seasonal-naive forecasts.  See lstmcore/cli/series.py for the data handling.
"""

from __future__ import annotations

import argparse

from ..datasets import load_co2
from ..layers import LSTM, Dense, Sequential
from . import series as forecasting
from .common import (
    Stopwatch, add_training_options, apply_threads, check_writable, header, matplotlib_pyplot, say,
)

NAME = "demo"
HELP = "forecast a year of real CO2 data with an LSTM, beside naive baselines (the default command)"
WINDOW, HORIZON = 104, 52


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_training_options(parser, epochs=40, hidden=48)
    add_plot_options(parser, "lstmcore-demo.png")


def add_plot_options(parser: argparse.ArgumentParser, default: str) -> None:
    group = parser.add_argument_group("plot")
    group.add_argument("--plot", metavar="PATH", default=default,
                       help=f"PNG of validation forecasts against the measurements, written when matplotlib "
                            f"is installed (default {default} in the current directory)")
    group.add_argument("--no-plot", dest="plot", action="store_const", const=None, help="do not write the plot")


def check_plot_path(args: argparse.Namespace) -> None:
    if args.plot is not None and matplotlib_pyplot() is not None:
        check_writable(args.plot, "--plot")


def run(args: argparse.Namespace) -> int:
    apply_threads(args)
    check_writable(args.save, "--save")
    check_plot_path(args)
    clock = Stopwatch()
    data = load_co2()
    windows = forecasting.make_windows(data, WINDOW, HORIZON)
    header(args, NAME)
    say(args, f"data: {data.name}, {data.dates[0]} .. {data.dates[-1]}, {len(data.values)} weeks "
              f"({int((~data.observed).sum())} gaps filled by interpolation)")
    say(args, f"task: from {WINDOW} weeks predict the next {HORIZON}; {len(windows.x_train)} training windows, "
              f"{len(windows.x_val)} validation windows (the most recent)")
    model = Sequential(LSTM(1, args.hidden, return_sequences=False, seed=args.seed),
                       Dense(args.hidden, HORIZON, seed=args.seed + 1))
    say(args, f"model: LSTM(1 -> {args.hidden}) -> Dense({HORIZON}); Adam, MSE, {args.epochs} epochs of batches of 32")
    return forecasting.train_and_report(args, data, windows, "LSTM", model, lr=3e-3, batch_size=32, clock=clock)

