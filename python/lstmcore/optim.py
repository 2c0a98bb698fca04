"""Optimizers, learning-rate schedules and gradient clipping; PyTorch's update rules, in numpy.

An optimizer updates parameters IN PLACE from gradients, both given as dicts by name
(``model.parameters()``, ``model.gradients()``); its per-parameter state is keyed by those names.
With g the gradient, p the parameter, t the step count (from 1):

    SGD:     g += wd p;  b = mu b + g (b = g at t = 1);  p -= lr (g + mu b if nesterov else b)
    Adam:    g += wd p;  m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2
             p -= lr (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)
    AdamW:   p *= 1 - lr wd  (decoupled decay, Loshchilov & Hutter 2019), then Adam with wd = 0
    RMSprop: v = a v + (1-a) g^2;  s = sqrt(v - gbar^2) if centered (gbar = a gbar + (1-a) g) else sqrt(v)
             p -= lr g / (s + eps), or with momentum  b = mu b + g / (s + eps);  p -= lr b

Schedules change ``optimizer.lr`` once per epoch (fit calls ``on_epoch_end``), as PyTorch's
StepLR, CosineAnnealingLR and ReduceLROnPlateau do.
"""

from __future__ import annotations

import math
from typing import Dict, Optional, Tuple, Union

import numpy as np

from ._checks import Array, flag, non_negative_int, positive_float, positive_int, probability

Parameters = Dict[str, Array]


class Optimizer:
    def __init__(self, lr: float, weight_decay: float = 0.0) -> None:
        self.lr = positive_float("lr", lr)
        self.weight_decay = positive_float("weight_decay", weight_decay, allow_zero=True)
        self.state: Dict[str, Dict[str, Array]] = {}
        self.steps = 0

    def step(self, parameters: Parameters, gradients: Parameters) -> None:
        """One update of every parameter from the gradient of the same name (in place).

        Everything is checked before any parameter changes: every parameter and gradient is a
        numpy array, each gradient has its parameter's shape and dtype, and a parameter this
        optimizer has stepped before still has the shape and dtype of its state (a changed model
        needs a new optimizer).
        """
        if not isinstance(parameters, dict) or not isinstance(gradients, dict):
            raise TypeError("parameters and gradients must be dicts of arrays by name (model.parameters(), model.gradients())")
        if set(parameters) != set(gradients):
            raise ValueError(f"parameters and gradients must have the same names; differ in "
                             f"{sorted(set(parameters) ^ set(gradients))}")
        for name, value in parameters.items():
            gradient = gradients[name]
            if not isinstance(value, np.ndarray) or value.dtype.kind != "f":
                raise TypeError(f"parameter {name!r} must be a floating numpy.ndarray (updated in place), "
                                f"got {getattr(value, 'dtype', type(value).__name__)}")
            if not isinstance(gradient, np.ndarray):
                raise TypeError(f"gradient {name!r} must be a numpy.ndarray, got {type(gradient).__name__}")
            if gradient.shape != value.shape:
                raise ValueError(f"gradient {name!r} has shape {gradient.shape}, its parameter {value.shape}")
            if gradient.dtype != value.dtype:
                raise TypeError(f"gradient {name!r} has dtype {gradient.dtype}, its parameter {value.dtype}")
            for key, moment in self.state.get(name, {}).items():
                # The state was built for the parameter of earlier steps; numpy would broadcast or
                # cast a changed one into a wrong update, or fail mid-step with half the model updated.
                if moment.shape != value.shape or moment.dtype != value.dtype:
                    error = ValueError if moment.shape != value.shape else TypeError
                    raise error(f"parameter {name!r} is {value.dtype}{value.shape}, but this optimizer's {key!r} "
                                f"state for it is {moment.dtype}{moment.shape}: the model changed since the "
                                f"last step; use a new optimizer")
        self.steps += 1
        for name, value in parameters.items():
            self._update(value, gradients[name], self.state.setdefault(name, {}))

    def _update(self, parameter: Array, gradient: Array, state: Dict[str, Array]) -> None:
        raise NotImplementedError

    def config(self) -> Dict[str, object]:
        return {"lr": self.lr, "weight_decay": self.weight_decay}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.config().items())})"


