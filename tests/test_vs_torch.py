"""A handful of ops and their gradients against PyTorch (skipped when torch is not installed)."""

import numpy as np
import pytest

import minigrad as mg

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(0)


def _compare(mg_fn, torch_fn, *arrays, rtol=1e-10, atol=1e-12):
    """Same values and same input gradients (for a random output gradient) in float64."""
    ours = [mg.Tensor(a.copy(), requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a.copy(), requires_grad=True) for a in arrays]
    out_m, out_t = mg_fn(*ours), torch_fn(*theirs)
    np.testing.assert_allclose(out_m.numpy(), out_t.detach().numpy(), rtol=rtol, atol=atol)
    seed = RNG.standard_normal(out_m.shape)
    out_m.backward(gradient=seed)
    out_t.backward(torch.tensor(seed))
    for m, t in zip(ours, theirs):
        np.testing.assert_allclose(m.grad.numpy(), t.grad.numpy(), rtol=rtol, atol=atol)


def test_broadcast_arithmetic():
    a, b = RNG.standard_normal((3, 1, 4)), RNG.uniform(0.5, 2, (2, 1))
    _compare(lambda x, y: (x * y - x / y) ** 2 + mg.maximum(x, y),
             lambda x, y: (x * y - x / y) ** 2 + torch.maximum(x, y), a, b)


def test_activations():
    x = RNG.standard_normal((4, 5))
    _compare(lambda t: mg.sigmoid(t) + mg.tanh(t) * mg.leaky_relu(t, 0.2) + mg.clamp(t, -0.5, 0.5),
             lambda t: torch.sigmoid(t) + torch.tanh(t) * torch.nn.functional.leaky_relu(t, 0.2)
             + torch.clamp(t, -0.5, 0.5), x)


def test_reductions_and_softmax():
    x = RNG.standard_normal((3, 4, 5))
    _compare(lambda t: mg.softmax(t, 1) * mg.var(t, (0, 2), keepdim=True) + mg.max(t, 2, keepdim=True)[0],
             lambda t: torch.softmax(t, 1) * torch.var(t, (0, 2), keepdim=True) + torch.max(t, 2, keepdim=True)[0],
             x)
    _compare(lambda t: mg.log_softmax(t, -1).mean(0), lambda t: torch.log_softmax(t, -1).mean(0), x)


def test_matmul_batched_and_linear():
    a, b = RNG.standard_normal((2, 1, 3, 4)), RNG.standard_normal((5, 4, 2))
    _compare(mg.matmul, torch.matmul, a, b)
    x, w, bias = RNG.standard_normal((6, 4)), RNG.standard_normal((3, 4)), RNG.standard_normal(3)
    _compare(mg.linear, torch.nn.functional.linear, x, w, bias)


def test_einsum_and_shape_ops():
    a, b = RNG.standard_normal((2, 3, 4)), RNG.standard_normal((4, 3))
    _compare(lambda x, y: mg.einsum("bij,jk->bki", x, y), lambda x, y: torch.einsum("bij,jk->bki", x, y), a, b)
    _compare(lambda x: mg.pad(x.permute(0, 2, 1)[:, 1:, ::2], (1, 1, 0, 2), mode="reflect"),
             lambda x: torch.nn.functional.pad(x.permute(0, 2, 1)[:, 1:, ::2], (1, 1, 0, 2), mode="reflect"), a)
    idx = np.array([0, 2, 2, 1])
    _compare(lambda x: mg.cat([x[:, idx], x.flatten(1)[:, None, :4]], 1),
             lambda x: torch.cat([x[:, torch.tensor(idx)], x.flatten(1)[:, None, :4]], 1), a)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_segmentation(reduction):
    x = RNG.standard_normal((2, 4, 3, 3))
    t = RNG.integers(0, 4, (2, 3, 3))
    t[0, 0, 0] = 255
    w = RNG.uniform(0.5, 2, 4)
    kwargs = dict(reduction=reduction, label_smoothing=0.1, ignore_index=255)
    _compare(lambda v: mg.cross_entropy(v, t, weight=w, **kwargs),
             lambda v: torch.nn.functional.cross_entropy(v, torch.tensor(t), weight=torch.tensor(w), **kwargs), x)


def test_bce_with_logits():
    x, y = RNG.standard_normal((4, 3)) * 3, RNG.uniform(0, 1, (4, 3))
    pw = RNG.uniform(0.5, 3, 3)
    _compare(lambda a, b: mg.binary_cross_entropy_with_logits(a, b, pos_weight=pw),
             lambda a, b: torch.nn.functional.binary_cross_entropy_with_logits(a, b, pos_weight=torch.tensor(pw)),
             x, y)
