"""Checkpoints: round trip, atomic writes, and every way a file can be refused."""

import io
import os
import zipfile

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
from minigrad.checkpoint import FORMAT, CheckpointError, load_checkpoint, save_checkpoint
from minigrad.nn import Module, Parameter


class Tiny(Module):
    def __init__(self, n=3):
        super().__init__()
        self.w = Parameter(np.arange(n * 2, dtype=np.float32).reshape(n, 2))
        self.b = Parameter(np.full(n, 0.5, dtype=np.float32))


def _optimizer_like_state():
    # The shape of a torch-style optimizer state_dict: integer keys, tuples, arrays, scalars.
    return {"state": {0: {"step": 3, "exp_avg": np.ones((3, 2), np.float32)},
                      1: {"step": 3, "exp_avg": np.zeros(3, np.float32)}},
            "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "params": [0, 1], "amsgrad": False}]}


def test_round_trip_everything(tmp_path):
    model = Tiny()
    rng_state = np.random.default_rng(7).bit_generator.state
    path = save_checkpoint(tmp_path / "a.npz", model, optimizer=_optimizer_like_state(), scheduler={"last_epoch": 4},
                           epoch=2, step=40, config={"lr": 0.1, "name": "x", "kw": {}}, model_name="tiny",
                           metrics={"history": [{"epoch": 1, "test_acc": 0.5}], "best": np.float64(0.5)},
                           rng_state=rng_state)
    ckpt = load_checkpoint(path)
    assert ckpt.epoch == 2 and ckpt.step == 40 and ckpt.model_name == "tiny"
    assert set(ckpt.model_state) == {"w", "b"}
    np.testing.assert_array_equal(ckpt.model_state["w"], model.w.numpy())
    opt = ckpt.optimizer_state
    assert set(opt["state"]) == {0, 1}  # integer keys survive JSON
    np.testing.assert_array_equal(opt["state"][0]["exp_avg"], np.ones((3, 2), np.float32))
    assert opt["state"][0]["exp_avg"].dtype == np.float32
    assert opt["param_groups"][0]["betas"] == (0.9, 0.999)
    assert ckpt.scheduler_state == {"last_epoch": 4}
    assert ckpt.config == {"lr": 0.1, "name": "x", "kw": {}}
    assert ckpt.metrics["best"] == 0.5
    restored = np.random.default_rng(0)
    restored.bit_generator.state = ckpt.rng_state
    assert restored.random() == np.random.default_rng(7).random()


@given(st.lists(st.integers(1, 5), min_size=1, max_size=4))
def test_arrays_of_any_shape_round_trip(tmp_path_factory, shape):
    path = tmp_path_factory.mktemp("ck") / "c.npz"
    array = np.random.default_rng(len(shape)).standard_normal(shape)
    save_checkpoint(path, {"x": array}, metrics={"m": array.astype(np.float32)})
    ckpt = load_checkpoint(path)
    np.testing.assert_array_equal(ckpt.model_state["x"], array)
    np.testing.assert_array_equal(ckpt.metrics["m"], array.astype(np.float32))


def test_loads_into_model_and_reports_mismatched_keys(tmp_path):
    save_checkpoint(tmp_path / "c.npz", Tiny(3), model_name="tiny")
    ckpt = load_checkpoint(tmp_path / "c.npz")
    target = Tiny(3)
    with mg.no_grad():
        target.w.data[...] = 0
    ckpt.load_model(target)
    np.testing.assert_array_equal(target.w.numpy(), Tiny(3).w.numpy())
    with pytest.raises(CheckpointError, match=r"w: checkpoint shape \(3, 2\) != model shape \(4, 2\)"):
        ckpt.load_model(Tiny(4))

    class Other(Module):
        def __init__(self):
            super().__init__()
            self.v = Parameter(np.zeros(2, np.float32))

    with pytest.raises(CheckpointError, match="missing keys: v.*unexpected keys: w, b"):
        ckpt.load_model(Other())


def test_atomic_write_leaves_no_temporary_and_keeps_old_file_on_failure(tmp_path):
    path = tmp_path / "c.npz"
    save_checkpoint(path, Tiny(), epoch=1)
    with pytest.raises(CheckpointError, match="cannot store a value of type"):
        save_checkpoint(path, Tiny(), epoch=2, config={"bad": object()})
    assert load_checkpoint(path).epoch == 1
    assert sorted(os.listdir(tmp_path)) == ["c.npz"]


def test_refuses_a_file_that_is_not_an_npz(tmp_path):
    path = tmp_path / "x.npz"
    path.write_text("hello")
    with pytest.raises(CheckpointError, match="not a minigrad checkpoint"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="no such checkpoint file"):
        load_checkpoint(tmp_path / "missing.npz")


def test_refuses_an_npz_without_the_marker(tmp_path):
    path = tmp_path / "plain.npz"
    np.savez(path, w=np.zeros(3))
    with pytest.raises(CheckpointError, match="not a minigrad checkpoint"):
        load_checkpoint(path)
    meta = np.frombuffer(b'{"format": "something-else", "version": 1}', dtype=np.uint8)
    np.savez(path, __minigrad__=meta)
    with pytest.raises(CheckpointError, match="format marker"):
        load_checkpoint(path)


def test_refuses_pickled_objects(tmp_path):
    path = tmp_path / "evil.npz"
    save_checkpoint(path, Tiny())
    # Add an object array (which np.save pickles) next to the real content.
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with zipfile.ZipFile(path, "a") as z:
        z.writestr("payload.npy", buffer.getvalue())
    with pytest.raises(CheckpointError, match="holds pickled objects; refusing to load"):
        load_checkpoint(path)


def test_refuses_truncated_and_newer_files(tmp_path):
    path = tmp_path / "c.npz"
    save_checkpoint(path, Tiny())
    data = path.read_bytes()
    truncated = tmp_path / "t.npz"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError):
        load_checkpoint(truncated)
    meta = np.frombuffer(f'{{"format": "{FORMAT}", "version": 99}}'.encode(), dtype=np.uint8)
    np.savez(tmp_path / "new.npz", __minigrad__=meta)
    with pytest.raises(CheckpointError, match="version 99 is newer"):
        load_checkpoint(tmp_path / "new.npz")


def test_checkpoint_error_is_a_value_error():
    assert issubclass(CheckpointError, ValueError)
