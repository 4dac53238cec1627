"""What ``minigrad bench`` shows: its result, the table, its JSON and chart, and the progress while it runs."""

from __future__ import annotations

import dataclasses
import json
import os
import time
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .bench_kernels import BenchRow

COLUMNS = ("reference", "cpu", "cuda", "torch")


@dataclasses.dataclass
class BenchResult:
    """What ``minigrad.bench.run_bench`` returns: the measured rows and where they were measured.

    Attributes:
        rows: one ``BenchRow`` per planned row.
        devices: the backends timed ("cpu", "cuda").
        gpu: the GPU's description, or None.
        notes: remarks collected while running (a backend lacking an op, a skipped row).
        environment: Python, NumPy and Numba versions, the machine and the GPU (the JSON's ``environment``).
        settings: the plan's options (repeats, budget, ...).
    """

    rows: list
    devices: tuple
    gpu: str | None
    notes: list
    environment: dict
    settings: dict = dataclasses.field(default_factory=dict)


def _ms(t):
    return "-" if not t else f"{t * 1e3:.3f}"


def _ratio(a, b):
    return "-" if not a or not b else f"{a / b:.1f}x"


def table_rows(result: BenchResult) -> list[dict]:
    """The table as dicts of formatted strings (what ``print_table`` shows)."""
    out = []
    for r in result.rows:
        dev, t = r.best()
        out.append({
            "kernel": r.name,
            "reference ms": _ms(r.times.get("reference")),
            "cpu ms": _ms(r.times.get("cpu")),
            "cuda ms": _ms(r.times.get("cuda")),
            "numba vs ref": _ratio(r.times.get("reference"), r.times.get("cpu")),
            "gpu speed-up": _ratio(r.times.get("cpu"), r.times.get("cuda")),
            "GFLOP/s": f"{r.flops / t / 1e9:.1f}" if r.flops and t else "-",
            "GB/s": f"{r.bytes / t / 1e9:.1f}" if r.bytes and not r.flops and t else "-",
            "torch ms": _ms(r.times.get("torch")),
        })
    return out


def table_console(stderr: bool = False):
    """A rich Console for the table: 160 columns when writing to a file or pipe (unless $COLUMNS says)."""
    from rich.console import Console

    console = Console(stderr=stderr)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(stderr=stderr, width=160)  # rich's 80 would crop the table in a log file
    return console


def print_table(result: BenchResult, console=None) -> None:
    """Print the one table (rich), preceded by the notes (e.g. "no GPU found: ...")."""
    from rich.table import Table

    console = console or table_console()
    for note in result.notes:
        console.print(note, markup=False, highlight=False)
    rows = table_rows(result)
    drop = {"cuda ms", "gpu speed-up"} if "cuda" not in result.devices else set()
    if not any(r.times.get("torch") for r in result.rows):
        drop.add("torch ms")
    title = "minigrad bench" + (f" - GPU: {result.gpu}" if result.gpu else " - CPU only")
    st = result.settings
    caption = (f"batch {st['batch_size']}; median of up to {st['repeats']} runs or {st['budget_s']:g} s per cell; "
               f"reference column: {st['reference']}") if st else None
    table = Table(title=title, caption=caption)
    columns = [c for c in (rows[0] if rows else {"kernel": ""}) if c not in drop]
    for c in columns:
        # The names wrap, the numbers don't; a floor on the names' width keeps them legible at 80 columns.
        table.add_column(c, justify="left" if c == "kernel" else "right", no_wrap=c != "kernel",
                         min_width=24 if c == "kernel" else None)
    for r in rows:
        table.add_row(*[r[c] for c in columns])
    console.print(table)


