"""MPI costs of data-parallel training: allreduce bandwidth, gradient-averaging overhead, scaling model.

Run under MPI (rank 0 prints; every figure is the slowest rank's)::

    mpiexec -n 2 python benchmarks/distributed.py [--json docs/distributed.json] [--repeats 5]

1. ``MPI_Allreduce`` (in place, float32) of 1-100 MB: time, algorithm bandwidth (bytes / time)
   and bus bandwidth (``2 (W-1)/W`` bytes / time, what each link carries in a ring allreduce),
   plus the latency of an 8-byte allreduce.
2. ``GradientBuckets.average()`` for LeNet-5 and ResNet-18 (small-input, 32x32) gradients, with
   several bucket sizes, against one training step of the same model on this rank's local
   batch (all ranks computing at once, as in a real run).
3. On paper, from the step time measured here: the ring-allreduce cost model
   ``T(W) = 2 (W-1) (k alpha) + 2 (W-1)/W * S / B`` (k buckets of S bytes in all, link bandwidth B,
   per-message latency alpha) and the speed-up ``W t / (t + T(W))`` of W processes that each keep
   the local batch (no overlap of communication with backward: minigrad has no gradient hooks).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import minigrad as mg  # noqa: E402
import minigrad.distributed as dist  # noqa: E402
import minigrad.functional as F  # noqa: E402
from common import print_table, write_json  # noqa: E402
from minigrad.models import get_model  # noqa: E402

SIZES_MB = (1, 4, 16, 64, 100)
BUCKETS_MB = (0.25, 1, 4, 25, 100)
MODELS = (("lenet5", (1, 28, 28), 32), ("resnet18", (3, 32, 32), 8))  # name, input, local batch
LINKS = (("10 Gbit/s Ethernet", 10e9 / 8, 50e-6), ("100 Gbit/s InfiniBand", 100e9 / 8, 5e-6))  # B, alpha
WORLDS = (2, 8, 64)


def slowest(fn, repeats: int, warmup: int = 1) -> float:
    """Median over ``repeats`` of the slowest rank's time of ``fn()`` (ranks start together)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        dist.barrier()
        start = time.perf_counter()
        fn()
        elapsed = time.perf_counter() - start
        times.append(float(dist.allgather(np.array(elapsed)).max()))
    return statistics.median(times)


def allreduce_rows(repeats):
    comm = dist.init()
    from mpi4py import MPI

    world = dist.world_size()
    tiny = np.zeros(2, np.float32)
    latency = slowest(lambda: comm.Allreduce(MPI.IN_PLACE, tiny), repeats=200, warmup=20)
    rows = []
    for mb in SIZES_MB:
        buf = np.ones(int(mb * 1e6 / 4), np.float32)
        seconds = slowest(lambda: comm.Allreduce(MPI.IN_PLACE, buf), repeats)
        rows.append({"MB": mb, "ms": seconds * 1e3, "algbw": mb * 1e6 / seconds / 1e9,
                     "busbw": 2 * (world - 1) / world * mb * 1e6 / seconds / 1e9})
    return latency, rows


