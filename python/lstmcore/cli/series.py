"""Forecasting on the bundled weekly CO2 record, shared by `demo` and `forecast`.

Each sample is a window of `window` weeks and the `horizon` weeks that follow.  Inputs and
targets are taken relative to the window's last value and divided by one scale (from training
targets only): the network learns the seasonal shape and the trend, not the level, so the
validation years (above every level seen in training) need no extrapolation in level.

Validation is the most recent `fraction` of windows.  Training windows end `horizon - 1` windows
earlier, so no training target falls in a week that a validation window predicts.  Errors are in
ppm, over validation target weeks that were measured (not the interpolated gaps), beside two
naive forecasts: last value (repeat the last observed week) and seasonal naive (the same week one
year = 52 weeks earlier).
"""

from __future__ import annotations

import argparse
from typing import Dict, NamedTuple

import numpy as np

from .. import fit
from ..data import sliding_windows
from ..optim import Adam
from ..datasets import Series
from .common import CliError, Stopwatch, matplotlib_pyplot, save_model, say, show_progress

SEASON = 52  # weeks in a year (365.25 / 7 = 52.18)
VALIDATION_FRACTION = 0.2


class Windows(NamedTuple):
    x_train: np.ndarray    # (N_train, window, 1) float32, relative and scaled
    y_train: np.ndarray    # (N_train, horizon) float32
    x_val: np.ndarray      # (N_val, window, 1)
    y_val: np.ndarray      # (N_val, horizon)
    origin: np.ndarray     # (N_val,) index of each validation window's first target week
    last: np.ndarray       # (N_val,) level (ppm) of each validation window's last week
    scale: float           # ppm per unit of the network's targets
    window: int
    horizon: int


def make_windows(series: Series, window: int, horizon: int) -> Windows:
    values = series.values
    needed = window + horizon + 2 * horizon + 20
    if len(values) < needed:
        raise CliError(f"--window {window} and --horizon {horizon} leave too few windows in "
                       f"{len(values)} weeks of data")
    x, y = sliding_windows(values, window, horizon)          # float64, (N, window, 1), (N, horizon)
    last = x[:, -1, 0].copy()
    x_rel, y_rel = x - last[:, None, None], y - last[:, None]
    count = len(x)
    held_out = int(round(count * VALIDATION_FRACTION))
    cut = count - held_out
    train = slice(0, cut - horizon + 1)
    scale = float(np.std(y_rel[train])) or 1.0
    as_input = lambda array: (array / scale).astype(np.float32)  # noqa: E731
    return Windows(as_input(x_rel[train]), as_input(y_rel[train]), as_input(x_rel[cut:]), as_input(y_rel[cut:]),
                   np.arange(cut, count) + window, last[cut:], scale, window, horizon)


def to_ppm(windows: Windows, relative: np.ndarray) -> np.ndarray:
    """Network outputs (N_val, horizon) -> levels in ppm."""
    return relative.astype(np.float64) * windows.scale + windows.last[:, None]


def target_index(windows: Windows) -> np.ndarray:
    """(N_val, horizon) week index of every validation target."""
    return windows.origin[:, None] + np.arange(windows.horizon)[None, :]


