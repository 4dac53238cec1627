"""Checkpoints: a model's weights plus everything needed to resume training, in one ``.npz`` file.

A checkpoint is a plain NumPy ``.npz`` archive, so it can be read with ``np.load`` and never
executes code: it is always loaded with ``allow_pickle=False``. Layout::

    __minigrad__            uint8 JSON: format marker, version, epoch, step, model name, config,
                            metrics, RNG state, and the optimizer/scheduler state with every
                            array replaced by a reference {"__array__": "<key>"}
    model/<name>            one array per ``model.state_dict()`` entry
    optimizer/<i>           the optimizer's arrays (momentum buffers, Adam moments, ...)
    scheduler/<i>           the scheduler's arrays (rarely any)

Files are written atomically: to a temporary file in the same directory, flushed and fsynced,
then renamed over the destination, so a crash never leaves a half-written checkpoint.
"""

from __future__ import annotations

import json
import math
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .fileio import atomic_write

__all__ = ["CheckpointError", "Checkpoint", "save_checkpoint", "load_checkpoint", "read_metadata", "check_like",
           "FORMAT", "VERSION"]

FORMAT = "minigrad-checkpoint"
VERSION = 1
_META = "__minigrad__"


class CheckpointError(ValueError):
    """A file that is not a readable minigrad checkpoint, or one that does not fit the model."""


