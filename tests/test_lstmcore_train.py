"""lstmcore.fit: learning a sequence task, reproducibility, truncated BPTT against a hand-written
chunked loop, lengths (padding never matters), early stopping, clipping, schedules, History,
progress output, and argument checks that fire before any training."""

from __future__ import annotations

import numpy as np
import pytest

import lstmcore
from lstmcore import LSTM, Dense, Dropout, EarlyStopping, Sequential, optim
from lstmcore import train as train_module

F64 = np.float64


def sign_task(count, steps=10, seed=0):
    """Class 1 when the first feature sums positive over the sequence (needs the whole sequence)."""
    x = np.random.default_rng(seed).standard_normal((count, steps, 2)).astype(np.float32)
    return x, (x[:, :, 0].sum(axis=1) > 0).astype(np.int64)


def classifier(seed=0, dropout=0.0):
    return Sequential(LSTM(2, 8, num_layers=2, bidirectional=True, dropout=dropout, return_sequences=False, seed=seed),
                      Dense(16, 2, seed=seed + 1))


def regressor(seed=0, dtype=F64):
    return Sequential(LSTM(2, 3, dtype=dtype, seed=seed), Dense(3, 1, dtype=dtype, seed=seed + 1))


def snapshot(model):
    return {name: value.copy() for name, value in model.parameters().items()}


def test_two_layer_bidirectional_lstm_learns_a_sequence_task():
    x, y = sign_task(320)
    model = classifier()
    history = lstmcore.fit(model, x, y, loss="cross_entropy", optimizer=optim.Adam(0.01), epochs=12, batch_size=32,
                           validation_split=0.2, clip_norm=1.0, seed=0, metrics=["accuracy"], progress=False)
    assert history["loss"][0] > 0.5
    assert min(history["val_loss"]) < 0.25, history
    assert history["val_accuracy"][-1] > 0.9
    assert len(history.wall_time) == len(history.epoch) and all(t > 0 for t in history.wall_time)
    logged = lstmcore.evaluate(model, x[256:], y[256:], loss="cross_entropy", metrics=["accuracy"])
    assert logged["loss"] == pytest.approx(history["val_loss"][-1], rel=1e-6)


def test_seeded_fit_is_reproducible():
    x, y = sign_task(64)
    runs = []
    for seed in (5, 5, 6):
        model = classifier(seed=3, dropout=0.3)
        model.layers.insert(1, Dropout(0.2))  # a random layer between the two
        model = Sequential(*model.layers)
        lstmcore.fit(model, x, y, loss="cross_entropy", optimizer="adam", epochs=2, batch_size=16, seed=seed,
                     progress=False)
        runs.append(snapshot(model))
    for name in runs[0]:
        np.testing.assert_array_equal(runs[0][name], runs[1][name])
    assert any(not np.array_equal(runs[0][name], runs[2][name]) for name in runs[0])


