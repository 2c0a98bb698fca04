"""Embedding: integer tokens -> rows of a table.  y[b, t] = weight[x[b, t]].

Backward scatters dy into the rows that were read (np.add.at: repeated tokens add up); the row of
``padding_idx`` gets no gradient, as in PyTorch.  There is no gradient for x (integers): None.
Shapes: x (B, T) ints in [0, num_embeddings), weight (num_embeddings, embedding_dim), y (B, T, E).
"""

from __future__ import annotations

from typing import Any, Dict, Optional

import numpy as np

from .._checks import Array, DTypeLike, check_integer_array, flag, float_dtype, make_rng, positive_int
from .base import Layer, OutputSpec, Shape, check_dy, need_record, register


@register
class Embedding(Layer):
    """Initialised N(0, 1), PyTorch's default; the padding row starts at zero."""

    takes_integers = True

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: Optional[int] = None, *,
                 dtype: DTypeLike = np.float32, seed: Optional[int] = None,
                 rng: Optional[np.random.Generator] = None) -> None:
        super().__init__()
        self.num_embeddings = positive_int("num_embeddings", num_embeddings)
        self.embedding_dim = positive_int("embedding_dim", embedding_dim)
        if padding_idx is not None and not (isinstance(padding_idx, (int, np.integer))
                                            and 0 <= padding_idx < self.num_embeddings):
            raise ValueError(f"padding_idx must be None or an int in [0, {self.num_embeddings}), got {padding_idx!r}")
        self.padding_idx = None if padding_idx is None else int(padding_idx)
        self.dtype = float_dtype("dtype", dtype)
        table = make_rng(seed, rng).standard_normal((self.num_embeddings, self.embedding_dim)).astype(self.dtype)
        if self.padding_idx is not None:
            table[self.padding_idx] = 0
        self._add_parameter("weight", table)
        self._tokens: Optional[np.ndarray] = None

    def output_shape(self, input_shape: Shape) -> Shape:
        return (*input_shape, self.embedding_dim)

    def config(self) -> Dict[str, Any]:
        return {"num_embeddings": self.num_embeddings, "embedding_dim": self.embedding_dim,
                "padding_idx": self.padding_idx, "dtype": self.dtype.name}

    def forward(self, x: np.ndarray, training: bool = False) -> Array:
        training = flag("training", training)
        check_integer_array("x", x)
        if x.size and (x.min() < 0 or x.max() >= self.num_embeddings):
            raise ValueError(f"x must hold token ids in [0, {self.num_embeddings}), got {x.min()}..{x.max()}")
        self._tokens = x if training else None
        return self.weight[x]

    def backward(self, dy: Array) -> None:
        need_record(self, self._tokens)
        tokens = self._tokens
        assert tokens is not None
        check_dy(dy, OutputSpec((*tokens.shape, self.embedding_dim), self.dtype))
        keep = slice(None) if self.padding_idx is None else tokens != self.padding_idx
        np.add.at(self.grads["weight"], tokens[keep], dy[keep])
        return None
