"""matmul, linear and einsum against NumPy and explicit loops, with finite-difference gradients."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import arrays, check_grads

import minigrad as mg


@st.composite
def matmul_shapes(draw):
    n, k, m = draw(st.integers(1, 4)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
    batch = draw(st.lists(st.integers(1, 3), max_size=2))
    kind = draw(st.sampled_from(["vv", "mv", "vm", "mm", "batched"]))
    if kind == "vv":
        return (k,), (k,)
    if kind == "mv":
        return tuple(batch) + (n, k), (k,)
    if kind == "vm":
        return (k,), tuple(batch) + (k, m)
    if kind == "mm":
        return (n, k), (k, m)
    # Batched with broadcasting: the second operand drops a leading dim or has size-1 batch dims.
    other = [1 if draw(st.booleans()) else b for b in batch][draw(st.integers(0, len(batch))):]
    return tuple(batch) + (n, k), tuple(other) + (k, m)


@given(data=st.data())
def test_matmul_forward_and_grad(data):
    sa, sb = data.draw(matmul_shapes())
    a, b = data.draw(arrays(sa)), data.draw(arrays(sb))
    np.testing.assert_allclose(mg.matmul(mg.Tensor(a), mg.Tensor(b)).numpy(), np.matmul(a, b), rtol=1e-12)
    check_grads(mg.matmul, a, b)


def test_matmul_against_loops_and_operator():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((4, 5))
    ref = np.zeros((2, 3, 5))
    for p in range(2):
        for i in range(3):
            for j in range(5):
                ref[p, i, j] = sum(a[p, i, k] * b[k, j] for k in range(4))
    np.testing.assert_allclose((mg.Tensor(a) @ mg.Tensor(b)).numpy(), ref, rtol=1e-12)
    np.testing.assert_allclose((a[0] @ mg.Tensor(b)).numpy(), ref[0], rtol=1e-12)


def test_matmul_errors():
    with pytest.raises(ValueError, match=r"^matmul: \(3, 4\) @ \(5, 2\): inner dimensions 4 and 5 differ$"):
        mg.matmul(mg.ones(3, 4), mg.ones(5, 2))
    with pytest.raises(ValueError, match=r"matmul: \(2, 3, 4\) @ \(3, 4, 2\): batch dimensions"):
        mg.matmul(mg.ones(2, 3, 4), mg.ones(3, 4, 2))
    with pytest.raises(ValueError, match="matmul: .* at least one dimension"):
        mg.matmul(mg.ones(()), mg.ones(3))


def test_matmul_keeps_float32():
    assert (mg.randn(2, 3) @ mg.randn(3, 2)).dtype == np.float32
    assert (mg.randn(2, 3) @ np.ones((3, 2))).dtype == np.float32


@pytest.mark.parametrize("lead", [(), (2,), (2, 3)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear(lead, bias):
    rng = np.random.default_rng(1)
    x, w, b = rng.standard_normal(lead + (4,)), rng.standard_normal((3, 4)), rng.standard_normal(3)
    ref = np.einsum("...i,oi->...o", x, w) + (b if bias else 0)
    out = mg.linear(mg.Tensor(x), mg.Tensor(w), mg.Tensor(b) if bias else None)
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-12)
    if bias:
        check_grads(mg.linear, x, w, b)
    else:
        check_grads(mg.linear, x, w)
    check_grads(lambda xx, ww: mg.linear(xx, ww.T.T), x, w.T.copy().T)


def test_linear_errors():
    with pytest.raises(ValueError, match=r"linear: input \(4, 3\) and weight \(5, 2\): in_features 3 and 2 differ"):
        mg.linear(mg.ones(4, 3), mg.ones(5, 2))
    with pytest.raises(ValueError, match="linear: bias shape"):
        mg.linear(mg.ones(4, 2), mg.ones(5, 2), mg.ones(4))


EINSUMS = [
    ("ij,jk->ik", [(2, 3), (3, 4)]),
    ("ij,jk", [(2, 3), (3, 4)]),  # implicit output "ik"
    ("nchw,oc->nohw", [(2, 3, 2, 2), (4, 3)]),
    ("bij,bjk->bik", [(2, 2, 3), (2, 3, 2)]),
    ("i,i->", [(5,), (5,)]),
    ("i,j->ij", [(3,), (4,)]),
    ("ij->", [(3, 4)]),
    ("ij->j", [(3, 4)]),
    ("ij->ji", [(3, 4)]),
    ("ij,j->i", [(3, 4), (4,)]),
    ("ijk,jl,lk->i", [(2, 3, 2), (3, 2), (2, 2)]),
    ("ii->i", [(3, 3)]),
    ("ii", [(3, 3)]),  # trace
    ("iij,j->i", [(2, 2, 3), (3,)]),
    ("ab,cd->", [(2, 3), (2, 2)]),
]


@pytest.mark.parametrize("spec, shapes", EINSUMS, ids=[e[0] for e in EINSUMS])
def test_einsum_forward_and_grad(spec, shapes):
    rng = np.random.default_rng(2)
    ops = [rng.standard_normal(s) for s in shapes]
    np.testing.assert_allclose(mg.einsum(spec, *[mg.Tensor(o) for o in ops]).numpy(), np.einsum(spec, *ops),
                               rtol=1e-10, atol=1e-12)
    check_grads(lambda *ts: mg.einsum(spec, *ts), *ops)


def test_einsum_convolution_against_loops():
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((2, 3, 4)), rng.standard_normal((5, 3))
    ref = np.zeros((2, 5, 4))
    for n in range(2):
        for o in range(5):
            for p in range(4):
                ref[n, o, p] = sum(x[n, c, p] * w[o, c] for c in range(3))
    np.testing.assert_allclose(mg.einsum("ncp,oc->nop", mg.Tensor(x), mg.Tensor(w)).numpy(), ref, rtol=1e-12)
    np.testing.assert_allclose(mg.einsum("ncp,oc->nop", [mg.Tensor(x), mg.Tensor(w)]).numpy(), ref, rtol=1e-12)


def test_einsum_errors():
    a = mg.ones(2, 3)
    with pytest.raises(ValueError, match="einsum: subscripts 'ij,jk->ik' name 2 operands but 3 were given"):
        mg.einsum("ij,jk->ik", a, a, a)
    with pytest.raises(ValueError, match="einsum: index 'j' has size 3 and 2"):
        mg.einsum("ij,jk->ik", a, a)
    with pytest.raises(ValueError, match=r"einsum: operand 0 has shape \(2, 3\)"):
        mg.einsum("ijk->i", a)
    with pytest.raises(ValueError, match="einsum: output index 'z'"):
        mg.einsum("ij->z", a)
    with pytest.raises(ValueError, match=r"einsum: operand 0 of shape \(2, 3\) does not fit subscript '...ijk'"):
        mg.einsum("...ijk->i", a)
    with pytest.raises(ValueError, match="einsum: a '.' that is not part of an ellipsis"):
        mg.einsum("i.j->j", a)
