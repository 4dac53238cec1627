"""``minigrad.distributed``: sampler, buckets, SyncBatchNorm, and 2-process runs under ``mpiexec``.

The 2-process cases launch ``mpiexec -n 2`` (the mpich wheel's, in the venv's bin/) in a
subprocess with a timeout, so a hang fails the test instead of stalling CI. Their references
are one-process runs computed here, in the test's own process.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import minigrad as mg
import minigrad.distributed as dist
from minigrad.data import ArrayDataset, DataLoader

HERE = Path(__file__).parent
TIMEOUT = 240  # seconds for one mpiexec job (2 ranks on 2 shared cores, Numba cache warm or not)


def _mpiexec():
    pytest.importorskip("mpi4py")
    exe = Path(sys.executable).parent / "mpiexec"
    found = str(exe) if exe.exists() else shutil.which("mpiexec")
    if found is None:
        pytest.skip("no mpiexec (pip install mpich)")
    return found


def _env():
    env = dict(os.environ, MINIGRAD_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    env.pop("NUMBA_ENABLE_CUDASIM", None)
    return env


def _run(args, timeout=TIMEOUT, cwd=None):
    """Run ``args`` (an mpiexec command line); a hang becomes a test failure after ``timeout`` s."""
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=timeout, cwd=cwd, env=_env())
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"{' '.join(map(str, args))} did not finish in {timeout} s (hang?)\n{e.stdout}\n{e.stderr}")


# ------------------------------------------------------------------ sampler
@pytest.mark.parametrize("n, world, drop_last", [(10, 2, False), (11, 2, False), (11, 3, False), (11, 3, True),
                                                 (2, 4, False), (64, 4, False)])
def test_sampler_covers_every_index_once_per_epoch(n, world, drop_last):
    shares = [dist.DistributedSampler(n, num_replicas=world, rank=r, seed=3, drop_last=drop_last)
              for r in range(world)]
    for s in shares:
        s.set_epoch(1)
    lists = [list(s) for s in shares]
    assert len({len(x) for x in lists}) == 1  # equal shares: every rank runs as many steps
    assert all(len(x) == len(s) for x, s in zip(lists, shares))
    seen = np.concatenate(lists)
    if drop_last:
        assert len(seen) == (n // world) * world and len(set(seen.tolist())) == len(seen)
    else:
        assert set(seen.tolist()) == set(range(n))
        assert len(seen) == -(-n // world) * world
        # padding repeats indices only to fill the last round: at most world - 1 extra
        counts = np.bincount(seen, minlength=n)
        assert counts.min() >= 1 and counts.sum() - n == len(seen) - n


def test_sampler_orders_differ_per_epoch_and_agree_across_ranks():
    a0, a1 = (dist.DistributedSampler(100, num_replicas=2, rank=r, seed=7) for r in range(2))
    b0 = dist.DistributedSampler(100, num_replicas=2, rank=0, seed=7)  # "another process", same rank
    orders = []
    for epoch in range(3):
        for s in (a0, a1, b0):
            s.set_epoch(epoch)
        assert list(a0) == list(b0)
        assert not set(a0) & set(a1)
        orders.append(list(a0) + list(a1))
    assert orders[0] != orders[1] != orders[2]
    # The global order interleaved back is a permutation, the one a one-process loader uses.
    ref = DataLoader(list(range(100)), batch_size=1, shuffle=True, seed=7).order(2)
    merged = np.empty(100, np.int64)
    merged[0::2], merged[1::2] = list(a0), list(a1)
    assert merged.tolist() == ref.tolist()


def test_sampler_without_padding_counts_each_example_once():
    shares = [list(dist.DistributedSampler(11, num_replicas=3, rank=r, shuffle=False, pad=False)) for r in range(3)]
    assert shares == [[0, 3, 6, 9], [1, 4, 7, 10], [2, 5, 8]]


def test_sampler_matches_pytorch_without_shuffle():
    torch = pytest.importorskip("torch")
    from torch.utils.data import DistributedSampler as TorchSampler

    for n, world, drop_last in [(11, 3, False), (11, 3, True), (2, 4, False), (20, 4, False)]:
        for r in range(world):
            ours = list(dist.DistributedSampler(n, num_replicas=world, rank=r, shuffle=False, drop_last=drop_last))
            theirs = list(TorchSampler(list(range(n)), num_replicas=world, rank=r, shuffle=False,
                                       drop_last=drop_last))
            assert ours == theirs, (n, world, r, drop_last)
    assert torch is not None


def test_sampler_rejects_bad_arguments():
    with pytest.raises(ValueError, match="rank must be in"):
        dist.DistributedSampler(10, num_replicas=2, rank=2)
    with pytest.raises(ValueError, match="num_replicas"):
        dist.DistributedSampler(10, num_replicas=0, rank=0)
    with pytest.raises(ValueError, match="exclude each other"):
        DataLoader(list(range(4)), shuffle=True, sampler=dist.DistributedSampler(4, num_replicas=1, rank=0))


def test_loader_with_sampler_batches_the_share():
    ds = ArrayDataset(np.arange(10, dtype=np.float32).reshape(10, 1, 1, 1) / 10, np.arange(10), classes=list("ab"))
    sampler = dist.DistributedSampler(ds, num_replicas=2, rank=1, shuffle=False)
    loader = DataLoader(ds, batch_size=2, sampler=sampler, prefetch=0)
    assert len(loader) == 3
    assert [y.numpy().tolist() for _, y in loader] == [[1, 3], [5, 7], [9]]


# ------------------------------------------------------------ one process
def test_buckets_group_consecutive_parameters_up_to_the_cap():
    params = [mg.nn.Parameter(np.zeros(n, np.float32)) for n in (100, 100, 300, 50, 10)]
    buckets = dist.GradientBuckets(params, bucket_cap_mb=800e-6)  # 800 bytes = 200 floats
    assert buckets.buckets == [[0, 1], [2], [3, 4]]
    with pytest.raises(ValueError, match="bucket_cap_mb"):
        dist.GradientBuckets(params, bucket_cap_mb=0)


def test_distributed_optimizer_alone_is_the_optimizer():
    """With one process the wrapper steps exactly like the optimizer it wraps (and schedules work)."""
    w0 = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    results = []
    for wrap in (False, True):
        p = mg.nn.Parameter(w0.copy())
        opt = mg.optim.SGD([p], lr=0.1, momentum=0.9)
        opt = dist.DistributedOptimizer(opt) if wrap else opt
        sched = mg.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
        for _ in range(3):
            opt.zero_grad()
            (p * p).sum().backward()
            opt.step()
            sched.step()
        results.append((p.numpy().copy(), opt.state_dict()["param_groups"][0]["lr"]))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    assert results[0][1] == results[1][1] == 0.1 * 0.5 ** 3


def test_convert_sync_batchnorm_keeps_tensors_and_names():
    from minigrad.models import get_model

    model = get_model("resnet18", num_classes=10, small_input=True)
    before = model.state_dict()
    bn = model.bn1
    converted = dist.convert_sync_batchnorm(model)
    assert converted is model
    kinds = [type(m).__name__ for m in model.modules()]
    assert "SyncBatchNorm" in kinds and "BatchNorm2d" not in kinds
    assert model.bn1.weight is bn.weight and model.bn1.running_mean is bn.running_mean
    after = model.state_dict()
    assert list(after) == list(before)
    # one process: SyncBatchNorm is BatchNorm2d
    x = mg.Tensor(np.random.default_rng(1).standard_normal((4, 3, 8, 8)).astype(np.float32))
    ref = mg.nn.BatchNorm2d(3)
    sync = dist.convert_sync_batchnorm(mg.nn.BatchNorm2d(3))
    np.testing.assert_allclose(sync(x).numpy(), ref(x).numpy(), rtol=1e-6, atol=1e-6)


def test_distributed_context_needs_several_processes():
    pytest.importorskip("mpi4py")
    code = "import minigrad.distributed as d\ntry:\n    d.DistributedContext()\nexcept d.DistributedError as e:\n" \
           "    print(e)\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=_env())
    assert "needs several MPI processes" in out.stdout and "mpiexec -n N" in out.stdout


def test_cli_without_mpi_says_how_to_install_it(tmp_path):
    """``--distributed`` when mpi4py cannot be imported: one line, exit 2."""
    code = ("import sys; sys.modules['mpi4py'] = None\n"
            "from minigrad.cli.app import app\n"
            "app(['train', 'lenet', '--distributed', '--dataset', 'synth-digits', '--limit', '64', '--epochs', '1'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=_env(),
                         cwd=tmp_path)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: distributed: MPI is not available")
    assert 'pip install "minigrad[dist]"' in lines[0]
    assert not list(tmp_path.iterdir())


# ---------------------------------------------------------- two processes
@pytest.fixture(scope="module")
def two_rank_results(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist") / "ranks.npz"
    proc = _run([_mpiexec(), "-n", "2", sys.executable, str(HERE / "distributed_worker.py"), "train", str(out)])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with np.load(out) as f:
        return dict(f)


def _one_process(case):
    import distributed_worker as w
    from minigrad.models import lenet5

    mg.manual_seed(1000)
    if case == "lenet-adam":  # float64: see distributed_worker.lenet5_float64
        model, data, batch, steps = w.lenet5_float64(), w.lenet_data(), w.GLOBAL_BATCH, w.STEPS
    elif case.startswith("lenet"):
        model, data, batch, steps = lenet5(), w.lenet_data(), w.GLOBAL_BATCH, w.STEPS
    else:
        model, data, batch, steps = w.ResBlockNet(), w.res_data(), 16, 6
    params = model.parameters()
    opt = mg.optim.Adam(params, lr=1e-3) if case == "lenet-adam" else \
        mg.optim.SGD(params, lr=0.05 if case.startswith("lenet") else 0.1, momentum=0.9)
    loader = DataLoader(data, batch_size=batch, shuffle=True, seed=5, prefetch=0)
    w.train(model, opt, steps, loader)
    return model.state_dict()


@pytest.mark.parametrize("case", ["lenet-sgd", "lenet-adam"])
def test_two_ranks_train_the_one_process_model(two_rank_results, case):
    ref = _one_process(case)
    for name, value in ref.items():
        got = two_rank_results[f"{case}/{name}"]
        np.testing.assert_allclose(got, value, rtol=0, atol=1e-5, err_msg=f"{case}: {name}")
    # the runs moved the weights (a no-op training would also "agree")
    mg.manual_seed(1000)
    from minigrad.models import lenet5

    init = lenet5().state_dict()
    assert max(float(np.abs(ref[k] - init[k]).max()) for k in ref) > 1e-3


def test_sync_batchnorm_matches_one_process_batchnorm(two_rank_results):
    ref = _one_process("res")
    for name, value in ref.items():
        got = two_rank_results[f"res-sync/{name}"]
        np.testing.assert_allclose(got, value, rtol=0, atol=1e-5, err_msg=f"SyncBatchNorm run: {name}")


def test_local_batchnorm_does_not_match(two_rank_results):
    """The same run with per-rank BatchNorm differs: the SyncBatchNorm comparison can fail."""
    ref = _one_process("res")
    worst = max(float(np.abs(two_rank_results[f"res-local/{k}"] - v).max()) for k, v in ref.items()
                if v.dtype.kind == "f")
    assert worst > 1e-3


def test_two_ranks_on_cuda_match_one_cpu_process(tmp_path):
    """Device tensors through the broadcasts, the gradient buckets and SyncBatchNorm: on the GPU
    when there is one, else under Numba's CUDA simulator (tiny shapes)."""
    import distributed_worker as w

    out = tmp_path / "cuda.npz"
    env_sim = {} if shutil.which("nvidia-smi") else {"NUMBA_ENABLE_CUDASIM": "1"}
    args = [_mpiexec(), "-n", "2", sys.executable, str(HERE / "distributed_worker.py"), "cuda", str(out)]
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=TIMEOUT, env={**_env(), **env_sim})
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"mpiexec (cuda) did not finish in {TIMEOUT} s\n{e.stdout}\n{e.stderr}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ref = w.train_tiny("cpu", 1, 0, False)
    with np.load(out) as got:
        for name, value in ref.items():
            np.testing.assert_allclose(got[name], value, rtol=0, atol=1e-5, err_msg=name)


