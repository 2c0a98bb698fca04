"""lstmcore: compose recurrent networks and train them, a thin numpy layer over fast_lstm's kernels.

Layers own their parameters (PyTorch's names and shapes) and gradient accumulators, each with an
explicit forward and backward; the recurrence of whole sequences runs in ``fast_lstm``.
``python -m lstmcore`` runs the demo job.

    model = lstmcore.Sequential(lstmcore.LSTM(8, 32, num_layers=2, bidirectional=True,
                                              return_sequences=False), lstmcore.Dense(64, 3))
    history = lstmcore.fit(model, x, y, loss="cross_entropy", optimizer="adam", epochs=10, batch_size=32)
"""

from fast_lstm import __version__

from . import data, losses, metrics, optim
from .callbacks import Callback, EarlyStopping, History
from .generate import generate
from .io import ModelFileError, load, save
from .layers import (
    GRU, LSTM, Conv1D, Dense, Dropout, Embedding, Flatten, Layer, MaxPool1D, RepeatVector, Sequential, TimeDistributed,
)
from .train import evaluate, fit

__all__ = [
    "Callback", "Conv1D", "Dense", "Dropout", "EarlyStopping", "Embedding", "Flatten", "GRU", "History", "LSTM",
    "Layer",
    "MaxPool1D", "ModelFileError", "RepeatVector", "Sequential", "TimeDistributed", "__version__", "data",
    "evaluate", "fit", "generate", "load", "losses", "metrics", "optim", "save",
]
