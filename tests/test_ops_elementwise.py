"""Elementwise ops: forward against NumPy, backward against finite differences, dtype rules, errors."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import arrays, away_from, broadcast_pair, check_grads, shapes

import minigrad as mg

BINARY = {
    "add": (mg.add, np.add),
    "sub": (mg.sub, np.subtract),
    "mul": (mg.mul, np.multiply),
    "div": (mg.div, np.divide),
    "maximum": (mg.maximum, np.maximum),
    "minimum": (mg.minimum, np.minimum),
}


@pytest.mark.parametrize("name", sorted(BINARY))
@given(data=st.data())
def test_binary_forward_and_grad_broadcast(name, data):
    op, ref = BINARY[name]
    sa, sb = data.draw(broadcast_pair())
    a = data.draw(arrays(sa))
    b = data.draw(arrays(sb))
    if name == "div":
        b = np.where(np.abs(b) < 0.5, 0.5 + np.abs(b), b)
    if name in ("maximum", "minimum"):
        # Values on two interleaved grids differ by at least 0.1: no tie for the finite difference to straddle.
        a[...] = np.round(a * 5) / 5 + 0.05
        b[...] = np.round(b * 5) / 5 - 0.05
    np.testing.assert_allclose(op(mg.Tensor(a), mg.Tensor(b)).numpy(), ref(a, b), rtol=1e-12)
    check_grads(op, a, b)


@given(data=st.data())
def test_pow_forward_and_grad_in_base_and_exponent(data):
    sa, sb = data.draw(broadcast_pair())
    a = data.draw(arrays(sa, low=0.5, high=2.0))
    b = data.draw(arrays(sb, low=-1.5, high=1.5))
    np.testing.assert_allclose(mg.pow(mg.Tensor(a), mg.Tensor(b)).numpy(), a ** b, rtol=1e-12)
    check_grads(mg.pow, a, b)


UNARY = {
    "neg": (mg.neg, np.negative, (-2, 2), ()),
    "abs": (mg.abs, np.abs, (-2, 2), (0.0,)),
    "exp": (mg.exp, np.exp, (-2, 2), ()),
    "log": (mg.log, np.log, (0.2, 3), ()),
    "sqrt": (mg.sqrt, np.sqrt, (0.2, 3), ()),
    "relu": (mg.relu, lambda x: np.where(x > 0, x, 0), (-2, 2), (0.0,)),
    "leaky_relu": (lambda x: mg.leaky_relu(x, 0.1), lambda x: np.where(x > 0, x, 0.1 * x), (-2, 2), (0.0,)),
    "sigmoid": (mg.sigmoid, lambda x: 1 / (1 + np.exp(-x)), (-4, 4), ()),
    "tanh": (mg.tanh, np.tanh, (-3, 3), ()),
    "clamp": (lambda x: mg.clamp(x, -0.5, 0.7), lambda x: np.clip(x, -0.5, 0.7), (-2, 2), (-0.5, 0.7)),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@given(data=st.data())
def test_unary_forward_and_grad(name, data):
    op, ref, (lo, hi), kinks = UNARY[name]
    x = data.draw(arrays(data.draw(shapes()), low=lo, high=hi))
    if kinks:
        # Finite differences are meaningless at a kink; move values away from it, keeping the view.
        x[...] = away_from(x, kinks)
    np.testing.assert_allclose(op(mg.Tensor(x)).numpy(), ref(x), rtol=1e-12, atol=1e-15)
    check_grads(op, x)


def test_relu_and_abs_gradient_at_zero_is_zero():
    x = mg.Tensor(np.zeros(3), requires_grad=True)
    (mg.relu(x) + mg.abs(x)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros(3))


def test_sigmoid_does_not_overflow():
    x = mg.Tensor(np.array([-1000.0, 0.0, 1000.0], dtype=np.float32))
    with np.errstate(all="raise"):
        np.testing.assert_allclose(mg.sigmoid(x).numpy(), [0.0, 0.5, 1.0])


def test_maximum_ties_split_gradient():
    a = mg.Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    b = mg.Tensor(np.array([1.0, 5.0, 0.0]), requires_grad=True)
    mg.maximum(a, b).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [0.5, 0.0, 1.0])
    np.testing.assert_array_equal(b.grad.numpy(), [0.5, 1.0, 0.0])


@given(data=st.data())
def test_where_forward_and_grad(data):
    sa, sb = data.draw(broadcast_pair())
    a, b = data.draw(arrays(sa)), data.draw(arrays(sb))
    cond = np.random.default_rng(0).random(np.broadcast_shapes(sa, sb)) > 0.5
    np.testing.assert_array_equal(mg.where(cond, mg.Tensor(a), mg.Tensor(b)).numpy(), np.where(cond, a, b))
    check_grads(lambda x, y: mg.where(cond, x, y), a, b)


@pytest.mark.parametrize("name, ref", [("lt", np.less), ("le", np.less_equal), ("gt", np.greater),
                                       ("ge", np.greater_equal), ("eq", np.equal), ("ne", np.not_equal)])
def test_comparisons_are_bool_and_not_differentiable(name, ref):
    a = np.array([[1.0, 2.0, 3.0]], dtype=np.float32)
    b = np.array([[2.0], [1.0]], dtype=np.float32)
    out = getattr(mg, name)(mg.Tensor(a, requires_grad=True), b)
    assert out.dtype == np.bool_ and not out.requires_grad
    np.testing.assert_array_equal(out.numpy(), ref(a, b))


def test_operator_overloads_match_functions():
    a = np.array([[1.0, -2.0], [3.0, 4.0]], dtype=np.float32)
    x = mg.Tensor(a)
    np.testing.assert_allclose((2 - x).numpy(), 2 - a)
    np.testing.assert_allclose((1 / x).numpy(), 1 / a)
    np.testing.assert_allclose((x ** 2).numpy(), a ** 2)
    np.testing.assert_allclose((2 ** x).numpy(), 2 ** a, rtol=1e-6)
    np.testing.assert_allclose((-x).numpy(), -a)
    np.testing.assert_array_equal((x > 0).numpy(), a > 0)


def test_float32_stays_float32_with_python_and_numpy_scalars():
    x = mg.Tensor(np.ones(3, dtype=np.float32))
    for out in (x * 0.5, x + np.float64(1.5), 2.0 / x, x - np.ones(3), x ** 2.0, mg.maximum(x, 0.3), x * True):
        assert out.dtype == np.float32


def test_integer_tensors_promote_like_pytorch():
    i = mg.Tensor(np.arange(3))
    assert (i + 1).dtype == np.int64
    assert (i * 0.5).dtype == np.float32
    assert (i / 2).dtype == np.float32
    assert (i + mg.Tensor(np.ones(3, dtype=np.float32))).dtype == np.float32
    assert (mg.Tensor(np.ones(3)) + mg.Tensor(np.ones(3, dtype=np.float32))).dtype == np.float64


def test_float64_preserved():
    x = mg.Tensor(np.ones((2, 2)), requires_grad=True)
    y = mg.sigmoid(x * 3).exp().relu()
    assert y.dtype == np.float64
    y.sum().backward()
    assert x.grad.dtype == np.float64


def test_broadcast_error_names_op_and_shapes():
    with pytest.raises(ValueError, match=r"add: shapes \(3, 4\) and \(5,\) cannot be broadcast"):
        mg.add(mg.ones(3, 4), mg.ones(5))
    with pytest.raises(ValueError, match=r"mul: shapes \(2,\) and \(3,\)"):
        mg.ones(2) * np.ones(3)


def test_bad_operand_types():
    with pytest.raises(TypeError, match="add"):
        mg.add(mg.ones(2), "a")
    with pytest.raises(ValueError, match="clamp"):
        mg.clamp(mg.ones(2))
    with pytest.raises(TypeError, match="where"):
        mg.where(np.ones(2), mg.ones(2), 0.0)


def test_dropout_statistics_mask_and_gradient():
    mg.manual_seed(3)
    x = mg.Tensor(np.ones((200, 100), dtype=np.float32), requires_grad=True)
    y = mg.dropout(x, p=0.3)
    kept = y.numpy() != 0
    assert abs(kept.mean() - 0.7) < 0.02
    np.testing.assert_allclose(y.numpy()[kept], 1 / 0.7, rtol=1e-6)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), kept / 0.7, rtol=1e-6)
    assert y.dtype == np.float32


def test_dropout_eval_identity_edges_and_seed():
    x = mg.randn(4, 5)
    assert mg.dropout(x, 0.5, training=False) is x
    assert np.all(mg.dropout(x, 1.0).numpy() == 0)
    np.testing.assert_array_equal(mg.dropout(x, 0.0).numpy(), x.numpy())
    mg.manual_seed(5)
    first = mg.dropout(x, 0.5).numpy()
    mg.manual_seed(5)
    np.testing.assert_array_equal(first, mg.dropout(x, 0.5).numpy())
    for p in (-0.1, 1.5):
        with pytest.raises(ValueError, match="dropout: probability p must be in"):
            mg.dropout(x, p)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (3, 7, 61, 67)])  # one thread; runs over the threads, a partial last one
def test_relu_kernels_against_loop_reference(dtype, shape):
    from minigrad.backends import cpu

    rng = np.random.default_rng(8)
    x = rng.standard_normal(shape).astype(dtype)
    x[0, 0, 0, :3] = [0.0, np.nan, -np.inf]
    x[-1, -1, -1, -3:] = [np.nan, 0.0, 1.0]
    g = rng.standard_normal(x.shape).astype(dtype)
    y, dx = np.empty_like(x), np.empty_like(x)
    cpu.relu_forward(y, x)
    cpu.relu_backward(dx, g, y)
    ref_y, ref_dx = np.empty_like(x), np.empty_like(x)
    flat_x, flat_g, flat_y, flat_dx = x.reshape(-1), g.reshape(-1), ref_y.reshape(-1), ref_dx.reshape(-1)
    for i in range(flat_x.size):
        flat_y[i] = flat_x[i] if (flat_x[i] > 0 or np.isnan(flat_x[i])) else 0
        # PyTorch's threshold_backward: the gradient passes where the output is NaN.
        flat_dx[i] = flat_g[i] if (flat_y[i] > 0 or np.isnan(flat_y[i])) else 0
    np.testing.assert_array_equal(y, ref_y)
    np.testing.assert_array_equal(dx, ref_dx)
    assert np.isnan(mg.relu(mg.Tensor(x)).numpy()[0, 0, 0, 1])


@pytest.mark.parametrize("layouts", [("last", "last"), ("nchw", "nchw"), ("last", "nchw")])
def test_add_keeps_a_shared_memory_format_and_matches_numpy(layouts):
    """Same-shape float additions run on the CPU's threaded kernel when both are stored alike (a residual add)."""
    from minigrad.backends import cpu

    rng = np.random.default_rng(3)

    def stored(layout):
        a = rng.standard_normal((3, 8, 41, 37)).astype(np.float32)  # 36 408 elements: over the threads
        return np.ascontiguousarray(a.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2) if layout == "last" else a

    a, b = stored(layouts[0]), stored(layouts[1])
    a[0, 0, 0, 0], b[-1, -1, -1, -1] = np.nan, np.inf
    out = (mg.Tensor(a) + mg.Tensor(b)).numpy()
    np.testing.assert_array_equal(out, a + b)
    if layouts == ("last", "last"):
        assert cpu.channels_last_view(out) is not None
    flat = np.full(5000, np.nan, np.float32)
    cpu.add_arrays(flat, np.arange(5000, dtype=np.float32), np.ones(5000, np.float32))
    np.testing.assert_array_equal(flat, np.arange(5000) + 1)
