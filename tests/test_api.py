"""The Python API of the first hour: fit() that talks (and can be silenced), a Module instance in
TrainConfig, mg.load / mg.save for inference, and the first-run compile message."""

import numpy as np
import pytest

import minigrad as mg
from minigrad.checkpoint import load_checkpoint
from minigrad.models import registry
from minigrad.nn import Flatten, Linear, Module
from minigrad.train import TrainConfig, fit


def _config(tmp_path, name="run", **kw):
    base = dict(model="lenet", dataset="synth-digits", epochs=1, limit=64, test_limit=32, batch_size=32,
                out_dir=str(tmp_path / name), prefetch=1)
    base.update(kw)
    return TrainConfig(**base)


def test_fit_prints_progress_by_default_and_nothing_with_verbose_false(tmp_path, capsys):
    fit(_config(tmp_path, "loud"))
    out = capsys.readouterr().out
    assert "lenet (61,706 parameters) on synth-digits: 64 train / 32 test images" in out
    assert "epoch   1/1  train loss" in out
    fit(_config(tmp_path, "quiet"), verbose=False)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


class TinyNet(Module):
    """Flatten and one Linear layer: the smallest classifier of 28x28 digits."""

    def __init__(self, num_classes=10, in_channels=1):
        super().__init__()
        self.flatten = Flatten()
        self.fc = Linear(in_channels * 28 * 28, num_classes)

    def forward(self, x):
        return self.fc(self.flatten(x))


def test_fit_accepts_a_module_instance_and_register_model_makes_it_loadable(tmp_path, monkeypatch):
    mg.manual_seed(0)
    net = TinyNet()
    result = fit(_config(tmp_path, model=net, epochs=2), verbose=False)
    assert result.model is net and len(result.history) == 2
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]  # it trained the given instance
    ckpt = load_checkpoint(result.last_path)
    assert ckpt.model_name == "TinyNet" and ckpt.config["model"] == "TinyNet"
    with pytest.raises(ValueError, match="unknown model 'TinyNet'"):
        mg.load(result.best_path)
    # Registered under its class name, the checkpoint loads like any other.
    monkeypatch.setattr(registry, "_MODELS", dict(registry._MODELS))
    registry.register_model("TinyNet", input_size=(1, 28, 28))(TinyNet)
    loaded = mg.load(result.best_path)
    x = np.random.default_rng(0).random((3, 1, 28, 28)).astype(np.float32)
    net.eval()
    assert np.allclose(loaded(mg.Tensor(x)).numpy(), net(mg.Tensor(x)).numpy(), atol=1e-6)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return fit(_config(tmp_path_factory.mktemp("api"), epochs=1), verbose=False)


def test_load_gives_an_eval_model_with_its_preprocessing(trained):
    model = mg.load(trained.best_path)
    data = load_checkpoint(trained.best_path).metrics["data"]
    assert not model.training and model.classes == [str(i) for i in range(10)]
    images = np.random.default_rng(1).integers(0, 256, (4, 1, 28, 28), dtype=np.uint8)
    # The preprocessing is the training run's: pixels / 255, minus the mean, over the std.
    expected = (images / 255.0 - data["mean"][0]) / data["std"][0]
    x = model.preprocess(images)
    assert x.shape == (4, 1, 28, 28) and np.allclose(x.numpy(), expected, atol=1e-6)
    assert model.preprocess(images[0, 0]).shape == (1, 1, 28, 28)  # one (H, W) image works too
    scores = model(x).numpy()
    trained.model.eval()
    assert np.allclose(scores, trained.model(mg.Tensor(expected.astype(np.float32))).numpy(), atol=1e-5)


def test_save_then_load_round_trips_weights_classes_and_statistics(trained, tmp_path):
    model = mg.load(trained.best_path)
    path = mg.save(model, tmp_path / "copy.npz")
    again = mg.load(path)
    images = np.random.default_rng(2).random((2, 1, 28, 28))
    assert np.allclose(again(again.preprocess(images)).numpy(), model(model.preprocess(images)).numpy())
    assert again.classes == model.classes
    fresh = mg.models.get_model("lenet")
    mg.save(fresh, tmp_path / "fresh.npz", classes=list("abcdefghij"), mean=[0.5], std=[0.25])
    back = mg.load(tmp_path / "fresh.npz")
    assert back.classes[0] == "a" and np.allclose(back.preprocess(np.full((28, 28), 0.75)).numpy(), 1.0)
    with pytest.raises(ValueError, match="no registry name"):
        mg.save(TinyNet(), tmp_path / "tiny.npz")


def test_an_empty_kernel_cache_is_announced(tmp_path, capsys, monkeypatch):
    from minigrad.backends.cpu import cache

    monkeypatch.setattr(cache, "kernels_cached", lambda: False)
    fit(_config(tmp_path, "cold"))
    assert "compiling kernels (first run only, about" in capsys.readouterr().out
    monkeypatch.setattr(cache, "kernels_cached", lambda: True)
    fit(_config(tmp_path, "warm"))
    assert "compiling kernels" not in capsys.readouterr().out


def test_kernels_cached_looks_at_numba_s_index_files(tmp_path, monkeypatch):
    from minigrad.backends.cpu import cache

    paths = list(cache._index_paths())
    assert paths and all(p.endswith(".nbi") for p in paths)
    monkeypatch.setattr(cache, "_index_paths", lambda: [str(tmp_path / "missing.nbi")])
    assert not cache.kernels_cached()
    (tmp_path / "present.nbi").write_bytes(b"")
    monkeypatch.setattr(cache, "_index_paths", lambda: [str(tmp_path / "missing.nbi"), str(tmp_path / "present.nbi")])
    assert cache.kernels_cached()
