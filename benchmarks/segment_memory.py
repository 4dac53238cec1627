"""Peak memory of U-Net segmentation: ``minigrad.predict.segment`` in tiles vs one whole-image pass.

Each measurement runs in a fresh process (peak RSS is per process): the default U-Net
(64 base channels, depth 4, 1 input channel, 2 classes) in eval mode, on a random SIZE x SIZE
image.

Usage::

    python benchmarks/segment_memory.py [SIZE ...]       # default: 512

Prints, per size, the peak resident set size and the seconds of the tiled pass (the default
192-px tiles with 32 px of context, what ``minigrad predict`` does) and of one pass over the
whole image.
"""

from __future__ import annotations

import subprocess
import sys

_CHILD = r"""
import resource, sys, time
import numpy as np, minigrad as mg
from minigrad.models import get_model
from minigrad.predict import segment
size, whole = int(sys.argv[1]), sys.argv[2] == "whole"
mg.manual_seed(0)
model = get_model("unet", num_classes=2, in_channels=1)
model.eval()
x = np.random.default_rng(0).standard_normal((1, size, size)).astype(np.float32)
t = time.perf_counter()
segment(model, x, tile=size) if whole else segment(model, x)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, time.perf_counter() - t)
"""


def main(sizes) -> None:
    for size in sizes:
        for how in ("tiles", "whole"):
            out = subprocess.run([sys.executable, "-c", _CHILD, str(size), how], capture_output=True, text=True,
                                 check=True).stdout.split()
            print(f"{size}x{size} {how:5s}: peak RSS {float(out[0]):.2f} GB, {float(out[1]):.1f} s")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [512])