def test_broadcast_state_gives_every_rank_rank0s_optimizer(two_rank_results):
    # rank 0's two momentum steps on f = sum(p^2), computed by hand: g = 2p, buf = g, then 0.9 buf + g
    p = np.arange(6, dtype=np.float64).reshape(2, 3)
    buf = 2 * p
    p = p - 0.1 * buf
    buf = 0.9 * buf + 2 * p
    for r in (0, 1):
        np.testing.assert_allclose(two_rank_results[f"state/buffer{r}"], buf, rtol=1e-6)
        assert float(two_rank_results[f"state/lr{r}"]) == 0.05


def test_a_failing_rank_ends_the_job():
    proc = _run([_mpiexec(), "-n", "2", sys.executable, str(HERE / "distributed_worker.py"), "raise"], timeout=60)
    assert proc.returncode != 0
    assert "error: rank 1 of 2: RuntimeError: rank 1 failed on purpose" in proc.stderr


# ------------------------------------------------------------------- CLI
def _cli(*extra):
    exe = Path(sys.executable).parent / "minigrad"
    return [str(exe), "train", "lenet", "--distributed", "--dataset", "synth-digits", "--limit", "256",
            "--test-limit", "63", "--batch-size", "64", "--schedule", "none", "--prefetch", "1", "-q", *extra]


