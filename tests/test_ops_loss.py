"""Losses against explicit-loop references of PyTorch's documented formulas, with finite-difference gradients."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import arrays, check_grads

import minigrad as mg


def ce_reference(x, t, weight=None, reduction="mean", smoothing=0.0, ignore_index=-100):
    """Loop over every predicted element: PyTorch's cross-entropy formula with weights and label smoothing."""
    n, c = x.shape[:2]
    w = np.ones(c) if weight is None else weight
    spatial = list(np.ndindex(*x.shape[2:]))
    losses = np.zeros((n,) + x.shape[2:])
    denom = 0.0
    for i in range(n):
        for s in spatial:
            scores = np.array([x[(i, k) + s] for k in range(c)])
            logp = scores - np.log(np.sum(np.exp(scores - scores.max()))) - scores.max()
            target = t[(i,) + s]
            if target == ignore_index:
                continue
            nll = -w[target] * logp[target]
            smooth = -sum(w[k] * logp[k] for k in range(c))
            losses[(i,) + s] = (1 - smoothing) * nll + smoothing / c * smooth
            denom += w[target]
    if reduction == "none":
        return losses
    return losses.sum() / denom if reduction == "mean" else losses.sum()


@st.composite
def ce_case(draw):
    n, c = draw(st.integers(1, 4)), draw(st.integers(2, 5))
    spatial = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    x = draw(arrays((n, c) + spatial, low=-3, high=3))
    rng = np.random.default_rng(draw(st.integers(0, 1000)))
    t = rng.integers(0, c, size=(n,) + spatial)
    ignore = draw(st.sampled_from([-100, 1]))
    if ignore == 1 and np.all(t == 1):
        t.flat[0] = 0
    weight = rng.uniform(0.5, 2.0, size=c) if draw(st.booleans()) else None
    smoothing = draw(st.sampled_from([0.0, 0.1]))
    reduction = draw(st.sampled_from(["mean", "sum", "none"]))
    return x, t, weight, reduction, smoothing, ignore


@given(case=ce_case())
def test_cross_entropy_matches_reference_and_gradcheck(case):
    x, t, weight, reduction, smoothing, ignore = case
    kwargs = dict(weight=weight, reduction=reduction, label_smoothing=smoothing, ignore_index=ignore)
    out = mg.cross_entropy(mg.Tensor(x), t, **kwargs)
    np.testing.assert_allclose(out.numpy(), ce_reference(x, t, weight, reduction, smoothing, ignore), rtol=1e-10)
    check_grads(lambda v: mg.cross_entropy(v, t, **kwargs), x)


@given(case=ce_case())
def test_nll_loss_of_log_softmax_equals_cross_entropy(case):
    x, t, weight, reduction, _, ignore = case
    kwargs = dict(weight=weight, reduction=reduction, ignore_index=ignore)
    out = mg.nll_loss(mg.log_softmax(mg.Tensor(x), 1), t, **kwargs)
    np.testing.assert_allclose(out.numpy(), ce_reference(x, t, weight, reduction, 0.0, ignore), rtol=1e-10)
    check_grads(lambda v: mg.nll_loss(v, t, **kwargs), x)


def test_cross_entropy_float32_stable_and_unbatched():
    x = mg.Tensor(np.array([[1000.0, -1000.0, 0.0]], dtype=np.float32), requires_grad=True)
    loss = mg.cross_entropy(x, np.array([1]))
    assert loss.dtype == np.float32 and np.isfinite(loss.item())
    np.testing.assert_allclose(loss.item(), 2000.0)
    loss.backward()
    np.testing.assert_allclose(x.grad.numpy(), [[1.0, -1.0, 0.0]], atol=1e-6)
    single = mg.cross_entropy(mg.Tensor(np.array([0.5, 1.5, -1.0])), np.array(1))
    np.testing.assert_allclose(single.item(), ce_reference(np.array([[0.5, 1.5, -1.0]]), np.array([1])))


def test_cross_entropy_errors():
    x = mg.randn(4, 10)
    with pytest.raises(ValueError, match="cross_entropy: target value 12 out of range for 10 classes"):
        mg.cross_entropy(x, np.array([0, 12, 1, 2]))
    with pytest.raises(ValueError, match=r"cross_entropy: input \(4, 10\) needs a target of shape \(4,\), got \(3,\)"):
        mg.cross_entropy(x, np.array([0, 1, 2]))
    with pytest.raises(TypeError, match="cross_entropy: target must hold integer class indices"):
        mg.cross_entropy(x, np.zeros(4))
    with pytest.raises(ValueError, match="cross_entropy: reduction must be"):
        mg.cross_entropy(x, np.zeros(4, dtype=int), reduction="avg")
    with pytest.raises(ValueError, match="cross_entropy: weight of shape"):
        mg.cross_entropy(x, np.zeros(4, dtype=int), weight=np.ones(3))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_regression_losses(reduction):
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    reduce = {"mean": np.mean, "sum": np.sum, "none": lambda v: v}[reduction]
    np.testing.assert_allclose(mg.mse_loss(mg.Tensor(a), mg.Tensor(b), reduction).numpy(), reduce((a - b) ** 2))
    np.testing.assert_allclose(mg.l1_loss(mg.Tensor(a), mg.Tensor(b), reduction).numpy(), reduce(np.abs(a - b)))
    check_grads(lambda x, y: mg.mse_loss(x, y, reduction), a, b)
    check_grads(lambda x, y: mg.l1_loss(x, y, reduction), a, b)


@pytest.mark.parametrize("pos_weight", [None, 2.5])
def test_binary_cross_entropy_with_logits(pos_weight):
    rng = np.random.default_rng(5)
    x, y, w = rng.standard_normal((4, 3)) * 3, rng.uniform(0, 1, (4, 3)), rng.uniform(0.5, 1.5, 3)
    p = 1 / (1 + np.exp(-x))
    pw = 1.0 if pos_weight is None else pos_weight
    ref = np.mean(-w * (pw * y * np.log(p) + (1 - y) * np.log(1 - p)))
    out = mg.binary_cross_entropy_with_logits(mg.Tensor(x), mg.Tensor(y), weight=w, pos_weight=pos_weight)
    np.testing.assert_allclose(out.item(), ref, rtol=1e-10)
    check_grads(lambda a, b: mg.binary_cross_entropy_with_logits(a, b, weight=w, pos_weight=pos_weight), x, y)
    big = mg.binary_cross_entropy_with_logits(mg.Tensor(np.array([200.0, -200.0], dtype=np.float32)),
                                              mg.Tensor(np.array([0.0, 1.0], dtype=np.float32)), reduction="none")
    np.testing.assert_allclose(big.numpy(), [200.0, 200.0])


def test_binary_cross_entropy():
    rng = np.random.default_rng(6)
    p, y = rng.uniform(0.05, 0.95, 5), rng.uniform(0, 1, 5)
    ref = np.sum(-(y * np.log(p) + (1 - y) * np.log(1 - p)))
    np.testing.assert_allclose(mg.binary_cross_entropy(mg.Tensor(p), mg.Tensor(y), reduction="sum").item(), ref)
    check_grads(lambda a, b: mg.binary_cross_entropy(a, b), p, y)
    with pytest.raises(ValueError, match="binary_cross_entropy: input probabilities"):
        mg.binary_cross_entropy(mg.Tensor([1.5]), mg.Tensor([1.0]))
    with pytest.raises(ValueError, match=r"mse_loss: input \(2,\) and target \(3,\)"):
        mg.mse_loss(mg.ones(2), mg.ones(3))
