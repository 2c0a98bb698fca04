"""lstmcore.Sequential: float64 finite-difference gradients of whole models (stacked, bidirectional,
with lengths, with Conv1D and Dense), shape checks at build time, lengths through time-changing
layers, predict, parameter naming."""

from __future__ import annotations

import numpy as np
import pytest

from lstmcore import LSTM, Conv1D, Dense, Dropout, Embedding, Flatten, Layer, MaxPool1D, RepeatVector, Sequential
from checks import numeric_gradient

F64 = np.float64


def check_model_gradients(model, x, lengths=None, seed=0):
    weights = np.random.default_rng(seed).standard_normal(model(x, lengths=lengths).shape)
    loss = lambda: float(np.sum(model(x, lengths=lengths) * weights))  # noqa: E731
    model.zero_grad()
    model.forward(x, training=True, lengths=lengths)
    dx = model.backward(weights)
    if x.dtype.kind == "f":
        np.testing.assert_allclose(dx, numeric_gradient(loss, x), rtol=1e-5, atol=1e-8, err_msg="x")
    analytic = {name: grad.copy() for name, grad in model.gradients().items()}
    for name, value in model.parameters().items():
        np.testing.assert_allclose(analytic[name], numeric_gradient(loss, value), rtol=1e-5, atol=1e-8, err_msg=name)


def test_cnn_lstm_forecaster_gradients():
    model = Sequential(
        Conv1D(2, 3, 3, padding="causal", activation="tanh", dtype=F64, seed=0),
        MaxPool1D(2),
        LSTM(3, 2, num_layers=2, bidirectional=True, return_sequences=False, dtype=F64, seed=1),
        Dense(4, 2, dtype=F64, seed=2),
    )
    check_model_gradients(model, np.random.default_rng(3).standard_normal((2, 6, 2)))


def test_stacked_bidirectional_per_step_model_with_lengths_gradients():
    model = Sequential(
        LSTM(2, 2, num_layers=2, bidirectional=True, dtype=F64, seed=4),
        Dense(4, 3, activation="tanh", dtype=F64, seed=5),
        LSTM(3, 2, return_sequences=False, dtype=F64, seed=6),
        Dense(2, 1, dtype=F64, seed=7),
    )
    x = np.random.default_rng(8).standard_normal((3, 4, 2))
    check_model_gradients(model, x, lengths=np.array([4, 1, 3]))


def test_one_to_many_and_embedding_models_gradients():
    repeat = Sequential(Dense(3, 2, "tanh", dtype=F64, seed=9), RepeatVector(4), LSTM(2, 2, dtype=F64, seed=10),
                        Dense(2, 1, dtype=F64, seed=11))
    check_model_gradients(repeat, np.random.default_rng(12).standard_normal((2, 3)))
    tokens = Sequential(Embedding(6, 2, dtype=F64, seed=13), LSTM(2, 3, dtype=F64, seed=14), Flatten())
    check_model_gradients(tokens, np.array([[1, 5, 0], [2, 2, 3]]))


def test_lengths_map_through_layers_that_change_time():
    model = Sequential(Conv1D(1, 1, 3, dtype=F64, seed=0), MaxPool1D(2), LSTM(1, 2, dtype=F64, seed=1))
    x = np.random.default_rng(2).standard_normal((3, 11, 1))
    lengths = np.array([11, 6, 3])
    y = model(x, lengths=lengths)
    # valid conv: 9, 4, 1 steps; then pool 2: 4, 2, 0
    np.testing.assert_array_equal(model.output_lengths_, [4, 2, 0])
    assert y.shape == (3, 4, 2) and not y[1, 2:].any() and not y[2].any()
    alone = model(x[1:2, :6])
    np.testing.assert_allclose(y[1, :2], alone[0], rtol=1e-12)