class SGD(Optimizer):
    def __init__(self, lr: float = 0.01, momentum: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0) -> None:
        super().__init__(lr, weight_decay)
        self.momentum = probability("momentum", momentum)
        self.nesterov = flag("nesterov", nesterov)
        if self.nesterov and self.momentum == 0:
            raise ValueError("nesterov=True needs momentum > 0")

    def _update(self, parameter: Array, gradient: Array, state: Dict[str, Array]) -> None:
        if self.weight_decay:
            gradient = gradient + self.weight_decay * parameter
        if self.momentum:
            if "velocity" not in state:
                state["velocity"] = gradient.copy()
            else:
                state["velocity"] *= self.momentum
                state["velocity"] += gradient
            gradient = gradient + self.momentum * state["velocity"] if self.nesterov else state["velocity"]
        parameter -= self.lr * gradient

    def config(self) -> Dict[str, object]:
        return {**super().config(), "momentum": self.momentum, "nesterov": self.nesterov}


class Adam(Optimizer):
    decoupled = False

    def __init__(self, lr: float = 0.001, betas: Tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0) -> None:
        super().__init__(lr, weight_decay)
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"betas must be a pair of floats in [0, 1), got {betas!r}")
        self.betas = (probability("betas[0]", betas[0]), probability("betas[1]", betas[1]))
        self.eps = positive_float("eps", eps)

    def _update(self, parameter: Array, gradient: Array, state: Dict[str, Array]) -> None:
        beta1, beta2 = self.betas
        if self.weight_decay and self.decoupled:
            parameter *= 1 - self.lr * self.weight_decay
        elif self.weight_decay:
            gradient = gradient + self.weight_decay * parameter
        if "mean" not in state:
            state["mean"], state["square"] = np.zeros_like(parameter), np.zeros_like(parameter)
        mean, square = state["mean"], state["square"]
        mean *= beta1
        mean += (1 - beta1) * gradient
        square *= beta2
        square += (1 - beta2) * gradient * gradient
        # Bias corrections: the moments start at zero, so early averages are too small by these factors.
        mean_correction, square_correction = 1 - beta1 ** self.steps, 1 - beta2 ** self.steps
        parameter -= (self.lr / mean_correction) * mean / (np.sqrt(square) / math.sqrt(square_correction) + self.eps)

    def config(self) -> Dict[str, object]:
        return {**super().config(), "betas": self.betas, "eps": self.eps}


class AdamW(Adam):
    decoupled = True

    def __init__(self, lr: float = 0.001, betas: Tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.01) -> None:
        super().__init__(lr, betas, eps, weight_decay)


class RMSprop(Optimizer):
    def __init__(self, lr: float = 0.01, alpha: float = 0.99, eps: float = 1e-8, momentum: float = 0.0,
                 centered: bool = False, weight_decay: float = 0.0) -> None:
        super().__init__(lr, weight_decay)
        self.alpha = probability("alpha", alpha)
        self.eps = positive_float("eps", eps)
        self.momentum = probability("momentum", momentum)
        self.centered = flag("centered", centered)

    def _update(self, parameter: Array, gradient: Array, state: Dict[str, Array]) -> None:
        if self.weight_decay:
            gradient = gradient + self.weight_decay * parameter
        if "square" not in state:
            state["square"] = np.zeros_like(parameter)
        square = state["square"]
        square *= self.alpha
        square += (1 - self.alpha) * gradient * gradient
        if self.centered:
            average = state.setdefault("mean", np.zeros_like(parameter))
            average *= self.alpha
            average += (1 - self.alpha) * gradient
            scale = np.sqrt(square - average * average) + self.eps
        else:
            scale = np.sqrt(square) + self.eps
        if self.momentum:
            velocity = state.setdefault("velocity", np.zeros_like(parameter))
            velocity *= self.momentum
            velocity += gradient / scale
            parameter -= self.lr * velocity
        else:
            parameter -= self.lr * gradient / scale

    def config(self) -> Dict[str, object]:
        return {**super().config(), "alpha": self.alpha, "eps": self.eps, "momentum": self.momentum,
                "centered": self.centered}


OPTIMIZERS = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop}


def get(optimizer: Union[str, Optimizer]) -> Optimizer:
    """An Optimizer from itself or its name ("sgd", "adam", "adamw", "rmsprop"; default settings)."""
    if isinstance(optimizer, Optimizer):
        return optimizer
    if isinstance(optimizer, str) and optimizer.lower() in OPTIMIZERS:
        return OPTIMIZERS[optimizer.lower()]()
    raise ValueError(f"unknown optimizer {optimizer!r}; known: {', '.join(OPTIMIZERS)} (or an Optimizer instance)")


# ---- clipping ---------------------------------------------------------------------------------

