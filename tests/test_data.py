"""Data pipeline: file readers (with every corrupt case), splits, synthetic sets, DataLoader, transforms."""

import gzip
import hashlib
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
from minigrad import data as D
from minigrad.data import transforms as T

SHARED_MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
rng = np.random.default_rng(0)


# ----------------------------------------------------------------- helpers
def idx_bytes(array, magic=None):
    array = np.asarray(array, dtype=np.uint8)
    magic = magic if magic is not None else 0x0800 | array.ndim
    return struct.pack(">i", magic) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def write_mnist(folder, split="t10k", n=12, gz=True, images=None, labels=None):
    folder.mkdir(parents=True, exist_ok=True)
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8) if images is None else images
    labels = rng.integers(0, 10, n, dtype=np.uint8) if labels is None else labels
    for name, payload in ((f"{split}-images-idx3-ubyte", idx_bytes(images)),
                          (f"{split}-labels-idx1-ubyte", idx_bytes(labels))):
        if gz:
            (folder / (name + ".gz")).write_bytes(gzip.compress(payload))
        else:
            (folder / name).write_bytes(payload)
    return images, labels


# --------------------------------------------------------------------- IDX
@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("sub", ["", "mnist"])
def test_idx_round_trip_via_load_dataset(tmp_path, gz, sub):
    images, labels = write_mnist(tmp_path / sub if sub else tmp_path, gz=gz)
    ds = D.load_dataset("mnist", "test", root=tmp_path, download=False)
    assert ds.images.shape == (12, 1, 28, 28) and ds.images.dtype == np.uint8
    np.testing.assert_array_equal(ds.images[:, 0], images)
    np.testing.assert_array_equal(ds.targets, labels)
    assert ds.targets.dtype == np.int64 and ds.classes == [str(i) for i in range(10)]
    assert D.dataset_available("mnist", tmp_path) and D.dataset_available("mnist", tmp_path, "test")
    assert not D.dataset_available("mnist", tmp_path, "train")


def test_fashion_mnist_uses_same_format_and_its_class_names(tmp_path):
    write_mnist(tmp_path / "fashion-mnist", split="train")
    ds = D.load_dataset("fashion-mnist", "train", root=tmp_path, download=False)
    assert len(ds) == 12 and ds.classes[0] == "T-shirt/top" and ds.classes[9] == "Ankle boot"


def test_idx_bad_magic(tmp_path):
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.zeros((2, 28, 28)), magic=2050)))
    with pytest.raises(D.DataError, match=r"mnist: .*t10k-images-idx3-ubyte.gz: bad magic number 2050, expected 2051"):
        D.read_idx_images(path, what="mnist")


@pytest.mark.parametrize("cut", [3, 10, 100])
def test_idx_truncated(tmp_path, cut):
    path = tmp_path / "images"
    path.write_bytes(idx_bytes(np.zeros((2, 28, 28)))[:-cut] if cut == 100 else idx_bytes(np.zeros((2, 28, 28)))[:cut])
    with pytest.raises(D.DataError, match=r"images: truncated"):
        D.read_idx_images(path)


def test_idx_trailing_data_and_wrong_kind(tmp_path):
    path = tmp_path / "labels"
    path.write_bytes(idx_bytes(np.zeros(5)) + b"\x00")
    with pytest.raises(D.DataError, match="trailing data: header says 5 = 5 values, found 6 bytes"):
        D.read_idx_labels(path)
    path.write_bytes(idx_bytes(np.zeros((5, 2))))  # a rank-2 file has magic 2050
    with pytest.raises(D.DataError, match="bad magic number 2050, expected 2049"):
        D.read_idx_labels(path)


def test_idx_truncated_gzip_and_bad_label(tmp_path):
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.arange(10)))[:-8])
    with pytest.raises(D.DataError, match=r"t10k-labels-idx1-ubyte.gz: corrupt or truncated gzip"):
        D.read_idx_labels(path)
    path.write_bytes(gzip.compress(idx_bytes(np.array([1, 2, 12]))))
    with pytest.raises(D.DataError, match="label 12 out of range 0..9"):
        D.read_idx_labels(path)


