"""DeconvNet projections and DeepDream on tiny models."""

import numpy as np
import pytest
from hypothesis import given, strategies as st

import minigrad as mg
from minigrad import functional as F
from minigrad import nn
from minigrad.viz import deconvnet, dream


@given(st.integers(1, 3), st.integers(1, 4), st.integers(1, 4), st.integers(1, 2), st.integers(0, 2),
       st.integers(0, 10_000))
def test_first_layer_projection_is_the_filter_at_the_unit_position(c_in, c_out, k, stride, padding, seed):
    mg.manual_seed(seed)
    padding = min(padding, k - 1)
    model = nn.Sequential(nn.Conv2d(c_in, c_out, k, stride=stride, padding=padding)).eval()
    x = np.random.default_rng(seed).standard_normal((c_in, 7, 6)).astype(np.float32)
    unit = seed % c_out
    result = deconvnet.deconvnet(model, x, "0", unit)
    w = model[0].weight.numpy().astype(np.float64)
    with mg.no_grad():
        act = model(mg.Tensor(x[None])).numpy()[0, unit]
    i, j = np.unravel_index(np.argmax(act), act.shape)
    assert result["position"] == (i, j)
    assert result["activation"] == pytest.approx(act[i, j])
    # The transposed convolution of one activation a is a * W[unit], placed where the unit looks.
    canvas = np.zeros((c_in, 7 + 2 * padding + k, 6 + 2 * padding + k))
    canvas[:, i * stride:i * stride + k, j * stride:j * stride + k] = act[i, j] * w[unit]
    expected = canvas[:, padding:padding + 7, padding:padding + 6]
    np.testing.assert_allclose(result["reconstruction"], expected, rtol=1e-4, atol=1e-5)


class FunctionalNet(nn.Module):
    """Conv - ReLU - pool - conv with ReLU and pooling called functionally, as LeNet-5 does."""

    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(2, 3, 3, padding=1), nn.Conv2d(3, 4, 3)

    def forward(self, x):
        return F.relu(self.conv2(F.max_pool2d(F.relu(self.conv1(x)), 2)))


def test_deeper_projection_equals_the_explicit_unpool_relu_transposed_conv_pipeline():
    mg.manual_seed(7)
    seq = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(3, 4, 3), nn.ReLU()).eval()
    fun = FunctionalNet().eval()
    fun.load_state_dict({"conv1.weight": seq[0].weight.numpy(), "conv1.bias": seq[0].bias.numpy(),
                         "conv2.weight": seq[3].weight.numpy(), "conv2.bias": seq[3].bias.numpy()})
    x = np.random.default_rng(7).standard_normal((2, 10, 10)).astype(np.float32)
    w1, w2 = seq[0].weight, seq[3].weight
    with mg.no_grad():
        h1 = seq[0](mg.Tensor(x[None]))
        a1 = F.relu(h1)
        pooled, switches = F.max_pool2d(a1, 2, return_indices=True)
        h2 = seq[3](pooled).numpy()
    for unit in range(4):
        i, j = np.unravel_index(np.argmax(h2[0, unit]), h2.shape[2:])
        seed = np.zeros_like(h2)
        seed[0, unit, i, j] = h2[0, unit, i, j]
        with mg.no_grad():
            r = F.conv_transpose2d(mg.Tensor(seed), w2)
            r = F.max_unpool2d(r, switches, 2, output_size=a1.shape[-2:])
            r = F.relu(r)
            r = F.conv_transpose2d(r, w1, padding=1).numpy()[0]
        got_seq = deconvnet.deconvnet(seq, x, "3", unit)
        got_fun = deconvnet.deconvnet(fun, x, "conv2", unit)
        assert got_seq["position"] == (i, j) == got_fun["position"]
        np.testing.assert_allclose(got_seq["reconstruction"], r, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(got_fun["reconstruction"], r, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match=r"deconvnet: unit 9 out of range; layer '3' has 4 units"):
        deconvnet.deconvnet(seq, x, "3", 9)


def _dream_model():
    mg.manual_seed(11)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 6, 3),
                         nn.ReLU(), nn.Flatten(), nn.Linear(6 * 2 * 2, 3)).eval()


@pytest.mark.parametrize("objective, layer", [("mean", "3"), ("norm", "3"), ("mean", "0")])
def test_deep_dream_increases_the_objective_every_step(objective, layer):
    model = _dream_model()
    x = np.random.default_rng(1).standard_normal((1, 8, 8)).astype(np.float32)
    result = dream.deep_dream(model, x, layer, steps=8, lr=0.01, octaves=1, jitter=0, objective=objective)
    values = result["history"] + [result["final"]]
    assert len(values) == 9
    assert np.all(np.diff(values) > 0), values
    assert result["image"].shape == x.shape


def test_dream_gradient_matches_finite_differences_through_the_octave_resize():
    # conv + mean is linear in the image, and so is the bilinear enlargement: central differences
    # are exact up to rounding, whatever the step.
    mg.manual_seed(2)
    model = nn.Sequential(nn.Conv2d(1, 2, 3)).eval()
    small = np.random.default_rng(2).standard_normal((1, 4, 4))
    value, grad = dream.dream_objective(model, small, "0", "mean", size=(7, 7))
    assert grad.shape == small.shape
    numeric = np.zeros_like(small)
    for idx in np.ndindex(small.shape):
        plus, minus = small.copy(), small.copy()
        plus[idx] += 0.5
        minus[idx] -= 0.5
        numeric[idx] = dream.dream_objective(model, plus, "0", size=(7, 7), grad=False)[0] - \
            dream.dream_objective(model, minus, "0", size=(7, 7), grad=False)[0]
    np.testing.assert_allclose(grad, numeric, atol=1e-5)


def test_deep_dream_octaves_and_errors():
    model = _dream_model()
    x = np.random.default_rng(3).standard_normal((1, 8, 8)).astype(np.float32)
    seen = []
    result = dream.deep_dream(model, x, "3", steps=2, octaves=3, octave_scale=1.5, jitter=1,
                              callback=lambda o, s, v: seen.append((o, s)))
    assert seen == [(o, s) for o in range(3) for s in range(2)]
    assert result["image"].shape == (1, 8, 8)
    with pytest.raises(ValueError, match=r"dream: unknown layer 'conv1'; valid layers: 0 \(Conv2d\)"):
        dream.deep_dream(model, x, "conv1")
    with pytest.raises(ValueError, match="dream: unknown objective 'max'"):
        dream.deep_dream(model, x, "3", objective="max")
