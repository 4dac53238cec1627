"""The architectures: parameter counts (torchvision's), torchvision names, output shapes, training steps."""

import numpy as np
import pytest
from hypothesis import given, strategies as st

import minigrad as mg
import minigrad.functional as F
from minigrad.models import get_model, list_models, model_info
from minigrad.models.googlenet import GoogLeNet
from minigrad.models.unet import unet
from minigrad.models.vgg import CONFIGS, VGG, make_features


def n_params(model):
    return sum(int(np.prod(p.shape)) for p in model.parameters())


# Counts published for torchvision's models (torchvision.models docs, "num_params").
TORCHVISION_COUNTS = {
    "alexnet": 61_100_840,
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "resnet101": 44_549_160,
    "resnet152": 60_192_808,
}
VGG_COUNTS = {
    ("vgg11", 11, False): 132_863_336,
    ("vgg13", 13, False): 133_047_848,
    ("vgg19", 19, False): 143_667_240,
    ("vgg16_bn", 16, True): 138_365_992,
}


@pytest.fixture(scope="module")
def vgg16():
    # The count does not depend on the initialisation, which takes seconds for 138M weights.
    return VGG(make_features(CONFIGS[16]), init_weights=False)


@pytest.fixture(scope="module")
def alexnet():
    return get_model("alexnet")


@pytest.mark.parametrize("name", sorted(TORCHVISION_COUNTS))
def test_parameter_count_matches_torchvision(name, alexnet):
    model = alexnet if name == "alexnet" else get_model(name)
    assert n_params(model) == TORCHVISION_COUNTS[name]


def test_vgg16_parameter_count(vgg16):
    assert n_params(vgg16) == 138_357_544


@pytest.mark.parametrize("name, depth, batch_norm", sorted(VGG_COUNTS))
def test_vgg_parameter_counts(name, depth, batch_norm, vgg16):
    # Every VGG shares VGG-16's classifier (the 7x7x512 -> 4096 layer costs seconds to initialise),
    # so build only the convolutional part of the others.
    features = make_features(CONFIGS[depth], 3, batch_norm)
    assert n_params(features) + n_params(vgg16.classifier) == VGG_COUNTS[(name, depth, batch_norm)]


@pytest.mark.parametrize("aux_logits, expected", [(True, 13_004_888), (False, 6_624_904)])
def test_googlenet_parameter_count(aux_logits, expected):
    assert n_params(get_model("googlenet", aux_logits=aux_logits)) == expected


def test_registry_lists_every_architecture():
    names = set(list_models())
    expected = {"alexnet", "googlenet", "unet"} | {f"vgg{d}{s}" for d in (11, 13, 16, 19) for s in ("", "_bn")} \
        | {f"resnet{d}" for d in (18, 34, 50, 101, 152)}
    assert expected <= names
    assert model_info("resnet50")["input_size"] == (3, 224, 224)
    assert model_info("unet")["task"] == "segmentation"


def test_torchvision_parameter_names():
    keys = set(get_model("resnet50", num_classes=10).state_dict())
    for key in ("conv1.weight", "bn1.running_mean", "bn1.num_batches_tracked", "layer1.0.conv1.weight",
                "layer1.0.downsample.0.weight", "layer1.0.downsample.1.running_var", "layer4.2.bn3.bias",
                "fc.weight", "fc.bias"):
        assert key in keys
    keys = set(get_model("googlenet", num_classes=10).state_dict())
    for key in ("conv1.conv.weight", "conv1.bn.running_mean", "inception3a.branch1.conv.weight",
                "inception3a.branch2.1.conv.weight", "inception3a.branch3.0.bn.bias",
                "inception4e.branch4.1.conv.weight", "aux1.conv.conv.weight", "aux1.fc1.weight", "aux2.fc2.bias",
                "fc.weight"):
        assert key in keys
    keys = set(get_model("vgg16_bn", num_classes=10, small_input=True).state_dict())
    assert {"features.0.weight", "features.1.running_mean", "classifier.0.weight", "classifier.6.bias"} <= keys
    alex = get_model("alexnet", num_classes=10, small_input=True).state_dict()
    assert [k for k in alex if k.endswith("weight")] == [
        "features.0.weight", "features.3.weight", "features.6.weight", "features.8.weight", "features.10.weight",
        "classifier.1.weight", "classifier.4.weight", "classifier.6.weight"]


