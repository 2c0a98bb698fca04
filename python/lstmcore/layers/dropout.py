"""Inverted dropout: while training, zero each element with probability p and scale the rest by
1/(1-p), so inference needs no rescaling.  y = x * m, dx = dy * m with the same mask m."""

from __future__ import annotations

from typing import Any, Dict, Optional

import numpy as np

from .._checks import Array, flag, make_rng, probability
from .base import Layer, check_dy, need_record, register


@register
class Dropout(Layer):
    is_random = True

    def __init__(self, p: float = 0.5, *, seed: Optional[int] = None,
                 rng: Optional[np.random.Generator] = None) -> None:
        super().__init__()
        self.p = probability("p", p)
        self.rng = make_rng(seed, rng)
        self._mask: Optional[Array] = None

    def config(self) -> Dict[str, Any]:
        return {"p": self.p}

    def forward(self, x: Array, training: bool = False) -> Array:
        training = flag("training", training)
        if not isinstance(x, np.ndarray) or x.dtype.kind != "f":
            raise TypeError(f"x must be a floating numpy.ndarray, got {getattr(x, 'dtype', type(x).__name__)}")
        if not training or self.p == 0.0:
            # p = 0 keeps everything: a broadcast view of one, no memory, still x's shape for backward's check.
            self._mask = np.broadcast_to(np.ones((), x.dtype), x.shape) if training else None
            return x
        self._mask = ((self.rng.random(x.shape) >= self.p) / (1.0 - self.p)).astype(x.dtype)
        return x * self._mask

    def backward(self, dy: Array) -> Array:
        need_record(self, self._mask)
        assert self._mask is not None
        return check_dy(dy, self._mask) * self._mask
