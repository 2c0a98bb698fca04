"""GRU layer: PyTorch's parameter names, shapes and formulation, compute in fast_lstm's fused kernels.

For each time step t, with gate order r, z, n (as torch.nn.GRU, and Keras' GRU(reset_after=True)):

    gx = x_t @ W_ih^T + b_ih                  gh = (h_{t-1} * m) @ W_hh^T + b_hh        (B, 3H) each
    r_t = sigmoid(gx_r + gh_r)                z_t = sigmoid(gx_z + gh_z)
    n_t = tanh(gx_n + r_t * gh_n)
    h_t = (1 - z_t) * n_t + z_t * h_{t-1}     y_t = h_t

m is the recurrent dropout mask (all ones outside training or with recurrent_dropout=0).

Shapes (D = input_size, H = hidden_size, S = num_layers * num_directions):
    weight_ih (3H, D) for the first layer, (3H, dirs*H) above; weight_hh (3H, H); bias_ih, bias_hh (3H,)
    x (B, T, D) if batch_first else (T, B, D);   y (B, T, dirs*H) or (T, B, dirs*H)
    h0, h_n, dh_n, dh0: (S, B, H).

Unlike the LSTM's kernels, the GRU's take both biases: the reset gate scales b_hn alone.
Stacking, directions, lengths and dropout live in `recurrent.py`.
"""

from __future__ import annotations

from typing import Any, Dict, Literal, Optional, Sequence, Tuple, Union, overload

import numpy as np

import fast_lstm

from .._checks import Array, flag
from .base import register
from .recurrent import Recurrent


@register
class GRU(Recurrent):
    """A stacked, optionally bidirectional GRU that owns its parameters and their gradients.

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
        Variational dropout of h_{t-1} in the recurrent product (one mask per sequence); the
        update z * h_{t-1} uses h itself.
    return_sequences : bool, default True
        False: output only the last layer's final hidden state(s), (B, dirs*H) (many-to-one).
    batch_first : bool, default True
        True: x is (B, T, D). False: time-major (T, B, D).
    dtype : float32 (default) or float64
        dtype of the parameters; inputs must have it too.
    init : "glorot_orthogonal" (default) or "uniform"
        "glorot_orthogonal" is Keras': Glorot-uniform W_ih, an orthogonal H x H block per gate in
        W_hh, zero biases. "uniform" is PyTorch's default, U(-1/sqrt(H), 1/sqrt(H)) everywhere.
    seed, rng :
        Seed of a fresh generator, or a Generator, for the initial parameters and the dropout masks.

    Usage::

        layer = GRU(8, 16, seed=0)
        y = layer.forward(x, training=True)          # x (B, T, 8) -> y (B, T, 16)
        dx = layer.backward(dy)                      # gradients accumulate into layer.grads
        y, h_n = layer(x, return_state=True)         # inference; or read layer.h_n
    """

    gate_count = 3
    state_names = ("h",)

    # ---- the kernel pair ----------------------------------------------------------------------

    def _cell_forward(self, x: Array, weights: Dict[str, Array], states: Sequence[Optional[Array]], *,
                      training: bool, lengths: Optional[np.ndarray], recurrent_mask: Optional[Array]
                      ) -> Tuple[Array, Tuple[Array, ...], Any]:
        y, h_n, cache = fast_lstm.gru_forward(
            x, weights["weight_ih"], weights["weight_hh"], weights["bias_ih"], weights["bias_hh"], states[0],
            training=training, lengths=lengths, recurrent_mask=recurrent_mask,
        )
        return y, (h_n,), cache

    def _cell_backward(self, dy: Optional[Array], dfinal: Sequence[Optional[Array]], cache: Any,
                       input_grad: bool = True) -> Tuple[Optional[Array], Dict[str, Array], Tuple[Array, ...]]:
        dx, dw_ih, dw_hh, db_ih, db_hh, dh0 = fast_lstm.gru_backward(dy, dfinal[0], cache, input_grad=input_grad)
        return dx, {"weight_ih": dw_ih, "weight_hh": dw_hh, "bias_ih": db_ih, "bias_hh": db_hh}, (dh0,)

    # ---- PyTorch / Keras-style interface ------------------------------------------------------

    @overload
    def forward(self, x: Array, h0: Optional[Array] = ..., training: bool = ..., *,
                lengths: Optional[np.ndarray] = ..., return_state: Literal[False] = ...) -> Array: ...

    @overload
    def forward(self, x: Array, h0: Optional[Array] = ..., training: bool = ..., *,
                lengths: Optional[np.ndarray] = ..., return_state: Literal[True]) -> Tuple[Array, Array]: ...

    def forward(self, x: Array, h0: Optional[Array] = None, training: bool = False, *,
                lengths: Optional[np.ndarray] = None, return_state: bool = False
                ) -> Union[Array, Tuple[Array, Array]]:
        """Run the whole sequence; return y, or (y, h_n) with ``return_state=True``.

        x is (B, T, D) if batch_first else (T, B, D); h0 is (S, B, H), zeros when None.
        lengths (B,) ints in [0, T]: past its length a sequence's state is frozen and its outputs are
        zero.  h_n (S, B, H) is also kept in ``self.h_n``.  With ``training=True`` the pass is
        recorded for ``backward`` (and dropout is active).
        """
        training, return_state = flag("training", training), flag("return_state", return_state)
        y = self._run(x, {"h": h0}, training, lengths)
        if return_state:
            return y, self.h_n  # type: ignore[return-value]
        return y

    def backward(self, dy: Optional[Array], dh_n: Optional[Array] = None, *, input_grad: bool = True
                 ) -> Optional[Array]:
        """Back-propagate through the most recent ``forward(training=True)``; return dx.

        dy has y's shape and dtype (refused otherwise); dh_n is (S, B, H); either may be None (zeros).
        Parameter gradients are ADDED to ``self.grads``; the gradient of h0 is stored in ``self.dh0`` (S, B, H).
        ``input_grad=False`` skips dx (returns None), as in ``LSTM.backward``.
        """
        return self._backprop(dy, {"h": dh_n}, flag("input_grad", input_grad))

    @overload
    def __call__(self, x: Array, h0: Optional[Array] = ..., *, lengths: Optional[np.ndarray] = ...,
                 return_state: Literal[False] = ...) -> Array: ...

    @overload
    def __call__(self, x: Array, h0: Optional[Array] = ..., *, lengths: Optional[np.ndarray] = ...,
                 return_state: Literal[True]) -> Tuple[Array, Array]: ...

    def __call__(self, x: Array, h0: Optional[Array] = None, *, lengths: Optional[np.ndarray] = None,
                 return_state: bool = False) -> Union[Array, Tuple[Array, Array]]:
        """Inference: ``forward(x, h0, training=False, ...)``."""
        return self.forward(x, h0, training=False, lengths=lengths, return_state=return_state)

    @property
    def h_n(self) -> Optional[Array]:
        return self.final_states["h"]

    @property
    def dh0(self) -> Optional[Array]:
        return self.initial_state_grads["h"]

    def __repr__(self) -> str:
        defaults = {"num_layers": 1, "bidirectional": False, "dropout": 0.0, "recurrent_dropout": 0.0,
                    "return_sequences": True, "init": "glorot_orthogonal"}
        extra = "".join(f", {key}={value!r}" for key, value in self.config().items()
                        if key in defaults and value != defaults[key])
        return (f"GRU({self.input_size}, {self.hidden_size}{extra}, batch_first={self.batch_first}, "
                f"dtype={self.dtype.name})")
