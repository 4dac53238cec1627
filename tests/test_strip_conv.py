"""The strip convolution (``backends/cpu/strips.py``, ``ops/conv_strips.py``) against references written from the formulas.

Kernels: ``im2strip`` against an explicit loop, ``strip_conv``/``strip_weight_grad`` against an
einsum per kernel row, the weight layouts against NumPy transposes, ``gemm_accumulate``
against ``np.matmul``. The op: conv2d and convolve2d through the strip plan against
``minigrad.reference`` (forward, and the gradients by finite differences), with shapes,
paddings (negative ones in dX), dilations and even kernels drawn by hypothesis.
"""

import contextlib
import os
import subprocess
import sys

import numpy as np
import pytest
from numba import njit
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad as mg
from minigrad.backends import cpu
from minigrad.backends.cpu import cblas, conv_plan
from minigrad.backends.cpu import strips as strips_module
from minigrad.backends.cpu import register_tile
from minigrad.backends.cpu.register_tile import MAX_ROWS, tile
from minigrad.gradcheck import gradcheck
from stride1_conv_cases import (assert_plans_agree, check_against_reference, check_empty_batch, conv_and_grads, plan,
                                stride1_cases)

pytestmark = pytest.mark.skipif(not cblas.available(np.float32), reason="NumPy's BLAS is not an OpenBLAS with CBLAS")


@contextlib.contextmanager
def strips_for_small_layers():
    """Send every stride-1 single-group layer with 2+ input channels through the strips."""
    saved = conv_plan.STRIP_MIN_POSITIONS
    conv_plan.STRIP_MIN_POSITIONS = 1
    try:
        with mg.config.using(channels_last_min=2, strip_conv=True):
            yield
    finally:
        conv_plan.STRIP_MIN_POSITIONS = saved


@pytest.fixture
def strips_everywhere():
    with strips_for_small_layers():
        yield


def im2strip_reference(x, Hs, OW, KW, ph, pw, dw):
    N, H, W, C = x.shape
    strips = np.zeros((N, Hs, OW, KW * C), x.dtype)
    for n in range(N):
        for i in range(Hs):
            for ow in range(OW):
                for kw in range(KW):
                    ih, iw = i - ph, ow - pw + kw * dw
                    if 0 <= ih < H and 0 <= iw < W:
                        strips[n, i, ow, kw * C:(kw + 1) * C] = x[n, ih, iw]
    return strips


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 2), c=st.integers(1, 4), h=st.integers(1, 6), w=st.integers(1, 6), kw=st.integers(1, 3),
       hs=st.integers(1, 8), ow=st.integers(1, 7), ph=st.integers(-2, 3), pw=st.integers(-2, 3), dw=st.integers(1, 2),
       seed=st.integers(0, 2**16))
def test_im2strip_matches_loop(n, c, h, w, kw, hs, ow, ph, pw, dw, seed):
    x = np.random.default_rng(seed).standard_normal((n, h, w, c))
    strips = np.full((n, hs, ow, kw * c), np.nan)
    cpu.im2strip(strips, x, kw, ph, pw, dw)
    np.testing.assert_array_equal(strips, im2strip_reference(x, hs, ow, kw, ph, pw, dw))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("KH,dh", [(1, 1), (3, 1), (2, 2)])
def test_strip_conv_and_weight_grad_match_einsum(dtype, KH, dh):
    rng = np.random.default_rng(KH + dh)
    N, OH, OW, KW, C, O = 3, 4, 5, 2, 3, 6
    Hs = OH + dh * (KH - 1)
    strips = rng.standard_normal((N, Hs, OW, KW * C)).astype(dtype)
    taps = rng.standard_normal((KH, KW * C, O)).astype(dtype)
    dy = rng.standard_normal((N, OH, OW, O)).astype(dtype)
    # out[n, oh, ow, o] = sum_{kh, k} strips[n, oh + kh*dh, ow, k] * taps[kh, k, o]
    expected = sum(np.einsum("nhwk,ko->nhwo", strips[:, kh * dh:kh * dh + OH], taps[kh]) for kh in range(KH))
    out = np.full((N, OH, OW, O), np.nan, dtype)
    cpu.strip_conv(out, strips, taps, dh)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(out, expected, rtol=tol, atol=tol)
    grad = np.stack([np.einsum("nhwk,nhwo->ko", strips[:, kh * dh:kh * dh + OH], dy) for kh in range(KH)])
    dtaps = np.full((KH, KW * C, O), np.nan, dtype)
    cpu.strip_weight_grad(dtaps, strips, dy, dh, False)
    np.testing.assert_allclose(dtaps, grad, rtol=tol, atol=tol)
    cpu.strip_weight_grad(dtaps, strips, dy, dh, True)  # a second chunk adds
    np.testing.assert_allclose(dtaps, 2 * grad, rtol=tol, atol=tol)
    empty = np.full_like(dtaps, np.nan)
    cpu.strip_weight_grad(empty, strips[:0], dy[:0], dh, False)
    np.testing.assert_array_equal(empty, 0)


