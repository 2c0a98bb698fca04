"""TimeDistributed(layer): apply a per-sample layer to every time step, (B, T, ...) -> (B, T, ...').

The time axis is folded into the batch, (B*T, ...), so the wrapped layer runs once over all steps.
Parameters and gradients are the wrapped layer's own (the same arrays).  Dense needs no wrapper:
it already acts on the last axis.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

import numpy as np

from .._checks import Array, flag
from .base import Layer, OutputSpec, Shape, check_dy, need_record, register


@register
class TimeDistributed(Layer):
    def __init__(self, layer: Layer) -> None:
        super().__init__()
        if not isinstance(layer, Layer):
            raise TypeError(f"layer must be an lstmcore layer, got {type(layer).__name__}")
        if getattr(layer, "uses_lengths", False):
            raise ValueError("layer must be a per-sample layer, not a recurrent one")
        self.layer = layer
        self._parameters = layer._parameters
        self.grads = layer.grads
        self.dtype = layer.dtype
        self._output: Optional[OutputSpec] = None

    def output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) < 2:
            raise ValueError(f"TimeDistributed expects per-sample input (time, ...), got shape {input_shape}")
        return (input_shape[0], *self.layer.output_shape(input_shape[1:]))

    def config(self) -> Dict[str, Any]:
        return {"layer": {"class": type(self.layer).__name__, "config": self.layer.config()}}

    def forward(self, x: Array, training: bool = False) -> Array:
        training = flag("training", training)
        if not isinstance(x, np.ndarray) or x.ndim < 3:
            raise ValueError(f"x must be a numpy.ndarray (batch, time, ...), got {getattr(x, 'shape', type(x))}")
        batch, steps = x.shape[:2]
        y = self.layer.forward(x.reshape(batch * steps, *x.shape[2:]), training=training)
        y = y.reshape(batch, steps, *y.shape[1:])
        self._output = OutputSpec(y.shape, y.dtype) if training else None
        return y

    def backward(self, dy: Array) -> Optional[Array]:
        need_record(self, self._output)
        assert self._output is not None
        # Checked here, not only by the wrapped layer: a (T, B, ...) dy folds to the same (B*T, ...).
        check_dy(dy, self._output)
        batch, steps = dy.shape[:2]
        dx = self.layer.backward(dy.reshape(batch * steps, *dy.shape[2:]))
        return None if dx is None else dx.reshape(batch, steps, *dx.shape[1:])

    def __repr__(self) -> str:
        return f"TimeDistributed({self.layer!r})"
