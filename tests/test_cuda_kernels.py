"""Every CUDA kernel against the CPU kernel of the same name and an independent NumPy reference.

Shapes are tiny (the simulator runs each GPU thread as a Python thread). Agreement of the
two backends is not the evidence; agreement with ``minigrad.reference`` or an explicit
NumPy formula is, so each test checks both.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_cuda_setup import needs_cuda

from minigrad import reference as ref
from minigrad.backends import get_backend

pytestmark = needs_cuda
FEW = settings(max_examples=4)


@pytest.fixture(scope="module")
def cpu():
    return get_backend("cpu")


@pytest.fixture(scope="module")
def gpu():
    return get_backend("cuda")


def rng(seed=0):
    return np.random.default_rng(seed)


def on_gpu(gpu, kernel, outs, *args):
    """Run ``gpu.<kernel>`` on device copies of ``outs`` and ``args``; return the outputs on the host."""
    d_outs = [gpu.from_numpy(o) for o in outs]
    d_args = [gpu.from_numpy(a) if isinstance(a, np.ndarray) else a for a in args]
    getattr(gpu, kernel)(*d_outs, *d_args)
    return [gpu.to_numpy(o) for o in d_outs]


def on_cpu(cpu, kernel, outs, *args):
    outs = [o.copy() for o in outs]
    getattr(cpu, kernel)(*outs, *args)
    return outs


def im2col_reference(x, KH, KW, sh, sw, ph, pw, dh, dw, OH, OW):
    """cols[(c, kh, kw), (n, oh, ow)] from a padded copy, written from the formula."""
    N, C, H, W = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph + KH * dh + sh * OH), (pw, pw + KW * dw + sw * OW)))
    cols = np.empty((C, KH, KW, N, OH, OW), x.dtype)
    for kh in range(KH):
        for kw in range(KW):
            cols[:, kh, kw] = xp[:, :, kh * dh:kh * dh + sh * OH:sh, kw * dw:kw * dw + sw * OW:sw].transpose(1, 0, 2, 3)
    return cols.reshape(C * KH * KW, N * OH * OW)


geometry = st.tuples(
    st.integers(1, 2), st.integers(1, 2), st.integers(3, 6), st.integers(3, 6),  # N, C, H, W
    st.integers(1, 3), st.integers(1, 3), st.integers(1, 2), st.integers(1, 2),  # KH, KW, sh, sw
    st.integers(0, 1), st.integers(0, 1), st.integers(1, 2), st.integers(1, 2),  # ph, pw, dh, dw
).filter(lambda g: g[2] + 2 * g[8] - g[10] * (g[4] - 1) - 1 >= 0 and g[3] + 2 * g[9] - g[11] * (g[5] - 1) - 1 >= 0)


def _conv_args(g):
    N, C, H, W, KH, KW, sh, sw, ph, pw, dh, dw = g
    OH = (H + 2 * ph - dh * (KH - 1) - 1) // sh + 1
    OW = (W + 2 * pw - dw * (KW - 1) - 1) // sw + 1
    return (N, C, H, W), (KH, KW, sh, sw, ph, pw, dh, dw, OH, OW)


@FEW
@given(geometry)
def test_im2col_matches_cpu_and_formula(cpu, gpu, g):
    shape, params = _conv_args(g)
    x = rng(1).standard_normal(shape).astype(np.float32)
    N, C = shape[:2]
    KH, KW, *_, OH, OW = params
    cols = np.full((C * KH * KW, N * OH * OW), np.nan, np.float32)
    expected = im2col_reference(x, *params)
    np.testing.assert_array_equal(on_cpu(cpu, "im2col", [cols], x, *params)[0], expected)
    np.testing.assert_array_equal(on_gpu(gpu, "im2col", [cols], x, *params)[0], expected)


@FEW
@given(geometry)
def test_col2im_is_the_adjoint_of_im2col(cpu, gpu, g):
    shape, params = _conv_args(g)
    N, C = shape[:2]
    KH, KW, *_, OH, OW = params
    r = rng(2)
    x = r.standard_normal(shape)
    cols = r.standard_normal((C * KH * KW, N * OH * OW))
    # <im2col(x), cols> == <x, col2im(cols)> defines col2im; im2col itself is checked above.
    got = on_gpu(gpu, "col2im", [np.full(shape, np.nan)], cols, *params)[0]
    np.testing.assert_allclose(np.sum(got * x), np.sum(im2col_reference(x, *params) * cols), rtol=1e-10)
    np.testing.assert_allclose(got, on_cpu(cpu, "col2im", [np.zeros(shape)], cols, *params)[0], rtol=1e-12, atol=1e-12)


def im2row_reference(x_last, KH, KW, sh, sw, ph, pw, dh, dw, OH, OW):
    """rows[(n, oh, ow), (kh, kw, c)] of a channels-last image, from a padded copy and the formula."""
    N, H, W, C = x_last.shape
    xp = np.pad(x_last, ((0, 0), (ph, ph + KH * dh + sh * OH), (pw, pw + KW * dw + sw * OW), (0, 0)))
    rows = np.empty((N, OH, OW, KH, KW, C), x_last.dtype)
    for kh in range(KH):
        for kw in range(KW):
            rows[:, :, :, kh, kw] = xp[:, kh * dh:kh * dh + sh * OH:sh, kw * dw:kw * dw + sw * OW:sw]
    return rows.reshape(N * OH * OW, KH * KW * C)


def _channels_last_shape(shape):
    N, C, H, W = shape
    return N, H, W, C


@FEW
@given(geometry)
def test_im2row_matches_cpu_and_formula(cpu, gpu, g):
    shape, params = _conv_args(g)
    x = rng(4).standard_normal(_channels_last_shape(shape)).astype(np.float32)
    N, C = shape[:2]
    KH, KW, *_, OH, OW = params
    rows = np.full((N * OH * OW, KH * KW * C), np.nan, np.float32)
    expected = im2row_reference(x, *params)
    np.testing.assert_array_equal(on_cpu(cpu, "im2row", [rows], x, *params)[0], expected)
    np.testing.assert_array_equal(on_gpu(gpu, "im2row", [rows], x, *params)[0], expected)


@FEW
@given(geometry)
def test_row2im_is_the_adjoint_of_im2row(cpu, gpu, g):
    shape, params = _conv_args(g)
    N, C = shape[:2]
    KH, KW, *_, OH, OW = params
    r = rng(5)
    x = r.standard_normal(_channels_last_shape(shape))
    rows = r.standard_normal((N * OH * OW, KH * KW * C))
    # <im2row(x), rows> == <x, row2im(rows)> defines row2im; im2row itself is checked above.
    for got in (on_cpu(cpu, "row2im", [np.full(x.shape, np.nan)], rows, *params)[0],
                on_gpu(gpu, "row2im", [np.full(x.shape, np.nan)], rows, *params)[0]):
        np.testing.assert_allclose(np.sum(got * x), np.sum(im2row_reference(x, *params) * rows), rtol=1e-10)


@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (1, 9, 32, 16), (3, 16, 2, 2)])
def test_layout_transposes_match_numpy(cpu, gpu, shape):
    # The CPU kernel has two loop orders, split at 512-pixel planes: (1, 9, 32, 16) takes the other one.
    r = rng(6)
    x = r.standard_normal(shape).astype(np.float32)
    bias = r.standard_normal(shape[1]).astype(np.float32)
    last = np.full(_channels_last_shape(shape), np.nan, np.float32)
    for run in (on_cpu, on_gpu):
        np.testing.assert_array_equal(run(cpu if run is on_cpu else gpu, "to_channels_last", [last], x)[0],
                                      x.transpose(0, 2, 3, 1))
        back = run(cpu if run is on_cpu else gpu, "to_channels_first", [np.full(shape, np.nan, np.float32)],
                   np.ascontiguousarray(x.transpose(0, 2, 3, 1)), bias)[0]
        np.testing.assert_array_equal(back, x + bias[:, None, None])


def test_conv2d_as_im2col_plus_our_gemm_matches_the_einsum_reference(gpu):
    r = rng(3)
    x = r.standard_normal((2, 3, 6, 5)).astype(np.float32)
    w = r.standard_normal((4, 3, 3, 3)).astype(np.float32)
    params = (3, 3, 1, 1, 1, 1, 1, 1, 6, 5)
    cols = gpu.empty((27, 60), np.float32)
    gpu.im2col(cols, gpu.from_numpy(x), *params)
    out = gpu.from_numpy(w.reshape(4, 27)) @ cols
    got = gpu.to_numpy(out).reshape(4, 2, 6, 5).transpose(1, 0, 2, 3)
    np.testing.assert_allclose(got, ref.conv2d(x, w, padding=1), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("M,K,N,batch", [(1, 1, 1, ()), (5, 17, 3, ()), (19, 9, 21, ()), (3, 4, 5, (2,))])
def test_gemm_matches_numpy(gpu, M, K, N, batch):
    r = rng(M * N)
    a = r.standard_normal(batch + (M, K)).astype(np.float32)
    b = r.standard_normal(batch + (K, N)).astype(np.float32)
    got = gpu.to_numpy(gpu.from_numpy(a) @ gpu.from_numpy(b))
    np.testing.assert_allclose(got, np.einsum("...mk,...kn->...mn", a, b), rtol=1e-4, atol=1e-4)


def test_gemm_with_the_gpu_tilings_matches_numpy(gpu):
    # Under the simulator the default tiling is small; run the GPU's tilings too.
    from minigrad.backends.cuda.gemm import GPU_CONFIG, LARGE_CONFIG, tiled_gemm as gemm

    r = rng(5)
    a, b = r.standard_normal((2, 21, 19)).astype(np.float32), r.standard_normal((1, 19, 6)).astype(np.float32)
    for config in (GPU_CONFIG, LARGE_CONFIG):
        out = gpu.empty((2, 21, 6), np.float32)
        gemm(out, gpu.from_numpy(a), gpu.from_numpy(b), config=config)
        np.testing.assert_allclose(gpu.to_numpy(out), a @ b, rtol=1e-4, atol=1e-4)


def test_gemm_broadcasts_a_batch_of_one_and_rejects_bad_shapes(gpu):
    r = rng(4)
    a = r.standard_normal((3, 2, 4))
    b = r.standard_normal((4, 5))
    np.testing.assert_allclose(gpu.to_numpy(gpu.from_numpy(a) @ gpu.from_numpy(b)), a @ b, rtol=1e-12)
    with pytest.raises(ValueError, match=r"matmul: \(2, 3\) @ \(4, 2\): inner dimensions 3 and 4 differ"):
        gpu.from_numpy(np.ones((2, 3))) @ gpu.from_numpy(np.ones((4, 2)))


pool_geometry = st.tuples(
    st.integers(1, 3), st.integers(3, 6), st.integers(3, 6), st.integers(1, 3), st.integers(1, 3),
    st.integers(1, 2), st.integers(1, 2), st.integers(0, 1), st.integers(1, 2),
).filter(lambda g: g[7] <= g[3] // 2 and g[7] <= g[4] // 2 and g[1] + 2 * g[7] >= g[8] * (g[3] - 1) + 1
         and g[2] + 2 * g[7] >= g[8] * (g[4] - 1) + 1)


@FEW
@given(pool_geometry)
def test_max_pool_matches_reference_values_and_indices(cpu, gpu, g):
    P, H, W, KH, KW, sh, sw, p, d = g
    x = rng(5).standard_normal((1, P, H, W)).astype(np.float32)
    expected, idx = ref.max_pool2d(x, (KH, KW), (sh, sw), p, d)
    OH, OW = expected.shape[2:]
    args = (x[0], KH, KW, sh, sw, p, p, d, d)
    outs = [np.zeros((P, OH, OW), np.float32), np.zeros((P, OH, OW), np.int64)]
    for got in (on_cpu(cpu, "max_pool2d_forward", outs, *args), on_gpu(gpu, "max_pool2d_forward", outs, *args)):
        np.testing.assert_array_equal(got[0], expected[0])
        np.testing.assert_array_equal(got[1], idx[0])


def test_max_pool_sees_nan_and_inf(gpu):
    x = np.array([[[1.0, np.nan], [np.inf, 2.0]]], np.float32)
    out, idx = on_gpu(gpu, "max_pool2d_forward", [np.zeros((1, 1, 1), np.float32), np.zeros((1, 1, 1), np.int64)],
                      x, 2, 2, 2, 2, 0, 0, 1, 1)
    assert np.isnan(out[0, 0, 0]) and idx[0, 0, 0] == 1


@FEW
@given(pool_geometry, st.booleans(), st.sampled_from([0, 3]))
def test_avg_pool_forward_matches_reference_and_backward_is_its_adjoint(cpu, gpu, g, include_pad, override):
    P, H, W, KH, KW, sh, sw, p, _ = g
    r = rng(6)
    x = r.standard_normal((1, P, H, W))
    expected = ref.avg_pool2d(x, (KH, KW), (sh, sw), p, count_include_pad=include_pad,
                              divisor_override=override or None)[0]
    args = (KH, KW, sh, sw, p, p, int(include_pad), override)
    got = on_gpu(gpu, "avg_pool2d_forward", [np.zeros(expected.shape)], x[0], *args)[0]
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    dy = r.standard_normal(expected.shape)
    dx = on_gpu(gpu, "avg_pool2d_backward", [np.full((P, H, W), np.nan)], dy, *args)[0]
    np.testing.assert_allclose(np.sum(dx * x[0]), np.sum(dy * expected), rtol=1e-10)
    np.testing.assert_allclose(dx, on_cpu(cpu, "avg_pool2d_backward", [np.zeros((P, H, W))], dy, *args)[0], atol=1e-12)


@pytest.mark.parametrize("H,W,OH,OW", [(5, 7, 3, 2), (4, 4, 1, 1), (3, 5, 5, 7)])
def test_adaptive_pooling_matches_reference(cpu, gpu, H, W, OH, OW):
    r = rng(7)
    x = r.standard_normal((1, 2, H, W))
    avg = on_gpu(gpu, "adaptive_avg_pool2d_forward", [np.zeros((2, OH, OW))], x[0])[0]
    np.testing.assert_allclose(avg, ref.adaptive_avg_pool2d(x, (OH, OW))[0], rtol=1e-12)
    mx, idx = on_gpu(gpu, "adaptive_max_pool2d_forward", [np.zeros((2, OH, OW)), np.zeros((2, OH, OW), np.int64)], x[0])
    e_mx, e_idx = ref.adaptive_max_pool2d(x, (OH, OW))
    np.testing.assert_array_equal(mx, e_mx[0])
    np.testing.assert_array_equal(idx, e_idx[0])
    dy = r.standard_normal((2, OH, OW))
    dx = on_gpu(gpu, "adaptive_avg_pool2d_backward", [np.full((2, H, W), np.nan)], dy)[0]
    np.testing.assert_allclose(np.sum(dx * x[0]), np.sum(dy * ref.adaptive_avg_pool2d(x, (OH, OW))[0]), rtol=1e-10)
    np.testing.assert_allclose(dx, on_cpu(cpu, "adaptive_avg_pool2d_backward", [np.zeros((2, H, W))], dy)[0], atol=1e-12)


def test_scatter_and_gather_planes_match_numpy(cpu, gpu):
    r = rng(8)
    P, L, HW = 3, 4, 9
    values = r.standard_normal((P, L))
    dup = r.integers(0, HW, (P, L))  # duplicates allowed: scatter-add must accumulate them
    expected = np.zeros((P, HW))
    for p in range(P):
        np.add.at(expected[p], dup[p], values[p])
    got = on_gpu(gpu, "scatter_add_planes", [np.full((P, HW), np.nan)], values, dup)[0]
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    unique = np.stack([r.permutation(HW)[:L] for _ in range(P)])
    scattered = on_gpu(gpu, "scatter_planes", [np.full((P, HW), np.nan)], values, unique)[0]
    np.testing.assert_array_equal(scattered, ref.max_unpool2d(values.reshape(1, P, 1, L), unique.reshape(1, P, 1, L),
                                                              (1, HW)).reshape(P, HW))
    np.testing.assert_array_equal(on_gpu(gpu, "gather_planes", [np.zeros((P, L))], scattered, unique)[0], values)
    np.testing.assert_array_equal(on_cpu(cpu, "gather_planes", [np.zeros((P, L))], scattered, unique)[0], values)


def _nearest_table(n_in, n_out):
    return np.minimum(np.floor(np.arange(n_out) * np.float32(n_in) / np.float32(n_out)), n_in - 1).astype(np.int64)


@pytest.mark.parametrize("H,W,OH,OW", [(3, 4, 6, 8), (4, 3, 7, 5)])
def test_nearest_upsampling_matches_reference_and_its_adjoint(cpu, gpu, H, W, OH, OW):
    r = rng(9)
    x = r.standard_normal((1, 2, H, W)).astype(np.float32)
    th, tw = _nearest_table(H, OH), _nearest_table(W, OW)
    out = on_gpu(gpu, "nearest_forward", [np.zeros((2, OH, OW), np.float32)], x[0], th, tw)[0]
    np.testing.assert_array_equal(out, ref.interpolate_nearest(x, (OH, OW))[0])
    dy = r.standard_normal((2, OH, OW)).astype(np.float32)
    dx = on_gpu(gpu, "nearest_backward", [np.full((2, H, W), np.nan, np.float32)], dy, th, tw)[0]
    np.testing.assert_allclose(np.sum(dx * x[0], dtype=np.float64), np.sum(dy * out, dtype=np.float64), rtol=1e-5)
    np.testing.assert_allclose(dx, on_cpu(cpu, "nearest_backward", [np.zeros((2, H, W), np.float32)], dy, th, tw)[0],
                               rtol=1e-6, atol=1e-6)


def _linear_table(n_in, n_out):
    src = np.maximum((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0.0)
    lo = np.floor(src).astype(np.int64)
    return lo, np.minimum(lo + 1, n_in - 1), src - lo


@pytest.mark.parametrize("H,W,OH,OW", [(3, 4, 6, 8), (4, 3, 5, 7)])
def test_bilinear_upsampling_matches_reference_and_its_adjoint(cpu, gpu, H, W, OH, OW):
    r = rng(10)
    x = r.standard_normal((1, 2, H, W))
    tables = (*_linear_table(H, OH), *_linear_table(W, OW))
    out = on_gpu(gpu, "bilinear_forward", [np.zeros((2, OH, OW))], x[0], *tables)[0]
    np.testing.assert_allclose(out, ref.interpolate_bilinear(x, (OH, OW))[0], rtol=1e-12, atol=1e-12)
    dy = r.standard_normal((2, OH, OW))
    dx = on_gpu(gpu, "bilinear_backward", [np.full((2, H, W), np.nan)], dy, *tables)[0]
    np.testing.assert_allclose(np.sum(dx * x[0]), np.sum(dy * out), rtol=1e-10)
    np.testing.assert_allclose(dx, on_cpu(cpu, "bilinear_backward", [np.zeros((2, H, W))], dy, *tables)[0], atol=1e-12)
    # float32 images with float64 weight tables: the atomics round each contribution to float32.
    x32, dy32 = x.astype(np.float32), dy.astype(np.float32)
    out32 = on_gpu(gpu, "bilinear_forward", [np.zeros((2, OH, OW), np.float32)], x32[0], *tables)[0]
    np.testing.assert_allclose(out32, out, rtol=1e-5, atol=1e-5)
    dx32 = on_gpu(gpu, "bilinear_backward", [np.zeros((2, H, W), np.float32)], dy32, *tables)[0]
    np.testing.assert_allclose(dx32, dx, rtol=1e-5, atol=1e-5)


def test_batch_norm_kernels_match_the_formulas(cpu, gpu):
    r = rng(11)
    N, C, L = 3, 4, 5
    x = (r.standard_normal((N, C, L)) * 2 + 1).astype(np.float32)
    mean, var = on_gpu(gpu, "batch_norm_stats", [np.zeros(C), np.zeros(C)], x)
    np.testing.assert_allclose(mean, x.astype(np.float64).mean(axis=(0, 2)), rtol=1e-6)
    np.testing.assert_allclose(var, x.astype(np.float64).var(axis=(0, 2)), rtol=1e-5)
    invstd = 1 / np.sqrt(var + 1e-5)
    weight, bias = r.standard_normal(C).astype(np.float32), r.standard_normal(C).astype(np.float32)
    out = on_gpu(gpu, "batch_norm_normalize", [np.zeros_like(x)], x, mean, invstd, weight, bias)[0]
    expected = ref.batch_norm(x.reshape(N, C, L, 1), mean, var, weight, bias)[0].reshape(N, C, L)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)
    dy = r.standard_normal((N, C, L)).astype(np.float32)
    for batch_stats in (1, 0):
        outs = [np.zeros_like(x), np.zeros(C), np.zeros(C)]
        got = on_gpu(gpu, "batch_norm_backward", outs, dy, x, mean, invstd, weight, batch_stats)
        want = on_cpu(cpu, "batch_norm_backward", outs, dy, x, mean, invstd, weight, batch_stats)
        xhat = (x - mean[:, None]) * invstd[:, None]
        np.testing.assert_allclose(got[2], dy.sum(axis=(0, 2)), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(got[1], (dy * xhat).sum(axis=(0, 2)), rtol=1e-4, atol=1e-4)
        for a, b in zip(got, want):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("M,C", [(7, 3), (130, 5)])  # 130 rows: more rows than the CPU's row blocks
def test_channels_last_batch_norm_kernels_match_the_formulas(cpu, gpu, M, C):
    r = rng(14)
    x = (r.standard_normal((M, C)) * 2 + 1).astype(np.float32)
    x64 = x.astype(np.float64)
    weight, bias = r.standard_normal(C).astype(np.float32), r.standard_normal(C).astype(np.float32)
    dy = r.standard_normal((M, C)).astype(np.float32)
    for run, backend in ((on_cpu, cpu), (on_gpu, gpu)):
        mean, var = run(backend, "batch_norm_stats_last", [np.zeros(C), np.zeros(C)], x)
        np.testing.assert_allclose(mean, x64.mean(axis=0), rtol=1e-6)
        np.testing.assert_allclose(var, x64.var(axis=0), rtol=1e-5)
        invstd = 1 / np.sqrt(var + 1e-5)
        out = run(backend, "batch_norm_normalize_last", [np.zeros_like(x)], x, mean, invstd, weight, bias)[0]
        np.testing.assert_allclose(out, (x64 - mean) * invstd * weight + bias, rtol=1e-4, atol=1e-5)
        xhat = (x64 - mean) * invstd
        for batch_stats in (1, 0):
            dx, dweight, dbias = run(backend, "batch_norm_backward_last", [np.zeros_like(x), np.zeros(C), np.zeros(C)],
                                     dy, x, mean, invstd, weight, batch_stats)
            np.testing.assert_allclose(dbias, dy.sum(axis=0), rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(dweight, (dy * xhat).sum(axis=0), rtol=1e-4, atol=1e-4)
            g = dy - batch_stats * (dbias / M + xhat * dweight / M)
            np.testing.assert_allclose(dx, weight * invstd * g, rtol=1e-4, atol=1e-5)


def test_batch_norm_backward_matches_finite_differences(gpu):
    r = rng(12)
    x, dy = r.standard_normal((2, 2, 3)), r.standard_normal((2, 2, 3))
    weight = r.standard_normal(2)

    def loss(x):
        m, v = x.mean(axis=(0, 2), keepdims=True), x.var(axis=(0, 2), keepdims=True)
        return np.sum(dy * (x - m) / np.sqrt(v + 1e-5) * weight[:, None])

    mean, var = x.mean(axis=(0, 2)), x.var(axis=(0, 2))
    dx = on_gpu(gpu, "batch_norm_backward", [np.zeros_like(x), np.zeros(2), np.zeros(2)], dy, x, mean,
                1 / np.sqrt(var + 1e-5), weight, 1)[0]
    numeric = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = 1e-6
        numeric[i] = (loss(x + e) - loss(x - e)) / 2e-6
    np.testing.assert_allclose(dx, numeric, rtol=1e-5, atol=1e-7)


def test_lrn_kernels_match_reference_and_cpu(cpu, gpu):
    r = rng(13)
    x = r.standard_normal((2, 5, 3))
    args = (3, 1e-2, 0.75, 2.0)
    out, scale = on_gpu(gpu, "lrn_forward", [np.zeros_like(x), np.zeros_like(x)], x, *args)
    np.testing.assert_allclose(out, ref.local_response_norm(x.reshape(2, 5, 3, 1), *args).reshape(x.shape), rtol=1e-12)
    dy = r.standard_normal(x.shape)
    dx = on_gpu(gpu, "lrn_backward", [np.zeros_like(x)], dy, x, scale, *args[:3])[0]
    np.testing.assert_allclose(dx, on_cpu(cpu, "lrn_backward", [np.zeros_like(x)], dy, x, scale, *args[:3])[0],
                               rtol=1e-12)
    i = (1, 2, 0)
    e = np.zeros_like(x)
    e[i] = 1e-6
    f = lambda x: np.sum(dy * ref.local_response_norm(x.reshape(2, 5, 3, 1), *args).reshape(x.shape))  # noqa: E731
    np.testing.assert_allclose(dx[i], (f(x + e) - f(x - e)) / 2e-6, rtol=1e-5)


def test_relu_kernels_match_numpy_and_keep_nan(cpu, gpu):
    x = np.array([[-1.0, 0.0, 2.0], [np.nan, 3.0, -0.5]], np.float32)
    expected = np.where(x > 0, x, 0).astype(np.float32)
    expected[1, 0] = np.nan
    for got in (on_gpu(gpu, "relu_forward", [np.zeros_like(x)], x)[0], on_cpu(cpu, "relu_forward", [np.zeros_like(x)], x)[0]):
        np.testing.assert_array_equal(got, expected)
    g = np.arange(6, dtype=np.float32).reshape(2, 3) + 1
    y = expected  # NaN at [1, 0]: PyTorch's threshold_backward passes the gradient there
    np.testing.assert_array_equal(on_gpu(gpu, "relu_backward", [np.zeros_like(g)], g, y)[0], np.where((y > 0) | np.isnan(y), g, 0))


def test_every_cpu_kernel_has_a_cuda_twin_with_the_same_parameters(gpu):
    import importlib
    import inspect
    import pkgutil

    import minigrad.backends.cpu as cpu_pkg
    from minigrad.backends.contract import CPU_ONLY

    checked = 0
    for info in pkgutil.iter_modules(cpu_pkg.__path__):
        module = importlib.import_module(f"minigrad.backends.cpu.{info.name}")
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            # Kernels are jitted (``py_func``) or wrapped jitted (``kernel``); array.py holds the
            # array helpers. Anything else (thread settings, thresholds) is CPU-only scheduling.
            if not (hasattr(obj, "py_func") or hasattr(obj, "kernel") or info.name == "array") or name in CPU_ONLY:
                continue
            twin = getattr(gpu, name)  # AttributeError names the missing kernel
            fn = getattr(obj, "kernel", obj)
            fn = getattr(fn, "py_func", fn)
            assert list(inspect.signature(twin).parameters) == list(inspect.signature(fn).parameters), name
            checked += 1
    assert checked >= 26


@pytest.mark.parametrize("stride,padding,dilation,groups,k", [
    (1, 1, 1, 1, 3), (2, 0, 1, 2, 3), (1, 0, 1, 1, 1), (1, 0, 1, 3, 1), (1, 2, 2, 3, 3)])
def test_conv2d_op_on_the_gpu_matches_the_reference(stride, padding, dilation, groups, k):
    """conv2d's channels-last path on the device (grouped, strided, dilated, 1x1): values and
    all three gradients against the einsum reference and the CPU's float64 gradients."""
    import minigrad as mg

    r = rng(7 + k + groups)
    x = r.standard_normal((2, 6, 5, 5)).astype(np.float32)
    w = r.standard_normal((6, 6 // groups, k, k)).astype(np.float32)
    b = r.standard_normal(6).astype(np.float32)
    dy = r.standard_normal(ref.conv2d(x, w, b, stride, padding, dilation, groups).shape).astype(np.float32)

    def run(device, dtype):
        ts = [mg.Tensor(a.astype(dtype), requires_grad=True) for a in (x, w, b)]
        leaves = [t.to(device).detach().requires_grad_() for t in ts] if device != "cpu" else ts
        out = mg.conv2d(*leaves, stride, padding, dilation, groups)
        (out * mg.Tensor(dy.astype(dtype)).to(device)).sum().backward()
        return out.numpy(), [t.grad.numpy() for t in leaves]

    out_gpu, grads_gpu = run("cuda", np.float32)
    _, grads_cpu = run("cpu", np.float64)
    np.testing.assert_allclose(out_gpu, ref.conv2d(x, w, b, stride, padding, dilation, groups), rtol=1e-4, atol=1e-4)
    for got, expected in zip(grads_gpu, grads_cpu):
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
