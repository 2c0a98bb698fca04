"""Argument checks shared by layers, losses, optimizers and fit: refuse, never convert.

Every check raises TypeError (wrong kind or dtype) or ValueError (wrong value or shape) with the
argument's name first, so an error points at the call that caused it before any work is done.
"""

from __future__ import annotations

import operator
from typing import Any, Optional, Sequence, Union

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.floating]
DTypeLike = Union[type, str, np.dtype]

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def positive_int(name: str, value: object) -> int:
    return _int_at_least(name, value, 1, "a positive int")


def non_negative_int(name: str, value: object) -> int:
    return _int_at_least(name, value, 0, "a non-negative int")


def _int_at_least(name: str, value: object, lowest: int, what: str) -> int:
    # bool is an int subclass; LSTM(True, 4) is a bug, not a size of 1.
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be {what}, got {value!r}")
    try:
        number = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise ValueError(f"{name} must be {what}, got {value!r}") from None
    if number < lowest:
        raise ValueError(f"{name} must be {what}, got {number}")
    return number


def flag(name: str, value: object) -> bool:
    """A bool (numpy's too, returned as Python's): bool('False') is True, so a string, None or an
    int would silently pick an option the caller did not mean."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {value!r}")
    return bool(value)


def finite_array(name: str, array: Array) -> Array:
    """Refuse NaN or infinity in data that training would spread into every weight."""
    if array.dtype.kind in "fc" and not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinity (at {np.argwhere(~np.isfinite(array))[0].tolist()})")
    return array


def probability(name: str, value: object, *, allow_one: bool = False) -> float:
    """A float in [0, 1) (dropout rates: p = 1 would divide by zero in the 1/(1-p) scaling)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise ValueError(f"{name} must be a float in [0, 1), got {value!r}")
    number = float(value)
    if not (0.0 <= number < 1.0 or (allow_one and number == 1.0)):
        raise ValueError(f"{name} must be a float in [0, 1), got {number}")
    return number


def positive_float(name: str, value: object, *, allow_zero: bool = False) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise ValueError(f"{name} must be a {'non-negative' if allow_zero else 'positive'} number, got {value!r}")
    number = float(value)
    if not np.isfinite(number) or number < 0 or (number == 0 and not allow_zero):
        raise ValueError(f"{name} must be a {'non-negative' if allow_zero else 'positive'} number, got {number}")
    return number


def float_dtype(name: str, value: DTypeLike) -> np.dtype:
    try:
        dtype = np.dtype(value)
    except TypeError:
        raise ValueError(f"{name} must be float32 or float64, got {value!r}") from None
    if dtype not in FLOAT_DTYPES:
        raise ValueError(f"{name} must be float32 or float64, got {dtype}")
    return dtype


def choice(name: str, value: object, options: Sequence[Any]) -> Any:
    if value not in options:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, options))}; got {value!r}")
    return value


def make_rng(seed: Optional[int], rng: Optional[np.random.Generator]) -> np.random.Generator:
    if seed is not None and rng is not None:
        raise ValueError("give at most one of seed and rng")
    if rng is not None and not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    return rng if rng is not None else np.random.default_rng(seed)


def shape_text(shape: Sequence[Optional[int]]) -> str:
    return "(" + ", ".join("*" if size is None else str(size) for size in shape) + (",)" if len(shape) == 1 else ")")


def check_array(name: str, array: object, dtype: Optional[np.dtype], shape: Sequence[Optional[int]]) -> Array:
    """Refuse an argument of the wrong type, dtype or shape; None in `shape` (or as dtype) = any."""
    if not isinstance(array, np.ndarray):
        wanted = f" of dtype {dtype}" if dtype is not None else ""
        raise TypeError(f"{name} must be a numpy.ndarray{wanted}, got {type(array).__name__}")
    if dtype is not None and array.dtype != dtype:
        raise TypeError(f"{name} must have dtype {dtype} (the layer's dtype), got {array.dtype}")
    if array.ndim != len(shape) or any(want is not None and got != want for got, want in zip(array.shape, shape)):
        raise ValueError(f"{name} must have shape {shape_text(shape)}, got {array.shape}")
    return array


def check_integer_array(name: str, array: object, ndim: Optional[int] = None) -> np.ndarray:
    if not isinstance(array, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray of integers, got {type(array).__name__}")
    if array.dtype.kind not in "iu":
        raise TypeError(f"{name} must have an integer dtype, got {array.dtype}")
    if ndim is not None and array.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {array.shape}")
    return array


def check_lengths(lengths: object, batch: int, steps: int) -> Optional[np.ndarray]:
    """lengths (B,) integers in [0, T], returned as int64 (the one conversion: of the index dtype)."""
    if lengths is None:
        return None
    check_integer_array("lengths", lengths, 1)
    assert isinstance(lengths, np.ndarray)
    if lengths.shape[0] != batch:
        raise ValueError(f"lengths must have shape ({batch},) (one per sequence), got {lengths.shape}")
    if lengths.size and (lengths.min() < 0 or lengths.max() > steps):
        raise ValueError(f"lengths must lie in [0, {steps}] (the time steps of x), got {lengths.min()}..{lengths.max()}")
    return lengths.astype(np.int64)


def step_mask(lengths: Optional[np.ndarray], batch: int, steps: int) -> Optional[np.ndarray]:
    """(B, T) bool, True where step t < lengths[b]; None when every step counts."""
    if lengths is None:
        return None
    return np.arange(steps)[np.newaxis, :] < lengths[:, np.newaxis]
