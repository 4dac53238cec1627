"""``minigrad.summary``: receptive fields against hand-computed values, MACs against the layer formulas, errors, CLI."""

import json

import numpy as np
import pytest
import typer
from hypothesis import assume, given, strategies as st
from PIL import Image
from typer.testing import CliRunner

import minigrad as mg
from cli.summary import register
from minigrad.models import get_model
from minigrad.models.vgg import CONFIGS, make_features
from minigrad.compare import compare, format_compare, plot_cost
from minigrad.model_summary import InputTooSmallError, summary


def rf(s, name):
    return s.layer(name).receptive_field


def test_lenet5_receptive_field_by_hand():
    # r_out = r_in + (k-1) j_in, j_out = j_in s, start_out = start_in + ((k-1)/2 - p) j_in, from r=1, j=1, start=0.5:
    # conv1 5x5 p2 -> (5, 1, 0.5); pool 2x2/2 -> (6, 2, 1.0); conv2 5x5 -> (14, 2, 5.0); pool -> (16, 4, 6.0).
    s = summary(get_model("lenet5"), (1, 28, 28))
    assert [r.name for r in s.layers] == ["conv1", "max_pool2d_1", "conv2", "max_pool2d_2", "fc1", "fc2", "fc3"]
    assert rf(s, "conv1") == {"size": 5, "jump": 1, "start": 0.5}
    assert rf(s, "max_pool2d_1") == {"size": 6, "jump": 2, "start": 1.0}
    assert rf(s, "conv2") == {"size": 14, "jump": 2, "start": 5.0}
    assert rf(s, "max_pool2d_2") == {"size": 16, "jump": 4, "start": 6.0}
    # After flattening, every unit sees the whole 28x28 image.
    assert rf(s, "fc1") == {"size": 28, "jump": None, "start": None}
    assert s.depth == 5
    assert s.total_params == 61_706


def test_lenet5_shapes_macs_and_memory_by_hand():
    s = summary(get_model("lenet5"), (1, 28, 28))
    by_hand = {  # Cout*Hout*Wout*Cin*K*K for convolutions, in*out for linear layers
        "conv1": ((1, 6, 28, 28), 6 * 28 * 28 * 1 * 25),
        "max_pool2d_1": ((1, 6, 14, 14), 0),
        "conv2": ((1, 16, 10, 10), 16 * 10 * 10 * 6 * 25),
        "max_pool2d_2": ((1, 16, 5, 5), 0),
        "fc1": ((1, 120), 400 * 120),
        "fc2": ((1, 84), 120 * 84),
        "fc3": ((1, 10), 84 * 10),
    }
    for row in s.layers:
        shape, macs = by_hand[row.name]
        assert row.output_shape == shape and row.macs == macs, row.name
        assert row.memory == 4 * int(np.prod(shape))
    assert s.total_macs == sum(m for _, m in by_hand.values())
    assert s.layer("conv1").params == 6 * 25 + 6


def test_vgg16_receptive_fields_by_hand():
    # 3x3 convs (padding 1) add 2 jumps, 2x2/2 pools add 1 jump and double it (the course's table).
    s = summary(make_features(CONFIGS[16]), (3, 32, 32))
    convs = [r for r in s.layers if r.type == "Conv2d"]
    pools = [r for r in s.layers if r.type == "MaxPool2d"]
    assert [r.receptive_field["size"] for r in convs] == [3, 5, 10, 14, 24, 32, 40, 60, 76, 92, 132, 164, 196]
    assert [r.receptive_field["size"] for r in pools] == [6, 16, 44, 100, 212]
    assert [r.receptive_field["jump"] for r in pools] == [2, 4, 8, 16, 32]
    assert [r.receptive_field["start"] for r in pools] == [1.0, 2.0, 4.0, 8.0, 16.0]
    assert rf(s, "28")["size"] == 196  # conv5_3
    assert rf(s, "30")["size"] == 212  # pool5
    assert s.depth == 13


def test_resnet18_receptive_field_follows_the_main_path():
    # conv1 7x7/2 -> 7 (j 2); maxpool 3x3/2 -> 11 (j 4); layer1: four 3x3 -> 43; each later stage:
    # a strided 3x3 adds 2 j, three more 3x3 add 6 j at the doubled jump: 99, 211, 435.
    s = summary(get_model("resnet18"), (3, 64, 64))
    assert rf(s, "conv1") == {"size": 7, "jump": 2, "start": 0.5}
    assert rf(s, "maxpool") == {"size": 11, "jump": 4, "start": 0.5}
    assert rf(s, "layer1.1.conv2")["size"] == 43
    assert rf(s, "layer2.0.downsample.0") == {"size": 43, "jump": 8, "start": 0.5}
    assert rf(s, "layer2.0.conv1") == {"size": 51, "jump": 8, "start": 0.5}
    assert rf(s, "layer2.1.conv2")["size"] == 99
    assert rf(s, "layer3.1.conv2")["size"] == 211
    assert rf(s, "layer4.1.conv2") == {"size": 435, "jump": 32, "start": 0.5}
    # The 2x2 map of layer4 is averaged: a 2x2 window adds one jump.
    assert rf(s, "avgpool")["size"] == 467
    assert s.depth == 18