def test_image_label_count_mismatch_names_both_files(tmp_path):
    write_mnist(tmp_path, images=np.zeros((5, 28, 28), np.uint8), labels=np.zeros(4, np.uint8))
    with pytest.raises(D.DataError, match=r"has 5 images but .*t10k-labels-idx1-ubyte.gz has 4 labels"):
        D.load_dataset("mnist", "test", root=tmp_path, download=False)


def test_missing_files_say_what_to_put_where(tmp_path):
    with pytest.raises(D.DataError) as info:
        D.load_dataset("mnist", "train", root=tmp_path, download=False)
    message = str(info.value)
    assert "train-images-idx3-ubyte.gz" in message and "train-labels-idx1-ubyte.gz" in message
    assert "t10k-images-idx3-ubyte.gz" in message and "--data-dir" in message and "root=" in message
    assert str(tmp_path / "mnist") in message
    assert not D.dataset_available("mnist", tmp_path)


@pytest.mark.skipif(not SHARED_MNIST.is_dir(), reason="the shared MNIST test set is not on this machine")
def test_real_mnist_test_set():
    sums = dict(line.split()[::-1] for line in (SHARED_MNIST / "MD5SUMS").read_text().splitlines() if line.strip())
    for name, md5 in sums.items():
        assert hashlib.md5((SHARED_MNIST / name).read_bytes()).hexdigest() == md5
        assert D.md5sum(SHARED_MNIST / name) == md5
    # The checksums recorded for downloads agree with the shared files.
    recorded = {f: m for f, _, m in D.RESOURCES["mnist"]}
    assert all(recorded[name] == md5 for name, md5 in sums.items())
    ds = D.load_dataset("mnist", "test", root=SHARED_MNIST, download=False)
    assert len(ds) == 10000 and ds.input_size == (1, 28, 28) and ds.task == "classification"
    assert ds.targets.min() == 0 and ds.targets.max() == 9
    assert np.bincount(ds.targets).min() > 800  # every digit is well represented
    assert list(ds.targets[:5]) == [7, 2, 1, 0, 4]  # the published first test labels
    assert 0.12 < ds.mean[0] < 0.14 and 0.29 < ds.std[0] < 0.33  # MNIST's well-known statistics
    head, tail = (D.load_dataset("mnist", s, root=SHARED_MNIST) for s in ("test[:8000]", "test[8000:]"))
    assert len(head) == 8000 and len(tail) == 2000
    np.testing.assert_array_equal(tail.images, ds.images[8000:])


# ------------------------------------------------------------------ splits
@given(start=st.one_of(st.none(), st.integers(-12, 12)), stop=st.one_of(st.none(), st.integers(-12, 12)),
       percent=st.booleans(), limit=st.one_of(st.none(), st.integers(0, 15)))
def test_split_slices_and_limit(tmp_path_factory, start, stop, percent, limit):
    root = tmp_path_factory.getbasetemp() / "split_mnist"
    if not (root / "t10k-labels-idx1-ubyte.gz").exists():
        write_mnist(root, n=10, labels=np.arange(10, dtype=np.uint8))

    def fmt(v):
        return "" if v is None else (f"{v * 10}%" if percent else str(v))

    ds = D.load_dataset("mnist", f"test[{fmt(start)}:{fmt(stop)}]", root=root, limit=limit)
    expected = np.arange(10)[slice(None if start is None else start, None if stop is None else stop)]
    if percent:
        s = None if start is None else round(10 * start * 10 / 100)
        e = None if stop is None else round(10 * stop * 10 / 100)
        expected = np.arange(10)[s:e]
    np.testing.assert_array_equal(ds.targets, expected[:limit])


def test_bad_names_splits_and_keywords():
    with pytest.raises(ValueError, match="unknown dataset 'imagenet'"):
        D.load_dataset("imagenet")
    with pytest.raises(ValueError, match="bad split 'test\\[a:b\\]'"):
        D.load_dataset("synth-digits", "test[a:b]")
    with pytest.raises(ValueError, match="synth-digits does not take image_size"):
        D.load_dataset("synth-digits", image_size=(32, 32))
    assert D.DATASETS == sorted(D.DATASETS) and {"mnist", "cifar10", "synth-shapes"} <= set(D.DATASETS)


def test_default_root_honours_env(monkeypatch, tmp_path):
    monkeypatch.setenv("MINIGRAD_DATA", str(tmp_path))
    assert D.default_root() == tmp_path
    write_mnist(tmp_path / "mnist")
    assert len(D.load_dataset("mnist", "test", download=False)) == 12


