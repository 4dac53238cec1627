"""Time from typing ``minigrad train lenet --epochs 1 --limit 64`` to the first trained batch.

Most of that time is Numba compiling the kernels; ``cache=True`` stores the machine code so
later runs load it instead. Measured twice in fresh processes:

- cold: ``NUMBA_CACHE_DIR`` is an empty temporary folder, so every kernel is compiled;
- warm: the same command again, reusing that folder's cache.

Usage::

    python benchmarks/startup.py [--repeat 2] [--first-run] [extra train options...]

The child process is the real CLI (``minigrad.cli.app``) with one hook added: after the first
optimizer step it prints a marker line, which the parent times from the moment it started
the process.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

MARKER = "MINIGRAD-FIRST-BATCH"
COMMAND = ["train", "lenet", "--epochs", "1", "--limit", "64", "--test-limit", "64", "--quiet"]
# What a new user types first (without --limit: the whole dataset is loaded or rendered first).
FIRST_RUN = ["train", "lenet", "--epochs", "1", "--quiet"]


def child(argv) -> None:
    """Run the CLI, printing MARKER after the first batch, then stop (the rest is not measured)."""
    from minigrad.cli.app import app
    from minigrad.progress import ProgressBar

    def first_batch(self, *args, **kwargs):
        print(MARKER, flush=True)
        os._exit(0)

    ProgressBar.batch_end = first_batch
    app(argv)


def measure(cache_dir: str, out_dir: str, extra) -> float:
    """Seconds from process start to the marker line."""
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    cmd = [sys.executable, __file__, "--child", *COMMAND, "--out", out_dir, *extra]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.strip() == MARKER:
            elapsed = time.perf_counter() - start
            proc.wait()
            return elapsed
    proc.wait()
    raise RuntimeError("the child never reached its first batch:\n" + "".join(lines))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2, help="warm runs after the cold one")
    parser.add_argument("--first-run", action="store_true",
                        help="time the README's first command instead: minigrad train lenet --epochs 1 (full data)")
    args, extra = parser.parse_known_args()
    if args.first_run:
        COMMAND[:] = FIRST_RUN
    with tempfile.TemporaryDirectory() as tmp:
        cache = os.path.join(tmp, "numba-cache")
        os.mkdir(cache)
        cold = measure(cache, os.path.join(tmp, "cold"), extra)
        warm = [measure(cache, os.path.join(tmp, f"warm{i}"), extra) for i in range(args.repeat)]
    print(f"command: minigrad {' '.join(COMMAND + extra)}")
    print(f"cold Numba cache: {cold:.2f} s to the first batch")
    print(f"warm Numba cache: {min(warm):.2f} s to the first batch (best of {len(warm)}: "
          f"{', '.join(f'{w:.2f}' for w in warm)})")


if __name__ == "__main__":
    main()
