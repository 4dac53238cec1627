"""minigrad.viz.render, filters and activations: arrays checked against explicit constructions."""

import numpy as np
import pytest
from hypothesis import given, strategies as st
from PIL import Image

import minigrad as mg
from minigrad import nn
from minigrad.viz import activations, filters, render


@given(st.integers(1, 12), st.integers(1, 5), st.integers(1, 6), st.integers(0, 2), st.integers(1, 5))
def test_tile_grid_places_every_tile_by_the_formula(n, h, w, pad, ncols):
    tiles = np.random.default_rng(n).random((n, h, w))
    grid = render.tile_grid(tiles, ncols=ncols, pad=pad, pad_value=-1.0)
    rows = -(-n // ncols)
    assert grid.shape == (rows * (h + pad) + pad, ncols * (w + pad) + pad)
    for i in range(n):
        r, c = divmod(i, ncols)
        y, x = pad + r * (h + pad), pad + c * (w + pad)
        np.testing.assert_array_equal(grid[y:y + h, x:x + w], tiles[i])
    # Everything that is not a tile is padding.
    assert (grid == -1.0).sum() == grid.size - n * h * w


def test_normalize_and_colormap_ends():
    a = np.array([-2.0, 0.0, 6.0])
    np.testing.assert_allclose(render.normalize(a), [0.0, 0.25, 1.0])
    np.testing.assert_allclose(render.normalize(a, symmetric=True), [0.5 - 2 / 12, 0.5, 1.0])
    np.testing.assert_array_equal(render.normalize(np.full(3, 4.0)), np.full(3, 0.5))
    cm = render.colormap(np.array([0.0, 1.0]))
    np.testing.assert_allclose(cm[0], render._INFERNO[0])
    np.testing.assert_allclose(cm[1], render._INFERNO[-1])
    with pytest.raises(ValueError, match="unknown colour map 'jet'"):
        render.colormap(a, "jet")


def test_save_png_round_trip(tmp_path):
    img = np.random.default_rng(0).random((5, 7, 3))
    path = render.save_png(img, tmp_path / "sub" / "a.png", scale=3)
    back = np.asarray(Image.open(path))
    assert back.shape == (15, 21, 3)
    np.testing.assert_array_equal(back[::3, ::3], render.to_uint8(img))
    with pytest.raises(ValueError, match=r"save_png: expected \(H, W\) or \(H, W, 3\), got shape \(2, 2, 2\)"):
        render.save_png(np.zeros((2, 2, 2)), tmp_path / "b.png")


def _tiny_cnn(c_in=1):
    mg.manual_seed(0)
    return nn.Sequential(nn.Conv2d(c_in, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(4, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(12, 2)).eval()


def test_filters_first_layer_grey_and_colour():
    model = _tiny_cnn()
    name, w = filters.filter_weights(model)
    assert name == "0"
    np.testing.assert_array_equal(w, model[0].weight.numpy())
    grid = filters.filter_grid(w)
    # 4 kernels of 3x3: 2 per row, each normalized symmetrically around zero.
    assert grid.shape == (2 * 4 + 1, 2 * 4 + 1)
    np.testing.assert_allclose(grid[1:4, 5:8], 0.5 + 0.5 * w[1, 0] / np.abs(w[1, 0]).max())

    rgb = _tiny_cnn(3)
    w3 = filters.filter_weights(rgb)[1]
    grid = filters.filter_grid(w3)
    assert grid.shape == (9, 9, 3)
    tile = np.transpose(w3[3], (1, 2, 0))
    np.testing.assert_allclose(grid[5:8, 5:8], (tile - tile.min()) / (tile.max() - tile.min()))


def test_filters_deeper_layer_channel_by_channel_and_errors():
    model = _tiny_cnn()
    name, w = filters.filter_weights(model, "3")
    assert w.shape == (3, 4, 3, 3)
    grid = filters.filter_grid(w)
    assert grid.shape == (3 * 4 + 1, 4 * 4 + 1)  # one row per output channel, one tile per input channel
    np.testing.assert_allclose(grid[5:8, 9:12], 0.5 + 0.5 * w[1, 2] / np.abs(w[1, 2]).max())
    with pytest.raises(ValueError, match=r"unknown layer 'conv9'; valid layers: 0 \(Conv2d\), 1 \(ReLU\)"):
        filters.filter_weights(model, "conv9")
    with pytest.raises(ValueError, match=r"layer '6' \(Linear\) has no convolution kernels; layers with kernels: 0, 3"):
        filters.filter_weights(model, "6")


def test_activations_match_numpy_convolution():
    model = _tiny_cnn()
    x = np.random.default_rng(3).random((1, 8, 8)).astype(np.float32)
    name, act = activations.layer_activations(model, x)
    w, b = model[0].weight.numpy().astype(np.float64), model[0].bias.numpy().astype(np.float64)
    padded = np.pad(x[0].astype(np.float64), 1)
    windows = np.lib.stride_tricks.sliding_window_view(padded, (3, 3))
    expected = np.einsum("ijkl,okl->oij", windows, w[:, 0]) + b[:, None, None]
    assert name == "0"
    np.testing.assert_allclose(act, expected, rtol=1e-5, atol=1e-5)
    grid = activations.activation_grid(act)
    assert grid.shape == (2 * 9 + 1, 2 * 9 + 1)
    np.testing.assert_allclose(grid[1:9, 10:18], render.normalize(expected[1]), atol=1e-5)
    assert activations.layer_activations(model, x, "6")[1].shape == (2,)