def test_tbptt_equals_a_hand_written_chunked_loop():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((4, 7, 2)), rng.standard_normal((4, 7, 1))
    model = regressor(seed=2)
    lstm, dense = LSTM(2, 3, dtype=F64, seed=2), Dense(3, 1, dtype=F64, seed=3)
    lr, chunk = 0.1, 3
    lstmcore.fit(model, x, y, loss="mse", optimizer=optim.SGD(lr), epochs=1, batch_size=4, tbptt=chunk,
                 shuffle=False, progress=False)

    h = c = None
    for start in range(0, 7, chunk):
        xc, yc = x[:, start:start + chunk], y[:, start:start + chunk]
        lstm.zero_grad()
        dense.zero_grad()
        hidden, h, c = lstm.forward(xc, h, c, training=True, return_state=True)
        prediction = dense.forward(hidden, training=True)
        lstm.backward(dense.backward(2 * (prediction - yc) / prediction.size))  # no gradient into h, c
        for layer in (lstm, dense):
            for name, value in layer.parameters().items():
                value -= lr * layer.grads[name]
    for name, value in lstm.parameters().items():
        np.testing.assert_allclose(model[0].parameters()[name], value, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(model[1].weight, dense.weight, rtol=1e-12, atol=1e-14)


def test_padding_never_matters_with_lengths():
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((6, 5, 2)), rng.standard_normal((6, 5, 1))
    lengths = np.array([5, 2, 3, 1, 4, 5])
    padded = np.arange(5)[None, :] >= lengths[:, None]
    x_other, y_other = x.copy(), y.copy()
    x_other[padded], y_other[padded] = 9.0, -9.0
    results = []
    for inputs, targets in ((x, y), (x_other, y_other)):
        for tbptt in (None, 2):
            model = regressor(seed=4)
            history = lstmcore.fit(model, inputs, targets, loss="mse", optimizer="adam", epochs=2, batch_size=3,
                                   lengths=lengths, tbptt=tbptt, seed=0, progress=False)
            results.append((snapshot(model), history["loss"]))
    for (weights, losses), (other_weights, other_losses) in zip(results[:2], results[2:]):
        assert losses == other_losses
        for name in weights:
            np.testing.assert_array_equal(weights[name], other_weights[name])


def test_early_stopping_stops_and_restores_the_best_weights():
    x, y = sign_task(96, seed=3)
    flipped = 1 - y[:32]  # validation labels opposite to training ones: val_loss rises as training succeeds
    seen = []

    class Record(lstmcore.Callback):
        def on_epoch_end(self, epoch, logs):
            seen.append((logs["val_loss"], snapshot(model)))

    model = classifier(seed=7)
    stopper = EarlyStopping(patience=2)
    history = lstmcore.fit(model, x, y, loss="cross_entropy", optimizer=optim.Adam(0.02), epochs=30, batch_size=16,
                           validation_data=(x[:32], flipped), early_stopping=stopper, callbacks=[Record()],
                           seed=0, progress=False)
    assert history.stopped_early and len(history.epoch) < 30
    best = int(np.argmin([loss for loss, _ in seen]))
    assert stopper.best_epoch == best and len(seen) == best + 3
    for name, value in model.parameters().items():
        np.testing.assert_array_equal(value, seen[best][1][name])


def test_clip_norm_bounds_every_update_and_schedules_run_per_epoch():
    x, y = sign_task(32, seed=4)
    model = classifier(seed=8)
    before = snapshot(model)
    sgd = optim.SGD(lr=1.0)
    lstmcore.fit(model, x, y, loss="cross_entropy", optimizer=sgd, epochs=1, batch_size=32, clip_norm=0.01,
                 progress=False, callbacks=[optim.StepLR(sgd, step_size=1, gamma=0.5)])
    change = np.sqrt(sum(np.sum((model.parameters()[n].astype(F64) - before[n]) ** 2) for n in before))
    assert 0.009 < change <= 0.0100001
    assert sgd.lr == 0.5


def test_progress_bar_only_on_a_terminal(capsys, monkeypatch):
    x, y = sign_task(16, seed=5)
    lstmcore.fit(classifier(), x, y, loss="cross_entropy", optimizer="sgd", epochs=1, batch_size=8)
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(train_module, "_is_terminal", lambda stream: True)
    lstmcore.fit(classifier(), x, y, loss="cross_entropy", optimizer="sgd", epochs=2, batch_size=8)
    assert "epoch 2/2" in capsys.readouterr().err
    lstmcore.fit(classifier(), x, y, loss="cross_entropy", optimizer="sgd", epochs=1, batch_size=8, progress=False)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("change, error, match", [
    ({"y": np.zeros(15, np.int64)}, ValueError, "same number of samples"),
    ({"loss": "hinge"}, ValueError, "unknown loss"),
    ({"optimizer": "adagrad"}, ValueError, "unknown optimizer"),
    ({"x": np.zeros((16, 10, 2))}, TypeError, "x must have the model's dtype"),
    ({"x": np.zeros((16, 10, 3), np.float32)}, ValueError, "x of shape"),
    ({"y": np.zeros((16, 2), np.int64)}, ValueError, "y has per-sample shape"),
    ({"y": np.zeros(16, np.float32)}, TypeError, "integer class ids"),
    ({"epochs": 0}, ValueError, "epochs"),
    ({"batch_size": -1}, ValueError, "batch_size"),
    ({"validation_split": 1.0}, ValueError, "validation_split"),
    ({"early_stopping": EarlyStopping("val_loss")}, ValueError, "no validation data"),
    ({"tbptt": 2}, ValueError, "tbptt"),
    ({"lengths": np.full(16, 11)}, ValueError, "lengths"),
    ({"metrics": ["f1"]}, ValueError, "unknown metric"),
    ({"clip_norm": 0}, ValueError, "clip_norm"),
    ({"validation_data": (np.zeros((4, 10, 2), np.float32), np.zeros(5, np.int64))}, ValueError, "validation_data"),
    ({"seed": -1}, ValueError, "seed must be a non-negative int"),
    ({"seed": 1.5}, ValueError, "seed"),
    ({"shuffle": None}, TypeError, "shuffle must be a bool"),
    ({"shuffle": "False"}, TypeError, "shuffle must be a bool"),
    ({"progress": 0}, TypeError, "progress must be a bool"),
    ({"callbacks": EarlyStopping("loss")}, TypeError, "callbacks must be None or a sequence"),
    ({"callbacks": "early"}, TypeError, "callbacks must be None or a sequence"),
    ({"metrics": 3}, TypeError, "metrics must be None"),
    ({"metrics": [["accuracy"]]}, ValueError, "unknown metric"),
])
def test_bad_arguments_fail_before_any_training(change, error, match):
    x, y = sign_task(16, seed=6)
    model = classifier()
    before = snapshot(model)
    arguments = {"x": x, "y": y, "loss": "cross_entropy", "optimizer": "sgd", "epochs": 1, "batch_size": 8,
                 "progress": False, **change}
    with pytest.raises(error, match=match):
        lstmcore.fit(model, arguments.pop("x"), arguments.pop("y"), **arguments)
    for name, value in model.parameters().items():
        np.testing.assert_array_equal(value, before[name])


@pytest.mark.parametrize("batch_size", [0, -2, 2.5, True])
def test_evaluate_refuses_a_batch_size_that_is_not_a_positive_int(batch_size):
    x, y = sign_task(8, seed=7)
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        lstmcore.evaluate(classifier(), x, y, loss="cross_entropy", batch_size=batch_size)


def with_value(array, value, index=0):
    array = array.copy()
    array.flat[index] = value
    return array


@pytest.mark.parametrize("where, bad_value", [("x", np.nan), ("y", np.inf), ("x_val", -np.inf), ("y_val", np.nan)])
def test_non_finite_data_is_refused_before_any_training(where, bad_value):
    # One NaN would otherwise become loss [nan] and every weight NaN, with no error.
    x = np.random.default_rng(8).standard_normal((12, 5, 2))
    y = x[:, :, :1] ** 2  # per step: the regressor's output is (T, 1)
    data = {"x": x[:8], "y": y[:8], "x_val": x[8:], "y_val": y[8:]}
    data[where] = with_value(data[where], bad_value, index=3)
    model = regressor()
    before = snapshot(model)
    name = {"x": "x", "y": "y", "x_val": "validation_data x", "y_val": "validation_data y"}[where]
    with pytest.raises(ValueError, match=f"^{name} contains NaN or infinity"):
        lstmcore.fit(model, data["x"], data["y"], validation_data=(data["x_val"], data["y_val"]), loss="mse",
                     optimizer="sgd", epochs=1, batch_size=4, progress=False)
    for name_, value in model.parameters().items():
        np.testing.assert_array_equal(value, before[name_])
    if where in ("x", "y"):
        with pytest.raises(ValueError, match=f"^{where} contains NaN or infinity"):
            lstmcore.evaluate(model, data["x"], data["y"], loss="mse")


def test_integer_labels_and_finite_data_pass_the_finite_check():
    x, y = sign_task(8, seed=9)  # int64 labels: nothing to scan
    history = lstmcore.fit(classifier(), x, y, loss="cross_entropy", optimizer="sgd", epochs=1, batch_size=8,
                           progress=False)
    assert np.isfinite(history["loss"][0])


def test_none_callbacks_and_metrics_mean_none():
    x, y = sign_task(8, seed=10)
    history = lstmcore.fit(classifier(), x, y, loss="cross_entropy", optimizer="sgd", epochs=1, batch_size=8,
                           progress=False, callbacks=None, metrics=None)
    assert list(history.history) == ["loss"]
    assert list(lstmcore.evaluate(classifier(), x, y, loss="cross_entropy", metrics=None)) == ["loss"]


def test_numpy_bools_are_bools_and_early_stopping_takes_only_bools():
    x, y = sign_task(8, seed=11)
    lstmcore.fit(classifier(), x, y, loss="cross_entropy", optimizer="sgd", epochs=1, batch_size=8,
                 shuffle=np.False_, progress=np.bool_(False))
    assert EarlyStopping(restore_best_weights=np.False_).restore_best_weights is False
    with pytest.raises(TypeError, match="restore_best_weights must be a bool"):
        EarlyStopping(restore_best_weights="no")


@pytest.mark.parametrize("per_step, tbptt", [(True, None), (True, 3), (False, None)])  # tbptt: per step only
@pytest.mark.parametrize("with_lengths", [False, True])
def test_metrics_leave_out_what_the_loss_ignores(per_step, tbptt, with_lengths):
    """Labels equal to ignore_index (and padding) count in no metric: not in fit's, evaluate's or
    validation's accuracy; a batch whose labels are all ignored adds nothing to the epoch's."""
    rng = np.random.default_rng(12)
    x = rng.standard_normal((6, 6, 2))
    model = Sequential(LSTM(2, 4, dtype=F64, return_sequences=per_step, seed=5), Dense(4, 3, dtype=F64, seed=6))
    lengths = np.array([6, 2, 3, 6, 1, 6]) if with_lengths else None
    y = model(x, lengths=lengths).argmax(axis=-1)
    wrong = [0, 7] if per_step else [0, 2]
    y.flat[wrong] = (y.flat[wrong] + 1) % 3  # two wrong labels: the true accuracy is not 1
    if per_step:
        y[:, 3:] = -100
    y[4:] = -100  # the last batch (batch_size=2) is ignored whole
    counted = y != -100
    if with_lengths and per_step:
        counted &= np.arange(6)[None, :] < lengths[:, None]
    expected = float(np.mean((model(x, lengths=lengths).argmax(axis=-1) == y)[counted]))
    assert 0 < expected < 1
    loss = lstmcore.losses.CrossEntropy(ignore_index=-100)

    logged = lstmcore.evaluate(model, x, y, loss=loss, lengths=lengths, metrics=["accuracy"], batch_size=4)
    assert logged["accuracy"] == pytest.approx(expected)
    # lr 1e-12: the weights (and so the argmax) stay put, and every accuracy must equal the expected one.
    history = lstmcore.fit(model, x, y, loss=loss, optimizer=optim.SGD(1e-12), epochs=1, batch_size=2,
                           lengths=lengths, validation_data=(x, y) if lengths is None else (x, y, lengths),
                           tbptt=tbptt, shuffle=False, metrics=["accuracy"], progress=False)
    assert history["accuracy"] == [pytest.approx(expected)]
    assert history["val_accuracy"] == [pytest.approx(expected)]
