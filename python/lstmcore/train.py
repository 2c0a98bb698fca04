"""fit: the training loop.  Everything is checked before the first batch; then per epoch:
shuffle, per batch forward -> loss -> backward -> clip -> optimizer step, then validation,
History, callbacks (early stopping, schedules).  The recurrence itself runs in the kernels.

Truncated BPTT (``tbptt=k``): each batch is cut into chunks of k steps; every chunk is one update,
and the recurrent state flows from chunk to chunk as plain arrays, so gradients stop at chunk
boundaries (stateful Keras, PyTorch's ``h.detach()`` idiom).  It needs per-step targets.

Reproducibility: ``seed`` draws the shuffling order and every dropout mask; with layers built from
seeds too, two fits give identical weights (the kernels are bitwise deterministic).
"""

from __future__ import annotations

import sys
import time
from typing import Any, Dict, Optional, Sequence, Tuple, Union

import numpy as np

from . import losses as losses_module
from . import metrics as metrics_module
from . import optim
from ._checks import check_lengths, finite_array, flag, make_rng, positive_float, positive_int, probability, step_mask
from .callbacks import Callback, EarlyStopping, History
from .layers.base import Layer
from .layers.sequential import Sequential

try:
    from tqdm.auto import tqdm
except ImportError:  # tqdm is a dependency; a broken install still trains, without a bar
    tqdm = None


def _is_terminal(stream: Any) -> bool:
    return bool(getattr(stream, "isatty", lambda: False)())


def _as_model(model: Any) -> Sequential:
    if isinstance(model, Sequential):
        return model
    if isinstance(model, Layer):
        return Sequential(model)
    raise TypeError(f"model must be an lstmcore Sequential or layer, got {type(model).__name__}")


def _check_data(model: Sequential, x: Any, y: Any, lengths: Any, loss: losses_module.Loss,
                names: Tuple[str, str, str]) -> Optional[np.ndarray]:
    """x, y, lengths agree with each other, the model and the loss, and hold no NaN or infinity;
    returns lengths as int64."""
    x_name, y_name, lengths_name = names
    for name, array in ((x_name, x), (y_name, y)):
        if not isinstance(array, np.ndarray):
            raise TypeError(f"{name} must be a numpy.ndarray, got {type(array).__name__}")
        if array.ndim < 1 or array.shape[0] == 0:
            raise ValueError(f"{name} must hold at least one sample, got shape {array.shape}")
    if model.takes_integers:
        if x.dtype.kind not in "iu":
            raise TypeError(f"{x_name} must hold integer token ids (the model starts with an Embedding), got {x.dtype}")
    elif x.dtype != model.dtype:
        raise TypeError(f"{x_name} must have the model's dtype {model.dtype}, got {x.dtype}")
    if len(x) != len(y):
        raise ValueError(f"{x_name} and {y_name} must have the same number of samples, got {len(x)} and {len(y)}")
    try:
        output = model.output_shape(x.shape[1:])
    except ValueError as error:
        raise ValueError(f"{x_name} of shape {x.shape} does not fit the model: {error}") from None
    if isinstance(loss, losses_module.CrossEntropy):
        if y.dtype.kind not in "iu":
            raise TypeError(f"{y_name} must hold integer class ids for cross_entropy, got {y.dtype}")
        expected = output[:-1]
    else:
        if y.dtype != model.dtype:
            raise TypeError(f"{y_name} must have the model's dtype {model.dtype}, got {y.dtype}")
        expected = output
    if len(expected) != y.ndim - 1 or any(e is not None and e != g for e, g in zip(expected, y.shape[1:])):
        raise ValueError(f"{y_name} has per-sample shape {y.shape[1:]}, but the model outputs {output} per sample"
                         + (" (logits: y holds one class id per output row)" if output != expected else ""))
    # One NaN in a batch reaches every weight through the update (the loss, then each gradient):
    # refused here, before the first batch.  Integer ids (tokens, class labels) need no scan.
    finite_array(x_name, x)
    finite_array(y_name, y)
    if lengths is None:
        return None
    if x.ndim < 2:
        raise ValueError(f"{lengths_name} need {x_name} with a time axis")
    try:
        return check_lengths(lengths, x.shape[0], x.shape[1])
    except (TypeError, ValueError) as error:
        raise type(error)(str(error).replace("lengths", lengths_name, 1)) from None


