"""Layers that only move numbers around: Flatten (B, ...) -> (B, prod ...) and
RepeatVector (B, F) -> (B, n, F), the input of a one-to-many decoder (backward sums over the copies)."""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import numpy as np

from .._checks import Array, flag, positive_int
from .base import Layer, OutputSpec, Shape, check_dy, need_record, register


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
        self._record: Optional[Tuple[Tuple[int, ...], OutputSpec]] = None  # x's shape, y's

    def output_shape(self, input_shape: Shape) -> Shape:
        if any(size is None for size in input_shape):
            return (None,)
        return (int(np.prod(input_shape, dtype=np.int64)),)

    def output_lengths(self, lengths: Optional[np.ndarray], steps: int) -> Optional[np.ndarray]:
        return None

    def config(self) -> Dict[str, Any]:
        return {}

    def forward(self, x: Array, training: bool = False) -> Array:
        training = flag("training", training)
        if not isinstance(x, np.ndarray) or x.ndim < 2:
            raise ValueError(f"x must be a numpy.ndarray with a batch axis and at least one more, got {x!r:.60}")
        y = x.reshape(x.shape[0], -1)
        self._record = (x.shape, OutputSpec(y.shape, y.dtype)) if training else None
        return y

    def backward(self, dy: Array) -> Array:
        need_record(self, self._record)
        input_shape, output = self._record  # type: ignore[misc]
        return check_dy(dy, output).reshape(input_shape)


@register
class RepeatVector(Layer):
    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = positive_int("n", n)
        self._output: Optional[OutputSpec] = None

    def output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) != 1:
            raise ValueError(f"{self!r} expects per-sample input (features,), got shape {input_shape}")
        return (self.n, input_shape[0])

    def output_lengths(self, lengths: Optional[np.ndarray], steps: int) -> Optional[np.ndarray]:
        return None

    def config(self) -> Dict[str, Any]:
        return {"n": self.n}

    def forward(self, x: Array, training: bool = False) -> Array:
        training = flag("training", training)
        _check_batch("x", x, 2)
        y = np.ascontiguousarray(np.broadcast_to(x[:, np.newaxis, :], (x.shape[0], self.n, x.shape[1])))
        self._output = OutputSpec(y.shape, y.dtype) if training else None
        return y

    def backward(self, dy: Array) -> Array:
        need_record(self, self._output)
        assert self._output is not None
        return check_dy(dy, self._output).sum(axis=1)
