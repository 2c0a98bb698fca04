"""Losses as forward/backward pairs: ``value = loss.forward(prediction, target, mask=None)``, then
``dprediction = loss.backward()``.  Each is a mean over the counted elements, so its gradient is
per element divided by that count.

``backward`` before any ``forward`` is a RuntimeError.

``mask`` (bool, a leading part of the target's shape: (B,) or (B, T)) says which samples or steps
count; fit derives it from sequence lengths, so padding never reaches a loss or a gradient.

    MSE:   mean (p - y)^2                         d = 2 (p - y) / n
    MAE:   mean |p - y|                           d = sign(p - y) / n
    Huber: mean 0.5 r^2 if |r| <= delta else delta (|r| - delta/2)      d = clip(r, -delta, delta) / n
    CrossEntropy (p are logits over the last axis, y are class ids):
        sum_k w[y_k] * -log softmax(p_k)[y_k] / sum_k w[y_k]   (PyTorch's weighted mean; steps with
        y_k == ignore_index do not count);   d = w[y_k] (softmax(p_k) - onehot(y_k)) / sum_k w[y_k]
"""

from __future__ import annotations

from typing import Dict, Optional, Sequence, Type, Union

import numpy as np

from ._checks import Array, check_integer_array, positive_float


def _check_prediction(prediction: object) -> Array:
    if not isinstance(prediction, np.ndarray) or prediction.dtype.kind != "f":
        raise TypeError(f"prediction must be a floating numpy.ndarray, got {getattr(prediction, 'dtype', type(prediction).__name__)}")
    if prediction.ndim == 0 or prediction.shape[0] == 0:
        raise ValueError(f"prediction must have a non-empty batch axis, got shape {prediction.shape}")
    return prediction


def _check_mask(mask: object, leading_shape: Sequence[int]) -> Optional[np.ndarray]:
    if mask is None:
        return None
    if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_:
        raise TypeError(f"mask must be a bool numpy.ndarray, got {getattr(mask, 'dtype', type(mask).__name__)}")
    if mask.shape != tuple(leading_shape[:mask.ndim]) or mask.ndim == 0:
        raise ValueError(f"mask must have a leading part of the target's shape {tuple(leading_shape)}, got {mask.shape}")
    return mask


def _to_rank(mask: np.ndarray, ndim: int) -> np.ndarray:
    """A leading-shape mask with trailing axes of size 1, to broadcast against a target of ndim axes."""
    return mask.reshape(mask.shape + (1,) * (ndim - mask.ndim))


class Loss:
    name = ""
    _record: Optional[tuple] = None  # what backward needs, kept by forward

    def _recorded(self) -> tuple:
        if self._record is None:
            raise RuntimeError(f"{type(self).__name__}.backward() needs a preceding forward(prediction, target)")
        return self._record

    def counted(self, target: np.ndarray, mask: Optional[np.ndarray]) -> Optional[np.ndarray]:
        """The elements of `target` this loss counts: those `mask` keeps (a leading part of target's
        shape), or None for all. fit scores its metrics on the same elements."""
        return mask

    def forward(self, prediction: Array, target: np.ndarray, mask: Optional[np.ndarray] = None) -> float:
        raise NotImplementedError

    def backward(self) -> Array:
        raise NotImplementedError

    def __call__(self, prediction: Array, target: np.ndarray, mask: Optional[np.ndarray] = None) -> float:
        return self.forward(prediction, target, mask)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class _Elementwise(Loss):
    """Regression losses: a function of the residual r = p - y, averaged over counted elements."""

    def _value(self, residual: Array) -> Array:
        raise NotImplementedError

    def _derivative(self, residual: Array) -> Array:
        raise NotImplementedError

    def forward(self, prediction: Array, target: np.ndarray, mask: Optional[np.ndarray] = None) -> float:
        _check_prediction(prediction)
        if not isinstance(target, np.ndarray) or target.dtype != prediction.dtype:
            raise TypeError(f"target must be a numpy.ndarray of the prediction's dtype {prediction.dtype}, "
                            f"got {getattr(target, 'dtype', type(target).__name__)}")
        if target.shape != prediction.shape:
            raise ValueError(f"target must have the prediction's shape {prediction.shape}, got {target.shape}")
        mask = _check_mask(mask, target.shape)
        weight = np.ones(prediction.shape, prediction.dtype)
        if mask is not None:
            weight = weight * mask.reshape(mask.shape + (1,) * (target.ndim - mask.ndim))
        count = float(weight.sum())
        residual = prediction - target
        self._record = (residual, weight, max(count, 1.0))
        return float(np.sum(self._value(residual) * weight, dtype=np.float64) / max(count, 1.0))

    def backward(self) -> Array:
        residual, weight, count = self._recorded()
        return (self._derivative(residual) * weight / count).astype(residual.dtype)


class MSE(_Elementwise):
    name = "mse"

    def _value(self, residual: Array) -> Array:
        return residual * residual

    def _derivative(self, residual: Array) -> Array:
        return 2 * residual


class MAE(_Elementwise):
    name = "mae"

    def _value(self, residual: Array) -> Array:
        return np.abs(residual)

    def _derivative(self, residual: Array) -> Array:
        return np.sign(residual)


