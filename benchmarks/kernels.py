"""Speed of the CPU CNN kernels: conv2d forward/backward on LeNet-5 and CIFAR ResNet-18 layers,
pooling and unpooling, against NumPy's own sgemm rate measured in the same run.

    python benchmarks/kernels.py                 # batch 64, full repeats
    python benchmarks/kernels.py --quick         # a smaller, faster pass
    python benchmarks/kernels.py --json out.json

Convolution FLOPs count multiply-adds as 2: forward 2*N*O*OH*OW*(C/groups)*KH*KW; backward
twice that (dX and dW). "of sgemm" is the conv's forward+backward GFLOP/s divided by NumPy's
sgemm rate measured right before that layer: on a shared machine the load changes during a
run, and a ratio is only meaningful between numbers taken under the same conditions.
"""

from __future__ import annotations

import argparse
import os
import sys

import minigrad as mg  # noqa: E402  before NumPy, as a user's script would (minigrad/_blas_env.py)
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import median_time, print_table, sgemm_gflops, write_json  # noqa: E402

# (name, C, H, O, kernel, stride, padding): square inputs of size H.
LENET5 = [
    ("lenet.c1 1->6 5x5", 1, 32, 6, 5, 1, 0),
    ("lenet.c3 6->16 5x5", 6, 14, 16, 5, 1, 0),
]
RESNET18_3x3 = [
    ("resnet.conv1 3->64", 3, 32, 64, 3, 1, 1),
    ("resnet.layer1 64->64", 64, 32, 64, 3, 1, 1),
    ("resnet.layer2 64->128 s2", 64, 32, 128, 3, 2, 1),
    ("resnet.layer2 128->128", 128, 16, 128, 3, 1, 1),
    ("resnet.layer3 128->256 s2", 128, 16, 256, 3, 2, 1),
    ("resnet.layer3 256->256", 256, 8, 256, 3, 1, 1),
    ("resnet.layer4 256->512 s2", 256, 8, 512, 3, 2, 1),
    ("resnet.layer4 512->512", 512, 4, 512, 3, 1, 1),
]
RESNET18_1x1 = [
    ("resnet.shortcut 64->128 1x1 s2", 64, 32, 128, 1, 2, 0),
    ("resnet.shortcut 128->256 1x1 s2", 128, 16, 256, 1, 2, 0),
    ("resnet.shortcut 256->512 1x1 s2", 256, 8, 512, 1, 2, 0),
]


def conv_flops(n, c, h, o, k, s, p):
    oh = (h + 2 * p - k) // s + 1
    return 2.0 * n * o * oh * oh * c * k * k