class Checkpoint:
    """The contents of a checkpoint file, its arrays read on first use.

    ``load_checkpoint`` reads the metadata and every array's ``.npy`` header (shape and dtype);
    array data is read only when asked for, after ``load_model``/``load_optimizer`` have checked
    the declared shapes against the model, so a crafted file cannot make minigrad allocate more
    than the model itself needs.

    Attributes:
        path: where it was read from.
        model_state: ``state_dict`` of the model (a read-on-demand mapping name -> ndarray).
        optimizer_state: the optimizer's ``state_dict()`` (or None), read when accessed.
        scheduler_state: the LR scheduler's ``state_dict()`` (or None).
        shapes: ``{name: (shape, dtype)}`` of the model arrays, as their headers declare.
        epoch, step: the training position (see ``minigrad.train``).
        model_name: the registry name of the architecture.
        config: the training configuration (a dict).
        metrics: metrics and history (a dict).
        rng_state: the bit-generator state of ``mg.default_rng()`` (or None).
        version: the checkpoint format version.
    """

    def __init__(self, path, meta: dict, archive: "_Archive"):
        self.path = str(path)
        self._meta, self._archive = meta, archive
        self.epoch, self.step, self.model_name = meta["epoch"], meta["step"], meta["model_name"]
        self.version = meta["version"]
        self.model_state = _Prefixed(archive, "model/")
        self.shapes = {k[len("model/"):]: v for k, v in archive.headers.items() if k.startswith("model/")}
        # Small by construction (numbers and strings, arrays only when a user stored some):
        # decoded now, each array bounded by _SMALL_BYTES.
        small = _Bounded(archive, self.path)
        self.config = _decode(meta["config"], small)
        self.metrics = _decode(meta["metrics"], small)
        self.rng_state = _decode(meta["rng_state"], small)

    @property
    def has_optimizer_state(self) -> bool:
        """Whether an optimizer state was saved (known without reading it)."""
        return self._meta["optimizer"] is not None

    @property
    def optimizer_state(self):
        return _decode(self._meta["optimizer"], self._archive)

    @property
    def scheduler_state(self):
        return _decode(self._meta["scheduler"], self._archive)

    def check_model(self, model) -> None:
        """Compare the declared names, shapes and dtypes with ``model``'s state, reading no data.

        Raises:
            CheckpointError: listing every missing, unexpected or mismatched entry.
        """
        own = {k: np.asarray(v.numpy() if hasattr(v, "numpy") else v) for k, v in _state(model).items()}
        problems = []
        missing = [k for k in own if k not in self.shapes]
        unexpected = [k for k in self.shapes if k not in own]
        if missing:
            problems.append("missing keys: " + ", ".join(missing))
        if unexpected:
            problems.append("unexpected keys: " + ", ".join(unexpected))
        for key, value in own.items():
            if key in self.shapes:
                shape, dtype = self.shapes[key]
                if shape != value.shape:
                    problems.append(f"{key}: checkpoint shape {shape} != model shape {value.shape}")
                elif not np.can_cast(dtype, value.dtype, casting="same_kind"):
                    problems.append(f"{key}: checkpoint dtype {dtype} cannot become the model's {value.dtype}")
        if problems:
            raise CheckpointError(f"{self.path}: does not fit {type(model).__name__} "
                                  f"(checkpoint of model {self.model_name!r}): " + "; ".join(problems))

    def load_model(self, model) -> None:
        """Copy the weights into ``model`` (after ``check_model``).

        Raises:
            CheckpointError: when the keys, shapes or dtypes do not match, listing the mismatched keys.
        """
        self.check_model(model)
        try:
            model.load_state_dict(self.model_state)
        except ValueError as e:
            raise CheckpointError(f"{self.path}: does not fit {type(model).__name__} "
                                  f"(checkpoint of model {self.model_name!r}): {e}") from None

    def load_optimizer(self, optimizer) -> None:
        """Restore ``optimizer``'s state, checking each state array's declared shape against its
        parameter (and the hyperparameters' types) before reading any data.

        Raises:
            CheckpointError: no optimizer state, or one that does not fit ``optimizer``.
        """
        where = f"{self.path}: optimizer state"
        saved = _decode(self._meta["optimizer"], _Headers(self._archive))
        if not isinstance(saved, dict) or not isinstance(saved.get("state"), dict):
            raise CheckpointError(f"{where}: missing or not a dict with 'state' and 'param_groups'")
        fresh = optimizer.state_dict()
        check_like(saved.get("param_groups"), fresh["param_groups"], f"{where}: field param_groups")
        params = [p for group in optimizer.param_groups for p in group["params"]]
        for index, values in saved["state"].items():
            if not isinstance(index, int) or not 0 <= index < len(params) or not isinstance(values, dict):
                raise CheckpointError(f"{where}: entry {index!r} is not the state of one of the optimizer's "
                                      f"{len(params)} parameters")
            for name, value in values.items():
                if isinstance(value, _Header) and value.shape not in ((), tuple(params[index].shape)):
                    raise CheckpointError(f"{where}: '{name}' of parameter {index} declares shape {value.shape}, "
                                          f"the parameter has shape {tuple(params[index].shape)}")
                if isinstance(value, _Header) and value.dtype.kind not in "biuf":
                    raise CheckpointError(f"{where}: '{name}' of parameter {index} has dtype {value.dtype}")
        try:
            optimizer.load_state_dict(self.optimizer_state)
        except (ValueError, TypeError, KeyError) as e:
            raise CheckpointError(f"{where}: does not fit {type(optimizer).__name__} ({e})") from None

    def load_scheduler(self, scheduler) -> None:
        """Restore an LR scheduler, checking that every saved field has the type the scheduler uses.

        Raises:
            CheckpointError: a missing, extra or mistyped field (named).
        """
        saved = self.scheduler_state
        check_like(saved, scheduler.state_dict(), f"{self.path}: field scheduler")
        scheduler.load_state_dict(saved)

