"""In-place ops: PyTorch's refusals, values and gradients (``minigrad.ops.inplace``).

Expected gradients are written out by hand from the chain rule; where torch is installed the
same programs also run in PyTorch and must agree.
"""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg

try:
    import torch
except ImportError:  # the hand-written expectations still run
    torch = None

X = np.array([1.0, -2.0, 3.0])

# Each program takes (lib, x) where x is a leaf that requires grad, and returns a scalar loss.
PROGRAMS = {
    "clone_zero_": (lambda m, x: x.clone().zero_().sum(), np.zeros(3)),
    "clone_fill_": (lambda m, x: (x.clone().fill_(2.5) * x).sum(), np.full(3, 2.5)),
    "add_": (lambda m, x: (x * 2).add_(x, alpha=3).sum(), np.full(3, 5.0)),
    "sub_": (lambda m, x: (x * 1).sub_(x * x).sum(), 1 - 2 * X),
    "mul_": (lambda m, x: (x + 0).mul_(x).sum(), 2 * X),
    "div_": (lambda m, x: (x * 6).div_(2).sum(), np.full(3, 3.0)),
    "clamp_": (lambda m, x: (x * 1).clamp_(-1, 2).sum(), np.array([1.0, 0.0, 0.0])),
    "copy_": (lambda m, x: m.zeros(3, dtype=x.dtype).copy_(x * 4).sum(), np.full(3, 4.0)),
    "copy_over_graph": (lambda m, x: (x * 3).copy_(x * x).sum(), 2 * X),
    # y is used before and after the in-place op: the earlier use keeps the old values and graph.
    "used_before": (lambda m, x: (lambda y: (y + 1).sum() * 2 + y.mul_(2).sum())(x * 3), np.full(3, 12.0)),
    # Here PyTorch raises (y * y saved y); minigrad kept the old y, so the gradient is the chain rule's.
    "used_before_saved": (lambda m, x: (lambda y: (y * y).sum() + y.mul_(2).sum())(x * 3), 18 * X + 6),
    "iadd": (lambda m, x: (lambda y: (y.__iadd__(x), y)[1])(x * 2).sum(), np.full(3, 3.0)),
    "chain": (lambda m, x: (x + 1).mul_(2).add_(x).clamp_(max=100.0).sum(), np.full(3, 3.0)),
}


@pytest.mark.parametrize("name", list(PROGRAMS))
def test_inplace_gradients(name):
    program, expected = PROGRAMS[name]
    x = mg.Tensor(X.copy(), requires_grad=True)
    program(mg, x).backward()
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-12)
    if torch is not None:
        t = torch.tensor(X.copy(), requires_grad=True)
        if name == "used_before_saved":
            with pytest.raises(RuntimeError, match="modified by an inplace operation"):
                program(torch, t).backward()
            return
        program(torch, t).backward()
        np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-12)


def test_inplace_values_and_dtype_are_kept():
    x = mg.Tensor(np.arange(4.0, dtype=np.float32))
    assert x.add_(mg.Tensor(np.ones(4))) is x  # float64 operand: the result stays float32
    assert x.dtype == np.float32
    np.testing.assert_array_equal(x.numpy(), [1, 2, 3, 4])
    x.mul_(2).sub_(1, alpha=2).div_(2)
    np.testing.assert_array_equal(x.numpy(), [0, 1, 2, 3])
    x.clamp_(min=1).fill_(7)
    np.testing.assert_array_equal(x.numpy(), [7] * 4)
    x.copy_(mg.Tensor(np.array([5.0])))  # broadcast
    np.testing.assert_array_equal(x.numpy(), [5] * 4)
    i = mg.Tensor(np.arange(3))
    with pytest.raises(RuntimeError, match="can't be cast"):
        i.mul_(0.5)
    for recording in (True, False):
        with mg.enable_grad() if recording else mg.no_grad():
            with pytest.raises(ValueError, match=r"add_: the result of shape \(2, 4\) does not fit the tensor's shape \(4,\)"):
                x.add_(mg.ones(2, 4))


def test_leaf_that_requires_grad_is_refused_outside_no_grad():
    w = mg.Tensor(X.copy(), requires_grad=True)
    for op in (lambda: w.zero_(), lambda: w.add_(1), lambda: w.normal_(), lambda: w.copy_(mg.zeros(3)),
               lambda: w.__setitem__(0, 1.0)):
        with pytest.raises(RuntimeError, match="leaf tensor that requires grad .* in-place"):
            op()
    with mg.no_grad():
        w.mul_(2)
    np.testing.assert_array_equal(w.numpy(), 2 * X)
    assert w.requires_grad and w.is_leaf


def test_no_grad_writes_reach_views_and_stale_backward_raises():
    w = mg.Tensor(X.copy(), requires_grad=True)
    view = w.detach()
    loss = (w * w).sum()
    with mg.no_grad():
        w.zero_()
    np.testing.assert_array_equal(view.numpy(), np.zeros(3))
    with pytest.raises(RuntimeError, match="modified in place under no_grad"):
        loss.backward()
    # A graph built after the write is fine.
    (w + 1).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), np.ones(3))


def test_a_stale_backward_raises_also_once_the_overwritten_intermediate_is_gone():
    """The graph holds nodes, not tensors: the node remembers the write after the tensor died."""
    w = mg.Tensor(X.copy(), requires_grad=True)
    hidden = w * 2
    loss = (hidden * hidden).sum()  # Mul saved hidden's values
    with mg.no_grad():
        hidden.zero_()
    del hidden
    with pytest.raises(RuntimeError, match="modified in place under no_grad"):
        loss.backward()


def test_random_fills_follow_the_seed_and_moments():
    x = mg.zeros(20000, dtype=np.float64)
    mg.manual_seed(3)
    x.normal_(2.0, 0.5)
    first = x.numpy().copy()
    assert abs(first.mean() - 2.0) < 0.02 and abs(first.std() - 0.5) < 0.02
    mg.manual_seed(3)
    np.testing.assert_array_equal(x.normal_(2.0, 0.5).numpy(), first)
    x.uniform_(-1.0, 3.0)
    u = x.numpy()
    assert u.min() >= -1.0 and u.max() < 3.0 and abs(u.mean() - 1.0) < 0.05
    with pytest.raises(TypeError, match="normal_: expected a floating-point tensor"):
        mg.zeros(2, dtype=np.int64).normal_()
