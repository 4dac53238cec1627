"""``minigrad bench``'s default plan, its timers' repeat/budget rule, its progress and its JSON.

No speed is checked: the plan is checked by its rows (a bounded, listed set), the timers by
how many times they call a function, and the CLI by where its output goes.
"""

from __future__ import annotations

import json
import time

from test_cuda_bench import run  # the bench command in a CliRunner

from minigrad import bench as lib
from minigrad.bench_kernels import RESNET18, time_cpu

DEFAULT_ROWS = [
    *(f"conv2d {d} {layer}" for layer in ("lenet5.c1 1->6 5x5", "lenet5.c3 6->16 5x5", "resnet18.conv1 3->64",
                                          "resnet18.layer1 64->64", "resnet18.layer2 128->128",
                                          "resnet18.layer3 256->256", "resnet18.layer4 512->512")
      for d in ("fwd", "bwd")),
    "gemm 256x256x256", "gemm 1024x1024x1024",
    "max_pool2d 2x2 fwd (64x32x32)", "max_pool2d 2x2 bwd", "max_unpool2d 2x2", "upsample nearest 2x",
    "upsample bilinear 2x", "batch_norm fwd (train)", "batch_norm bwd",
    "train step lenet5 (batch 32, 28x28)",
]


def test_default_plan_is_the_listed_bounded_set():
    assert [job.name for job in lib.bench_plan()] == DEFAULT_ROWS
    assert lib.DEFAULT_REPEATS == 10 and lib.DEFAULT_BUDGET == 0.5
    listed = run("--list")
    assert listed.exit_code == 0 and listed.stdout.splitlines() == DEFAULT_ROWS


def test_full_and_only_choose_from_every_resnet18_shape():
    full = [job.name for job in lib.bench_plan(full=True)]
    resnet = [f"conv2d {d} {layer[0]}" for layer in RESNET18 for d in ("fwd", "bwd")]
    assert len(resnet) == 22 and all(name in full for name in resnet) and set(DEFAULT_ROWS) <= set(full)
    assert [job.name for job in lib.bench_plan(only="resnet18", step=False)] == resnet
    gpu = [job.name for job in lib.bench_plan(devices=("cpu", "cuda"), only="gemm")]
    assert gpu[-2:] == ["gemm 4096x4096x4096", "gemm 4096x4096x4096 (128x128 tiles, 8x8 per thread)"]


def test_reference_runs_by_default_only_on_rows_up_to_the_flop_limit():
    # 2 * N * O * OH * OW * C * K * K: 604e6 at batch 16, 151e6 at batch 4 for layer4's 512->512 3x3 on 4x4.
    layer = "conv2d fwd resnet18.layer4 512->512"
    big = lib.run_bench(batch_size=16, repeats=1, torch=False, only=layer, step=False).rows[0]
    small = lib.run_bench(batch_size=4, repeats=1, torch=False, only=layer, step=False).rows[0]
    assert big.flops == 2 * 16 * 512 * 16 * 512 * 9 > lib.REFERENCE_MAX_FLOPS >= small.flops
    assert "reference" not in big.times and big.times["cpu"] > 0
    assert small.times["reference"] > 0 and small.runs == {"reference": 1, "cpu": 1}
    none = lib.run_bench(batch_size=1, repeats=1, torch=False, only="lenet5.c1", step=False, reference=False)
    assert all("reference" not in row.times for row in none.rows)


def test_timer_stops_at_repeats_or_budget_and_warms_up_backends_only():
    calls = []
    _, runs = time_cpu(lambda: calls.append(1), repeats=3, budget=60.0)
    assert runs == 3 and len(calls) == 4  # one warm-up, three timed
    calls.clear()
    _, runs = time_cpu(lambda: calls.append(1), repeats=3, budget=60.0, warmup=False)
    assert runs == 3 and len(calls) == 3
    # Each run sleeps at least 50 ms, so a 0.2 s budget is spent after at most 4 of the 100 allowed.
    seconds, runs = time_cpu(lambda: time.sleep(0.05), repeats=100, budget=0.2)
    assert 1 <= runs <= 4 and seconds >= 0.05
    _, runs = time_cpu(lambda: time.sleep(0.05), repeats=5, budget=1e-9)
    assert runs == 1


def test_progress_goes_to_stderr_and_json_to_stdout_stays_parseable():
    result = run("--only", "lenet5.c1", "--batch-size", 1, "--repeats", 2, "--no-torch", "--no-step", "--json", "-")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)  # nothing but the JSON on stdout
    assert [r["name"] for r in data["rows"]] == ["conv2d fwd lenet5.c1 1->6 5x5", "conv2d bwd lenet5.c1 1->6 5x5"]
    assert data["settings"]["repeats"] == 2 and all(r["runs"]["cpu"] in (1, 2) for r in data["rows"])
    err = result.stderr
    assert "timing 2 rows on cpu" in err
    assert "[1/2] conv2d fwd lenet5.c1 1->6 5x5: reference " in err and "[2/2] conv2d bwd" in err
    assert "timed 2 rows in" in err and "minigrad bench - CPU only" in err  # the table, on stderr here


def test_table_on_stdout_progress_on_stderr_and_quiet(tmp_path):
    out = tmp_path / "b.json"
    result = run("--only", "gemm 256", "--repeats", 1, "--no-torch", "--no-step", "--json", out)
    assert result.exit_code == 0, result.output
    assert "gemm 256x256x256" in result.stdout and "[1/1]" not in result.stdout and "[1/1] gemm" in result.stderr
    assert json.loads(out.read_text())["rows"][0]["name"] == "gemm 256x256x256"
    quiet = run("--only", "gemm 256", "--repeats", 1, "--no-torch", "--no-step", "--quiet")
    assert quiet.exit_code == 0 and quiet.stderr == "" and "gemm 256x256x256" in quiet.stdout


def test_bad_budget_and_list_without_match_are_one_line_errors():
    bad = run("--budget", 0, "--only", "gemm 256")
    assert bad.exit_code == 2 and "budget must be > 0" in bad.stderr and "Traceback" not in bad.output
    none = run("--list", "--only", "no such row")
    assert none.exit_code == 2 and "no benchmark row matches" in none.stderr
