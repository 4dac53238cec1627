"""Saliency, guided backpropagation and occlusion on models whose answer is known."""

import numpy as np
import pytest
from hypothesis import given, strategies as st

import minigrad as mg
from minigrad import functional as F
from minigrad import nn
from minigrad.viz import guided, occlusion, saliency


def one_pixel_model(c, h, w, pixel, k=3, seed=0):
    """A classifier whose scores depend on the single input value x[c0, i, j] only."""
    rng = np.random.default_rng(seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, 4), nn.ReLU(), nn.Linear(4, k)).eval()
    w1 = np.zeros((4, c * h * w), dtype=np.float32)
    w1[:, np.ravel_multi_index(pixel, (c, h, w))] = rng.uniform(0.5, 1.5, 4)
    model[1].weight.data[...] = w1
    model[1].bias.data[...] = 0.1
    model[3].weight.data[...] = rng.uniform(0.5, 1.5, (k, 4)).astype(np.float32)
    model[3].weight.data[0] *= 3  # class 0 gains most from the pixel
    return model


@given(st.integers(1, 3), st.integers(3, 9), st.integers(3, 9), st.data())
def test_saliency_peaks_on_the_only_pixel_read(c, h, w, data):
    pixel = (data.draw(st.integers(0, c - 1)), data.draw(st.integers(0, h - 1)), data.draw(st.integers(0, w - 1)))
    model = one_pixel_model(c, h, w, pixel)
    x = np.random.default_rng(1).random((c, h, w)).astype(np.float32)
    for guided_flag in (False, True):
        sal, k = saliency.saliency_map(model, x, target=0, guided=guided_flag)
        assert k == 0 and sal.shape == (h, w)
        assert sal[pixel[1:]] > 0
        assert np.count_nonzero(sal) == 1


def _mlp_reference(w1, b1, w2, x, k, rule):
    """d score_k / d x of Linear-ReLU-Linear by hand, with a ReLU backward rule."""
    h = w1 @ x + b1
    g = w2[k].astype(np.float64)
    if rule == "backprop":
        g = g * (h > 0)
    elif rule == "guided":
        g = g * (h > 0) * (g > 0)
    return w1.T @ g


class FunctionalReLUNet(nn.Module):
    """ReLU called as F.relu inside forward (as LeNet-5 does), not as a module."""

    def __init__(self, n, hidden, k):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(n, hidden), nn.Linear(hidden, k)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


@pytest.mark.parametrize("functional_relu", [False, True])
def test_gradient_and_guided_backprop_follow_their_relu_rules(functional_relu):
    mg.manual_seed(3)
    n, hidden, k = 12, 16, 3
    model = (FunctionalReLUNet(n, hidden, k) if functional_relu else
             nn.Sequential(nn.Flatten(), nn.Linear(n, hidden), nn.ReLU(), nn.Linear(hidden, k))).eval()
    lin1, lin2 = (model.fc1, model.fc2) if functional_relu else (model[1], model[3])
    w1, b1, w2 = (p.numpy().astype(np.float64) for p in (lin1.weight, lin1.bias, lin2.weight))
    x = np.random.default_rng(0).standard_normal((1, 3, 4)).astype(np.float32)
    original = mg.functional.relu
    grad, target = saliency.input_gradient(model, x, 1)
    np.testing.assert_allclose(grad.reshape(-1), _mlp_reference(w1, b1, w2, x.reshape(-1), 1, "backprop"), atol=1e-5)
    ggrad, _ = guided.guided_backprop(model, x, 1)
    expected = _mlp_reference(w1, b1, w2, x.reshape(-1), 1, "guided")
    np.testing.assert_allclose(ggrad.reshape(-1), expected, atol=1e-5)
    assert not np.allclose(ggrad, grad)
    # The swap is undone: the functional ReLU is the original again, the modules have no override.
    assert mg.functional.relu is original
    assert all("forward" not in m.__dict__ for m in model.modules())
    # The weights' gradients were not touched.
    assert all(p.grad is None for p in model.parameters())


