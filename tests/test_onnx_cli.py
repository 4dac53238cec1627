"""``minigrad export`` and ``.onnx`` files in ``minigrad summary`` / ``minigrad viz``; bad input exits 2 with one line."""

import json

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import minigrad as mg  # noqa: E402
from minigrad.checkpoint import save_checkpoint  # noqa: E402
from minigrad.models import get_model  # noqa: E402

from test_cli import _assert_one_line_error, run  # noqa: E402


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    folder = tmp_path_factory.mktemp("onnx_cli")
    mg.manual_seed(0)
    model = get_model("lenet")
    path = save_checkpoint(folder / "lenet.npz", model, model_name="lenet")
    return path, model


def test_export_writes_a_file_onnxruntime_runs(checkpoint, tmp_path):
    path, model = checkpoint
    out = tmp_path / "lenet.onnx"
    result = run("export", path, out, "--opset", "13")
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.stdout
    proto = onnx.load(str(out))
    assert proto.opset_import[0].version == 13
    x = np.random.default_rng(0).standard_normal((4, 1, 28, 28)).astype(np.float32)
    got = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    with mg.no_grad():
        want = model.eval()(mg.Tensor(x)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())


def test_summary_and_viz_accept_an_onnx_file(checkpoint, tmp_path):
    out = tmp_path / "lenet.onnx"
    assert run("export", checkpoint[0], out).exit_code == 0
    result = run("summary", out, "--json")
    assert result.exit_code == 0, result.output
    table = json.loads(result.stdout)
    want = json.loads(run("summary", "lenet", "--json").stdout)
    assert table["total_params"] == want["total_params"] == 61706
    assert table["total_macs"] == want["total_macs"] and table["input_size"] == [1, 28, 28]
    png = tmp_path / "filters.png"
    result = run("viz", "filters", out, "--out", png)
    assert result.exit_code == 0, result.output
    assert png.stat().st_size > 0


def test_export_bad_input_exits_2_with_one_line(checkpoint, tmp_path):
    out = tmp_path / "x.onnx"
    _assert_one_line_error(run("export", checkpoint[0], out, "--opset", "9"), 2, "opset 9 is not supported")
    _assert_one_line_error(run("export", tmp_path / "absent.npz", out), 2, "absent.npz")
    assert not out.exists()


def test_summary_and_viz_reject_bad_onnx_files_with_one_line(checkpoint, tmp_path):
    good = tmp_path / "lenet.onnx"
    assert run("export", checkpoint[0], good).exit_code == 0
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"not an onnx file at all \x00\xff" * 10)
    _assert_one_line_error(run("summary", truncated), 2, "truncated.onnx")
    _assert_one_line_error(run("summary", corrupt), 2, "corrupt.onnx")
    _assert_one_line_error(run("viz", "filters", truncated, "--out", tmp_path / "f.png"), 2, "truncated.onnx")
    old = onnx.load(str(good))
    old.opset_import[0].version = 5
    onnx.save(old, str(tmp_path / "old.onnx"))
    _assert_one_line_error(run("summary", tmp_path / "old.onnx"), 2, "unsupported opset 5")
