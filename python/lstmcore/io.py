"""lstmcore.save / lstmcore.load: one .npz (zip) file holding the architecture as JSON, every
weight by name, a format tag and a format version.

Writing goes to a temporary file in the target directory, flushed to disk, then renamed over the
target (atomic on POSIX), so a crash never leaves a partial model file.  The file gets the
permissions a plain open() would give it (0o666 less the umask), or keeps those of the file it
replaces.  Reading reads and checks
everything (zip CRCs, format, version, names, shapes, dtypes, finite values) before it builds the
model, so a truncated, corrupted or foreign file raises ModelFileError and nothing is half-loaded.
The shapes each weight must have come from the architecture's config alone: building would first
initialise every weight, and a few-kilobyte file claiming hidden_size=30000 would allocate gigabytes
before its stored weights were ever compared.
"""

from __future__ import annotations

import json
import os
import secrets
from typing import Any, Callable, Dict, Iterator, Optional, Tuple, Union

import numpy as np

from ._checks import finite_array, flag, float_dtype, non_negative_int, positive_int
from .layers.base import LAYER_CLASSES, Layer, build_layer
from .layers.sequential import Sequential

FORMAT_TAG = "lstmcore-model"
FORMAT_VERSION = 1
_WEIGHT_PREFIX = "weight/"
PathLike = Union[str, "os.PathLike[str]"]
# A parameter's name, shape and dtype, as the architecture says it must be.
ParameterSpec = Tuple[str, Tuple[int, ...], np.dtype]


class ModelFileError(ValueError):
    """A model file that cannot be loaded: not ours, truncated, corrupted or of another format version."""


def _architecture(model: Layer) -> Dict[str, Any]:
    return {"class": type(model).__name__, "config": model.config()}