def test_googlenet_branches_and_depth():
    s = summary(get_model("googlenet", aux_logits=False), (3, 64, 64))
    base = rf(s, "maxpool2")
    assert rf(s, "inception3a.branch1.conv")["size"] == base["size"]
    assert rf(s, "inception3a.branch2.1.conv")["size"] == base["size"] + 2 * base["jump"]
    # The concatenation carries the largest field of its branches into the next module.
    assert rf(s, "inception3b.branch1.conv") == rf(s, "inception3a.branch2.1.conv")
    assert s.depth == 22  # "22 layers deep when counting only layers with parameters"
    assert s.total_params == 6_624_904 and s.unused_params == 0


def test_googlenet_aux_heads_are_listed_as_not_run():
    s = summary(get_model("googlenet", num_classes=10, small_input=True), (3, 32, 32))
    assert not any(r.name.startswith("aux") for r in s.layers)
    aux = sum(int(np.prod(p.shape)) for n, p in get_model("googlenet", num_classes=10).named_parameters()
              if n.startswith("aux"))
    assert s.unused_params == aux


def test_unet_receptive_field_depth_and_transposed_conv_macs():
    s = summary(get_model("unet", num_classes=2, in_channels=1, base_channels=4), (1, 32, 32))
    # Down: 3, 5 | pool 6, 10, 14 | 16, 24, 32 | 36, 52, 68 | 76, 108, 140 (jump 16).
    assert rf(s, "downs.3.1.4")["size"] == 140
    # A 2x2/2 up-convolution: each output comes from one input pixel; the jump halves.
    assert rf(s, "ups.0.up")["size"] == 140 and rf(s, "ups.0.up")["jump"] == 8
    # Then two 3x3 at jumps 8, 4, 2, 1 per level: 172, 188, 196, 200.
    assert rf(s, "outc")["size"] == 200
    assert s.depth == 23  # the paper's 23 convolutional layers
    up = s.layer("ups.0.up")
    assert up.output_shape == (1, 32, 4, 4)
    assert up.macs == 64 * 2 * 2 * 32 * 2 * 2  # Cin*Hin*Win*Cout*K*K
    assert s.layers[-1].output_shape == (1, 2, 32, 32)


def test_alexnet_macs_at_224_by_hand():
    by_hand = (64 * 55 * 55 * 3 * 121 + 192 * 27 * 27 * 64 * 25 + 384 * 13 * 13 * 192 * 9
               + 256 * 13 * 13 * 384 * 9 + 256 * 13 * 13 * 256 * 9 + 9216 * 4096 + 4096 * 4096 + 4096 * 1000)
    s = summary(get_model("alexnet"), (3, 224, 224))
    assert s.total_macs == by_hand == 714_188_480
    assert rf(s, "features.12")["size"] == 195  # pool5
    assert s.layer("features.12").output_shape == (1, 256, 6, 6)


def test_too_small_input_names_the_layer_and_suggests_small_input():
    # 28 -> conv1 (11/4, pad 2) 6 -> pool 2 -> conv2 2 -> pool features.5: (2 - 3) / 2 + 1 = 0.
    with pytest.raises(InputTooSmallError, match=r"'features\.5'.*small_input=True"):
        summary(get_model("alexnet", num_classes=10), (3, 28, 28))
    assert issubclass(InputTooSmallError, ValueError)


def test_summary_restores_training_mode_and_hooks():
    model = get_model("resnet18", num_classes=10, small_input=True).train()
    summary(model, (3, 8, 8))
    assert all(m.training for m in model.modules())
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


def test_summary_rejects_bad_input_size():
    with pytest.raises(ValueError, match="three positive integers"):
        summary(get_model("lenet5"), (28, 28))


def test_format_and_json():
    s = summary(get_model("lenet5"), (1, 28, 28))
    text = s.format()
    assert "conv2" in text and "Total params:        61,706" in text and "RF" in text
    data = json.loads(s.to_json())
    assert {"layers", "total_params", "total_macs"} <= set(data)
    assert set(data["layers"][0]) >= {"name", "type", "output_shape", "params", "macs", "receptive_field"}
    assert data["layers"][2]["receptive_field"] == {"size": 14, "jump": 2, "start": 5}


def test_compare_and_chart(tmp_path):
    rows = compare(["lenet5", "resnet18"], (3, 64, 64))
    assert [r["name"] for r in rows] == ["lenet5", "resnet18"]
    assert rows[0]["input_size"] == (1, 28, 28)  # LeNet-5 runs at its own size
    assert rows[1]["params"] == 11_689_512 and rows[1]["depth"] == 18
    table = format_compare(rows)
    assert "| resnet18 | 3x64x64 | 11,689,512 |" in table
    plot_cost(rows, tmp_path / "cost.png")
    image = Image.open(tmp_path / "cost.png")
    assert image.size == (900, 640)
    assert len(np.unique(np.asarray(image).reshape(-1, 3), axis=0)) > 2  # something was drawn


