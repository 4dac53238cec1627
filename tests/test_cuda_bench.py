"""``minigrad bench``: the table, JSON and chart, on the CPU and (simulated or real) GPU.

Nothing here checks a speed: tests never time anything. They check that the rows the
command promises are there, that JSON and PNG are written, and that a missing GPU is
one line, not an error.
"""

from __future__ import annotations

import json

import typer
from PIL import Image
from test_cuda_setup import IN_PROCESS, needs_cuda
from typer.testing import CliRunner

from minigrad.bench import run_bench, table_rows
from minigrad.cli.bench import register


def _app():
    app = typer.Typer()
    register(app)

    @app.command()
    def other():  # a second command, so typer keeps "bench" as a subcommand name
        pass

    return app


def run(*args):
    return CliRunner().invoke(_app(), ["bench", *map(str, args)], env={"COLUMNS": "200"})


def test_bench_cpu_writes_table_json_and_chart(tmp_path):
    out, png = tmp_path / "b.json", tmp_path / "b.png"
    result = run("--only", "lenet5", "--batch-size", 1, "--repeats", 1, "--no-torch", "--json", out, "--chart", png)
    assert result.exit_code == 0, result.output
    assert "conv2d fwd lenet5.c1" in result.output and "train step lenet5" in result.output
    data = json.loads(out.read_text())
    names = [r["name"] for r in data["rows"]]
    assert names[:4] == ["conv2d fwd lenet5.c1 1->6 5x5", "conv2d bwd lenet5.c1 1->6 5x5",
                         "conv2d fwd lenet5.c3 6->16 5x5", "conv2d bwd lenet5.c3 6->16 5x5"]
    assert all(r["ms"]["cpu"] > 0 and r["ms"]["reference"] > 0 for r in data["rows"][:4])
    assert data["environment"]["numpy"]
    with Image.open(png) as img:
        assert img.size[0] == 900 and img.size[1] > 100


def test_bench_rejects_bad_arguments():
    assert run("--model", "nope").exit_code == 2
    bad = run("--device", "tpu", "--only", "gemm 256")
    assert bad.exit_code == 2 and "unknown device 'tpu'" in bad.output
    assert run("--only", "no such row", "--no-step", "--no-torch").exit_code == 2


def test_bench_without_a_gpu_says_so_in_one_line(monkeypatch):
    import minigrad.bench as lib

    monkeypatch.setattr(lib, "gpu_status", lambda: (False, "no NVIDIA driver (nvidia-smi not found)"))
    result = run("--device", "cpu", "--device", "cuda", "--only", "gemm 256", "--repeats", 1, "--no-torch",
                 "--no-step")
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if "no GPU found" in line]
    assert lines == ["no GPU found: no NVIDIA driver (nvidia-smi not found) (CPU columns only)"]
    assert "cuda ms" not in result.output


@needs_cuda
def test_bench_gpu_column_runs_the_cuda_kernels():
    result = run_bench(devices=("cpu", "cuda"), batch_size=1, repeats=1, torch=False, only="max_pool2d 2x2 fwd",
                       step=False)
    assert IN_PROCESS and result.devices == ("cpu", "cuda") and result.gpu
    (row,) = result.rows
    assert row.times["cpu"] > 0 and "cuda" in row.times
    assert table_rows(result)[0]["kernel"] == "max_pool2d 2x2 fwd (64x32x32)"
