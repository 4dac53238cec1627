"""What a new user meets first: help text with its defaults, --version, one-line errors with exit
code 2, no stray folders after a failed load, chart ticks, titled panels, light-background images."""

import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from minigrad.cli.app import app
from minigrad.data.background import border_level, needs_inversion
from minigrad.viz.curves import panel_ranges, plot_curves
from minigrad.viz.figure import Panel, compose, prediction_text
from minigrad.viz.plot import log_ticks, nice_ticks, tick_label
from minigrad.viz.render import colormap, upscale


def invoke(*args):
    # Wide enough that Rich does not wrap a default over two lines.
    return CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "200"}, terminal_width=200)


# ------------------------------------------------------------------ help
def test_train_help_shows_every_default_and_names_the_argument_in_capitals():
    result = invoke("train", "--help")
    assert result.exit_code == 0
    text = result.output
    for default in ("10; when resuming: as saved", "1e-3 for adam/adamw, 0.05 for sgd", "the optimizer's",
                    "runs/<model>-<timestamp>", "$MINIGRAD_NUM_THREADS or all cores",
                    "$MINIGRAD_DATA or ~/.cache/minigrad", "[default: 64]", "[default: cosine]"):
        assert default in text, default
    assert "synth-shapes" in text  # every --dataset choice, none cut off
    assert "Usage: minigrad train [OPTIONS] MODEL" in text
    assert "{model}" not in text and "<bool>" not in text


@pytest.mark.parametrize("command", [["eval"], ["predict"], ["viz", "saliency"], ["viz", "filters"],
                                     ["viz", "curves"], ["summary"], ["bench"]])
def test_no_help_loses_a_bracketed_default(command):
    result = invoke(*command, "--help")
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.output and "{" not in result.output.split("\n\n")[0]
    # A bracketed "[default: ...]" inside a help string is eaten by Rich markup: none may be left.
    assert " ." not in result.output.replace(" ...", "")


def test_version_option():
    result = invoke("--version")
    assert result.exit_code == 0 and result.output.startswith("minigrad 0.")
    assert invoke("version").output == result.output


# ------------------------------------------------------------- exit codes
def test_summary_errors_are_one_line_with_exit_code_2():
    for args in (["summary", "nosuchnet"], ["summary"]):
        result = invoke(*args)
        assert result.exit_code == 2 and result.output.startswith("error: ") and result.output.count("\n") == 1


def test_curves_with_matplotlib_missing_is_one_line(tmp_path, monkeypatch):
    (tmp_path / "metrics.csv").write_text("epoch,train_loss,train_acc,test_loss,test_acc\n1,1.0,0.5,0.9,0.6\n")
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    result = invoke("viz", "curves", tmp_path, "--backend", "matplotlib")
    assert result.exit_code == 2 and result.output.count("\n") == 1
    assert result.output.startswith("error: ") and 'pip install "minigrad[plot]"' in result.output
    assert invoke("viz", "curves", tmp_path, "--backend", "pillow").exit_code == 0


