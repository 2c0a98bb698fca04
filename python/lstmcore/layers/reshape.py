"""Layers that only move numbers around: Flatten (B, ...) -> (B, prod ...) and
RepeatVector (B, F) -> (B, n, F), the input of a one-to-many decoder (backward sums over the copies)."""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import numpy as np

from .._checks import Array, positive_int
from .base import Layer, Shape, need_record, register


def _check_batch(name: str, x: object, ndim: int) -> np.ndarray:
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(x).__name__}")
    if x.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions (batch first), got shape {x.shape}")
    return x


@register
class Flatten(Layer):
    def __init__(self) -> None:
        super().__init__()
        self._input_shape: Optional[Tuple[int, ...]] = None

    def output_shape(self, input_shape: Shape) -> Shape:
        if any(size is None for size in input_shape):
            return (None,)
        return (int(np.prod(input_shape, dtype=np.int64)),)

    def output_lengths(self, lengths: Optional[np.ndarray], steps: int) -> Optional[np.ndarray]:
        return None

    def config(self) -> Dict[str, Any]:
        return {}

    def forward(self, x: Array, training: bool = False) -> Array:
        if not isinstance(x, np.ndarray) or x.ndim < 2:
            raise ValueError(f"x must be a numpy.ndarray with a batch axis and at least one more, got {x!r:.60}")
        self._input_shape = x.shape if training else None
        return x.reshape(x.shape[0], -1)

    def backward(self, dy: Array) -> Array:
        need_record(self, self._input_shape)
        assert self._input_shape is not None
        return dy.reshape(self._input_shape)


@register
class RepeatVector(Layer):
    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = positive_int("n", n)
        self._trained = False

    def output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) != 1:
            raise ValueError(f"{self!r} expects per-sample input (features,), got shape {input_shape}")
        return (self.n, input_shape[0])

    def output_lengths(self, lengths: Optional[np.ndarray], steps: int) -> Optional[np.ndarray]:
        return None

    def config(self) -> Dict[str, Any]:
        return {"n": self.n}

    def forward(self, x: Array, training: bool = False) -> Array:
        _check_batch("x", x, 2)
        self._trained = bool(training)
        return np.ascontiguousarray(np.broadcast_to(x[:, np.newaxis, :], (x.shape[0], self.n, x.shape[1])))

    def backward(self, dy: Array) -> Array:
        need_record(self, True if self._trained else None)
        _check_batch("dy", dy, 3)
        return dy.sum(axis=1)
