"""Datasets, transforms and the DataLoader.

    >>> from minigrad.data import load_dataset, DataLoader
    >>> train = load_dataset("synth-digits", "train")
    >>> loader = DataLoader(train, batch_size=64, shuffle=True)
    >>> x, y = next(iter(loader))          # x: (64, 1, 28, 28) float32, y: (64,) int64
"""

from . import transforms  # noqa: F401
from .cifar import read_cifar_batch  # noqa: F401
from .dataset import ArrayDataset  # noqa: F401
from .datasets import DATASETS, dataset_available, default_root, load_dataset, parse_split  # noqa: F401
from .download import RESOURCES, download, md5sum  # noqa: F401
from .errors import DataError  # noqa: F401
from .folder import read_image_folder  # noqa: F401
from .idx import read_idx, read_idx_images, read_idx_labels  # noqa: F401
from .loader import DataLoader  # noqa: F401

__all__ = [
    "ArrayDataset", "DataLoader", "DataError", "DATASETS", "load_dataset", "dataset_available", "default_root",
    "parse_split", "download", "md5sum", "RESOURCES", "transforms", "read_idx", "read_idx_images",
    "read_idx_labels", "read_cifar_batch", "read_image_folder",
]
