"""Weight initialisers, all drawn from a caller's numpy Generator (so seeding is explicit).

Draws are made in float64 and rounded to the target dtype, so float32 and float64 models built
from the same seed hold the same values up to rounding.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from ._checks import Array


def uniform(rng: np.random.Generator, shape: tuple, bound: float, dtype: np.dtype) -> Array:
    return rng.uniform(-bound, bound, size=shape).astype(dtype)


def glorot_uniform(rng: np.random.Generator, shape: tuple, fan_in: int, fan_out: int, dtype: np.dtype) -> Array:
    """U(-a, a), a = sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio 2010): keeps activation variance."""
    return uniform(rng, shape, float(np.sqrt(6.0 / (fan_in + fan_out))), dtype)


def orthogonal(rng: np.random.Generator, rows: int, columns: int, dtype: np.dtype) -> Array:
    """A (rows, columns) matrix with orthonormal rows or columns (Saxe et al. 2014).

    QR of a Gaussian matrix, with the signs of R's diagonal folded into Q so that the result is
    uniformly (Haar) distributed rather than biased by the QR convention.
    """
    gaussian = rng.standard_normal((max(rows, columns), min(rows, columns)))
    q, r = np.linalg.qr(gaussian)
    q = q * np.sign(np.diag(r))
    matrix = q if rows >= columns else q.T
    return np.ascontiguousarray(matrix).astype(dtype)


def orthogonal_per_gate(rng: np.random.Generator, gates: int, hidden: int, dtype: np.dtype,
                        columns: Optional[int] = None) -> Array:
    """(gates*H, C): one orthogonal H x C block per gate (C = H unless given: the width of the
    recurrent state, P with a projection), as Keras' recurrent initializer gives each gate."""
    columns = hidden if columns is None else columns
    return np.concatenate([orthogonal(rng, hidden, columns, dtype) for _ in range(gates)], axis=0)