def model_rows(repeats):
    rows = []
    for name, size, batch in MODELS:
        mg.manual_seed(0)
        kwargs = {"small_input": True} if name != "lenet5" else {}
        model = get_model(name, num_classes=10, in_channels=size[0], **kwargs)
        params = list(model.parameters())
        nbytes = sum(p.size * p.dtype.itemsize for p in params)
        opt = mg.optim.SGD(params, lr=0.01, momentum=0.9)
        rng = np.random.default_rng(dist.rank())
        x = mg.Tensor(rng.standard_normal((batch,) + size, dtype=np.float32))
        y = mg.Tensor(rng.integers(0, 10, batch))

        def step():
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()

        step_s = slowest(step, repeats=max(3, repeats // 2))
        for p in params:
            p.grad = mg.Tensor(rng.standard_normal(p.shape, dtype=np.float32))
        for cap in BUCKETS_MB:
            buckets = dist.GradientBuckets(params, cap)
            seconds = slowest(buckets.average, repeats)
            rows.append({"model": name, "MB": nbytes / 1e6, "bucket_MB": cap, "buckets": len(buckets.buckets),
                         "avg_ms": seconds * 1e3, "step_ms": step_s * 1e3, "overhead": seconds / step_s * 100})
    return rows


def projection(step_s, nbytes, buckets):
    rows = []
    for link, bandwidth, alpha in LINKS:
        for world in WORLDS:
            comm_s = 2 * (world - 1) * buckets * alpha + 2 * (world - 1) / world * nbytes / bandwidth
            rows.append({"link": link, "W": world, "comm_ms": comm_s * 1e3,
                         "speedup": world * step_s / (step_s + comm_s),
                         "eff": step_s / (step_s + comm_s) * 100})
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", default=None)
    parser.add_argument("--fast-step-ms", type=float, default=50.0,
                        help="a second projection for a faster (e.g. GPU) step of this many ms (an assumption)")
    args = parser.parse_args()
    dist.init()
    world = dist.world_size()
    if world < 2:
        sys.exit("run it under MPI: mpiexec -n 2 python benchmarks/distributed.py")
    if not os.environ.get("MINIGRAD_NUM_THREADS"):
        mg.set_num_threads(max(1, (os.cpu_count() or 1) // dist.local_size()))
    latency, reduce_rows = allreduce_rows(args.repeats)
    avg_rows = model_rows(args.repeats)
    if not dist.is_main():
        return
    print(f"{world} processes, {mg.get_num_threads()} thread(s) each, load average "
          f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(f"\nMPI_Allreduce latency (8 bytes): {latency * 1e6:.1f} us\n")
    print_table(reduce_rows, [("MB", "MB", "{:g}"), ("ms", "ms", "{:.2f}"), ("algbw", "algbw GB/s", "{:.2f}"),
                              ("busbw", "busbw GB/s", "{:.2f}")])
    print("\nGradient averaging (GradientBuckets.average) per step, against one training step on the local batch\n")
    print_table(avg_rows, [("model", "model", "{}"), ("MB", "grad MB", "{:.1f}"), ("bucket_MB", "bucket MB", "{:g}"),
                           ("buckets", "buckets", "{}"), ("avg_ms", "average ms", "{:.2f}"),
                           ("step_ms", "step ms", "{:.1f}"), ("overhead", "% of step", "{:.1f}")])
    resnet = [r for r in avg_rows if r["model"] == "resnet18" and r["bucket_MB"] == dist.DEFAULT_BUCKET_MB][0]
    proj = {}
    for label, step_s in (("measured", resnet["step_ms"] / 1e3), ("assumed", args.fast_step_ms / 1e3)):
        proj[label] = projection(step_s, resnet["MB"] * 1e6, resnet["buckets"])
        what = "as measured above" if label == "measured" else "ASSUMED (a GPU-class step, not measured here)"
        print(f"\nOn paper (ring allreduce model): ResNet-18, {resnet['MB']:.1f} MB of gradients in "
              f"{resnet['buckets']} buckets, step {step_s * 1e3:.0f} ms per rank {what}, local batch kept\n")
        print_table(proj[label], [("link", "link", "{}"), ("W", "processes", "{}"),
                                  ("comm_ms", "allreduce ms", "{:.1f}"), ("speedup", "speed-up", "{:.1f}"),
                                  ("eff", "efficiency %", "{:.0f}")])
    if args.json:
        write_json(args.json, {"world": world, "latency_s": latency, "allreduce": reduce_rows, "averaging": avg_rows,
                               "projection": proj})


if __name__ == "__main__":
    with dist.abort_on_exception():  # one rank's failure must not leave the other in a collective
        main()
