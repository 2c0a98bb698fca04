"""LSTM layer: PyTorch's parameter names and shapes, compute in fast_lstm's fused kernels.

For each time step t, with gate order i, f, g, o (as torch.nn.LSTM):

    gates_t = x_t @ W_ih^T + b_ih + (h_{t-1} * m) @ W_hh^T + b_hh           (B, 4H)
    i_t = sigmoid(gates_t[:, 0H:1H])      f_t = sigmoid(gates_t[:, 1H:2H])
    g_t = tanh(gates_t[:, 2H:3H])         o_t = sigmoid(gates_t[:, 3H:4H])
    c_t = f_t * c_{t-1} + i_t * g_t
    h_t = o_t * tanh(c_t)                 y_t = h_t

m is the recurrent dropout mask (all ones outside training or with recurrent_dropout=0).

Shapes (D = input_size, H = hidden_size, B = batch, T = time steps, S = num_layers * num_directions):
    weight_ih (4H, D) for the first layer, (4H, dirs*H) above; weight_hh (4H, H); bias_ih, bias_hh (4H,)
    x  (B, T, D) if batch_first else (T, B, D);   y (B, T, dirs*H) or (T, B, dirs*H)
    h0, c0, h_n, c_n, dh_n, dc_n, dh0, dc0: (S, B, H), PyTorch's convention.
With proj_size=P: h_t = W_hr (o_t * tanh(c_t)), weight_hr (P, H), weight_hh (4H, P), layers above
the first read dirs*P features, and y, h0, h_n have P features per direction (c stays H).

A single-layer unidirectional LSTM names its parameters weight_ih, weight_hh, bias_ih, bias_hh;
stacked or bidirectional ones use PyTorch's full names (weight_ih_l0, weight_hh_l1_reverse, ...).
The kernels are time-major and take one bias, b = b_ih + b_hh; its gradient db is the gradient
of both b_ih and b_hh.  Stacking, directions, lengths and dropout live in `recurrent.py`.
"""

from __future__ import annotations

from typing import Any, Dict, Literal, Optional, Sequence, Tuple, Union, overload

import numpy as np

import fast_lstm

from .. import init as initialisers
from .._checks import Array, flag
from .base import register
from .recurrent import Recurrent

# Options of the cell variants; passed to the kernels when they accept them.
CELL_OPTIONS = ("peephole", "forget_gate", "couple_input_forget", "cell_activation", "proj_size", "recurrence")
# Layer options whose kernel keyword has another name (the layer holds the array it passes).
_KERNEL_KEYWORDS = {"proj_size": "w_hr"}


def kernel_accepts(function: Any, keyword: str) -> bool:
    """Whether this build of fast_lstm documents `keyword` (features land in the kernels over time)."""
    return f"{keyword}:" in (function.__doc__ or "") or f"{keyword}=" in (function.__doc__ or "")