def _create_temporary(directory: str, base: str) -> Tuple[int, str]:
    """A new, empty file next to the target, opened for writing.  Not tempfile.mkstemp: it creates
    0o600, and os.replace would hand that mode to the model file.  os.open with 0o666 lets the
    kernel apply the umask (and a directory's default ACL) exactly as for open(), without reading
    the process-wide umask, which only os.umask can do, by changing it under other threads."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):  # 64 random bits a name: a second clash is all but impossible
        temporary = os.path.join(directory, f"{base}.{secrets.token_hex(8)}.partial")
        try:
            return os.open(temporary, flags, 0o666), temporary
        except FileExistsError:
            continue
    raise FileExistsError(f"path: no free temporary file name in {directory}")


def save(model: Layer, path: PathLike) -> None:
    """Write `model` (a Sequential or any single layer) to `path`, atomically.

    A new file gets the mode open() would give it (0o666 less the umask); a file it replaces keeps
    its permission bits.  NotImplementedError names a layer without ``config()``, which save needs.
    """
    if not isinstance(model, Layer):
        raise TypeError(f"model must be an lstmcore Sequential or layer, got {type(model).__name__}")
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"path: directory {directory} does not exist")
    arrays = {_WEIGHT_PREFIX + name: value for name, value in model.parameters().items()}
    arrays["__format__"] = np.array(FORMAT_TAG)
    arrays["__version__"] = np.array(FORMAT_VERSION)
    arrays["__architecture__"] = np.array(json.dumps(_architecture(model)))
    try:
        replaced_mode: Optional[int] = os.stat(path).st_mode & 0o777
    except FileNotFoundError:
        replaced_mode = None
    handle, temporary = _create_temporary(directory, os.path.basename(path))
    try:
        with os.fdopen(handle, "wb") as stream:
            if replaced_mode is not None:
                os.chmod(temporary, replaced_mode)
            np.savez(stream, **arrays)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


# ---- parameter shapes from a config, without building --------------------------------------------
# One rule per layer class, mirroring its constructor (names and shapes of what it adds with
# _add_parameter).  Sizes go through the checks the constructors use, so a bad config fails here
# as it would fail to build.  load compares the built model's parameters again afterwards, so a
# rule that drifts from its layer fails loudly instead of loading wrong weights.

def _dtype(config: Dict[str, Any]) -> np.dtype:
    return float_dtype("dtype", config.get("dtype", "float32"))


def _dense_parameters(config: Dict[str, Any]) -> Iterator[ParameterSpec]:
    out_features, dtype = positive_int("out_features", config.get("out_features")), _dtype(config)
    yield "weight", (out_features, positive_int("in_features", config.get("in_features"))), dtype
    yield "bias", (out_features,), dtype


def _conv1d_parameters(config: Dict[str, Any]) -> Iterator[ParameterSpec]:
    out_channels, dtype = positive_int("out_channels", config.get("out_channels")), _dtype(config)
    yield "weight", (out_channels, positive_int("in_channels", config.get("in_channels")),
                     positive_int("kernel_size", config.get("kernel_size"))), dtype
    yield "bias", (out_channels,), dtype


def _embedding_parameters(config: Dict[str, Any]) -> Iterator[ParameterSpec]:
    yield "weight", (positive_int("num_embeddings", config.get("num_embeddings")),
                     positive_int("embedding_dim", config.get("embedding_dim"))), _dtype(config)


def _recurrent_parameters(config: Dict[str, Any], lstm: bool) -> Iterator[ParameterSpec]:
    """Recurrent._initial_parameters and _parameter_name, plus an LSTM's cell options."""
    input_size = positive_int("input_size", config.get("input_size"))
    hidden = positive_int("hidden_size", config.get("hidden_size"))
    directions = 2 if flag("bidirectional", config.get("bidirectional", False)) else 1
    states = positive_int("num_layers", config.get("num_layers", 1)) * directions
    dtype, gates, peephole, projection = _dtype(config), 3, False, 0
    if lstm:
        # The 1997 cell and CIFG hold three gates (i g o); a projection makes h proj_size wide.
        three_gates = (not flag("forget_gate", config.get("forget_gate", True))
                       or flag("couple_input_forget", config.get("couple_input_forget", False)))
        gates = 3 if three_gates else 4
        peephole = flag("peephole", config.get("peephole", False))
        projection = non_negative_int("proj_size", config.get("proj_size", 0))
    output, rows = projection or hidden, gates * hidden
    for state in range(states):
        layer, direction = divmod(state, directions)
        suffix = "" if states == 1 else f"_l{layer}" + ("_reverse" if direction else "")
        layer_input = input_size if layer == 0 else directions * output
        yield "weight_ih" + suffix, (rows, layer_input), dtype
        yield "weight_hh" + suffix, (rows, output), dtype
        yield "bias_ih" + suffix, (rows,), dtype
        yield "bias_hh" + suffix, (rows,), dtype
        if peephole:
            yield "weight_peephole" + suffix, (3, hidden), dtype
        if projection:
            yield "weight_hr" + suffix, (projection, hidden), dtype


def _no_parameters(config: Dict[str, Any]) -> Iterator[ParameterSpec]:
    return iter(())


def _sequential_parameters(config: Dict[str, Any]) -> Iterator[ParameterSpec]:
    if not isinstance(config.get("layers"), list):
        raise ValueError("a Sequential config must be {'layers': [...]}")
    for index, entry in enumerate(config["layers"]):
        for name, shape, dtype in _expected_parameters(entry):
            yield f"{index}.{name}", shape, dtype


class _NoRule(Exception):
    """A registered layer class without a rule below: its shapes are known only once it is built."""


def _expected_parameters(entry: Any) -> Iterator[ParameterSpec]:
    """The parameters of a layer entry {"class": ..., "config": ...}, lazily, in the layer's order."""
    if (not isinstance(entry, dict) or not isinstance(entry.get("class"), str)
            or not isinstance(entry.get("config"), dict)):
        raise ValueError(f"a layer entry must be {{'class': str, 'config': dict}}, got {entry!r:.80}")
    if entry["class"] not in LAYER_CLASSES:
        raise ValueError(f"unknown layer class {entry['class']!r}; known: {', '.join(sorted(LAYER_CLASSES))}")
    rule = _PARAMETER_RULES.get(entry["class"])
    if rule is None:
        raise _NoRule(entry["class"])
    return rule(entry["config"])


