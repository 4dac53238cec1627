"""Run by tests/test_distributed.py under ``mpiexec -n 2`` (not a test module itself).

``python distributed_worker.py train OUT.npz``: the data-parallel cases; rank 0 saves the
final parameters (and BatchNorm buffers) of each case to OUT.npz. The one-process references
are computed by the test itself, in its own process.

``python distributed_worker.py cuda OUT.npz``: a tiny conv + SyncBatchNorm net trained on the
GPU (or Numba's simulator), 3 steps; rank 0 saves its state.

``python distributed_worker.py raise``: rank 1 raises while rank 0 waits in a barrier.
"""

import sys

import numpy as np

import minigrad as mg
import minigrad.distributed as dist
from minigrad import functional as F
from minigrad import nn
from minigrad.data import ArrayDataset, DataLoader

STEPS, GLOBAL_BATCH = 20, 64


def lenet_data():
    rng = np.random.default_rng(123)
    n = STEPS * GLOBAL_BATCH // 2  # two epochs of 10 steps
    return ArrayDataset(rng.random((n, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, n), classes=list("0123456789"))


def lenet5_float64():
    """LeNet-5 in float64, for the Adam case.

    In float32, Adam turns the rounding difference between one batch of 64 and two averaged
    half-batches into diverging runs: its first step divides gradients of ~1e-9 (cancelling
    terms, below eps) by their own size, and a later max-pool tie that the 1-ulp difference
    breaks the other way sends a gradient to another pixel. How far they diverge in 20 steps
    depends on which OpenBLAS kernel the CPU gets (6e-5 with the Haswell kernel, 1e-5 with
    SkylakeX, under 1e-5 with Sandybridge). In float64 the gap stays at 3e-15.
    """
    from minigrad.models import lenet5

    return lenet5().to(dtype=np.float64)


class ResBlockNet(nn.Module):
    """BN on the raw input (NCHW path), conv-BN-ReLU-conv-BN plus identity (channels-last path), head."""

    def __init__(self):
        super().__init__()
        self.bn0 = nn.BatchNorm2d(3)
        self.conv0 = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.conv1 = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        h = self.conv0(self.bn0(x))
        out = F.relu(self.bn1(self.conv1(h)))
        out = F.relu(self.bn2(self.conv2(out)) + h)
        return self.fc(F.adaptive_avg_pool2d(out, 1).reshape(x.shape[0], -1))


def res_data():
    rng = np.random.default_rng(7)
    n = 64
    return ArrayDataset((rng.standard_normal((n, 3, 8, 8)) * 2 + 1).astype(np.float32), rng.integers(0, 10, n), classes=list("0123456789"))


def train(model, optimizer, steps, loader):
    dtype = next(iter(model.parameters())).dtype  # the loader collates float32; a float64 model gets float64
    done = 0
    while done < steps:
        for x, y in loader:
            x = x.to(dtype=dtype)
            optimizer.zero_grad()
            F.cross_entropy(model(x), y).backward()
            optimizer.step()
            done += 1
            if done == steps:
                break
    return model


def run_case(name, build, make_opt, dataset, sync_bn):
    mg.manual_seed(1000 + dist.rank())  # a different init on each rank: the broadcast must fix it
    model = build()
    if sync_bn:
        model = dist.convert_sync_batchnorm(model)
    dist.broadcast_parameters(model)
    opt = dist.DistributedOptimizer(make_opt(model), bucket_cap_mb=0.1)  # several buckets for LeNet
    local = GLOBAL_BATCH // dist.world_size() if "lenet" in name else 16 // dist.world_size()
    loader = DataLoader(dataset, batch_size=local, prefetch=0, sampler=dist.DistributedSampler(dataset, seed=5))
    train(model, opt, STEPS if "lenet" in name else 6, loader)
    return {f"{name}/{k}": np.asarray(v) for k, v in model.state_dict().items()}


def main_train(out):
    from minigrad.models import lenet5

    dist.init()
    results = {}
    results.update(run_case("lenet-sgd", lenet5, lambda m: mg.optim.SGD(m.parameters(), lr=0.05, momentum=0.9),
                            lenet_data(), False))
    results.update(run_case("lenet-adam", lenet5_float64, lambda m: mg.optim.Adam(m.parameters(), lr=1e-3),
                            lenet_data(), False))
    for sync in (True, False):
        results.update(run_case(f"res-{'sync' if sync else 'local'}", ResBlockNet,
                                lambda m: mg.optim.SGD(m.parameters(), lr=0.1, momentum=0.9), res_data(), sync))
    results.update(state_case())
    if dist.is_main():
        np.savez(out, **results)


def state_case():
    """broadcast_state: rank 0 has stepped (momentum buffers, lr changed); the others have not."""
    p = mg.nn.Parameter(np.arange(6, dtype=np.float32).reshape(2, 3))
    opt = mg.optim.SGD([p], lr=0.1, momentum=0.9)
    if dist.rank() == 0:
        for _ in range(2):
            opt.zero_grad()
            (p * p).sum().backward()
            opt.step()
        opt.param_groups[0]["lr"] = 0.05
    dist.broadcast_state(opt)
    mine = opt.state_dict()
    every = dist.gather_object((mine["state"][0]["momentum_buffer"], mine["param_groups"][0]["lr"]))
    if not dist.is_main():
        return {}
    return {**{f"state/buffer{r}": b for r, (b, _) in enumerate(every)},
            **{f"state/lr{r}": np.array(lr) for r, (_, lr) in enumerate(every)}}


class TinyBNNet(nn.Module):
    """Small enough for the CUDA simulator, which runs every GPU thread in Python."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3, padding=1)
        self.bn = nn.BatchNorm2d(2)
        self.fc = nn.Linear(2 * 4 * 4, 3)

    def forward(self, x):
        return self.fc(F.relu(self.bn(self.conv(x))).reshape(x.shape[0], -1))


def tiny_data():
    rng = np.random.default_rng(0)
    return rng.standard_normal((8, 1, 4, 4)).astype(np.float32), rng.integers(0, 3, 8)


def train_tiny(device, world, rank, sync_bn):
    """3 SGD steps on the 8 examples, rank ``rank`` of ``world`` taking examples rank::world."""
    x, y = tiny_data()
    mg.manual_seed(10 + rank)
    model = TinyBNNet()
    if sync_bn:
        model = dist.convert_sync_batchnorm(model)
    model.to(device)
    dist.broadcast_parameters(model)
    opt = mg.optim.SGD(list(model.parameters()), lr=0.1, momentum=0.9)
    opt = dist.DistributedOptimizer(opt) if world > 1 else opt
    for _ in range(3):
        dist.broadcast_buffers(model)
        opt.zero_grad()
        out = model(mg.Tensor(x[rank::world]).to(device))
        F.cross_entropy(out, mg.Tensor(y[rank::world]).to(device)).backward()
        opt.step()
    return {k: np.asarray(v) for k, v in model.state_dict().items()}


def main_cuda(out):
    dist.init()
    state = train_tiny("cuda", dist.world_size(), dist.rank(), True)
    if dist.is_main():
        np.savez(out, **state)


def main_raise():
    dist.init()
    with dist.abort_on_exception(grace=0.0):
        if dist.rank() == 1:
            raise RuntimeError("rank 1 failed on purpose")
        dist.barrier()  # rank 0 would wait here forever without the abort


if __name__ == "__main__":
    if sys.argv[1] == "train":
        main_train(sys.argv[2])
    elif sys.argv[1] == "cuda":
        main_cuda(sys.argv[2])
    else:
        main_raise()
