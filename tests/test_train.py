"""``minigrad.train``: fit, evaluate, exact resume, divergence, Ctrl-C, and the data plumbing."""

import csv
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
from minigrad.checkpoint import load_checkpoint
from minigrad.data import transforms
from minigrad.nn import Module, Parameter
from minigrad.models.googlenet import googlenet_loss as criterion
from minigrad.data.pipeline import build_transform
from minigrad.train import Callback, TrainConfig, TrainingDiverged, TrainingInterrupted, evaluate, fit
from minigrad.train_config import resolve_dataset


def _config(tmp_path, name="run", **kw):
    base = dict(model="lenet", dataset="synth-digits", epochs=2, limit=128, test_limit=64, batch_size=32,
                out_dir=str(tmp_path / name), seed=1, prefetch=1)
    base.update(kw)
    return TrainConfig(**base)


def _log_softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def _ce(z, y):
    return float(-_log_softmax(z)[np.arange(len(y)), y].mean())


class _Fixed(Module):
    """A 'model' whose output is a fixed function of its input: scores = x @ W (classification)."""

    def __init__(self, w):
        super().__init__()
        self.w = Parameter(w)

    def forward(self, x):
        return x.reshape(x.shape[0], -1) @ self.w


class _Loader:
    def __init__(self, batches):
        self.batches = batches

    def __iter__(self):
        return iter((mg.Tensor(x), mg.Tensor(y)) for x, y in self.batches)


# ---------------------------------------------------------------- evaluate
@given(st.integers(1, 4), st.integers(2, 6), st.integers(0, 50))
def test_evaluate_matches_numpy(n_batches, k, seed):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((5, k))
    sizes = rng.integers(1, 6, n_batches)
    batches = [(rng.standard_normal((int(m), 5)), rng.integers(0, k, int(m))) for m in sizes]
    got = evaluate(_Fixed(w), _Loader(batches))
    x = np.concatenate([b[0] for b in batches])
    y = np.concatenate([b[1] for b in batches])
    scores = x @ w
    assert got["count"] == len(y)
    assert got["accuracy"] == pytest.approx(float((scores.argmax(1) == y).mean()))
    assert got["loss"] == pytest.approx(_ce(scores, y), rel=1e-6)


def test_evaluate_segmentation_pixel_accuracy_and_miou():
    rng = np.random.default_rng(0)
    k = 3

    class Seg(Module):
        def forward(self, x):
            return x  # the 'images' are already (N, K, H, W) scores

    scores = rng.standard_normal((4, k, 5, 6))
    masks = rng.integers(0, k, (4, 5, 6))
    got = evaluate(Seg(), _Loader([(scores[:3], masks[:3]), (scores[3:], masks[3:])]))
    pred = scores.argmax(1)
    assert got["accuracy"] == pytest.approx(float((pred == masks).mean()))
    ious = []
    for c in range(k):  # explicit per-class intersection over union
        inter = np.logical_and(pred == c, masks == c).sum()
        union = np.logical_or(pred == c, masks == c).sum()
        if union:
            ious.append(inter / union)
    assert got["miou"] == pytest.approx(float(np.mean(ious)))
    flat = scores.transpose(0, 2, 3, 1).reshape(-1, k)
    assert got["loss"] == pytest.approx(_ce(flat, masks.reshape(-1)), rel=1e-6)


def test_criterion_with_auxiliary_heads():
    rng = np.random.default_rng(1)
    logits, aux2, aux1 = (rng.standard_normal((4, 5)) for _ in range(3))
    y = rng.integers(0, 5, 4)
    loss, main = criterion((mg.Tensor(logits), mg.Tensor(aux2), mg.Tensor(aux1)), mg.Tensor(y))
    assert float(loss.item()) == pytest.approx(_ce(logits, y) + 0.3 * (_ce(aux1, y) + _ce(aux2, y)), rel=1e-6)
    np.testing.assert_array_equal(main.numpy(), logits)


# ----------------------------------------------------------- data plumbing
def test_transform_pads_28_to_32_and_normalizes():
    batch = np.random.default_rng(0).random((2, 1, 28, 28), dtype=np.float32)
    notes = []
    t = build_transform((1, 28, 28), (1, 32, 32), (0.1,), (0.3,), note=notes.append)
    out = t(batch, np.random.default_rng(0))
    expected = (np.pad(batch, ((0, 0), (0, 0), (2, 2), (2, 2))) - 0.1) / 0.3
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    assert notes == ["the model expects 1x32x32 inputs; padding 1x28x28 images"]