# ------------------------------------------------------------------ encoding
def _encode(obj, prefix: str, arrays: dict):
    """JSON-able copy of ``obj``; arrays go to ``arrays`` and are replaced by references.

    Tuples and dicts with non-string keys (an optimizer's state is keyed by parameter index)
    are tagged so that decoding gives back exactly what was saved.
    """
    from .tensor import Tensor

    if isinstance(obj, Tensor):
        obj = obj.numpy()
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind == "O":
            raise CheckpointError(f"save_checkpoint: {prefix}: object arrays cannot be stored")
        key = f"{prefix}/{len(arrays)}"
        arrays[key] = obj
        return {"__array__": key}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        if all(isinstance(k, str) for k in obj):
            return {k: _encode(v, prefix, arrays) for k, v in obj.items()}
        return {"__dict__": [[_encode(k, prefix, arrays), _encode(v, prefix, arrays)] for k, v in obj.items()]}
    if isinstance(obj, tuple):
        return {"__tuple__": [_encode(v, prefix, arrays) for v in obj]}
    if isinstance(obj, list):
        return [_encode(v, prefix, arrays) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise CheckpointError(f"save_checkpoint: {prefix}: cannot store a value of type {type(obj).__name__}")


def _decode(obj, arrays):
    if isinstance(obj, list):
        return [_decode(v, arrays) for v in obj]
    if isinstance(obj, dict):
        if set(obj) == {"__array__"}:
            return arrays[obj["__array__"]]
        if set(obj) == {"__tuple__"}:
            return tuple(_decode(v, arrays) for v in obj["__tuple__"])
        if set(obj) == {"__dict__"}:
            return {_decode(k, arrays): _decode(v, arrays) for k, v in obj["__dict__"]}
        return {k: _decode(v, arrays) for k, v in obj.items()}
    return obj


def _state(obj):
    return None if obj is None else (obj.state_dict() if hasattr(obj, "state_dict") else obj)


# -------------------------------------------------------------------- saving
def save_checkpoint(path, model, optimizer=None, scheduler=None, *, epoch: int = 0, step: int = 0,
                    config: dict | None = None, metrics: dict | None = None, model_name: str | None = None,
                    rng_state: dict | None = None) -> Path:
    """Write a checkpoint atomically.

    Args:
        path: destination file (``.npz`` is conventional; the name is used as given).
        model: a ``Module`` (or a ready ``state_dict`` mapping).
        optimizer: an optimizer (or its ``state_dict()``), optional.
        scheduler: an LR scheduler (or its ``state_dict()``), optional.
        epoch, step: training position.
        config: JSON-able training configuration.
        metrics: JSON-able metrics (arrays allowed).
        model_name: registry name of the architecture, so ``minigrad eval`` can rebuild it.
        rng_state: ``mg.default_rng().bit_generator.state``.

    Returns:
        The path written.
    """
    path = Path(path)
    arrays = {f"model/{k}": np.asarray(v.numpy() if hasattr(v, "numpy") else v)
              for k, v in _state(model).items()}
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "epoch": int(epoch),
        "step": int(step),
        "model_name": model_name,
        "config": _encode(config or {}, "config", arrays),
        "metrics": _encode(metrics or {}, "metrics", arrays),
        "rng_state": _encode(rng_state, "rng", arrays),
        "optimizer": _encode(_state(optimizer), "optimizer", arrays),
        "scheduler": _encode(_state(scheduler), "scheduler", arrays),
    }
    arrays[_META] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    with atomic_write(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
    return path


# ------------------------------------------------------------------- loading
_META_BYTES = 64 << 20  # the JSON metadata (history included) is far below this
_SMALL_BYTES = 16 << 20  # arrays inside config/metrics/rng state


class _Header:
    """An array's declared shape and dtype (what ``load_optimizer`` checks before reading)."""

    def __init__(self, shape, dtype):
        self.shape, self.dtype = shape, dtype


class _Archive:
    """The members of an ``.npz`` file: every ``.npy`` header read and checked on opening, the data
    read on demand (and kept)."""

    def __init__(self, path: Path):
        self.path, self.headers, self._names, self._cache = path, {}, {}, {}
        with zipfile.ZipFile(path) as z:
            for info in z.infolist():
                if not info.filename.endswith(".npy"):
                    continue  # not an array: no part of a checkpoint
                key = info.filename[:-4]
                with z.open(info) as f:
                    version = np.lib.format.read_magic(f)
                    if version not in ((1, 0), (2, 0)):
                        raise CheckpointError(f"{path}: member {key}: unsupported .npy version {version}")
                    read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) \
                        else np.lib.format.read_array_header_2_0
                    shape, _, dtype = read_header(f)
                    offset = f.tell()
                if dtype.hasobject:
                    raise CheckpointError(f"{path}: holds pickled objects; refusing to load")
                nbytes = math.prod(shape) * dtype.itemsize
                if offset + nbytes != info.file_size:
                    raise CheckpointError(f"{path}: corrupt checkpoint (member {key} declares {shape} {dtype}, "
                                          f"{nbytes:,} bytes, but holds {info.file_size - offset:,})")
                self.headers[key] = (tuple(shape), dtype)
                self._names[key] = info.filename

    def read(self, key) -> np.ndarray:
        if key not in self._cache:
            try:
                with zipfile.ZipFile(self.path) as z, z.open(self._names[key]) as f:
                    self._cache[key] = np.lib.format.read_array(f, allow_pickle=False)
            except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as e:
                raise CheckpointError(f"{self.path}: corrupt or truncated checkpoint "
                                      f"({type(e).__name__}: {e})") from None
        return self._cache[key]

    def __getitem__(self, key):
        if key not in self.headers:
            raise CheckpointError(f"{self.path}: corrupt checkpoint metadata (refers to a missing array {key!r})")
        return self.read(key)

    def __getstate__(self):
        # A pickled checkpoint (sent by a distributed run's rank 0 to the others, which may have
        # no copy of the file) carries its arrays.
        for key in self.headers:
            self.read(key)
        return self.__dict__


