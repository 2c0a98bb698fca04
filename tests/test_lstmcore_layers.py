"""lstmcore's non-recurrent layers (Dense, Conv1D, MaxPool1D, Embedding, Dropout, Flatten,
RepeatVector, TimeDistributed): values and gradients against PyTorch's equivalents and float64
central differences; their argument checks."""

from __future__ import annotations

import numpy as np
import pytest

import lstmcore
from lstmcore import Conv1D, Dense, Dropout, Embedding, Flatten, MaxPool1D, RepeatVector, TimeDistributed
from checks import numeric_gradient

F64 = np.float64


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def check_gradients(layer, x, seed=1, rtol=1e-6, atol=1e-9):
    """dx and every parameter gradient of L = sum(layer(x) * W) against central differences."""
    weights = rand(*layer(x).shape, seed=seed)
    loss = lambda: float(np.sum(layer(x) * weights))  # noqa: E731
    layer.zero_grad()
    layer.forward(x, training=True)
    dx = layer.backward(weights)
    if dx is not None:
        np.testing.assert_allclose(dx, numeric_gradient(loss, x), rtol=rtol, atol=atol, err_msg="x")
    for name, value in layer.parameters().items():
        np.testing.assert_allclose(layer.grads[name], numeric_gradient(loss, value), rtol=rtol, atol=atol, err_msg=name)


@pytest.mark.parametrize("activation", [None, "relu", "tanh", "sigmoid"])
def test_dense_gradients_per_sample_and_per_step(activation):
    check_gradients(Dense(3, 2, activation, dtype=F64, seed=0), rand(4, 3) + 0.01)
    check_gradients(Dense(3, 2, activation, dtype=F64, seed=0), rand(2, 3, 3, seed=2) + 0.01)


def test_dense_matches_torch(torch):
    layer = Dense(3, 4, "tanh", dtype=F64, seed=1)
    x = rand(2, 5, 3)
    twin = torch.nn.Linear(3, 4, dtype=torch.float64)
    with torch.no_grad():
        twin.weight.copy_(torch.from_numpy(layer.weight))
        twin.bias.copy_(torch.from_numpy(layer.bias))
    np.testing.assert_allclose(layer(x), torch.tanh(twin(torch.from_numpy(x))).detach().numpy(), rtol=1e-12)
    bound = np.sqrt(6 / 7)
    assert np.abs(Dense(3, 4, seed=2).weight).max() <= bound and not Dense(3, 4).bias.any()


