"""lstmcore.generate: autoregressive generation from a seed equals re-running the model on the
seed followed by its own earlier outputs (teacher forcing with its own predictions)."""

from __future__ import annotations

import numpy as np
import pytest

import lstmcore
from lstmcore import LSTM, Conv1D, Dense, Embedding, Sequential


def test_generated_steps_are_the_model_fed_its_own_outputs():
    model = Sequential(LSTM(2, 4, num_layers=2, dtype=np.float64, seed=0), Dense(4, 2, dtype=np.float64, seed=1))
    seed = np.random.default_rng(2).standard_normal((3, 5, 2))
    generated = lstmcore.generate(model, seed, steps=4)
    assert generated.shape == (3, 4, 2)
    for k in range(4):
        sequence = np.concatenate([seed, generated[:, :k]], axis=1)
        np.testing.assert_allclose(model(sequence)[:, -1], generated[:, k], rtol=1e-10, atol=1e-12)


def test_token_generation_takes_the_arg_max():
    model = Sequential(Embedding(5, 3, dtype=np.float64, seed=3), LSTM(3, 4, dtype=np.float64, seed=4),
                       Dense(4, 5, dtype=np.float64, seed=5))
    seed = np.array([[1, 2, 3], [4, 0, 0]])
    generated = lstmcore.generate(model, seed, steps=3)
    assert generated.shape == (2, 3) and generated.dtype == seed.dtype
    for k in range(3):
        expected = model(np.concatenate([seed, generated[:, :k]], axis=1))[:, -1].argmax(axis=-1)
        np.testing.assert_array_equal(generated[:, k], expected)


def test_models_that_cannot_step_are_refused():
    with pytest.raises(ValueError, match="layer 0"):
        lstmcore.generate(Sequential(LSTM(2, 2, bidirectional=True), Dense(4, 2)), np.zeros((1, 3, 2), np.float32), 2)
    with pytest.raises(ValueError, match="layer 0"):
        lstmcore.generate(Sequential(Conv1D(2, 2, 1), LSTM(2, 2)), np.zeros((1, 3, 2), np.float32), 2)
    with pytest.raises(ValueError, match="shaped like the inputs"):
        lstmcore.generate(Sequential(LSTM(2, 3)), np.zeros((1, 3, 2), np.float32), 2)