# ------------------------------------------------------------------- CIFAR
def _cifar_records(n):
    labels = rng.integers(0, 10, n, dtype=np.uint8)
    pixels = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    return labels, pixels, np.concatenate([labels[:, None], pixels], axis=1).tobytes()


def test_cifar_batches(tmp_path):
    folder = tmp_path / "cifar10" / "cifar-10-batches-bin"
    folder.mkdir(parents=True)
    labels, pixels, raw = _cifar_records(4)
    (folder / "test_batch.bin").write_bytes(raw)
    ds = D.load_dataset("cifar10", "test", root=tmp_path, download=False)
    assert ds.images.shape == (4, 3, 32, 32) and ds.classes[0] == "airplane"
    np.testing.assert_array_equal(ds.targets, labels)
    for n in range(4):
        for c in range(3):
            for h in (0, 17, 31):
                for w in (0, 5, 31):
                    assert ds.images[n, c, h, w] == pixels[n, c * 1024 + h * 32 + w]
    train_parts = []
    for i in range(1, 6):
        lab, _, raw = _cifar_records(2)
        train_parts.append(lab)
        (folder / f"data_batch_{i}.bin").write_bytes(raw)
    train = D.load_dataset("cifar10", "train", root=tmp_path, download=False)
    np.testing.assert_array_equal(train.targets, np.concatenate(train_parts))


def test_cifar_corrupt(tmp_path):
    path = tmp_path / "test_batch.bin"
    path.write_bytes(_cifar_records(2)[2][:-1])
    with pytest.raises(D.DataError, match=r"test_batch.bin: truncated or corrupt batch: 6145 bytes"):
        D.read_cifar_batch(path)
    raw = bytearray(_cifar_records(1)[2])
    raw[0] = 10
    path.write_bytes(bytes(raw))
    with pytest.raises(D.DataError, match="label 10 out of range"):
        D.read_cifar_batch(path)
    with pytest.raises(D.DataError, match="cifar-10-batches-bin/ holding data_batch_1.bin.*test_batch.bin"):
        D.load_dataset("cifar10", "test", root=tmp_path / "empty", download=False)


# ------------------------------------------------------------------ folder
def _make_folder(root, classes=("cat", "dog"), per_class=3, size=(6, 8)):
    from PIL import Image

    arrays = {}
    for c in classes:
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            a = rng.integers(0, 256, size + (3,), dtype=np.uint8)
            Image.fromarray(a).save(root / c / f"{i}.png")
            arrays[(c, i)] = a
    return arrays


def test_folder_rgb_and_gray(tmp_path):
    arrays = _make_folder(tmp_path)
    ds = D.load_dataset("folder", root=tmp_path)
    assert ds.classes == ["cat", "dog"] and list(ds.targets) == [0, 0, 0, 1, 1, 1]
    np.testing.assert_array_equal(ds.images[4], arrays[("dog", 1)].transpose(2, 0, 1))
    gray = D.load_dataset("folder", root=tmp_path, channels=1)
    a = arrays[("cat", 2)].astype(np.int64)
    # Pillow's "L" conversion: L = R * 299/1000 + G * 587/1000 + B * 114/1000 (rounded).
    expected = (a[..., 0] * 299 + a[..., 1] * 587 + a[..., 2] * 114) / 1000
    assert np.abs(gray.images[2, 0] - expected).max() <= 1
    small = D.load_dataset("folder", root=tmp_path, image_size=(3, 4))
    assert small.images.shape == (6, 3, 3, 4)


def test_folder_train_test_subfolders_share_class_numbering(tmp_path):
    _make_folder(tmp_path / "train", classes=("a", "b", "c"), per_class=1)
    _make_folder(tmp_path / "test", classes=("b",), per_class=2)
    test = D.load_dataset("folder", "test", root=tmp_path)
    assert test.classes == ["a", "b", "c"] and list(test.targets) == [1, 1]
    assert len(D.load_dataset("folder", "train", root=tmp_path)) == 3


