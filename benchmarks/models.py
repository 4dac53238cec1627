"""Images per second of one training step (forward, loss, backward, SGD update) of each small-input model.

Every model is built in its 28x28 / 32x32 variant (``small_input=True``; LeNet-5 as it is,
U-Net on 3x64x64 with 4 classes, like ``synth-shapes``) and trained on a fixed random batch; the step is
timed as the median of ``--repeats`` runs after one warm-up step (Numba compilation).
GoogLeNet's loss includes its two auxiliary heads (weight 0.3), as in training.

Usage::

    python benchmarks/models.py [--batch-size 16] [--repeats 3] [--models resnet18,vgg11] [--json out.json]
"""

from __future__ import annotations

import argparse
import inspect
import os
import sys

import minigrad as mg  # noqa: E402  before NumPy, as a user's script would (minigrad/_blas_env.py)
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import minigrad.functional as F  # noqa: E402
from common import median_time, print_table, sgemm_gflops, write_json  # noqa: E402
from minigrad.models import get_model, model_info  # noqa: E402

# (model, input (C, H, W)): the sizes each one trains on from the CLI.
MODELS = [
    ("lenet5", (1, 28, 28)),
    ("alexnet", (3, 32, 32)),
    ("vgg11_bn", (3, 32, 32)),
    ("vgg16_bn", (3, 32, 32)),
    ("googlenet", (3, 32, 32)),
    ("resnet18", (3, 32, 32)),
    ("resnet50", (3, 32, 32)),
    ("unet", (3, 64, 64)),
]


def build(name: str, size: tuple, num_classes: int = 10):
    """The small-input variant of ``name`` for images of ``size``."""
    accepted = inspect.signature(model_info(name)["fn"]).parameters
    kwargs = {"in_channels": size[0]}
    if "small_input" in accepted:
        kwargs["small_input"] = True
    kwargs["num_classes"] = 4 if model_info(name)["task"] == "segmentation" else num_classes
    return get_model(name, **kwargs)


def loss_of(output, target):
    if isinstance(output, tuple):
        logits, aux2, aux1 = output
        return F.cross_entropy(logits, target) + 0.3 * (F.cross_entropy(aux1, target) + F.cross_entropy(aux2, target))
    return F.cross_entropy(output, target)


def images_per_second(name: str, size: tuple, batch_size: int, repeats: int, device: str) -> dict:
    mg.manual_seed(0)
    model = build(name, size).to(device).train()
    rng = np.random.default_rng(0)
    x = mg.Tensor(rng.standard_normal((batch_size,) + size).astype(np.float32), device=device)
    segmentation = model_info(name)["task"] == "segmentation"
    y = mg.Tensor(rng.integers(0, 4 if segmentation else 10, size=(batch_size,) + (size[1:] if segmentation else ())),
                  device=device)
    optimizer = mg.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step():
        optimizer.zero_grad()
        loss = loss_of(model(x), y)
        loss.backward()
        optimizer.step()

    seconds = median_time(step, repeats=repeats, warmup=1)
    return {"model": name, "input": "x".join(map(str, size)), "batch": batch_size, "ms_per_step": 1e3 * seconds,
            "images_per_s": batch_size / seconds, "params": model.num_parameters()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--models", default=",".join(n for n, _ in MODELS), help="comma-separated names")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args()
    sizes = dict(MODELS)
    rows = []
    for name in args.models.split(","):
        if name not in sizes:
            parser.error(f"unknown model {name!r}; choose from {', '.join(sizes)}")
        rows.append(images_per_second(name, sizes[name], args.batch_size, args.repeats, args.device))
        print(f"{name}: {rows[-1]['images_per_s']:.1f} images/s", file=sys.stderr)
    print_table(rows, [("model", "model", "{}"), ("input", "input", "{}"), ("batch", "batch", "{}"),
                       ("params", "params", "{:,}"), ("ms_per_step", "ms/step", "{:.0f}"),
                       ("images_per_s", "images/s", "{:.1f}")])
    if args.json:
        write_json(args.json, {"benchmark": "models", "sgemm_gflops": sgemm_gflops(), "results": rows})


if __name__ == "__main__":
    main()
