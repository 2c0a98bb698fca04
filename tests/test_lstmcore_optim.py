"""lstmcore.optim against torch.optim: several steps of every optimizer and option, the schedules'
learning-rate sequences, and gradient clipping by global norm and by value."""

from __future__ import annotations

import numpy as np
import pytest

from lstmcore import optim


def problem(seed=0):
    rng = np.random.default_rng(seed)
    parameters = {"w": rng.standard_normal((3, 4)), "b": rng.standard_normal(4)}
    gradients = [{name: rng.standard_normal(value.shape) for name, value in parameters.items()} for _ in range(5)]
    return parameters, gradients


@pytest.mark.parametrize("ours, theirs, kwargs", [
    (optim.SGD, "SGD", {"lr": 0.1}),
    (optim.SGD, "SGD", {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.01}),
    (optim.SGD, "SGD", {"lr": 0.1, "momentum": 0.8, "nesterov": True}),
    (optim.Adam, "Adam", {"lr": 0.01, "weight_decay": 0.1}),
    (optim.AdamW, "AdamW", {"lr": 0.01, "betas": (0.8, 0.9), "weight_decay": 0.1}),
    (optim.RMSprop, "RMSprop", {"lr": 0.01}),
    (optim.RMSprop, "RMSprop", {"lr": 0.01, "momentum": 0.5, "centered": True, "weight_decay": 0.01}),
])
def test_optimizers_match_torch(torch, ours, theirs, kwargs):
    parameters, gradients = problem()
    tensors = {name: torch.from_numpy(value.copy()).requires_grad_() for name, value in parameters.items()}
    reference = getattr(torch.optim, theirs)(list(tensors.values()), **kwargs)
    optimizer = ours(**kwargs)
    for step in gradients:
        for name, tensor in tensors.items():
            tensor.grad = torch.from_numpy(step[name].copy())
        reference.step()
        optimizer.step(parameters, step)
    for name, value in parameters.items():
        np.testing.assert_allclose(value, tensors[name].detach().numpy(), rtol=1e-12, atol=1e-14)


def test_schedules_match_torch(torch):
    def torch_lrs(make, epochs, metrics=None):
        tensor = torch.zeros(1, requires_grad=True)
        opt = torch.optim.SGD([tensor], lr=0.5)
        schedule = make(opt)
        lrs = []
        for epoch in range(epochs):
            opt.step()
            schedule.step(*([] if metrics is None else [metrics[epoch]]))
            lrs.append(opt.param_groups[0]["lr"])
        return lrs

    def our_lrs(make, epochs, metrics=None):
        opt = optim.SGD(lr=0.5)
        schedule = make(opt)
        lrs = []
        for epoch in range(epochs):
            schedule.on_epoch_end(epoch, {"loss": 0.0 if metrics is None else metrics[epoch]})
            lrs.append(opt.lr)
        return lrs

    steps = torch.optim.lr_scheduler
    np.testing.assert_allclose(our_lrs(lambda o: optim.StepLR(o, 3, 0.5), 10),
                               torch_lrs(lambda o: steps.StepLR(o, 3, 0.5), 10), rtol=1e-12)
    np.testing.assert_allclose(our_lrs(lambda o: optim.CosineAnnealingLR(o, 8, 0.01), 8),
                               torch_lrs(lambda o: steps.CosineAnnealingLR(o, 8, 0.01), 8), rtol=1e-9)
    metrics = [1.0, 0.9, 0.95, 0.95, 0.95, 0.95, 0.8, 0.85, 0.85, 0.85, 0.85, 0.85]
    np.testing.assert_allclose(
        our_lrs(lambda o: optim.ReduceLROnPlateau(o, factor=0.5, patience=2, cooldown=1), 12, metrics),
        torch_lrs(lambda o: steps.ReduceLROnPlateau(o, factor=0.5, patience=2, cooldown=1), 12, metrics), rtol=1e-12)


def test_clipping_matches_torch(torch):
    _, (gradients, *_) = problem(1)
    tensors = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in gradients.values()]
    for tensor, gradient in zip(tensors, gradients.values()):
        tensor.grad = torch.from_numpy(gradient.copy())
    norm_t = torch.nn.utils.clip_grad_norm_(tensors, 0.5)
    norm = optim.clip_grad_norm(gradients, 0.5)
    assert norm == pytest.approx(float(norm_t), rel=1e-12)
    for tensor, gradient in zip(tensors, gradients.values()):
        np.testing.assert_allclose(gradient, tensor.grad.numpy(), rtol=1e-12)
    small = {"a": np.array([0.1, -0.2])}
    optim.clip_grad_norm(small, 10.0)
    np.testing.assert_array_equal(small["a"], [0.1, -0.2])  # under the bound: untouched
    values = {"a": np.array([-3.0, 0.5, 2.0])}
    optim.clip_grad_value(values, 1.0)
    np.testing.assert_array_equal(values["a"], [-1.0, 0.5, 1.0])