@pytest.mark.parametrize("shape", [(5, 3, 3, 3), (40, 17, 2, 3), (1, 1, 1, 1)])
def test_weight_layouts_match_transposes(shape):
    O, C, KH, KW = shape
    weight = np.random.default_rng(0).standard_normal(shape)
    taps = np.empty((KH, KW * C, O))
    cpu.weight_to_taps(taps, weight, False)
    np.testing.assert_array_equal(taps, weight.transpose(2, 3, 1, 0).reshape(KH, KW * C, O))
    adjoint = np.empty((KH, KW * O, C))
    cpu.weight_to_taps(adjoint, weight, True)
    np.testing.assert_array_equal(adjoint, weight[:, :, ::-1, ::-1].transpose(2, 3, 0, 1).reshape(KH, KW * O, C))
    back = np.empty(shape)
    cpu.taps_to_weight(back, taps)
    np.testing.assert_array_equal(back, weight)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True), (True, True)])
def test_gemm_accumulate_matches_matmul(dtype, ta, tb):
    rng = np.random.default_rng(1)
    a = rng.standard_normal((7, 5)).astype(dtype)
    b = rng.standard_normal((5, 4)).astype(dtype)
    a_in = np.ascontiguousarray(a.T).T if ta else a
    b_in = np.ascontiguousarray(b.T).T if tb else b
    out = np.full((7, 4), np.nan, dtype)
    cblas.gemm_accumulate(out, a_in, b_in, 0.0)  # beta 0 ignores what out held, NaN included
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(out, a @ b, rtol=tol, atol=tol)
    cblas.gemm_accumulate(out, a_in, b_in, 1.0)
    np.testing.assert_allclose(out, 2 * (a @ b), rtol=tol, atol=tol)
    wide = np.zeros((7, 9), dtype)
    cblas.gemm_accumulate(wide[:, 2:6], a_in, b_in, 0.0)  # an output whose rows are longer than N
    np.testing.assert_allclose(wide[:, 2:6], a @ b, rtol=tol, atol=tol)
    assert not wide[:, :2].any() and not wide[:, 6:].any()


def test_gemm_accumulate_rejects_bad_operands():
    a, b = np.ones((3, 4), np.float32), np.ones((5, 2), np.float32)
    with pytest.raises(ValueError, match=r"gemm_accumulate: shapes \(3, 4\) @ \(5, 2\)"):
        cblas.gemm_accumulate(np.empty((3, 2), np.float32), a, b, 0.0)
    with pytest.raises(ValueError, match="gemm_accumulate: an operand"):
        cblas.gemm_accumulate(np.empty((3, 2), np.float32), np.ones((3, 8), np.float32)[:, ::2],
                              np.ones((4, 2), np.float32), 0.0)


@pytest.fixture
def no_tiled_conv():
    """The layers below go to the register-tiled path where it pays (``test_tiled_conv.py``); here, to the strips."""
    with mg.config.using(tiled_conv=False):
        yield


def test_planner_takes_strips_for_large_planes_only(no_tiled_conv):
    assert plan((64, 64, 32, 32), (64, 64, 3, 3)).lowering == "strips"  # ResNet-18's layer1
    assert plan((64, 128, 16, 16), (128, 128, 3, 3)).lowering == "strips"
    assert plan((64, 256, 8, 8), (256, 256, 3, 3)).lowering == "shifts"  # 64 positions: each GEMM too small
    assert plan((64, 64, 32, 32), (128, 64, 3, 3), stride=2).lowering == "im2row"
    assert plan((64, 64, 32, 32), (64, 64, 1, 1), padding=0).lowering == "pointwise"
    assert plan((64, 3, 32, 32), (64, 3, 3, 3)).lowering == "im2row"  # 3 channels: GEMMs of K = 9
    with mg.config.using(strip_conv=False):
        assert plan((64, 64, 32, 32), (64, 64, 3, 3)).lowering == "im2row"


def test_planner_falls_back_without_cblas(monkeypatch, no_tiled_conv):
    monkeypatch.setattr(cblas, "available", lambda dtype: False)
    assert plan((64, 64, 32, 32), (64, 64, 3, 3)).lowering == "im2row"


@settings(max_examples=40, deadline=None)
@given(case=stride1_cases(min_kh=2))
def test_strip_conv2d_matches_reference(case):
    with strips_for_small_layers():
        check_against_reference(case, "strips")