def test_relu_rule_is_undone_when_the_block_raises():
    x = mg.Tensor(np.array([-1.0, 2.0, 3.0]), requires_grad=True)
    seed = np.array([1.0, -1.0, 1.0])
    original = mg.functional.relu
    with pytest.raises(RuntimeError, match="boom"):
        with guided.guided_relu():
            assert mg.functional.relu is original and mg.relu is original  # nothing is rebound
            inside = mg.relu(x)
            raise RuntimeError("boom")
    # The ReLU that ran in the block keeps the guided rule; one run after it has the plain rule.
    inside.backward(seed)
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, 1.0])
    x.grad = None
    mg.relu(x).backward(seed)
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, -1.0, 1.0])


def test_saliency_rejects_bad_class_and_shape():
    model = one_pixel_model(1, 4, 4, (0, 1, 1))
    with pytest.raises(ValueError, match="saliency: class 7 out of range for a model with 3 classes"):
        saliency.saliency_map(model, np.zeros((1, 4, 4)), target=7)
    with pytest.raises(ValueError, match=r"saliency: expected one image \(C, H, W\), got shape \(4, 4\)"):
        saliency.saliency_map(model, np.zeros((4, 4)))


@given(st.integers(4, 10), st.integers(4, 10), st.integers(1, 4), st.integers(1, 3), st.data())
def test_occlusion_only_patches_over_the_read_pixel_matter(h, w, patch, stride, data):
    patch = min(patch, h, w)
    pixel = (0, data.draw(st.integers(0, h - 1)), data.draw(st.integers(0, w - 1)))
    model = one_pixel_model(1, h, w, pixel)
    x = np.full((1, h, w), 0.2, dtype=np.float32)
    x[pixel] = 1.0
    result = occlusion.occlusion_map(model, x, target=0, patch=patch, stride=stride, fill=0.0, batch_size=5)
    ys, xs = np.arange(0, h - patch + 1, stride), np.arange(0, w - patch + 1, stride)
    drops = result["drops"]
    assert drops.shape == (len(ys), len(xs))
    covers = (ys[:, None] <= pixel[1]) & (pixel[1] < ys[:, None] + patch) & \
             (xs[None, :] <= pixel[2]) & (pixel[2] < xs[None, :] + patch)
    np.testing.assert_allclose(drops[~covers], 0.0, atol=1e-6)
    assert np.all(drops[covers] > 0)
    if covers.any():
        assert result["pixel_map"][pixel[1:]] == pytest.approx(result["pixel_map"].max())


def test_occlusion_matches_an_explicit_loop():
    mg.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(2, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 4 * 4, 4)).eval()
    x = np.random.default_rng(2).random((2, 6, 6)).astype(np.float32)
    fill = np.array([0.3, -0.2])
    result = occlusion.occlusion_map(model, x, patch=3, stride=2, fill=fill, batch_size=3)

    def prob(img):
        z = model(mg.Tensor(img[None].astype(np.float32))).numpy()[0].astype(np.float64)
        return np.exp(z - z.max()) / np.exp(z - z.max()).sum()

    target = int(np.argmax(prob(x)))
    assert result["target"] == target
    expected = np.empty((2, 2))
    for i, y in enumerate(range(0, 4, 2)):
        for j, xx in enumerate(range(0, 4, 2)):
            occluded = x.copy()
            occluded[:, y:y + 3, xx:xx + 3] = fill[:, None, None]
            expected[i, j] = prob(x)[target] - prob(occluded)[target]
    np.testing.assert_allclose(result["drops"], expected, atol=1e-6)
    with pytest.raises(ValueError, match="occlusion: patch 9 and stride 1 must be >= 1 and the patch must fit the 6x6 image"):
        occlusion.occlusion_map(model, x, patch=9, stride=1)
