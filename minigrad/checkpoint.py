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
import os
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["CheckpointError", "Checkpoint", "save_checkpoint", "load_checkpoint", "FORMAT", "VERSION"]

FORMAT = "minigrad-checkpoint"
VERSION = 1
_META = "__minigrad__"


class CheckpointError(ValueError):
    """A file that is not a readable minigrad checkpoint, or one that does not fit the model."""


@dataclass
class Checkpoint:
    """The contents of a checkpoint file.

    Attributes:
        path: where it was read from.
        model_state: ``state_dict`` of the model (name -> ndarray).
        optimizer_state: the optimizer's ``state_dict()`` (or None).
        scheduler_state: the LR scheduler's ``state_dict()`` (or None).
        epoch, step: the training position (see ``minigrad.train``).
        model_name: the registry name of the architecture.
        config: the training configuration (a dict).
        metrics: metrics and history (a dict).
        rng_state: the bit-generator state of ``mg.default_rng()`` (or None).
        version: the checkpoint format version.
    """

    path: str
    model_state: dict
    optimizer_state: dict | None = None
    scheduler_state: dict | None = None
    epoch: int = 0
    step: int = 0
    model_name: str | None = None
    config: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    rng_state: dict | None = None
    version: int = VERSION

    def load_model(self, model) -> None:
        """Copy the weights into ``model``.

        Raises:
            CheckpointError: when the keys or shapes do not match, listing the mismatched keys.
        """
        try:
            model.load_state_dict(self.model_state)
        except ValueError as e:
            raise CheckpointError(f"{self.path}: does not fit {type(model).__name__} "
                                  f"(checkpoint of model {self.model_name!r}): {e}") from None


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
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        # Also on Ctrl-C: never leave the temporary file behind.
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)
    return path


def _fsync_dir(directory: Path) -> None:
    """Make the rename durable; not every platform can open a directory."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ------------------------------------------------------------------- loading
def load_checkpoint(path) -> Checkpoint:
    """Read a checkpoint written by ``save_checkpoint``, never unpickling anything.

    Raises:
        CheckpointError: missing file, not an ``.npz`` archive, corrupt or truncated archive,
            no minigrad marker, an unsupported version, or pickled (object) arrays.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    if not zipfile.is_zipfile(path):
        raise CheckpointError(f"{path}: not a minigrad checkpoint (not an .npz archive)")
    arrays = {}
    try:
        with np.load(path, allow_pickle=False) as npz:
            for key in npz.files:
                arrays[key] = npz[key]
    except ValueError as e:
        if "pickle" in str(e).lower() or "object" in str(e).lower():
            raise CheckpointError(f"{path}: holds pickled objects; refusing to load") from None
        raise CheckpointError(f"{path}: corrupt checkpoint ({e})") from None
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, KeyError) as e:
        raise CheckpointError(f"{path}: corrupt or truncated checkpoint ({type(e).__name__}: {e})") from None
    if _META not in arrays:
        raise CheckpointError(f"{path}: not a minigrad checkpoint (no {_META} marker)")
    try:
        meta = json.loads(arrays.pop(_META).tobytes().decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: corrupt checkpoint metadata ({e})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a minigrad checkpoint (format marker missing)")
    if not isinstance(meta.get("version"), int) or meta["version"] > VERSION:
        raise CheckpointError(f"{path}: checkpoint format version {meta.get('version')!r} is newer than "
                              f"this minigrad supports ({VERSION}); upgrade minigrad")
    try:
        return Checkpoint(
            path=str(path),
            model_state={k[len("model/"):]: v for k, v in arrays.items() if k.startswith("model/")},
            optimizer_state=_decode(meta.get("optimizer"), arrays),
            scheduler_state=_decode(meta.get("scheduler"), arrays),
            epoch=int(meta.get("epoch", 0)),
            step=int(meta.get("step", 0)),
            model_name=meta.get("model_name"),
            config=_decode(meta.get("config") or {}, arrays),
            metrics=_decode(meta.get("metrics") or {}, arrays),
            rng_state=_decode(meta.get("rng_state"), arrays),
            version=meta["version"],
        )
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: corrupt checkpoint metadata ({type(e).__name__}: {e})") from None
