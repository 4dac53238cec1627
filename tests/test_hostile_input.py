"""Inputs that used to be accepted silently or ended in a traceback, checked in-process.

(The CLI-level cases, in subprocesses, are in ``test_fault_injection.py``.)
"""

import math

import numpy as np
import pytest

import minigrad as mg
from minigrad import functional as F
from minigrad.data import DataError
from minigrad.train import Callback, TrainConfig, fit


def _config(tmp_path, name="run", **kw):
    base = dict(model="lenet", dataset="synth-digits", epochs=1, limit=64, test_limit=32, batch_size=32,
                out_dir=str(tmp_path / name), seed=1, prefetch=1)
    base.update(kw)
    return TrainConfig(**base)


class _Notes(Callback):
    def __init__(self):
        self.lines = []

    def note(self, message):
        self.lines.append(message)


# ---------------------------------------------------- conv2d on an empty batch
@pytest.mark.parametrize("channels,kernel,stride,groups", [
    (3, 3, 1, 1),  # direct kernels (few channels, stride 1)
    (3, 1, 1, 1),
    (3, 3, 2, 1),  # im2row + GEMM
    (32, 3, 1, 1),  # 32+ channels: the channels-last path
    (64, 1, 1, 1),  # pointwise
    (32, 3, 1, 4),  # grouped
])
def test_conv2d_backward_on_an_empty_batch_gives_zero_gradients(channels, kernel, stride, groups):
    rng = np.random.default_rng(0)
    x = mg.Tensor(np.zeros((0, channels, 9, 9), np.float32), requires_grad=True)
    w = mg.Tensor(rng.standard_normal((8, channels // groups, kernel, kernel)).astype(np.float32),
                  requires_grad=True)
    b = mg.Tensor(np.ones(8, np.float32), requires_grad=True)
    y = F.conv2d(x, w, b, stride=stride, padding=1, groups=groups)
    assert y.shape[0] == 0
    y.sum().backward()
    assert x.grad.shape == x.shape
    np.testing.assert_array_equal(w.grad.numpy(), np.zeros(w.shape, np.float32))
    np.testing.assert_array_equal(b.grad.numpy(), np.zeros(8, np.float32))


# ------------------------------------------------------------------ indexing
def test_a_boolean_mask_of_the_wrong_length_is_refused_like_numpy():
    t = mg.Tensor(np.arange(5.0), requires_grad=True)
    with pytest.raises(IndexError):
        np.arange(5.0)[np.array([True, False, True])]  # what NumPy does
    for mask in (np.array([True, False, True]), mg.Tensor(np.array([True, False, True]))):
        with pytest.raises(ValueError, match="getitem: .*boolean index did not match"):
            t[mask]
    picked = t[np.array([True, False, True, False, True])]
    np.testing.assert_array_equal(picked.numpy(), [0.0, 2.0, 4.0])
    picked.sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), [1, 0, 1, 0, 1])


# ------------------------------------------------------- optimizers, config
@pytest.mark.parametrize("bad", [math.nan, math.inf, -1.0])
def test_optimizers_refuse_nan_and_inf_hyperparameters(bad):
    p = [mg.nn.Parameter(np.zeros(3, np.float32))]
    with pytest.raises(ValueError, match="invalid learning rate"):
        mg.optim.Adam(p, lr=bad)
    with pytest.raises(ValueError, match="invalid learning rate"):
        mg.optim.SGD(p, lr=bad)
    with pytest.raises(ValueError, match="invalid weight_decay"):
        mg.optim.AdamW(p, lr=1e-3, weight_decay=bad)
    with pytest.raises(ValueError, match="invalid momentum"):
        mg.optim.SGD(p, lr=0.1, momentum=bad)


@pytest.mark.parametrize("field,value,message", [
    ("momentum", math.nan, "momentum must be in"),
    ("momentum", math.inf, "momentum must be in"),
    ("weight_decay", math.nan, "weight_decay must be a finite number"),
    ("weight_decay", math.inf, "weight_decay must be a finite number"),
    ("warmup_epochs", 5, r"warmup_epochs must be in \[0, epochs\) = \[0, 1\)"),
    ("epochs", True, "epochs must be an integer"),
    ("lr", "fast", "lr must be a number or None"),
    ("model_kwargs", [1], "model_kwargs must be a mapping"),
])
def test_train_config_refuses_nan_inf_and_mistyped_values(field, value, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**{"epochs": 1, field: value}).validate()


