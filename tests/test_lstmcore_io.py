"""lstmcore.save / lstmcore.load: bit-identical round trips, clear errors for truncated, corrupted,
foreign and wrong-version files, and atomic writes (no partial file, old file intact on failure)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import lstmcore
from lstmcore import LSTM, Conv1D, Dense, Dropout, Embedding, Flatten, MaxPool1D, Sequential, TimeDistributed
from lstmcore.io import ModelFileError


def model():
    return Sequential(Conv1D(3, 4, 3, padding="causal", activation="relu", seed=0), MaxPool1D(2),
                      LSTM(4, 5, num_layers=2, bidirectional=True, dropout=0.1, init="glorot_orthogonal", seed=1),
                      Dropout(0.2), TimeDistributed(Dense(10, 2, activation="tanh", seed=2)), Flatten(),
                      Dense(8, 1, seed=3))


def test_round_trip_predictions_are_bit_identical(tmp_path):
    original = model()
    x = np.random.default_rng(0).standard_normal((4, 8, 3)).astype(np.float32)
    path = tmp_path / "model.lstm"
    lstmcore.save(original, path)
    loaded = lstmcore.load(path)
    assert repr(loaded) == repr(original)
    np.testing.assert_array_equal(loaded.predict(x), original.predict(x))
    for name, value in original.parameters().items():
        assert loaded.parameters()[name] is not value
        np.testing.assert_array_equal(loaded.parameters()[name], value)
    layer = Embedding(7, 3, padding_idx=0, dtype=np.float64, seed=4)  # a single layer saves too
    lstmcore.save(layer, tmp_path / "layer.npz")
    np.testing.assert_array_equal(lstmcore.load(tmp_path / "layer.npz").weight, layer.weight)
    assert sorted(os.listdir(tmp_path)) == ["layer.npz", "model.lstm"]  # no temporary files left


def test_truncated_corrupted_and_foreign_files_give_clear_errors(tmp_path):
    path = tmp_path / "model.lstm"
    lstmcore.save(model(), path)
    data = path.read_bytes()
    for cut in (10, len(data) // 2, len(data) - 30):
        (tmp_path / "cut").write_bytes(data[:cut])
        with pytest.raises(ModelFileError, match="truncated or corrupted"):
            lstmcore.load(tmp_path / "cut")
    corrupted = bytearray(data)
    weights_at = data.index(b"weight/2.weight_hh_l1") + 200  # inside that array's bytes
    corrupted[weights_at] ^= 0xFF
    (tmp_path / "bad").write_bytes(bytes(corrupted))
    with pytest.raises(ModelFileError, match="corrupted"):
        lstmcore.load(tmp_path / "bad")
    np.savez(tmp_path / "foreign.npz", a=np.zeros(3))
    with pytest.raises(ModelFileError, match="not an lstmcore model file"):
        lstmcore.load(tmp_path / "foreign.npz")
    (tmp_path / "text").write_text("hello")
    with pytest.raises(ModelFileError):
        lstmcore.load(tmp_path / "text")
    with pytest.raises(FileNotFoundError):
        lstmcore.load(tmp_path / "missing")


def rewrite(path, **changes):
    with np.load(path) as archive:
        arrays = {name: archive[name] for name in archive.files}
    arrays.update(changes)
    np.savez(path, **arrays)


def test_wrong_version_architecture_or_weights_are_refused(tmp_path):
    path = tmp_path / "m.npz"
    lstmcore.save(model(), path)
    rewrite(path, __version__=np.array(99))
    with pytest.raises(ModelFileError, match="version 99"):
        lstmcore.load(path)
    lstmcore.save(model(), path)
    with np.load(path) as archive:
        architecture = json.loads(str(archive["__architecture__"]))
    architecture["config"]["layers"][6]["config"]["out_features"] = 2
    rewrite(path, __architecture__=np.array(json.dumps(architecture)))
    with pytest.raises(ModelFileError, match=r"weight '6.weight' is float32\(1, 8\).*needs float32\(2, 8\)"):
        lstmcore.load(path)
    architecture["config"]["layers"][4]["config"]["layer"]["config"]["in_features"] = 9
    rewrite(path, __architecture__=np.array(json.dumps(architecture)))
    with pytest.raises(ModelFileError, match="cannot build.*layer 4"):
        lstmcore.load(path)
    architecture["config"]["layers"][2]["class"] = "Transformer"
    rewrite(path, __architecture__=np.array(json.dumps(architecture)))
    with pytest.raises(ModelFileError, match="Transformer"):
        lstmcore.load(path)


def test_a_failed_save_leaves_the_old_file_and_no_partial_file(tmp_path, monkeypatch):
    path = tmp_path / "model.lstm"
    lstmcore.save(model(), path)
    before = path.read_bytes()

    def crash(stream, **arrays):
        stream.write(b"PK partial")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(OSError, match="disk full"):
        lstmcore.save(model(), path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["model.lstm"]
    with pytest.raises(TypeError, match="model"):
        lstmcore.save("model", tmp_path / "x")
