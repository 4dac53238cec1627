"""From a dataset name to ready loaders: resolving ``auto``, resizing to the model's input, normalizing.

Used by ``minigrad.train.fit`` and by ``minigrad eval``; no CLI here.
"""

from __future__ import annotations


from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ..train_config import TrainConfig

__all__ = ["resolve_dataset", "build_transform", "load_datasets", "make_loaders", "PadOrResize"]


def _download_mnist(root) -> str | None:
    """Fetch MNIST into ``root`` (None: the cache); return None on success, else the reason it failed."""
    from . import DataError, load_dataset

    try:
        for split in ("train", "test"):
            load_dataset("mnist", split=split, root=root, download=True)
    except DataError as exc:
        return str(exc).split(" (")[0]
    return None


def resolve_dataset(name: str, model: str, data_dir=None, note=print) -> str:
    """The dataset to train ``model`` on.

    "auto" picks "synth-shapes" for segmentation models; for classification "mnist" when its
    files are in ``data_dir``, ``MINIGRAD_DATA`` or the cache, or can be downloaded there, else
    "synth-digits" (saying so through ``note``, so that ``minigrad train lenet`` works offline).

    Raises:
        ValueError: for an unknown name, listing the valid ones.
    """
    from ..models import list_models, model_info
    from . import DATASETS, dataset_available
    from .datasets import default_root

    if name != "auto":
        if name not in DATASETS:
            raise ValueError(f"train: unknown dataset {name!r}; valid names: auto, {', '.join(DATASETS)}")
        return name
    if model in list_models() and model_info(model)["task"] == "segmentation":
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
    from . import dataset_available

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
        from . import transforms

        self.channels, self.size = channels, tuple(size)
        self._resize = transforms.Resize(self.size)

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
        A ``transforms.Compose`` callable ``t(batch, rng)``.
    """
    from . import transforms

    (c, h, w), (tc, th, tw) = tuple(src_size), tuple(dst_size)
    steps = []
    if (c, h, w) != (tc, th, tw):
        how = "padding" if th >= h and tw >= w and (th - h) % 2 == 0 and (tw - w) % 2 == 0 else "resizing"
        note(f"the model expects {tc}x{th}x{tw} inputs; {how} {c}x{h}x{w} images")
        steps.append(PadOrResize(tc, (th, tw)))
        if c != tc:
            mean, std = [float(np.mean(mean))] * tc, [float(np.mean(std))] * tc
    if augment:
        steps.append(transforms.RandomCrop((th, tw), padding=max(1, th // 8)))
        if tc == 3:
            steps.append(transforms.RandomHorizontalFlip())
    steps.append(transforms.Normalize(tuple(mean), tuple(std)))
    return transforms.Compose(steps)


def load_datasets(config: "TrainConfig", train: bool = True, note=None):
    """``(train_ds or None, test_ds)`` of a run (``config.dataset`` already resolved).

    ``note`` (when given) hears when a "folder" dataset has no split subfolders, so that the
    training images are also the test images.
    """
    from pathlib import Path

    from . import load_dataset

    root = _data_root(config.dataset, config.data_dir)
    if note is not None and train and config.dataset == "folder" and root is not None:
        splits = {s.split("[")[0] for s in (config.train_split, config.test_split)}
        if not any((Path(root) / s).is_dir() for s in splits):
            note(f"folder: {root} has no {' or '.join(sorted(splits))} subfolder, so the test images are the "
                 f"training images and the test accuracy says nothing about new images; put them in "
                 f"{root}/train/<class>/ and {root}/test/<class>/")

    # The data itself does not depend on config.seed (which seeds initialisation and order), so
    # accuracies of runs with different seeds are measured on the same images.
    def load(split, limit, seed=0):
        if limit is not None and config.dataset.startswith("synth-") and "[" not in split:
            # A synthetic set of `limit` images: rendering thousands only to keep a few is slow.
            return load_dataset(config.dataset, split=split, root=root, seed=seed, size=limit)
        return load_dataset(config.dataset, split=split, root=root, limit=limit, seed=seed)

    test_ds = load(config.test_split, config.test_limit)
    train_ds = load(config.train_split, config.limit) if train else None
    return train_ds, test_ds


def make_loaders(config: "TrainConfig", train_ds, test_ds, model_input_size, stats=None, note=print):
    """Loaders that bring the images to ``model_input_size`` and normalize them.

    Args:
        config: batch size, seed, augmentation and prefetch come from here.
        train_ds: the training set, or None (evaluation only).
        test_ds: the test set.
        model_input_size: (C, H, W) the model expects.
        stats: ``(mean, std)`` to normalize with (a checkpoint's); default: the training set's.
        note: receives one line per conversion.

    Returns:
        ``(train_loader or None, test_loader, info)``; ``info`` records the dataset's name,
        classes, statistics and sizes (saved in checkpoints for ``eval`` and ``predict``).
    """
    from . import DataLoader

    ref = train_ds if train_ds is not None else test_ds
    mean, std = stats if stats is not None else _stats(ref)
    segmentation = ref.task == "segmentation"
    # Masks would not follow a resize or crop of the images: segmentation data is used as is.
    dst = tuple(ref.input_size) if segmentation else (ref.input_size[0],) + tuple(model_input_size[1:])
    info = {"name": config.dataset, "classes": list(ref.classes), "mean": list(mean), "std": list(std),
            "src_size": list(ref.input_size), "input_size": list(dst), "task": ref.task,
            "train_size": len(train_ds) if train_ds is not None else None, "test_size": len(test_ds)}
    eval_tf = build_transform(ref.input_size, dst, mean, std, False, note=note)
    test_loader = DataLoader(test_ds, batch_size=max(256, config.batch_size), transform=eval_tf,
                             seed=config.seed, prefetch=config.prefetch)
    train_loader = None
    if train_ds is not None:
        train_tf = build_transform(ref.input_size, dst, mean, std, config.augment and not segmentation,
                                   note=lambda _: None)
        train_loader = DataLoader(train_ds, batch_size=config.batch_size, shuffle=True, transform=train_tf,
                                  seed=config.seed, prefetch=config.prefetch)
    return train_loader, test_loader, info
