"""What every layer shares: named parameters with gradient accumulators, and shape bookkeeping.

A layer is a pair ``forward(x, training=False) -> y`` / ``backward(dy) -> dx``.  ``forward`` with
``training=True`` keeps what ``backward`` needs; ``backward`` ADDS parameter gradients into
``self.grads`` (``zero_grad`` zeroes them) and returns the gradient of its input.  ``backward``
before any ``forward(training=True)``, or after a later inference forward, is a RuntimeError; a
``dy`` whose shape or dtype differs from that forward's output is refused (``check_dy``).

Shapes are per sample (no batch axis): ``output_shape(input_shape)`` maps e.g. (T, D) to (T, H),
with None for a size only known at run time.  ``Sequential`` uses it to refuse mismatched layers
when the model is built, before any data flows.
"""

from __future__ import annotations

from typing import Any, Dict, NamedTuple, Optional, Tuple, Union

import numpy as np

from .._checks import Array, check_array

Shape = Tuple[Optional[int], ...]

# Layer classes by name, for lstmcore.load (filled by `register`).
LAYER_CLASSES: Dict[str, type] = {}


def register(cls: type) -> type:
    LAYER_CLASSES[cls.__name__] = cls
    return cls


class Layer:
    """Base class: a layer without parameters unless it calls ``_add_parameter``."""

    #: whether ``forward`` takes ``lengths=`` (recurrent layers); Sequential passes them on.
    uses_lengths = False
    #: whether ``forward(training=True)`` draws random numbers (from ``self.rng``).
    is_random = False
    #: whether ``backward`` takes ``input_grad=False`` (skip dx, return None); Sequential passes it
    #: to its first layer, whose input is data.
    skips_input_grad = False

    def __init__(self) -> None:
        self._parameters: Dict[str, Array] = {}
        self.grads: Dict[str, Array] = {}
        self.dtype: Optional[np.dtype] = None
        self.rng: np.random.Generator = np.random.default_rng()

    # ---- parameters ---------------------------------------------------------------------------

    def _add_parameter(self, name: str, value: Array) -> None:
        self._parameters[name] = value
        self.grads[name] = np.zeros_like(value)

    def parameters(self) -> Dict[str, Array]:
        """Parameter arrays by name: the live arrays, so that optimizers update them in place."""
        return dict(self._parameters)

    def gradients(self) -> Dict[str, Array]:
        """Gradient accumulators by name (live arrays, same names and shapes as ``parameters``)."""
        return {name: self.grads[name] for name in self._parameters}

    def zero_grad(self) -> None:
        for grad in self.grads.values():
            grad.fill(0)

    def __getattr__(self, name: str) -> Any:
        # Parameters read as attributes (layer.weight_ih), as in PyTorch.
        parameters = self.__dict__.get("_parameters")
        if parameters is not None and name in parameters:
            return parameters[name]
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    # ---- shapes and serialisation -------------------------------------------------------------

    def output_shape(self, input_shape: Shape) -> Shape:
        """Per-sample output shape for a per-sample input shape; ValueError if it does not fit."""
        return input_shape

    def output_lengths(self, lengths: Optional[np.ndarray], steps: int) -> Optional[np.ndarray]:
        """Valid steps of each output sequence, given those of the input (None: all valid / no time axis)."""
        return lengths

    def config(self) -> Dict[str, Any]:
        """The constructor arguments, JSON-serialisable: ``type(layer)(**layer.config())`` rebuilds it.
        A layer class of one's own defines it (and is ``register``-ed) to be saved and loaded."""
        raise NotImplementedError(f"{type(self).__name__} defines no config(): lstmcore.save needs one (the "
                                  f"constructor arguments, JSON-serialisable) and the class registered with "
                                  f"lstmcore.layers.base.register for lstmcore.load to rebuild it")

    # ---- inference ----------------------------------------------------------------------------

    def forward(self, x: Array, training: bool = False) -> Array:
        raise NotImplementedError

    def backward(self, dy: Array) -> Optional[Array]:
        raise NotImplementedError

    def __call__(self, x: Array) -> Array:
        return self.forward(x, training=False)

    def __repr__(self) -> str:
        try:
            config = self.config()
        except NotImplementedError:  # a layer of one's own without config(): repr sits in error messages
            return f"{type(self).__name__}()"
        arguments = ", ".join(f"{key}={value!r}" for key, value in config.items())
        return f"{type(self).__name__}({arguments})"


def need_record(layer: Layer, record: object) -> None:
    if record is None:
        raise RuntimeError(f"{type(layer).__name__}.backward() needs a preceding forward(..., training=True)")


class OutputSpec(NamedTuple):
    """Shape and dtype of a training forward's output, kept by layers that do not keep the output."""

    shape: Tuple[int, ...]
    dtype: np.dtype


def check_dy(dy: object, output: Union[Array, OutputSpec]) -> Array:
    """Refuse a dy unlike `output` (the recorded forward's y) in shape or dtype, never reshape or
    cast it: a dy of the right size in another layout (time-major for batch-first) would otherwise
    give wrong gradients without an error."""
    if isinstance(dy, np.ndarray) and dy.dtype != output.dtype:
        # check_array would say "the layer's dtype"; Flatten or MaxPool1D have none, only y's.
        raise TypeError(f"dy must have dtype {output.dtype} (that of the forward's y), got {dy.dtype}")
    return check_array("dy", dy, output.dtype, output.shape)


def feature_mismatch(layer: Layer, wanted: int, got: Optional[int]) -> ValueError:
    return ValueError(f"{layer!r} expects {wanted} input features (last axis), got {got}")


def build_layer(entry: Dict[str, Any]) -> Layer:
    """Rebuild a layer from ``{"class": name, "config": {...}}`` (as written by lstmcore.save)."""
    if not isinstance(entry, dict) or not isinstance(entry.get("class"), str) or not isinstance(entry.get("config"), dict):
        raise ValueError(f"a layer entry must be {{'class': str, 'config': dict}}, got {entry!r:.80}")
    cls = LAYER_CLASSES.get(entry["class"])
    if cls is None:
        raise ValueError(f"unknown layer class {entry['class']!r}; known: {', '.join(sorted(LAYER_CLASSES))}")
    config = dict(entry["config"])
    if "layer" in config:  # a wrapper (TimeDistributed) holds the entry of its inner layer
        config["layer"] = build_layer(config["layer"])
    return cls(**config)
