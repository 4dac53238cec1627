"""The conformance grid's CUDA cases against PyTorch (CPU torch as the reference; skipped without torch).

Runs on a GPU, or under Numba's CUDA simulator (see ``test_cuda_setup``), so the shapes are the
grid's tiny ones and only the cases marked ``cuda`` run: at least one per op family and every
form the issue lists (unbatched CNN inputs, NaN gradients, empty and 0-d reductions, the new
keywords and interpolation modes).
"""

from __future__ import annotations

import numpy as np
import pytest
from test_cuda_setup import needs_cuda

pytest.importorskip("torch")

from conformance_cases import CASES  # noqa: E402
from torch_compare import check_case  # noqa: E402

pytestmark = needs_cuda
GPU_CASES = [c for c in CASES if c.cuda]


@pytest.mark.parametrize("c", GPU_CASES, ids=[c.name for c in GPU_CASES])
def test_matches_torch_on_cuda(c):
    check_case(c, np.float64, device="cuda")


def test_float32_on_cuda():
    # One float32 pass over a few families (the tolerance differs; the code paths do not).
    for name in ("relu[nan_inf]", "maximum[nan_inf]", "unbatched_conv2d", "unbatched_max_pool2d",
                 "interpolate2d[size=(3, 7),mode=bicubic,align_corners=True]", "cross_entropy_probs[mean]"):
        check_case(next(c for c in CASES if c.name == name), np.float32, device="cuda")


def test_inplace_ops_on_cuda():
    import minigrad as mg
    from test_inplace import PROGRAMS, X

    for name, (program, expected) in PROGRAMS.items():
        x = mg.Tensor(X.copy(), requires_grad=True, device="cuda")
        program(mg, x).backward()  # copy_ into a CPU tensor: the gradient comes back to the GPU
        assert x.grad.device == "cuda", name
        np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-12, err_msg=name)
    w = mg.Tensor(X.copy(), requires_grad=True, device="cuda")
    with mg.no_grad():
        w.normal_().zero_().add_(1.5)
    np.testing.assert_array_equal(w.numpy(), np.full(3, 1.5))