def clip_grad_norm(gradients: Parameters, max_norm: float) -> float:
    """Scale all gradients together so their global L2 norm is at most max_norm; return the norm before.

    One norm over every array keeps the update's direction (Pascanu et al. 2013); the 1e-6 is
    PyTorch's, so the clipped norm lands just under max_norm.
    """
    max_norm = positive_float("max_norm", max_norm)
    total = math.sqrt(sum(float(np.sum(np.square(g, dtype=np.float64))) for g in gradients.values()))
    if total > max_norm:
        factor = max_norm / (total + 1e-6)
        for gradient in gradients.values():
            gradient *= factor
    return total


def clip_grad_value(gradients: Parameters, clip_value: float) -> None:
    """Clip every gradient element into [-clip_value, clip_value], in place."""
    clip_value = positive_float("clip_value", clip_value)
    for gradient in gradients.values():
        np.clip(gradient, -clip_value, clip_value, out=gradient)


# ---- schedules --------------------------------------------------------------------------------

class Schedule:
    """Changes ``optimizer.lr`` at the end of each epoch; ``step()`` advances one epoch by hand."""

    def __init__(self, optimizer: Optimizer) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"optimizer must be an lstmcore.optim.Optimizer, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        self.base_lr = optimizer.lr
        self.epoch = 0

    def step(self, metric: Optional[float] = None) -> None:
        self.epoch += 1
        self.optimizer.lr = self._lr(self.epoch)

    def _lr(self, epoch: int) -> float:
        raise NotImplementedError

    def on_epoch_end(self, epoch: int, logs: Dict[str, float]) -> None:
        self.step()


class StepLR(Schedule):
    """lr = base_lr * gamma ** (epoch // step_size)."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        super().__init__(optimizer)
        self.step_size = positive_int("step_size", step_size)
        self.gamma = positive_float("gamma", gamma)

    def _lr(self, epoch: int) -> float:
        return self.base_lr * self.gamma ** (epoch // self.step_size)


class CosineAnnealingLR(Schedule):
    """lr = eta_min + (base_lr - eta_min) (1 + cos(pi epoch / T_max)) / 2 (Loshchilov & Hutter 2017)."""

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0) -> None:  # noqa: N803
        super().__init__(optimizer)
        self.T_max = positive_int("T_max", T_max)
        self.eta_min = positive_float("eta_min", eta_min, allow_zero=True)

    def _lr(self, epoch: int) -> float:
        return self.eta_min + (self.base_lr - self.eta_min) * (1 + math.cos(math.pi * epoch / self.T_max)) / 2


class ReduceLROnPlateau(Schedule):
    """Multiply lr by `factor` when the monitored loss has not improved by a relative `threshold`
    for more than `patience` epochs; then wait `cooldown` epochs.  Monitors val_loss, else loss."""

    def __init__(self, optimizer: Optimizer, factor: float = 0.1, patience: int = 10, threshold: float = 1e-4,
                 cooldown: int = 0, min_lr: float = 0.0) -> None:
        super().__init__(optimizer)
        self.factor = positive_float("factor", factor)
        if self.factor >= 1:
            raise ValueError(f"factor must be < 1, got {self.factor}")
        # Epoch counts: refused unless ints, as EarlyStopping's patience (int(2.9) would be 2).
        self.patience = non_negative_int("patience", patience)
        self.threshold = positive_float("threshold", threshold, allow_zero=True)
        self.cooldown = non_negative_int("cooldown", cooldown)
        self.min_lr = positive_float("min_lr", min_lr, allow_zero=True)
        self.best = math.inf
        self.bad_epochs = 0
        self.cooldown_left = 0

    def step(self, metric: Optional[float] = None) -> None:
        if metric is None:
            raise ValueError("ReduceLROnPlateau.step needs the monitored metric")
        self.epoch += 1
        if metric < self.best * (1 - self.threshold):
            self.best, self.bad_epochs = float(metric), 0
        else:
            self.bad_epochs += 1
        if self.cooldown_left > 0:
            self.cooldown_left -= 1
            self.bad_epochs = 0
        if self.bad_epochs > self.patience:
            self.optimizer.lr = max(self.optimizer.lr * self.factor, self.min_lr)
            self.cooldown_left, self.bad_epochs = self.cooldown, 0

    def on_epoch_end(self, epoch: int, logs: Dict[str, float]) -> None:
        self.step(logs["val_loss"] if "val_loss" in logs else logs["loss"])
