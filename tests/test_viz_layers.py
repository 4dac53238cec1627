"""Layer lookup and forward hooks: what the visualizations read from a model."""

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
from minigrad.viz import layers


class Reordered(nn.Module):
    """Registers the head before the body, and counts how often the head runs."""

    def __init__(self):
        super().__init__()
        self.head = nn.Linear(8, 2)
        self.body = nn.Linear(4, 8)
        self.head_calls = 0

    def forward(self, x):
        h = mg.relu(self.body(x))
        self.head_calls += 1
        return self.head(h)


def test_forward_collect_stops_once_every_watched_layer_ran():
    mg.manual_seed(0)
    model = Reordered()
    x = mg.Tensor(np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32))
    got = layers.forward_collect(model, x, {"head": model.head, "body": model.body})
    with mg.no_grad():
        body = model.body(x)
        head = model.head(mg.relu(body))
    np.testing.assert_allclose(got["body"].numpy(), body.numpy(), rtol=1e-6)
    np.testing.assert_allclose(got["head"].numpy(), head.numpy(), rtol=1e-6)
    model.head_calls = 0
    got = layers.forward_collect(model, x, {"head": model.head}, inputs=True)
    # The head's input is the ReLU of the body; the head itself never ran.
    np.testing.assert_allclose(got["head"].numpy(), np.maximum(body.numpy(), 0), rtol=1e-6)
    model.head_calls = 0
    layers.forward_collect(model, x, {"body": model.body})
    assert model.head_calls == 0  # the pass ended right after the body
    assert not model.head._forward_hooks and not model.head._forward_pre_hooks


def test_layer_lookup_errors_and_frozen():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8, 3))
    assert layers.layer_names(model) == ["0", "1", "2", "3"]
    assert layers.first_conv(model)[0] == "0" and layers.last_linear(model)[0] == "3"
    with pytest.raises(ValueError, match=r"viz: unknown layer 'x'; valid layers: 0 \(Conv2d\), 1 \(ReLU\), "
                                         r"2 \(Flatten\), 3 \(Linear\)"):
        layers.get_layer(model, "x")
    with pytest.raises(ValueError, match="has no Linear layer"):
        layers.last_linear(nn.Sequential(nn.Conv2d(1, 1, 1)))
    with pytest.raises(ValueError, match=r"viz: layer\(s\) 1 did not run in Sequential's forward pass"):
        layers.forward_collect(nn.Sequential(nn.ReLU(), nn.ReLU()), mg.Tensor(np.ones(2, np.float32)),
                               {"1": nn.ReLU()})
    flags = [p.requires_grad for p in model.parameters()]
    with layers.frozen(model):
        assert not any(p.requires_grad for p in model.parameters())
    assert [p.requires_grad for p in model.parameters()] == flags