@pytest.mark.parametrize("padding, stride", [("valid", 1), ("valid", 2), ("same", 1), ("causal", 1), (2, 3)])
def test_conv1d_matches_torch_and_finite_differences(torch, padding, stride):
    layer = Conv1D(2, 3, kernel_size=3, stride=stride, padding=padding, activation="relu", dtype=F64, seed=3)
    x = rand(2, 9, 2, seed=4)
    weights = rand(*layer(x).shape, seed=5)
    pad = {"valid": (0, 0), "same": (1, 1), "causal": (2, 0)}.get(padding, (padding, padding))
    x_t = torch.from_numpy(x.copy()).requires_grad_()
    w_t = torch.from_numpy(layer.weight.copy()).requires_grad_()
    b_t = torch.from_numpy(layer.bias.copy()).requires_grad_()
    padded = torch.nn.functional.pad(x_t.transpose(1, 2), pad)
    y_t = torch.relu(torch.nn.functional.conv1d(padded, w_t, b_t, stride=stride)).transpose(1, 2)
    (y_t * torch.from_numpy(weights)).sum().backward()

    y = layer.forward(x, training=True)
    dx = layer.backward(weights)
    np.testing.assert_allclose(y, y_t.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(dx, x_t.grad.numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(layer.grads["weight"], w_t.grad.numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(layer.grads["bias"], b_t.grad.numpy(), rtol=1e-12, atol=1e-14)
    check_gradients(Conv1D(2, 3, 3, stride=stride, padding=padding, dtype=F64, seed=6), rand(2, 7, 2, seed=7))


@pytest.mark.parametrize("pool, stride", [(2, None), (3, 1), (2, 3)])
def test_maxpool_matches_torch_and_finite_differences(torch, pool, stride):
    layer = MaxPool1D(pool, stride)
    x = rand(2, 8, 3, seed=8)
    x_t = torch.from_numpy(x.copy()).requires_grad_()
    y_t = torch.nn.functional.max_pool1d(x_t.transpose(1, 2), pool, stride or pool).transpose(1, 2)
    weights = rand(*y_t.shape, seed=9)
    (y_t * torch.from_numpy(weights)).sum().backward()
    y = layer.forward(x, training=True)
    np.testing.assert_array_equal(y, y_t.detach().numpy())
    np.testing.assert_allclose(layer.backward(weights), x_t.grad.numpy(), rtol=1e-12)
    check_gradients(MaxPool1D(pool, stride), x)


def test_embedding_gradient_scatters_and_skips_padding(torch):
    layer = Embedding(5, 3, padding_idx=0, dtype=F64, seed=10)
    tokens = np.array([[1, 2, 1, 0], [4, 4, 0, 3]])
    assert not layer.weight[0].any()
    twin = torch.nn.Embedding(5, 3, padding_idx=0, dtype=torch.float64)
    with torch.no_grad():
        twin.weight.copy_(torch.from_numpy(layer.weight))
    weights = rand(2, 4, 3, seed=11)
    (twin(torch.from_numpy(tokens)) * torch.from_numpy(weights)).sum().backward()
    y = layer.forward(tokens, training=True)
    np.testing.assert_array_equal(y, layer.weight[tokens])
    assert layer.backward(weights) is None
    np.testing.assert_allclose(layer.grads["weight"], twin.weight.grad.numpy(), rtol=1e-12)
    with pytest.raises(ValueError, match="x"):
        layer(np.array([[5]]))
    with pytest.raises(TypeError, match="x"):
        layer(np.array([[1.0]]))


def test_dropout_masks_scales_and_routes_gradients():
    layer = Dropout(0.25, seed=12)
    x = rand(200, 50) + 3.0
    y = layer.forward(x, training=True)
    kept = y != 0
    np.testing.assert_allclose(y[kept], x[kept] / 0.75)
    assert 0.22 < 1 - kept.mean() < 0.28
    np.testing.assert_array_equal(layer.backward(np.ones_like(x)), kept / 0.75)
    np.testing.assert_array_equal(layer(x), x)


def test_flatten_repeat_vector_time_distributed():
    check_gradients(Flatten(), rand(2, 3, 4))
    check_gradients(RepeatVector(3), rand(2, 4))
    assert RepeatVector(3).output_shape((4,)) == (3, 4) and Flatten().output_shape((3, 4)) == (12,)
    inner = Conv1D(2, 3, 2, dtype=F64, seed=13)
    wrapped = TimeDistributed(inner)  # (B, T, L, C): a convolution over each step's sub-sequence
    x = rand(2, 3, 4, 2, seed=14)
    np.testing.assert_array_equal(wrapped(x)[:, 1], inner(x[:, 1]))
    check_gradients(wrapped, x)
    assert wrapped.parameters()["weight"] is inner.weight


@pytest.mark.parametrize("make, match", [
    (lambda: Dense(0, 2), "in_features"),
    (lambda: Dense(2, 2, activation="softplus"), "activation"),
    (lambda: Dense(2, 2, dtype=np.float16), "dtype"),
    (lambda: Conv1D(2, 2, 3, padding="full"), "padding"),
    (lambda: Conv1D(2, 2, 3, stride=2, padding="same"), "same"),
    (lambda: Conv1D(2, 2, kernel_size=0), "kernel_size"),
    (lambda: MaxPool1D(0), "pool_size"),
    (lambda: Dropout(1.5), "p"),
    (lambda: Embedding(4, 2, padding_idx=4), "padding_idx"),
    (lambda: RepeatVector(-1), "n"),
])
def test_bad_constructor_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_inputs_are_refused_not_converted():
    dense = Dense(3, 2)
    with pytest.raises(TypeError, match="x"):
        dense(np.zeros((2, 3)))  # float64 into a float32 layer
    with pytest.raises(ValueError, match="x"):
        dense(np.zeros((2, 4), np.float32))
    conv = Conv1D(2, 2, 3)
    with pytest.raises(ValueError, match="x"):
        conv(np.zeros((2, 5, 3), np.float32))
    with pytest.raises(ValueError, match="time steps"):
        conv(np.zeros((2, 2, 2), np.float32))
    with pytest.raises(RuntimeError, match="training=True"):
        Dense(3, 2).backward(np.zeros((1, 2), np.float32))
    dense.forward(np.zeros((2, 3), np.float32), training=True)
    with pytest.raises(ValueError, match="dy"):
        dense.backward(np.zeros((2, 3), np.float32))


def test_public_names():
    for name in ("LSTM", "Dense", "Embedding", "Dropout", "Conv1D", "MaxPool1D", "Flatten", "TimeDistributed",
                 "Sequential", "fit", "save", "load"):
        assert hasattr(lstmcore, name)


def test_repr_of_a_layer_without_config_is_its_class_name():
    class Scale(lstmcore.Layer):  # a user's layer: forward and backward, no config()
        def forward(self, x, training=False):
            return 2 * x

    assert repr(Scale()) == "Scale()"
    assert repr(TimeDistributed(Scale())) == "TimeDistributed(Scale())"
    with pytest.raises(NotImplementedError, match=r"Scale defines no config\(\)"):
        Scale().config()


F32 = np.float32

# (make layer, x): every non-recurrent layer, with dropout both drawing a mask and not.
DY_CASES = {
    "Dense": (lambda: Dense(2, 3), rand(3, 4, 2).astype(F32)),
    "Conv1D": (lambda: Conv1D(2, 3, 2), rand(3, 5, 2).astype(F32)),
    "MaxPool1D": (lambda: MaxPool1D(2), rand(3, 4, 2).astype(F32)),
    "Embedding": (lambda: Embedding(5, 3), np.array([[1, 2, 4], [0, 3, 3]])),
    "Dropout(0)": (lambda: Dropout(0.0), rand(3, 4, 2).astype(F32)),
    "Dropout(0.5)": (lambda: Dropout(0.5, seed=0), rand(3, 4, 2).astype(F32)),
    "Flatten": (lambda: Flatten(), rand(3, 4, 2).astype(F32)),
    "RepeatVector": (lambda: RepeatVector(3), rand(2, 4).astype(F32)),
    "TimeDistributed": (lambda: TimeDistributed(Dense(2, 3)), rand(3, 4, 2).astype(F32)),
}


def wrong_dys(y):
    """(dy, error) pairs unlike y: same size in another shape (a silent reshape would take them),
    another dtype, a list, another batch."""
    cases = [(np.ones(y.size, y.dtype), ValueError), (np.ones((y.shape[0] + 1, *y.shape[1:]), y.dtype), ValueError),
             (np.ones(y.shape, np.float64), TypeError), (np.ones(y.shape).tolist(), TypeError)]
    if y.shape[0] != y.shape[1]:  # (T, B, F) for (B, T, F): the transposed layout
        cases.append((np.ones((y.shape[1], y.shape[0], *y.shape[2:]), y.dtype), ValueError))
    return cases


@pytest.mark.parametrize("name", DY_CASES)
def test_backward_refuses_a_dy_unlike_the_forward_output(name):
    make, x = DY_CASES[name]
    layer = make()
    y = layer.forward(x, training=True)
    for dy, error in wrong_dys(y):
        with pytest.raises(error, match=r"^dy "):
            layer.backward(dy)
    layer.backward(np.ones_like(y))  # the right one still goes through


@pytest.mark.parametrize("name", DY_CASES)
def test_backward_needs_a_training_forward(name):
    make, x = DY_CASES[name]
    layer = make()
    with pytest.raises(RuntimeError, match=r"training=True"):
        layer.backward(np.ones_like(layer(x)))
    layer.forward(x, training=True)
    y = layer.forward(x, training=False)  # an inference forward leaves no record
    with pytest.raises(RuntimeError, match=r"training=True"):
        layer.backward(np.ones_like(y))


@pytest.mark.parametrize("name", DY_CASES)
@pytest.mark.parametrize("training", ["False", "True", 0, 1, None])
def test_training_must_be_a_bool(name, training):
    make, x = DY_CASES[name]
    with pytest.raises(TypeError, match=r"^training "):
        make().forward(x, training=training)


@pytest.mark.parametrize("name", DY_CASES)
def test_numpy_bool_training_is_accepted(name):
    make, x = DY_CASES[name]
    layer = make()
    y = layer.forward(x, training=np.True_)
    layer.backward(np.ones_like(y))
