"""1-D convolution over time, channels last (Keras' layout, so it stacks with LSTM layers).

    y[b, t, o] = activation(bias[o] + sum_{c, j} weight[o, c, j] * xp[b, t*stride + j, c])

xp is x padded with zeros in time: pad_left, pad_right = 0, 0 ("valid"), (k-1)//2, k-1-(k-1)//2
("same", stride 1), k-1, 0 ("causal": y_t sees only x_{<=t}, for forecasting), or p, p (an int).

Shapes: x (B, T, C_in), weight (C_out, C_in, k) (PyTorch's), bias (C_out,), y (B, T', C_out) with
T' = (T + pad_left + pad_right - k) // stride + 1.  Windows are strided views of xp (no copy in
forward); backward adds each tap's gradient back with one vectorised slice per tap (k slices).
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple, Union

import numpy as np

from .. import init as initialisers
from .._checks import Array, DTypeLike, check_array, flag, float_dtype, make_rng, non_negative_int, positive_int
from .activations import activation_backward, activation_forward, check_activation
from .base import Layer, Shape, check_dy, feature_mismatch, need_record, register

PADDINGS = ("valid", "same", "causal")


def time_windows(xp: Array, size: int, stride: int, steps_out: int) -> Array:
    """(B, Tp, C) -> (B, T', C, size) strided view: window t starts at t * stride."""
    return np.lib.stride_tricks.sliding_window_view(xp, size, axis=1)[:, ::stride][:, :steps_out]


def add_windows_back(d_windows: Array, stride: int, padded_steps: int) -> Array:
    """Adjoint of `time_windows`: (B, T', C, size) -> (B, Tp, C), overlapping windows summed."""
    batch, steps_out, channels, size = d_windows.shape
    dxp = np.zeros((batch, padded_steps, channels), d_windows.dtype)
    for tap in range(size):  # a loop over kernel taps, never over time
        dxp[:, tap:tap + stride * (steps_out - 1) + 1:stride] += d_windows[..., tap]
    return dxp


def valid_output_lengths(lengths: Optional[np.ndarray], size: int, stride: int, pad_left: int, pad_right: int,
                         steps_out: int) -> Optional[np.ndarray]:
    """Output t is valid when its window ends, right padding aside, before the sequence does."""
    if lengths is None:
        return None
    reach = size - 1 - pad_left - pad_right  # the window's last real input is at t*stride + reach
    return np.clip((lengths - reach + stride - 1) // stride, 0, steps_out)


@register
class Conv1D(Layer):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: Union[str, int] = "valid", activation: Optional[str] = None, *,
                 dtype: DTypeLike = np.float32, seed: Optional[int] = None,
                 rng: Optional[np.random.Generator] = None) -> None:
        super().__init__()
        self.in_channels = positive_int("in_channels", in_channels)
        self.out_channels = positive_int("out_channels", out_channels)
        self.kernel_size = positive_int("kernel_size", kernel_size)
        self.stride = positive_int("stride", stride)
        if isinstance(padding, str):
            if padding not in PADDINGS:
                raise ValueError(f"padding must be one of {', '.join(PADDINGS)} or an int; got {padding!r}")
            if padding == "same" and self.stride != 1:
                raise ValueError("padding='same' needs stride=1")
        else:
            padding = non_negative_int("padding", padding)
        self.padding = padding
        self.activation = check_activation(activation)
        self.dtype = float_dtype("dtype", dtype)
        fan_in, fan_out = self.in_channels * self.kernel_size, self.out_channels * self.kernel_size
        self._add_parameter("weight", initialisers.glorot_uniform(
            make_rng(seed, rng), (self.out_channels, self.in_channels, self.kernel_size), fan_in, fan_out, self.dtype))
        self._add_parameter("bias", np.zeros(self.out_channels, self.dtype))
        self._record: Optional[tuple] = None

    def _pads(self) -> Tuple[int, int]:
        total = self.kernel_size - 1
        if self.padding == "valid":
            return 0, 0
        if self.padding == "same":
            return total // 2, total - total // 2
        if self.padding == "causal":
            return total, 0
        return int(self.padding), int(self.padding)

    def _steps_out(self, steps: int) -> int:
        pad_left, pad_right = self._pads()
        return (steps + pad_left + pad_right - self.kernel_size) // self.stride + 1

    def output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) != 2:
            raise ValueError(f"{self!r} expects per-sample input (time, channels), got shape {input_shape}")
        if input_shape[1] not in (None, self.in_channels):
            raise feature_mismatch(self, self.in_channels, input_shape[1])
        steps = input_shape[0]
        if steps is not None and self._steps_out(steps) < 1:
            raise ValueError(f"{self!r} needs at least {self.kernel_size} (padded) time steps, got {steps}")
        return (None if steps is None else self._steps_out(steps), self.out_channels)

    def output_lengths(self, lengths: Optional[np.ndarray], steps: int) -> Optional[np.ndarray]:
        return valid_output_lengths(lengths, self.kernel_size, self.stride, *self._pads(), self._steps_out(steps))

    def config(self) -> Dict[str, Any]:
        return {"in_channels": self.in_channels, "out_channels": self.out_channels,
                "kernel_size": self.kernel_size, "stride": self.stride, "padding": self.padding,
                "activation": self.activation, "dtype": self.dtype.name}

    def forward(self, x: Array, training: bool = False) -> Array:
        training = flag("training", training)
        check_array("x", x, self.dtype, (None, None, self.in_channels))
        self.output_shape((x.shape[1], self.in_channels))
        pad_left, pad_right = self._pads()
        xp = np.pad(x, ((0, 0), (pad_left, pad_right), (0, 0))) if pad_left or pad_right else x
        steps_out = self._steps_out(x.shape[1])
        windows = time_windows(xp, self.kernel_size, self.stride, steps_out)  # (B, T', C_in, k)
        y = activation_forward(self.activation,
                               np.tensordot(windows, self.weight, axes=([2, 3], [1, 2])) + self.bias)
        self._record = (windows, xp.shape[1], x.shape[1], y) if training else None
        return y

    def backward(self, dy: Array) -> Array:
        need_record(self, self._record)
        windows, padded_steps, steps, y = self._record  # type: ignore[misc]
        check_dy(dy, y)
        dz = activation_backward(self.activation, y, dy)
        self.grads["weight"] += np.tensordot(dz, windows, axes=([0, 1], [0, 1]))
        self.grads["bias"] += dz.sum(axis=(0, 1))
        d_windows = np.tensordot(dz, self.weight, axes=([2], [0]))  # (B, T', C_in, k)
        pad_left = self._pads()[0]
        return add_windows_back(d_windows, self.stride, padded_steps)[:, pad_left:pad_left + steps]
