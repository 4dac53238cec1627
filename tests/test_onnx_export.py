"""ONNX export: every registered architecture and every mapped op, checked by onnx.checker and run in onnxruntime."""

import inspect

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import minigrad as mg  # noqa: E402
import minigrad.functional as F  # noqa: E402
import minigrad.onnx as mgonnx  # noqa: E402
from minigrad import nn  # noqa: E402
from minigrad.models import get_model, list_models, model_info  # noqa: E402


def small_model(name):
    """The registered architecture at its smallest input (small-input variant), 10 classes, BN statistics set."""
    info = model_info(name)
    accepted = inspect.signature(info["fn"]).parameters
    size = tuple(info["input_size"])
    kwargs = {}
    if "small_input" in accepted:
        kwargs["small_input"] = True
        size = (size[0], 32, 32)
    if "in_channels" in accepted:
        kwargs["in_channels"] = size[0]
    if "num_classes" in accepted:
        kwargs["num_classes"] = 10
    model = get_model(name, **kwargs)
    calibrate(model, size)
    return model, size


def calibrate(model, size):
    """Running statistics from one batch (momentum 1) and random affine parameters, so that BatchNorm is
    not the identity and the outputs vary with the input.

    The scales (0.1..0.3) are small so that the deep residual stacks (ResNet-152 sums 50 branches) stay well
    conditioned in float32: otherwise minigrad and onnxruntime each differ from a float64 forward
    by more than 1e-4 of the output.
    """
    rng = np.random.default_rng(5)
    norms = [m for m in model.modules() if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d))]
    for m in norms:
        m.momentum = 1.0
        m.weight.data[...] = rng.uniform(0.1, 0.3, m.weight.shape)
        m.bias.data[...] = rng.uniform(-0.2, 0.2, m.bias.shape)
    model.train()
    with mg.no_grad():
        model(mg.Tensor(rng.standard_normal((4,) + size).astype(np.float32)))
    for m in norms:
        m.momentum = 0.1
    model.eval()


def run_ort(path, x):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def assert_close(got, want, rtol=1e-4):
    scale = np.abs(want).max()
    assert got.shape == want.shape
    assert np.abs(got - want).max() <= rtol * scale, (np.abs(got - want).max(), scale)


@pytest.mark.parametrize("name", list_models())
def test_every_registered_architecture_exports_and_runs_in_onnxruntime(name, tmp_path):
    model, size = small_model(name)
    rng = np.random.default_rng(0)
    path = mgonnx.export(model, mg.Tensor(rng.standard_normal((2,) + size).astype(np.float32)), tmp_path / "m.onnx")
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    assert proto.ir_version == onnx.helper.find_min_ir_version_for([onnx.helper.make_opsetid("", 17)])
    assert [o.version for o in proto.opset_import] == [17]
    assert proto.graph.input[0].name == "input" and proto.graph.output[0].name == "output"
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    state = model.state_dict()
    for init in proto.graph.initializer:  # initializers are the model's tensors, under their state_dict names
        np.testing.assert_array_equal(onnx.numpy_helper.to_array(init), state[init.name])
    # Traced at batch 2, run at batch 3: the batch dimension is symbolic.
    x = rng.standard_normal((3,) + size).astype(np.float32)
    with mg.no_grad():
        want = model(mg.Tensor(x)).numpy()
    assert np.abs(want - want[:1]).max() > 1e-3 * np.abs(want).max()  # the output depends on the input
    assert_close(run_ort(path, x), want)


class Zoo(nn.Module):
    """Every mapped op outside the registered models: windows, resizing, padding, shape and pointwise ops."""

    def __init__(self):
        super().__init__()
        self.same = nn.Conv2d(3, 4, kernel_size=4, padding="same")   # asymmetric padding
        self.grouped = nn.Conv2d(4, 4, kernel_size=3, stride=2, padding=1, dilation=1, groups=2)
        self.dilated = nn.Conv2d(4, 4, kernel_size=3, padding=2, dilation=2)
        self.up = nn.ConvTranspose2d(4, 2, kernel_size=3, stride=2, padding=1, output_padding=1)
        self.lrn = nn.LocalResponseNorm(3, alpha=1e-2, beta=0.75, k=2.0)
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        a = F.leaky_relu(self.same(x), 0.1)
        b = self.lrn(F.sigmoid(self.grouped(a)))                         # 8x8 -> 4x4
        c = F.interpolate(b, scale_factor=2, mode="nearest")
        d = F.interpolate(b, size=(8, 8), mode="bilinear", align_corners=True)
        e = F.interpolate(b, size=(7, 9), mode="bilinear", align_corners=False)
        e = F.pad(e, (0, 0, 1, 0), mode="reflect")                            # 7x9 -> 8x9
        f = mg.cat([c, d], 1) * 0.5 - 1.0
        g = F.max_pool2d(self.dilated(F.tanh(a)), 3, stride=2, ceil_mode=True)       # 8 -> 4 (ceil)
        h = F.min_pool2d(a, 2, dilation=2) / 2.0                              # 8 -> 6
        i = F.avg_pool2d(f, 3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)
        j = F.adaptive_avg_pool2d(h, (4, 3))                                  # unequal windows
        k = self.up(g)                                                        # 4 -> 8
        flat = mg.cat([F.flatten(i, 1), F.flatten(j, 1), F.flatten(F.relu(k), 1), F.flatten(e, 1)], 1)
        rows = F.reshape(flat, flat.shape[0], -1, 8)
        out = F.softmax(mg.clamp(self.fc(rows), -2.0, 2.0), dim=-1)           # Linear on a 3-D input
        return mg.permute(out, 0, 2, 1)


