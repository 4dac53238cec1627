"""LeNet-5: architecture, parameter count, state_dict keys, and the forward pass against NumPy."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.lib.stride_tricks import sliding_window_view

import minigrad as mg
from minigrad.models import get_model, list_models, model_info

KEYS = [f"{layer}.{p}" for layer in ("conv1", "conv2", "fc1", "fc2", "fc3") for p in ("weight", "bias")]


def _conv(x, w, b, padding):
    """out[n,o,i,j] = b[o] + sum_{c,k,l} x[n,c,i+k,j+l] w[o,c,k,l] (the course's formula)."""
    x = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    windows = sliding_window_view(x, w.shape[2:], axis=(2, 3))  # n c i j k l
    return np.einsum("ncijkl,ockl->noij", windows, w) + b[None, :, None, None]


def _pool(x, how):
    n, c, h, w = x.shape
    blocks = x.reshape(n, c, h // 2, 2, w // 2, 2)
    return blocks.max(axis=(3, 5)) if how == "max" else blocks.mean(axis=(3, 5))


def _reference(state, x, classic):
    act = np.tanh if classic else (lambda v: np.maximum(v, 0))
    pool = "avg" if classic else "max"
    h = _pool(act(_conv(x, state["conv1.weight"], state["conv1.bias"], 0 if classic else 2)), pool)
    h = _pool(act(_conv(h, state["conv2.weight"], state["conv2.bias"], 0)), pool)
    h = h.reshape(len(h), -1)
    h = act(h @ state["fc1.weight"].T + state["fc1.bias"])
    h = act(h @ state["fc2.weight"].T + state["fc2.bias"])
    return h @ state["fc3.weight"].T + state["fc3.bias"]


def test_registered_names():
    assert {"lenet", "lenet5", "lenet5-classic"} <= set(list_models())
    assert model_info("lenet5-classic")["input_size"] == (1, 32, 32)
    assert model_info("lenet")["input_size"] == (1, 28, 28)


@pytest.mark.parametrize("name", ["lenet", "lenet5", "lenet5-classic"])
def test_keys_shapes_and_parameter_count(name):
    model = get_model(name)
    state = model.state_dict()
    assert list(state) == KEYS
    shapes = {k: v.shape for k, v in state.items()}
    assert shapes == {"conv1.weight": (6, 1, 5, 5), "conv1.bias": (6,), "conv2.weight": (16, 6, 5, 5),
                      "conv2.bias": (16,), "fc1.weight": (120, 400), "fc1.bias": (120,),
                      "fc2.weight": (84, 120), "fc2.bias": (84,), "fc3.weight": (10, 84), "fc3.bias": (10,)}
    # The paper's count, from the layer sizes: (5*5*1+1)*6 + (5*5*6+1)*16 + 401*120 + 121*84 + 85*10.
    assert model.num_parameters() == 61706 == sum(v.size for v in state.values())


@pytest.mark.parametrize("classic", [False, True])
@given(n=st.integers(1, 3), num_classes=st.integers(2, 12), in_channels=st.integers(1, 3), seed=st.integers(0, 99))
def test_forward_matches_numpy_reference(classic, n, num_classes, in_channels, seed):
    mg.manual_seed(seed)
    model = get_model("lenet5", num_classes=num_classes, in_channels=in_channels, classic=classic).to(dtype=np.float64)
    size = 32 if classic else 28
    x = np.random.default_rng(seed).standard_normal((n, in_channels, size, size))
    out = model(mg.Tensor(x))
    assert out.shape == (n, num_classes)
    np.testing.assert_allclose(out.numpy(), _reference(model.state_dict(), x, classic), rtol=1e-9, atol=1e-9)


def test_backward_reaches_every_parameter():
    mg.manual_seed(0)
    model = get_model("lenet")
    x = mg.Tensor(np.random.default_rng(0).standard_normal((2, 1, 28, 28)).astype(np.float32))
    mg.functional.cross_entropy(model(x), mg.Tensor(np.array([3, 7]))).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.shape == p.shape, name
        assert np.isfinite(p.grad.numpy()).all() and np.abs(p.grad.numpy()).sum() > 0, name


def test_same_seed_same_weights():
    mg.manual_seed(3)
    a = get_model("lenet").state_dict()
    mg.manual_seed(3)
    b = get_model("lenet").state_dict()
    assert all(np.array_equal(a[k], b[k]) for k in KEYS)


def test_bad_input_is_refused():
    model = get_model("lenet")
    with pytest.raises(ValueError, match=r"lenet5: expected input \(N, C, 28, 28\), got \(1, 1, 32, 32\)"):
        model(mg.Tensor(np.zeros((1, 1, 32, 32), np.float32)))
    with pytest.raises(ValueError, match="num_classes must be a positive integer"):
        get_model("lenet", num_classes=0)
    with pytest.raises(ValueError, match="unknown argument"):
        get_model("lenet5-classic", classic=False)
