"""Run one conformance case in minigrad and in PyTorch and compare (used by the conformance tests).

Forward: same shape, same dtype, same values (NaN where PyTorch has NaN, same infinities).
Backward: the same random output gradient into both, then the same input gradients
(PyTorch's ``None`` may be minigrad's ``None`` or zeros). Tolerances: float32 1e-4 relative,
float64 1e-10 relative (with a small absolute floor for values near 0).
"""

from __future__ import annotations

import numpy as np

import minigrad as mg
from conformance_cases import Draw

TOLERANCES = {np.dtype(np.float32): (1e-4, 1e-5), np.dtype(np.float64): (1e-10, 1e-12)}


def _first(out):
    return out[0] if isinstance(out, tuple) else out


def _close(name, what, ours, theirs, dtype):
    rtol, atol = TOLERANCES[np.dtype(dtype)]
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=atol, equal_nan=True,
                               err_msg=f"{name}: {what} differs from PyTorch's")


def check_case(c, dtype, device="cpu"):
    """Run case ``c`` with floating inputs of ``dtype`` on ``device`` and compare with PyTorch."""
    import torch

    arrays = c.make(Draw(dtype))
    ours, theirs = [], []
    for i, a in enumerate(arrays):
        a = np.asarray(a)
        grad = c.grad and a.dtype.kind == "f" and i not in c.const
        ours.append(mg.Tensor(a, requires_grad=grad, device=device))
        theirs.append(torch.tensor(np.array(a, order="C"), requires_grad=grad))
    out_t = _first(c.fn(torch, torch.nn.functional, *theirs))
    out_m = _first(c.fn(mg, mg.nn.functional, *ours))
    assert out_m.device == device, f"{c.name}: result on {out_m.device}, expected {device}"
    expected_dtype = str(out_t.dtype).replace("torch.", "")
    assert str(out_m.dtype) == expected_dtype, f"{c.name}: dtype {out_m.dtype}, PyTorch gives {expected_dtype}"
    assert out_m.shape == tuple(out_t.shape), f"{c.name}: shape {out_m.shape}, PyTorch gives {tuple(out_t.shape)}"
    values_t = out_t.detach().numpy()
    if values_t.dtype.kind == "f":
        _close(c.name, "the result", out_m.numpy(), values_t, values_t.dtype)
    else:
        np.testing.assert_array_equal(out_m.numpy(), values_t, err_msg=f"{c.name}: the result differs")
    if not (c.grad and out_t.requires_grad):
        return
    assert out_m.requires_grad, f"{c.name}: the result does not require grad (PyTorch's does)"
    seed = np.random.default_rng(1).standard_normal(out_m.shape).astype(values_t.dtype)
    out_t.backward(torch.tensor(seed))
    out_m.backward(mg.Tensor(seed, device=device))
    for i, (m_in, t_in) in enumerate(zip(ours, theirs)):
        if not t_in.requires_grad:
            continue
        g_t = None if t_in.grad is None else t_in.grad.numpy()
        g_m = None if m_in.grad is None else m_in.grad.numpy()
        if g_t is None:
            assert g_m is None or not np.any(g_m), f"{c.name}: input {i} has a gradient where PyTorch has none"
        elif g_m is None:
            assert not np.any(g_t), f"{c.name}: input {i} has no gradient; PyTorch's is nonzero"
        else:
            _close(c.name, f"the gradient of input {i}", g_m, g_t, g_t.dtype)
