"""Layers: one file per layer kind, forward and backward together."""

from .base import Layer
from .conv import Conv1D
from .dense import Dense
from .dropout import Dropout
from .embedding import Embedding
from .gru import GRU
from .lstm import LSTM
from .pooling import MaxPool1D
from .reshape import Flatten, RepeatVector
from .sequential import Sequential
from .time_distributed import TimeDistributed

__all__ = ["Conv1D", "Dense", "Dropout", "Embedding", "Flatten", "GRU", "LSTM", "Layer", "MaxPool1D",
           "RepeatVector", "Sequential", "TimeDistributed"]