@pytest.mark.parametrize("opset", [13, 17, 21])
def test_the_mapped_ops_agree_with_onnxruntime(opset, tmp_path):
    mg.manual_seed(0)
    model = Zoo().eval()
    rng = np.random.default_rng(1)
    path = mgonnx.export(model, rng.standard_normal((2, 3, 8, 8)).astype(np.float32), tmp_path / "zoo.onnx",
                         opset=opset)
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    ops = {n.op_type for n in proto.graph.node}
    assert {"Conv", "ConvTranspose", "LRN", "Resize", "Pad", "MaxPool", "AveragePool", "MatMul", "Softmax",
            "Clip", "Transpose", "LeakyRelu", "Concat", "Flatten", "Reshape"} <= ops
    resize = {n.name: {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
              for n in proto.graph.node if n.op_type == "Resize"}
    modes = sorted(a["coordinate_transformation_mode"] for a in resize.values())
    assert modes == [b"align_corners", b"asymmetric", b"pytorch_half_pixel"]
    x = rng.standard_normal((3, 3, 8, 8)).astype(np.float32)
    with mg.no_grad():
        want = model(mg.Tensor(x)).numpy()
    assert np.abs(want - want[:1]).max() > 1e-3 * np.abs(want).max()
    assert_close(run_ort(path, x), want)


def test_unet_with_bilinear_upsampling_and_odd_sizes_exports(tmp_path):
    model = get_model("unet", in_channels=1, depth=2, base_channels=4, bilinear=True)
    calibrate(model, (1, 19, 23))
    path = mgonnx.export(model, np.zeros((1, 1, 19, 23), np.float32), tmp_path / "u.onnx")
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    x = np.random.default_rng(2).standard_normal((2, 1, 19, 23)).astype(np.float32)
    with mg.no_grad():
        want = model(mg.Tensor(x)).numpy()
    assert_close(run_ort(path, x), want)


class Indexing(nn.Module):
    def __init__(self):
        super().__init__()
        self.head = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU())

    def forward(self, x):
        return self.head(x)[:, :1]


class Unpool(nn.Module):
    def __init__(self):
        super().__init__()
        self.pool, self.unpool = nn.MaxPool2d(2, return_indices=True), nn.MaxUnpool2d(2)

    def forward(self, x):
        y, idx = self.pool(x)
        return self.unpool(y, idx)


def test_an_op_without_mapping_names_the_op_and_the_layer(tmp_path):
    with pytest.raises(mgonnx.OnnxError, match=r"op GetItem \(in the model's forward\) has no ONNX mapping"):
        mgonnx.export(Indexing(), np.zeros((1, 1, 5, 5), np.float32), tmp_path / "a.onnx")
    with pytest.raises(mgonnx.OnnxError, match=r"op MaxUnpool2d \(in layer 'unpool'\) has no ONNX mapping"):
        mgonnx.export(Unpool(), np.zeros((1, 1, 4, 4), np.float32), tmp_path / "b.onnx")
    assert not list(tmp_path.iterdir())  # nothing written, not even a temporary file


@pytest.mark.parametrize("opset", [12, 22])
def test_unsupported_opset_is_refused(opset, tmp_path):
    with pytest.raises(mgonnx.OnnxError, match=f"opset {opset} is not supported"):
        mgonnx.export(Indexing(), np.zeros((1, 1, 5, 5), np.float32), tmp_path / "a.onnx", opset=opset)


def test_export_restores_training_mode(tmp_path):
    model = get_model("lenet")
    model.train()
    mgonnx.export(model, np.zeros((1, 1, 28, 28), np.float32), tmp_path / "l.onnx")
    assert all(m.training for m in model.modules())