@pytest.fixture
def cli():
    app = typer.Typer()
    register(app)
    return app, CliRunner()


def test_cli_summary_json(cli):
    app, runner = cli
    result = runner.invoke(app, ["summary", "lenet5", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [layer["name"] for layer in data["layers"]][:2] == ["conv1", "max_pool2d_1"]
    assert data["total_params"] == 61_706


def test_cli_summary_table_small_input(cli):
    app, runner = cli
    result = runner.invoke(app, ["summary", "resnet18", "--small-input", "--num-classes", "10"])
    assert result.exit_code == 0, result.output
    assert "layer4.1.conv2" in result.stdout and "3x32x32" in result.stdout


def test_cli_summary_errors(cli, tmp_path):
    app, runner = cli
    result = runner.invoke(app, ["summary", "alexnet", "--input-size", "3,28,28"])
    assert result.exit_code == 2 and "features.5" in result.output and "--small-input" in result.output
    assert runner.invoke(app, ["summary", "nosuchnet"]).exit_code == 2
    assert runner.invoke(app, ["summary", "lenet5", "--input-size", "3,x"]).exit_code == 2
    assert runner.invoke(app, ["summary"]).exit_code == 2
    result = runner.invoke(app, ["summary", "lenet5", "--small-input"])
    assert result.exit_code == 2 and "no small-input variant" in result.output
    result = runner.invoke(app, ["convert-weights", str(tmp_path / "missing.pt"), str(tmp_path / "out.npz")])
    assert result.exit_code == 2 and "no such file" in result.output
    # The same one-line "error: ..." as every other command, never "Error:".
    assert result.output.startswith("error: ") and result.output.count("\n") == 1


def test_cli_compare(cli, tmp_path):
    app, runner = cli
    chart = tmp_path / "chart.png"
    result = runner.invoke(app, ["summary", "lenet5", "--compare", "--input-size", "1,28,28", "--chart", str(chart)])
    assert result.exit_code == 0, result.output
    assert "| lenet5 | 1x28x28 | 61,706 |" in result.stdout
    assert chart.exists()


layer_specs = st.lists(
    st.tuples(st.sampled_from(["conv", "avg"]), st.integers(1, 4), st.integers(1, 2), st.integers(0, 2),
              st.integers(1, 2)),
    min_size=1, max_size=3)


@given(specs=layer_specs)
def test_receptive_field_equals_the_gradient_support(specs):
    # Independent oracle: with positive weights, the input pixels that influence one output pixel are
    # exactly those with a non-zero gradient; their extent is the receptive field, their centre `start + i*j`.
    layers = []
    for kind, k, s, p, d in specs:
        p = min(p, k // 2)
        if kind == "conv":
            conv = mg.nn.Conv2d(1, 1, k, stride=s, padding=p, dilation=d, bias=False)
            conv.weight.data[...] = 1.0
            layers.append(conv)
        else:
            layers.append(mg.nn.AvgPool2d(k, stride=s, padding=p))
    model = mg.nn.Sequential(*layers).to(dtype=np.float64)
    size = 64
    s = summary(model, (1, size, size), dtype=np.float64)
    field = s.layers[-1].receptive_field
    r, j, start = field["size"], field["jump"], field["start"]
    out_size = s.layers[-1].output_shape[2]
    i = out_size // 2
    centre = start + i * j
    lo, hi = centre - r / 2, centre + r / 2  # in pixel-edge coordinates
    x = mg.Tensor(np.ones((1, 1, size, size)), requires_grad=True)
    out = model(x)
    weights = np.zeros(out.shape)
    weights[0, 0, i, i] = 1.0
    out.backward(weights)
    rows = np.nonzero(x.grad.numpy()[0, 0].sum(axis=1))[0]
    assume(lo >= 0 and hi <= size)  # the field lies inside the image, so no padding hides part of it
    assert rows.min() == lo and rows.max() + 1 == hi


def test_cli_convert_weights(cli, tmp_path):
    torch = pytest.importorskip("torch")
    app, runner = cli
    layer = torch.nn.Conv2d(3, 4, 3)
    torch.save({"module.conv.weight": layer.weight.detach(), "module.conv.bias": layer.bias.detach()},
               tmp_path / "w.pt")
    result = runner.invoke(app, ["convert-weights", str(tmp_path / "w.pt"), str(tmp_path / "w.npz")])
    assert result.exit_code == 0, result.output
    assert "2 arrays, 112 values" in result.stdout
    with np.load(tmp_path / "w.npz") as data:
        assert sorted(data.files) == ["conv.bias", "conv.weight"]  # DataParallel's "module." is dropped
        np.testing.assert_array_equal(data["conv.weight"], layer.weight.detach().numpy())
