"""Callbacks for fit: hooks called between epochs.  A callback may define any of
``on_train_begin(model)``, ``on_epoch_end(epoch, logs)`` and ``on_train_end(model)``, and stop the
run by setting ``stop_training = True``.  Schedules in lstmcore.optim are callbacks too."""

from __future__ import annotations

import math
from typing import Any, Dict, List, Optional

import numpy as np

from ._checks import flag, non_negative_int, positive_float


class Callback:
    stop_training = False

    def on_train_begin(self, model: Any) -> None:
        pass

    def on_epoch_end(self, epoch: int, logs: Dict[str, float]) -> None:
        pass

    def on_train_end(self, model: Any) -> None:
        pass


class EarlyStopping(Callback):
    """Stop when `monitor` has not improved by more than `min_delta` for `patience` epochs; then,
    with restore_best_weights, put back the weights of the best epoch (in place)."""

    def __init__(self, monitor: str = "val_loss", patience: int = 5, min_delta: float = 0.0,
                 restore_best_weights: bool = True) -> None:
        if not isinstance(monitor, str) or not monitor:
            raise ValueError(f"monitor must be the name of a logged value such as 'val_loss', got {monitor!r}")
        self.monitor = monitor
        self.patience = non_negative_int("patience", patience)
        self.min_delta = positive_float("min_delta", min_delta, allow_zero=True)
        self.restore_best_weights = flag("restore_best_weights", restore_best_weights)
        # "accuracy" improves upwards; losses and errors downwards.
        self.sign = -1.0 if monitor.endswith("accuracy") else 1.0

    def on_train_begin(self, model: Any) -> None:
        self.model = model
        self.best = math.inf
        self.best_epoch: Optional[int] = None
        self.waited = 0
        self.stop_training = False
        self.stopped_epoch: Optional[int] = None
        self._best_weights: Optional[Dict[str, np.ndarray]] = None

    def on_epoch_end(self, epoch: int, logs: Dict[str, float]) -> None:
        if self.monitor not in logs:
            raise ValueError(f"EarlyStopping monitors {self.monitor!r}, which fit does not log; "
                             f"logged: {', '.join(logs)}")
        value = self.sign * logs[self.monitor]
        if value < self.best - self.min_delta:
            self.best, self.best_epoch, self.waited = value, epoch, 0
            if self.restore_best_weights:
                self._best_weights = {name: array.copy() for name, array in self.model.parameters().items()}
        else:
            self.waited += 1
            if self.waited >= self.patience:
                self.stop_training, self.stopped_epoch = True, epoch

    def on_train_end(self, model: Any) -> None:
        if self.restore_best_weights and self._best_weights is not None:
            for name, array in model.parameters().items():
                array[...] = self._best_weights[name]


class History:
    """Per-epoch logs of a fit: ``history["loss"]``, ``history["val_loss"]``, metric names, and
    ``wall_time`` (seconds per epoch, training and validation)."""

    def __init__(self) -> None:
        self.history: Dict[str, List[float]] = {}
        self.epoch: List[int] = []
        self.wall_time: List[float] = []
        self.stopped_early = False

    def append(self, epoch: int, logs: Dict[str, float], seconds: float) -> None:
        self.epoch.append(epoch)
        self.wall_time.append(seconds)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(value)

    def __getitem__(self, key: str) -> List[float]:
        return self.history[key]

    def __repr__(self) -> str:
        last = ", ".join(f"{key}={values[-1]:.4g}" for key, values in self.history.items())
        return f"History({len(self.epoch)} epochs: {last})"
