"""The ``minigrad`` command line through Typer's test runner: real runs and every bad-input case."""

import csv
import json
import zipfile

import numpy as np
import pytest
from typer.testing import CliRunner

from minigrad.checkpoint import load_checkpoint, save_checkpoint
from minigrad.cli.app import app

runner = CliRunner()
TINY = ["--dataset", "synth-digits", "--limit", "96", "--test-limit", "64", "--batch-size", "32", "--prefetch", "1"]


def run(*args):
    result = runner.invoke(app, [str(a) for a in args])
    assert "Traceback" not in result.output, result.output
    return result


def _assert_one_line_error(result, code, *needles):
    assert result.exit_code == code, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "run"
    result = run("train", "lenet", *TINY, "--epochs", "1", "--out", out)
    assert result.exit_code == 0, result.output
    return out, result


def test_models_lists_the_registry():
    result = run("models")
    assert result.exit_code == 0
    for name in ("lenet", "lenet5", "lenet5-classic"):
        assert name in result.output


def test_train_tiny_run_writes_everything(trained):
    out, result = trained
    assert "epoch   1/1" in result.output and "done: test accuracy" in result.output
    assert {p.name for p in out.iterdir()} >= {"last.npz", "best.npz", "metrics.csv", "curves.png"}
    with open(out / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1 and list(rows[0])[:8] == ["epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr",
                                                    "seconds", "images_per_s"]


def test_train_auto_falls_back_to_synth_digits_and_pads_for_classic_lenet(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIGRAD_DATA", str(tmp_path / "nothing"))
    result = run("train", "lenet5-classic", "--limit", "64", "--test-limit", "32", "--epochs", "1",
                 "--out", tmp_path / "r", "--data-dir", tmp_path / "nothing")
    assert result.exit_code == 0, result.output
    assert "MNIST not found in" in result.output and "training on synth-digits" in result.output
    # The 1998 LeNet reads 32x32 images: the 28x28 digits are padded, and the user is told.
    assert "the model expects 1x32x32 inputs; padding 1x28x28 images" in result.output
    assert load_checkpoint(tmp_path / "r" / "last.npz").metrics["data"]["input_size"] == [1, 32, 32]


def test_eval_json_reproduces_the_training_evaluation(trained):
    out, _ = trained
    result = run("eval", out / "last.npz", "--limit", "64", "--json")
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    with open(out / "metrics.csv") as f:
        row = next(csv.DictReader(f))
    assert metrics["examples"] == 64 and metrics["dataset"] == "synth-digits"
    assert metrics["accuracy"] == pytest.approx(float(row["test_acc"]))
    assert metrics["loss"] == pytest.approx(float(row["test_loss"]), rel=1e-5)
    text = run("eval", out / "best.npz", "--limit", "64")
    assert text.exit_code == 0 and "accuracy" in text.output


def test_predict_prints_top_classes(trained, tmp_path):
    from PIL import Image

    from minigrad.data import load_dataset

    out, _ = trained
    digit = load_dataset("synth-digits", split="test", size=1).images[0, 0]
    Image.fromarray(digit).resize((56, 56)).convert("RGB").save(tmp_path / "d.png")
    result = run("predict", out / "best.npz", tmp_path / "d.png", "--top", "2")
    assert result.exit_code == 0, result.output
    assert "converted RGB to grayscale" in result.output and "resized 56x56 to 28x28" in result.output
    assert result.stdout.strip().count("%") == 2
    full = json.loads(run("predict", out / "best.npz", tmp_path / "d.png", "--top", "10", "--json").stdout)
    probs = [t["probability"] for t in full[0]["top"]]
    assert sum(probs) == pytest.approx(1.0, abs=1e-5) and probs == sorted(probs, reverse=True)


def test_ctrl_c_saves_exits_130_and_resume_matches_an_uninterrupted_run(tmp_path, monkeypatch):
    import minigrad.train as train_module

    assert run("train", "lenet", *TINY, "--epochs", "2", "--out", tmp_path / "full").exit_code == 0
    evaluate, calls = train_module.evaluate, []

    def interrupted_in_epoch_2(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # Ctrl-C while epoch 2 is being evaluated
        return evaluate(*args, **kwargs)

    monkeypatch.setattr(train_module, "evaluate", interrupted_in_epoch_2)
    result = run("train", "lenet", *TINY, "--epochs", "2", "--out", tmp_path / "cut")
    assert result.exit_code == 130, result.output
    assert "interrupted: saved" in result.stderr
    assert f"minigrad train lenet --resume {tmp_path / 'cut' / 'last.npz'}" in result.stderr
    saved = load_checkpoint(tmp_path / "cut" / "last.npz")
    assert saved.epoch == 1 and saved.metrics["position"]["batch"] == 3
    monkeypatch.setattr(train_module, "evaluate", evaluate)
    result = run("train", "lenet", "--resume", tmp_path / "cut" / "last.npz")
    assert result.exit_code == 0, result.output
    assert "resuming from" in result.output and "epoch   2/2" in result.output
    a = load_checkpoint(tmp_path / "full" / "last.npz").model_state
    b = load_checkpoint(tmp_path / "cut" / "last.npz").model_state
    assert set(a) == set(b) and all(np.array_equal(a[k], b[k]) for k in a)
    _assert_one_line_error(run("train", "lenet", "--resume", tmp_path / "cut" / "last.npz", "--epochs", "5"), 2,
                           "--epochs must stay 2")


# ---------------------------------------------------------------- bad input
def test_unknown_model_and_dataset_list_valid_names(tmp_path):
    _assert_one_line_error(run("train", "lenet9", "--out", tmp_path), 2, "unknown model 'lenet9'", "lenet5")
    _assert_one_line_error(run("train", "lenet", "--dataset", "imagenet", "--out", tmp_path), 2,
                           "unknown dataset 'imagenet'", "synth-digits", "mnist")
    _assert_one_line_error(run("train", "lenet", "--optimizer", "lbfgs", "--out", tmp_path), 2, "sgd, adam, adamw")


def test_corrupt_idx_file_is_one_line_naming_the_file(tmp_path):
    data = tmp_path / "mnist"
    data.mkdir()
    (data / "t10k-images-idx3-ubyte").write_bytes(np.array([0, 0, 8, 1, 0, 0, 0, 4], np.uint8).tobytes() + bytes(16))
    (data / "t10k-labels-idx1-ubyte").write_bytes(np.array([0, 0, 8, 1, 0, 0, 0, 4], np.uint8).tobytes() + bytes(4))
    result = run("train", "lenet", "--dataset", "mnist", "--data-dir", data, "--train-split", "test[:2]",
                 "--test-split", "test[2:]", "--out", tmp_path / "r")
    _assert_one_line_error(result, 2, "t10k-images-idx3-ubyte")


def test_nan_loss_exits_3_and_suggests_a_lower_lr(tmp_path):
    result = run("train", "lenet", *TINY, "--epochs", "1", "--optimizer", "sgd", "--lr", "1e6", "--momentum", "0",
                 "--out", tmp_path / "r")
    _assert_one_line_error(result, 3, "suggest a lower --lr")


def test_not_a_checkpoint_and_pickled_checkpoint(tmp_path):
    text = tmp_path / "notes.npz"
    text.write_text("not a zip")
    _assert_one_line_error(run("eval", text), 2, "not a minigrad checkpoint")
    plain = tmp_path / "plain.npz"
    np.savez(plain, w=np.zeros(2))
    _assert_one_line_error(run("eval", plain), 2, "not a minigrad checkpoint")
    _assert_one_line_error(run("predict", plain, text), 2, "not a minigrad checkpoint")
    evil = tmp_path / "evil.npz"
    np.savez(evil, __minigrad__=np.zeros(1, np.uint8), w=np.array([{"x": 1}], dtype=object))
    _assert_one_line_error(run("eval", evil), 2, "holds pickled objects; refusing to load")
    _assert_one_line_error(run("train", "lenet", "--resume", evil), 2, "pickled")
    _assert_one_line_error(run("eval", tmp_path / "missing.npz"), 2, "no such checkpoint file")
    with zipfile.ZipFile(tmp_path / "z.npz", "w") as z:
        z.writestr("a.txt", "x")
    _assert_one_line_error(run("eval", tmp_path / "z.npz"), 2, "not a minigrad checkpoint")


def test_checkpoint_of_another_model_lists_mismatched_keys(trained, tmp_path):
    out, _ = trained
    ckpt = load_checkpoint(out / "last.npz")
    state = dict(ckpt.model_state)
    state["head.weight"] = state.pop("fc3.weight")
    save_checkpoint(tmp_path / "other.npz", state, model_name="lenet", config=ckpt.config, metrics=ckpt.metrics)
    _assert_one_line_error(run("eval", tmp_path / "other.npz"), 2, "missing keys: fc3.weight",
                           "unexpected keys: head.weight")
    _assert_one_line_error(run("train", "lenet5-classic", "--resume", out / "last.npz"), 2,
                           "checkpoint of model 'lenet', not 'lenet5-classic'")
    _assert_one_line_error(run("train", "lenet", "--resume", tmp_path / "other.npz"), 2, "holds no training state")


def test_unreadable_image_and_bad_options(trained, tmp_path):
    out, _ = trained
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG garbage")
    _assert_one_line_error(run("predict", out / "last.npz", bad), 2, "bad.png", "unreadable image")
    _assert_one_line_error(run("eval", out / "last.npz", "--split", "test[::"), 2, "test[::")
    _assert_one_line_error(run("predict", out / "last.npz", bad, "--top", "0"), 2, "--top")


def test_cuda_without_a_gpu_is_a_one_line_error(tmp_path, monkeypatch):
    import minigrad.backends

    monkeypatch.setattr(minigrad.backends, "cuda_available", lambda: False)
    result = run("train", "lenet", *TINY, "--device", "cuda", "--out", tmp_path / "r")
    _assert_one_line_error(result, 2, "no CUDA GPU is available")
    _assert_one_line_error(run("train", "lenet", "--device", "tpu", "--out", tmp_path / "r"), 2, "unknown device 'tpu'")


def test_train_threads_option_sets_the_backend_thread_count(tmp_path, monkeypatch):
    import minigrad

    seen = []
    monkeypatch.setattr(minigrad, "set_num_threads", lambda n: seen.append(n) or 1)
    result = CliRunner().invoke(app, ["train", "lenet", "--dataset", "synth-digits", "--limit", "64",
                                      "--test-limit", "32", "--epochs", "1", "--threads", "1",
                                      "--out", str(tmp_path / "run"), "-q"])
    assert result.exit_code == 0, result.output
    assert seen == [1]
    bad = CliRunner().invoke(app, ["train", "lenet", "--threads", "0"])
    assert bad.exit_code == 2
