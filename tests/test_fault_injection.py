"""Fault injection: the ``minigrad`` CLI in subprocesses, killed, signalled, crowded and fed crafted files.

Every case checks the exit code, that the message is a single line without "Traceback", and
that every file the user had is byte-identical or deliberately updated (a resumed run reaching
the same weights, best.npz and metrics as an uninterrupted one).

Faults are injected by a few lines run in the child before the CLI (``_CHILD``): ``kill -9``
just before the k-th atomic rename or after n bytes of a checkpoint, real signals sent from a
batch or from inside a save, or a pause that holds the run folder. The Numba cache in the
source tree is warm after the first run, so each subprocess starts in about a second.
"""

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from minigrad.checkpoint import load_checkpoint, read_metadata

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL") or sys.platform == "win32",
                                reason="POSIX signals and locks")

TINY = ["--dataset", "synth-digits", "--limit", "96", "--test-limit", "64", "--batch-size", "32", "--prefetch", "1",
        "--threads", "1", "-q"]
EPOCHS = ["--epochs", "2"]

_CHILD = r"""
import json, os, signal, sys, time
fault = json.loads(os.environ.get("FAULT", "{}"))

def kill():
    os.kill(os.getpid(), signal.SIGKILL)

if "kill_before_replace" in fault:
    real_replace, calls = os.replace, [0]
    def replace(src, dst):
        calls[0] += 1
        if calls[0] == fault["kill_before_replace"]:
            kill()
        return real_replace(src, dst)
    os.replace = replace

if "kill_after_bytes" in fault:
    import builtins
    real_open, written = builtins.open, [0]
    class Dying:
        def __init__(self, f):
            self.f = f
        def write(self, data):
            left = fault["kill_after_bytes"] - written[0]
            if len(data) >= left:
                self.f.write(bytes(data)[:left]); self.f.flush(); kill()
            written[0] += len(data)
            return self.f.write(data)
        def __getattr__(self, name):
            return getattr(self.f, name)
        def __enter__(self):
            return self
        def __exit__(self, *exc):
            return self.f.__exit__(*exc)
    def dying_open(file, mode="r", *args, **kwargs):
        f = real_open(file, mode, *args, **kwargs)
        return Dying(f) if ".npz." in str(file) and "w" in mode else f
    builtins.open = dying_open

from minigrad.progress import ProgressBar
if "signal_at_batch" in fault:
    epoch, batch, name, count = fault["signal_at_batch"]
    real_batch_end = ProgressBar.batch_end
    def batch_end(self, e, b, *args):
        real_batch_end(self, e, b, *args)
        if (e, b) == (epoch, batch):
            for _ in range(count):
                os.kill(os.getpid(), getattr(signal, name))
    ProgressBar.batch_end = batch_end

if "signal_in_save" in fault:
    import minigrad.train as train_module
    target, at_epoch, name, count = fault["signal_in_save"]
    real_save, fired = train_module.save_checkpoint, []
    def save_checkpoint(path, *args, **kwargs):
        if os.path.basename(path) == target and kwargs["epoch"] == at_epoch and not fired:
            fired.append(1)
            for _ in range(count):
                os.kill(os.getpid(), getattr(signal, name))
        return real_save(path, *args, **kwargs)
    train_module.save_checkpoint = save_checkpoint

if "hold" in fault:
    real_batch_end2 = ProgressBar.batch_end
    def held(self, *args):
        real_batch_end2(self, *args)
        open(fault["hold"] + ".ready", "w").close()
        deadline = time.time() + 60
        while not os.path.exists(fault["hold"]) and time.time() < deadline:
            time.sleep(0.05)
    ProgressBar.batch_end = held

from minigrad.cli.app import app
sys.argv = ["minigrad"] + sys.argv[1:]
app()
"""


def _env(fault=None):
    env = dict(os.environ, FAULT=json.dumps(fault or {}), COLUMNS="200")
    env.pop("MINIGRAD_NUM_THREADS", None)
    return env


def cli(*args, fault=None, cwd=None, limit_bytes=None, wait=True):
    """Run ``minigrad ARGS`` in a subprocess (with an injected fault); ``CompletedProcess`` or ``Popen``."""
    command = [sys.executable, "-c", _CHILD, *map(str, args)]
    preexec = None
    if limit_bytes is not None:
        import resource

        def preexec():
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))
    kwargs = dict(env=_env(fault), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                  preexec_fn=preexec)
    if not wait:
        return subprocess.Popen(command, **kwargs)
    return subprocess.run(command, timeout=240, **kwargs)


