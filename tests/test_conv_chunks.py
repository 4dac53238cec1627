"""conv2d split into chunks of images (``mg.config.chunk_bytes``): same values and gradients as the references.

The default chunk size is larger than any test batch, so the multi-chunk path is forced here
by shrinking it until every chunk holds one or two images.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import minigrad as mg
from minigrad import reference
from minigrad.backends.cpu import conv_plan


@pytest.fixture(params=[True, False], ids=["save-columns", "recompute"])
def tiny_chunks(request):
    # direct_conv off: chunks are the im2row path's.
    with mg.config.using(chunk_bytes=1, direct_conv=False, save_columns=request.param):
        yield


def test_chunks_cover_the_batch():
    for N, per_image, budget in [(7, 10, 25), (64, 1, 1 << 20), (5, 100, 1), (3, 0, 8)]:
        with mg.config.using(chunk_bytes=budget):
            chunks = conv_plan.image_chunks(N, per_image)
        assert chunks[0][0] == 0 and chunks[-1][1] == N
        assert all(a[1] == b[0] for a, b in zip(chunks, chunks[1:]))
        assert all(e > s for s, e in chunks)
        assert all(e - s <= max(1, budget // max(1, per_image)) for s, e in chunks)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])  # the fixture is the same for every example
@given(n=st.integers(2, 5), groups=st.sampled_from([1, 2]), stride=st.integers(1, 2),
       dilation=st.integers(1, 2), padding=st.integers(0, 2), seed=st.integers(0, 2**16))
def test_chunked_conv2d_matches_reference(tiny_chunks, n, groups, stride, dilation, padding, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 2 * groups, 7, 6)).astype(np.float32)
    w = rng.standard_normal((2 * groups, 2, 3, 2)).astype(np.float32)
    b = rng.standard_normal(2 * groups).astype(np.float32)
    xt, wt, bt = (mg.Tensor(a, requires_grad=True) for a in (x, w, b))
    out = mg.conv2d(xt, wt, bt, stride, padding, dilation, groups)
    expected = reference.conv2d(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64),
                                stride, padding, dilation, groups)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-4, atol=1e-4)
    seed_grad = rng.standard_normal(out.shape).astype(np.float32)
    out.backward(gradient=seed_grad)
    np.testing.assert_allclose(bt.grad.numpy(), seed_grad.sum(axis=(0, 2, 3)), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("args", [(2, 1, 1, 2), (1, (1, 0), 2, 1), (1, 2, 1, 4)])
def test_chunked_conv2d_gradcheck(tiny_chunks, args):
    stride, padding, dilation, groups = args
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 4, 6, 5))
    w = rng.standard_normal((4, 4 // groups, 3, 3))
    b = rng.standard_normal(4)
    assert mg.gradcheck(lambda x, w, b: mg.conv2d(x, w, b, *args), [x, w, b])
    assert mg.gradcheck(lambda x, w, b: mg.convolve2d(x, w, b, *args), [x, w, b])


@pytest.mark.parametrize("chunk_bytes", [1, 1 << 30], ids=["chunks", "whole-batch"])
def test_chunked_and_whole_batch_match_reference(chunk_bytes):
    with mg.config.using(chunk_bytes=chunk_bytes, save_columns=False):
        rng = np.random.default_rng(3)
        for groups, stride, padding, dilation in [(1, 1, 1, 1), (2, 2, 0, 1), (3, 1, 2, 2)]:
            x = rng.standard_normal((3, 3 * groups, 8, 7))
            w = rng.standard_normal((4 * groups, 3, 3, 2))
            b = rng.standard_normal(4 * groups)
            out = mg.conv2d(mg.Tensor(x.astype(np.float32)), mg.Tensor(w.astype(np.float32)),
                            mg.Tensor(b.astype(np.float32)), stride, padding, dilation, groups)
            expected = reference.conv2d(x, w, b, stride, padding, dilation, groups)
            np.testing.assert_allclose(out.numpy(), expected, rtol=1e-4, atol=1e-4)
            args = (stride, padding, dilation, groups)
            assert mg.gradcheck(lambda x, w, b: mg.conv2d(x, w, b, *args), [x, w, b])


@given(w=st.integers(9, 24), stride=st.integers(1, 3), padding=st.integers(0, 3), dilation=st.integers(1, 2),
       k=st.integers(1, 5), seed=st.integers(0, 2**16))
def test_wide_rows_match_reference(w, stride, padding, dilation, k, seed):
    """Rows wider than 8 take im2col's slice-copy branch, narrower ones its loop branch."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 3, 6, w))
    weight = rng.standard_normal((4, 3, 2, k))
    if (w + 2 * padding - dilation * (k - 1) - 1) // stride + 1 < 1:
        return
    out = mg.conv2d(mg.Tensor(x.astype(np.float32)), mg.Tensor(weight.astype(np.float32)), None,
                    stride, padding, dilation)
    expected = reference.conv2d(x, weight, None, stride, padding, dilation)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-4, atol=1e-4)
