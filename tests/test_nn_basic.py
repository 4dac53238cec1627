"""nn basics: Linear, Bilinear, activations, Flatten/Unflatten, Dropout and the loss modules.

References are written from the formulas with NumPy; gradients are checked with finite differences.
"""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
from minigrad import nn

rng = np.random.default_rng(0)


def t(a, requires_grad=False):
    return mg.Tensor(np.asarray(a), requires_grad=requires_grad)


# ------------------------------------------------------------------ Linear
@given(batch=st.integers(1, 4), fin=st.integers(1, 6), fout=st.integers(1, 6), bias=st.booleans(),
       lead=st.integers(0, 2))
def test_linear_forward_and_grads_match_numpy(batch, fin, fout, bias, lead):
    layer = nn.Linear(fin, fout, bias=bias, dtype=np.float64)
    shape = (2,) * lead + (batch, fin)
    x = rng.standard_normal(shape)
    out = layer(t(x))
    w = layer.weight.numpy()
    expected = np.einsum("...i,oi->...o", x, w) + (layer.bias.numpy() if bias else 0.0)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-12)
    g = rng.standard_normal(out.shape)
    out.backward(gradient=g)
    dw = g.reshape(-1, fout).T @ x.reshape(-1, fin)
    np.testing.assert_allclose(layer.weight.grad.numpy(), dw, rtol=1e-10, atol=1e-12)
    if bias:
        np.testing.assert_allclose(layer.bias.grad.numpy(), g.reshape(-1, fout).sum(0), rtol=1e-10, atol=1e-12)
    else:
        assert layer.bias is None and "bias" not in layer.state_dict()


def test_linear_input_gradcheck():
    layer = nn.Linear(5, 3, dtype=np.float64)
    assert mg.gradcheck(lambda x: layer(x), [rng.standard_normal((4, 5))])


def test_linear_default_init_is_pytorchs():
    mg.manual_seed(3)
    layer = nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)  # kaiming_uniform(a=sqrt(5)): gain sqrt(2/6), bound gain*sqrt(3/fan_in)
    w, b = layer.weight.numpy(), layer.bias.numpy()
    assert w.dtype == np.float32 and w.shape == (300, 400) and b.shape == (300,)
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    # A uniform distribution on [-bound, bound] has standard deviation bound / sqrt(3).
    assert abs(w.std() - bound / math.sqrt(3)) < 0.01 * bound
    assert abs(w.mean()) < 0.01 * bound
    mg.manual_seed(3)
    again = nn.Linear(400, 300)
    np.testing.assert_array_equal(again.weight.numpy(), w)


def test_linear_repr_state_dict_and_errors():
    layer = nn.Linear(3, 2)
    assert repr(layer) == "Linear(in_features=3, out_features=2, bias=True)"
    assert list(layer.state_dict()) == ["weight", "bias"]
    assert repr(nn.Linear(3, 2, bias=False)) == "Linear(in_features=3, out_features=2, bias=False)"
    with pytest.raises(ValueError, match=r"Linear: input of shape \(4, 5\).*in_features=3"):
        layer(t(np.zeros((4, 5), np.float32)))


def test_bilinear_matches_einsum_and_gradcheck():
    layer = nn.Bilinear(3, 4, 2, dtype=np.float64)
    x1, x2 = rng.standard_normal((5, 3)), rng.standard_normal((5, 4))
    out = layer(t(x1), t(x2)).numpy()
    a, b = layer.weight.numpy(), layer.bias.numpy()
    expected = np.array([[x1[n] @ a[o] @ x2[n] + b[o] for o in range(2)] for n in range(5)])
    np.testing.assert_allclose(out, expected, rtol=1e-12)
    assert mg.gradcheck(lambda u, v: layer(u, v), [x1, x2])
    with pytest.raises(ValueError, match="Bilinear"):
        layer(t(x1), t(x1))


# ------------------------------------------------------------- activations
@given(shape=st.lists(st.integers(1, 5), min_size=1, max_size=3))
def test_activations_match_numpy(shape):
    x = rng.standard_normal(shape)
    np.testing.assert_allclose(nn.ReLU()(t(x)).numpy(), np.where(x > 0, x, 0.0))
    np.testing.assert_allclose(nn.LeakyReLU(0.2)(t(x)).numpy(), np.where(x > 0, x, 0.2 * x))
    np.testing.assert_allclose(nn.Sigmoid()(t(x)).numpy(), 1 / (1 + np.exp(-x)), rtol=1e-12)
    np.testing.assert_allclose(nn.Tanh()(t(x)).numpy(), np.tanh(x), rtol=1e-12)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    np.testing.assert_allclose(nn.Softmax(dim=-1)(t(x)).numpy(), e / e.sum(-1, keepdims=True), rtol=1e-12)
    np.testing.assert_allclose(nn.LogSoftmax(dim=0)(t(x)).numpy(),
                               x - np.log(np.exp(x).sum(0, keepdims=True)), rtol=1e-10, atol=1e-12)


def test_activation_gradcheck_and_repr():
    x = rng.standard_normal((3, 4))
    x[np.abs(x) < 0.05] = 0.5  # keep away from ReLU's kink, where finite differences are meaningless
    for layer in (nn.ReLU(), nn.LeakyReLU(0.1), nn.Sigmoid(), nn.Tanh(), nn.Softmax(1), nn.LogSoftmax(1)):
        assert mg.gradcheck(lambda v: layer(v), [x])
    assert repr(nn.LeakyReLU(0.2)) == "LeakyReLU(negative_slope=0.2)"
    assert repr(nn.Softmax(dim=1)) == "Softmax(dim=1)"
    assert repr(nn.ReLU()) == "ReLU()"


