"""``load_dataset``: every dataset by name, with split slicing, local lookup and downloads.

Split syntax: ``"train"``, ``"test"``, or a slice of one, ``"test[:8000]"``, ``"test[8000:]"``,
``"train[:10%]"``, ``"train[-500:]"`` - so the real MNIST test files alone can provide both a
training and a held-out set.
"""

from __future__ import annotations

import os
import re
import tarfile
from pathlib import Path

import numpy as np

from .cifar import CIFAR10_CLASSES, read_cifar_batch
from .dataset import ArrayDataset
from .download import RESOURCES, download
from .errors import DataError
from .folder import is_mask_folder, read_image_folder, read_mask_folder
from .idx import read_idx_images, read_idx_labels
from .synthetic import DIGIT_CLASSES, SHAPE_CLASSES, synth_digits, synth_shapes

__all__ = ["load_dataset", "dataset_available", "DATASETS", "default_root", "parse_split"]

DATASETS = sorted(["mnist", "fashion-mnist", "cifar10", "folder", "synth-digits", "synth-shapes"])
_ALIASES = {"fashion_mnist": "fashion-mnist", "fashionmnist": "fashion-mnist", "cifar-10": "cifar10",
            "synth_digits": "synth-digits", "synth_shapes": "synth-shapes"}
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot"]
_IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_CIFAR_FILES = {"train": [f"data_batch_{i}.bin" for i in range(1, 6)], "test": ["test_batch.bin"]}
_SYNTH_SIZES = {"synth-digits": {"train": 6000, "test": 1000, "val": 1000},
                "synth-shapes": {"train": 1000, "test": 200, "val": 200}}
_SPLIT_RE = re.compile(r"^\s*(\w+)\s*(?:\[\s*(-?\d+%?)?\s*:\s*(-?\d+%?)?\s*\])?\s*$")


def default_root() -> Path:
    """``$MINIGRAD_DATA`` when set, else ``~/.cache/minigrad``."""
    env = os.environ.get("MINIGRAD_DATA")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "minigrad"


