"""Data helpers for forecasting: sliding windows, a chronological split, walk-forward folds and a
standard scaler fitted on training data only (so no statistic of the future leaks into the past).
"""

from __future__ import annotations

from typing import Iterator, Optional, Tuple

import numpy as np

from ._checks import finite_array, non_negative_int, positive_int, probability


def sliding_windows(series: np.ndarray, window: int, horizon: int = 1, stride: int = 1
                    ) -> Tuple[np.ndarray, np.ndarray]:
    """Inputs of `window` steps and the `horizon` steps that follow each.

    series (T,) or (T, F) -> x (N, window, F) and y (N, horizon * F): y holds the next horizon
    steps flattened (step-major), ready for a Dense(horizon * F) head; N = (T - window - horizon) // stride + 1.
    Copies of the series' dtype (never views: training would otherwise alias the series).
    """
    if not isinstance(series, np.ndarray) or series.ndim not in (1, 2):
        raise ValueError(f"series must be a numpy.ndarray of shape (T,) or (T, F), got {getattr(series, 'shape', type(series).__name__)}")
    window, horizon, stride = positive_int("window", window), positive_int("horizon", horizon), positive_int("stride", stride)
    values = series[:, np.newaxis] if series.ndim == 1 else series
    count = (len(values) - window - horizon) // stride + 1
    if count < 1:
        raise ValueError(f"series of {len(values)} steps is too short for window={window} and horizon={horizon}")
    span = np.lib.stride_tricks.sliding_window_view(values, window + horizon, axis=0)[::stride][:count]
    span = span.transpose(0, 2, 1)  # (N, window + horizon, F)
    x = np.ascontiguousarray(span[:, :window])
    y = np.ascontiguousarray(span[:, window:]).reshape(count, horizon * values.shape[1])
    return x, y


def chronological_split(*arrays: np.ndarray, validation_fraction: float = 0.2) -> Tuple[np.ndarray, ...]:
    """(a_train, a_val, b_train, b_val, ...): the last fraction of samples (the most recent) validates."""
    if not arrays:
        raise ValueError("give at least one array to split")
    fraction = probability("validation_fraction", validation_fraction)
    count = len(arrays[0])
    if any(len(array) != count for array in arrays):
        raise ValueError(f"arrays must have the same number of samples, got {[len(a) for a in arrays]}")
    held_out = int(round(count * fraction))
    if held_out < 1 or held_out >= count:
        raise ValueError(f"validation_fraction={fraction} leaves no training or no validation samples out of {count}")
    cut = count - held_out
    return tuple(part for array in arrays for part in (array[:cut], array[cut:]))


def walk_forward_splits(n_samples: int, n_splits: int = 5, test_size: Optional[int] = None, gap: int = 0,
                        max_train_size: Optional[int] = None) -> Iterator[Tuple[np.ndarray, np.ndarray]]:
    """(train_indices, test_indices) folds in time order, like scikit-learn's TimeSeriesSplit.

    Fold k tests on the k-th of n_splits consecutive blocks of test_size at the end of the data and
    trains on everything before it, less `gap` samples (so windows overlapping the test block are
    not trained on), and at most the latest max_train_size samples.
    """
    n_samples, n_splits, gap = positive_int("n_samples", n_samples), positive_int("n_splits", n_splits), non_negative_int("gap", gap)
    test_size = n_samples // (n_splits + 1) if test_size is None else positive_int("test_size", test_size)
    if max_train_size is not None:
        max_train_size = positive_int("max_train_size", max_train_size)
    first_test = n_samples - n_splits * test_size
    if test_size < 1 or first_test - gap < 1:
        raise ValueError(f"{n_samples} samples are too few for n_splits={n_splits}, test_size={test_size}, gap={gap}")
    indices = np.arange(n_samples)
    for test_start in range(first_test, n_samples, test_size):
        train_end = test_start - gap
        train_start = 0 if max_train_size is None else max(0, train_end - max_train_size)
        yield indices[train_start:train_end], indices[test_start:test_start + test_size]


class StandardScaler:
    """(x - mean) / std per feature (last axis), statistics from ``fit`` data only.

    Statistics are kept in float64; transforms return the input's dtype.  A constant feature gets
    std 1, so it maps to 0 instead of dividing by zero.  ``fit`` refuses data holding NaN or
    infinity: its mean would be NaN, and the std's NaN would pass for a constant feature.
    """

    def __init__(self) -> None:
        self.mean: Optional[np.ndarray] = None
        self.std: Optional[np.ndarray] = None

    def fit(self, x: np.ndarray) -> "StandardScaler":
        if not isinstance(x, np.ndarray) or x.dtype.kind != "f" or x.size == 0:
            raise TypeError(f"x must be a non-empty floating numpy.ndarray, got {getattr(x, 'dtype', type(x).__name__)}")
        finite_array("x", x)
        rows = x.reshape(-1, x.shape[-1]) if x.ndim > 1 else x.reshape(-1, 1)
        self.mean = rows.mean(axis=0, dtype=np.float64)
        std = rows.std(axis=0, dtype=np.float64)
        self.std = np.where(std > 0, std, 1.0)
        self._features = rows.shape[1]
        self._ndim1 = x.ndim == 1
        return self

    def _check(self, x: np.ndarray) -> None:
        if self.mean is None:
            raise RuntimeError("StandardScaler.fit must come before transform")
        if not isinstance(x, np.ndarray) or x.dtype.kind != "f":
            raise TypeError(f"x must be a floating numpy.ndarray, got {getattr(x, 'dtype', type(x).__name__)}")
        features = 1 if self._ndim1 and x.ndim >= 1 and x.shape[-1:] != (self._features,) else x.shape[-1]
        if features != self._features:
            raise ValueError(f"x has {x.shape[-1]} features (last axis); the scaler was fitted on {self._features}")

    def transform(self, x: np.ndarray) -> np.ndarray:
        self._check(x)
        return ((x - self.mean) / self.std).astype(x.dtype)  # type: ignore[operator]

    def inverse_transform(self, x: np.ndarray) -> np.ndarray:
        self._check(x)
        return (x * self.std + self.mean).astype(x.dtype)  # type: ignore[operator]

    def fit_transform(self, x: np.ndarray) -> np.ndarray:
        return self.fit(x).transform(x)