@pytest.mark.parametrize("padding,dilation", [(1, 1), (3, 1), (0, 2)])
def test_strip_conv2d_gradcheck(strips_everywhere, padding, dilation):
    rng = np.random.default_rng(padding + dilation)
    x = rng.standard_normal((2, 3, 5, 6))
    w = rng.standard_normal((4, 3, 3, 2))
    b = rng.standard_normal(4)
    assert plan(x.shape, w.shape, padding, dilation, dtype=np.float64).lowering == "strips"
    gradcheck(lambda x, w, b: mg.conv2d(x, w, b, padding=padding, dilation=dilation), [x, w, b])


def test_strip_conv2d_empty_batch(strips_everywhere):
    assert plan((0, 3, 5, 5), (2, 3, 3, 3)).lowering == "strips"
    check_empty_batch()


def test_strips_and_im2row_agree_on_a_resnet_layer(no_tiled_conv):
    """ResNet-18's layer1 shape in float32, through both plans: the same numbers to float32 rounding."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 64, 32, 32)).astype(np.float32)
    w = (rng.standard_normal((64, 64, 3, 3)) * 0.05).astype(np.float32)
    g = rng.standard_normal((2, 64, 32, 32)).astype(np.float32)
    results = []
    for strips in (True, False):
        with mg.config.using(strip_conv=strips):
            out, dx, dw = conv_and_grads(x, w, g)
            results.append((out.numpy(), dx, dw))
    assert_plans_agree(*results, x, w)


def test_even_image_chunks_prefer_one_run_length():
    with mg.config.using(chunk_bytes=20 * 1000):
        assert conv_plan.image_chunks(64, 1000, even=True) == ((0, 16), (16, 32), (32, 48), (48, 64))  # 16 divides 64
        assert conv_plan.image_chunks(61, 1000, even=True) == ((0, 20), (20, 40), (40, 60), (60, 61))  # 61 is prime
        assert conv_plan.image_chunks(10, 1000, even=True) == ((0, 10),)
        assert conv_plan.image_chunks(0, 1000, even=True) == ()


@pytest.mark.parametrize("m, expected_threads", [(8, 1), (400, 2)])
def test_gemm_accumulate_runs_small_products_on_one_thread(monkeypatch, m, expected_threads):
    """The one-thread policy of small products (``threads.blas_call``) holds for the accumulating GEMM too."""
    from minigrad.backends.cpu import threads

    if threads.blas_num_threads() is None or numba_threads() < 2:
        pytest.skip("needs OpenBLAS's thread setter and two threads")
    real = cblas._functions()[np.dtype(np.float32)]
    seen = []

    def spy(*args):
        seen.append(threads.blas_num_threads())
        real(*args)

    monkeypatch.setitem(cblas._gemms, np.dtype(np.float32), spy)
    previous = threads.set_num_threads(2)
    try:
        with mg.config.using(blas_serial_below=2 * 400 * 400 * 400):  # (m x 400) @ (400 x 400): small below m = 400
            a, b = np.ones((m, 400), np.float32), np.ones((400, 400), np.float32)
            out = np.empty((m, 400), np.float32)
            cblas.gemm_accumulate(out, a, b, 0.0)
        assert seen == [expected_threads]
        np.testing.assert_array_equal(out, 400.0)
        assert threads.blas_num_threads() == 2  # restored
    finally:
        threads.set_num_threads(previous)


def numba_threads():
    import numba

    return numba.config.NUMBA_NUM_THREADS


def test_gemm_accumulate_with_an_empty_inner_dimension():
    out = np.full((3, 2), np.nan, np.float32)
    cblas.gemm_accumulate(out, np.ones((3, 0), np.float32), np.ones((0, 2), np.float32), 0.0)
    np.testing.assert_array_equal(out, 0)  # beta 0 ignores what out held, NaN included
    out[...] = 5
    cblas.gemm_accumulate(out, np.ones((3, 0), np.float32), np.ones((0, 2), np.float32), 1.0)
    np.testing.assert_array_equal(out, 5)


# ---------------------------------------------------------------- register tiles (register_tile.py)
@njit
def _tile_product(acc, r, c, a, b, a_row, a_k, K):
    tile(acc, r, c.reshape(-1), 0, c.shape[1], a.reshape(-1), 0, a_row, a_k, b.reshape(-1), 0, b.shape[1], K)


@pytest.mark.parametrize("r", range(1, MAX_ROWS + 1))
@pytest.mark.parametrize("K", [0, 1, 7, 33])
@pytest.mark.parametrize("transposed", [False, True])
def test_register_tile_matches_matmul(r, K, transposed):
    """C[:r, :64] (+)= A[:r, :K] @ B[:K, :64], A read by rows or, transposed, by columns; C's other entries untouched."""
    rng = np.random.default_rng(r * 100 + K)
    a = rng.standard_normal((K, r) if transposed else (r, K)).astype(np.float32)
    b = rng.standard_normal((K, 70)).astype(np.float32)  # rows longer than the tile's 64 columns
    a_row, a_k = (1, r) if transposed else (K, 1)
    product = (a.T if transposed else a).astype(np.float64) @ b[:, :64]
    for acc in (False, True):
        c = rng.standard_normal((r + 1, 70)).astype(np.float32)
        expected = c.astype(np.float64)
        expected[:r, :64] = product + (expected[:r, :64] if acc else 0)
        _tile_product(acc, r, c, np.ascontiguousarray(a), b, a_row, a_k, K)
        np.testing.assert_allclose(c, expected, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("N,OH,OW,C,O,KH,dh", [(2, 5, 7, 8, 64, 3, 1), (3, 4, 3, 5, 128, 2, 2), (1, 1, 1, 3, 64, 1, 1),
                                               (2, 8, 8, 16, 64, 3, 1)])
def test_strip_tiles_match_einsum(N, OH, OW, C, O, KH, dh):
    """The tiled forward and weight gradient against the formulas, positions not a multiple of the tile's 6 rows."""
    rng = np.random.default_rng(OH * OW + O)
    K = 3 * C
    Hs = OH + dh * (KH - 1)
    strips = rng.standard_normal((N, Hs, OW, K)).astype(np.float32)
    taps = rng.standard_normal((KH, K, O)).astype(np.float32)
    dy = rng.standard_normal((N, OH, OW, O)).astype(np.float32)
    blocks = [strips[:, kh * dh:kh * dh + OH].astype(np.float64) for kh in range(KH)]
    out = np.full((N, OH, OW, O), np.nan, np.float32)
    strips_module._strip_conv_tiles(out, strips, taps, dh)
    expected = sum(np.einsum("nhwk,ko->nhwo", blocks[kh], taps[kh]) for kh in range(KH))
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-3)
    partial = np.full((N, KH, K, O), np.nan, np.float32)
    strips_module._strip_weight_grad_tiles(partial, strips, dy, dh)
    for n in range(N):
        for kh in range(KH):
            np.testing.assert_allclose(partial[n, kh], blocks[kh][n].reshape(-1, K).T @ dy[n].reshape(-1, O),
                                       rtol=1e-4, atol=1e-3)
    dtaps = np.ones((KH, K, O), np.float32)
    strips_module.sum_partials(dtaps, partial, True)
    np.testing.assert_allclose(dtaps, 1 + partial.astype(np.float64).sum(axis=0), rtol=1e-5, atol=1e-4)