def test_bad_arguments():
    with pytest.raises(ValueError, match="lr"):
        optim.Adam(lr=-1)
    with pytest.raises(ValueError, match="nesterov"):
        optim.SGD(nesterov=True)
    with pytest.raises(ValueError, match="betas"):
        optim.Adam(betas=(0.9,))
    with pytest.raises(ValueError, match="unknown optimizer 'adamx'"):
        optim.get("adamx")
    with pytest.raises(ValueError, match="same names"):
        optim.SGD().step({"a": np.zeros(2)}, {"b": np.zeros(2)})
    with pytest.raises(ValueError, match="max_norm"):
        optim.clip_grad_norm({}, 0)
    with pytest.raises(TypeError, match="optimizer"):
        optim.StepLR("sgd", 2)


@pytest.mark.parametrize("schedule, kwargs, name", [
    (optim.ReduceLROnPlateau, {"patience": 2.9}, "patience"),
    (optim.ReduceLROnPlateau, {"cooldown": 0.5}, "cooldown"),
    (optim.ReduceLROnPlateau, {"patience": -1}, "patience"),
    (optim.ReduceLROnPlateau, {"cooldown": True}, "cooldown"),
    (optim.StepLR, {"step_size": 1.5}, "step_size"),
    (optim.CosineAnnealingLR, {"T_max": 2.5}, "T_max"),
])
def test_schedules_refuse_epoch_counts_that_are_not_ints(schedule, kwargs, name):
    # int(2.9) would silently be a patience of 2.
    defaults = {optim.StepLR: {"step_size": 2}, optim.CosineAnnealingLR: {"T_max": 4}}.get(schedule, {})
    with pytest.raises(ValueError, match=f"^{name} must be a"):
        schedule(optim.SGD(), **{**defaults, **kwargs})
    assert optim.ReduceLROnPlateau(optim.SGD(), patience=np.int64(3), cooldown=1).patience == 3


@pytest.mark.parametrize("gradient, error, match", [
    ([1.0, 2.0, 3.0, 4.0], TypeError, "gradient 'b' must be a numpy.ndarray, got list"),
    (np.ones(4, np.float32), TypeError, "gradient 'b' has dtype float32"),
    (np.ones(5), ValueError, "gradient 'b' has shape"),
])
def test_step_refuses_a_gradient_unlike_its_parameter_before_updating_any(gradient, error, match):
    parameters, gradients = problem()
    before = {name: value.copy() for name, value in parameters.items()}
    with pytest.raises(error, match=match):
        optim.Adam().step(parameters, {**gradients[0], "b": gradient})
    for name, value in parameters.items():
        np.testing.assert_array_equal(value, before[name])


@pytest.mark.parametrize("ours", [optim.SGD(momentum=0.9), optim.Adam(), optim.RMSprop(centered=True)])
def test_reusing_an_optimizer_after_a_parameter_changed_names_the_parameter(ours):
    parameters, gradients = problem()
    ours.step(parameters, gradients[0])
    grown = {**parameters, "b": np.zeros(5)}
    with pytest.raises(ValueError, match="parameter 'b' is float64\\(5,\\), but this optimizer's '.*' state"):
        ours.step(grown, {**gradients[1], "b": np.ones(5)})
    np.testing.assert_array_equal(grown["b"], 0)  # nothing updated
    narrowed = {**parameters, "b": parameters["b"].astype(np.float32)}
    with pytest.raises(TypeError, match="parameter 'b' is float32"):
        ours.step(narrowed, {**gradients[1], "b": gradients[1]["b"].astype(np.float32)})
    with pytest.raises(TypeError, match="parameter 'w' must be a floating numpy.ndarray"):
        optim.SGD().step({"w": [0.0]}, {"w": np.zeros(1)})


@pytest.mark.parametrize("make, name", [
    (lambda value: optim.SGD(momentum=0.9, nesterov=value), "nesterov"),
    (lambda value: optim.RMSprop(centered=value), "centered"),
])
def test_bool_options_take_only_bools(make, name):
    for value in ("False", None, 1):
        with pytest.raises(TypeError, match=f"{name} must be a bool"):
            make(value)
    assert getattr(make(np.True_), name) is True