_PARAMETER_RULES: Dict[str, Callable[[Dict[str, Any]], Iterator[ParameterSpec]]] = {
    "Dense": _dense_parameters,
    "Conv1D": _conv1d_parameters,
    "Embedding": _embedding_parameters,
    "LSTM": lambda config: _recurrent_parameters(config, lstm=True),
    "GRU": lambda config: _recurrent_parameters(config, lstm=False),
    "TimeDistributed": lambda config: _expected_parameters(config.get("layer")),  # its layer's, same names
    "Sequential": _sequential_parameters,
    "Dropout": _no_parameters, "Flatten": _no_parameters, "RepeatVector": _no_parameters,
    "MaxPool1D": _no_parameters,
}


def _check_weights(path: str, architecture: Any, weights: Dict[str, np.ndarray]) -> bool:
    """Compare the stored weights with the architecture's parameters, without building anything;
    False if a layer class has no rule (then only the built model can tell)."""
    expected: Dict[str, Tuple[Tuple[int, ...], np.dtype]] = {}
    try:
        for name, shape, dtype in _expected_parameters(architecture):
            expected[name] = (shape, dtype)
            if len(expected) > len(weights):
                break  # more parameters than the file holds (num_layers=10**9): no need to list them all
    except _NoRule:
        return False
    except Exception as error:  # TypeError, ValueError; RecursionError for absurdly nested wrappers
        raise ModelFileError(f"{path} holds an architecture lstmcore cannot build: {error}") from error
    if set(expected) != set(weights):
        raise ModelFileError(f"{path}: weights {sorted(set(weights) ^ set(expected))} do not match the architecture")
    for name, (shape, dtype) in expected.items():
        if weights[name].shape != shape or weights[name].dtype != dtype:
            raise ModelFileError(f"{path}: weight {name!r} is {weights[name].dtype}{weights[name].shape}, "
                                 f"the architecture needs {dtype}{shape}")
    return True


def load(path: PathLike) -> Layer:
    """Read a model written by `save`; ModelFileError if the file is not a complete, valid one."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no model file at {path}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            names = set(archive.files)
            if "__format__" not in names or str(archive["__format__"]) != FORMAT_TAG:
                raise ModelFileError(f"{path} is not an lstmcore model file (no {FORMAT_TAG!r} tag)")
            version = int(archive["__version__"])
            if version != FORMAT_VERSION:
                raise ModelFileError(f"{path} has model format version {version}; this lstmcore reads "
                                     f"version {FORMAT_VERSION}")
            architecture = json.loads(str(archive["__architecture__"]))
            # Reading every member checks its CRC: corruption is found here, before building anything.
            weights = {name[len(_WEIGHT_PREFIX):]: archive[name] for name in names if name.startswith(_WEIGHT_PREFIX)}
    except ModelFileError:
        raise
    except Exception as error:  # zipfile, zlib, numpy header and JSON errors all mean "unreadable"
        raise ModelFileError(f"{path} is not a readable lstmcore model file (truncated or corrupted?): "
                             f"{type(error).__name__}: {error}") from error

    checked = _check_weights(path, architecture, weights)
    for name in sorted(weights):
        try:
            finite_array(f"weight {name!r}", weights[name])
        except ValueError as error:  # a diverged run saved: every prediction would be NaN
            raise ModelFileError(f"{path}: {error}") from None

    try:
        if architecture.get("class") == "Sequential":
            model: Layer = Sequential.from_config(architecture.get("config"))
        else:
            model = build_layer(architecture)
    except Exception as error:  # a bad config, kernels without a cell option, or MemoryError alike
        raise ModelFileError(f"{path} holds an architecture lstmcore cannot build: {error}") from error
    # Checked before building (above) where a rule knows the layer; again here, against the model
    # itself, which catches a rule that drifted from its layer.
    expected = model.parameters()
    if set(expected) != set(weights):
        raise ModelFileError(f"{path}: weights {sorted(set(weights) ^ set(expected))} do not match the architecture")
    for name, value in expected.items():
        if weights[name].shape != value.shape or weights[name].dtype != value.dtype:
            raise ModelFileError(f"{path}: weight {name!r} is {weights[name].dtype}{weights[name].shape}, "
                                 f"the architecture needs {value.dtype}{value.shape}"
                                 + ("" if not checked else " (lstmcore.io's shape rule for it is out of date)"))
    for name, value in expected.items():
        value[...] = weights[name]
    return model
