"""Autoregressive generation (one-to-many from a seed): feed each prediction back as the next input.

Stepping in Python is inherent here (step t+1 needs step t's output); each step is one T = 1
kernel call per layer, the recurrent state carried between calls.  The model must map a sequence
to a per-step output of the input's own kind: features to the same features (forecasting), or
token ids to logits over the same ids (an Embedding first; the next token is the arg-max).
"""

from __future__ import annotations

import numpy as np

from ._checks import positive_int
from .layers.sequential import Sequential

# Layers that act on each step alone, so a stateful recurrent stack can run one step at a time.
_STEPWISE = ("LSTM", "GRU", "Dense", "Dropout", "TimeDistributed", "Embedding")


def generate(model: Sequential, seed: np.ndarray, steps: int) -> np.ndarray:
    """seed (B, T0, F) -> the next `steps` predictions (B, steps, F); or token ids (B, T0) -> (B, steps)."""
    if not isinstance(model, Sequential):
        raise TypeError(f"model must be a Sequential, got {type(model).__name__}")
    steps = positive_int("steps", steps)
    for index, layer in enumerate(model.layers):
        if type(layer).__name__ not in _STEPWISE or getattr(layer, "bidirectional", False) \
                or not getattr(layer, "return_sequences", True):
            raise ValueError(f"generate needs step-by-step layers (unidirectional, return_sequences=True); "
                             f"layer {index} is {layer!r}")
    if not isinstance(seed, np.ndarray) or seed.ndim < 2:
        raise ValueError(f"seed must be a numpy.ndarray (batch, time, ...), got {getattr(seed, 'shape', type(seed).__name__)}")
    output = model.output_shape(seed.shape[1:])
    if not model.takes_integers and output[1:] != seed.shape[2:]:
        raise ValueError(f"generate needs outputs shaped like the inputs, got {seed.shape[2:]} -> {output[1:]}")

    def next_input(prediction: np.ndarray) -> np.ndarray:
        last = prediction[:, -1:]
        return last.argmax(axis=-1).astype(seed.dtype) if model.takes_integers else last

    generated = []
    with model.carrying_state():
        current = next_input(model.forward(seed))
        for _ in range(steps):
            generated.append(current)
            current = next_input(model.forward(current))
    return np.concatenate(generated, axis=1)
