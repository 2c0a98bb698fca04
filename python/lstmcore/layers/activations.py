"""Elementwise activations as forward/backward pairs; backward takes the forward's OUTPUT.

Each derivative is written in terms of y = f(x) (sigmoid' = y(1-y), tanh' = 1-y^2, relu' = [y>0]),
so a layer keeps only its output for backward.
"""

from __future__ import annotations

from typing import Callable, Dict, Optional, Tuple

import numpy as np

from .._checks import Array, choice


def _sigmoid(x: Array) -> Array:
    # exp of a non-positive number only: no overflow for large |x|.
    negative = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + negative), negative / (1.0 + negative)).astype(x.dtype)


ACTIVATIONS: Dict[str, Tuple[Callable[[Array], Array], Callable[[Array, Array], Array]]] = {
    "relu": (lambda x: np.maximum(x, 0), lambda y, dy: dy * (y > 0)),
    "tanh": (np.tanh, lambda y, dy: dy * (1 - y * y)),
    "sigmoid": (_sigmoid, lambda y, dy: dy * y * (1 - y)),
}


def check_activation(name: Optional[str]) -> Optional[str]:
    if name is None or name == "linear":
        return None
    return choice("activation", name, (None, "linear", *ACTIVATIONS))


def activation_forward(name: Optional[str], x: Array) -> Array:
    return x if name is None else ACTIVATIONS[name][0](x)


def activation_backward(name: Optional[str], y: Array, dy: Array) -> Array:
    return dy if name is None else ACTIVATIONS[name][1](y, dy)