def _two_dirs(tmp_path, extra0, extra1=None):
    """mpiexec with rank 0 in tmp/A and rank 1 in tmp/B (relative paths then differ per rank)."""
    a, b = tmp_path / "A", tmp_path / "B"
    a.mkdir(exist_ok=True)
    b.mkdir(exist_ok=True)
    return [_mpiexec(), "-n", "1", "-wdir", str(a), *_cli(*extra0), ":",
            "-n", "1", "-wdir", str(b), *_cli(*(extra0 if extra1 is None else extra1))], a, b


def test_cli_rank0_alone_prints_and_writes_and_resume_continues_the_run(tmp_path):
    full, a, b = _two_dirs(tmp_path, ["--epochs", "2", "--out", "full"])
    proc = _run(full)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert "batch 64 = 2 processes x 32" in lines[0]
    assert sum(line.startswith("epoch") for line in lines) == 2  # one process prints
    assert sorted(p.name for p in (a / "full").iterdir()) == ["best.npz", "curves.png", "last.npz", "metrics.csv"]
    assert not list(b.iterdir())  # rank 1 wrote nothing (its relative --out would land in B)

    first, _, _ = _two_dirs(tmp_path, ["--epochs", "1", "--out", "part"])
    assert _run(first).returncode == 0
    # Only rank 0 can read part/last.npz (rank 1 runs in B): it sends the checkpoint to rank 1.
    resumed, _, _ = _two_dirs(tmp_path, ["--epochs", "2", "--resume", "part/last.npz"])
    proc = _run(resumed)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "resuming from part/last.npz at epoch 2" in proc.stdout
    assert not list(b.iterdir())
    from minigrad.checkpoint import load_checkpoint

    want, got = load_checkpoint(a / "full" / "last.npz"), load_checkpoint(a / "part" / "last.npz")
    assert got.step == want.step == 8
    for name, value in want.model_state.items():
        np.testing.assert_allclose(got.model_state[name], value, rtol=0, atol=1e-7, err_msg=name)
    assert got.metrics["history"][-1]["test_acc"] == want.metrics["history"][-1]["test_acc"]


    # The same command in one process trains the same model, and reports the same test accuracy
    # (63 test images: 32 + 31 on the ranks, each counted once).
    proc = _run([sys.executable, "-m", "minigrad.cli.app", *_cli("--epochs", "2", "--out", "one")[1:]], cwd=a)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    notes = [line for line in proc.stdout.splitlines() if "single process" in line]
    assert len(notes) == 1 and "mpiexec -n N" in notes[0]
    alone = load_checkpoint(a / "one" / "last.npz")
    for name, value in alone.model_state.items():
        np.testing.assert_allclose(want.model_state[name], value, rtol=0, atol=1e-5, err_msg=name)
    for key in ("test_acc", "train_acc"):
        assert want.metrics["history"][-1][key] == alone.metrics["history"][-1][key]
    assert want.metrics["history"][-1]["test_loss"] == pytest.approx(alone.metrics["history"][-1]["test_loss"], 1e-5)


def test_cli_error_on_one_rank_aborts_the_job(tmp_path):
    cmd, _, _ = _two_dirs(tmp_path, ["--epochs", "1", "--out", "x"], ["--epochs", "1", "--out", "x", "--optimizer", "bogus"])
    proc = _run(cmd, timeout=90)
    assert proc.returncode == 2
    assert "error: rank 1 of 2: train: unknown optimizer 'bogus'" in proc.stderr


def test_cli_error_on_every_rank_is_reported_once(tmp_path):
    cmd, _, _ = _two_dirs(tmp_path, ["--epochs", "1", "--batch-size", "63"])
    proc = _run(cmd, timeout=90)
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    # Normally rank 0 reports; on a loaded machine rank 1 may get there first ("rank 1 of 2: ...").
    assert len(errors) == 1, proc.stderr
    assert errors[0].endswith("train: --batch-size 63 is the global batch and must split evenly over the 2 "
                              "processes; use a multiple of 2"), errors