class Huber(_Elementwise):
    name = "huber"

    def __init__(self, delta: float = 1.0) -> None:
        self.delta = positive_float("delta", delta)

    def _value(self, residual: Array) -> Array:
        size = np.abs(residual)
        return np.where(size <= self.delta, 0.5 * residual * residual, self.delta * (size - 0.5 * self.delta))

    def _derivative(self, residual: Array) -> Array:
        return np.clip(residual, -self.delta, self.delta)

    def __repr__(self) -> str:
        return f"Huber(delta={self.delta})"


class CrossEntropy(Loss):
    """Softmax cross-entropy on logits; per sequence (p (B, C), y (B,)) or per step (p (B, T, C), y (B, T))."""

    name = "cross_entropy"

    def __init__(self, class_weights: Optional[Union[Sequence[float], np.ndarray]] = None,
                 ignore_index: Optional[int] = None) -> None:
        if class_weights is not None:
            message = f"class_weights must be a 1-D sequence of non-negative numbers, got {class_weights!r}"
            try:
                weights = np.asarray(class_weights)
            except ValueError:  # a ragged sequence
                raise ValueError(message) from None
            # Numbers only: float('1') would turn a string into a weight, and bools are no weights.
            if weights.dtype.kind not in "iuf":
                raise TypeError(f"class_weights must hold numbers, got {class_weights!r} (dtype {weights.dtype})")
            weights = weights.astype(np.float64)
            if weights.ndim != 1 or weights.size == 0 or not np.all(np.isfinite(weights)) or np.any(weights < 0):
                raise ValueError(message)
            class_weights = weights
        if ignore_index is not None and (isinstance(ignore_index, bool) or not isinstance(ignore_index, (int, np.integer))):
            raise ValueError(f"ignore_index must be None or an int, got {ignore_index!r}")
        self.class_weights: Optional[np.ndarray] = class_weights  # type: ignore[assignment]
        self.ignore_index = ignore_index

    def counted(self, target: np.ndarray, mask: Optional[np.ndarray]) -> Optional[np.ndarray]:
        """What the mask keeps, less the labels equal to ignore_index."""
        if self.ignore_index is None:
            return mask
        counted = target != self.ignore_index
        return counted if mask is None else counted & _to_rank(mask, target.ndim)

    def forward(self, prediction: Array, target: np.ndarray, mask: Optional[np.ndarray] = None) -> float:
        _check_prediction(prediction)
        check_integer_array("target", target)
        classes = prediction.shape[-1]
        if prediction.ndim < 2 or target.shape != prediction.shape[:-1]:
            raise ValueError(f"target must have shape {prediction.shape[:-1]} (the logits' shape without the "
                             f"class axis), got {target.shape}")
        if self.class_weights is not None and self.class_weights.size != classes:
            raise ValueError(f"class_weights has {self.class_weights.size} entries, the logits {classes} classes")
        kept = self.counted(target, _check_mask(mask, target.shape))
        counted = np.ones(target.shape, bool) if kept is None else np.broadcast_to(_to_rank(kept, target.ndim),
                                                                                  target.shape)
        labels = np.where(counted, target, 0)
        if labels.size and (labels.min() < 0 or labels.max() >= classes):
            raise ValueError(f"target must hold class ids in [0, {classes}) (or ignore_index), "
                             f"got {target[counted].min()}..{target[counted].max()}")
        shifted = prediction - prediction.max(axis=-1, keepdims=True)  # exp never overflows
        log_probabilities = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
        picked = np.take_along_axis(log_probabilities, labels[..., np.newaxis], axis=-1)[..., 0]
        weight = (np.ones(target.shape) if self.class_weights is None else self.class_weights[labels]) * counted
        # All steps ignored or padded (a chunk of padding under truncated BPTT): no loss, no gradient.
        total = float(weight.sum()) or 1.0
        self._record = (log_probabilities, labels, weight, total)
        return float(-np.sum(weight * picked, dtype=np.float64) / total)

    def backward(self) -> Array:
        log_probabilities, labels, weight, total = self._recorded()
        gradient = np.exp(log_probabilities)
        np.put_along_axis(gradient, labels[..., np.newaxis],
                          np.take_along_axis(gradient, labels[..., np.newaxis], axis=-1) - 1, axis=-1)
        return (gradient * (weight / total)[..., np.newaxis]).astype(log_probabilities.dtype)

    def __repr__(self) -> str:
        return f"CrossEntropy(class_weights={self.class_weights}, ignore_index={self.ignore_index})"


LOSSES: Dict[str, Type[Loss]] = {"mse": MSE, "mae": MAE, "huber": Huber, "cross_entropy": CrossEntropy}


def get(loss: Union[str, Loss]) -> Loss:
    """A Loss instance from itself or its name ("mse", "mae", "huber", "cross_entropy")."""
    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, str) and loss.lower() in LOSSES:
        return LOSSES[loss.lower()]()
    raise ValueError(f"unknown loss {loss!r}; known: {', '.join(LOSSES)} (or a lstmcore.losses.Loss instance)")
