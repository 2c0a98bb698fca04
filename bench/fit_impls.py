"""What test_fit_epoch.py times: one training epoch of a model, in lstmcore and in PyTorch.

The model: LSTM(D -> H, one layer, many-to-one on its last h) + Dense(H -> 1), MSE loss, Adam
(lr 1e-3), at the grid's medium shape (B=64, T=100, D=H=256), over a fixed dataset of 1024
sequences taken in order (no shuffling, no validation, no progress bar): one epoch is 16
optimizer steps.

Both implementations start from the same weights (PyTorch's default initialisation, drawn here
with numpy) and see the same batches in the same order, so they train the same model.  A builder
returns a `lstm_impls.Case` whose `run` is one epoch (the timed call) and whose `output` is the
mean loss over the whole dataset (inference, untimed), for the suite's check that the model is
the one named (its loss before training equals the numpy reference's) and that it trains.  Every
call of `run` trains the same model further, the optimizer state carried over, as the epochs of
one training run do.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

import lstm_impls
from lstm_impls import GRID, TORCH, Case, Shape

SHAPE = GRID["medium"]  # B is the batch size of training
SAMPLES = 1024
LEARNING_RATE = 1e-3
# Batch size of the untimed loss evaluations (inference only; bounds their memory).
EVAL_BATCH = 256

LSTMCORE = lstm_impls._import_peer("lstmcore", "lstmcore")
if LSTMCORE.available:
    LSTMCORE.version = LSTMCORE.module.__version__  # the fast_lstm release it ships with

# Order of the columns in the summary: lstmcore, then its peer.
IMPLS = ("lstmcore", "torch")


def peer_for(impl: str) -> lstm_impls.Peer:
    if impl == "lstmcore":
        return LSTMCORE
    if impl == "torch":
        return TORCH
    raise ValueError(f"unknown implementation {impl!r}")


def epoch_flops(shape: Shape = SHAPE, samples: int = SAMPLES) -> int:
    """Matmul FLOPs of one epoch: an LSTM training step per batch (the Dense's are negligible)."""
    return (samples // shape.B) * lstm_impls.TRAIN_FLOPS_FACTOR * shape.forward_flops()


# ---------------------------------------------------------------------------------------------
# Data and initial weights, shared by both implementations.
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class FitProblem:
    shape: Shape
    x: np.ndarray  # (N, T, D), batch-first like the models
    y: np.ndarray  # (N, 1)
    weight_ih: np.ndarray  # (4H, D)
    weight_hh: np.ndarray  # (4H, H)
    bias_ih: np.ndarray  # (4H,)
    bias_hh: np.ndarray  # (4H,)
    dense_weight: np.ndarray  # (1, H)
    dense_bias: np.ndarray  # (1,)


@functools.lru_cache(maxsize=None)
def fit_problem() -> FitProblem:
    s = SHAPE
    rng = np.random.default_rng(20240601)

    def uniform(bound, *dims):
        return rng.uniform(-bound, bound, size=dims).astype(np.float32)

    # torch.nn.LSTM's and torch.nn.Linear's default ranges: U(-1/sqrt(H), 1/sqrt(H)) for both here.
    bound = 1.0 / np.sqrt(s.H)
    weights = dict(
        weight_ih=uniform(bound, 4 * s.H, s.D),
        weight_hh=uniform(bound, 4 * s.H, s.H),
        bias_ih=uniform(bound, 4 * s.H),
        bias_hh=uniform(bound, 4 * s.H),
        dense_weight=uniform(bound, 1, s.H),
        dense_bias=uniform(bound, 1),
    )
    x = rng.standard_normal((SAMPLES, s.T, s.D), dtype=np.float32)
    # Random targets centred away from zero, so that one epoch lowers the loss by a clear margin
    # (the suite checks that it does) even though there is nothing else to learn.
    y = (1.0 + 0.5 * rng.standard_normal((SAMPLES, 1))).astype(np.float32)
    return FitProblem(shape=s, x=x, y=y, **weights)


@functools.lru_cache(maxsize=None)
def reference_initial_loss() -> float:
    """MSE over the dataset of the untrained model, by the numpy reference LSTM (float64 sum)."""
    p = fit_problem()
    b = p.bias_ih + p.bias_hh
    squared = 0.0
    for start in range(0, SAMPLES, EVAL_BATCH):
        x_batch = p.x[start : start + EVAL_BATCH]
        x_time_major = np.ascontiguousarray(x_batch.transpose(1, 0, 2))  # (T, B, D)
        zeros = np.zeros((len(x_batch), p.shape.H), dtype=np.float32)
        _, hidden, _ = lstm_impls.numpy_lstm_forward(
            x_time_major, p.weight_ih, p.weight_hh, b, zeros, zeros
        )
        prediction = hidden @ p.dense_weight.T + p.dense_bias
        residual = prediction.astype(np.float64) - p.y[start : start + EVAL_BATCH]
        squared += float(np.sum(residual * residual))
    return squared / SAMPLES


# ---------------------------------------------------------------------------------------------
# Builders: the model, its optimizer and the batches are made here, untimed; `run` is one epoch.
# ---------------------------------------------------------------------------------------------


def build_lstmcore(p: FitProblem, threads: int) -> Case:
    lc = LSTMCORE.module
    s = p.shape
    lstm = lc.LSTM(s.D, s.H, return_sequences=False, seed=0)  # batch_first, like the data
    dense = lc.Dense(s.H, 1, seed=0)
    # parameters() hands out the live arrays: overwrite them with the shared initial weights.
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        lstm.parameters()[name][...] = getattr(p, name)
    dense.parameters()["weight"][...] = p.dense_weight
    dense.parameters()["bias"][...] = p.dense_bias
    model = lc.Sequential(lstm, dense)
    optimizer = lc.optim.Adam(lr=LEARNING_RATE)

    def run():
        return lc.fit(model, p.x, p.y, loss="mse", optimizer=optimizer, epochs=1, batch_size=s.B,
                      shuffle=False, progress=False, seed=0)

    def output():
        return np.float64(lc.evaluate(model, p.x, p.y, loss="mse", batch_size=EVAL_BATCH)["loss"])

    return Case(run=run, output=output, info={"isa": lstm_impls.FAST_LSTM.module.isa()})


def build_torch(p: FitProblem, threads: int) -> Case:
    torch = TORCH.module
    s = p.shape
    lstm = torch.nn.LSTM(s.D, s.H, batch_first=True)
    head = torch.nn.Linear(s.H, 1)
    with torch.no_grad():
        for name, value in (("weight_ih_l0", p.weight_ih), ("weight_hh_l0", p.weight_hh),
                            ("bias_ih_l0", p.bias_ih), ("bias_hh_l0", p.bias_hh)):
            getattr(lstm, name).copy_(torch.from_numpy(value))
        head.weight.copy_(torch.from_numpy(p.dense_weight))
        head.bias.copy_(torch.from_numpy(p.dense_bias))
    optimizer = torch.optim.Adam([*lstm.parameters(), *head.parameters()], lr=LEARNING_RATE)
    x, y = torch.from_numpy(p.x), torch.from_numpy(p.y)
    batches = [(x[start : start + s.B], y[start : start + s.B]) for start in range(0, SAMPLES, s.B)]

    def predict(x_batch):
        _, (h_n, _) = lstm(x_batch)
        return head(h_n[-1])

    def run():
        total = 0.0
        for x_batch, y_batch in batches:
            optimizer.zero_grad()
            loss = torch.nn.functional.mse_loss(predict(x_batch), y_batch)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(x_batch)  # the epoch's mean loss, as lstmcore.fit logs it
        return total / SAMPLES

    def output():
        with torch.no_grad():
            starts = range(0, SAMPLES, EVAL_BATCH)
            prediction = torch.cat([predict(x[start : start + EVAL_BATCH]) for start in starts])
            return np.float64(torch.mean((prediction.double() - y.double()) ** 2).item())

    return Case(run=run, output=output)


BUILDERS = {"lstmcore": build_lstmcore, "torch": build_torch}