class _Bounded:
    """``_Archive`` lookups refusing arrays over ``_SMALL_BYTES`` (for config and metrics)."""

    def __init__(self, archive, path):
        self.archive, self.path = archive, path

    def __getitem__(self, key):
        item = self.archive.headers.get(key)
        if item is not None and math.prod(item[0]) * item[1].itemsize > _SMALL_BYTES:
            raise CheckpointError(f"{self.path}: metadata array {key} declares {item[0]} {item[1]}, "
                                  f"more than the {_SMALL_BYTES >> 20} MB a metadata array may hold")
        return self.archive[key]


class _Headers:
    """``_Archive`` lookups giving ``_Header``s instead of data."""

    def __init__(self, archive):
        self.archive = archive

    def __getitem__(self, key):
        if key not in self.archive.headers:
            return self.archive[key]  # raises the missing-array error
        return _Header(*self.archive.headers[key])


class _Prefixed(Mapping):
    """The arrays under ``prefix`` (``model/``) as a read-on-demand mapping without the prefix."""

    def __init__(self, archive, prefix):
        self._archive, self._prefix = archive, prefix
        self._keys = [k[len(prefix):] for k in archive.headers if k.startswith(prefix)]

    def __getitem__(self, key):
        if key not in self._keys:
            raise KeyError(key)
        return self._archive.read(self._prefix + key)

    def __iter__(self):
        return iter(self._keys)

    def __len__(self):
        return len(self._keys)


_TOP_LEVEL = {"epoch": int, "step": int, "model_name": (str, type(None)), "config": dict, "metrics": dict,
              "rng_state": (dict, type(None)), "optimizer": (dict, type(None)), "scheduler": (dict, type(None))}