def one_line(result, code, *needles):
    """Exit ``code`` with exactly one non-empty line on stderr, holding every needle, and no traceback."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def snapshot(folder):
    """{name: bytes} of every file in ``folder`` (the lock file aside)."""
    folder = Path(folder)
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file() and p.name != ".lock"} \
        if folder.is_dir() else {}


def weights(path):
    state = load_checkpoint(path).model_state
    return {k: np.array(state[k]) for k in state}


def same_weights(a, b):
    wa, wb = weights(a), weights(b)
    return set(wa) == set(wb) and all(np.array_equal(wa[k], wb[k]) for k in wa)


def metrics_rows(path):
    """metrics.csv without its timing columns (which differ between runs)."""
    with open(path, newline="") as f:
        return [{k: v for k, v in row.items() if k not in ("seconds", "images_per_s")} for row in csv.DictReader(f)]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted 2-epoch run: what every interrupted-and-resumed run must reproduce."""
    out = tmp_path_factory.mktemp("reference") / "run"
    result = cli("train", "lenet", *TINY, *EPOCHS, "--out", out)
    assert result.returncode == 0, result.stderr
    return out


def assert_matches_reference(out, reference):
    assert same_weights(out / "last.npz", reference / "last.npz")
    assert same_weights(out / "best.npz", reference / "best.npz")
    assert read_metadata(out / "best.npz")["epoch"] == read_metadata(reference / "best.npz")["epoch"]
    assert metrics_rows(out / "metrics.csv") == metrics_rows(reference / "metrics.csv")
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p.name for p in out.iterdir() if ".tmp" in p.name]


def finish(out, reference):
    """Continue a killed run the way a user would, then compare with the uninterrupted run."""
    if (out / "last.npz").exists():
        result = cli("train", "lenet", "--resume", out / "last.npz", "-q", "--threads", "1")
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines()[0].startswith(f"note: resuming from {out / 'last.npz'}")
        assert f"writing to {out}" in result.stdout.splitlines()[0]
    else:  # killed before the first epoch was committed: start again, replacing what it left
        result = cli("train", "lenet", *TINY, *EPOCHS, "--out", out, "--overwrite")
        assert result.returncode == 0, result.stderr
    assert_matches_reference(out, reference)
    return result


# ------------------------------------------------------------ kill -9 in saves
# Two epochs write: best, metrics, curves, last (epoch 1), then [best], metrics, curves, last.
@pytest.mark.parametrize("k", [1, 2, 4, 5, 7])
def test_kill_9_before_each_commit_loses_nothing(tmp_path, reference, k):
    out = tmp_path / "run"
    killed = cli("train", "lenet", *TINY, *EPOCHS, "--out", out, fault={"kill_before_replace": k})
    assert killed.returncode == -signal.SIGKILL
    # What is there is whole: every checkpoint loads, and last.npz is never ahead of best.npz.
    for name in ("last.npz", "best.npz"):
        if (out / name).exists():
            load_checkpoint(out / name)
    if (out / "last.npz").exists():
        meta = read_metadata(out / "last.npz")
        best_epoch = meta["metrics"]["best_epoch"]
        assert read_metadata(out / "best.npz")["epoch"] >= best_epoch
    assert [p for p in out.iterdir() if ".tmp" in p.name]  # the rename never happened: the temporary is left
    result = finish(out, reference)
    assert "removed 1 unfinished temporary file" in result.stdout  # ... and the next run removes it


@pytest.mark.parametrize("n", [100, 300_000])
def test_kill_9_in_the_middle_of_a_checkpoint_write(tmp_path, reference, n):
    out = tmp_path / "run"
    killed = cli("train", "lenet", *TINY, *EPOCHS, "--out", out, fault={"kill_after_bytes": n})
    assert killed.returncode == -signal.SIGKILL
    assert not (out / "last.npz").exists() and not (out / "best.npz").exists()
    finish(out, reference)