def test_shape_mismatch_between_layers_is_refused_at_build_time():
    with pytest.raises(ValueError, match=r"layer 1 .*LSTM.* expects 8 input features.*got 6"):
        Sequential(LSTM(4, 3, bidirectional=True), Dense(8, 1))
    with pytest.raises(ValueError, match="layer 2"):
        Sequential(LSTM(4, 3, return_sequences=False), Dense(3, 3), LSTM(3, 2))
    with pytest.raises(TypeError, match="dtype"):
        Sequential(LSTM(4, 3), Dense(3, 1, dtype=F64))
    with pytest.raises(TypeError, match="layer 1"):
        Sequential(LSTM(4, 3), "dense")
    with pytest.raises(ValueError, match="batch_first"):
        Sequential(LSTM(4, 3, batch_first=False))
    with pytest.raises(ValueError, match="at least one"):
        Sequential()
    model = Sequential(Dense(4, 3), Dense(3, 1))  # input rank unknown until data arrives
    with pytest.raises(ValueError, match="layer 0"):
        model(np.zeros((2, 5), np.float32))


class Scale(Layer):  # a user's layer: forward and backward, no config()
    def forward(self, x, training=False):
        return 2 * x

    def backward(self, dy):
        return 2 * dy


def test_a_layer_without_config_prints_and_names_shape_mismatches():
    model = Sequential(LSTM(3, 4), Scale(), Dense(4, 1))
    assert "\n    Scale(),\n" in repr(model)
    with pytest.raises(ValueError, match=r"shape mismatch at layer 2 after layer 1 \(Scale\(\)\): Dense.*expects 5"):
        Sequential(LSTM(3, 4), Scale(), Dense(5, 1))


def test_predict_equals_call_and_names_are_indexed():
    model = Sequential(LSTM(2, 3, num_layers=2, seed=0), Dropout(0.5), Dense(3, 1, seed=1))
    x = np.random.default_rng(1).standard_normal((7, 4, 2)).astype(np.float32)
    lengths = np.array([4, 1, 2, 3, 4, 4, 2])
    # Batches of another size round differently in float32 (other GEMM blockings): close, not equal.
    np.testing.assert_allclose(model.predict(x, batch_size=3, lengths=lengths), model(x, lengths=lengths),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(model.predict(x, batch_size=7), model(x))
    assert "0.weight_ih_l1" in model.parameters() and "2.bias" in model.parameters()
    assert model.parameters()["2.weight"] is model[2].weight
    assert model.gradients()["0.bias_hh_l0"] is model[0].grads["bias_hh_l0"]


def test_predict_refuses_an_empty_batch():
    model = Sequential(LSTM(2, 3, seed=0), Dense(3, 1, seed=1))
    for x in (np.ones((0, 4, 2), np.float32), np.ones((0, 4, 2), np.float32)[:, :0]):
        with pytest.raises(ValueError, match=r"^x .*non-empty batch"):
            model.predict(x)
    with pytest.raises(ValueError, match=r"^x "):
        model.predict(np.ones((0, 4, 2), np.float32), lengths=np.zeros(0, np.int64))


@pytest.mark.parametrize("make_last", [lambda: Dense(3, 2, seed=1), Flatten, lambda: Dropout(0.0),
                                       lambda: RepeatVector(2)], ids=["Dense", "Flatten", "Dropout", "RepeatVector"])
def test_backward_refuses_a_dy_unlike_the_output(make_last):
    last = make_last()
    head = LSTM(2, 3, return_sequences=not isinstance(last, RepeatVector), seed=0)
    model = Sequential(head, last)
    x = np.random.default_rng(0).standard_normal((2, 4, 2)).astype(np.float32)
    with pytest.raises(RuntimeError, match=r"training=True"):
        model.backward(np.ones_like(model(x)))
    y = model.forward(x, training=True)
    with pytest.raises(ValueError, match=r"^dy "):
        model.backward(np.ones(y.size, np.float32))  # the same numbers in another shape
    with pytest.raises(TypeError, match=r"^dy "):
        model.backward(np.ones(y.shape))
    assert model.backward(np.ones_like(y)).shape == x.shape


@pytest.mark.parametrize("bad", ["False", "no", 0, 1, None])
def test_training_and_input_grad_must_be_bools(bad):
    model = Sequential(LSTM(2, 3, seed=0), Dropout(0.5, seed=1), Dense(3, 1, seed=2))
    x = np.ones((2, 4, 2), np.float32)
    with pytest.raises(TypeError, match=r"^training "):
        model.forward(x, training=bad)
    y = model.forward(x, training=np.True_)
    with pytest.raises(TypeError, match=r"^input_grad "):
        model.backward(np.ones_like(y), input_grad=bad)
    assert model.backward(np.ones_like(y), input_grad=np.False_) is None
