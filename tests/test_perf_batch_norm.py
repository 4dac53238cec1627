"""Batch-norm CPU kernels (four-accumulator sums) against float64 NumPy formulas.

Plane widths L of 1-9 cover the unrolled loop's remainder (L % 4) and planes shorter than
one unrolled step.
"""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from minigrad.backends import cpu


@given(n=st.integers(1, 5), c=st.integers(1, 4), length=st.integers(1, 9), offset=st.floats(-100, 100),
       seed=st.integers(0, 2**16))
def test_stats_and_backward_match_numpy(n, c, length, offset, seed):
    if n * length < 2:
        return
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((n, c, length)) + offset).astype(np.float32)
    dy = rng.standard_normal((n, c, length)).astype(np.float32)
    weight = rng.standard_normal(c).astype(np.float32)
    mean, var = np.empty(c), np.empty(c)
    cpu.batch_norm_stats(mean, var, x)
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(mean, x64.mean(axis=(0, 2)), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(var, x64.var(axis=(0, 2)), rtol=1e-8, atol=1e-10)

    invstd = 1.0 / np.sqrt(var + 1e-5)
    dx, dweight, dbias = np.empty_like(x), np.empty(c), np.empty(c)
    cpu.batch_norm_backward(dx, dweight, dbias, dy, x, mean, invstd, weight, 1)
    xhat = (x64 - mean[None, :, None]) * invstd[None, :, None]
    dy64 = dy.astype(np.float64)
    sum_dy, sum_dy_xhat = dy64.sum(axis=(0, 2)), (dy64 * xhat).sum(axis=(0, 2))
    np.testing.assert_allclose(dbias, sum_dy, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(dweight, sum_dy_xhat, rtol=1e-7, atol=1e-7)
    count = n * length
    want = (weight * invstd)[None, :, None] * (dy64 - sum_dy[None, :, None] / count
                                               - xhat * sum_dy_xhat[None, :, None] / count)
    np.testing.assert_allclose(dx, want, rtol=1e-4, atol=1e-4)


def test_nan_propagates_into_the_statistics():
    x = np.ones((2, 2, 7), np.float32)
    x[1, 0, 5] = np.nan
    mean, var = np.empty(2), np.empty(2)
    cpu.batch_norm_stats(mean, var, x)
    assert np.isnan(mean[0]) and np.isnan(var[0])
    assert mean[1] == 1.0 and var[1] == 0.0
