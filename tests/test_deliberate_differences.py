"""Where minigrad deliberately refuses a PyTorch call form, the error says so and names what to do
instead, and README.md's table of differences lists it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import minigrad as mg

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")

REFUSALS = [
    ("antialias", lambda: mg.interpolate(mg.zeros(1, 1, 4, 4), size=2, mode="bilinear", antialias=True),
     r"antialias=True is not supported by minigrad; low-pass filter first"),
    ("trilinear", lambda: mg.interpolate(mg.zeros(1, 1, 2, 2, 2), scale_factor=2, mode="trilinear"),
     r"no volumetric \(5-D, trilinear\) modes: resize the depth slices with 4-D calls"),
    ("create_graph", lambda: (mg.Tensor([1.0], requires_grad=True) * 2).sum().backward(create_graph=True),
     r"create_graph=True is not supported; minigrad computes first-order gradients only"),
    ("inputs=", lambda: (mg.Tensor([1.0], requires_grad=True) * 2).sum().backward(inputs=[]),
     r"inputs= is not supported; every leaf that requires grad gets its gradient"),
]


@pytest.mark.parametrize("key, call, message", REFUSALS, ids=[r[0] for r in REFUSALS])
def test_refusal_says_so_and_names_the_alternative(key, call, message):
    with pytest.raises(ValueError, match=message):
        call()
    table = README[README.index("Where minigrad deliberately differs"):]
    table = table[:table.index("\n\n", table.index("| what |"))]
    assert key in table, f"README's table of differences does not list {key}"


def test_in_place_on_saved_tensor_keeps_the_used_values():
    # The README's example row: PyTorch raises at backward; minigrad differentiates what z used.
    x = mg.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = x * 1
    z = y * y
    y.mul_(2)
    z.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])
