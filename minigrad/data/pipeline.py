"""From a dataset name to ready loaders: resolving ``auto``, resizing to the model's input, normalizing.

Used by ``minigrad.train.fit`` and by ``minigrad eval``; no CLI here. The pipeline knows data, not
models: the caller says which task "auto" is for and which input size the model takes, and gives
what it reads of a run as a ``DataSpec``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["DataSpec", "choose_dataset", "build_transform", "load_datasets", "make_loaders", "PadOrResize"]


@dataclass(frozen=True)
class DataSpec:
    """The data of a run: which dataset and splits, how many examples, and how they are batched.

    Attributes:
        dataset: a name of ``minigrad.data.DATASETS`` (already resolved, not "auto").
        data_dir: where its files are (None: ``MINIGRAD_DATA`` or the cache).
        train_split, test_split: split names, slices allowed ("test[:8000]").
        limit, test_limit: use the first N training / test examples only (None: all).
        batch_size: training batch size (evaluation batches hold at least 256).
        seed: seeds the loaders' shuffling and augmentation (not the data itself).
        augment: random crop (and horizontal flip for RGB images) during training.
        prefetch: batches prepared ahead by each loader's background thread.
    """

    dataset: str
    data_dir: str | None = None
    train_split: str = "train"
    test_split: str = "test"
    limit: int | None = None
    test_limit: int | None = None
    batch_size: int = 64
    seed: int = 0
    augment: bool = False
    prefetch: int = 2


def _download_mnist(root) -> str | None:
    """Fetch MNIST into ``root`` (None: the cache); return None on success, else the reason it failed."""
    from .datasets import load_dataset
    from .errors import DataError

    try:
        for split in ("train", "test"):
            load_dataset("mnist", split=split, root=root, download=True)
    except DataError as exc:
        return str(exc).split(" (")[0]
    return None


def choose_dataset(name: str, task: str = "classification", data_dir=None, note=print) -> str:
    """The dataset called ``name``, or for "auto" the one to train a ``task`` model on.

    "auto" picks "synth-shapes" for segmentation; for classification "mnist" when its files are
    in ``data_dir``, ``MINIGRAD_DATA`` or the cache, or can be downloaded there, else
    "synth-digits" (saying so through ``note``, so that ``minigrad train lenet`` works offline).

    Raises:
        ValueError: for an unknown name, listing the valid ones.
    """
    from .datasets import DATASETS, dataset_available, default_root

    if name != "auto":
        if name not in DATASETS:
            raise ValueError(f"train: unknown dataset {name!r}; valid names: auto, {', '.join(DATASETS)}")
        return name
    if task == "segmentation":
        return "synth-shapes"
    roots = [data_dir] if data_dir else []
    if any(dataset_available("mnist", r) for r in roots) or dataset_available("mnist", None):
        return "mnist"
    failure = _download_mnist(data_dir)
    if failure is None:
        return "mnist"
    where = " or ".join(str(r) for r in roots + [default_root()])
    note(f"MNIST not found in {where} and not downloadable ({failure}); training on synth-digits")
    return "synth-digits"


def _data_root(name, data_dir):
    """``data_dir`` unless the files are only in the default location (auto found them there)."""
    from .datasets import dataset_available

    if data_dir and name in ("mnist", "fashion-mnist", "cifar10") and not dataset_available(name, data_dir) \
            and dataset_available(name, None):
        return None
    return data_dir


def _stats(ds):
    """Per-channel mean and std of a dataset in [0, 1] units (its own when it carries them)."""
    if ds.mean is not None and ds.std is not None:
        return tuple(float(m) for m in ds.mean), tuple(float(s) for s in ds.std)
    images = ds.images[:10000].astype(np.float32)
    if ds.images.dtype == np.uint8:
        images /= 255.0
    return tuple(images.mean(axis=(0, 2, 3)).tolist()), tuple(np.maximum(images.std(axis=(0, 2, 3)), 1e-6).tolist())


class PadOrResize:
    """Bring an (N, C, H, W) batch to ``size``: zero-pad symmetrically when it fits (28 -> 32
    as LeNet's paper did), otherwise resize bilinearly; then repeat gray to 3 channels or
    average RGB to gray when the channel counts differ."""

    def __init__(self, channels: int, size):
        from .transforms import Resize

        self.channels, self.size = channels, tuple(size)
        self._resize = Resize(self.size)

    def __call__(self, batch, rng=None):
        h, w = batch.shape[2:]
        th, tw = self.size
        if (h, w) != (th, tw):
            if th >= h and tw >= w and (th - h) % 2 == 0 and (tw - w) % 2 == 0:
                ph, pw = (th - h) // 2, (tw - w) // 2
                batch = np.pad(batch, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
            else:
                batch = self._resize(batch, rng)
        if batch.shape[1] != self.channels:
            if batch.shape[1] == 1:
                batch = np.repeat(batch, self.channels, axis=1)
            else:
                batch = batch.mean(axis=1, keepdims=True, dtype=np.float32)
                batch = np.repeat(batch, self.channels, axis=1) if self.channels > 1 else batch
        return np.ascontiguousarray(batch, dtype=np.float32)


def build_transform(src_size, dst_size, mean, std, augment=False, note=print):
    """The loader transform: convert to the model's input size/channels, augment, normalize.

    Args:
        src_size: (C, H, W) of the dataset's images.
        dst_size: (C, H, W) the model expects.
        mean, std: per-channel statistics of the dataset (converted with the channels).
        augment: random crop with padding (size/8), plus horizontal flips for RGB images.
        note: receives one line describing any conversion.

    Returns:
        A ``Compose`` callable ``t(batch, rng)``.
    """
    from .transforms import Compose, Normalize, RandomCrop, RandomHorizontalFlip

    (c, h, w), (tc, th, tw) = tuple(src_size), tuple(dst_size)
    steps = []
    if (c, h, w) != (tc, th, tw):
        how = "padding" if th >= h and tw >= w and (th - h) % 2 == 0 and (tw - w) % 2 == 0 else "resizing"
        note(f"the model expects {tc}x{th}x{tw} inputs; {how} {c}x{h}x{w} images")
        steps.append(PadOrResize(tc, (th, tw)))
        if c != tc:
            mean, std = [float(np.mean(mean))] * tc, [float(np.mean(std))] * tc
    if augment:
        steps.append(RandomCrop((th, tw), padding=max(1, th // 8)))
        if tc == 3:
            steps.append(RandomHorizontalFlip())
    steps.append(Normalize(tuple(mean), tuple(std)))
    return Compose(steps)


def load_datasets(spec: DataSpec, train: bool = True, note=None):
    """``(train_ds or None, test_ds)`` of a run.

    ``note`` (when given) hears when a "folder" dataset has no split subfolders, so that the
    training images are also the test images.
    """
    from pathlib import Path

    from .datasets import load_dataset

    root = _data_root(spec.dataset, spec.data_dir)
    if note is not None and train and spec.dataset == "folder" and root is not None:
        splits = {s.split("[")[0] for s in (spec.train_split, spec.test_split)}
        if not any((Path(root) / s).is_dir() for s in splits):
            note(f"folder: {root} has no {' or '.join(sorted(splits))} subfolder, so the test images are the "
                 f"training images and the test accuracy says nothing about new images; put them in "
                 f"{root}/train/<class>/ and {root}/test/<class>/")

    # The data itself does not depend on spec.seed (which seeds the order), so accuracies of runs
    # with different seeds are measured on the same images.
    def load(split, limit, seed=0):
        if limit is not None and spec.dataset.startswith("synth-") and "[" not in split:
            # A synthetic set of `limit` images: rendering thousands only to keep a few is slow.
            return load_dataset(spec.dataset, split=split, root=root, seed=seed, size=limit)
        return load_dataset(spec.dataset, split=split, root=root, limit=limit, seed=seed)

    test_ds = load(spec.test_split, spec.test_limit)
    train_ds = load(spec.train_split, spec.limit) if train else None
    return train_ds, test_ds


def make_loaders(spec: DataSpec, train_ds, test_ds, model_input_size, stats=None, note=print):
    """Loaders that bring the images to ``model_input_size`` and normalize them.

    Args:
        spec: the dataset's name, batch size, seed, augmentation and prefetch come from here.
        train_ds: the training set, or None (evaluation only).
        test_ds: the test set.
        model_input_size: (C, H, W) the model expects.
        stats: ``(mean, std)`` to normalize with (a checkpoint's); default: the training set's.
        note: receives one line per conversion.

    Returns:
        ``(train_loader or None, test_loader, info)``; ``info`` records the dataset's name,
        classes, statistics and sizes (saved in checkpoints for ``eval`` and ``predict``).
    """
    from .loader import DataLoader

    ref = train_ds if train_ds is not None else test_ds
    mean, std = stats if stats is not None else _stats(ref)
    segmentation = ref.task == "segmentation"
    # Masks would not follow a resize or crop of the images: segmentation data is used as is.
    dst = tuple(ref.input_size) if segmentation else (ref.input_size[0],) + tuple(model_input_size[1:])
    info = {"name": spec.dataset, "classes": list(ref.classes), "mean": list(mean), "std": list(std),
            "src_size": list(ref.input_size), "input_size": list(dst), "task": ref.task,
            "train_size": len(train_ds) if train_ds is not None else None, "test_size": len(test_ds)}
    eval_tf = build_transform(ref.input_size, dst, mean, std, False, note=note)
    test_loader = DataLoader(test_ds, batch_size=max(256, spec.batch_size), transform=eval_tf,
                             seed=spec.seed, prefetch=spec.prefetch)
    train_loader = None
    if train_ds is not None:
        train_tf = build_transform(ref.input_size, dst, mean, std, spec.augment and not segmentation,
                                   note=lambda _: None)
        train_loader = DataLoader(train_ds, batch_size=spec.batch_size, shuffle=True, transform=train_tf,
                                  seed=spec.seed, prefetch=spec.prefetch)
    return train_loader, test_loader, info
