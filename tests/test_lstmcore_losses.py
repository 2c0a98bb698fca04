"""lstmcore.losses against torch.nn.functional (values and gradients), with masks, class weights
and an ignore index, per sequence and per step; name lookup and argument checks."""

from __future__ import annotations

import numpy as np
import pytest

from lstmcore import losses
from checks import numeric_gradient


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


@pytest.mark.parametrize("loss, torch_name, kwargs", [
    (losses.MSE(), "mse_loss", {}),
    (losses.MAE(), "l1_loss", {}),
    (losses.Huber(0.7), "huber_loss", {"delta": 0.7}),
])
def test_regression_losses_match_torch(torch, loss, torch_name, kwargs):
    prediction, target = rand(4, 5, 2), rand(4, 5, 2, seed=1)
    p_t = torch.from_numpy(prediction.copy()).requires_grad_()
    value_t = getattr(torch.nn.functional, torch_name)(p_t, torch.from_numpy(target), **kwargs)
    value_t.backward()
    assert loss.forward(prediction, target) == pytest.approx(value_t.item(), rel=1e-12)
    np.testing.assert_allclose(loss.backward(), p_t.grad.numpy(), rtol=1e-12)


def test_masked_regression_equals_loss_on_counted_steps():
    prediction, target = rand(3, 4, 2), rand(3, 4, 2, seed=1)
    mask = np.arange(4)[None, :] < np.array([4, 1, 2])[:, None]
    loss = losses.Huber(0.5)
    value = loss.forward(prediction, target, mask)
    gradient = loss.backward()
    assert value == pytest.approx(losses.Huber(0.5).forward(prediction[mask], target[mask]), rel=1e-12)
    assert not gradient[~mask].any()
    np.testing.assert_allclose(gradient, numeric_gradient(lambda: loss.forward(prediction, target, mask), prediction),
                               rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("per_step", [False, True])
def test_cross_entropy_matches_torch_with_weights_and_ignore_index(torch, per_step):
    shape = (4, 3) if per_step else (6,)
    logits = rand(*shape, 5) * 3
    target = np.random.default_rng(2).integers(0, 5, size=shape)
    target.flat[1] = -1  # ignored
    weights = np.array([1.0, 2.0, 0.5, 1.5, 3.0])
    loss = losses.CrossEntropy(class_weights=weights, ignore_index=-1)
    l_t = torch.from_numpy(logits.copy()).requires_grad_()
    moved = l_t.permute(0, 2, 1) if per_step else l_t  # torch wants classes on axis 1
    value_t = torch.nn.functional.cross_entropy(moved, torch.from_numpy(target), weight=torch.from_numpy(weights),
                                                ignore_index=-1)
    value_t.backward()
    assert loss.forward(logits, target) == pytest.approx(value_t.item(), rel=1e-12)
    np.testing.assert_allclose(loss.backward(), l_t.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_cross_entropy_mask_and_extreme_logits():
    logits = rand(2, 3, 4) * 500  # exp would overflow without the max shift
    target = np.array([[0, 1, 2], [3, 3, 3]])
    mask = np.array([[True, True, False], [True, False, False]])
    loss = losses.CrossEntropy()
    value = loss.forward(logits, target, mask)
    assert np.isfinite(value) and not loss.backward()[~mask].any()
    small = rand(2, 3, 4)
    value = loss.forward(small, target, mask)
    np.testing.assert_allclose(loss.backward(), numeric_gradient(lambda: loss.forward(small, target, mask), small),
                               rtol=1e-6, atol=1e-9)
    assert loss.forward(small, target, np.zeros((2, 3), bool)) == 0.0 and not loss.backward().any()


def test_names_and_bad_arguments():
    assert isinstance(losses.get("mse"), losses.MSE) and isinstance(losses.get("cross_entropy"), losses.CrossEntropy)
    with pytest.raises(ValueError, match="unknown loss 'msee'"):
        losses.get("msee")
    with pytest.raises(ValueError, match="target"):
        losses.MSE().forward(rand(2, 3), rand(3, 2))
    with pytest.raises(TypeError, match="target"):
        losses.MSE().forward(rand(2, 3), rand(2, 3).astype(np.float32))
    with pytest.raises(TypeError, match="target"):
        losses.CrossEntropy().forward(rand(2, 3), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="class ids"):
        losses.CrossEntropy().forward(rand(2, 3), np.array([0, 3]))
    with pytest.raises(ValueError, match="class_weights"):
        losses.CrossEntropy(class_weights=[1.0, -1.0])
    with pytest.raises(ValueError, match="mask"):
        losses.MSE().forward(rand(2, 3), rand(2, 3), np.ones(3, bool))
    with pytest.raises(ValueError, match="delta"):
        losses.Huber(0)


@pytest.mark.parametrize("loss", [losses.MSE(), losses.MAE(), losses.Huber(), losses.CrossEntropy()])
def test_backward_before_forward_is_a_clear_error(loss):
    with pytest.raises(RuntimeError, match=f"{type(loss).__name__}.backward\\(\\) needs a preceding forward"):
        loss.backward()


@pytest.mark.parametrize("class_weights, error", [
    ("abc", TypeError), (["1", "2"], TypeError), ([True, False], TypeError), ([[1.0], [1.0, 2.0]], ValueError),
    ([1.0, np.nan], ValueError),
])
def test_class_weights_must_be_numbers(class_weights, error):
    with pytest.raises(error, match="^class_weights"):
        losses.CrossEntropy(class_weights=class_weights)
    assert losses.CrossEntropy(class_weights=[1, 2]).class_weights.dtype == np.float64