def test_resume_repairs_a_best_npz_left_stale_by_the_old_write_order(tmp_path, reference):
    # minigrad before this change wrote last.npz first: a kill between the two saves left
    # last.npz recording a new best that best.npz did not hold, and metrics.csv an epoch behind.
    out = tmp_path / "run"
    assert cli("train", "lenet", *TINY, *EPOCHS, "--out", out,
               fault={"signal_at_batch": [1, 1, "SIGKILL", 1]}).returncode == -signal.SIGKILL
    epoch1 = {name: (out / name).read_bytes() for name in ("best.npz", "metrics.csv")}
    shutil.copytree(reference, tmp_path / "ref-copy")
    for name in ("best.npz", "metrics.csv"):  # the reference's epoch 2, but best.npz of epoch 1
        (tmp_path / "ref-copy" / name).write_bytes(epoch1[name])
    out = tmp_path / "ref-copy"
    if read_metadata(reference / "best.npz")["epoch"] != 2:
        pytest.skip("the reference run's best epoch is 1: nothing is stale")
    result = cli("train", "lenet", "--resume", out / "last.npz", "-q", "--threads", "1")
    assert result.returncode == 0, result.stderr
    assert "rebuilt" in result.stdout and "nothing to do" in result.stdout
    assert_matches_reference(out, reference)


# ------------------------------------------------------------------- signals
@pytest.mark.parametrize("name,code", [("SIGTERM", 143), ("SIGHUP", 129), ("SIGINT", 130)])
def test_sigterm_and_sighup_mid_epoch_save_the_position_like_ctrl_c(tmp_path, reference, name, code):
    out = tmp_path / "run"
    result = cli("train", "lenet", *TINY, *EPOCHS, "--out", out, fault={"signal_at_batch": [1, 2, name, 1]})
    line = one_line(result, code, "interrupted", "--resume")
    assert (name in line) == (name != "SIGINT")
    position = read_metadata(out / "last.npz")["metrics"]["position"]
    assert (position["epoch"], position["batch"]) == (1, 2)
    finish(out, reference)


def test_a_second_signal_during_the_epoch_end_save_still_leaves_consistent_outputs(tmp_path, reference):
    out = tmp_path / "run"
    result = cli("train", "lenet", *TINY, *EPOCHS, "--out", out, fault={"signal_in_save": ["best.npz", 1, "SIGINT", 2]})
    one_line(result, 130, "interrupted")
    meta = read_metadata(out / "last.npz")
    assert meta["epoch"] == 1 and meta["metrics"]["best_epoch"] == 1
    assert read_metadata(out / "best.npz")["epoch"] == 1
    assert len(metrics_rows(out / "metrics.csv")) == 1
    finish(out, reference)


def test_ctrl_c_during_the_final_save_is_not_swallowed(tmp_path, reference):
    out = tmp_path / "run"
    result = cli("train", "lenet", *TINY, *EPOCHS, "--out", out, fault={"signal_in_save": ["last.npz", 2, "SIGTERM", 1]})
    one_line(result, 143, "after the last epoch", "every output is saved")
    assert_matches_reference(out, reference)