def test_flatten_unflatten_round_trip():
    x = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    flat = nn.Flatten()(t(x))
    assert flat.shape == (2, 60)
    np.testing.assert_array_equal(flat.numpy(), x.reshape(2, 60))
    assert nn.Flatten(0, 2)(t(x)).shape == (24, 5)
    back = nn.Unflatten(1, (3, 4, 5))(flat)
    np.testing.assert_array_equal(back.numpy(), x)
    assert nn.Unflatten(-1, (6, -1))(flat).shape == (2, 6, 10)
    with pytest.raises(ValueError, match=r"Unflatten: cannot split dimension 1 of size 60"):
        nn.Unflatten(1, (7, 8))(flat)


# ----------------------------------------------------------------- dropout
def test_dropout_train_and_eval():
    mg.manual_seed(0)
    x = np.ones((200, 200), np.float32)
    layer = nn.Dropout(0.3)
    y = layer(t(x)).numpy()
    kept = y != 0
    assert abs(1 - kept.mean() - 0.3) < 0.01
    np.testing.assert_allclose(y[kept], 1 / 0.7, rtol=1e-6)
    layer.eval()
    np.testing.assert_array_equal(layer(t(x)).numpy(), x)
    assert repr(layer) == "Dropout(p=0.3, inplace=False)"
    with pytest.raises(ValueError, match="Dropout: probability p must be in"):
        nn.Dropout(1.5)


def test_dropout_gradient_uses_the_same_mask():
    mg.manual_seed(1)
    x = t(rng.standard_normal((10, 10)), requires_grad=True)
    y = nn.Dropout(0.5)(x)
    y.sum().backward()
    mask = y.numpy() != 0
    np.testing.assert_allclose(x.grad.numpy(), mask * 2.0)


# ------------------------------------------------------------------ losses
def _log_softmax(x, axis=1):
    m = x.max(axis=axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


@given(n=st.integers(1, 6), c=st.integers(2, 5), weighted=st.booleans(), smoothing=st.sampled_from([0.0, 0.1]),
       reduction=st.sampled_from(["mean", "sum", "none"]))
def test_cross_entropy_loss_matches_formula(n, c, weighted, smoothing, reduction):
    x = rng.standard_normal((n, c))
    y = rng.integers(0, c, n)
    w = rng.uniform(0.5, 2.0, c) if weighted else np.ones(c)
    loss = nn.CrossEntropyLoss(weight=t(w) if weighted else None, reduction=reduction, label_smoothing=smoothing)
    got = loss(t(x), t(y)).numpy()
    logp = _log_softmax(x)
    # PyTorch: (1 - s) * weighted NLL + s * mean over classes of the weighted -log p.
    nll = -w[y] * logp[np.arange(n), y]
    smooth = -(logp * w).sum(1) / c
    per = (1 - smoothing) * nll + smoothing * smooth
    if reduction == "none":
        expected = per
    elif reduction == "sum":
        expected = per.sum()
    else:
        expected = ((1 - smoothing) * nll.sum() + smoothing * smooth.sum()) / w[y].sum()
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


def test_cross_entropy_segmentation_ignore_index_and_gradcheck():
    x = rng.standard_normal((2, 3, 4, 4))
    y = rng.integers(0, 3, (2, 4, 4))
    y[0, 0, :2] = -100
    got = nn.CrossEntropyLoss()(t(x), t(y)).numpy()
    logp = _log_softmax(x)
    valid = y != -100
    n, h, w = np.nonzero(valid)
    expected = -logp[n, y[valid], h, w].mean()
    np.testing.assert_allclose(got, expected, rtol=1e-10)
    assert mg.gradcheck(lambda v: nn.CrossEntropyLoss()(v, t(y)), [x])


def test_nll_and_mse_losses():
    logp = _log_softmax(rng.standard_normal((5, 4)))
    y = rng.integers(0, 4, 5)
    np.testing.assert_allclose(nn.NLLLoss()(t(logp), t(y)).numpy(), -logp[np.arange(5), y].mean(), rtol=1e-12)
    np.testing.assert_allclose(nn.NLLLoss(reduction="sum")(t(logp), t(y)).numpy(), -logp[np.arange(5), y].sum())
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    np.testing.assert_allclose(nn.MSELoss()(t(a), t(b)).numpy(), ((a - b) ** 2).mean(), rtol=1e-12)
    np.testing.assert_allclose(nn.MSELoss(reduction="none")(t(a), t(b)).numpy(), (a - b) ** 2, rtol=1e-12)
    assert mg.gradcheck(lambda u: nn.MSELoss()(u, t(b)), [a])
    for cls in (nn.CrossEntropyLoss, nn.NLLLoss, nn.MSELoss):
        with pytest.raises(ValueError, match="reduction must be"):
            cls(reduction="avg")


def test_losses_match_torch():
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((6, 5)).astype(np.float32)
    y = rng.integers(0, 5, 6)
    w = rng.uniform(0.5, 2, 5).astype(np.float32)
    ours = nn.CrossEntropyLoss(weight=t(w), label_smoothing=0.2)(t(x), t(y)).numpy()
    ref = torch.nn.CrossEntropyLoss(weight=torch.tensor(w), label_smoothing=0.2)(torch.tensor(x), torch.tensor(y))
    np.testing.assert_allclose(ours, ref.numpy(), rtol=1e-5)


def test_small_mlp_learns_xor():
    mg.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 2))
    x = t(np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32))
    y = t(np.array([0, 1, 1, 0]))
    opt = mg.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(200):
        opt.zero_grad()
        loss = nn.CrossEntropyLoss()(model(x), y)
        loss.backward()
        opt.step()
    assert (model(x).numpy().argmax(1) == y.numpy()).all()
    assert loss.item() < 0.1
