"""Metrics reported by fit (not differentiated): accuracy for logits, mae and mse for regression.
Each is a mean over the counted elements (mask as in lstmcore.losses).  fit and evaluate pass the
elements the loss counts (``Loss.counted``: padding and, for CrossEntropy, labels equal to its
``ignore_index`` left out), so a metric never scores a step the loss ignores."""

from __future__ import annotations

from typing import Callable, Dict, Optional, Sequence, Tuple

import numpy as np

from ._checks import Array


def _masked_mean(values: np.ndarray, mask: Optional[np.ndarray]) -> float:
    if mask is None:
        return float(np.mean(values, dtype=np.float64))
    weight = np.broadcast_to(mask.reshape(mask.shape + (1,) * (values.ndim - mask.ndim)), values.shape)
    return float(np.sum(values * weight, dtype=np.float64) / max(int(weight.sum()), 1))


def accuracy(prediction: Array, target: np.ndarray, mask: Optional[np.ndarray] = None) -> float:
    """Share of samples (or steps) whose largest logit is the target class."""
    return _masked_mean(prediction.argmax(axis=-1) == target, mask)


def mae(prediction: Array, target: np.ndarray, mask: Optional[np.ndarray] = None) -> float:
    return _masked_mean(np.abs(prediction - target), mask)


def mse(prediction: Array, target: np.ndarray, mask: Optional[np.ndarray] = None) -> float:
    return _masked_mean(np.square(prediction - target), mask)


METRICS: Dict[str, Callable[..., float]] = {"accuracy": accuracy, "mae": mae, "mse": mse}


def check_names(names: Optional[Sequence[str]]) -> Tuple[str, ...]:
    """The metric names of fit's or evaluate's `metrics`: a name, a sequence of names, or None (none)."""
    if names is None:
        return ()
    if isinstance(names, str):
        names = (names,)
    if not hasattr(names, "__iter__"):
        raise TypeError(f"metrics must be None, a metric name or a sequence of names, got {type(names).__name__}")
    names = tuple(names)
    for name in names:
        if not isinstance(name, str) or name not in METRICS:
            raise ValueError(f"unknown metric {name!r}; known: {', '.join(METRICS)}")
    return names
