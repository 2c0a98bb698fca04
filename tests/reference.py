"""Plain numpy LSTM, forward and backward through time: the reference the kernels are tested against.

Shapes and gate order are those of fast_lstm (and of PyTorch's nn.LSTM with batch_first=False):

    x (T, B, D)    w_ih (4H, D)    w_hh (4H, H)    b (4H,) = b_ih + b_hh    h0, c0 (B, H)
    y (T, B, H)    h_n, c_n (B, H)

The rows of w_ih, w_hh and b are the four gates stacked in the order i, f, g, o.

Forward, for t = 1..T (h_0 = h0, c_0 = c0):

    a_t = x_t w_ih^T + h_{t-1} w_hh^T + b             pre-activations (B, 4H) = [a_i | a_f | a_g | a_o]
    i = sigmoid(a_i)    f = sigmoid(a_f)    g = tanh(a_g)    o = sigmoid(a_o)
    c_t = f * c_{t-1} + i * g
    h_t = o * tanh(c_t)                                y_t = h_t;  h_n = h_T,  c_n = c_T

Backward, for t = T..1, starting from dh = dh_n and dc = dc_n (None means zeros):

    dh   = dy_t + dh                                   dL/dh_t
    dc   = dc + dh * o * (1 - tanh(c_t)^2)             dL/dc_t
    di = dc * g    df = dc * c_{t-1}    dg = dc * i    do = dh * tanh(c_t)
    da = [di * i(1-i) | df * f(1-f) | dg * (1-g^2) | do * o(1-o)]      dL/da_t (B, 4H)
    dx_t = da w_ih      dw_ih += da^T x_t      dw_hh += da^T h_{t-1}      db += sum over batch of da
    dh = da w_hh        dc = dc * f                    carried to t-1; after t = 1 they are dh0, dc0

All arithmetic is float64 whatever the input dtype, so a float32 kernel is compared with the
(nearly) exact result for its own float32 inputs. Every returned array is float64.
"""

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np


def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


@dataclass
class LstmRefCache:
    """What the backward pass needs from the forward pass (all float64)."""

    x: np.ndarray  # (T, B, D)
    w_ih: np.ndarray  # (4H, D)
    w_hh: np.ndarray  # (4H, H)
    hidden: np.ndarray  # (T+1, B, H): hidden[0] = h0, hidden[t] = h_t
    cell: np.ndarray  # (T+1, B, H): cell[0] = c0, cell[t] = c_t
    gates: np.ndarray  # (T, B, 4H): activated [i | f | g | o] of each step
    mask: np.ndarray  # (B, H): the recurrence reads h_{t-1} * mask (ones without recurrent dropout)
    peephole: object = None  # (3, H) or None
    identity_output: bool = False
    forget: str = "gate"  # "gate" (i f g o), "coupled" (f = 1 - i) or "none" (f = 1): the last two have 3 gates
    cell_recurrence: bool = False  # the gates read c_{t-1} (through w_hh) in place of h_{t-1}
    w_hr: object = None  # (P, H) with a projection: h_t = m_t w_hr^T, m_t = o * act(c_t); hidden is then (T+1, B, P)
    unprojected: object = None  # (T, B, H): m_t of each step, with a projection


