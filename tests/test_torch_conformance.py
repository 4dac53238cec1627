"""minigrad against PyTorch over the grid of call forms in ``conformance_cases`` (skipped without torch).

Every case runs in float32 (1e-4 relative) and float64 (1e-10 relative) on the CPU; the CUDA
backend runs the cases marked ``cuda`` in ``test_cuda_torch_conformance.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from conformance_cases import CASES  # noqa: E402
from torch_compare import check_case  # noqa: E402


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("c", CASES, ids=[c.name for c in CASES])
def test_matches_torch(c, dtype):
    check_case(c, dtype)


def test_the_grid_covers_the_issue_list():
    # The grid must keep the forms the issue names; a case silently dropped would pass unnoticed.
    names = {c.name.split("[")[0] for c in CASES}
    for required in ("add_alpha", "div_trunc", "div_floor", "var_correction", "var_dim_unbiased_pos", "softmax_dtype",
                     "clamp_tensors", "pad_constant(-1, 2)", "einsum", "cross_entropy_probs", "unbatched_conv2d",
                     "unbatched_conv_transpose2d", "unbatched_max_pool2d", "unbatched_avg_pool2d",
                     "unbatched_adaptive_avg_pool2d", "unbatched_max_unpool2d", "interpolate1d", "interpolate2d",
                     "max_pool2d_tuple1", "avg_pool2d_empty_stride", "transpose_0d", "squeeze_0d", "bce_logits_0d",
                     "lrn", "logsumexp", "pow_zero_exponent"):
        assert required in names, required
    assert len(CASES) > 400