def test_missing_data_creates_no_folder_and_speaks_data_dir(tmp_path, monkeypatch):
    from minigrad import data as D

    offline = {name: [(f, ["http://127.0.0.1:9/"], md5) for f, _, md5 in items] for name, items in D.RESOURCES.items()}
    monkeypatch.setattr("minigrad.data.datasets.RESOURCES", offline)
    monkeypatch.setenv("MINIGRAD_DATA", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    for dataset in ("mnist", "cifar10"):
        result = invoke("train", "lenet", "--dataset", dataset, "--data-dir", tmp_path / "data", "--epochs", "1")
        assert result.exit_code == 2 and result.output.startswith("error: ") and result.output.count("\n") == 1
        assert "--data-dir" in result.output and "root=" in result.output
    assert "cifar-10-batches-bin/" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == [], "a failed load left folders behind"


# ------------------------------------------------------------------ ticks
def test_nice_ticks_use_steps_of_1_2_5():
    assert nice_ticks(0, 0.52) == (0.0, 0.6, [0.0, 0.2, 0.4, 0.6])
    assert nice_ticks(83.8, 98.8) == (80.0, 100.0, [80.0, 85.0, 90.0, 95.0, 100.0])
    assert nice_ticks(1, 10, max_ticks=8, integer=True)[2] == [0, 2, 4, 6, 8, 10]
    assert nice_ticks(1, 3, max_ticks=8, integer=True)[2] == [1, 2, 3]  # never half an epoch
    assert nice_ticks(0, 1200)[2] == [0, 500, 1000, 1500]
    # An empty range still gets an axis: widened to [4.5, 5.5], cut in steps of 0.2.
    assert nice_ticks(5, 5) == (4.4, 5.6, [4.4, 4.6, 4.8, 5.0, 5.2, 5.4, 5.6])


@pytest.mark.parametrize("lo,hi", [(0.0, 0.013), (-3.2, 7.9), (0.97, 0.985), (12, 12345), (1e-5, 3e-5)])
def test_nice_ticks_enclose_the_data_with_a_round_step(lo, hi):
    first, last, ticks = nice_ticks(lo, hi)
    assert first <= lo and last >= hi and 3 <= len(ticks) <= 7
    step = ticks[1] - ticks[0]
    mantissa = step / 10 ** np.floor(np.log10(step))
    assert min(abs(mantissa - m) for m in (1, 2, 5)) < 1e-6
    assert np.allclose(np.diff(ticks), step)


def test_log_ticks_cut_the_axis_near_the_data():
    # The ImageNet zoo at 224 px: 0.7 to 37 GMACs, 6.6 to 144 M parameters.
    assert log_ticks(0.714, 36.9) == (0.5, 50.0, [0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0])
    assert log_ticks(6.6, 143.7)[:2] == (5.0, 200.0)
    lo, hi, ticks = log_ticks(4e-4, 40)  # more than four decades: decades only
    assert (lo, hi) == (1e-4, 100.0) and len(ticks) == 7
    with pytest.raises(ValueError, match="positive"):
        log_ticks(0, 1)


def test_tick_labels_have_the_decimals_the_step_needs():
    assert [tick_label(t, [0, 0.2, 0.4]) for t in (0, 0.2, 0.4)] == ["0.0", "0.2", "0.4"]
    assert tick_label(1000, [0, 500, 1000]) == "1,000"


def test_curve_axes_loss_from_zero_and_accuracy_in_percent(tmp_path):
    history = [{"epoch": e, "train_loss": 0.9 / e, "test_loss": 0.5 / e, "train_acc": 0.70 + 0.02 * e,
                "test_acc": 0.80 + 0.015 * e} for e in range(1, 11)]
    (loss, series, _, loss_axis), (acc, acc_series, x_axis, acc_axis) = panel_ranges(history)
    assert loss == "loss" and loss_axis[0] == 0.0 and loss_axis[1] >= 0.9
    assert acc == "accuracy" and acc_series["test"][-1] == (10.0, pytest.approx(95.0))
    assert acc_axis[0] <= 72 and acc_axis[1] == 95.0 and acc_axis[2][-1] == 95.0
    near_100 = [dict(row, test_acc=0.9991) for row in history]
    assert max(panel_ranges(near_100)[1][3][2]) == 100.0  # never an axis past 100 %
    assert x_axis[2] == [0, 2, 4, 6, 8, 10]
    from PIL import Image

    image = np.asarray(Image.open(plot_curves(history, tmp_path / "c.png", "lenet on mnist, run x", "pillow")))
    assert image.shape == (460, 1100, 3)
    # The legend sits above the plot areas (which start at y = 74): its blue and orange strokes are there.
    band = image[40:60].reshape(-1, 3)
    for colour in ((31, 119, 180), (255, 127, 14)):
        assert (band == colour).all(axis=1).any()


# ----------------------------------------------------------------- panels
def _find(haystack, needle):
    """Top-left corners where ``needle`` appears verbatim in ``haystack``."""
    h, w = needle.shape[:2]
    hits = []
    for y, x in zip(*np.nonzero(np.all(np.isclose(haystack, needle[0, 0]), axis=-1))):
        if y + h <= haystack.shape[0] and x + w <= haystack.shape[1] and np.allclose(haystack[y:y + h, x:x + w],
                                                                                     needle):
            hits.append((int(y), int(x)))
    return hits


def test_compose_puts_each_panel_whole_under_its_title_with_its_colour_bar():
    rng = np.random.default_rng(0)
    first, second = rng.random((12, 10, 3)), rng.random((12, 10))
    figure = compose([Panel(first, "input"), Panel(second, "heat", ("inferno", "0", "1"))],
                     heading="Saliency: predicted 3 (p = 0.90)", caption="a caption", scale=3)
    (y1, x1), = _find(figure, upscale(first, 3))
    (y2, x2), = _find(figure, upscale(np.repeat(second[..., None], 3, axis=-1), 3))
    assert y1 == y2 > 30 and x2 > x1 + 30  # side by side, below the heading and titles
    # Above each panel: its title in dark ink on white.
    assert (figure[y1 - 20:y1 - 2, x1:x1 + 30] < 0.5).any()
    # Right of the second panel: a bar running the colour map from its top (1) to its bottom (0),
    # inside a one-pixel frame.
    bar = figure[y2:y2 + 36, x2 + 30 + 6 + 5]
    assert np.allclose(bar[1:-1], colormap(np.linspace(1.0, 0.0, 36))[1:-1], atol=1e-9)
    # Below the panels: the caption's text.
    assert (figure[y1 + 36 + 4:] < 0.5).any()


def test_prediction_text_names_the_class_and_its_probability():
    probs = np.array([0.05, 0.9, 0.05])
    assert prediction_text(probs, 1, ["cat", "dog", "fox"]) == "predicted 1 (dog) (p = 0.90)"
    assert prediction_text(probs, 2) == "predicted 1 (p = 0.90); showing class 2 (p = 0.05)"


# -------------------------------------------------------------- background
def test_light_background_is_detected_on_grey_images_only():
    digit = np.zeros((1, 28, 28))
    digit[0, 6:22, 12:16] = 1.0
    assert border_level(digit) == 0.0 and border_level(1 - digit) == 1.0
    assert needs_inversion(1 - digit, [0.13]) and not needs_inversion(digit, [0.13])
    assert not needs_inversion(1 - digit, [0.8])  # trained on light images: leave it
    assert not needs_inversion(np.ones((3, 8, 8)), [0.1, 0.1, 0.1])  # colour photos are never flipped


def test_predict_and_viz_invert_a_light_background_with_a_note(tmp_path):
    import json

    from PIL import Image

    import minigrad as mg
    from minigrad.checkpoint import save_checkpoint
    from minigrad.models import get_model

    mg.manual_seed(0)
    data = {"name": "synth-digits", "classes": [str(i) for i in range(10)], "mean": [0.13], "std": [0.3],
            "input_size": [1, 28, 28], "src_size": [1, 28, 28], "task": "classification"}
    ckpt = tmp_path / "best.npz"
    save_checkpoint(ckpt, get_model("lenet"), config={"model": "lenet", "dataset": "synth-digits"},
                    metrics={"data": data}, model_name="lenet")
    paper = np.full((28, 28), 250, np.uint8)  # a dark stroke on white paper
    paper[6:22, 12:16] = 10
    Image.fromarray(paper).save(tmp_path / "paper.png")
    auto = invoke("predict", ckpt, tmp_path / "paper.png", "--top", "10", "--json")
    forced = invoke("predict", ckpt, tmp_path / "paper.png", "--top", "10", "--json", "--invert")
    kept = invoke("predict", ckpt, tmp_path / "paper.png", "--top", "10", "--no-invert")
    assert auto.exit_code == forced.exit_code == kept.exit_code == 0
    assert "light background; inverted" in invoke("predict", ckpt, tmp_path / "paper.png").output
    assert "inverted" not in kept.output
    assert json.loads(auto.stdout) == json.loads(forced.stdout)
    result = invoke("viz", "saliency", ckpt, tmp_path / "paper.png", "--out", tmp_path / "s.png")
    assert result.exit_code == 0 and "light background; inverted" in result.output
    assert "inverted" not in invoke("viz", "saliency", ckpt, tmp_path / "paper.png", "--no-invert",
                                    "--out", tmp_path / "s2.png").output