# ------------------------------------------------------- copied, reused folders
def test_resuming_a_copied_folder_writes_beside_the_copy(tmp_path, reference):
    original = tmp_path / "original"
    cli("train", "lenet", *TINY, *EPOCHS, "--out", original, fault={"signal_at_batch": [1, 1, "SIGTERM", 1]})
    before = snapshot(original)
    copy = tmp_path / "copy"
    shutil.copytree(original, copy)
    # From another working directory, with a relative path: the saved out_dir plays no part.
    result = cli("train", "lenet", "--resume", "copy/last.npz", "-q", "--threads", "1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].endswith("writing to copy")
    assert snapshot(original) == before
    assert_matches_reference(copy, reference)
    # Resuming the original into an explicit new folder: the original is still untouched.
    result = cli("train", "lenet", "--resume", original / "last.npz", "--out", tmp_path / "third", "-q",
                 "--threads", "1")
    assert result.returncode == 0, result.stderr
    assert snapshot(original) == before
    assert_matches_reference(tmp_path / "third", reference)


def test_reusing_a_folder_that_holds_a_run_is_refused_unless_asked(tmp_path, reference):
    out = tmp_path / "run"
    shutil.copytree(reference, out)
    before = snapshot(out)
    result = cli("train", "lenet", *TINY, "--epochs", "1", "--seed", "3", "--out", out)
    one_line(result, 2, "already holds a run", "--resume", "--overwrite")
    assert snapshot(out) == before
    result = cli("train", "lenet", *TINY, "--epochs", "1", "--seed", "3", "--out", out, "--overwrite")
    assert result.returncode == 0, result.stderr
    assert "removed the previous run's" in result.stdout
    assert len(metrics_rows(out / "metrics.csv")) == 1 and read_metadata(out / "last.npz")["epoch"] == 1
    # Resuming a run that is already complete does nothing and says so.
    result = cli("train", "lenet", "--resume", reference / "last.npz", "--lr", "0.5", "-q")
    assert result.returncode == 0 and "nothing to do" in result.stdout
    assert "ignored with --resume" in result.stdout and "--lr 0.5" in result.stdout


def test_a_second_run_in_the_same_folder_is_refused_naming_the_holder(tmp_path, reference):
    out = tmp_path / "run"
    gate = tmp_path / "go"
    first = cli("train", "lenet", *TINY, *EPOCHS, "--out", out, fault={"hold": str(gate)}, wait=False)
    try:
        deadline = time.time() + 120
        while not Path(str(gate) + ".ready").exists():
            assert first.poll() is None and time.time() < deadline, first.communicate()
            time.sleep(0.05)
        second = cli("train", "lenet", *TINY, *EPOCHS, "--out", out)
        one_line(second, 2, "in use by another minigrad run", f"pid {first.pid}")
    finally:
        gate.touch()
        stdout, stderr = first.communicate(timeout=240)
    assert first.returncode == 0, stderr
    assert_matches_reference(out, reference)
    assert not (out / ".lock").exists()


def test_a_full_disk_fails_in_one_line_and_keeps_the_previous_checkpoint(tmp_path, reference):
    out = tmp_path / "run"
    cli("train", "lenet", *TINY, *EPOCHS, "--out", out, fault={"signal_at_batch": [1, 1, "SIGTERM", 1]})
    before = snapshot(out)
    # A file-size limit below a checkpoint's size (~750 kB) but above metrics.csv's.
    result = cli("train", "lenet", "--resume", out / "last.npz", "-q", "--threads", "1", limit_bytes=200_000)
    one_line(result, 2, "File too large")
    after = snapshot(out)
    assert after["last.npz"] == before["last.npz"] and after["best.npz"] == before["best.npz"]
    assert not [name for name in after if ".tmp" in name]
    finish(out, reference)


# -------------------------------------------------------------- crafted files
def _tamper(path, target, edit):
    """Copy checkpoint ``path`` to ``target`` with its JSON metadata passed through ``edit``."""
    with zipfile.ZipFile(path) as z:
        members = {name: z.read(name) for name in z.namelist()}
    import io

    meta = json.loads(np.load(io.BytesIO(members["__minigrad__.npy"])).tobytes())
    edit(meta)
    buffer = io.BytesIO()
    np.save(buffer, np.frombuffer(json.dumps(meta).encode(), np.uint8))
    members["__minigrad__.npy"] = buffer.getvalue()
    with zipfile.ZipFile(target, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return target


@pytest.mark.parametrize("field,edit", [
    ("config.lr", lambda m: m["config"].update(lr="fast")),
    ("metrics.position.batch", lambda m: m["metrics"]["position"].update(batch="x")),
    ("metrics.data.classes", lambda m: m["metrics"]["data"].update(classes=5)),
    ("field epoch", lambda m: m.update(epoch="1")),
    ("scheduler.last_epoch", lambda m: m["scheduler"].update(last_epoch="x")),
    ("metrics.history[0].test_acc", lambda m: m["metrics"]["history"][0].update(test_acc=None)),
])
def test_tampered_metadata_is_one_line_naming_the_field(tmp_path, reference, field, edit):
    bad = _tamper(reference / "last.npz", tmp_path / "bad.npz", edit)
    for command in (["eval", bad], ["train", "lenet", "--resume", bad, "--out", tmp_path / "o"]):
        result = cli(*command)
        if field in ("config.lr", "metrics.position.batch", "scheduler.last_epoch", "metrics.history[0].test_acc") \
                and command[0] == "eval":
            assert result.returncode == 0, result.stderr  # eval needs none of these
            continue
        if field == "metrics.data.classes" and command[0] == "train":
            assert result.returncode == 0, result.stderr  # a resumed run records its data again
            continue
        one_line(result, 2, field, "bad.npz")


def _with_member(path, target, name, array_header_shape, data=b""):
    """Copy ``path`` to ``target`` with member ``name`` replaced by a header declaring another shape."""
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    import io

    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False,
                                                  "shape": array_header_shape})
    members[name] = header.getvalue() + data
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as z:
        for n, d in members.items():
            z.writestr(n, d)
    return target