def test_strips_take_the_tiles_only_where_they_pay(monkeypatch):
    monkeypatch.setattr(register_tile, "_tiles_pay", lambda: True)
    assert register_tile.tiles_apply(np.dtype(np.float32), 128)
    assert not register_tile.tiles_apply(np.dtype(np.float64), 128)  # the tiles hold float32
    assert not register_tile.tiles_apply(np.dtype(np.float32), 96)  # 64 columns per tile
    monkeypatch.setattr(register_tile, "_tiles_pay", lambda: False)
    assert not register_tile.tiles_apply(np.dtype(np.float32), 128)


def test_tiled_and_blas_strips_agree_on_a_resnet_layer(monkeypatch, no_tiled_conv):
    """ResNet-18's layer2 shape through the op, tiles forced on and off: the same forward, dX and dW to float32 rounding."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 128, 16, 16)).astype(np.float32)
    w = (rng.standard_normal((128, 128, 3, 3)) * 0.03).astype(np.float32)
    g = rng.standard_normal((3, 128, 16, 16)).astype(np.float32)
    results = []
    for pays in (True, False):
        monkeypatch.setattr(register_tile, "_tiles_pay", lambda pays=pays: pays)
        out, dx, dw = conv_and_grads(x, w, g)
        results.append((out.numpy(), dx, dw))
    assert_plans_agree(*results, x, w)


@pytest.mark.parametrize("first,env,expected", [("minigrad", None, "16"), ("numpy", None, "0"), ("minigrad", "9", "9")])
def test_openblas_workers_sleep_soon_when_minigrad_loads_numpy(first, env, expected):
    """minigrad sets $OPENBLAS_THREAD_TIMEOUT while it imports NumPy (unless set, or NumPy came first), then restores it."""
    code = (f"import {first}, minigrad, os; from minigrad.backends.cpu.threads import openblas_thread_timeout as t; "
            "print(t(), os.environ.get('OPENBLAS_THREAD_TIMEOUT'))")
    environ = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
    if env is not None:
        environ["OPENBLAS_THREAD_TIMEOUT"] = env
    shown = subprocess.run([sys.executable, "-c", code], env=environ, capture_output=True, text=True, check=True)
    timeout, variable = shown.stdout.split()
    assert timeout == expected
    assert variable == (env if env is not None else "None")