def lstm_forward_ref(x, w_ih, w_hh, b, h0=None, c0=None, recurrent_mask=None, peephole=None, identity_output=False,
                     forget_gate=True, couple_input_forget=False, w_hr=None, recurrence="hidden",
                     cell_activation="tanh"):
    """Returns (y, h_n, c_n, cache); h0/c0 None mean zeros.

    recurrent_mask (B, H): variational recurrent dropout, a_t reads h_{t-1} * mask instead of h_{t-1}.
    peephole (3, H): p_i, p_f, p_o; a_i += p_i * c_{t-1}, a_f += p_f * c_{t-1}, a_o += p_o * c_t.
    identity_output, or cell_activation="identity" (the kernel's keyword): h_t = o * c_t instead of o * tanh(c_t).
    forget_gate=False (c_t = c_{t-1} + i g) or couple_input_forget=True (f = 1 - i): the weights
    hold three gates i, g, o, and cache.gates keeps [i | f | g | o] with the derived f.
    w_hr (P, H): a projection (LSTMP): h_t = (o * act(c_t)) w_hr^T has P features; w_hh is (4H, P),
    h0 and the mask (B, P).
    recurrence="cell": a_t reads c_{t-1} @ w_hh^T in place of (h_{t-1} * mask) @ w_hh^T.
    """
    three = not forget_gate or couple_input_forget
    identity_output = identity_output or cell_activation == "identity"
    x, w_ih, w_hh, b = (np.asarray(a, dtype=np.float64) for a in (x, w_ih, w_hh, b))
    T, B, _ = x.shape
    H = w_ih.shape[0] // (3 if three else 4)
    w_hr = None if w_hr is None else np.asarray(w_hr, dtype=np.float64)
    R = H if w_hr is None else w_hr.shape[0]  # features of h
    mask = np.ones((B, R)) if recurrent_mask is None else np.asarray(recurrent_mask, dtype=np.float64)
    p = None if peephole is None else np.asarray(peephole, dtype=np.float64)
    activation = (lambda c: c) if identity_output else np.tanh
    hidden = np.zeros((T + 1, B, R))
    unprojected = np.zeros((T, B, H))
    cell = np.zeros((T + 1, B, H))
    gates = np.zeros((T, B, 4 * H))
    if h0 is not None:
        hidden[0] = h0
    if c0 is not None:
        cell[0] = c0

    for t in range(T):
        recurrent = cell[t] if recurrence == "cell" else hidden[t] * mask
        a = x[t] @ w_ih.T + recurrent @ w_hh.T + b
        if three:  # [a_i | a_g | a_o] -> [a_i | (unused) | a_g | a_o]
            a = np.concatenate([a[:, :H], np.zeros((B, H)), a[:, H:]], axis=1)
        if peephole is not None:  # (not even 0 * c: an infinite c must not become NaN without them)
            a[:, : 2 * H] += np.concatenate([p[0] * cell[t], p[1] * cell[t]], axis=1)
        i = sigmoid(a[:, 0 * H : 1 * H])
        f = (1.0 - i if couple_input_forget else np.ones((B, H))) if three else sigmoid(a[:, 1 * H : 2 * H])
        g = np.tanh(a[:, 2 * H : 3 * H])
        cell[t + 1] = f * cell[t] + i * g
        o = sigmoid(a[:, 3 * H : 4 * H] + (0.0 if peephole is None else p[2] * cell[t + 1]))
        unprojected[t] = o * activation(cell[t + 1])
        hidden[t + 1] = unprojected[t] if w_hr is None else unprojected[t] @ w_hr.T
        gates[t] = np.concatenate([i, f, g, o], axis=1)

    cache = LstmRefCache(x=x, w_ih=w_ih, w_hh=w_hh, hidden=hidden, cell=cell, gates=gates, mask=mask,
                         peephole=p, identity_output=identity_output,
                         forget="gate" if not three else "coupled" if couple_input_forget else "none",
                         w_hr=w_hr, unprojected=unprojected, cell_recurrence=recurrence == "cell")
    return hidden[1:].copy(), hidden[T].copy(), cell[T].copy(), cache


