"""LSTM layer: parameters with PyTorch's names and shapes, compute in fast_lstm's fused kernels.

For each time step t, with gate order i, f, g, o (as torch.nn.LSTM):

    gates_t = x_t @ W_ih^T + b_ih + h_{t-1} @ W_hh^T + b_hh                (B, 4H)
    i_t = sigmoid(gates_t[:, 0H:1H])      f_t = sigmoid(gates_t[:, 1H:2H])
    g_t = tanh(gates_t[:, 2H:3H])         o_t = sigmoid(gates_t[:, 3H:4H])
    c_t = f_t * c_{t-1} + i_t * g_t
    h_t = o_t * tanh(c_t)                 y_t = h_t

Shapes (D = input_size, H = hidden_size, B = batch, T = time steps):
    weight_ih (4H, D), weight_hh (4H, H), bias_ih (4H,), bias_hh (4H,)
    x  (B, T, D) if batch_first else (T, B, D);   y (B, T, H) or (T, B, H)
    h0, c0, h_n, c_n, dh_n, dc_n, dh0, dc0: (S, B, H) with S = num_layers * num_directions,
    which is 1 for this layer; PyTorch's convention, so that stacking and bidirectionality
    add entries along S instead of changing the shape.

The kernels are time-major and take one bias, b = b_ih + b_hh; its gradient db is the
gradient of both b_ih and b_hh.  `_forward_direction` / `_backward_direction` are the one
layer, one direction core that stacked and bidirectional variants will repeat.
"""

from __future__ import annotations

import operator
from typing import Literal, Optional, Sequence, Tuple, Union, overload

import numpy as np
import numpy.typing as npt

import fast_lstm

Array = npt.NDArray[np.floating]
DTypeLike = Union[type, str, np.dtype]

_SUPPORTED_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
PARAMETER_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


def _forward_direction(
    x: Array,
    w_ih: Array,
    w_hh: Array,
    b_ih: Array,
    b_hh: Array,
    h0: Optional[Array],
    c0: Optional[Array],
    *,
    training: bool,
) -> Tuple[Array, Array, Array, Optional[fast_lstm.LstmCache]]:
    """One layer, one direction, time-major: x (T,B,D), h0/c0 (B,H) -> y (T,B,H), h_n, c_n, cache."""
    return fast_lstm.lstm_forward(x, w_ih, w_hh, b_ih + b_hh, h0, c0, training=training)


def _backward_direction(
    dy: Optional[Array],
    dh_n: Optional[Array],
    dc_n: Optional[Array],
    cache: fast_lstm.LstmCache,
) -> Tuple[Array, Array, Array, Array, Array, Array]:
    """Gradients of `_forward_direction`: dy (T,B,H), dh_n/dc_n (B,H) -> dx, dW_ih, dW_hh, db, dh0, dc0."""
    return fast_lstm.lstm_backward(dy, dh_n, dc_n, cache)


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    try:
        number = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise ValueError(f"{name} must be a positive int, got {value!r}") from None
    if number < 1:
        raise ValueError(f"{name} must be a positive int, got {number}")
    return number