def _canonical(name: str) -> str:
    key = str(name).strip().lower()
    key = _ALIASES.get(key, key)
    if key not in DATASETS:
        raise ValueError(f"load_dataset: unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    return key


def parse_split(split: str) -> tuple[str, str | None, str | None]:
    """``"test[8000:]"`` -> ``("test", "8000", None)``; bounds may end in ``%``."""
    match = _SPLIT_RE.match(str(split))
    if not match:
        raise ValueError(
            f"load_dataset: bad split {split!r}; use 'train', 'test', or a slice like 'test[:8000]', "
            f"'test[8000:]', 'train[:10%]'"
        )
    return match.group(1).lower(), match.group(2), match.group(3)


def _bound(text, n):
    if text is None:
        return None
    if text.endswith("%"):
        return int(round(n * int(text[:-1]) / 100.0))
    return int(text)


def _slice_split(ds: ArrayDataset, start, stop) -> ArrayDataset:
    if start is None and stop is None:
        return ds
    return ds.subset(slice(_bound(start, len(ds)), _bound(stop, len(ds))))


# ------------------------------------------------------------------ lookup
def _find(root: Path, name: str, filename: str, gz: bool = True) -> Path | None:
    """First of root/filename, root/name/filename (raw before ``.gz``) that exists."""
    for folder in (root, root / name):
        for candidate in ((filename, filename + ".gz") if gz else (filename,)):
            path = folder / candidate
            if path.is_file():
                return path
    return None


def _cifar_dir(root: Path) -> Path | None:
    for folder in (root / "cifar-10-batches-bin", root / "cifar10" / "cifar-10-batches-bin", root / "cifar10"):
        if (folder / "test_batch.bin").is_file() or (folder / "data_batch_1.bin").is_file():
            return folder
    return None


def _split_available(name: str, root: Path, split: str) -> bool:
    if name in ("mnist", "fashion-mnist"):
        return split in _IDX_FILES and all(_find(root, name, f) for f in _IDX_FILES[split])
    if name == "cifar10":
        folder = _cifar_dir(root)
        return folder is not None and split in _CIFAR_FILES and all((folder / f).is_file() for f in _CIFAR_FILES[split])
    if name == "folder":
        return root.is_dir() and any(p.is_dir() for p in root.iterdir())
    return True


def dataset_available(name: str, root=None, split: str | None = None) -> bool:
    """Whether the dataset's files are present locally (no download attempt).

    Args:
        name: a name from ``DATASETS``.
        root: data folder (default ``default_root()``); for "folder" the image folder itself.
        split: check one split ("train"/"test", slices allowed); None: any split is present.

    Returns:
        True for the synthetic sets, which need no files.
    """
    name = _canonical(name)
    if name in ("synth-digits", "synth-shapes"):
        return True
    if name == "folder" and root is None:
        return False
    root = Path(root).expanduser() if root is not None else default_root()
    if split is not None:
        return _split_available(name, root, parse_split(split)[0])
    return any(_split_available(name, root, s) for s in ("train", "test"))


def _expected_files(name: str) -> str:
    """Every file a dataset needs, both splits, in the layout the README gives."""
    if name == "cifar10":
        return (f"the folder cifar-10-batches-bin/ holding {', '.join(_CIFAR_FILES['train'])} and "
                f"{_CIFAR_FILES['test'][0]}")
    files = [f + ".gz" for split in ("train", "test") for f in _IDX_FILES[split]]
    return f"{', '.join(files[:-1])} and {files[-1]} (raw or gzipped)"


def _missing_message(name: str, root: Path, reason: str) -> str:
    return (f"{name}: {reason}. Put {_expected_files(name)} in {root} or {root / name}; "
            f"--data-dir DIR (root= in Python) or MINIGRAD_DATA points elsewhere")


def _fetch(name: str, root: Path, wanted) -> None:
    """Download the resources of ``name`` that provide ``wanted`` file names."""
    errors = []
    for filename, mirrors, md5 in RESOURCES[name]:
        if name != "cifar10" and filename[:-3] not in wanted:
            continue
        dest = root / name / filename
        for mirror in mirrors:
            try:
                download(mirror + filename, dest, md5)
                break
            except DataError as exc:
                errors.append(str(exc))
        else:
            # Every mirror fails the same way offline: the first reason is enough.
            raise DataError(_missing_message(name, root, f"files not found and the download failed ({errors[0]})"))
        if name == "cifar10":
            _extract(dest, root / name)


def _extract(archive: Path, into: Path) -> None:
    try:
        with tarfile.open(archive) as tar:
            for member in tar.getmembers():
                target = (into / member.name).resolve()
                if not str(target).startswith(str(into.resolve())):
                    raise DataError(f"cifar10: {archive}: unsafe path {member.name!r} in the archive")
            if hasattr(tarfile, "data_filter"):
                # Python >= 3.12 (and patched 3.8+): refuse links and special files as well.
                tar.extractall(into, filter="data")
            else:
                tar.extractall(into)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DataError(f"cifar10: {archive}: cannot extract the archive ({exc})") from exc


# ------------------------------------------------------------------ loaders
def _load_idx(name: str, root: Path, split: str, download_ok: bool) -> ArrayDataset:
    if split not in _IDX_FILES:
        raise ValueError(f"load_dataset: {name} has splits 'train' and 'test', got {split!r}")
    image_file, label_file = _IDX_FILES[split]
    if not _split_available(name, root, split):
        if not download_ok:
            raise DataError(_missing_message(name, root, f"{split} files not found and download=False"))
        _fetch(name, root, [image_file, label_file])
    images_path, labels_path = _find(root, name, image_file), _find(root, name, label_file)
    images = read_idx_images(images_path, what=name)
    labels = read_idx_labels(labels_path, 10, what=name)
    if len(images) != len(labels):
        raise DataError(f"{name}: {images_path} has {len(images)} images but {labels_path} has {len(labels)} labels")
    classes = DIGIT_CLASSES if name == "mnist" else FASHION_CLASSES
    return ArrayDataset(images, labels, classes, name=name)


def _load_cifar(root: Path, split: str, download_ok: bool) -> ArrayDataset:
    if split not in _CIFAR_FILES:
        raise ValueError(f"load_dataset: cifar10 has splits 'train' and 'test', got {split!r}")
    if not _split_available("cifar10", root, split):
        if not download_ok:
            raise DataError(_missing_message("cifar10", root, f"{split} files not found and download=False"))
        _fetch("cifar10", root, _CIFAR_FILES[split])
        if not _split_available("cifar10", root, split):
            raise DataError(f"cifar10: the archive in {root / 'cifar10'} does not contain {_CIFAR_FILES[split]}")
    folder = _cifar_dir(root)
    parts = [read_cifar_batch(folder / f) for f in _CIFAR_FILES[split]]
    images = np.concatenate([p[0] for p in parts]) if len(parts) > 1 else parts[0][0]
    labels = np.concatenate([p[1] for p in parts]) if len(parts) > 1 else parts[0][1]
    return ArrayDataset(images, labels, CIFAR10_CLASSES, name="cifar10")


def _load_folder(root, split: str, image_size=None, channels: int = 3) -> ArrayDataset:
    if root is None:
        raise ValueError("load_dataset: 'folder' needs root=<folder containing class subfolders>")
    root = Path(root).expanduser()
    if split not in ("train", "test", "val"):
        raise ValueError(f"load_dataset: folder splits are 'train', 'test' and 'val', got {split!r}")
    classes = None
    if is_mask_folder(root / split) or is_mask_folder(root):
        seg_root = root / split if is_mask_folder(root / split) else root
        names_file = seg_root / "classes.txt" if (seg_root / "classes.txt").is_file() else root / "classes.txt"
        if names_file.is_file():
            classes = [line.strip() for line in names_file.read_text().splitlines() if line.strip()]
        images, masks, classes = read_mask_folder(seg_root, image_size, channels, classes, what="folder")
        return ArrayDataset(images, masks, classes, name="folder")
    if (root / split).is_dir():
        # Label numbering must agree between splits: take the classes from all split folders.
        names = set()
        for s in ("train", "test", "val"):
            if (root / s).is_dir():
                names |= {p.name for p in (root / s).iterdir() if p.is_dir() and not p.name.startswith(".")}
        classes, root = sorted(names), root / split
    images, labels, classes = read_image_folder(root, classes, image_size, channels, what="folder")
    return ArrayDataset(images, labels, classes, name="folder")


def load_dataset(name: str, split: str = "train", root=None, download: bool = True, limit: int | None = None,
                 seed: int = 0, **kw) -> ArrayDataset:
    """Load a dataset split into memory.

    Args:
        name: one of ``DATASETS``: "mnist", "fashion-mnist", "cifar10", "folder",
            "synth-digits", "synth-shapes".
        split: "train" or "test" (synthetic sets also "val"), optionally sliced:
            "test[:8000]", "test[8000:]", "train[:10%]".
        root: data folder; default ``$MINIGRAD_DATA`` or ``~/.cache/minigrad``. Files are looked up
            in ``root`` and ``root/<name>``, raw or gzipped. For "folder", the image folder.
        download: fetch missing public files (verified by MD5) into ``root/<name>``.
        limit: keep only the first ``limit`` examples (after slicing).
        seed: seed of the synthetic sets.
        **kw: "synth-digits"/"synth-shapes": ``size`` (number of images); "folder": ``image_size=(H, W)``,
            ``channels`` (1 or 3).

    Returns:
        ``ArrayDataset``.

    Raises:
        DataError: files missing (and not downloadable) or corrupt; the message names the file.
        ValueError: unknown name, bad split or keyword.
    """
    name = _canonical(name)
    base, start, stop = parse_split(split)
    allowed = {"synth-digits": {"size"}, "synth-shapes": {"size"},
               "folder": {"image_size", "channels"}}.get(name, set())
    unknown = set(kw) - allowed
    if unknown:
        raise ValueError(f"load_dataset: {name} does not take {', '.join(sorted(unknown))}"
                         + (f"; it takes {', '.join(sorted(allowed))}" if allowed else ""))
    if limit is not None and (not isinstance(limit, (int, np.integer)) or limit < 0):
        raise ValueError(f"load_dataset: limit must be a non-negative int, got {limit!r}")
    if name in ("synth-digits", "synth-shapes"):
        if base not in _SYNTH_SIZES[name]:
            raise ValueError(f"load_dataset: {name} splits are 'train', 'test' and 'val', got {base!r}")
        size = int(kw.get("size", _SYNTH_SIZES[name][base]))
        if name == "synth-digits":
            images, targets = synth_digits(size, int(seed), base)
            ds = ArrayDataset(images, targets, DIGIT_CLASSES, name=name)
        else:
            images, targets = synth_shapes(size, int(seed), base)
            ds = ArrayDataset(images, targets, SHAPE_CLASSES, name=name)
    elif name == "folder":
        ds = _load_folder(root, base, kw.get("image_size"), int(kw.get("channels", 3)))
    else:
        root = Path(root).expanduser() if root is not None else default_root()
        ds = _load_cifar(root, base, download) if name == "cifar10" else _load_idx(name, root, base, download)
    ds = _slice_split(ds, start, stop)
    if limit is not None and limit < len(ds):
        ds = ds.subset(slice(0, int(limit)))
    return ds
