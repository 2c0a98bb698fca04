"""lstmcore.layers.lstm: the LSTM layer against direct fast_lstm kernel calls, torch.nn.LSTM
(via conftest's `torch` fixture: skipped cleanly without it) and central finite differences, on
every SIMD path (`each_isa`), plus its bookkeeping (gradient accumulation, seeding, errors)."""

from __future__ import annotations

import numpy as np
import pytest

import fast_lstm
import lstmcore
from checks import numeric_gradient
from lstmcore import LSTM

B, T, D, H = 3, 5, 4, 6
DTYPES = [np.float32, np.float64]


def make_inputs(dtype, batch=B, steps=T, input_size=D, hidden_size=H, seed=1):
    """x (B, T, D), h0 and c0 (1, B, H) of `dtype`."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, steps, input_size)).astype(dtype)
    h0 = (0.5 * rng.standard_normal((1, batch, hidden_size))).astype(dtype)
    c0 = (0.5 * rng.standard_normal((1, batch, hidden_size))).astype(dtype)
    return x, h0, c0


def make_output_grads(dtype, batch=B, steps=T, hidden_size=H, seed=2):
    """dy (B, T, H), dh_n and dc_n (1, B, H) of `dtype`."""
    rng = np.random.default_rng(seed)
    dy = rng.standard_normal((batch, steps, hidden_size)).astype(dtype)
    dh_n = rng.standard_normal((1, batch, hidden_size)).astype(dtype)
    dc_n = rng.standard_normal((1, batch, hidden_size)).astype(dtype)
    return dy, dh_n, dc_n


def kernel_forward_backward(layer, x, h0, c0, dy, dh_n, dc_n):
    """The kernels called directly on time-major copies, results moved back to batch-first."""
    to_time_major = lambda a: np.ascontiguousarray(a.transpose(1, 0, 2))  # noqa: E731
    bias = layer.bias_ih + layer.bias_hh
    y, h_n, c_n, cache = fast_lstm.lstm_forward(
        to_time_major(x), layer.weight_ih, layer.weight_hh, bias, h0[0], c0[0], training=True
    )
    dx, dw_ih, dw_hh, db, dh0, dc0 = fast_lstm.lstm_backward(to_time_major(dy), dh_n[0], dc_n[0], cache)
    return {
        "y": y.transpose(1, 0, 2), "h_n": h_n, "c_n": c_n,
        "dx": dx.transpose(1, 0, 2), "dw_ih": dw_ih, "dw_hh": dw_hh, "db": db, "dh0": dh0, "dc0": dc0,
    }


def test_version_is_the_kernels():
    assert lstmcore.__version__ == fast_lstm.__version__


@pytest.mark.parametrize("dtype", DTYPES)
def test_parameters_have_pytorch_names_shapes_and_dtype(dtype):
    layer = LSTM(D, H, dtype=dtype, seed=0)
    params = layer.parameters()
    shapes = {"weight_ih": (4 * H, D), "weight_hh": (4 * H, H), "bias_ih": (4 * H,), "bias_hh": (4 * H,)}
    assert list(params) == list(shapes)
    assert list(layer.gradients()) == list(shapes)
    for name, shape in shapes.items():
        assert params[name].shape == shape and params[name].dtype == dtype
        assert params[name] is getattr(layer, name)  # live arrays, for in-place optimizers
        assert layer.gradients()[name] is layer.grads[name]
        assert layer.grads[name].shape == shape and layer.grads[name].dtype == dtype
        assert not layer.grads[name].any()
    assert repr(layer) == f"LSTM({D}, {H}, batch_first=True, dtype={np.dtype(dtype).name})"


@pytest.mark.parametrize("dtype", DTYPES)
def test_forward_and_backward_equal_direct_kernel_calls(dtype):
    layer = LSTM(D, H, dtype=dtype, seed=3)
    x, h0, c0 = make_inputs(dtype)
    dy, dh_n, dc_n = make_output_grads(dtype)
    expected = kernel_forward_backward(layer, x, h0, c0, dy, dh_n, dc_n)

    y, h_n, c_n = layer.forward(x, h0, c0, training=True, return_state=True)
    dx = layer.backward(dy, dh_n, dc_n)

    # Same kernels on the same numbers: bitwise equal.
    np.testing.assert_array_equal(y, expected["y"])
    np.testing.assert_array_equal(h_n, expected["h_n"][np.newaxis])
    np.testing.assert_array_equal(c_n, expected["c_n"][np.newaxis])
    np.testing.assert_array_equal(dx, expected["dx"])
    np.testing.assert_array_equal(layer.grads["weight_ih"], expected["dw_ih"])
    np.testing.assert_array_equal(layer.grads["weight_hh"], expected["dw_hh"])
    np.testing.assert_array_equal(layer.grads["bias_ih"], expected["db"])
    np.testing.assert_array_equal(layer.grads["bias_hh"], expected["db"])
    np.testing.assert_array_equal(layer.dh0, expected["dh0"][np.newaxis])
    np.testing.assert_array_equal(layer.dc0, expected["dc0"][np.newaxis])
    assert y.shape == (B, T, H) and dx.shape == (B, T, D)
    assert h_n.shape == c_n.shape == layer.dh0.shape == layer.dc0.shape == (1, B, H)
    assert y.flags.c_contiguous and dx.flags.c_contiguous


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-10), (np.float32, 2e-5)])
def test_matches_torch_lstm(dtype, tol, torch, each_isa):
    layer = LSTM(D, H, dtype=dtype, seed=4)
    x, h0, c0 = make_inputs(dtype)
    dy, dh_n, dc_n = make_output_grads(dtype)

    reference = torch.nn.LSTM(D, H, batch_first=True, dtype=getattr(torch, np.dtype(dtype).name))
    with torch.no_grad():
        for name, value in layer.parameters().items():
            getattr(reference, name + "_l0").copy_(torch.from_numpy(value))
    x_t, h0_t, c0_t = (torch.from_numpy(a.copy()).requires_grad_() for a in (x, h0, c0))
    y_t, (h_n_t, c_n_t) = reference(x_t, (h0_t, c0_t))
    loss = (y_t * torch.from_numpy(dy)).sum() + (h_n_t * torch.from_numpy(dh_n)).sum() \
        + (c_n_t * torch.from_numpy(dc_n)).sum()
    loss.backward()

    y, h_n, c_n = layer.forward(x, h0, c0, training=True, return_state=True)
    dx = layer.backward(dy, dh_n, dc_n)

    close = lambda ours, theirs: np.testing.assert_allclose(  # noqa: E731
        ours, theirs.detach().numpy(), rtol=tol, atol=tol
    )
    close(y, y_t)
    close(h_n, h_n_t)
    close(c_n, c_n_t)
    close(dx, x_t.grad)
    close(layer.dh0, h0_t.grad)
    close(layer.dc0, c0_t.grad)
    for name, grad in layer.gradients().items():
        close(grad, getattr(reference, name + "_l0").grad)


@pytest.mark.parametrize("dtype", DTYPES)
def test_time_major_layout_is_the_transpose_of_batch_first(dtype):
    batch_first = LSTM(D, H, dtype=dtype, seed=5)
    time_major = LSTM(D, H, dtype=dtype, seed=5, batch_first=False)
    x, h0, c0 = make_inputs(dtype)
    dy, dh_n, dc_n = make_output_grads(dtype)

    y = batch_first.forward(x, h0, c0, training=True)
    dx = batch_first.backward(dy, dh_n, dc_n)
    # A non-contiguous time-major view: the kernel accepts it.
    y_tm = time_major.forward(x.transpose(1, 0, 2), h0, c0, training=True)
    dx_tm = time_major.backward(dy.transpose(1, 0, 2), dh_n, dc_n)

    np.testing.assert_array_equal(y_tm.transpose(1, 0, 2), y)
    np.testing.assert_array_equal(dx_tm.transpose(1, 0, 2), dx)
    np.testing.assert_array_equal(time_major.h_n, batch_first.h_n)
    for name in batch_first.grads:
        np.testing.assert_array_equal(time_major.grads[name], batch_first.grads[name])


def test_call_is_inference_forward_and_states_are_kept():
    layer = LSTM(D, H, seed=6)
    x, h0, c0 = make_inputs(np.float32)
    y = layer(x, h0, c0)
    h_n, c_n = layer.h_n, layer.c_n
    y2, h_n2, c_n2 = layer(x, h0, c0, return_state=True)
    np.testing.assert_array_equal(y, y2)
    np.testing.assert_array_equal(h_n, h_n2)
    np.testing.assert_array_equal(c_n, c_n2)
    np.testing.assert_array_equal(h_n[0], y[:, -1])  # h_n is the last output
    with pytest.raises(RuntimeError, match="training=True"):
        layer.backward(np.zeros_like(y))
    # Missing initial states are zeros.
    zeros = np.zeros((1, B, H), np.float32)
    np.testing.assert_array_equal(layer(x), layer(x, zeros, zeros))


def test_backward_accumulates_and_zero_grad_resets_in_place():
    layer = LSTM(D, H, dtype=np.float64, seed=7)
    x, h0, c0 = make_inputs(np.float64)
    dy, dh_n, dc_n = make_output_grads(np.float64)
    held = layer.gradients()  # e.g. an optimizer's references

    layer.forward(x, h0, c0, training=True)
    dx_first = layer.backward(dy, dh_n, dc_n)
    once = {name: grad.copy() for name, grad in layer.grads.items()}
    assert all(grad.any() for grad in once.values())
    dx_second = layer.backward(dy, dh_n, dc_n)  # the record is reusable
    np.testing.assert_array_equal(dx_second, dx_first)
    for name in once:
        np.testing.assert_array_equal(layer.grads[name], 2 * once[name])

    # A second training forward on other data adds its gradients to the sum.
    x_other, _, _ = make_inputs(np.float64, seed=11)
    layer.forward(x_other, training=True)
    layer.backward(dy)
    other = LSTM(D, H, dtype=np.float64, seed=7)
    other.forward(x_other, training=True)
    other.backward(dy)
    for name in once:
        np.testing.assert_allclose(layer.grads[name], 2 * once[name] + other.grads[name], rtol=1e-12, atol=1e-14)

    layer.zero_grad()
    for name, grad in layer.grads.items():
        assert grad is held[name]
        assert not grad.any()


def test_backward_before_any_forward_raises():
    layer = LSTM(D, H, seed=8)
    with pytest.raises(RuntimeError, match=r"forward\(\.\.\., training=True\)"):
        layer.backward(np.zeros((B, T, H), np.float32))


def test_backward_with_only_state_gradients():
    layer = LSTM(D, H, dtype=np.float64, seed=9)
    x, _, _ = make_inputs(np.float64)
    _, dh_n, _ = make_output_grads(np.float64)
    layer.forward(x, training=True)
    dx = layer.backward(None, dh_n)
    assert dx.shape == (B, T, D) and np.isfinite(dx).all() and dx.any()


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"input_size": 0}, "input_size"),
        ({"input_size": -3}, "input_size"),
        ({"input_size": 2.5}, "input_size"),
        ({"input_size": True}, "input_size"),
        ({"input_size": "4"}, "input_size"),
        ({"hidden_size": 0}, "hidden_size"),
        ({"hidden_size": None}, "hidden_size"),
        ({"dtype": np.float16}, "dtype"),
        ({"dtype": np.int32}, "dtype"),
        ({"dtype": "not a dtype"}, "dtype"),
        ({"seed": 1, "rng": np.random.default_rng(1)}, "seed"),
        ({"rng": 1}, "rng"),
    ],
)
def test_bad_constructor_arguments_raise_value_error_naming_them(kwargs, argument):
    arguments = {"input_size": D, "hidden_size": H, **kwargs}
    with pytest.raises(ValueError, match=argument):
        LSTM(arguments.pop("input_size"), arguments.pop("hidden_size"), **arguments)


def test_numpy_integer_sizes_are_accepted():
    layer = LSTM(np.int64(D), np.int32(H))
    assert layer.input_size == D and layer.hidden_size == H
    assert type(layer.input_size) is int


def test_bad_inputs_are_refused_not_converted():
    layer = LSTM(D, H, seed=10)
    x, h0, c0 = make_inputs(np.float32)
    with pytest.raises(TypeError, match="x"):
        layer(x.astype(np.float64))
    with pytest.raises(TypeError, match="x"):
        layer(x.tolist())
    with pytest.raises(ValueError, match="x"):
        layer(x[:, :, :-1])
    with pytest.raises(ValueError, match="x"):
        layer(x[0])
    with pytest.raises(ValueError, match="x"):
        layer(x[:, :0])
    with pytest.raises(ValueError, match="h0"):
        layer(x, h0[0])
    with pytest.raises(ValueError, match="c0"):
        layer(x, h0, c0[:, :-1])
    with pytest.raises(TypeError, match="h0"):
        layer(x, h0.astype(np.float64))

    layer.forward(x, training=True)
    with pytest.raises(ValueError, match="dy"):
        layer.backward(np.zeros((B, T + 1, H), np.float32))
    with pytest.raises(TypeError, match="dy"):
        layer.backward(np.zeros((B, T, H), np.float64))
    with pytest.raises(ValueError, match="dh_n"):
        layer.backward(None, np.zeros((B, H), np.float32))
    with pytest.raises(ValueError, match="dc_n"):
        layer.backward(None, None, np.zeros((1, B + 1, H), np.float32))


def test_finite_differences_float64(each_isa):
    """dx, dW_hh and dh0 of L = <y, wy> + <h_n, wh> + <c_n, wc> against central differences."""
    batch, steps, input_size, hidden_size = 2, 3, 3, 2
    layer = LSTM(input_size, hidden_size, dtype=np.float64, seed=12)
    x, h0, c0 = make_inputs(np.float64, batch, steps, input_size, hidden_size, seed=13)
    wy, wh, wc = make_output_grads(np.float64, batch, steps, hidden_size, seed=14)

    def loss() -> float:
        y, h_n, c_n = layer(x, h0, c0, return_state=True)
        return float(np.sum(y * wy) + np.sum(h_n * wh) + np.sum(c_n * wc))

    layer.forward(x, h0, c0, training=True)
    dx = layer.backward(wy, wh, wc)
    analytic = {"x": dx, "weight_hh": layer.grads["weight_hh"].copy(), "h0": layer.dh0.copy()}

    for name, array in (("x", x), ("weight_hh", layer.weight_hh), ("h0", h0)):
        numeric = numeric_gradient(loss, array)
        np.testing.assert_allclose(analytic[name], numeric, rtol=1e-6, atol=1e-9, err_msg=name)


def test_seeded_initialisation_is_reproducible():
    # PyTorch's scheme, asked for by name (the default is Keras' glorot_orthogonal).
    first = LSTM(D, H, seed=42, init="uniform")
    second = LSTM(D, H, seed=42, init="uniform")
    from_rng = LSTM(D, H, rng=np.random.default_rng(42), init="uniform")
    different = LSTM(D, H, seed=43, init="uniform")
    wide = LSTM(D, H, seed=42, dtype=np.float64, init="uniform")
    bound = 1.0 / np.sqrt(H)
    for name, value in first.parameters().items():
        np.testing.assert_array_equal(value, second.parameters()[name])
        np.testing.assert_array_equal(value, from_rng.parameters()[name])
        assert not np.array_equal(value, different.parameters()[name])
        np.testing.assert_array_equal(value, wide.parameters()[name].astype(np.float32))
        assert np.abs(value).max() <= bound
    x, _, _ = make_inputs(np.float32)
    np.testing.assert_array_equal(first(x), second(x))

    # A shared generator advances: two layers drawn from it differ.
    rng = np.random.default_rng(0)
    assert not np.array_equal(LSTM(D, H, rng=rng).weight_ih, LSTM(D, H, rng=rng).weight_ih)