def json_text(result: BenchResult) -> str:
    """Rows (times in ms, timed runs per cell), settings, notes and the environment as JSON text."""
    data = {
        "environment": result.environment, "devices": list(result.devices), "gpu": result.gpu, "notes": result.notes,
        "settings": result.settings,
        "rows": [{"name": r.name, "flops": r.flops, "bytes": r.bytes,
                  "ms": {k: (v * 1e3 if v else None) for k, v in r.times.items()}, "runs": dict(r.runs)}
                 for r in result.rows],
    }
    return json.dumps(data, indent=2)


def write_json(result: BenchResult, path) -> None:
    """Write ``json_text(result)`` to ``path``."""
    with open(path, "w") as f:
        f.write(json_text(result) + "\n")


def write_chart(result: BenchResult, path, width: int = 900) -> None:
    """A horizontal bar chart (log-scale milliseconds), one bar per backend per row, with Pillow."""
    from PIL import Image, ImageDraw

    colors = {"reference": (150, 150, 150), "cpu": (52, 101, 164), "cuda": (78, 154, 6), "torch": (204, 0, 0)}
    cols = [c for c in COLUMNS if any(r.times.get(c) for r in result.rows)]
    bar, gap, label_w, top = 9, 8, 330, 40
    height = top + len(result.rows) * (len(cols) * bar + gap) + 20
    img = Image.new("RGB", (width, max(height, 80)), "white")
    draw = ImageDraw.Draw(img)
    values = [t for r in result.rows for c in cols if (t := r.times.get(c))]
    lo, hi = (np.log10(min(values) * 1e3), np.log10(max(values) * 1e3)) if values else (0.0, 1.0)
    span = max(hi - lo, 1e-9)
    x = label_w
    for c in cols:
        draw.rectangle([x, 10, x + 12, 22], fill=colors[c])
        draw.text((x + 16, 10), c, fill="black")
        x += 110
    draw.text((10, 10), "ms (log scale)", fill="black")
    y = top
    for r in result.rows:
        draw.text((5, y), r.name[:52], fill="black")
        for c in cols:
            t = r.times.get(c)
            if t:
                length = 20 + (width - label_w - 90) * (np.log10(t * 1e3) - lo) / span
                draw.rectangle([label_w, y, label_w + length, y + bar - 2], fill=colors[c])
                draw.text((label_w + length + 4, y - 2), f"{t * 1e3:.2f}", fill="black")
            y += bar
        y += gap
    img.save(path)


class BenchProgress:
    """Progress on stderr while the table is timed: a bar on a terminal, else one line per finished row.

    ``run_bench(..., progress=BenchProgress())`` calls ``begin``, then ``row_begin``/``row_end``
    around each row, then ``end``. Nothing goes to stdout, so the table and ``--json -`` stay clean.

    Args:
        console: a rich ``Console`` (default: one on stderr).
    """

    def __init__(self, console=None):
        from rich.console import Console

        self.err = console or Console(stderr=True, highlight=False, markup=False, soft_wrap=True)
        self.progress = None
        self.task = None
        self.total = 0
        self.start = 0.0

    def begin(self, total: int, header: str) -> None:
        self.total, self.start = total, time.perf_counter()
        self.err.print(header)
        if not self.err.is_terminal:
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(TextColumn("bench"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                 TextColumn("{task.fields[row]}"), console=self.err, transient=True)
        self.progress.start()
        self.task = self.progress.add_task("bench", total=total, row="")

    def row_begin(self, index: int, name: str) -> None:
        if self.progress is not None:
            self.progress.update(self.task, row=name)

    def row_end(self, index: int, row: BenchRow, seconds: float) -> None:
        if self.progress is not None:
            self.progress.update(self.task, completed=index + 1)
            return
        cells = "  ".join(f"{c} {row.times[c] * 1e3:.3f} ms" for c in COLUMNS if row.times.get(c))
        self.err.print(f"[{index + 1:>{len(str(self.total))}}/{self.total}] {row.name}: {cells or '-'} "
                       f"({seconds:.1f} s)")

    def end(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
        self.err.print(f"timed {self.total} rows in {time.perf_counter() - self.start:.1f} s")