def lstm_backward_ref(dy, dh_n, dc_n, cache):
    """Returns (dx, dw_ih, dw_hh, db, dh0, dc0), then dpeephole when the forward had peepholes and
    dw_hr when it had a projection; dy/dh_n/dc_n None mean zeros."""
    x, w_ih, w_hh, w_hr = cache.x, cache.w_ih, cache.w_hh, cache.w_hr
    T, B, _ = x.shape
    H = cache.cell.shape[2]
    R = cache.hidden.shape[2]
    dy = np.zeros((T, B, R)) if dy is None else np.asarray(dy, dtype=np.float64)
    dh = np.zeros((B, R)) if dh_n is None else np.array(dh_n, dtype=np.float64)
    dc = np.zeros((B, H)) if dc_n is None else np.array(dc_n, dtype=np.float64)

    dx = np.zeros_like(x)
    dw_ih = np.zeros_like(w_ih)
    dw_hh = np.zeros_like(w_hh)
    db = np.zeros(w_ih.shape[0])
    p = cache.peephole
    dp = np.zeros((3, H))
    dw_hr = None if w_hr is None else np.zeros_like(w_hr)
    for t in reversed(range(T)):
        i, f, g, o = np.split(cache.gates[t], 4, axis=1)
        c_prev, c = cache.cell[t], cache.cell[t + 1]
        act, slope = (c, 1.0) if cache.identity_output else (np.tanh(c), 1.0 - np.tanh(c) ** 2)
        dh = dy[t] + dh
        if w_hr is not None:  # h_t = m_t w_hr^T: dh reaches m_t through w_hr
            dw_hr += dh.T @ cache.unprojected[t]
            dh = dh @ w_hr
        da_o = dh * act * o * (1.0 - o)
        dc = dc + dh * o * slope + (0.0 if p is None else da_o * p[2])
        da_i = dc * (g - c_prev if cache.forget == "coupled" else g) * i * (1.0 - i)
        da_f = dc * c_prev * f * (1.0 - f)
        da_g = dc * i * (1.0 - g**2)
        if cache.forget == "gate":
            da = np.concatenate([da_i, da_f, da_g, da_o], axis=1)
        else:
            da = np.concatenate([da_i, da_g, da_o], axis=1)
        if p is not None:
            dp += np.stack([(da_i * c_prev).sum(0), (da_f * c_prev).sum(0), (da_o * c).sum(0)])
        dx[t] = da @ w_ih
        dw_ih += da.T @ x[t]
        db += da.sum(axis=0)
        dc = dc * f if p is None else dc * f + da_i * p[0] + da_f * p[1]
        if cache.cell_recurrence:  # a_t read c_{t-1}: h_{t-1} fed nothing
            dw_hh += da.T @ cache.cell[t]
            dc = dc + da @ w_hh
            dh = np.zeros_like(dh)
        else:
            dw_hh += da.T @ (cache.hidden[t] * cache.mask)
            dh = (da @ w_hh) * cache.mask
    return (dx, dw_ih, dw_hh, db, dh, dc) + ((dp,) if p is not None else ()) + ((dw_hr,) if w_hr is not None else ())


class LstmProblem(NamedTuple):
    """Inputs of one forward pass and the upstream gradients of one backward pass.

    dy, dh_n, dc_n double as the weights of the scalar test loss
    L = sum(y * dy) + sum(h_n * dh_n) + sum(c_n * dc_n), whose gradient backward computes.
    """

    x: np.ndarray  # (T, B, D)
    w_ih: np.ndarray  # (4H, D)
    w_hh: np.ndarray  # (4H, H)
    b: np.ndarray  # (4H,)
    h0: np.ndarray  # (B, H)
    c0: np.ndarray  # (B, H)
    dy: np.ndarray  # (T, B, H)
    dh_n: np.ndarray  # (B, H)
    dc_n: np.ndarray  # (B, H)


def random_lstm_problem(T, B, D, H, dtype=np.float64, seed=0) -> LstmProblem:
    """A seeded random problem; the same seed gives the same numbers (up to rounding) in any dtype.

    Weights are drawn like PyTorch's default init, U(-1/sqrt(H), 1/sqrt(H)); data and
    upstream gradients are standard normal. All arrays are C-contiguous and of `dtype`.
    """
    rng = np.random.default_rng(seed)
    k = 1.0 / np.sqrt(H) if H > 0 else 1.0

    def normal(*shape):
        return rng.standard_normal(shape).astype(dtype)

    def uniform(*shape):
        return rng.uniform(-k, k, shape).astype(dtype)

    return LstmProblem(
        x=normal(T, B, D),
        w_ih=uniform(4 * H, D),
        w_hh=uniform(4 * H, H),
        b=(uniform(4 * H) + uniform(4 * H)).astype(dtype),
        h0=normal(B, H),
        c0=normal(B, H),
        dy=normal(T, B, H),
        dh_n=normal(B, H),
        dc_n=normal(B, H),
    )


