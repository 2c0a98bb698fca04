"""Dense (fully connected) layer, applied to the last axis, so also per time step of a sequence.

    y = activation(x @ W^T + b)      x (..., in_features)  W (out, in)  b (out,)  y (..., out)

    dz = activation'(y) * dy;   dW += dz^T x (summed over every leading axis);   db += sum dz;   dx = dz W
"""

from __future__ import annotations

from typing import Any, Dict, Optional

import numpy as np

from .. import init as initialisers
from .._checks import Array, DTypeLike, check_array, flag, float_dtype, make_rng, positive_int
from .activations import activation_backward, activation_forward, check_activation
from .base import Layer, Shape, check_dy, feature_mismatch, need_record, register


@register
class Dense(Layer):
    """Glorot-uniform weight, zero bias (Keras' defaults); PyTorch's names and shapes (weight, bias)."""

    def __init__(self, in_features: int, out_features: int, activation: Optional[str] = None, *,
                 dtype: DTypeLike = np.float32, seed: Optional[int] = None,
                 rng: Optional[np.random.Generator] = None) -> None:
        super().__init__()
        self.in_features = positive_int("in_features", in_features)
        self.out_features = positive_int("out_features", out_features)
        self.activation = check_activation(activation)
        self.dtype = float_dtype("dtype", dtype)
        generator = make_rng(seed, rng)
        self._add_parameter("weight", initialisers.glorot_uniform(
            generator, (self.out_features, self.in_features), self.in_features, self.out_features, self.dtype))
        self._add_parameter("bias", np.zeros(self.out_features, self.dtype))
        self._record: Optional[tuple] = None

    def output_shape(self, input_shape: Shape) -> Shape:
        if not input_shape or input_shape[-1] not in (None, self.in_features):
            raise feature_mismatch(self, self.in_features, input_shape[-1] if input_shape else None)
        return (*input_shape[:-1], self.out_features)

    def config(self) -> Dict[str, Any]:
        return {"in_features": self.in_features, "out_features": self.out_features,
                "activation": self.activation, "dtype": self.dtype.name}

    def forward(self, x: Array, training: bool = False) -> Array:
        training = flag("training", training)
        if not isinstance(x, np.ndarray) or x.ndim < 2:
            check_array("x", x, self.dtype, (None, self.in_features))
        check_array("x", x, self.dtype, (*x.shape[:-1], self.in_features))
        y = activation_forward(self.activation, x @ self.weight.T + self.bias)
        self._record = (x, y) if training else None
        return y

    def backward(self, dy: Array) -> Array:
        need_record(self, self._record)
        x, y = self._record  # type: ignore[misc]
        check_dy(dy, y)
        dz = activation_backward(self.activation, y, dy)
        dz_rows, x_rows = dz.reshape(-1, self.out_features), x.reshape(-1, self.in_features)
        self.grads["weight"] += dz_rows.T @ x_rows
        self.grads["bias"] += dz_rows.sum(axis=0)
        return dz @ self.weight