def test_alexnet_original_uses_groups_and_lrn():
    model = get_model("alexnet", original=True)
    kinds = [type(m).__name__ for m in model.features]
    assert kinds.count("LocalResponseNorm") == 2
    convs = [m for m in model.features if type(m).__name__ == "Conv2d"]
    assert [c.out_channels for c in convs] == [96, 256, 384, 384, 256]
    # groups=2 halves the input channels each filter sees (the two GPU streams).
    assert [c.weight.shape[1] for c in convs] == [3, 48, 256, 192, 192]


@pytest.mark.parametrize("name", ["alexnet", "resnet18"])
def test_imagenet_output_shape_at_224(name, alexnet):
    model = (alexnet if name == "alexnet" else get_model(name)).eval()
    with mg.no_grad():
        out = model(mg.Tensor(np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)))
    assert out.shape == (1, 1000)
    assert np.all(np.isfinite(out.numpy()))


SMALL = [  # (name, size, channels): MNIST-like 1x28x28 and CIFAR-like 3x32x32
    ("alexnet", 32, 3), ("alexnet", 28, 1),
    ("vgg11_bn", 32, 3), ("vgg11_bn", 28, 1),
    ("googlenet", 32, 3), ("googlenet", 28, 1),
    ("resnet18", 32, 3), ("resnet18", 28, 1),
    ("resnet50", 28, 1),
]


@pytest.mark.parametrize("name, size, channels", SMALL)
def test_small_input_output_shape(name, size, channels):
    model = get_model(name, num_classes=10, in_channels=channels, small_input=True).eval()
    with mg.no_grad():
        out = model(mg.Tensor(np.zeros((1, channels, size, size), dtype=np.float32)))
    assert out.shape == (1, 10)


def test_googlenet_returns_aux_outputs_in_training_only():
    model = GoogLeNet(num_classes=7, small_input=True)
    x = mg.Tensor(np.random.default_rng(1).standard_normal((2, 3, 16, 16)).astype(np.float32))
    logits, aux2, aux1 = model.train()(x)
    assert logits.shape == aux2.shape == aux1.shape == (2, 7)
    with mg.no_grad():
        assert model.eval()(x).shape == (2, 7)
    assert GoogLeNet(num_classes=7, aux_logits=False, small_input=True).train()(x).shape == (2, 7)


def _loss(model, x, y):
    out = model(x)
    if isinstance(out, tuple):
        # GoogLeNet's training loss: the auxiliary heads weigh 0.3.
        logits, aux2, aux1 = out
        return F.cross_entropy(logits, y) + 0.3 * (F.cross_entropy(aux1, y) + F.cross_entropy(aux2, y))
    return F.cross_entropy(out, y)  # (N, C) logits, or (N, C, H, W) per-pixel scores for U-Net


TRAINABLE = [
    ("alexnet", dict(num_classes=4, in_channels=3, small_input=True, dropout=0.0), (3, 32, 32)),
    ("vgg11", dict(num_classes=4, in_channels=3, small_input=True, dropout=0.0), (3, 32, 32)),
    ("vgg11_bn", dict(num_classes=4, in_channels=1, small_input=True, dropout=0.0), (1, 28, 28)),
    ("googlenet", dict(num_classes=4, in_channels=3, small_input=True, dropout=0.0, dropout_aux=0.0), (3, 16, 16)),
    ("resnet18", dict(num_classes=4, in_channels=3, small_input=True), (3, 16, 16)),
    ("resnet50", dict(num_classes=4, in_channels=1, small_input=True, zero_init_residual=True), (1, 8, 8)),
    ("unet", dict(num_classes=3, in_channels=1, depth=2, base_channels=4), (1, 20, 20)),
    ("unet", dict(num_classes=3, in_channels=1, depth=2, base_channels=4, batch_norm=False, bilinear=True),
     (1, 17, 17)),
]


