"""lstmcore.data: sliding windows, chronological split, walk-forward folds, a scaler fitted on
training data only; each checked against direct index arithmetic."""

from __future__ import annotations

import numpy as np
import pytest

from lstmcore import data


def test_sliding_windows_take_the_following_steps():
    series = np.arange(20.0).reshape(10, 2)
    x, y = data.sliding_windows(series, window=3, horizon=2, stride=2)
    assert x.shape == (3, 3, 2) and y.shape == (3, 4)
    for n in range(3):
        np.testing.assert_array_equal(x[n], series[2 * n:2 * n + 3])
        np.testing.assert_array_equal(y[n], series[2 * n + 3:2 * n + 5].ravel())
    x[0, 0, 0] = -1
    assert series[0, 0] == 0  # copies, not views
    x1, y1 = data.sliding_windows(np.arange(6.0), 4)
    assert x1.shape == (2, 4, 1) and y1.tolist() == [[4.0], [5.0]]
    with pytest.raises(ValueError, match="too short"):
        data.sliding_windows(np.arange(4.0), 4)
    with pytest.raises(ValueError, match="window"):
        data.sliding_windows(np.arange(4.0), 0)


def test_chronological_split_holds_out_the_end():
    x, y = np.arange(10), np.arange(10) * 2
    x_train, x_val, y_train, y_val = data.chronological_split(x, y, validation_fraction=0.3)
    assert x_train.tolist() == list(range(7)) and x_val.tolist() == [7, 8, 9] and y_val.tolist() == [14, 16, 18]
    with pytest.raises(ValueError, match="same number"):
        data.chronological_split(x, y[:5])


def test_walk_forward_splits_like_time_series_split():
    folds = list(data.walk_forward_splits(12, n_splits=3))
    assert [(train.tolist(), test.tolist()) for train, test in folds] == [
        (list(range(0, 3)), [3, 4, 5]), (list(range(0, 6)), [6, 7, 8]), (list(range(0, 9)), [9, 10, 11])]
    for train, test in data.walk_forward_splits(30, n_splits=4, test_size=5, gap=2, max_train_size=6):
        assert len(test) == 5 and len(train) <= 6 and train.max() + 2 < test.min()
    with pytest.raises(ValueError, match="too few"):
        list(data.walk_forward_splits(5, n_splits=5))


def test_scaler_uses_training_statistics_only():
    rng = np.random.default_rng(0)
    train = (rng.standard_normal((50, 8, 3)) * [1.0, 5.0, 0.0] + [0.0, 2.0, 7.0]).astype(np.float32)
    scaler = data.StandardScaler().fit(train)
    scaled = scaler.transform(train)
    assert scaled.dtype == np.float32
    np.testing.assert_allclose(scaled.reshape(-1, 3).mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(scaled.reshape(-1, 3).std(axis=0), [1, 1, 0], atol=1e-5)
    test = train[:5] + 100
    np.testing.assert_allclose(scaler.transform(test), (test - scaler.mean) / scaler.std, rtol=1e-5)
    np.testing.assert_allclose(scaler.inverse_transform(scaler.transform(test)), test, rtol=1e-5)
    with pytest.raises(ValueError, match="features"):
        scaler.transform(np.zeros((2, 4), np.float32))
    with pytest.raises(RuntimeError, match="fit"):
        data.StandardScaler().transform(train)


@pytest.mark.parametrize("bad_value", [np.nan, np.inf, -np.inf])
def test_scaler_refuses_non_finite_training_data(bad_value):
    # mean would be NaN, and the NaN std would pass for a constant feature (std 1).
    with pytest.raises(ValueError, match=r"^x contains NaN or infinity \(at \[1\]\)"):
        data.StandardScaler().fit(np.array([1.0, bad_value, 3.0]))
    with pytest.raises(ValueError, match=r"^x contains NaN or infinity \(at \[2, 1\]\)"):
        data.StandardScaler().fit(np.array([[1.0, 2.0], [3.0, 4.0], [5.0, bad_value]], np.float32))