def baselines(series: Series, windows: Windows) -> Dict[str, np.ndarray]:
    """Forecasts (N_val, horizon) in ppm that use only weeks before each window's first target."""
    steps = np.arange(windows.horizon)
    lag = SEASON * (steps // SEASON + 1)                      # the latest same-week-of-year in the past
    return {
        "last value": np.repeat(windows.last[:, None], windows.horizon, axis=1),
        "seasonal naive": series.values[target_index(windows) - lag[None, :]],
    }


def errors(series: Series, windows: Windows, forecast: np.ndarray) -> Dict[str, float]:
    index = target_index(windows)
    measured = series.observed[index]
    residual = (forecast - series.values[index])[measured]
    return {"rmse": float(np.sqrt(np.mean(residual ** 2))), "mae": float(np.mean(np.abs(residual)))}


def report(args: argparse.Namespace, series: Series, windows: Windows, model_name: str, forecast: np.ndarray,
           seconds: float) -> Dict[str, Dict[str, float]]:
    """Prints validation RMSE/MAE of the model beside the naive forecasts; returns them all."""
    scores = {model_name: errors(series, windows, forecast)}
    for name, naive in baselines(series, windows).items():
        scores[name] = errors(series, windows, naive)
    first, final = series.dates[windows.origin[0]], series.dates[windows.origin[-1] + windows.horizon - 1]
    say(args, f"validation: {len(windows.x_val)} forecasts of {windows.horizon} weeks, target weeks {first} .. {final} "
              f"(measured weeks only), errors in {series.unit}")
    width = max(len(name) for name in scores)
    for name, score in scores.items():
        print(f"  {name:<{width}}  RMSE {score['rmse']:7.3f}  MAE {score['mae']:7.3f}")
    best_naive = min((name for name in scores if name != model_name), key=lambda name: scores[name]["rmse"])
    ratio = scores[model_name]["rmse"] / scores[best_naive]["rmse"]
    verdict = "better than" if ratio < 1 else "not better than"
    print(f"{model_name}: validation RMSE {scores[model_name]['rmse']:.3f} {series.unit} vs {best_naive} "
          f"{scores[best_naive]['rmse']:.3f} ({ratio:.2f}x, {verdict} the best naive forecast); "
          f"wall time {seconds:.1f} s")
    return scores


def plot(args: argparse.Namespace, series: Series, windows: Windows, model_name: str, forecast: np.ndarray,
         scores: Dict[str, Dict[str, float]]) -> None:
    """Validation weeks: truth, and the model's and seasonal-naive forecasts made every `horizon`
    weeks (non-overlapping, so each week is predicted once).  Skipped without matplotlib."""
    if args.plot is None:
        return
    pyplot = matplotlib_pyplot()
    if pyplot is None:
        say(args, f"plot skipped: matplotlib is not installed (pip install matplotlib), {args.plot} not written")
        return
    chosen = np.arange(0, len(forecast), windows.horizon)
    index = target_index(windows)[chosen].ravel()
    start, stop = index[0], index[-1] + 1
    naive = baselines(series, windows)["seasonal naive"][chosen].ravel()
    figure, axes = pyplot.subplots(figsize=(10, 4.5))
    axes.plot(series.dates[start:stop], series.values[start:stop], color="black", linewidth=1, label="measured")
    axes.plot(series.dates[index], naive, color="tab:gray", linewidth=1, linestyle="--",
              label=f"seasonal naive (RMSE {scores['seasonal naive']['rmse']:.2f})")
    axes.plot(series.dates[index], forecast[chosen].ravel(), color="tab:red", linewidth=1.2,
              label=f"{model_name} (RMSE {scores[model_name]['rmse']:.2f})")
    for origin in index[::windows.horizon]:
        axes.axvline(series.dates[origin], color="tab:blue", alpha=0.15, linewidth=0.8)
    axes.set_title(f"{series.name}: {windows.horizon}-week forecasts from {windows.window}-week windows (validation)")
    axes.set_ylabel(series.unit)
    axes.legend(loc="upper left")
    figure.tight_layout()
    try:
        figure.savefig(args.plot, dpi=110)
    except OSError as error:
        raise CliError(f"--plot {args.plot}: {error.strerror or error}") from None
    finally:
        pyplot.close(figure)
    say(args, f"plot of predictions against truth saved to {args.plot}")


def train_and_report(args: argparse.Namespace, series: Series, windows: Windows, model_name: str, model,
                     lr: float, batch_size: int, clock: Stopwatch) -> int:
    """demo's and forecast's common end: fit (MSE, Adam, clipping), score beside the baselines, plot, save."""
    history = fit(model, windows.x_train, windows.y_train, loss="mse", optimizer=Adam(lr=lr), epochs=args.epochs,
                  batch_size=batch_size, validation_data=(windows.x_val, windows.y_val), clip_norm=1.0,
                  seed=args.seed, progress=show_progress(args))
    say(args, f"training loss {history['loss'][-1]:.4f}, validation loss {history['val_loss'][-1]:.4f} "
              f"(scaled units, after {len(history.epoch)} epochs)")
    forecast = to_ppm(windows, model.predict(windows.x_val))
    scores = report(args, series, windows, model_name, forecast, clock.seconds())
    plot(args, series, windows, model_name, forecast, scores)
    save_model(model, args)
    return 0