def test_a_header_declaring_10_to_the_12_elements_is_refused_before_reading(tmp_path, reference):
    name = next(n for n in zipfile.ZipFile(reference / "last.npz").namelist() if n.startswith("model/"))
    bad = _with_member(reference / "last.npz", tmp_path / "huge.npz", name, (10 ** 12,), b"\0" * 64)
    one_line(cli("eval", bad), 2, "declares", "corrupt")
    one_line(cli("train", "lenet", "--resume", bad, "--out", tmp_path / "o"), 2, "declares")


def test_a_genuine_deflate_bomb_is_checked_against_the_model_without_reading_it(tmp_path, reference, monkeypatch):
    from minigrad.checkpoint import _Archive

    name = "model/" + next(iter(weights(reference / "last.npz")))
    shape = (4096, 4096)  # 64 MB of zeros, deflated to a few tens of kB
    bad = _with_member(reference / "last.npz", tmp_path / "bomb.npz", name + ".npy", shape,
                       bytes(4 * shape[0] * shape[1]))
    assert bad.stat().st_size < 2_000_000
    one_line(cli("eval", bad), 2, "checkpoint shape (4096, 4096) != model shape")
    read = []
    real = _Archive.read
    monkeypatch.setattr(_Archive, "read", lambda self, key: read.append(key) or real(self, key))
    from minigrad.checkpoint import CheckpointError
    from minigrad.predict import load_for_inference

    with pytest.raises(CheckpointError, match="4096"):
        load_for_inference(load_checkpoint(bad))
    assert read == ["__minigrad__"]  # the metadata only: no array data was read


def _png_declaring(path, width, height):
    """A PNG file whose header declares ``width`` x ``height`` pixels (its data is a stub)."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b""))
    return path


def test_decompression_bombs_are_one_line_naming_the_file(tmp_path, reference):
    bomb = _png_declaring(tmp_path / "bomb.png", 20_000, 20_000)
    one_line(cli("predict", reference / "last.npz", bomb), 2, "bomb.png", "pixels")
    data = tmp_path / "folder"
    for split in ("train", "test"):
        (data / split / "a").mkdir(parents=True)
        _png_declaring(data / split / "a" / "x.png", 20_000, 20_000)
    one_line(cli("train", "lenet", "--dataset", "folder", "--data-dir", data, "--out", tmp_path / "o", "-q"), 2,
             "x.png", "pixels")


def test_unet_predict_refuses_bombs_and_tiles_large_images(tmp_path):
    from PIL import Image

    from minigrad.checkpoint import save_checkpoint
    from minigrad.models import get_model

    kwargs = {"depth": 2, "base_channels": 4}
    data = {"name": "synth-shapes", "classes": ["background", "shape"], "mean": [0.5], "std": [0.25],
            "src_size": [1, 32, 32], "input_size": [1, 32, 32], "task": "segmentation"}
    ckpt = save_checkpoint(tmp_path / "unet.npz", get_model("unet", num_classes=2, in_channels=1, **kwargs),
                           config={"model_kwargs": kwargs}, metrics={"data": data}, model_name="unet")
    bomb = _png_declaring(tmp_path / "bomb.png", 20_000, 20_000)
    one_line(cli("predict", ckpt, bomb), 2, "bomb.png", "pixels")
    big = tmp_path / "big.png"
    Image.fromarray((np.random.default_rng(0).random((300, 520)) * 255).astype(np.uint8)).save(big)
    result = cli("predict", ckpt, big, "--json")
    assert result.returncode == 0, result.stderr
    assert np.asarray(Image.open(json.loads(result.stdout)[0]["mask"])).shape == (300, 520)


def test_idx_files_with_0x0_images_are_refused(tmp_path):
    data = tmp_path / "mnist"
    data.mkdir()
    header = lambda magic, *dims: np.array([magic, *dims], ">u4").tobytes()  # noqa: E731
    for prefix in ("train", "t10k"):
        (data / f"{prefix}-images-idx3-ubyte").write_bytes(header(2051, 4, 0, 0))
        (data / f"{prefix}-labels-idx1-ubyte").write_bytes(header(2049, 4) + bytes(4))
    one_line(cli("train", "lenet", "--dataset", "mnist", "--data-dir", data, "--out", tmp_path / "o", "-q"), 2,
             "0x0")