def test_transform_converts_gray_to_rgb():
    batch = np.random.default_rng(0).random((2, 1, 8, 8), dtype=np.float32)
    out = build_transform((1, 8, 8), (3, 8, 8), (0.0,), (1.0,), note=lambda m: None)(batch, None)
    np.testing.assert_array_equal(out, np.repeat(batch, 3, axis=1))
    assert isinstance(build_transform((1, 8, 8), (1, 8, 8), (0.0,), (1.0,)), transforms.Compose)


def test_resolve_dataset(tmp_path, monkeypatch):
    from minigrad.data import pipeline

    monkeypatch.setenv("MINIGRAD_DATA", str(tmp_path / "empty"))
    tried = []
    monkeypatch.setattr(pipeline, "_download_mnist", lambda root: tried.append(root) or "mnist: offline")
    notes = []
    assert resolve_dataset("auto", "lenet", str(tmp_path), notes.append) == "synth-digits"
    assert tried == [str(tmp_path)], "auto tries a download before falling back"
    assert len(notes) == 1 and notes[0].startswith("MNIST not found in") and "synth-digits" in notes[0]
    assert "not downloadable (mnist: offline)" in notes[0]
    assert resolve_dataset("cifar10", "lenet", None, notes.append) == "cifar10"
    with pytest.raises(ValueError, match="unknown dataset 'imagenet'; valid names: auto, .*synth-digits"):
        resolve_dataset("imagenet", "lenet")