def _check_array(name: str, array: object, dtype: np.dtype, shape: Sequence[Optional[int]]) -> Array:
    """Refuse (never convert) an argument of the wrong type, dtype or shape; None in `shape` = any size."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray of dtype {dtype}, got {type(array).__name__}")
    if array.dtype != dtype:
        raise TypeError(f"{name} must have dtype {dtype} (the layer's dtype), got {array.dtype}")
    if array.ndim != len(shape) or any(want is not None and got != want for got, want in zip(array.shape, shape)):
        wanted = "(" + ", ".join("*" if want is None else str(want) for want in shape) + ")"
        raise ValueError(f"{name} must have shape {wanted}, got {array.shape}")
    return array


class LSTM:
    """A single-layer, unidirectional LSTM that owns its parameters and their gradients.

    Parameters
    ----------
    input_size : int
        D, features per time step of the input.
    hidden_size : int
        H, features of the hidden and cell state (and of the output).
    batch_first : bool, default True
        True: x is (B, T, D) and y is (B, T, H) (Keras' layout; PyTorch's with batch_first=True).
        False: time-major (T, B, D), the kernels' own layout, which skips two transposed copies.
    dtype : float32 (default) or float64
        dtype of the parameters; inputs must have it too (they are refused, not cast).
    seed : int, optional
        Seed of a fresh ``numpy.random.default_rng`` for the initial parameters.
    rng : numpy.random.Generator, optional
        Generator to draw the initial parameters from instead (advanced by the draw).
        At most one of ``seed`` and ``rng``; with neither, the init is not reproducible.

    Initialisation is PyTorch's default for nn.LSTM: every parameter ~ U(-1/sqrt(H), 1/sqrt(H)),
    drawn in float64 in the order weight_ih, weight_hh, bias_ih, bias_hh and then rounded to
    ``dtype`` (so float32 and float64 layers with the same seed hold the same values up to rounding).

    Usage::

        layer = LSTM(8, 16, seed=0)
        y = layer.forward(x, training=True)          # x (B, T, 8) -> y (B, T, 16)
        dx = layer.backward(dy)                      # gradients accumulate into layer.grads
        y, h_n, c_n = layer(x, return_state=True)    # inference; or read layer.h_n, layer.c_n

    Attributes
    ----------
    weight_ih, weight_hh, bias_ih, bias_hh : ndarray
        The parameters (PyTorch's names and shapes, gate order i, f, g, o).
    grads : dict[str, ndarray]
        Gradient accumulators, same names and shapes; ``backward`` adds to them, ``zero_grad`` zeroes them.
    h_n, c_n : ndarray (1, B, H) or None
        Final hidden and cell state of the most recent ``forward``.
    dh0, dc0 : ndarray (1, B, H) or None
        Gradients of the initial states from the most recent ``backward``.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        batch_first: bool = True,
        dtype: DTypeLike = np.float32,
        seed: Optional[int] = None,
        rng: Optional[np.random.Generator] = None,
    ) -> None:
        self.input_size = _positive_int("input_size", input_size)
        self.hidden_size = _positive_int("hidden_size", hidden_size)
        try:
            self.dtype = np.dtype(dtype)
        except TypeError:
            raise ValueError(f"dtype must be float32 or float64, got {dtype!r}") from None
        if self.dtype not in _SUPPORTED_DTYPES:
            raise ValueError(f"dtype must be float32 or float64, got {self.dtype}")
        if seed is not None and rng is not None:
            raise ValueError("give at most one of seed and rng")
        if rng is not None and not isinstance(rng, np.random.Generator):
            raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        self.batch_first = bool(batch_first)
        # Entries along the first axis of h0/c0/h_n/c_n (num_layers * num_directions).
        self.num_states = 1

        generator = rng if rng is not None else np.random.default_rng(seed)
        bound = 1.0 / np.sqrt(self.hidden_size)

        def uniform(*shape: int) -> Array:
            return generator.uniform(-bound, bound, size=shape).astype(self.dtype)

        four_h = 4 * self.hidden_size
        self.weight_ih: Array = uniform(four_h, self.input_size)
        self.weight_hh: Array = uniform(four_h, self.hidden_size)
        self.bias_ih: Array = uniform(four_h)
        self.bias_hh: Array = uniform(four_h)
        self.grads: dict[str, Array] = {
            name: np.zeros_like(getattr(self, name)) for name in PARAMETER_NAMES
        }

        self.h_n: Optional[Array] = None
        self.c_n: Optional[Array] = None
        self.dh0: Optional[Array] = None
        self.dc0: Optional[Array] = None
        self._cache: Optional[fast_lstm.LstmCache] = None
        self._y_shape: Optional[Tuple[int, ...]] = None

    # ---- parameters ---------------------------------------------------------------------------

    def parameters(self) -> dict[str, Array]:
        """The parameter arrays by name (the live arrays, not copies: update them in place)."""
        return {name: getattr(self, name) for name in PARAMETER_NAMES}

    def gradients(self) -> dict[str, Array]:
        """The gradient accumulators by name (the live arrays of ``self.grads``)."""
        return {name: self.grads[name] for name in PARAMETER_NAMES}

    def zero_grad(self) -> None:
        """Set every gradient accumulator to zero, in place (references held elsewhere stay valid)."""
        for grad in self.grads.values():
            grad.fill(0)

    # ---- forward / backward -------------------------------------------------------------------

    @overload
    def forward(
        self, x: Array, h0: Optional[Array] = ..., c0: Optional[Array] = ..., training: bool = ...,
        *, return_state: Literal[False] = ...,
    ) -> Array: ...

    @overload
    def forward(
        self, x: Array, h0: Optional[Array] = ..., c0: Optional[Array] = ..., training: bool = ...,
        *, return_state: Literal[True],
    ) -> Tuple[Array, Array, Array]: ...

    def forward(
        self,
        x: Array,
        h0: Optional[Array] = None,
        c0: Optional[Array] = None,
        training: bool = False,
        *,
        return_state: bool = False,
    ) -> Union[Array, Tuple[Array, Array, Array]]:
        """Run the whole sequence; return y, or (y, h_n, c_n) with ``return_state=True`` (Keras' name).

        x is (B, T, D) if batch_first else (T, B, D); h0 and c0 are (1, B, H), zeros when None.
        h_n and c_n (1, B, H) are also kept in ``self.h_n`` / ``self.c_n``.  With ``training=True``
        the pass is recorded for ``backward``; any forward replaces the previous record, and an
        inference forward leaves none (``backward`` then raises).
        """
        _check_array("x", x, self.dtype, (None, None, self.input_size))
        batch, steps = (x.shape[0], x.shape[1]) if self.batch_first else (x.shape[1], x.shape[0])
        if batch == 0 or steps == 0:
            raise ValueError(f"x must have at least one sequence and one time step, got shape {x.shape}")
        state_shape = (self.num_states, batch, self.hidden_size)
        h0_direction = None if h0 is None else _check_array("h0", h0, self.dtype, state_shape)[0]
        c0_direction = None if c0 is None else _check_array("c0", c0, self.dtype, state_shape)[0]

        x_time_major = np.ascontiguousarray(x.transpose(1, 0, 2)) if self.batch_first else x
        y, h_n, c_n, cache = _forward_direction(
            x_time_major, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh,
            h0_direction, c0_direction, training=bool(training),
        )
        if self.batch_first:
            y = np.ascontiguousarray(y.transpose(1, 0, 2))
        self.h_n, self.c_n = h_n[np.newaxis], c_n[np.newaxis]
        self._cache = cache if training else None
        self._y_shape = y.shape
        if return_state:
            return y, self.h_n, self.c_n
        return y

    def backward(
        self,
        dy: Optional[Array],
        dh_n: Optional[Array] = None,
        dc_n: Optional[Array] = None,
    ) -> Array:
        """Back-propagate through the most recent ``forward(training=True)``; return dx.

        dy has y's shape; dh_n and dc_n are (1, B, H); any of them may be None (zeros).
        Parameter gradients are ADDED to ``self.grads`` (call ``zero_grad`` between steps);
        the gradients of h0 and c0 are stored in ``self.dh0`` / ``self.dc0`` (1, B, H).
        The record is kept, so backward may be called again (it accumulates again).
        """
        if self._cache is None:
            raise RuntimeError("LSTM.backward() needs a preceding forward(..., training=True)")
        assert self._y_shape is not None
        batch = self._y_shape[0] if self.batch_first else self._y_shape[1]
        state_shape = (self.num_states, batch, self.hidden_size)
        if dy is not None:
            _check_array("dy", dy, self.dtype, self._y_shape)
            if self.batch_first:
                dy = np.ascontiguousarray(dy.transpose(1, 0, 2))
        dh_n_direction = None if dh_n is None else _check_array("dh_n", dh_n, self.dtype, state_shape)[0]
        dc_n_direction = None if dc_n is None else _check_array("dc_n", dc_n, self.dtype, state_shape)[0]

        dx, dw_ih, dw_hh, db, dh0, dc0 = _backward_direction(dy, dh_n_direction, dc_n_direction, self._cache)
        self.grads["weight_ih"] += dw_ih
        self.grads["weight_hh"] += dw_hh
        self.grads["bias_ih"] += db
        self.grads["bias_hh"] += db
        self.dh0, self.dc0 = dh0[np.newaxis], dc0[np.newaxis]
        if self.batch_first:
            dx = np.ascontiguousarray(dx.transpose(1, 0, 2))
        return dx

    @overload
    def __call__(
        self, x: Array, h0: Optional[Array] = ..., c0: Optional[Array] = ...,
        *, return_state: Literal[False] = ...,
    ) -> Array: ...

    @overload
    def __call__(
        self, x: Array, h0: Optional[Array] = ..., c0: Optional[Array] = ...,
        *, return_state: Literal[True],
    ) -> Tuple[Array, Array, Array]: ...

    def __call__(
        self,
        x: Array,
        h0: Optional[Array] = None,
        c0: Optional[Array] = None,
        *,
        return_state: bool = False,
    ) -> Union[Array, Tuple[Array, Array, Array]]:
        """Inference: ``forward(x, h0, c0, training=False, return_state=return_state)``."""
        return self.forward(x, h0, c0, training=False, return_state=return_state)

    def __repr__(self) -> str:
        return (
            f"LSTM({self.input_size}, {self.hidden_size}, batch_first={self.batch_first}, "
            f"dtype={self.dtype.name})"
        )
