"""Reductions and the softmax family against NumPy, with finite-difference gradients."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import arrays, check_grads, shapes

import minigrad as mg


@st.composite
def array_and_dim(draw, min_dims=1, allow_tuple=True, allow_none=True):
    shape = draw(shapes(min_dims=min_dims, max_dims=4))
    x = draw(arrays(shape))
    choices = [st.integers(-len(shape), len(shape) - 1)] if shape else [st.none()]
    if allow_none:
        choices.append(st.none())
    if allow_tuple and shape:
        choices.append(st.lists(st.integers(0, len(shape) - 1), min_size=1, max_size=len(shape), unique=True)
                       .map(tuple))
    dim = draw(st.one_of(*choices))
    return x, dim, draw(st.booleans())


@pytest.mark.parametrize("name", ["sum", "mean"])
@given(case=array_and_dim(min_dims=0))
def test_sum_mean(name, case):
    x, dim, keepdim = case
    out = getattr(mg, name)(mg.Tensor(x), dim, keepdim)
    np.testing.assert_allclose(out.numpy(), getattr(np, name)(x, axis=dim, keepdims=keepdim), rtol=1e-12)
    check_grads(lambda t: getattr(mg, name)(t, dim, keepdim), x)


@pytest.mark.parametrize("unbiased", [True, False])
@given(case=array_and_dim())
def test_var_and_std(unbiased, case):
    x, dim, keepdim = case
    axes = tuple(range(x.ndim)) if dim is None else dim
    count = int(np.prod(np.array(x.shape)[list(np.atleast_1d(axes))]))
    if unbiased and count < 2:
        return
    ref = np.var(x, axis=dim, keepdims=keepdim, ddof=int(unbiased))
    np.testing.assert_allclose(mg.var(mg.Tensor(x), dim, keepdim=keepdim, unbiased=unbiased).numpy(), ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(mg.std(mg.Tensor(x), dim, keepdim=keepdim, unbiased=unbiased).numpy(), np.sqrt(ref), rtol=1e-10)
    check_grads(lambda t: mg.var(t, dim, keepdim=keepdim, unbiased=unbiased), x)


def _distinct(x):
    # Ties make max's gradient a convention, not a derivative: spread the values apart.
    order = np.argsort(x, axis=None).argsort().reshape(x.shape)
    return (order * 0.1 + 0.01 * x).astype(x.dtype)


@pytest.mark.parametrize("name", ["max", "min"])
@given(case=array_and_dim(allow_tuple=False))
def test_max_min(name, case):
    x, dim, keepdim = case
    x[...] = _distinct(x)
    t = mg.Tensor(x)
    if dim is None:
        out = getattr(mg, name)(t)
        np.testing.assert_array_equal(out.numpy(), getattr(np, name)(x))
        check_grads(lambda v: getattr(mg, name)(v), x)
        return
    values, indices = getattr(mg, name)(t, dim, keepdim)
    np.testing.assert_array_equal(values.numpy(), getattr(np, name)(x, axis=dim, keepdims=keepdim))
    ref_idx = getattr(np, "arg" + name)(x, axis=dim, keepdims=keepdim)
    np.testing.assert_array_equal(indices.numpy(), ref_idx)
    assert indices.dtype == np.int64 and not indices.requires_grad
    check_grads(lambda v: getattr(mg, name)(v, dim, keepdim)[0], x)
    np.testing.assert_array_equal(getattr(mg, "arg" + name)(t, dim, keepdim).numpy(), ref_idx)


def test_max_all_ties_share_gradient_and_max_of_two_tensors():
    x = mg.Tensor(np.array([1.0, 3.0, 3.0]), requires_grad=True)
    mg.max(x).backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.5, 0.5])
    np.testing.assert_array_equal(mg.max(mg.Tensor([1.0, 5.0]), mg.Tensor([2.0, 4.0])).numpy(), [2.0, 5.0])
    assert mg.argmax(mg.Tensor([[1.0, 9.0], [7.0, 2.0]])).item() == 1


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@given(case=array_and_dim(allow_tuple=False, allow_none=False))
def test_softmax_family(name, case):
    x, dim, _ = case
    e = np.exp(x - x.max(axis=dim, keepdims=True))
    ref = e / e.sum(axis=dim, keepdims=True)
    ref = ref if name == "softmax" else np.log(ref)
    np.testing.assert_allclose(getattr(mg, name)(mg.Tensor(x), dim).numpy(), ref, rtol=1e-10, atol=1e-14)
    check_grads(lambda t: getattr(mg, name)(t, dim), x)


@given(case=array_and_dim())
def test_logsumexp(case):
    x, dim, keepdim = case
    ref = np.log(np.sum(np.exp(x), axis=dim, keepdims=keepdim))
    np.testing.assert_allclose(mg.logsumexp(mg.Tensor(x), dim, keepdim).numpy(), ref, rtol=1e-10)
    check_grads(lambda t: mg.logsumexp(t, dim, keepdim), x)


def test_softmax_is_stable_for_large_logits():
    x = mg.Tensor(np.array([[1000.0, 0.0, -1000.0]], dtype=np.float32))
    with np.errstate(over="raise"):
        np.testing.assert_allclose(mg.softmax(x, 1).numpy(), [[1.0, 0.0, 0.0]])
        np.testing.assert_allclose(mg.log_softmax(x, 1).numpy(), [[0.0, -1000.0, -2000.0]])


def test_reductions_keep_float32():
    x = mg.randn(3, 4)
    for out in (x.sum(), x.mean(1), x.var(0), mg.max(x), x.softmax(1), mg.logsumexp(x, 1)):
        assert out.dtype == np.float32


def test_bad_dims():
    x = mg.ones(2, 3)
    with pytest.raises(ValueError, match=r"sum: dim 2 out of range for a tensor of 2 dimensions"):
        mg.sum(x, 2)
    with pytest.raises(ValueError, match="softmax: dim -3 out of range"):
        mg.softmax(x, -3)
    with pytest.raises(TypeError, match="mean: dim must be an integer"):
        mg.mean(x, 1.5)
    with pytest.raises(ValueError, match="max: reduction over an empty tensor"):
        mg.max(mg.zeros(0))
