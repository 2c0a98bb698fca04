"""input_grad=False: the backward kernels skip dx (None) and every other gradient keeps its bits;
lstmcore passes it to a model's first layer (fit does, its input being data)."""

from __future__ import annotations

import numpy as np
import pytest

import fast_lstm
from lstmcore import GRU, LSTM, Dense, Dropout, Sequential
from lstmcore.optim import SGD
from lstmcore.train import fit

T, B, D, H = 5, 9, 7, 20


def lstm_case(rng, dtype, **options):
    x = rng.standard_normal((T, B, D)).astype(dtype)
    w_ih = (0.3 * rng.standard_normal((4 * H, D))).astype(dtype)
    w_hh = (0.3 * rng.standard_normal((4 * H, H))).astype(dtype)
    b = (0.1 * rng.standard_normal(4 * H)).astype(dtype)
    if options.pop("with_peephole", False):
        options["peephole"] = (0.2 * rng.standard_normal((3, H))).astype(dtype)
    y, _, _, cache = fast_lstm.lstm_forward(x, w_ih, w_hh, b, training=True, **options)
    return x, rng.standard_normal(y.shape).astype(dtype), cache


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize(
    "options",
    [{}, {"lengths": [5, 0, 3, 5, 1, 2, 4, 5, 3]}, {"with_peephole": True}],
    ids=["dense", "lengths", "peephole"],
)
def test_lstm_backward_without_dx_keeps_every_other_gradient(dtype, threads, options, restore_num_threads):
    fast_lstm.set_num_threads(threads)
    x, dy, cache = lstm_case(np.random.default_rng(0), dtype, **dict(options))
    dh_n = np.random.default_rng(1).standard_normal((B, H)).astype(dtype)
    full = fast_lstm.lstm_backward(dy, dh_n, None, cache)
    skipped = fast_lstm.lstm_backward(dy, dh_n, None, cache, input_grad=False)
    assert full[0].shape == x.shape and np.any(full[0] != 0)
    assert skipped[0] is None
    assert len(skipped) == len(full)
    for index, (a, b) in enumerate(zip(full[1:], skipped[1:]), start=1):
        np.testing.assert_array_equal(a, b, err_msg=f"gradient {index}")


@pytest.mark.parametrize("threads", [1, 2])
def test_gru_backward_without_dx_keeps_every_other_gradient(threads, restore_num_threads):
    fast_lstm.set_num_threads(threads)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((T, B, D)).astype(np.float32)
    w_ih, w_hh = (0.3 * rng.standard_normal((3 * H, D))), (0.3 * rng.standard_normal((3 * H, H)))
    b_ih, b_hh = 0.1 * rng.standard_normal(3 * H), 0.1 * rng.standard_normal(3 * H)
    args = [a.astype(np.float32) for a in (w_ih, w_hh, b_ih, b_hh)]
    y, _, cache = fast_lstm.gru_forward(x, *args, training=True, lengths=[5, 2, 0, 5, 3, 1, 4, 5, 2])
    dy = rng.standard_normal(y.shape).astype(np.float32)
    full = fast_lstm.gru_backward(dy, None, cache)
    skipped = fast_lstm.gru_backward(dy, None, cache, input_grad=False)
    assert skipped[0] is None and np.any(full[0] != 0)
    for index, (a, b) in enumerate(zip(full[1:], skipped[1:]), start=1):
        np.testing.assert_array_equal(a, b, err_msg=f"gradient {index}")


def test_input_grad_must_be_a_bool():
    x, dy, cache = lstm_case(np.random.default_rng(3), np.float32)
    with pytest.raises(TypeError):
        fast_lstm.lstm_backward(dy, None, None, cache, input_grad="no")


def model_gradients(model, x, dy, input_grad):
    model.zero_grad()
    model.forward(x, training=True)
    dx = model.backward(dy, input_grad=input_grad)
    return dx, {name: grad.copy() for name, grad in model.gradients().items()}


@pytest.mark.parametrize(
    "layers",
    [
        lambda: [LSTM(D, H, num_layers=2, bidirectional=True, seed=0), Dense(2 * H, 3, seed=1)],
        lambda: [GRU(D, H, num_layers=2, return_sequences=False, seed=0), Dense(H, 3, seed=1)],
        lambda: [Dropout(0.0), LSTM(D, H, seed=0), Dense(H, 3, seed=1)],  # first layer cannot skip
    ],
    ids=["stacked-bidirectional-lstm", "stacked-gru", "dropout-first"],
)
def test_sequential_without_input_grad_returns_none_and_the_same_parameter_gradients(layers):
    model = Sequential(*layers())
    rng = np.random.default_rng(4)
    x = rng.standard_normal((B, T, D)).astype(np.float32)
    dy = rng.standard_normal(model(x).shape).astype(np.float32)
    dx, full = model_gradients(model, x, dy, input_grad=True)
    none, skipped = model_gradients(model, x, dy, input_grad=False)
    assert dx.shape == x.shape and none is None
    assert full.keys() == skipped.keys()
    for name in full:
        np.testing.assert_array_equal(full[name], skipped[name], err_msg=name)


def test_layer_backward_without_input_grad():
    layer = LSTM(D, H, seed=0)
    x = np.random.default_rng(5).standard_normal((B, T, D)).astype(np.float32)
    y = layer.forward(x, training=True)
    assert layer.backward(np.ones_like(y), input_grad=False) is None
    assert layer.backward(np.ones_like(y)).shape == x.shape


def test_fit_asks_the_first_layer_for_no_input_gradient(monkeypatch):
    model = Sequential(LSTM(D, H, return_sequences=False, seed=0), Dense(H, 1, seed=1))
    asked = []
    original = LSTM.backward

    def spy(self, *args, **kwargs):
        asked.append(kwargs.get("input_grad", True))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(LSTM, "backward", spy)
    rng = np.random.default_rng(6)
    x, y = rng.standard_normal((16, T, D)).astype(np.float32), rng.standard_normal((16, 1)).astype(np.float32)
    fit(model, x, y, loss="mse", optimizer=SGD(lr=0.01), epochs=1, batch_size=8, progress=False)
    assert asked == [False, False]
