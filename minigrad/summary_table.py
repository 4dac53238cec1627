"""The result of ``minigrad.summary``: one ``LayerSummary`` per layer call and the ``Summary``
with the totals, formatted as the table ``minigrad summary`` prints or as JSON.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

__all__ = ["LayerSummary", "Summary"]


@dataclass
class LayerSummary:
    """One row of the table: a call of a leaf module."""

    name: str
    type: str
    output_shape: tuple
    params: int
    macs: int
    memory: int
    receptive_field: dict
    depth: int


@dataclass
class Summary:
    """What ``summary`` returns: the rows and the totals; ``str()`` formats the table.

    Attributes:
        layers: one ``LayerSummary`` per leaf-module call, in execution order.
        total_params: all parameters of the model (including layers that did not run).
        trainable_params: those that require grad.
        total_macs: multiply-accumulates of one forward pass per image.
        total_memory: bytes of all recorded layer outputs at batch 1.
        param_memory: bytes of all parameters.
        depth: weight layers on the main path.
        input_size: the (C, H, W) that was summarised.
        model_name: the model's class name.
        unused_params: parameters of layers that did not run in eval mode (GoogLeNet's auxiliary heads).
    """

    layers: list
    total_params: int
    trainable_params: int
    total_macs: int
    total_memory: int
    param_memory: int
    depth: int
    input_size: tuple
    model_name: str = ""
    unused_params: int = 0

    def to_dict(self) -> dict:
        """A JSON-ready dict: ``{"layers": [...], "total_params", "total_macs", ...}``."""
        return {
            "model": self.model_name,
            "input_size": list(self.input_size),
            "layers": [
                {"name": r.name, "type": r.type, "output_shape": list(r.output_shape), "params": r.params,
                 "macs": r.macs, "memory": r.memory, "receptive_field": dict(r.receptive_field)}
                for r in self.layers
            ],
            "total_params": self.total_params,
            "trainable_params": self.trainable_params,
            "total_macs": self.total_macs,
            "total_memory": self.total_memory,
            "param_memory": self.param_memory,
            "depth": self.depth,
            "unused_params": self.unused_params,
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def layer(self, name: str) -> LayerSummary:
        """The (first) row of the layer called ``name``."""
        for row in self.layers:
            if row.name == name:
                return row
        raise KeyError(f"summary: no layer named {name!r}")

    def format(self) -> str:
        """The per-layer table with totals at the bottom."""
        header = ("Layer", "Type", "Output shape", "Params", "MACs", "Memory", "RF", "Jump", "Start")
        rows = [header]
        for r in self.layers:
            rf = r.receptive_field
            rows.append((r.name, r.type, "x".join(str(s) for s in r.output_shape), f"{r.params:,}",
                         _human(r.macs), _bytes(r.memory), _axes(rf["size"]), _axes(rf["jump"]), _axes(rf["start"])))
        widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
        right = {3, 4, 5, 6, 7, 8}

        def line(row):
            return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths)))

        rule = "-" * len(line(header))
        out = [f"{self.model_name} at input {'x'.join(str(s) for s in self.input_size)} (batch 1)", rule,
               line(header), rule] + [line(row) for row in rows[1:]] + [rule]
        out.append(f"Total params:        {self.total_params:,} (trainable {self.trainable_params:,})")
        if self.unused_params:
            out.append(f"  not run in eval:   {self.unused_params:,} (training-only layers, e.g. auxiliary heads)")
        out.append(f"Total MACs:          {self.total_macs:,} ({self.total_macs / 1e9:.3g} G)")
        out.append(f"Activation memory:   {_bytes(self.total_memory)} (layer outputs, batch 1)")
        out.append(f"Parameter memory:    {_bytes(self.param_memory)}")
        out.append(f"Depth:               {self.depth} weight layers on the main path")
        return "\n".join(out)

    __str__ = format


def _human(n) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f}{unit}"
    return str(int(n))


def _bytes(n) -> str:
    for unit, scale in (("GB", 2 ** 30), ("MB", 2 ** 20), ("KB", 2 ** 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{int(n)} B"


def _axes(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, (list, tuple)):
        return "x".join(_axes(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)
