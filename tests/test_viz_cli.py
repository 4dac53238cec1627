"""``minigrad viz`` commands on a tiny LeNet-5 checkpoint: each writes a PNG of the expected size."""

import re

import numpy as np
import pytest
import typer
from PIL import Image
from typer.testing import CliRunner

import minigrad as mg
from minigrad.checkpoint import save_checkpoint
from minigrad.cli.viz import register
from minigrad.models import get_model

CLASSES = [str(i) for i in range(10)]


@pytest.fixture(scope="module")
def app():
    root = typer.Typer()

    @root.callback()
    def _root():
        """test root"""

    register(root)
    return root


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    mg.manual_seed(0)
    model = get_model("lenet", num_classes=10, in_channels=1)
    data = {"name": "synth-digits", "classes": CLASSES, "mean": [0.14], "std": [0.3], "input_size": [1, 28, 28],
            "src_size": [1, 28, 28], "task": "classification"}
    config = {"model": "lenet", "dataset": "synth-digits", "test_split": "test", "seed": 0, "model_kwargs": {}}
    path = tmp_path_factory.mktemp("run") / "best.npz"
    save_checkpoint(path, model, config=config, metrics={"data": data}, model_name="lenet")
    return path


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    path = tmp_path_factory.mktemp("img") / "digit.png"
    pixels = np.zeros((28, 28), dtype=np.uint8)
    pixels[6:22, 12:16] = 255
    Image.fromarray(pixels).save(path)
    return path


def run(app, *args, code=0):
    result = CliRunner().invoke(app, ["viz", *map(str, args)])
    assert result.exit_code == code, result.output
    return result.output


def written(output):
    path = re.search(r"wrote (.+\.png)", output).group(1).strip()
    with Image.open(path) as img:
        img.verify()
    with Image.open(path) as img:
        return path, img.size  # (width, height)


def test_filters_and_default_output_beside_the_checkpoint(app, ckpt):
    path, size = written(run(app, "filters", ckpt))
    assert path == str(ckpt.parent / "best-filters.png")
    # 6 kernels of 5x5 in rows of 3 (1-px padding), enlarged to a readable ~360 px, plus heading and caption.
    assert size[0] >= 350 and size[1] > (2 * 6 + 1) * (360 // (3 * 6 + 1))
    _, size = written(run(app, "filters", ckpt, "--layer", "conv2", "--scale", "2"))
    # 16 rows of 6 tiles at 2 px per weight, plus the numbered axes.
    assert size[0] > (6 * 6 + 1) * 2 and size[1] > (16 * 6 + 1) * 2


def test_image_commands_write_pngs_of_the_expected_size(app, ckpt, image, tmp_path):
    scale = 160 // 28
    out = tmp_path / "sal.png"
    output = run(app, "saliency", ckpt, image, "--class", "3", "--out", out)
    path, size = written(output)
    # Four panels (two with colour bars) side by side under their titles and the heading.
    assert path == str(out) and size[0] > 4 * 28 * scale and size[1] > 28 * scale + 40
    assert "class 3" in output
    _, size = written(run(app, "occlusion", ckpt, image, "--patch", "6", "--stride", "4", "--out", tmp_path / "o.png"))
    assert size[0] > 3 * 28 * scale and size[1] > 28 * scale + 40
    _, size = written(run(app, "deconvnet", ckpt, image, "--layer", "conv2", "--unit", "5", "--out", tmp_path / "d.png"))
    assert size[0] > 2 * 28 * scale and size[1] > 28 * scale + 40
    _, size = written(run(app, "activations", ckpt, image, "--out", tmp_path / "a.png"))
    grid_w = 3 * 29 + 1  # conv1: 6 maps of 28x28, 3 per row
    assert size[0] >= grid_w * (400 // grid_w) and size[1] > (2 * 29 + 1) * (400 // grid_w)
    output = run(app, "activations", ckpt, image, "--layer", "fc1", "--out", tmp_path / "fc.png")
    assert "fc1: output 120" in output and written(output)[1][0] >= 700  # a bar chart, not a 120x1 strip
    output = run(app, "dream", ckpt, image, "--layer", "conv2", "--steps", "3", "--octaves", "2",
                 "--out", tmp_path / "dream.png")
    _, size = written(output)
    assert size[0] > 2 * 28 * (224 // 28) and size[1] > 28 * (224 // 28) + 40


def test_dataset_commands(app, ckpt, tmp_path):
    output = run(app, "embed", ckpt, "--n", "60", "--iters", "300", "--perplexity", "10", "--out", tmp_path / "t.png")
    assert written(output)[1] == (480 + 130, 480 + 40)
    _, size = written(run(app, "embed", ckpt, "--method", "pca", "--n", "30", "--out", tmp_path / "p.png"))
    assert size == (610, 520)
    k, q = 3, 2
    _, size = written(run(app, "neighbors", ckpt, "--n", "40", "--k", k, "--queries", q, "--out", tmp_path / "n.png"))
    assert size == (30 + 6 + (k * 29 + 1) + 6 + (k * 29 + 1), 12 + q * 30 + (q - 1) * 2)
    output = run(app, "patches", ckpt, "--layer", "conv2", "--units", "3", "--k", "4", "--n", "40",
                 "--out", tmp_path / "patch.png")
    # conv2's receptive field in LeNet-5: 5 (conv1) + 1 (pool) + 4 * 2 (conv2 after a stride-2 pool) = 14.
    assert "receptive field 14 px" in output
    _, size = written(output)
    grid = (4 * 15 + 1, 3 * 15 + 1)  # 3 units x 4 patches of 14 px, 1-px gaps, enlarged, under a heading
    assert size[0] >= grid[0] * (320 // grid[0]) and size[1] > grid[1] * (320 // grid[0]) + 20
    _, size = written(run(app, "saliency", ckpt, "test:3", "--out", tmp_path / "s3.png"))
    assert size[1] > 28 * (160 // 28)


def test_curves_from_a_run_folder(app, tmp_path):
    (tmp_path / "metrics.csv").write_text("epoch,train_loss,train_acc,test_loss,test_acc,lr\n"
                                          "1,1.0,0.6,0.9,0.7,0.001\n2,0.5,0.8,0.6,0.8,0.0005\n")
    path, size = written(run(app, "curves", tmp_path))
    assert path == str(tmp_path / "curves.png") and min(size) > 50
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no metrics.csv or last.npz with a training history" in " ".join(run(app, "curves", empty, code=2).split())


def test_bad_input_messages(app, ckpt, tmp_path):
    output = run(app, "filters", ckpt, "--layer", "conv9", code=2)
    assert "unknown layer 'conv9'; valid layers: conv1 (Conv2d), conv2 (Conv2d), fc1 (Linear)" in " ".join(output.split())
    nameless = tmp_path / "nameless.npz"
    save_checkpoint(nameless, get_model("lenet"))
    output = " ".join(run(app, "filters", nameless, code=2).split())
    assert "does not record which model it holds; pass it with --model NAME" in output
    written(run(app, "filters", nameless, "--model", "lenet"))
    rgb = tmp_path / "big.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (30, 40, 3), dtype=np.uint8)).save(rgb)
    output = run(app, "saliency", ckpt, rgb, "--out", tmp_path / "s.png")
    assert "converted RGB image to L" in output and "resized 40x30 image to the model's 28x28" in output
    output = " ".join(run(app, "saliency", ckpt, tmp_path / "missing.png", code=2).split())
    assert "no such image file" in output
    output = " ".join(run(app, "curves", tmp_path / "none", code=2).split())
    assert "no such run folder" in output
