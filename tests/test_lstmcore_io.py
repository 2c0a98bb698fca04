"""lstmcore.save / lstmcore.load: bit-identical round trips, clear errors for truncated, corrupted,
foreign and wrong-version files, and atomic writes (no partial file, old file intact on failure)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import lstmcore
from lstmcore import GRU, LSTM, Conv1D, Dense, Dropout, Embedding, Flatten, MaxPool1D, Sequential, TimeDistributed
from lstmcore import io as io_module
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
    architecture["config"]["layers"][6]["config"]["out_features"] = 1
    architecture["config"]["layers"][4]["config"]["layer"]["config"]["in_features"] = 9
    rewrite(path, __architecture__=np.array(json.dumps(architecture)))
    with pytest.raises(ModelFileError, match=r"weight '4.weight' is float32\(2, 10\).*needs float32\(2, 9\)"):
        lstmcore.load(path)
    architecture["config"]["layers"][4]["config"]["layer"]["config"]["in_features"] = 10
    architecture["config"]["layers"][3] = {"class": "RepeatVector", "config": {"n": 2}}  # no weights, wrong rank
    rewrite(path, __architecture__=np.array(json.dumps(architecture)))
    with pytest.raises(ModelFileError, match="cannot build.*layer 3"):
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


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits and umask")
def test_a_saved_file_gets_open_s_mode_or_keeps_the_replaced_file_s(tmp_path):
    def mode(name):
        return os.stat(tmp_path / name).st_mode & 0o777

    previous = os.umask(0o022)
    try:
        lstmcore.save(Dense(2, 1, seed=0), tmp_path / "new.lstm")
        np.savez(tmp_path / "plain.npz", weight=np.zeros(1))
        assert mode("new.lstm") == mode("plain.npz") == 0o644
        os.umask(0o077)
        lstmcore.save(Dense(2, 1, seed=0), tmp_path / "private.lstm")
        assert mode("private.lstm") == 0o600
        os.umask(0o022)
        for kept in (0o640, 0o664):  # replacing a file keeps its bits, whatever the umask would give
            (tmp_path / "old.lstm").write_bytes(b"old")
            os.chmod(tmp_path / "old.lstm", kept)
            lstmcore.save(Dense(2, 1, seed=0), tmp_path / "old.lstm")
            assert mode("old.lstm") == kept
            assert isinstance(lstmcore.load(tmp_path / "old.lstm"), Dense)
    finally:
        os.umask(previous)
    assert sorted(os.listdir(tmp_path)) == ["new.lstm", "old.lstm", "plain.npz", "private.lstm"]


def test_saving_a_layer_without_config_names_it(tmp_path):
    class Scale(lstmcore.Layer):  # a user's layer: forward and backward, no config()
        def forward(self, x, training=False):
            return 2 * x

    with pytest.raises(NotImplementedError, match=r"^layer 1: Scale defines no config\(\).*lstmcore.save.*register"):
        lstmcore.save(Sequential(LSTM(3, 4), Scale(), Dense(4, 1)), tmp_path / "model.lstm")
    with pytest.raises(NotImplementedError, match=r"^layer 0 \(TimeDistributed\): Scale defines no config"):
        lstmcore.save(Sequential(TimeDistributed(Scale())), tmp_path / "model.lstm")
    with pytest.raises(NotImplementedError, match=r"^Scale defines no config\(\)"):
        lstmcore.save(Scale(), tmp_path / "model.lstm")
    assert os.listdir(tmp_path) == []


def architecture_of(path):
    with np.load(path) as archive:
        return json.loads(str(archive["__architecture__"]))


@pytest.fixture
def builds(monkeypatch):
    """Every attempt load makes to build a model (refused: the test fails if one happens)."""
    attempts = []

    def refuse(*arguments):
        attempts.append(arguments)
        raise RuntimeError("load built the model")

    monkeypatch.setattr(io_module, "build_layer", refuse)
    monkeypatch.setattr(io_module.Sequential, "from_config", refuse)
    return attempts


@pytest.mark.parametrize("key, value", [("hidden_size", 30000), ("hidden_size", 2000), ("num_layers", 10**9),
                                        ("input_size", 10**12), ("bidirectional", True)])
def test_weights_are_checked_against_the_config_before_anything_is_built(tmp_path, builds, key, value):
    # Building first initialised every weight: hidden_size=30000 in a few-kB file asked for 6.7 GiB.
    path = tmp_path / "m.npz"
    lstmcore.save(Sequential(LSTM(3, 4, seed=0), Dense(4, 1, seed=1)), path)
    architecture = architecture_of(path)
    architecture["config"]["layers"][0]["config"][key] = value
    rewrite(path, __architecture__=np.array(json.dumps(architecture)))
    with pytest.raises(ModelFileError, match="do not match the architecture|weight '0.weight_(ih|hh)' is float32"):
        lstmcore.load(path)
    assert builds == []


@pytest.mark.parametrize("key, value, match", [
    ("hidden_size", 2.5, "hidden_size must be a positive int"),
    ("bidirectional", "yes", "bidirectional must be a bool"),
    ("dtype", "int8", "dtype must be float32 or float64"), ("proj_size", -1, "proj_size"),
])
def test_a_config_that_cannot_build_is_refused_before_building(tmp_path, builds, key, value, match):
    path = tmp_path / "m.npz"
    lstmcore.save(LSTM(3, 4, seed=0), path)
    architecture = architecture_of(path)
    architecture["config"][key] = value
    rewrite(path, __architecture__=np.array(json.dumps(architecture)))
    with pytest.raises(ModelFileError, match=f"cannot build: {match}"):
        lstmcore.load(path)
    assert builds == []


def test_a_failure_while_building_is_a_model_file_error(tmp_path, monkeypatch):
    path = tmp_path / "m.npz"
    lstmcore.save(Dense(3, 2, seed=0), path)

    def out_of_memory(entry):
        raise MemoryError("Unable to allocate 6.7 GiB")

    monkeypatch.setattr(io_module, "build_layer", out_of_memory)
    with pytest.raises(ModelFileError, match="cannot build: Unable to allocate"):
        lstmcore.load(path)


@pytest.mark.parametrize("bad_value", [np.nan, np.inf])
def test_non_finite_stored_weights_are_refused_naming_the_weight(tmp_path, builds, bad_value):
    path = tmp_path / "m.npz"
    lstmcore.save(model(), path)
    with np.load(path) as archive:
        weights = archive["weight/2.weight_hh_l1_reverse"].copy()
    weights[3, 1] = bad_value
    rewrite(path, **{"weight/2.weight_hh_l1_reverse": weights})
    with pytest.raises(ModelFileError,
                       match=r"weight '2.weight_hh_l1_reverse' contains NaN or infinity \(at \[3, 1\]\)"):
        lstmcore.load(path)
    assert builds == []


def test_every_layer_class_has_a_shape_rule():
    assert set(io_module.LAYER_CLASSES) <= set(io_module._PARAMETER_RULES)


@pytest.mark.parametrize("layer", [
    lambda: LSTM(3, 5, num_layers=3, bidirectional=True, seed=0),
    lambda: LSTM(3, 5, num_layers=2, proj_size=2, bidirectional=True, seed=0),
    lambda: LSTM(3, 5, num_layers=2, peephole=True, seed=0),
    lambda: LSTM(3, 5, forget_gate=False, seed=0),
    lambda: LSTM(3, 5, num_layers=2, couple_input_forget=True, init="uniform", dtype=np.float64, seed=0),
    lambda: GRU(3, 5, num_layers=2, bidirectional=True, seed=0),
    lambda: Embedding(7, 3, padding_idx=0, seed=0),
    lambda: TimeDistributed(Dense(4, 2, dtype=np.float64, seed=0)),
    model,
], ids=["lstm-bi-3", "lstm-proj", "lstm-peephole", "lstm-1997", "lstm-cifg", "gru", "embedding", "td-dense",
        "sequential"])
def test_shape_rules_agree_with_the_layers(tmp_path, layer):
    try:
        built = layer()
    except NotImplementedError as error:  # kernels built without this cell option
        pytest.skip(str(error))
    entry = {"class": type(built).__name__, "config": built.config()}
    derived = {name: (shape, dtype) for name, shape, dtype in io_module._expected_parameters(entry)}
    assert derived == {name: (value.shape, value.dtype) for name, value in built.parameters().items()}
    lstmcore.save(built, tmp_path / "m.npz")
    for name, value in lstmcore.load(tmp_path / "m.npz").parameters().items():
        np.testing.assert_array_equal(value, built.parameters()[name])