@pytest.mark.parametrize("name, kwargs, size", TRAINABLE)
def test_training_step_reduces_loss_and_reaches_every_parameter(name, kwargs, size):
    mg.manual_seed(0)
    model = get_model(name, **kwargs).train()
    rng = np.random.default_rng(0)
    x = mg.Tensor(rng.standard_normal((2,) + size).astype(np.float32))
    classes = kwargs["num_classes"]
    label_shape = (2,) + size[1:] if name == "unet" else (2,)
    y = mg.Tensor(rng.integers(0, classes, size=label_shape))
    optimizer = mg.optim.SGD(model.parameters(), lr=0.01)
    loss = _loss(model, x, y)
    optimizer.zero_grad()
    loss.backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None, pname
        assert p.grad.shape == p.shape and np.all(np.isfinite(p.grad.numpy())), pname
    optimizer.step()
    after = _loss(model, x, y)
    assert after.item() < loss.item()


@given(h=st.integers(8, 23), w=st.integers(8, 23), depth=st.integers(1, 3), bilinear=st.booleans())
def test_unet_output_size_equals_input_size(h, w, depth, bilinear):
    model = unet(num_classes=3, in_channels=2, depth=depth, base_channels=2, bilinear=bilinear).eval()
    with mg.no_grad():
        out = model(mg.Tensor(np.zeros((1, 2, h, w), dtype=np.float32)))
    assert out.shape == (1, 3, h, w)


def test_unet_parameter_count_from_the_architecture():
    # Counted by hand from the figure: double convs (3x3, bias-free with BN) with gamma/beta, 2x2 up-convs, 1x1 head.
    def double(cin, cout):
        return 9 * cin * cout + 2 * cout + 9 * cout * cout + 2 * cout

    b, depth = 8, 3
    widths = [b * 2 ** i for i in range(depth + 1)]
    expected = double(1, widths[0]) + sum(double(widths[i], widths[i + 1]) for i in range(depth))
    expected += sum(4 * widths[i + 1] * widths[i] + widths[i] + double(widths[i + 1], widths[i]) for i in range(depth))
    expected += widths[0] * 2 + 2
    assert n_params(unet(num_classes=2, in_channels=1, depth=depth, base_channels=b)) == expected


def test_unet_rejects_inputs_smaller_than_its_depth():
    with pytest.raises(ValueError, match="2\\*\\*depth"):
        unet(depth=3, base_channels=2)(mg.Tensor(np.zeros((1, 1, 6, 6), dtype=np.float32)))


def test_unet_bad_configuration():
    with pytest.raises(ValueError, match="depth"):
        unet(depth=0)