def _type_name(kind) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {int: "an integer", float: "a number", str: "a string", dict: "an object", list: "a list",
             bool: "true/false", type(None): "null"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def check_like(saved, fresh, where: str) -> None:
    """Check that ``saved`` has the structure of ``fresh`` (same keys, list lengths and value types;
    integers pass for floats).

    Raises:
        CheckpointError: naming the first field that differs (``where`` plus the path to it).
    """
    if isinstance(fresh, dict):
        if not isinstance(saved, dict):
            raise CheckpointError(f"{where} must be an object, got {type(saved).__name__}")
        if set(saved) != set(fresh):
            odd = sorted(map(str, set(saved) ^ set(fresh)))
            raise CheckpointError(f"{where}: unexpected or missing fields {', '.join(odd)}")
        for k in fresh:
            check_like(saved[k], fresh[k], f"{where}.{k}")
    elif isinstance(fresh, (list, tuple)):
        if not isinstance(saved, (list, tuple)) or len(saved) != len(fresh):
            raise CheckpointError(f"{where} must be a list of {len(fresh)}, got {saved!r:.60}")
        for i, (a, b) in enumerate(zip(saved, fresh)):
            check_like(a, b, f"{where}[{i}]")
    elif isinstance(fresh, bool) or fresh is None or isinstance(fresh, str):
        if type(saved) is not type(fresh) and not (fresh is None or saved is None):
            raise CheckpointError(f"{where} must be {_type_name(type(fresh))}, got {saved!r:.60}")
    elif isinstance(fresh, (int, float, np.number)):
        if isinstance(saved, bool) or not isinstance(saved, (int, float, np.number)) \
                or (isinstance(fresh, (int, np.integer)) and not isinstance(saved, (int, np.integer))):
            raise CheckpointError(f"{where} must be {_type_name(int if isinstance(fresh, int) else float)}, "
                                  f"got {saved!r:.60}")


def read_metadata(path) -> dict:
    """The JSON metadata of a checkpoint (epoch, step, model name, ...), without reading any array."""
    return _open(Path(path))[0]


def _open(path: Path):
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    if not zipfile.is_zipfile(path):
        raise CheckpointError(f"{path}: not a minigrad checkpoint (not an .npz archive)")
    try:
        archive = _Archive(path)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, KeyError, ValueError) as e:
        if isinstance(e, CheckpointError):
            raise
        raise CheckpointError(f"{path}: corrupt or truncated checkpoint ({type(e).__name__}: {e})") from None
    if _META not in archive.headers:
        raise CheckpointError(f"{path}: not a minigrad checkpoint (no {_META} marker)")
    shape, dtype = archive.headers[_META]
    if dtype != np.uint8 or len(shape) != 1 or shape[0] > _META_BYTES:
        raise CheckpointError(f"{path}: corrupt checkpoint metadata ({_META} is {shape} {dtype})")
    try:
        meta = json.loads(archive.read(_META).tobytes().decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: corrupt checkpoint metadata ({e})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a minigrad checkpoint (format marker missing)")
    if not isinstance(meta.get("version"), int) or meta["version"] > VERSION:
        raise CheckpointError(f"{path}: checkpoint format version {meta.get('version')!r} is newer than "
                              f"this minigrad supports ({VERSION}); upgrade minigrad")
    defaults = {"epoch": 0, "step": 0, "model_name": None, "config": {}, "metrics": {}, "rng_state": None,
                "optimizer": None, "scheduler": None}
    for name, kind in _TOP_LEVEL.items():
        meta.setdefault(name, defaults[name])
        value = meta[name]
        if not isinstance(value, kind) or isinstance(value, bool) or (kind is int and value < 0):
            raise CheckpointError(f"{path}: checkpoint metadata field {name} must be "
                                  f"{_type_name(kind)}{' >= 0' if kind is int else ''}, got {value!r:.60}")
    return meta, archive


def load_checkpoint(path) -> Checkpoint:
    """Open a checkpoint written by ``save_checkpoint``, never unpickling anything.

    Reads the metadata and the arrays' headers; the arrays themselves are read when used.

    Raises:
        CheckpointError: missing file, not an ``.npz`` archive, corrupt or truncated archive, an
            array whose header disagrees with its size, no minigrad marker, an unsupported
            version, a metadata field of the wrong type, or pickled (object) arrays.
    """
    path = Path(path)
    meta, archive = _open(path)
    try:
        return Checkpoint(path, meta, archive)
    except (KeyError, TypeError, ValueError) as e:
        if isinstance(e, CheckpointError):
            raise
        raise CheckpointError(f"{path}: corrupt checkpoint metadata ({type(e).__name__}: {e})") from None
