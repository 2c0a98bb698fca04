"""lstmcore.save / lstmcore.load: one .npz (zip) file holding the architecture as JSON, every
weight by name, a format tag and a format version.

Writing goes to a temporary file in the target directory, flushed to disk, then renamed over the
target (atomic on POSIX), so a crash never leaves a partial model file.  Reading reads and checks
everything (zip CRCs, format, version, names, shapes, dtypes) before it builds the model, so a
truncated, corrupted or foreign file raises ModelFileError and nothing is half-loaded.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any, Dict, Union

import numpy as np

from .layers.base import Layer, build_layer
from .layers.sequential import Sequential

FORMAT_TAG = "lstmcore-model"
FORMAT_VERSION = 1
_WEIGHT_PREFIX = "weight/"
PathLike = Union[str, "os.PathLike[str]"]


class ModelFileError(ValueError):
    """A model file that cannot be loaded: not ours, truncated, corrupted or of another format version."""


def _architecture(model: Layer) -> Dict[str, Any]:
    return {"class": type(model).__name__, "config": model.config()}


def save(model: Layer, path: PathLike) -> None:
    """Write `model` (a Sequential or any single layer) to `path`, atomically."""
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
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=os.path.basename(path) + ".", suffix=".partial")
    try:
        with os.fdopen(handle, "wb") as stream:
            np.savez(stream, **arrays)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


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

    try:
        if architecture.get("class") == "Sequential":
            model: Layer = Sequential.from_config(architecture.get("config"))
        else:
            model = build_layer(architecture)
    except (TypeError, ValueError, AttributeError, NotImplementedError) as error:
        raise ModelFileError(f"{path} holds an architecture lstmcore cannot build: {error}") from error
    expected = model.parameters()
    if set(expected) != set(weights):
        raise ModelFileError(f"{path}: weights {sorted(set(weights) ^ set(expected))} do not match the architecture")
    for name, value in expected.items():
        if weights[name].shape != value.shape or weights[name].dtype != value.dtype:
            raise ModelFileError(f"{path}: weight {name!r} is {weights[name].dtype}{weights[name].shape}, "
                                 f"the architecture needs {value.dtype}{value.shape}")
    for name, value in expected.items():
        value[...] = weights[name]
    return model
