"""Sequential(*layers): the output of each layer is the input of the next.

Shapes are checked when the model is built (from the first layer whose input rank is fixed:
LSTM, Conv1D, Embedding) and again from x's shape at every forward, so a mismatch between layers
is a ValueError naming both layers before any data flows.  Sequence lengths, when given, go to
every recurrent layer and are mapped through layers that change time (Conv1D, MaxPool1D);
``output_lengths`` holds those of the model's output, for masked per-step losses.

Parameters are named "<index>.<layer's name>", e.g. "0.weight_ih_l1_reverse", "2.weight".
"""

from __future__ import annotations

import contextlib
from typing import Any, Dict, Iterator, List, Optional

import numpy as np

from .._checks import Array, check_lengths, flag, positive_int
from .base import Layer, Shape, build_layer, register

# Per-sample input shapes a first layer fixes: rank and features (None: decided by x).
_FIXED_INPUTS = {
    "LSTM": lambda layer: (None, layer.input_size),
    "GRU": lambda layer: (None, layer.input_size),
    "Conv1D": lambda layer: (None, layer.in_channels),
    "Embedding": lambda layer: (None,),
}


@register
class Sequential(Layer):
    def __init__(self, *layers: Layer) -> None:
        super().__init__()
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            layers = tuple(layers[0])
        if not layers:
            raise ValueError("Sequential needs at least one layer")
        for index, layer in enumerate(layers):
            if not isinstance(layer, Layer) or isinstance(layer, Sequential):
                raise TypeError(f"layer {index} must be an lstmcore layer (not a Sequential), got {type(layer).__name__}")
            if getattr(layer, "uses_lengths", False) and not getattr(layer, "batch_first", True):
                raise ValueError(f"layer {index} ({layer!r}) must be batch_first=True inside a Sequential")
        self.layers: List[Layer] = list(layers)
        dtypes = {layer.dtype for layer in self.layers if layer.dtype is not None}
        if len(dtypes) > 1:
            found = ", ".join(f"layer {i}: {layer.dtype}" for i, layer in enumerate(self.layers) if layer.dtype)
            raise TypeError(f"all layers must share one dtype, got {found}")
        self.dtype = dtypes.pop() if dtypes else None
        self.is_random = any(layer.is_random for layer in self.layers)
        self.uses_lengths = any(layer.uses_lengths for layer in self.layers)
        self.takes_integers = bool(getattr(self.layers[0], "takes_integers", False))
        for index, layer in enumerate(self.layers):
            for name in layer._parameters:
                self._parameters[f"{index}.{name}"] = layer._parameters[name]
                self.grads[f"{index}.{name}"] = layer.grads[name]
        self.output_lengths_: Optional[np.ndarray] = None
        fixed = _FIXED_INPUTS.get(type(self.layers[0]).__name__)
        self.input_shape: Optional[Shape] = fixed(self.layers[0]) if fixed else None
        if self.input_shape is not None:
            self.output_shape(self.input_shape)

    # ---- shapes -------------------------------------------------------------------------------

    def output_shape(self, input_shape: Shape) -> Shape:
        shape = tuple(input_shape)
        for index, layer in enumerate(self.layers):
            try:
                shape = layer.output_shape(shape)
            except ValueError as error:
                after = f" after layer {index - 1} ({self.layers[index - 1]!r})" if index else ""
                raise ValueError(f"shape mismatch at layer {index}{after}: {error}") from None
        return shape

    def config(self) -> Dict[str, Any]:
        entries = []
        for index, layer in enumerate(self.layers):
            try:
                entries.append({"class": type(layer).__name__, "config": layer.config()})
            except NotImplementedError as error:  # a layer of one's own: say which of the model's it is
                name = type(layer).__name__
                where = f"layer {index}" + ("" if str(error).startswith(name + " ") else f" ({name})")
                raise NotImplementedError(f"{where}: {error}") from None
        return {"layers": entries}

    @classmethod
    def from_config(cls, config: Dict[str, Any]) -> "Sequential":
        if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
            raise ValueError("a Sequential config must be {'layers': [...]}")
        return cls(*(build_layer(entry) for entry in config["layers"]))

    # ---- randomness and state -----------------------------------------------------------------

    def set_rng(self, rng: np.random.Generator) -> None:
        """Give every layer that draws dropout masks its own generator, spawned from `rng`."""
        random_layers = [layer for layer in self.layers if layer.is_random]
        for layer, child in zip(random_layers, rng.spawn(len(random_layers))):
            layer.rng = child

    def recurrent_layers(self) -> List[Layer]:
        return [layer for layer in self.layers if layer.uses_lengths]

    def reset_states(self) -> None:
        for layer in self.recurrent_layers():
            layer.reset_states()  # type: ignore[attr-defined]

    @contextlib.contextmanager
    def carrying_state(self) -> Iterator[None]:
        """Within: each forward starts where the previous one ended (Keras' stateful=True), as plain
        arrays, so gradients stop at call boundaries (truncated BPTT, generation).  Starts from zeros."""
        layers = self.recurrent_layers()
        previous = [layer.stateful for layer in layers]  # type: ignore[attr-defined]
        for layer in layers:
            layer.stateful = True  # type: ignore[attr-defined]
        self.reset_states()
        try:
            yield
        finally:
            for layer, stateful in zip(layers, previous):
                layer.stateful = stateful  # type: ignore[attr-defined]
            self.reset_states()

    # ---- forward / backward -------------------------------------------------------------------

    def forward(self, x: Array, training: bool = False, *, lengths: Optional[np.ndarray] = None) -> Array:
        training = flag("training", training)
        if not isinstance(x, np.ndarray):
            raise TypeError(f"x must be a numpy.ndarray, got {type(x).__name__}")
        if x.ndim < 1 or x.shape[0] == 0:
            raise ValueError(f"x must have a non-empty batch axis, got shape {x.shape}")
        self.output_shape(x.shape[1:])
        if lengths is not None:
            if x.ndim < 2:
                raise ValueError(f"lengths need x with a time axis (batch, time, ...), got shape {x.shape}")
            lengths = check_lengths(lengths, x.shape[0], x.shape[1])
        for layer in self.layers:
            if layer.uses_lengths:
                y = layer.forward(x, training=training, lengths=lengths)  # type: ignore[call-arg]
            else:
                y = layer.forward(x, training=training)
            if lengths is not None:
                lengths = layer.output_lengths(lengths, x.shape[1])
            x = y
        self.output_lengths_ = lengths
        return x

    def backward(self, dy: Array, *, input_grad: bool = True) -> Optional[Array]:
        """Back-propagate through every layer, last to first; return the input's gradient.

        ``input_grad=False`` (as ``fit`` does: the input is data) returns None, and a first layer
        that can (LSTM, GRU) skips computing it.  The last layer checks dy against the output of
        the most recent ``forward(training=True)``.
        """
        input_grad = flag("input_grad", input_grad)
        for index in reversed(range(len(self.layers))):
            layer = self.layers[index]
            if index == 0 and not input_grad:
                if layer.skips_input_grad:
                    layer.backward(dy, input_grad=False)  # type: ignore[call-arg]
                else:
                    layer.backward(dy)
                return None
            dy = layer.backward(dy)  # type: ignore[assignment]
            if dy is None:  # below an Embedding there is nothing differentiable
                return None
        return dy

    def __call__(self, x: Array, *, lengths: Optional[np.ndarray] = None) -> Array:  # type: ignore[override]
        return self.forward(x, training=False, lengths=lengths)

    def predict(self, x: Array, batch_size: int = 256, *, lengths: Optional[np.ndarray] = None) -> Array:
        """Inference in batches of ``batch_size`` (bounded memory); ``model(x)`` up to rounding.
        An empty batch is refused, as by ``forward``: there is no output shape to give it."""
        batch_size = positive_int("batch_size", batch_size)
        if not isinstance(x, np.ndarray) or x.ndim < 1:
            raise TypeError(f"x must be a numpy.ndarray with a batch axis, got {type(x).__name__}")
        if x.shape[0] == 0:
            raise ValueError(f"x must have a non-empty batch axis, got shape {x.shape}")
        if lengths is not None:
            lengths = check_lengths(lengths, x.shape[0], x.shape[1] if x.ndim > 1 else 0)
        parts = [
            self.forward(x[start:start + batch_size], training=False,
                         lengths=None if lengths is None else lengths[start:start + batch_size])
            for start in range(0, x.shape[0], batch_size)
        ]
        return np.concatenate(parts, axis=0)

    def __repr__(self) -> str:
        inner = ",\n".join(f"    {layer!r}" for layer in self.layers)
        return f"Sequential(\n{inner},\n)"

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, index: int) -> Layer:
        return self.layers[index]