def bench_conv(name, n, c, h, o, k, s, p, repeats, sgemm_size):
    """Forward (recording the graph, as in training) and backward (dX, dW, db) of one layer.

    The input and the output gradient are stored as they arrive inside a network: channels-last
    when they have ``mg.config.channels_last_min`` channels or more (a previous conv's result, see
    ``minigrad/backends/cpu/memory_format.py``), NCHW otherwise (an image, or a small layer's result).
    """
    sgemm = sgemm_gflops(sgemm_size, repeats=3)
    rng = np.random.default_rng(0)
    data = rng.standard_normal((n, c, h, h), dtype=np.float32)
    if c >= mg.config.channels_last_min:
        data = np.ascontiguousarray(data.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    x = mg.Tensor(data, requires_grad=True)
    w = mg.Tensor(rng.standard_normal((o, c, k, k), dtype=np.float32) * 0.1, requires_grad=True)
    b = mg.Tensor(np.zeros(o, np.float32), requires_grad=True)
    fwd = median_time(lambda: mg.conv2d(x, w, b, s, p), repeats=repeats)
    state = {}

    def build():
        x.grad = w.grad = b.grad = None
        state["y"] = mg.conv2d(x, w, b, s, p)
        state["g"] = np.ones_like(state["y"].numpy())  # the result's memory format

    bwd = median_time(lambda: state["y"].backward(gradient=state["g"]), repeats=repeats, setup=build)
    flops = conv_flops(n, c, h, o, k, s, p)
    total_rate = 3 * flops / (fwd + bwd) / 1e9
    return {
        "layer": name, "shape": [n, c, h, h], "out_channels": o, "kernel": k, "stride": s, "padding": p,
        "fwd_ms": fwd * 1e3, "bwd_ms": bwd * 1e3, "fwd_gflops": flops / fwd / 1e9, "bwd_gflops": 2 * flops / bwd / 1e9,
        "total_ms": (fwd + bwd) * 1e3, "total_gflops": total_rate, "sgemm_gflops": sgemm, "of_sgemm": total_rate / sgemm,
        "gflop": 3 * flops / 1e9,
    }


def bench_pool(n, repeats):
    """Pooling and unpooling on ResNet/LeNet-sized maps. GFLOP/s counts one op per window element."""
    rng = np.random.default_rng(1)
    rows = []
    cases = [("max_pool2d 2x2", (n, 64, 32, 32), 2, 2, 0), ("max_pool2d 3x3 s2 p1", (n, 64, 32, 32), 3, 2, 1),
             ("max_pool2d lenet 2x2", (n, 6, 28, 28), 2, 2, 0), ("avg_pool2d 2x2", (n, 64, 32, 32), 2, 2, 0)]
    for name, shape, k, s, p in cases:
        x = mg.Tensor(rng.standard_normal(shape, dtype=np.float32), requires_grad=True)
        op = mg.avg_pool2d if name.startswith("avg") else mg.max_pool2d
        y = op(x, k, s, p)
        work = float(np.prod(y.shape)) * k * k
        fwd = median_time(lambda: op(x, k, s, p), repeats=repeats)
        state = {}

        def build():
            x.grad = None
            state["y"] = op(x, k, s, p)

        g = np.ones(y.shape, np.float32)
        bwd = median_time(lambda: state["y"].backward(gradient=g), repeats=repeats, setup=build)
        rows.append({"op": name, "shape": list(shape), "fwd_ms": fwd * 1e3, "bwd_ms": bwd * 1e3,
                     "fwd_gflops": work / fwd / 1e9, "bwd_gflops": work / bwd / 1e9})
    x = mg.Tensor(rng.standard_normal((n, 64, 32, 32), dtype=np.float32))
    pooled, idx = mg.max_pool2d(x, 2, return_indices=True)
    pooled = mg.Tensor(pooled.numpy(), requires_grad=True)
    fwd = median_time(lambda: mg.max_unpool2d(pooled, idx, 2), repeats=repeats)
    state = {}

    def build_unpool():
        pooled.grad = None
        state["y"] = mg.max_unpool2d(pooled, idx, 2)

    g = np.ones(x.shape, np.float32)
    bwd = median_time(lambda: state["y"].backward(gradient=g), repeats=repeats, setup=build_unpool)
    work = float(np.prod(pooled.shape))
    rows.append({"op": "max_unpool2d 2x2", "shape": list(pooled.shape), "fwd_ms": fwd * 1e3, "bwd_ms": bwd * 1e3,
                 "fwd_gflops": work / fwd / 1e9, "bwd_gflops": work / bwd / 1e9})
    return rows


def summarize(rows):
    """Totals over a network's layers; the sgemm rate is the time-weighted mean of the layers' own."""
    flops = sum(r["gflop"] for r in rows)
    seconds = sum(r["total_ms"] for r in rows) / 1e3
    sgemm = sum(r["sgemm_gflops"] * r["total_ms"] for r in rows) / (seconds * 1e3)
    return {"gflop": flops, "ms": seconds * 1e3, "gflops": flops / seconds, "sgemm_gflops": sgemm,
            "of_sgemm": flops / seconds / sgemm}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="batch 16, fewer repeats, smaller sgemm")
    parser.add_argument("--batch", type=int, default=None, help="batch size (default 64, 16 with --quick)")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per measurement (median)")
    parser.add_argument("--json", metavar="OUT", help="write the results as JSON to OUT")
    args = parser.parse_args(argv)
    n = args.batch or (16 if args.quick else 64)
    repeats = args.repeats or (3 if args.quick else 7)

    sgemm_size = 1024
    sgemm = sgemm_gflops(2048 if not args.quick else sgemm_size, repeats=repeats)
    print(f"numpy sgemm: {sgemm:.1f} GFLOP/s at the start   batch {n}, median of {repeats}\n")

    columns = [("layer", "conv2d layer", "{}"), ("fwd_ms", "fwd ms", "{:.2f}"), ("bwd_ms", "bwd ms", "{:.2f}"),
               ("fwd_gflops", "fwd GF/s", "{:.1f}"), ("bwd_gflops", "bwd GF/s", "{:.1f}"),
               ("total_gflops", "f+b GF/s", "{:.1f}"), ("sgemm_gflops", "sgemm GF/s", "{:.1f}"),
               ("of_sgemm", "of sgemm", "{:.0%}")]
    results = {"batch": n, "repeats": repeats, "sgemm_gflops": sgemm, "save_columns": {}}
    for save in (True, False):
        with mg.config.using(save_columns=save):
            label = "save columns" if save else "recompute columns"
            groups = {}
            for group, layers in (("lenet5", LENET5), ("resnet18_3x3", RESNET18_3x3), ("resnet18_1x1", RESNET18_1x1)):
                if not save and group != "resnet18_3x3":
                    continue
                groups[group] = [bench_conv(name, n, *spec, repeats, sgemm_size) for name, *spec in layers]
            print(f"conv2d, {label} for the backward")
            print_table([r for rows in groups.values() for r in rows], columns)
            summary = {g: summarize(rows) for g, rows in groups.items()}
            for g, tot in summary.items():
                print(f"  {g}: fwd+bwd {tot['ms']:.1f} ms, {tot['gflops']:.1f} GFLOP/s = {tot['of_sgemm']:.0%} "
                      f"of sgemm ({tot['sgemm_gflops']:.1f} GFLOP/s)")
            print()
            results["save_columns"][label] = {"layers": groups, "summary": summary}

    pool_rows = bench_pool(n, repeats)
    print("pooling / unpooling")
    print_table(pool_rows, [("op", "op", "{}"), ("fwd_ms", "fwd ms", "{:.2f}"), ("bwd_ms", "bwd ms", "{:.2f}"),
                            ("fwd_gflops", "fwd Gop/s", "{:.2f}"), ("bwd_gflops", "bwd Gop/s", "{:.2f}")])
    results["pooling"] = pool_rows
    if args.json:
        write_json(args.json, results)
        print(f"\nwrote {args.json}")
    return results


if __name__ == "__main__":
    main()