# ---------------------------------------------------------------- torch weights
def _torch_resnet18_small(torch, num_classes):
    """ResNet-18 (3x3 stem, no max pool) written with torch.nn, in torchvision's naming, as an oracle."""
    nn_ = torch.nn

    class Block(nn_.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn_.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn_.BatchNorm2d(cout)
            self.conv2 = nn_.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn_.BatchNorm2d(cout)
            self.downsample = None
            if stride != 1 or cin != cout:
                self.downsample = nn_.Sequential(nn_.Conv2d(cin, cout, 1, stride, bias=False), nn_.BatchNorm2d(cout))

        def forward(self, x):
            identity = x if self.downsample is None else self.downsample(x)
            out = torch.relu(self.bn1(self.conv1(x)))
            return torch.relu(self.bn2(self.conv2(out)) + identity)

    class Net(nn_.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn_.Conv2d(3, 64, 3, 1, 1, bias=False)
            self.bn1 = nn_.BatchNorm2d(64)
            widths, cin = (64, 128, 256, 512), 64
            for i, w in enumerate(widths):
                stride = 1 if i == 0 else 2
                setattr(self, f"layer{i + 1}", nn_.Sequential(Block(cin, w, stride), Block(w, w, 1)))
                cin = w
            self.fc = nn_.Linear(512, num_classes)

        def forward(self, x):
            x = torch.relu(self.bn1(self.conv1(x)))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(torch.flatten(x.mean((2, 3), keepdim=True), 1))

    return Net()


def test_torch_state_dict_converts_and_gives_the_same_outputs(tmp_path):
    torch = pytest.importorskip("torch")
    from minigrad.models.convert import convert_weights, load_npz

    torch.manual_seed(0)
    reference = _torch_resnet18_small(torch, 10)
    with torch.no_grad():  # non-trivial running statistics, so eval-mode BatchNorm is really checked
        for m in reference.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    reference.eval()
    torch.save({"state_dict": reference.state_dict()}, tmp_path / "w.pth")
    arrays = convert_weights(tmp_path / "w.pth", tmp_path / "w.npz")
    assert "layer2.0.downsample.1.running_var" in arrays

    model = get_model("resnet18", num_classes=10, small_input=True)
    assert set(model.state_dict()) == set(arrays)
    load_npz(model, tmp_path / "w.npz")
    x = np.random.default_rng(0).standard_normal((2, 3, 16, 16)).astype(np.float32)
    with torch.no_grad():
        expected = reference(torch.from_numpy(x)).numpy()
    with mg.no_grad():
        got = model.eval()(mg.Tensor(x)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_convert_without_torch_says_how_to_install(tmp_path, monkeypatch):
    import sys

    from minigrad.models.convert import convert_weights

    (tmp_path / "w.pt").write_bytes(b"not really")
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` raise ImportError
    with pytest.raises(RuntimeError, match="pip install torch"):
        convert_weights(tmp_path / "w.pt", tmp_path / "w.npz")


@pytest.mark.parametrize("name", ["alexnet", "vgg11", "googlenet", "resnet18"])
def test_models_tell_the_trainer_their_input_size(name):
    assert get_model(name, num_classes=10, in_channels=1, small_input=True).input_size == (1, 32, 32)
    assert model_info(name)["input_size"] == (3, 224, 224)


# The deep ResNets run on 4x4 images: the blocks, not the pixels, are what is being checked.
REST = [("vgg13", {}, 16), ("vgg16", {}, 16), ("vgg19", {}, 16), ("vgg13_bn", {}, 16), ("vgg16_bn", {}, 16),
        ("vgg19_bn", {}, 16), ("resnet34", {}, 4), ("resnet101", {}, 4), ("resnet152", {}, 4),
        ("alexnet", {"original": True}, 16)]


@pytest.mark.parametrize("name, extra, size", REST)
def test_forward_backward_of_the_other_registered_models(name, extra, size):
    # Eval-mode BatchNorm: batch statistics of two values on 1x1 maps would amplify the gradients
    # past float32 range through 150 layers. Training-mode BatchNorm is covered by the training steps.
    mg.manual_seed(0)
    model = get_model(name, num_classes=3, small_input=True, **extra).eval()
    x = mg.Tensor(np.random.default_rng(2).standard_normal((2, 3, size, size)).astype(np.float32))
    loss = F.cross_entropy(model(x), mg.Tensor(np.array([0, 2])))
    loss.backward()
    assert np.isfinite(loss.item())
    missing = [n for n, p in model.named_parameters() if p.grad is None or not np.all(np.isfinite(p.grad.numpy()))]
    assert not missing


@pytest.mark.parametrize("name", ["alexnet", "vgg11", "googlenet", "resnet18", "unet"])
def test_bad_class_or_channel_counts_are_rejected(name):
    with pytest.raises(ValueError, match=r"num_classes and in_channels must be positive.*num_classes=0"):
        get_model(name, num_classes=0)
    with pytest.raises(ValueError, match=r"in_channels=0"):
        get_model(name, in_channels=0)