def test_folder_errors(tmp_path):
    _make_folder(tmp_path, per_class=1)
    bad = tmp_path / "dog" / "broken.jpg"
    bad.write_bytes(b"not an image")
    with pytest.raises(D.DataError, match=r"folder: .*dog/broken.jpg: unreadable image"):
        D.load_dataset("folder", root=tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(D.DataError, match="no class subfolders"):
        D.load_dataset("folder", root=tmp_path / "empty")
    with pytest.raises(ValueError, match="'folder' needs root="):
        D.load_dataset("folder")


# --------------------------------------------------------------- synthetic
def test_synth_digits_deterministic_and_varied():
    a = D.load_dataset("synth-digits", "train", size=300, seed=1)
    b = D.load_dataset("synth-digits", "train", size=300, seed=1)
    c = D.load_dataset("synth-digits", "test", size=300, seed=1)
    d = D.load_dataset("synth-digits", "train", size=300, seed=2)
    np.testing.assert_array_equal(a.images, b.images)
    assert not np.array_equal(a.images, c.images) and not np.array_equal(a.images, d.images)
    assert a.images.shape == (300, 1, 28, 28) and a.images.dtype == np.uint8
    assert set(np.unique(a.targets)) == set(range(10)) and a.classes == [str(i) for i in range(10)]
    assert len(D.load_dataset("synth-digits", "test")) == 1000
    # Digits are bright strokes on a dark background, not blank and not saturated.
    ink = (a.images > 128).mean(axis=(1, 2, 3))
    assert ink.min() > 0.02 and ink.max() < 0.5


def test_synth_digits_are_learnable_but_not_trivial():
    train = D.load_dataset("synth-digits", "train", size=3000)
    test = D.load_dataset("synth-digits", "test", size=500)
    # A ridge-regression linear classifier on raw pixels: well above chance, far from perfect.
    x = train.images.reshape(len(train), -1) / 255.0
    xt = test.images.reshape(len(test), -1) / 255.0
    onehot = np.eye(10)[train.targets]
    w = np.linalg.solve(x.T @ x + 10.0 * np.eye(x.shape[1]), x.T @ onehot)
    accuracy = ((xt @ w).argmax(1) == test.targets).mean()
    assert 0.35 < accuracy < 0.98


def test_synth_shapes_masks_match_pictures():
    ds = D.load_dataset("synth-shapes", "train", size=50, seed=3)
    assert ds.images.shape == (50, 3, 64, 64) and ds.targets.shape == (50, 64, 64)
    assert ds.task == "segmentation" and ds.classes == ["background", "circle", "square", "triangle"]
    assert set(np.unique(ds.targets)) == {0, 1, 2, 3}
    np.testing.assert_array_equal(ds.images, D.load_dataset("synth-shapes", "train", size=50, seed=3).images)
    brightness = ds.images.max(axis=1).astype(float)
    shape_px, background_px = brightness[ds.targets > 0], brightness[ds.targets == 0]
    assert shape_px.mean() > background_px.mean() + 60
    img, mask = ds[0]
    assert img.shape == (3, 64, 64) and mask.shape == (64, 64) and mask.dtype == np.int64


# ---------------------------------------------------------------- dataset
def test_array_dataset_access_and_statistics():
    images = rng.integers(0, 256, (10, 3, 4, 5), dtype=np.uint8)
    ds = D.ArrayDataset(images, np.arange(10), ["c"] * 10, name="toy")
    x, y = ds[3]
    assert x.dtype == np.float32 and y == 3
    np.testing.assert_allclose(x, images[3] / 255.0, rtol=1e-6)
    scaled = images / 255.0
    np.testing.assert_allclose(ds.mean, scaled.mean(axis=(0, 2, 3)), rtol=1e-10)
    np.testing.assert_allclose(ds.std, scaled.std(axis=(0, 2, 3)), rtol=1e-8)
    sub = ds.subset([1, 4])
    assert list(sub.targets) == [1, 4] and sub.mean == ds.mean and sub.input_size == (3, 4, 5)
    assert len(ds.subset(slice(2, 5))) == 3 and ds.num_classes == 10
    with pytest.raises(ValueError, match=r"toy.*targets of shape \(9,\)"):
        D.ArrayDataset(images, np.arange(9), ["c"], name="toy")
    with pytest.raises(IndexError):
        ds[10]


# ------------------------------------------------------------- DataLoader
def _toy(n=23):
    images = np.arange(n, dtype=np.float32).reshape(n, 1, 1, 1) / n
    return D.ArrayDataset(images, np.arange(n), ["x"])


@given(n=st.integers(1, 40), bs=st.integers(1, 9), shuffle=st.booleans(), drop_last=st.booleans())
def test_loader_batches_cover_the_dataset(n, bs, shuffle, drop_last):
    loader = D.DataLoader(_toy(n), batch_size=bs, shuffle=shuffle, drop_last=drop_last, prefetch=0)
    batches = list(loader)
    assert len(batches) == len(loader) == (n // bs if drop_last else -(-n // bs))
    seen = np.concatenate([y.numpy() for _, y in batches]) if batches else np.array([], int)
    assert all(len(y.numpy()) == bs for _, y in batches[:-1])
    if drop_last:
        assert len(seen) == (n // bs) * bs and len(set(seen)) == len(seen)
    else:
        np.testing.assert_array_equal(np.sort(seen), np.arange(n))
    if not shuffle:
        np.testing.assert_array_equal(seen, np.arange(len(seen)))
    for x, y in batches:
        assert isinstance(x, mg.Tensor) and x.dtype == np.float32 and y.dtype == np.int64
        np.testing.assert_allclose(x.numpy()[:, 0, 0, 0], y.numpy() / n, rtol=1e-6)


def test_loader_shuffle_is_reproducible_per_epoch():
    def order(loader):
        return np.concatenate([y.numpy() for _, y in loader])

    a = D.DataLoader(_toy(), batch_size=4, shuffle=True, seed=5)
    epochs = [order(a) for _ in range(3)]
    assert not np.array_equal(epochs[0], epochs[1])
    b = D.DataLoader(_toy(), batch_size=4, shuffle=True, seed=5, prefetch=0)
    b.set_epoch(2)
    np.testing.assert_array_equal(order(b), epochs[2])
    np.testing.assert_array_equal(order(b), order(a))  # both now at epoch 3
    c = D.DataLoader(_toy(), batch_size=4, shuffle=True, seed=6)
    assert not np.array_equal(order(c), epochs[0])


def test_loader_transform_prefetch_and_errors():
    ds = _toy(10)
    flip = T.RandomHorizontalFlip(0.5)

    def trans(batch, rng):
        return batch * 2 + rng.random()

    with_thread = [x.numpy() for x, _ in D.DataLoader(ds, 3, shuffle=True, transform=trans, seed=1)]
    without = [x.numpy() for x, _ in D.DataLoader(ds, 3, shuffle=True, transform=trans, seed=1, prefetch=0)]
    for a, b in zip(with_thread, without):
        np.testing.assert_array_equal(a, b)
    assert len(with_thread) == 4
    iterator = iter(D.DataLoader(ds, 2, transform=flip, prefetch=1))
    next(iterator)
    thread = iterator._thread
    del iterator  # an abandoned iterator must stop its producer thread
    thread.join(timeout=5)
    assert not thread.is_alive()

    def broken(batch, rng):
        raise RuntimeError("boom in transform")

    with pytest.raises(RuntimeError, match="boom in transform"):
        list(D.DataLoader(ds, 2, transform=broken))
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        D.DataLoader(ds, 0)


def test_loader_accepts_any_indexable_dataset():
    items = [(np.full((1, 2, 2), i, np.uint8), i) for i in range(5)]
    x, y = next(iter(D.DataLoader(items, batch_size=5)))
    np.testing.assert_allclose(x.numpy()[:, 0, 0, 0], np.arange(5) / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(y.numpy(), np.arange(5))


def test_loader_segmentation_targets():
    ds = D.load_dataset("synth-shapes", "test", size=6)
    x, y = next(iter(D.DataLoader(ds, batch_size=4)))
    assert x.shape == (4, 3, 64, 64) and y.shape == (4, 64, 64) and y.dtype == np.int64


# -------------------------------------------------------------- transforms
def test_normalize_matches_loop():
    batch = rng.random((3, 2, 4, 4)).astype(np.float32)
    out = T.Normalize((0.5, 0.25), (0.2, 0.1))(batch, rng)
    for n in range(3):
        for c, (m, s) in enumerate(((0.5, 0.2), (0.25, 0.1))):
            np.testing.assert_allclose(out[n, c], (batch[n, c] - m) / s, rtol=1e-5)
    with pytest.raises(ValueError, match=r"Normalize: 2 means for a batch of shape \(1, 3, 2, 2\)"):
        T.Normalize((0.5, 0.25), (0.2, 0.1))(np.zeros((1, 3, 2, 2), np.float32))


@given(size=st.integers(1, 6), padding=st.integers(0, 2), seed=st.integers(0, 100))
def test_random_crop_is_a_window_of_the_padded_image(size, padding, seed):
    batch = rng.random((4, 2, 5, 6)).astype(np.float32)
    if size > 5 + 2 * padding:
        with pytest.raises(ValueError, match="RandomCrop: crop"):
            T.RandomCrop(size, padding)(batch, np.random.default_rng(seed))
        return
    out = T.RandomCrop(size, padding)(batch, np.random.default_rng(seed))
    assert out.shape == (4, 2, size, size)
    padded = np.zeros((4, 2, 5 + 2 * padding, 6 + 2 * padding), np.float32)
    padded[:, :, padding:padding + 5, padding:padding + 6] = batch
    for n in range(4):
        windows = [padded[n, :, i:i + size, j:j + size] for i in range(padded.shape[2] - size + 1)
                   for j in range(padded.shape[3] - size + 1)]
        assert any(np.array_equal(out[n], w) for w in windows)
    again = T.RandomCrop(size, padding)(batch, np.random.default_rng(seed))
    np.testing.assert_array_equal(out, again)


def test_random_horizontal_flip():
    batch = rng.random((50, 1, 3, 4)).astype(np.float32)
    out = T.RandomHorizontalFlip(0.5)(batch, np.random.default_rng(0))
    flipped = [np.array_equal(out[n], batch[n, :, :, ::-1]) for n in range(50)]
    kept = [np.array_equal(out[n], batch[n]) for n in range(50)]
    assert all(f or k for f, k in zip(flipped, kept)) and 10 < sum(flipped) < 40
    np.testing.assert_array_equal(T.RandomHorizontalFlip(1.0)(batch, rng), batch[..., ::-1])
    np.testing.assert_array_equal(T.RandomHorizontalFlip(0.0)(batch, rng), batch)


def _bilinear_loop(img, out_h, out_w):
    h, w = img.shape
    out = np.zeros((out_h, out_w))
    for i in range(out_h):
        for j in range(out_w):
            y = max((i + 0.5) * h / out_h - 0.5, 0.0)
            x = max((j + 0.5) * w / out_w - 0.5, 0.0)
            y0, x0 = min(int(y), h - 1), min(int(x), w - 1)
            y1, x1 = min(y0 + 1, h - 1), min(x0 + 1, w - 1)
            dy, dx = y - y0, x - x0
            out[i, j] = ((1 - dy) * (1 - dx) * img[y0, x0] + (1 - dy) * dx * img[y0, x1]
                         + dy * (1 - dx) * img[y1, x0] + dy * dx * img[y1, x1])
    return out


@given(h=st.integers(1, 7), w=st.integers(1, 7), oh=st.integers(1, 9), ow=st.integers(1, 9))
def test_resize_matches_loop(h, w, oh, ow):
    batch = rng.random((2, 2, h, w)).astype(np.float32)
    out = T.Resize((oh, ow))(batch, rng)
    assert out.shape == (2, 2, oh, ow) and out.dtype == np.float32
    for n in range(2):
        for c in range(2):
            np.testing.assert_allclose(out[n, c], _bilinear_loop(batch[n, c], oh, ow), rtol=1e-5, atol=1e-6)


def test_resize_matches_torch_interpolate():
    torch = pytest.importorskip("torch")
    batch = rng.random((2, 3, 5, 7)).astype(np.float32)
    ref = torch.nn.functional.interpolate(torch.tensor(batch), size=(9, 4), mode="bilinear", align_corners=False)
    np.testing.assert_allclose(T.Resize((9, 4))(batch), ref.numpy(), rtol=1e-5, atol=1e-6)


def test_compose_applies_in_order():
    batch = rng.random((2, 1, 4, 4)).astype(np.float32)
    out = T.Compose([T.RandomHorizontalFlip(1.0), T.Normalize([0.5], [0.5])])(batch, rng)
    np.testing.assert_allclose(out, (batch[..., ::-1] - 0.5) / 0.5, rtol=1e-6)
