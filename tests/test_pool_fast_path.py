"""max_pool2d's 2x2 / stride-2 fast path (LeNet's pooling) against the reference, with ties, NaN and -inf.

NaN handling follows PyTorch: a NaN wins and the last NaN of a window is the one reported;
the reference's argmax (first maximum, NaN first) agrees with the kernel except for windows
with several NaNs, which are checked by hand.
"""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
from minigrad import reference


@given(n=st.integers(1, 3), c=st.integers(1, 3), h=st.integers(2, 9), w=st.integers(2, 9),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**16))
def test_max_pool_2x2_matches_reference(n, c, h, w, dtype, seed):
    rng = np.random.default_rng(seed)
    # Few distinct values, so that windows have ties; a sprinkle of -inf and single NaNs.
    x = rng.integers(-2, 3, (n, c, h, w)).astype(dtype)
    x[rng.random(x.shape) < 0.1] = -np.inf
    nan_at = rng.random(x.shape) < 0.05
    x[nan_at] = np.nan
    out, idx = mg.max_pool2d(mg.Tensor(x), 2, return_indices=True)
    ref_out, ref_idx = reference.max_pool2d(x, 2)
    np.testing.assert_array_equal(out.numpy(), ref_out)
    oh, ow = ref_out.shape[2:]
    windows = nan_at[:, :, :2 * oh, :2 * ow].reshape(n, c, oh, 2, ow, 2).sum(axis=(3, 5))
    single = windows <= 1  # several NaNs in one window: PyTorch reports the last, checked below
    np.testing.assert_array_equal(idx.numpy()[single], ref_idx[single])


def test_max_pool_2x2_several_nans_report_the_last():
    x = np.array([[[[np.nan, 1.0], [np.nan, 2.0]]]], dtype=np.float32)
    out, idx = mg.max_pool2d(mg.Tensor(x), 2, return_indices=True)
    assert np.isnan(out.numpy().item()) and idx.numpy().item() == 2