def test_an_empty_training_split_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"the 'train\[:0\]' split of synth-digits has no examples"):
        fit(_config(tmp_path, train_split="train[:0]", limit=None))
    assert not (tmp_path / "run" / "last.npz").exists()


def test_a_flat_folder_layout_is_noted(tmp_path):
    from PIL import Image

    for c in ("a", "b"):
        (tmp_path / "data" / c).mkdir(parents=True)
        for i in range(4):
            Image.fromarray(np.full((8, 8), 60 * i, np.uint8)).save(tmp_path / "data" / c / f"{i}.png")
    notes = _Notes()
    fit(_config(tmp_path, dataset="folder", data_dir=str(tmp_path / "data"), limit=None, test_limit=None),
        callbacks=[notes])
    assert any("has no test or train subfolder" in n and "the test images are the training images" in n
               for n in notes.lines), notes.lines


def test_options_ignored_by_resume_are_noted_and_the_first_note_says_where(tmp_path):
    first = fit(_config(tmp_path, "a", epochs=1))
    notes = _Notes()
    resumed = fit(TrainConfig(model="lenet", epochs=None, lr=0.5, batch_size=7), resume=first.last_path,
                  callbacks=[notes])
    assert resumed.out_dir == first.out_dir and resumed.start_epoch == 1
    assert notes.lines[0].startswith(f"resuming from {first.last_path}") and \
        notes.lines[0].endswith(f"writing to {first.out_dir}")
    ignored = next(n for n in notes.lines if n.startswith("ignored with --resume"))
    assert "--lr 0.5 (saved: None)" in ignored and "--batch-size 7 (saved: 32)" in ignored


# --------------------------------------------------------------- images
def test_images_over_the_pixel_limit_are_refused_before_decoding(tmp_path, monkeypatch):
    from PIL import Image

    from minigrad.data.folder import open_image

    path = tmp_path / "big.png"
    Image.fromarray((np.random.default_rng(0).random((40, 50)) * 255).astype(np.uint8)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 500)  # 2000 pixels: over twice the limit
    with pytest.raises(DataError, match=r"big\.png: refusing to decode it .*2000 pixels"):
        with open_image(path):
            pass
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1500)  # between one and two times: a warning in Pillow
    with pytest.raises(DataError, match=r"big\.png: refusing to decode it"):
        with open_image(path):
            pass
    (tmp_path / "cut.png").write_bytes(path.read_bytes()[:1000])  # the header, half the pixels
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10 ** 8)
    with pytest.raises(DataError, match=r"cut\.png: unreadable image"):
        with open_image(tmp_path / "cut.png") as image:
            image.load()


def test_segmenting_in_tiles_equals_one_pass_when_the_margin_covers_the_receptive_field():
    from minigrad.predict import segment
    from minigrad.models import get_model

    mg.manual_seed(0)
    model = get_model("unet", num_classes=3, in_channels=1, depth=1, base_channels=4)
    model.eval()
    pixels = np.random.default_rng(1).standard_normal((1, 70, 90)).astype(np.float32)
    with mg.no_grad():
        whole = model(mg.Tensor(pixels[None])).numpy()[0]
    # depth 1: the receptive field reaches ~10 px, well inside a 16-px margin.
    tiled = segment(model, pixels, tile=32, margin=16, scores=True)
    assert tiled.shape == (3, 70, 90)
    np.testing.assert_allclose(tiled, whole, rtol=1e-5, atol=1e-5)
    mask = segment(model, pixels, tile=32, margin=16)
    assert mask.shape == (70, 90) and mask.dtype == np.int64
    np.testing.assert_array_equal(mask, tiled.argmax(axis=0))
    # With no margin, tile borders see zero padding instead of the image: the scores differ there.
    assert not np.allclose(segment(model, pixels, tile=32, margin=0, scores=True), whole, rtol=1e-5, atol=1e-5)