def random_projection_problem(T, B, D, H, P, dtype=np.float64, seed=0, gates=4) -> dict:
    """A seeded random problem for any cell option, as a dict of C-contiguous `dtype` arrays: x,
    w_ih (gates*H, D), w_hh (gates*H, P), b, h0 (B, P), c0, w_hr (P, H), peephole (3, H), and the
    upstream gradients dy (T, B, P), dh_n (B, P), dc_n. With P = H, w_hr is simply not used."""
    rng = np.random.default_rng(seed)
    k = 1 / np.sqrt(H)
    arrays = dict(x=rng.standard_normal((T, B, D)), w_ih=rng.uniform(-k, k, (gates * H, D)),
                  w_hh=rng.uniform(-k, k, (gates * H, P)), b=rng.uniform(-k, k, gates * H),
                  h0=rng.standard_normal((B, P)), c0=rng.standard_normal((B, H)),
                  w_hr=rng.uniform(-k, k, (P, H)), peephole=rng.uniform(-0.5, 0.5, (3, H)),
                  dy=rng.standard_normal((T, B, P)), dh_n=rng.standard_normal((B, P)), dc_n=rng.standard_normal((B, H)))
    return {name: value.astype(dtype) for name, value in arrays.items()}


def three_gate_problem(p: LstmProblem) -> LstmProblem:
    """The problem with the f rows of every weight and bias dropped: the gates i, g, o of the
    cells without a forget gate of their own (forget_gate=False, couple_input_forget=True)."""
    H = p.w_hh.shape[1]
    keep = np.r_[0:H, 2 * H : 4 * H]
    return p._replace(w_ih=np.ascontiguousarray(p.w_ih[keep]), w_hh=np.ascontiguousarray(p.w_hh[keep]),
                      b=np.ascontiguousarray(p.b[keep]))


def lstm_loss(y, h_n, c_n, problem: LstmProblem) -> float:
    """The scalar test loss L = sum(y * dy) + sum(h_n * dh_n) + sum(c_n * dc_n), in float64."""
    pairs = [(y, problem.dy), (h_n, problem.dh_n), (c_n, problem.dc_n)]
    return float(sum(np.sum(np.multiply(out, weight, dtype=np.float64)) for out, weight in pairs))


def lstm_forward_variants_ref(x, w_ih, w_hh, b, h0=None, c0=None, lengths=None, recurrent_mask=None):
    """Forward of `lstm_forward_ref` with the kernels' newer options, step by step in float64.

    lengths (B,): past lengths[b] sequence b's state is frozen and its y rows are zero.
    recurrent_mask (B, H): the recurrence reads h_{t-1} * mask (y and h_n are the unmasked h).
    Returns (y, h_n, c_n).
    """
    x, w_ih, w_hh, b = (np.asarray(a, dtype=np.float64) for a in (x, w_ih, w_hh, b))
    T, B, _ = x.shape
    H = w_hh.shape[1]
    h = np.zeros((B, H)) if h0 is None else np.array(h0, dtype=np.float64)
    c = np.zeros((B, H)) if c0 is None else np.array(c0, dtype=np.float64)
    mask = np.ones((B, H)) if recurrent_mask is None else np.asarray(recurrent_mask, dtype=np.float64)
    running = np.ones((T, B), bool) if lengths is None else np.arange(T)[:, None] < np.asarray(lengths)[None, :]
    y = np.zeros((T, B, H))
    for t in range(T):
        a = x[t] @ w_ih.T + (h * mask) @ w_hh.T + b
        i, f, o = (sigmoid(a[:, k * H:(k + 1) * H]) for k in (0, 1, 3))
        g = np.tanh(a[:, 2 * H:3 * H])
        c_new = f * c + i * g
        h_new = o * np.tanh(c_new)
        keep = running[t][:, None]
        c, h = np.where(keep, c_new, c), np.where(keep, h_new, h)
        y[t] = np.where(keep, h_new, 0.0)
    return y, h, c