def _output_mask(model: Sequential, prediction: np.ndarray) -> Optional[np.ndarray]:
    lengths = model.output_lengths_
    if lengths is None or prediction.ndim < 3:
        return None
    return step_mask(lengths, prediction.shape[0], prediction.shape[1])


def _metric_logs(loss: losses_module.Loss, metrics: Tuple[str, ...], prediction: np.ndarray, target: np.ndarray,
                 mask: Optional[np.ndarray]) -> Tuple[Dict[str, float], int]:
    """Each metric's value and the number of samples or steps it averaged over (its weight when
    batches are combined: a batch whose labels are all ignored adds nothing)."""
    if not metrics:
        return {}, 0
    counted = loss.counted(target, mask)  # the metrics score what the loss counts
    weight = int(counted.sum()) if counted is not None else int(np.prod(target.shape[:prediction.ndim - 1]))
    return {name: metrics_module.METRICS[name](prediction, target, counted) for name in metrics}, weight


def _update(model: Sequential, loss: losses_module.Loss, optimizer: optim.Optimizer, x: np.ndarray, y: np.ndarray,
            lengths: Optional[np.ndarray], clip_norm: Optional[float], clip_value: Optional[float]
            ) -> Tuple[float, np.ndarray, Optional[np.ndarray]]:
    """One optimizer step on one batch (or chunk); returns the loss, the prediction and its mask."""
    model.zero_grad()
    prediction = model.forward(x, training=True, lengths=lengths)
    mask = _output_mask(model, prediction)
    value = loss.forward(prediction, y, mask)
    model.backward(loss.backward(), input_grad=False)  # x is data: its gradient is never read
    gradients = model.gradients()
    if clip_value is not None:
        optim.clip_grad_value(gradients, clip_value)
    if clip_norm is not None:
        optim.clip_grad_norm(gradients, clip_norm)
    optimizer.step(model.parameters(), gradients)
    return value, prediction, mask


def evaluate(model: Any, x: np.ndarray, y: np.ndarray, *, loss: Union[str, losses_module.Loss],
             batch_size: int = 256, lengths: Optional[np.ndarray] = None, metrics: Optional[Sequence[str]] = ()
             ) -> Dict[str, float]:
    """Loss and metrics of inference predictions over the whole of (x, y), padding excluded (and,
    for the metrics as for the loss, labels equal to the loss's ignore_index).

    Checked as by ``fit``: x and y may hold no NaN or infinity; metrics=None means none.
    """
    model, loss = _as_model(model), losses_module.get(loss)
    batch_size = positive_int("batch_size", batch_size)
    lengths = _check_data(model, x, y, lengths, loss, ("x", "y", "lengths"))
    return _evaluate(model, x, y, lengths, loss, metrics_module.check_names(metrics), batch_size, "")


def _evaluate(model: Sequential, x: np.ndarray, y: np.ndarray, lengths: Optional[np.ndarray],
              loss: losses_module.Loss, metrics: Tuple[str, ...], batch_size: int, prefix: str) -> Dict[str, float]:
    predictions, masks = [], []
    for start in range(0, len(x), batch_size):
        batch_lengths = None if lengths is None else lengths[start:start + batch_size]
        prediction = model.forward(x[start:start + batch_size], training=False, lengths=batch_lengths)
        predictions.append(prediction)
        masks.append(_output_mask(model, prediction))
    prediction = np.concatenate(predictions)
    mask = None if masks[0] is None else np.concatenate(masks)
    logs = {prefix + "loss": loss.forward(prediction, y, mask)}
    values, _ = _metric_logs(loss, metrics, prediction, y, mask)
    logs.update((prefix + name, value) for name, value in values.items())
    return logs