def test_resolve_dataset_finds_real_mnist(monkeypatch):
    from minigrad.data import dataset_available

    root = str(Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist")
    if not dataset_available("mnist", root, split="test"):
        pytest.skip("the real MNIST test files are not present")
    monkeypatch.setenv("MINIGRAD_DATA", "/nonexistent")
    assert resolve_dataset("auto", "lenet", root, note=lambda m: pytest.fail(m)) == "mnist"


def test_config_validation_lists_valid_names(tmp_path):
    with pytest.raises(ValueError, match="unknown model 'lenet7'; valid names: .*lenet5"):
        fit(_config(tmp_path, model="lenet7"))
    with pytest.raises(ValueError, match="unknown optimizer 'rmsprop'; valid: sgd, adam, adamw"):
        fit(_config(tmp_path, optimizer="rmsprop"))
    with pytest.raises(ValueError, match="unknown schedule"):
        fit(_config(tmp_path, schedule="exp"))


# --------------------------------------------------------------------- fit
def _quadrant_folder(root):
    """An image folder whose 4 classes are a bright square in one of the 4 quadrants, on noise."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, n in (("train", 40), ("test", 10)):
        for c in range(4):
            folder = root / split / f"q{c}"
            folder.mkdir(parents=True)
            for i in range(n):
                image = (rng.random((28, 28)) * 60).astype(np.uint8)
                oy, ox = 14 * (c // 2) + int(rng.integers(1, 5)), 14 * (c % 2) + int(rng.integers(1, 5))
                image[oy:oy + 8, ox:ox + 8] = 255
                Image.fromarray(image).save(folder / f"{i}.png")
    return root


def test_fit_learns_and_writes_its_files(tmp_path):
    data = _quadrant_folder(tmp_path / "data")
    result = fit(_config(tmp_path, dataset="folder", data_dir=str(data), epochs=2, limit=None, test_limit=None,
                         batch_size=16, lr=3e-3))
    assert result.history[-1]["test_acc"] >= 0.95  # 4 classes: chance is 0.25
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    out = result.out_dir
    assert {p.name for p in out.iterdir()} >= {"last.npz", "best.npz", "metrics.csv", "curves.png"}
    with open(out / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert [float(r["test_acc"]) for r in rows] == pytest.approx([h["test_acc"] for h in result.history])
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    best = load_checkpoint(out / "best.npz")
    assert best.metrics["best_acc"] == max(h["test_acc"] for h in result.history)
    # The saved test accuracy is reproduced by evaluating the saved weights independently.
    last = load_checkpoint(out / "last.npz")
    assert last.epoch == 2 and last.model_name == "lenet" and last.metrics["data"]["name"] == "folder"
    assert last.metrics["data"]["classes"] == ["q0", "q1", "q2", "q3"]
    state = result.model.state_dict()
    assert all(np.array_equal(state[k], last.model_state[k]) for k in state)


def _weights(path):
    return load_checkpoint(path).model_state


def _same(a, b):
    return set(a) == set(b) and all(np.array_equal(a[k], b[k]) for k in a)


class _StopAfterEpoch(Callback):
    def __init__(self, epoch):
        self.epoch = epoch

    def epoch_end(self, row):
        if row["epoch"] == self.epoch:
            raise KeyboardInterrupt


@pytest.mark.parametrize("optimizer,schedule,augment", [("sgd", "onecycle", False), ("adamw", "step", True)])
def test_resume_at_epoch_boundary_reaches_the_same_weights(tmp_path, optimizer, schedule, augment):
    kw = dict(optimizer=optimizer, schedule=schedule, epochs=2, augment=augment)
    full = fit(_config(tmp_path, "full", **kw))
    with pytest.raises(TrainingInterrupted):
        fit(_config(tmp_path, "part", **kw), callbacks=[_StopAfterEpoch(1)])
    part = load_checkpoint(tmp_path / "part" / "last.npz")
    assert part.epoch == 1 and part.metrics["position"]["batch"] == 0
    resumed = fit(TrainConfig(model="lenet", epochs=None, out_dir=None), resume=tmp_path / "part" / "last.npz")
    assert resumed.out_dir == tmp_path / "part"
    assert _same(_weights(full.last_path), _weights(resumed.last_path))
    assert [h["test_acc"] for h in resumed.history] == [h["test_acc"] for h in full.history]
    with pytest.raises(ValueError, match="--epochs must stay 2"):
        fit(TrainConfig(model="lenet", epochs=3), resume=tmp_path / "part" / "last.npz")


class _StopAt(Callback):
    def __init__(self, epoch, batch):
        self.at = (epoch, batch)

    def batch_end(self, epoch, batch, num_batches, loss, images):
        if (epoch, batch) == self.at:
            raise KeyboardInterrupt


def test_ctrl_c_mid_epoch_saves_the_position_and_resume_is_exact(tmp_path):
    full = fit(_config(tmp_path, "full"))
    with pytest.raises(TrainingInterrupted) as info:
        fit(_config(tmp_path, "cut"), callbacks=[_StopAt(1, 3)])
    assert (info.value.epoch, info.value.batch) == (1, 3)
    saved = load_checkpoint(info.value.checkpoint)
    assert saved.metrics["position"]["batch"] == 3 and saved.step == 4 + 3
    resumed = fit(TrainConfig(model="lenet", epochs=None), resume=info.value.checkpoint)
    assert _same(_weights(full.last_path), _weights(resumed.last_path))
    assert resumed.history[-1]["train_loss"] == pytest.approx(full.history[-1]["train_loss"], rel=1e-12)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_nan_loss_raises_and_keeps_last_good_checkpoint(tmp_path):
    with pytest.raises(TrainingDiverged, match="suggest a lower --lr") as info:
        fit(_config(tmp_path, "nan", optimizer="sgd", lr=1e6, momentum=0.0, epochs=1))
    assert info.value.checkpoint is None

    # After one good epoch, make every loss NaN (as exploding weights would).
    cfg = _config(tmp_path, "good", epochs=2)

    class PoisonLater(Callback):
        def epoch_end(self, row):
            import minigrad.train as train_module

            original = train_module.criterion

            def poisoned(out, y, smoothing=0.0):
                loss, logits = original(out, y, smoothing)
                return loss * float("nan"), logits

            train_module.criterion = poisoned
            self.restore = lambda: setattr(train_module, "criterion", original)

    hook = PoisonLater()
    try:
        with pytest.raises(TrainingDiverged, match=r"loss became nan in epoch 2, batch 1") as info:
            fit(cfg, callbacks=[hook])
    finally:
        hook.restore()
    kept = load_checkpoint(info.value.checkpoint)
    assert kept.epoch == 1 and all(np.isfinite(v).all() for v in kept.model_state.values())


def test_same_seed_same_run_different_seed_different_run(tmp_path):
    a = fit(_config(tmp_path, "a", epochs=1, limit=64))
    b = fit(_config(tmp_path, "b", epochs=1, limit=64))
    c = fit(_config(tmp_path, "c", epochs=1, limit=64, seed=2))
    assert _same(_weights(a.last_path), _weights(b.last_path))
    assert not _same(_weights(a.last_path), _weights(c.last_path))
    assert math.isfinite(a.history[0]["images_per_s"]) and a.history[0]["images_per_s"] > 0


def test_curves_png_with_pillow(tmp_path):
    from PIL import Image

    from minigrad.viz.curves import plot_curves

    history = [{"epoch": e, "train_loss": 1 / e, "test_loss": 1.2 / e, "train_acc": 0.5 + e / 10,
                "test_acc": 0.4 + e / 10} for e in (1, 2, 3)]
    path = plot_curves(history, tmp_path / "c.png", title="t", backend="pillow")
    pixels = np.asarray(Image.open(path).convert("RGB")).reshape(-1, 3)
    for color in ((31, 119, 180), (255, 127, 14)):  # both series are drawn
        assert (pixels == color).all(axis=1).sum() > 100
    with pytest.raises(ValueError, match="backend must be"):
        plot_curves(history, tmp_path / "d.png", backend="svg")


def test_real_sigint_stops_after_the_current_batch(tmp_path):
    import os
    import signal

    class SendSigint(Callback):
        def batch_end(self, epoch, batch, num_batches, loss, images):
            if batch == 2:
                os.kill(os.getpid(), signal.SIGINT)  # what Ctrl-C sends

    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(TrainingInterrupted) as info:
        fit(_config(tmp_path, epochs=1), callbacks=[SendSigint()])
    assert (info.value.epoch, info.value.batch) == (0, 2)
    assert load_checkpoint(info.value.checkpoint).step == 2
    assert signal.getsignal(signal.SIGINT) is before  # the handler is restored


def _lrs(config, steps_per_epoch=3):
    from minigrad.models import get_model
    from minigrad.train_config import build_optimizer, build_scheduler

    optimizer = build_optimizer(config, get_model("lenet").parameters())
    scheduler, per_batch = build_scheduler(config, optimizer, steps_per_epoch)
    lrs = []
    for _ in range(config.epochs):
        lrs.append(optimizer.param_groups[0]["lr"])
        for _ in range(steps_per_epoch if per_batch else 1):
            if scheduler is not None:
                scheduler.step()
    return lrs


def test_schedules_follow_their_formulas():
    lr, epochs = 0.1, 6
    cosine = _lrs(TrainConfig(optimizer="sgd", lr=lr, epochs=epochs, schedule="cosine"))
    assert cosine == pytest.approx([lr / 2 * (1 + math.cos(math.pi * e / epochs)) for e in range(epochs)])
    step = _lrs(TrainConfig(optimizer="sgd", lr=lr, epochs=epochs, schedule="step"))
    assert step == pytest.approx([lr, lr, lr * 0.1, lr * 0.1, lr * 0.01, lr * 0.01])
    multistep = _lrs(TrainConfig(optimizer="sgd", lr=lr, epochs=8, schedule="multistep"))
    assert multistep == pytest.approx([lr] * 4 + [lr * 0.1] * 2 + [lr * 0.01] * 2)
    warm = _lrs(TrainConfig(optimizer="sgd", lr=lr, epochs=epochs, schedule="none", warmup_epochs=2))
    assert warm == pytest.approx([lr * 0.1, lr * 0.55, lr, lr, lr, lr])
    onecycle = _lrs(TrainConfig(optimizer="adam", lr=lr, epochs=epochs, schedule="onecycle"))
    assert max(onecycle) <= lr and onecycle[0] < lr / 10 and onecycle[-1] < onecycle[2]


def test_imagenet_models_switch_to_the_small_input_variant_on_small_images():
    from types import SimpleNamespace

    from minigrad.train_setup import _model_kwargs

    notes = []
    small = SimpleNamespace(input_size=(1, 28, 28))
    big = SimpleNamespace(input_size=(3, 224, 224))
    assert _model_kwargs(TrainConfig(model="resnet18"), small, notes.append) == {"small_input": True}
    assert len(notes) == 1 and "small-input variant" in notes[0]
    assert _model_kwargs(TrainConfig(model="resnet18"), big, notes.append) == {}
    # An explicit choice wins, and models without the option are left alone.
    assert _model_kwargs(TrainConfig(model="resnet18", model_kwargs={"small_input": False}), small, notes.append) \
        == {"small_input": False}
    assert _model_kwargs(TrainConfig(model="lenet"), small, notes.append) == {}
