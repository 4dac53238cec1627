"""``CudaArray`` speaks NumPy: operators, ufuncs, reductions, indexing and shape functions
give NumPy's values, shapes and dtypes (NumPy itself is the reference)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from test_cuda_setup import needs_cuda

from minigrad.backends import get_backend

pytestmark = needs_cuda
FEW = settings(max_examples=5)


@pytest.fixture(scope="module")
def gpu():
    return get_backend("cuda")


def check(got, expected, rtol=1e-6):
    host = got.get() if hasattr(got, "get") else np.asarray(got)
    expected = np.asarray(expected)
    assert host.shape == expected.shape, (host.shape, expected.shape)
    assert host.dtype == expected.dtype, (host.dtype, expected.dtype)
    np.testing.assert_allclose(host, expected, rtol=rtol, atol=1e-6, equal_nan=True)


values = st.floats(-5, 5, width=32)


@FEW
@given(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3), st.data())
def test_binary_ops_broadcast_like_numpy(gpu, shapes, data):
    a = data.draw(hnp.arrays(np.float32, shapes.input_shapes[0], elements=values))
    b = data.draw(hnp.arrays(np.float32, shapes.input_shapes[1], elements=st.floats(0.5, 5, width=32)))
    da, db = gpu.from_numpy(a), gpu.from_numpy(b)
    check(da + db, a + b)
    check(da - db, a - b)
    check(da * db, a * b)
    check(da / db, a / b)
    check(np.maximum(da, db), np.maximum(a, b))
    check(da > db, a > b)
    check(np.where(da > db, da, db), np.where(a > b, a, b))


def test_scalars_keep_numpy_dtypes(gpu):
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    i = np.arange(6).reshape(2, 3)
    da, di = gpu.from_numpy(a), gpu.from_numpy(i)
    check(da * 0.5, a * 0.5)
    check(2.0 - da, 2.0 - a)
    check(di / 2, i / 2)
    check(di + 1, i + 1)
    check(da ** 2, a ** 2)
    check(di % 4, i % 4)
    check((di - 3) % 4, (i - 3) % 4)
    check(di // 4, i // 4)
    check(da % 1.5, a % np.float32(1.5))
    check(-da, -a)
    check(1 / (da + 1), 1 / (a + 1))
    check(da.astype(np.float64), a.astype(np.float64))
    check((da > 2).astype(np.float32), (a > 2).astype(np.float32))


def test_unary_ufuncs_match_numpy(gpu):
    a = np.linspace(-3, 3, 12).astype(np.float32).reshape(3, 4)
    da = gpu.from_numpy(a)
    for f in (np.exp, np.tanh, np.abs, np.sign, np.negative, np.floor):
        check(f(da), f(a))
    pos = np.abs(a) + 0.1
    check(np.log(gpu.from_numpy(pos)), np.log(pos))
    check(np.sqrt(gpu.from_numpy(pos)), np.sqrt(pos))
    check(np.clip(da, -1, 2), np.clip(a, -1, 2))
    check(np.isfinite(gpu.from_numpy(np.array([1, np.inf, np.nan], np.float32))), [True, False, False])


@FEW
@given(hnp.arrays(np.float32, hnp.array_shapes(min_dims=1, max_dims=3, max_side=4), elements=values), st.data())
def test_reductions_match_numpy(gpu, a, data):
    axis = data.draw(st.none() | st.integers(0, a.ndim - 1))
    keep = data.draw(st.booleans())
    da = gpu.from_numpy(a)
    check(da.sum(axis=axis, keepdims=keep), a.sum(axis=axis, keepdims=keep), rtol=1e-5)
    check(da.mean(axis=axis, keepdims=keep), a.mean(axis=axis, keepdims=keep), rtol=1e-5)
    check(da.max(axis=axis, keepdims=keep), a.max(axis=axis, keepdims=keep))
    check(np.min(da, axis=axis, keepdims=keep), np.min(a, axis=axis, keepdims=keep))
    check(np.argmax(da, axis=axis), np.argmax(a, axis=axis))


def test_reductions_over_several_axes_nan_and_bool(gpu):
    a = np.arange(24, dtype=np.float64).reshape(2, 3, 4)
    check(gpu.from_numpy(a).sum(axis=(0, 2)), a.sum(axis=(0, 2)))
    check(gpu.from_numpy(a).sum(axis=(0, 2), keepdims=True), a.sum(axis=(0, 2), keepdims=True))
    n = np.array([[1.0, np.nan, 3.0], [2.0, 1.0, 0.0]])
    check(gpu.from_numpy(n).max(axis=1), n.max(axis=1))
    check(gpu.from_numpy(n).argmax(axis=1), n.argmax(axis=1))
    b = a > 10
    check(gpu.from_numpy(b).sum(), b.sum())
    check(gpu.from_numpy(b).any(axis=0), b.any(axis=0))
    check(gpu.from_numpy(b).all(axis=2), b.all(axis=2))


def test_matmul_shapes_like_numpy(gpu):
    r = np.random.default_rng(0)
    for sa, sb in [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)), ((1, 2, 3, 4), (2, 4, 2))]:
        a, b = r.standard_normal(sa), r.standard_normal(sb)
        check(gpu.from_numpy(a) @ gpu.from_numpy(b), a @ b, rtol=1e-10)
        check(np.matmul(gpu.from_numpy(a), gpu.from_numpy(b)), np.matmul(a, b), rtol=1e-10)


def test_shape_functions_match_numpy(gpu):
    a = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    da = gpu.from_numpy(a)
    check(da.reshape(4, -1), a.reshape(4, -1))
    check(da.transpose(2, 0, 1), a.transpose(2, 0, 1))
    check(da.T, a.T)
    check(np.moveaxis(da, 1, -1), np.moveaxis(a, 1, -1))
    check(np.swapaxes(da, 0, 2), np.swapaxes(a, 0, 2))
    check(np.expand_dims(da, 1), np.expand_dims(a, 1))
    check(np.broadcast_to(gpu.from_numpy(a[:1]), (3, 3, 4)), np.broadcast_to(a[:1], (3, 3, 4)))
    check(np.concatenate([da, da * 2], axis=1), np.concatenate([a, a * 2], axis=1))
    check(np.stack([da, da], axis=-1), np.stack([a, a], axis=-1))
    check(np.pad(da, ((0, 0), (1, 2), (0, 1)), constant_values=7), np.pad(a, ((0, 0), (1, 2), (0, 1)), constant_values=7))
    check(np.zeros_like(da), np.zeros_like(a))
    check(np.ones_like(da, dtype=np.int64), np.ones_like(a, dtype=np.int64))
    with pytest.raises(ValueError, match="reshape: cannot reshape array of size 24 into shape"):
        da.reshape(5, 5)
    with pytest.raises(ValueError, match=r"add: operands of shapes \(2, 3, 4\) and \(3,\) cannot be broadcast"):
        da + gpu.from_numpy(np.ones(3, np.float32))


def test_indexing_matches_numpy(gpu):
    a = np.arange(60, dtype=np.float32).reshape(3, 4, 5)
    da = gpu.from_numpy(a)
    for key in [1, (slice(None), 2), (Ellipsis, slice(None, None, -2)), (None, 0, slice(1, 3)), (-1, -2, -3)]:
        check(da[key], a[key])
    rows, cols = np.array([0, 2, 2]), np.array([3, 0, 1])
    check(da[rows], a[rows])
    check(da[rows, cols], a[rows, cols])
    check(da[gpu.from_numpy(rows), gpu.from_numpy(cols - 4)], a[rows, cols - 4])
    b = a.copy()
    db = gpu.from_numpy(b)
    b[1, :, ::2] = -1
    db[1, :, ::2] = -1
    b[rows, cols] += 100
    db[rows, cols] += 100
    check(db, b)
    c = np.zeros((4, 2))
    dc = gpu.from_numpy(c)
    np.add.at(c, np.array([0, 0, 3]), np.ones((3, 2)))
    np.add.at(dc, np.array([0, 0, 3]), gpu.from_numpy(np.ones((3, 2))))
    check(dc, c)


def test_in_place_ops_and_out_arguments_write_through_reshape_views(gpu):
    a = np.arange(6, dtype=np.float32)
    da = gpu.from_numpy(a)
    view = da.reshape(2, 3)
    view += 1
    da *= 2
    np.negative(da, out=da)
    check(da, -(a + 1) * 2)
    out = gpu.empty((2, 3), np.float32)
    np.add(view, gpu.from_numpy(np.ones(3, np.float32)), out=out)
    check(out, (-(a + 1) * 2).reshape(2, 3) + 1)


def test_implicit_host_conversion_and_unsupported_functions_are_loud(gpu):
    da = gpu.from_numpy(np.ones(3))
    with pytest.raises(TypeError, match="implicit conversion to a NumPy array"):
        np.asarray(da)
    with pytest.raises(TypeError, match=r"numpy.einsum: not supported on the GPU"):
        np.einsum("i->", da)
    with pytest.raises(TypeError, match=r"numpy.arctan2: not supported on the GPU"):
        np.arctan2(da, da)
    assert float(da.sum()) == 3.0 and gpu.to_numpy(da).tolist() == [1.0, 1.0, 1.0]


def test_contiguous_indexing_is_a_view_like_numpy(gpu):
    a = np.zeros((2, 3, 4), np.float32)
    da = gpu.from_numpy(a)
    np.matmul(gpu.from_numpy(np.ones((3, 2), np.float32)), gpu.from_numpy(np.ones((2, 4), np.float32)), out=da[1])
    da[0, 1:][...] = 5  # a[0, 1:] is contiguous: a view
    a[1] = 2
    a[0, 1:] = 5
    check(da, a)
    strided = da[:, 0]  # not contiguous: a copy
    strided += 1
    check(da, a)


def test_along_axis_indexing_and_split_match_numpy(gpu):
    r = np.random.default_rng(3)
    a = r.standard_normal((3, 4, 5)).astype(np.float32)
    for axis in (0, 1, 2):
        idx = np.expand_dims(a.argmax(axis=axis), axis)
        check(np.take_along_axis(gpu.from_numpy(a), gpu.from_numpy(idx), axis), np.take_along_axis(a, idx, axis))
        out, d_out = np.zeros_like(a), gpu.zeros(a.shape, np.float32)
        vals = np.take_along_axis(a, idx, axis) * 2
        np.put_along_axis(out, idx, vals, axis)
        np.put_along_axis(d_out, gpu.from_numpy(idx), gpu.from_numpy(vals), axis)
        check(d_out, out)
    for got, want in zip(np.split(gpu.from_numpy(a), [1, 3], axis=1), np.split(a, [1, 3], axis=1)):
        check(got, want)