@register
class LSTM(Recurrent):
    """A stacked, optionally bidirectional LSTM that owns its parameters and their gradients.

    Parameters
    ----------
    input_size, hidden_size : int
        D, features per time step of the input; H, features of each direction's state.
    num_layers : int, default 1
        Stacked layers; layer k > 0 reads the (concatenated) outputs of layer k - 1.
    bidirectional : bool, default False
        Add a reverse direction; outputs concatenate [forward | reverse] along features.
    dropout : float, default 0
        Dropout on the outputs of every layer but the last (PyTorch's meaning), while training.
    recurrent_dropout : float, default 0
        Variational dropout of h_{t-1} in the recurrence: one mask per sequence (Gal & Ghahramani 2016).
    return_sequences : bool, default True
        False: output only the last layer's final hidden state(s), (B, dirs*H) (many-to-one).
    batch_first : bool, default True
        True: x is (B, T, D) (Keras' layout). False: time-major (T, B, D), the kernels' own.
    dtype : float32 (default) or float64
        dtype of the parameters; inputs must have it too (they are refused, not cast).
    init : "glorot_orthogonal" (default) or "uniform"
        "glorot_orthogonal" is Keras': Glorot-uniform W_ih, an orthogonal H x H block per gate in
        W_hh, zero biases except a forget-gate bias of 1 (Jozefowicz et al. 2015).
        "uniform" is PyTorch's default, every parameter ~ U(-1/sqrt(H), 1/sqrt(H)), drawn in float64
        in the order weight_ih, weight_hh, bias_ih, bias_hh per layer and direction, then rounded.
    seed, rng :
        Seed of a fresh generator, or a Generator, for the initial parameters and the dropout masks.
    **cell_options :
        Cell variants by name (see CELL_OPTIONS); refused unless the installed kernels support them.
        peephole=True adds weight_peephole (3, H) = p_i, p_f, p_o to every layer and direction
        (Gers & Schmidhuber 2000); cell_activation="identity" makes h_t = o * c_t;
        forget_gate=False is the 1997 cell (c_t = c_{t-1} + i g) and couple_input_forget=True
        the CIFG cell (f = 1 - i): both hold three gates, i g o, so their weights have 3H rows.
        proj_size=P > 0 adds a projection (LSTMP, PyTorch's proj_size): weight_hr (P, H) per layer
        and direction, h_t = weight_hr (o * tanh(c_t)); h, y and h0/h_n then have P features per
        direction, weight_hh is (4H, P), c stays H wide.
        recurrence="cell": the gates read c_{t-1} through weight_hh in place of h_{t-1} (the
        cell-state recurrence form of the peephole LSTM); the cell input g has no recurrent term,
        so weight_hh's g rows start at zero and get no gradient. Combines with neither
        proj_size nor recurrent_dropout.

    Usage::

        layer = LSTM(8, 16, seed=0)
        y = layer.forward(x, training=True)          # x (B, T, 8) -> y (B, T, 16)
        dx = layer.backward(dy)                      # gradients accumulate into layer.grads
        y, h_n, c_n = layer(x, return_state=True)    # inference; or read layer.h_n, layer.c_n
    """

    gate_count = 4
    state_names = ("h", "c")
    cell_option_names = CELL_OPTIONS

    def _check_cell_options(self, options: Dict[str, Any]) -> Dict[str, Any]:
        options = super()._check_cell_options(options)
        # As Python bools: np.False_ is not False (an `is False` test would miss it), and json,
        # which lstmcore.save writes the config with, refuses numpy's bools.
        for name in ("peephole", "forget_gate", "couple_input_forget"):
            if name in options:
                options[name] = flag(name, options[name])
        if options.get("peephole") is False:
            del options["peephole"]  # the standard cell: nothing to pass or save
        without_forget_gate = not options.get("forget_gate", True)
        if without_forget_gate and options.get("couple_input_forget", False):
            raise ValueError("couple_input_forget=True needs forget_gate=True (it ties f to 1 - i)")
        if (without_forget_gate or options.get("couple_input_forget", False)) and options.get("peephole"):
            raise ValueError("peephole needs a forget gate of its own (forget_gate=True, couple_input_forget=False)")
        # The 1997 cell and CIFG hold three gates, i g o: weights (3H, .).
        self.gate_count = 3 if without_forget_gate or options.get("couple_input_forget", False) else 4
        if options.get("cell_activation", "tanh") not in ("tanh", "identity"):
            raise ValueError(f"cell_activation must be 'tanh' or 'identity', got {options['cell_activation']!r}")
        if "recurrence" in options:
            if options["recurrence"] not in ("hidden", "cell"):
                raise ValueError(f"recurrence must be 'hidden' or 'cell', got {options['recurrence']!r}")
            if options["recurrence"] == "hidden":
                del options["recurrence"]
            elif self.recurrent_dropout or options.get("proj_size", 0):
                raise ValueError("recurrence='cell' combines with neither recurrent_dropout nor proj_size "
                                 "(both act on h_{t-1} in the recurrence, which then reads c_{t-1})")
        if "proj_size" in options:
            size = options["proj_size"]
            if isinstance(size, (bool, np.bool_)) or not isinstance(size, (int, np.integer)) or size < 0:
                raise ValueError(f"proj_size must be an int >= 0 (0: no projection), got {size!r}")
            if size == 0:
                del options["proj_size"]
            else:
                options["proj_size"] = int(size)
        for name in options:
            if not kernel_accepts(fast_lstm.lstm_forward, _KERNEL_KEYWORDS.get(name, name)):
                raise NotImplementedError(f"cell option {name!r} needs a fast_lstm whose lstm_forward takes it; "
                                          f"this build ({fast_lstm.__version__}) does not")
        return options

    @property
    def output_size(self) -> int:
        """Features of h per direction: proj_size with a projection, else hidden_size."""
        return self.cell_options.get("proj_size", self.hidden_size)

    def _cell_input_rows(self) -> slice:
        """Rows of g, the cell input, in the weights: gate order i f g o, or i g o with 3 gates."""
        start = (1 if self.gate_count == 3 else 2) * self.hidden_size
        return slice(start, start + self.hidden_size)

    def _forget_gate_rows(self) -> slice:
        if self.gate_count == 3:  # no forget gate of its own: no bias to open
            return slice(0, 0)
        return slice(self.hidden_size, 2 * self.hidden_size)

    def _initial_parameters(self, layer_input: int) -> Dict[str, Array]:
        parameters = super()._initial_parameters(layer_input)
        if self.cell_options.get("recurrence") == "cell":
            parameters["weight_hh"][self._cell_input_rows()] = 0.0  # g reads no c_{t-1}
        if self.cell_options.get("peephole"):
            # weight_peephole (3, H): p_i, p_f, p_o, drawn after the four standard parameters.
            bound = 1.0 / np.sqrt(self.hidden_size)
            parameters["weight_peephole"] = self.rng.uniform(-bound, bound, (3, self.hidden_size)).astype(self.dtype)
        if "proj_size" in self.cell_options:
            # weight_hr (P, H), drawn last, as PyTorch orders its flat weights.
            shape = (self.output_size, self.hidden_size)
            if self.init == "uniform":
                parameters["weight_hr"] = initialisers.uniform(self.rng, shape, 1.0 / np.sqrt(self.hidden_size),
                                                               self.dtype)
            else:
                parameters["weight_hr"] = initialisers.glorot_uniform(self.rng, shape, shape[1], shape[0], self.dtype)
        return parameters

    def _extra_parameter_names(self) -> Tuple[str, ...]:
        return (("weight_peephole",) if self.cell_options.get("peephole") else ()) + \
            (("weight_hr",) if "proj_size" in self.cell_options else ())

    # ---- the kernel pair ----------------------------------------------------------------------

    def _cell_forward(self, x: Array, weights: Dict[str, Array], states: Sequence[Optional[Array]], *,
                      training: bool, lengths: Optional[np.ndarray], recurrent_mask: Optional[Array]
                      ) -> Tuple[Array, Tuple[Array, ...], Any]:
        options: Dict[str, Any] = dict(self.cell_options)
        if options.pop("peephole", False):
            options["peephole"] = weights["weight_peephole"]
        if options.pop("proj_size", 0):
            options["w_hr"] = weights["weight_hr"]
        # Only new keywords that are in use are passed, so older kernels keep working without them.
        if lengths is not None:
            _require_kernel_keyword("lengths")
            options["lengths"] = lengths
        if recurrent_mask is not None:
            _require_kernel_keyword("recurrent_mask")
            options["recurrent_mask"] = recurrent_mask
        y, h_n, c_n, cache = fast_lstm.lstm_forward(
            x, weights["weight_ih"], weights["weight_hh"], weights["bias_ih"] + weights["bias_hh"],
            states[0], states[1], training=training, **options,
        )
        return y, (h_n, c_n), cache

    def _cell_backward(self, dy: Optional[Array], dfinal: Sequence[Optional[Array]], cache: Any,
                       input_grad: bool = True) -> Tuple[Optional[Array], Dict[str, Array], Tuple[Array, ...]]:
        dx, dw_ih, dw_hh, db, dh0, dc0, *extra = fast_lstm.lstm_backward(dy, dfinal[0], dfinal[1], cache,
                                                                          input_grad=input_grad)
        grads = {"weight_ih": dw_ih, "weight_hh": dw_hh, "bias_ih": db, "bias_hh": db}
        # After the six: dpeephole, then dw_hr, each when the forward pass had it.
        grads.update(zip(self._extra_parameter_names(), extra))
        if self.cell_options.get("recurrence") == "cell":
            dw_hh[self._cell_input_rows()] = 0.0  # the textbook cell has no U_c: keep it zero
        return dx, grads, (dh0, dc0)

    # ---- PyTorch / Keras-style interface ------------------------------------------------------

    @overload
    def forward(self, x: Array, h0: Optional[Array] = ..., c0: Optional[Array] = ..., training: bool = ...,
                *, lengths: Optional[np.ndarray] = ..., return_state: Literal[False] = ...) -> Array: ...

    @overload
    def forward(self, x: Array, h0: Optional[Array] = ..., c0: Optional[Array] = ..., training: bool = ...,
                *, lengths: Optional[np.ndarray] = ..., return_state: Literal[True]) -> Tuple[Array, Array, Array]: ...

    def forward(
        self,
        x: Array,
        h0: Optional[Array] = None,
        c0: Optional[Array] = None,
        training: bool = False,
        *,
        lengths: Optional[np.ndarray] = None,
        return_state: bool = False,
    ) -> Union[Array, Tuple[Array, Array, Array]]:
        """Run the whole sequence; return y, or (y, h_n, c_n) with ``return_state=True`` (Keras' name).

        x is (B, T, D) if batch_first else (T, B, D); h0 and c0 are (S, B, H), zeros when None.
        lengths (B,) ints in [0, T]: past its length a sequence's state is frozen and its outputs are
        zero.  h_n and c_n (S, B, H) are also kept in ``self.h_n`` / ``self.c_n``.  With
        ``training=True`` the pass is recorded for ``backward`` (and dropout is active); any forward
        replaces the previous record, and an inference forward leaves none.
        """
        training, return_state = flag("training", training), flag("return_state", return_state)
        y = self._run(x, {"h": h0, "c": c0}, training, lengths)
        if return_state:
            return y, self.h_n, self.c_n  # type: ignore[return-value]
        return y

    def backward(self, dy: Optional[Array], dh_n: Optional[Array] = None, dc_n: Optional[Array] = None, *,
                 input_grad: bool = True) -> Optional[Array]:
        """Back-propagate through the most recent ``forward(training=True)``; return dx.

        dy has y's shape and dtype (refused otherwise); dh_n and dc_n are (S, B, H); any may be None (zeros).
        ``input_grad=False`` skips dx (returns None): for data, whose gradient nobody reads, it
        saves the first layer's dx GEMM, a sixth of its training step when D = H.
        Parameter gradients are ADDED to ``self.grads`` (call ``zero_grad`` between steps);
        the gradients of h0 and c0 are stored in ``self.dh0`` / ``self.dc0`` (S, B, H).
        The record is kept, so backward may be called again (it accumulates again).
        """
        return self._backprop(dy, {"h": dh_n, "c": dc_n}, flag("input_grad", input_grad))

    @overload
    def __call__(self, x: Array, h0: Optional[Array] = ..., c0: Optional[Array] = ..., *,
                 lengths: Optional[np.ndarray] = ..., return_state: Literal[False] = ...) -> Array: ...

    @overload
    def __call__(self, x: Array, h0: Optional[Array] = ..., c0: Optional[Array] = ..., *,
                 lengths: Optional[np.ndarray] = ..., return_state: Literal[True]) -> Tuple[Array, Array, Array]: ...

    def __call__(self, x: Array, h0: Optional[Array] = None, c0: Optional[Array] = None, *,
                 lengths: Optional[np.ndarray] = None, return_state: bool = False
                 ) -> Union[Array, Tuple[Array, Array, Array]]:
        """Inference: ``forward(x, h0, c0, training=False, ...)``."""
        return self.forward(x, h0, c0, training=False, lengths=lengths, return_state=return_state)

    @property
    def h_n(self) -> Optional[Array]:
        return self.final_states["h"]

    @property
    def c_n(self) -> Optional[Array]:
        return self.final_states["c"]

    @property
    def dh0(self) -> Optional[Array]:
        return self.initial_state_grads["h"]

    @property
    def dc0(self) -> Optional[Array]:
        return self.initial_state_grads["c"]

    def __repr__(self) -> str:
        defaults = {"num_layers": 1, "bidirectional": False, "dropout": 0.0, "recurrent_dropout": 0.0,
                    "return_sequences": True, "init": "glorot_orthogonal"}
        extra = "".join(f", {key}={value!r}" for key, value in self.config().items()
                        if key in defaults and value != defaults[key] or key in self.cell_options)
        return (f"LSTM({self.input_size}, {self.hidden_size}{extra}, batch_first={self.batch_first}, "
                f"dtype={self.dtype.name})")


def _require_kernel_keyword(keyword: str) -> None:
    if not kernel_accepts(fast_lstm.lstm_forward, keyword):
        raise NotImplementedError(
            f"{keyword} needs fast_lstm.lstm_forward(..., {keyword}=...), which this build "
            f"({fast_lstm.__version__}) does not have yet"
        )
