"""Layers: one file per layer kind, forward and backward together."""

from .lstm import LSTM

__all__ = ["LSTM"]