def fit(
    model: Any,
    x: np.ndarray,
    y: np.ndarray,
    *,
    loss: Union[str, losses_module.Loss],
    optimizer: Union[str, optim.Optimizer],
    epochs: int,
    batch_size: int,
    validation_data: Optional[Tuple[np.ndarray, ...]] = None,
    validation_split: float = 0.0,
    shuffle: bool = True,
    early_stopping: Optional[Union[EarlyStopping, int]] = None,
    tbptt: Optional[int] = None,
    clip_norm: Optional[float] = None,
    clip_value: Optional[float] = None,
    seed: Optional[int] = None,
    progress: bool = True,
    callbacks: Optional[Sequence[Any]] = (),
    lengths: Optional[np.ndarray] = None,
    metrics: Optional[Sequence[str]] = (),
) -> History:
    """Train `model` on (x, y) and return its History.

    loss: a name ("mse", "mae", "huber", "cross_entropy") or a lstmcore.losses.Loss.
    optimizer: a name ("sgd", "adam", "adamw", "rmsprop") or a lstmcore.optim.Optimizer.
    validation_data: (x_val, y_val) or (x_val, y_val, lengths_val); or validation_split, the
        fraction of samples held out from the END (chronological, before any shuffling).
    early_stopping: an EarlyStopping, or an int patience on val_loss (on loss without validation).
    tbptt: chunk length k for truncated BPTT.  clip_norm / clip_value: gradient clipping per update.
    lengths: (N,) valid steps of each sequence of x; padding adds nothing to loss or gradients.
    metrics: names from lstmcore.metrics ("accuracy", "mae", "mse"), logged per epoch; None: none.
        They count what the loss counts: padding and labels equal to its ignore_index are left out.
    callbacks: objects with on_train_begin / on_epoch_end / on_train_end (schedules too); None: none.
    progress: a tqdm bar over all batches, shown only when stderr is a terminal.
    seed: a non-negative int (or None: fresh entropy).

    Floating x and y (and validation data) holding NaN or infinity anywhere, padding included, are
    refused with a ValueError: training would spread it into every weight without an error.
    """
    # ---- every check before any work ----------------------------------------------------------
    model = _as_model(model)
    loss = losses_module.get(loss)
    optimizer = optim.get(optimizer)
    epochs = positive_int("epochs", epochs)
    batch_size = positive_int("batch_size", batch_size)
    validation_split = probability("validation_split", validation_split)
    shuffle, progress = flag("shuffle", shuffle), flag("progress", progress)
    metric_names = metrics_module.check_names(metrics)
    lengths = _check_data(model, x, y, lengths, loss, ("x", "y", "lengths"))
    if clip_norm is not None:
        clip_norm = positive_float("clip_norm", clip_norm)
    if clip_value is not None:
        clip_value = positive_float("clip_value", clip_value)
    rng = make_rng(seed, None)  # refuses a negative seed by name; numpy's error would not name it

    if validation_data is not None and validation_split:
        raise ValueError("give validation_data or validation_split, not both")
    val_x = val_y = val_lengths = None
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            raise ValueError("validation_data must be (x_val, y_val) or (x_val, y_val, lengths_val)")
        val_x, val_y = validation_data[0], validation_data[1]
        val_lengths = _check_data(model, val_x, val_y, validation_data[2] if len(validation_data) == 3 else None,
                                  loss, ("validation_data x", "validation_data y", "validation_data lengths"))
    elif validation_split:
        held_out = int(round(len(x) * validation_split))
        if held_out < 1 or held_out >= len(x):
            raise ValueError(f"validation_split={validation_split} leaves no training or no validation "
                             f"samples out of {len(x)}")
        cut = len(x) - held_out
        val_x, val_y = x[cut:], y[cut:]
        val_lengths = None if lengths is None else lengths[cut:]
        x, y = x[:cut], y[:cut]
        lengths = None if lengths is None else lengths[:cut]

    if tbptt is not None:
        tbptt = positive_int("tbptt", tbptt)
        output = model.output_shape(x.shape[1:])
        if x.ndim < 3 or len(output) < 2 or output[0] != x.shape[1]:
            raise ValueError(f"tbptt needs a per-step model output with x's time steps ({x.shape[1:]} -> {output})")
        if any(getattr(layer, "bidirectional", False) for layer in model.recurrent_layers()):
            raise ValueError("tbptt cannot carry state through a bidirectional layer (its reverse direction "
                             "would need the future)")

    if isinstance(early_stopping, bool) or not (early_stopping is None or isinstance(early_stopping, (int, EarlyStopping))):
        raise TypeError(f"early_stopping must be None, an EarlyStopping or an int patience, got {early_stopping!r}")
    if isinstance(early_stopping, int):
        early_stopping = EarlyStopping("val_loss" if val_x is not None else "loss", patience=early_stopping)
    if early_stopping is not None and early_stopping.monitor.startswith("val_") and val_x is None:
        raise ValueError(f"early stopping monitors {early_stopping.monitor!r} but there is no validation data")
    if callbacks is None:
        callbacks = ()
    if isinstance(callbacks, (str, bytes)) or not hasattr(callbacks, "__iter__"):
        raise TypeError(f"callbacks must be None or a sequence of callbacks, got {type(callbacks).__name__}")
    hooks = list(callbacks)
    for hook in hooks:
        if not any(hasattr(hook, name) for name in ("on_train_begin", "on_epoch_end", "on_train_end")):
            raise TypeError(f"callbacks must define on_train_begin, on_epoch_end or on_train_end; got {hook!r}")
    if early_stopping is not None:
        hooks.append(early_stopping)

    # ---- training -----------------------------------------------------------------------------
    if seed is not None:
        model.set_rng(rng.spawn(1)[0])
    batches_per_epoch = -(-len(x) // batch_size)
    bar = None
    if progress and tqdm is not None and _is_terminal(sys.stderr):
        bar = tqdm(total=epochs * batches_per_epoch, unit="batch", file=sys.stderr, leave=True)
    history = History()
    for hook in hooks:
        getattr(hook, "on_train_begin", lambda model: None)(model)
    try:
        for epoch in range(epochs):
            started = time.perf_counter()
            order = rng.permutation(len(x)) if shuffle else np.arange(len(x))
            totals: Dict[str, float] = {}
            weights: Dict[str, int] = {}
            for start in range(0, len(x), batch_size):
                index = order[start:start + batch_size]
                batch_lengths = None if lengths is None else lengths[index]
                step_logs = _train_batch(model, loss, optimizer, x[index], y[index], batch_lengths,
                                         tbptt, clip_norm, clip_value, metric_names)
                for key, (value, weight) in step_logs.items():
                    totals[key] = totals.get(key, 0.0) + value * weight
                    weights[key] = weights.get(key, 0) + weight
                if bar is not None:
                    bar.set_description(f"epoch {epoch + 1}/{epochs}")
                    bar.set_postfix(loss=f"{step_logs['loss'][0]:.4g}", refresh=False)
                    bar.update(1)
            logs = {key: total / max(weights[key], 1) for key, total in totals.items()}
            if val_x is not None:
                logs.update(_evaluate(model, val_x, val_y, val_lengths, loss, metric_names, batch_size, "val_"))
            history.append(epoch, logs, time.perf_counter() - started)
            for hook in hooks:
                getattr(hook, "on_epoch_end", lambda epoch, logs: None)(epoch, logs)
            if any(getattr(hook, "stop_training", False) for hook in hooks):
                history.stopped_early = True
                break
    finally:
        if bar is not None:
            bar.close()
    for hook in hooks:
        getattr(hook, "on_train_end", lambda model: None)(model)
    return history


def _train_batch(model: Sequential, loss: losses_module.Loss, optimizer: optim.Optimizer, x: np.ndarray,
                 y: np.ndarray, lengths: Optional[np.ndarray], tbptt: Optional[int], clip_norm: Optional[float],
                 clip_value: Optional[float], metric_names: Tuple[str, ...]) -> Dict[str, Tuple[float, int]]:
    """One batch's updates; each logged value with its weight in the epoch's mean: the samples for
    the loss, the samples or steps it counted for a metric."""
    if tbptt is None:
        value, prediction, mask = _update(model, loss, optimizer, x, y, lengths, clip_norm, clip_value)
        values, weight = _metric_logs(loss, metric_names, prediction, y, mask)
        return {"loss": (value, len(x)), **{name: (metric, weight) for name, metric in values.items()}}
    # Chunks of tbptt steps; the logged loss weighs each chunk by the steps it counts, each metric
    # by the steps it scored.
    sums: Dict[str, float] = {}
    counted_total = 0
    metric_total = 0
    with model.carrying_state():
        for start in range(0, x.shape[1], tbptt):
            chunk_lengths = None if lengths is None else np.clip(lengths - start, 0, tbptt)
            if chunk_lengths is not None and not chunk_lengths.any():
                break  # every sequence of the batch has ended
            value, prediction, mask = _update(model, loss, optimizer, x[:, start:start + tbptt],
                                              y[:, start:start + tbptt], chunk_lengths, clip_norm, clip_value)
            counted = int(mask.sum()) if mask is not None else prediction.shape[0] * prediction.shape[1]
            sums["loss"] = sums.get("loss", 0.0) + value * counted
            counted_total += counted
            values, weight = _metric_logs(loss, metric_names, prediction, y[:, start:start + tbptt], mask)
            for name, metric in values.items():
                sums[name] = sums.get(name, 0.0) + metric * weight
            metric_total += weight
    logs = {"loss": (sums.get("loss", 0.0) / max(counted_total, 1), len(x))}
    logs.update((name, (sums.get(name, 0.0) / max(metric_total, 1), metric_total)) for name in metric_names)
    return logs
