"""Max pooling over time, channels last: y[b, t, c] = max_j x[b, t*stride + j, c], j < pool_size.

Backward routes each output's gradient to the position of its maximum (the first one on ties),
one vectorised slice per pool tap.  Shapes: x (B, T, C) -> y (B, (T - pool) // stride + 1, C).
"""

from __future__ import annotations

from typing import Any, Dict, Optional

import numpy as np

from .._checks import Array, check_array, flag, positive_int
from .base import Layer, OutputSpec, Shape, check_dy, need_record, register
from .conv import add_windows_back, time_windows, valid_output_lengths


@register
class MaxPool1D(Layer):
    def __init__(self, pool_size: int = 2, stride: Optional[int] = None) -> None:
        super().__init__()
        self.pool_size = positive_int("pool_size", pool_size)
        self.stride = self.pool_size if stride is None else positive_int("stride", stride)
        self._record: Optional[tuple] = None

    def _steps_out(self, steps: int) -> int:
        return (steps - self.pool_size) // self.stride + 1

    def output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) != 2:
            raise ValueError(f"{self!r} expects per-sample input (time, channels), got shape {input_shape}")
        steps = input_shape[0]
        if steps is not None and steps < self.pool_size:
            raise ValueError(f"{self!r} needs at least {self.pool_size} time steps, got {steps}")
        return (None if steps is None else self._steps_out(steps), input_shape[1])

    def output_lengths(self, lengths: Optional[np.ndarray], steps: int) -> Optional[np.ndarray]:
        return valid_output_lengths(lengths, self.pool_size, self.stride, 0, 0, self._steps_out(steps))

    def config(self) -> Dict[str, Any]:
        return {"pool_size": self.pool_size, "stride": self.stride}

    def forward(self, x: Array, training: bool = False) -> Array:
        training = flag("training", training)
        check_array("x", x, x.dtype if isinstance(x, np.ndarray) else None, (None, None, None))
        self.output_shape(x.shape[1:])
        windows = time_windows(x, self.pool_size, self.stride, self._steps_out(x.shape[1]))  # (B, T', C, pool)
        winner = windows.argmax(axis=-1)
        y = np.take_along_axis(windows, winner[..., np.newaxis], axis=-1)[..., 0]
        self._record = (winner, x.shape, OutputSpec(y.shape, y.dtype)) if training else None
        return y

    def backward(self, dy: Array) -> Array:
        need_record(self, self._record)
        winner, x_shape, output = self._record  # type: ignore[misc]
        check_dy(dy, output)
        taps = np.arange(self.pool_size)
        d_windows = np.where(winner[..., np.newaxis] == taps, dy[..., np.newaxis], 0).astype(dy.dtype)
        dx = add_windows_back(d_windows, self.stride, x_shape[1])
        return dx
