"""The recurrent driver: stacked layers x directions over one cell kind's kernel pair.

A cell kind (LSTM, later GRU) is a subclass that names its gate count, its states and its two
kernel calls (`_cell_forward` / `_cell_backward`, one layer and one direction, time-major).  This
file owns everything around them, so that adding a cell kind adds a small file, not branches here:

- stacking: layer k's input is layer k-1's output, with dropout between layers (PyTorch's
  ``dropout``: on the outputs of every layer but the last, a fresh mask per element);
- bidirectionality: the reverse direction runs the kernel on each sequence reversed *within its
  length* (padding stays in place), so both directions see real data first; outputs concatenate
  [forward | reverse] along features, and state index s = layer * num_directions + direction;
- lengths: passed to the kernels, which freeze the state past each sequence's length, zero its
  outputs and its gradients, and skip the padding;
- recurrent dropout (Gal & Ghahramani 2016): one (B, H) mask per sequence, layer and direction,
  applied by the kernel to h_{t-1} inside the recurrent matmul, so it costs no extra pass;
- stateful carry (for truncated BPTT and generation): the final states become the next call's
  initial states, as plain arrays, so no gradient flows across calls.

Shapes (S = num_layers * num_directions, H = hidden_size, dirs = num_directions):
    x (B, T, D) or time-major (T, B, D);  y (B, T, dirs*H), or (B, dirs*H) with return_sequences=False
    initial / final states and their gradients: (S, B, H) each (PyTorch's convention).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .. import init as initialisers
from .._checks import (
    Array, DTypeLike, check_array, check_lengths, choice, flag, float_dtype, make_rng, positive_int, probability,
)
from .base import Layer, OutputSpec, Shape, check_dy, need_record

INITS = ("uniform", "glorot_orthogonal")


def reverse_in_length(sequence: Array, lengths: Optional[np.ndarray]) -> Array:
    """(T, B, F) -> each sequence's first lengths[b] steps reversed, padding left in place.

    The permutation is its own inverse (and its own transpose), so the same call un-reverses
    outputs and carries gradients back.
    """
    if lengths is None:
        return np.ascontiguousarray(sequence[::-1])
    steps, batch = sequence.shape[0], sequence.shape[1]
    time = np.arange(steps)[:, np.newaxis]
    source_step = np.where(time < lengths[np.newaxis, :], lengths[np.newaxis, :] - 1 - time, time)
    return sequence[source_step, np.arange(batch)[np.newaxis, :]]


class _Record:
    """What one training forward keeps for backward."""

    def __init__(self, batch: int, steps: int, lengths: Optional[np.ndarray]) -> None:
        self.batch, self.steps, self.lengths = batch, steps, lengths
        self.caches: List[Any] = []  # per state index s
        self.dropout_masks: List[Optional[Array]] = []  # per layer (output of layer k)
        self.recurrent_masks: List[Optional[Array]] = []  # per state index s


class Recurrent(Layer):
    """Stacked, optionally bidirectional recurrent layer; subclasses supply the cell kind."""

    uses_lengths = True
    is_random = True
    skips_input_grad = True
    gate_count: int = 0  # rows of W_ih per hidden unit
    state_names: Tuple[str, ...] = ()  # ("h", "c") for an LSTM
    cell_option_names: Tuple[str, ...] = ()  # options forwarded to the kernels, checked by name

    @property
    def output_size(self) -> int:
        """Features of h per direction: hidden_size, or a variant's own (an LSTM's proj_size)."""
        return self.hidden_size

    def _state_size(self, name: str) -> int:
        """Features of state `name` per direction: h has output_size, the others hidden_size."""
        return self.output_size if name == self.state_names[0] else self.hidden_size

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        return_sequences: bool = True,
        batch_first: bool = True,
        *,
        dtype: DTypeLike = np.float32,
        init: str = "glorot_orthogonal",
        seed: Optional[int] = None,
        rng: Optional[np.random.Generator] = None,
        **cell_options: Any,
    ) -> None:
        super().__init__()
        self.input_size = positive_int("input_size", input_size)
        self.hidden_size = positive_int("hidden_size", hidden_size)
        self.num_layers = positive_int("num_layers", num_layers)
        self.bidirectional = flag("bidirectional", bidirectional)
        self.dropout = probability("dropout", dropout)
        self.recurrent_dropout = probability("recurrent_dropout", recurrent_dropout)
        self.return_sequences = flag("return_sequences", return_sequences)
        self.batch_first = flag("batch_first", batch_first)
        self.dtype = float_dtype("dtype", dtype)
        self.init = choice("init", init, INITS)
        self.rng = make_rng(seed, rng)
        self.cell_options = self._check_cell_options(cell_options)
        self.num_directions = 2 if self.bidirectional else 1
        # Entries along the first axis of initial/final states (num_layers * num_directions).
        self.num_states = self.num_layers * self.num_directions
        self.stateful = False

        for state in range(self.num_states):
            layer_input = self.input_size if state < self.num_directions else self.num_directions * self.output_size
            for name, value in self._initial_parameters(layer_input).items():
                self._add_parameter(self._parameter_name(name, state), value)

        self.final_states: Dict[str, Optional[Array]] = {name: None for name in self.state_names}
        self.initial_state_grads: Dict[str, Optional[Array]] = {name: None for name in self.state_names}
        self._carried: Optional[Dict[str, Array]] = None
        self._record: Optional[_Record] = None
        self._output_shape: Optional[Tuple[int, ...]] = None

    # ---- the cell kind (subclasses) -----------------------------------------------------------

    def _cell_forward(self, x: Array, weights: Dict[str, Array], states: Sequence[Optional[Array]], *,
                      training: bool, lengths: Optional[np.ndarray], recurrent_mask: Optional[Array]
                      ) -> Tuple[Array, Tuple[Array, ...], Any]:
        """x (T, B, D), states (B, H) or None -> y (T, B, H), final states, cache."""
        raise NotImplementedError

    def _cell_backward(self, dy: Optional[Array], dfinal: Sequence[Optional[Array]], cache: Any,
                       input_grad: bool = True) -> Tuple[Optional[Array], Dict[str, Array], Tuple[Array, ...]]:
        """-> dx (T, B, D) (None when not input_grad), parameter gradients by short name,
        gradients of the initial states."""
        raise NotImplementedError

    def _check_cell_options(self, options: Dict[str, Any]) -> Dict[str, Any]:
        unknown = sorted(set(options) - set(self.cell_option_names))
        if unknown:
            known = ", ".join(self.cell_option_names) or "none"
            raise TypeError(f"{type(self).__name__} got unknown cell option(s) {', '.join(unknown)}; known: {known}")
        return dict(options)

    # ---- parameters ---------------------------------------------------------------------------

    def _initial_parameters(self, layer_input: int) -> Dict[str, Array]:
        """weight_ih (G*H, D), weight_hh (G*H, R), bias_ih, bias_hh (G*H,), drawn in that order
        (R = output_size, the features of h)."""
        hidden, rows, dtype = self.hidden_size, self.gate_count * self.hidden_size, self.dtype
        recurrent = self.output_size
        if self.init == "uniform":  # PyTorch's default: everything ~ U(-1/sqrt(H), 1/sqrt(H))
            bound = 1.0 / np.sqrt(hidden)
            return {
                "weight_ih": initialisers.uniform(self.rng, (rows, layer_input), bound, dtype),
                "weight_hh": initialisers.uniform(self.rng, (rows, recurrent), bound, dtype),
                "bias_ih": initialisers.uniform(self.rng, (rows,), bound, dtype),
                "bias_hh": initialisers.uniform(self.rng, (rows,), bound, dtype),
            }
        bias_ih = np.zeros(rows, dtype)
        bias_ih[self._forget_gate_rows()] = 1.0  # Jozefowicz et al. 2015: remember by default
        return {
            "weight_ih": initialisers.glorot_uniform(self.rng, (rows, layer_input), layer_input, rows, dtype),
            "weight_hh": initialisers.orthogonal_per_gate(self.rng, self.gate_count, hidden, dtype, recurrent),
            "bias_ih": bias_ih,
            "bias_hh": np.zeros(rows, dtype),
        }

    def _forget_gate_rows(self) -> slice:
        return slice(0, 0)

    def _parameter_name(self, name: str, state: int) -> str:
        # A single unidirectional layer keeps the short names; otherwise PyTorch's full ones.
        if self.num_states == 1:
            return name
        layer, direction = divmod(state, self.num_directions)
        return f"{name}_l{layer}" + ("_reverse" if direction else "")

    def _weights(self, state: int) -> Dict[str, Array]:
        names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh") + self._extra_parameter_names()
        return {name: self._parameters[self._parameter_name(name, state)] for name in names}

    def _extra_parameter_names(self) -> Tuple[str, ...]:
        """Parameters a cell variant adds to the four of every layer and direction."""
        return ()

    # ---- shapes -------------------------------------------------------------------------------

    def output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) != 2:
            raise ValueError(f"{self!r} expects per-sample input (time, features), got shape {input_shape}")
        if input_shape[-1] != self.input_size:
            raise ValueError(f"{self!r} expects {self.input_size} input features (last axis), got {input_shape[-1]}")
        features = self.num_directions * self.output_size
        return (input_shape[0], features) if self.return_sequences else (features,)

    def output_lengths(self, lengths: Optional[np.ndarray], steps: int) -> Optional[np.ndarray]:
        return lengths if self.return_sequences else None

    def config(self) -> Dict[str, Any]:
        return {
            "input_size": self.input_size, "hidden_size": self.hidden_size, "num_layers": self.num_layers,
            "bidirectional": self.bidirectional, "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout, "return_sequences": self.return_sequences,
            "batch_first": self.batch_first, "dtype": self.dtype.name, "init": self.init, **self.cell_options,
        }

    def reset_states(self) -> None:
        """Forget the carried state: the next stateful forward starts from zeros."""
        self._carried = None

    # ---- forward / backward -------------------------------------------------------------------

    def _run(self, x: Array, initial: Dict[str, Optional[Array]], training: bool,
             lengths: Optional[np.ndarray]) -> Array:
        check_array("x", x, self.dtype, (None, None, self.input_size))
        batch, steps = (x.shape[0], x.shape[1]) if self.batch_first else (x.shape[1], x.shape[0])
        if batch == 0 or steps == 0:
            raise ValueError(f"x must have at least one sequence and one time step, got shape {x.shape}")
        lengths = check_lengths(lengths, batch, steps)
        if lengths is not None and np.all(lengths == steps):
            lengths = None  # nothing is padded: the plain kernel call is the same computation
        state_shapes = {name: (self.num_states, batch, self._state_size(name)) for name in self.state_names}
        for name, state_shape in state_shapes.items():
            if initial[name] is not None:
                check_array(f"{name}0", initial[name], self.dtype, state_shape)
            elif self.stateful and self._carried is not None and self._carried[name].shape == state_shape:
                initial[name] = self._carried[name]

        features = self.output_size
        record = _Record(batch, steps, lengths)
        finals = {name: np.empty(state_shapes[name], self.dtype) for name in self.state_names}
        layer_input = np.ascontiguousarray(x.transpose(1, 0, 2)) if self.batch_first else x
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(self.num_directions):
                state = layer * self.num_directions + direction
                sequence = layer_input if direction == 0 else reverse_in_length(layer_input, lengths)
                mask = self._draw_mask((batch, features), self.recurrent_dropout) if training else None
                y, final, cache = self._cell_forward(
                    sequence, self._weights(state),
                    [None if initial[name] is None else initial[name][state] for name in self.state_names],
                    training=training, lengths=lengths, recurrent_mask=mask,
                )
                outputs.append(y if direction == 0 else reverse_in_length(y, lengths))
                for name, value in zip(self.state_names, final):
                    finals[name][state] = value
                record.caches.append(cache)
                record.recurrent_masks.append(mask)
            layer_output = outputs[0] if self.num_directions == 1 else np.concatenate(outputs, axis=-1)
            between = training and layer < self.num_layers - 1
            dropout_mask = self._draw_mask(layer_output.shape, self.dropout) if between else None
            if dropout_mask is not None:
                layer_output = layer_output * dropout_mask
            record.dropout_masks.append(dropout_mask)
            layer_input = layer_output

        self.final_states = finals
        if self.stateful:
            self._carried = {name: value.copy() for name, value in finals.items()}
        self._record = record if training else None
        if self.return_sequences:
            output = np.ascontiguousarray(layer_input.transpose(1, 0, 2)) if self.batch_first else layer_input
        else:
            # The last layer's final hidden states, [forward | reverse]: h at each sequence's length.
            last = finals[self.state_names[0]][self.num_states - self.num_directions:]
            output = np.ascontiguousarray(np.concatenate(list(last), axis=-1))
        self._output_shape = output.shape
        return output

    def _draw_mask(self, shape: Tuple[int, ...], rate: float) -> Optional[Array]:
        """Inverted dropout: keep with probability 1 - rate, scaled by 1/(1 - rate) so E[mask] = 1."""
        if rate == 0.0:
            return None
        return ((self.rng.random(shape) >= rate) / (1.0 - rate)).astype(self.dtype)

    def _backprop(self, dy: Optional[Array], dfinal: Dict[str, Optional[Array]], input_grad: bool = True
                  ) -> Optional[Array]:
        record = self._record
        need_record(self, record)
        assert record is not None and self._output_shape is not None
        state_shapes = {name: (self.num_states, record.batch, self._state_size(name)) for name in self.state_names}
        for name, state_shape in state_shapes.items():
            if dfinal[name] is not None:
                check_array(f"d{name}_n", dfinal[name], self.dtype, state_shape)
        hidden, lengths = self.output_size, record.lengths  # features of h per direction
        d_output: Optional[Array] = None  # gradient of the current layer's output, time-major
        d_last_hidden: Optional[Array] = None  # (B, dirs*H), return_sequences=False
        if dy is not None:
            check_dy(dy, OutputSpec(self._output_shape, self.dtype))
            if not self.return_sequences:
                d_last_hidden = dy
            else:
                d_output = dy.transpose(1, 0, 2) if self.batch_first else dy

        initial_grads = {name: np.empty(state_shapes[name], self.dtype) for name in self.state_names}
        for layer in reversed(range(self.num_layers)):
            mask = record.dropout_masks[layer]
            if d_output is not None and mask is not None:
                d_output = d_output * mask
            d_input: Optional[Array] = None
            for direction in range(self.num_directions):
                state = layer * self.num_directions + direction
                dy_direction = None if d_output is None else d_output[..., direction * hidden:(direction + 1) * hidden]
                if dy_direction is not None and direction == 1:
                    dy_direction = reverse_in_length(dy_direction, lengths)
                d_states = [None if dfinal[name] is None else dfinal[name][state] for name in self.state_names]
                if d_last_hidden is not None and layer == self.num_layers - 1:
                    part = d_last_hidden[:, direction * hidden:(direction + 1) * hidden]
                    d_states[0] = part if d_states[0] is None else d_states[0] + part
                # The bottom layer's dx only when the caller wants the input's gradient.
                dx, d_weights, d_initial = self._cell_backward(dy_direction, d_states, record.caches[state],
                                                               input_grad or layer > 0)
                if dx is not None:
                    if direction == 1:
                        dx = reverse_in_length(dx, lengths)
                    d_input = dx if d_input is None else d_input + dx
                for name, grad in d_weights.items():
                    self.grads[self._parameter_name(name, state)] += grad
                for name, grad in zip(self.state_names, d_initial):
                    initial_grads[name][state] = grad
            d_output = d_input
        self.initial_state_grads = initial_grads
        if d_output is None:  # input_grad=False
            return None
        return np.ascontiguousarray(d_output.transpose(1, 0, 2)) if self.batch_first else d_output

    @property
    def recurrent_masks(self) -> List[Optional[Array]]:
        """The (B, H) recurrent dropout masks of the last training forward, per state index."""
        return [] if self._record is None else list(self._record.recurrent_masks)
