"""Plain numpy GRU, forward and backward through time, in PyTorch's formulation (torch.nn.GRU).

    x (T, B, D)   w_ih (3H, D)   w_hh (3H, H)   b_ih, b_hh (3H,)   h0 (B, H)   y (T, B, H)   h_n (B, H)

Rows of the weights and biases are the gates r, z, n. For t = 1..T (h_0 = h0):

    gx = x_t w_ih^T + b_ih        gh = (h_{t-1} * mask) w_hh^T + b_hh        (B, 3H) each
    r = sigmoid(gx_r + gh_r)      z = sigmoid(gx_z + gh_z)      n = tanh(gx_n + r * gh_n)
    h_t = (1 - z) * n + z * h_{t-1}

Backward, for t = T..1 from dh = dh_n:

    dh   += dy_t
    da_n  = dh (1 - z)(1 - n^2)    da_z = dh (h_{t-1} - n) z(1 - z)    da_r = da_n gh_n r(1 - r)
    dgx   = [da_r | da_z | da_n]   dgh = [da_r | da_z | da_n * r]
    dx_t = dgx w_ih   dw_ih += dgx^T x_t   db_ih += sum dgx   dw_hh += dgh^T (h_{t-1} * mask)   db_hh += sum dgh
    dh    = dh * z + (dgh w_hh) * mask

With lengths, a sequence past its length keeps its state, has zero outputs, ignores dy and
passes dh through unchanged. Arithmetic is float64 whatever the input dtype.
"""

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from reference import sigmoid


@dataclass
class GruRefCache:
    x: np.ndarray  # (T, B, D)
    w_ih: np.ndarray  # (3H, D)
    w_hh: np.ndarray  # (3H, H)
    hidden: np.ndarray  # (T+1, B, H): hidden[0] = h0, hidden[t] = h_t (frozen past a length)
    gates: np.ndarray  # (T, B, 3H): r, z, n
    hn: np.ndarray  # (T, B, H): gh_n
    mask: np.ndarray  # (B, H)
    running: np.ndarray  # (T, B) bool


def gru_forward_ref(x, w_ih, w_hh, b_ih, b_hh, h0=None, lengths=None, recurrent_mask=None):
    """Returns (y, h_n, cache)."""
    x, w_ih, w_hh, b_ih, b_hh = (np.asarray(a, dtype=np.float64) for a in (x, w_ih, w_hh, b_ih, b_hh))
    T, B, _ = x.shape
    H = w_hh.shape[1]
    h = np.zeros((B, H)) if h0 is None else np.array(h0, dtype=np.float64)
    mask = np.ones((B, H)) if recurrent_mask is None else np.asarray(recurrent_mask, dtype=np.float64)
    running = np.ones((T, B), bool) if lengths is None else np.arange(T)[:, None] < np.asarray(lengths)[None, :]
    y = np.zeros((T, B, H))
    hidden, gates, hn = [h], np.zeros((T, B, 3 * H)), np.zeros((T, B, H))
    for t in range(T):
        gx = x[t] @ w_ih.T + b_ih
        gh = (h * mask) @ w_hh.T + b_hh
        r = sigmoid(gx[:, :H] + gh[:, :H])
        z = sigmoid(gx[:, H:2 * H] + gh[:, H:2 * H])
        n = np.tanh(gx[:, 2 * H:] + r * gh[:, 2 * H:])
        h_new = (1 - z) * n + z * h
        keep = running[t][:, None]
        h = np.where(keep, h_new, h)
        y[t] = np.where(keep, h_new, 0.0)
        hidden.append(h)
        gates[t] = np.concatenate([r, z, n], axis=1)
        hn[t] = gh[:, 2 * H:]
    return y, h, GruRefCache(x, w_ih, w_hh, np.stack(hidden), gates, hn, mask, running)


def gru_backward_ref(dy, dh_n, cache: GruRefCache):
    """Returns (dx, dw_ih, dw_hh, db_ih, db_hh, dh0), all float64."""
    x, w_ih, w_hh = cache.x, cache.w_ih, cache.w_hh
    T, B, _ = x.shape
    H = w_hh.shape[1]
    dh = np.zeros((B, H)) if dh_n is None else np.array(dh_n, dtype=np.float64)
    dy = np.zeros((T, B, H)) if dy is None else np.asarray(dy, dtype=np.float64)
    dx = np.zeros_like(x)
    dw_ih, dw_hh = np.zeros_like(w_ih), np.zeros_like(w_hh)
    db_ih, db_hh = np.zeros(3 * H), np.zeros(3 * H)
    for t in reversed(range(T)):
        keep = cache.running[t][:, None]
        h_prev = cache.hidden[t]
        r, z, n = np.split(cache.gates[t], 3, axis=1)
        total = dh + np.where(keep, dy[t], 0.0)
        da_n = total * (1 - z) * (1 - n * n)
        da_z = total * (h_prev - n) * z * (1 - z)
        da_r = da_n * cache.hn[t] * r * (1 - r)
        dgx = np.where(keep, np.concatenate([da_r, da_z, da_n], axis=1), 0.0)
        dgh = np.where(keep, np.concatenate([da_r, da_z, da_n * r], axis=1), 0.0)
        dx[t] = dgx @ w_ih
        dw_ih += dgx.T @ x[t]
        db_ih += dgx.sum(axis=0)
        dw_hh += dgh.T @ (h_prev * cache.mask)
        db_hh += dgh.sum(axis=0)
        dh = np.where(keep, total * z + (dgh @ w_hh) * cache.mask, dh)
    return dx, dw_ih, dw_hh, db_ih, db_hh, dh


class GruProblem(NamedTuple):
    """Inputs of one forward pass and the upstream gradients (the weights of the test loss
    L = sum(y * dy) + sum(h_n * dh_n))."""

    x: np.ndarray
    w_ih: np.ndarray
    w_hh: np.ndarray
    b_ih: np.ndarray
    b_hh: np.ndarray
    h0: np.ndarray
    dy: np.ndarray
    dh_n: np.ndarray


def random_gru_problem(T, B, D, H, dtype=np.float64, seed=0) -> GruProblem:
    """Seeded; weights like PyTorch's default init U(-1/sqrt(H), 1/sqrt(H)), the rest standard normal."""
    rng = np.random.default_rng(seed)
    k = 1.0 / np.sqrt(H)

    def normal(*shape):
        return rng.standard_normal(shape).astype(dtype)

    def uniform(*shape):
        return rng.uniform(-k, k, shape).astype(dtype)

    return GruProblem(normal(T, B, D), uniform(3 * H, D), uniform(3 * H, H), uniform(3 * H), uniform(3 * H),
                      normal(B, H), normal(T, B, H), normal(B, H))


def gru_loss(y, h_n, problem: GruProblem) -> float:
    return float(np.sum(np.multiply(y, problem.dy, dtype=np.float64)) +
                 np.sum(np.multiply(h_n, problem.dh_n, dtype=np.float64)))
