"""Python overhead of one op on the autograd path: a chain of tiny additions, forward and backward.

Each op adds two 4-element float32 tensors, so NumPy's own work (~1 us) is negligible and
the time is minigrad's: argument checks, ``Function.apply``, the ``Context``, the output
``Tensor``, and in the backward the topological walk and gradient accumulation.

Usage::

    python benchmarks/op_overhead.py [--ops 1000] [--repeats 15] [--json out.json]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import minigrad as mg  # noqa: E402  before NumPy, as a user's script would (minigrad/_blas_env.py)
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import write_json  # noqa: E402


def measure(ops: int, repeats: int) -> dict:
    """Median microseconds per op: forward with a graph, backward, and forward under no_grad."""
    x = mg.Tensor(np.ones(4, np.float32), requires_grad=True)

    def chain():
        y = x
        for _ in range(ops):
            y = y + x
        return y

    for _ in range(3):
        chain().sum().backward()
    forward, backward, no_grad = [], [], []
    for _ in range(repeats):
        start = time.perf_counter()
        loss = chain().sum()
        middle = time.perf_counter()
        loss.backward()
        end = time.perf_counter()
        forward.append(middle - start)
        backward.append(end - middle)
        with mg.no_grad():
            start = time.perf_counter()
            chain()
            no_grad.append(time.perf_counter() - start)
    per_op = lambda ts: 1e6 * statistics.median(ts) / ops  # noqa: E731
    return {"ops": ops, "forward_us": per_op(forward), "backward_us": per_op(backward), "no_grad_us": per_op(no_grad)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--json", default=None, help="also write the result here")
    args = parser.parse_args()
    result = measure(args.ops, args.repeats)
    print(f"forward {result['forward_us']:.2f} us/op, backward {result['backward_us']:.2f} us/op, "
          f"no_grad forward {result['no_grad_us']:.2f} us/op")
    if args.json:
        write_json(args.json, {"benchmark": "op_overhead", **result})


if __name__ == "__main__":
    main()
