"""Top activating patches: receptive-field crops, unit maxima and their ordering."""

import numpy as np
import pytest
from hypothesis import given, strategies as st

import minigrad as mg
from minigrad import nn
from minigrad.viz import patches


def _cnn():
    mg.manual_seed(4)
    return nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(3, 5, 3)).eval()


def test_receptive_field_of_conv_pool_conv_by_hand():
    # conv3 p1: size 3, jump 1, centre 0.5; pool 2: size 4, jump 2, centre 1.0; conv3: size 4 + 2*2, jump 2,
    # centre 1.0 + 1 * 2 (continuous coordinates, pixel k spans [k, k + 1]).
    assert patches.layer_receptive_field(_cnn(), (1, 12, 12), "3") == (8, 2, 3.0)
    with pytest.raises(ValueError, match="patches: unknown layer 'conv'"):
        patches.layer_receptive_field(_cnn(), (1, 12, 12), "conv")


@given(st.integers(0, 3), st.integers(0, 3), st.integers(0, 10_000))
def test_a_unit_sees_exactly_its_crop(i, j, seed):
    model = _cnn()
    rf = patches.layer_receptive_field(model, (1, 12, 12), "3")
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((1, 1, 12, 12)).astype(np.float32)
    size, jump, start = rf
    top, left = int(np.floor(start + i * jump - size / 2 + 0.5)), int(np.floor(start + j * jump - size / 2 + 0.5))
    inside = np.zeros((12, 12), dtype=bool)
    inside[max(top, 0):top + size, max(left, 0):left + size] = True
    # The crop shows the image where the field lies inside it, the fill elsewhere.
    crop = patches.crop_receptive_field(x[0].astype(np.float64), (i, j), rf, fill=-9.0)
    assert crop.shape == (1, 8, 8)
    for a in range(8):
        for b in range(8):
            y, xx = top + a, left + b
            want = x[0, 0, y, xx] if 0 <= y < 12 and 0 <= xx < 12 else -9.0
            assert crop[0, a, b] == pytest.approx(want)
    # Changing every pixel outside the field leaves the unit's value unchanged.
    changed = x.copy()
    changed[0, 0][~inside] += rng.standard_normal((~inside).sum()).astype(np.float32) * 5
    with mg.no_grad():
        before = model(mg.Tensor(x)).numpy()[0, :, i, j]
        after = model(mg.Tensor(changed)).numpy()[0, :, i, j]
    np.testing.assert_allclose(before, after, rtol=1e-5, atol=1e-5)


def test_top_patches_are_sorted_and_centred_on_the_strongest_response():
    # A 3x3 convolution that copies its centre pixel: unit 0's response is the image itself.
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1)).eval()
    w = np.zeros((2, 1, 3, 3), dtype=np.float32)
    w[0, 0, 1, 1], w[1, 0, 0, 0] = 1.0, 1.0
    model[0].weight.data[...] = w
    model[0].bias.data[...] = 0.0
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 0.1, (12, 1, 9, 9))
    spots = rng.integers(0, 9, (12, 2))
    brightness = rng.permutation(np.linspace(0.5, 1.0, 12))
    for n, ((y, x), b) in enumerate(zip(spots, brightness)):
        images[n, 0, y, x] = b
    values, positions = patches.unit_maxima(model, images, "0", batch_size=5)
    np.testing.assert_allclose(values[:, 0], brightness, rtol=1e-6)
    np.testing.assert_array_equal(positions[:, 0], spots)
    rf = patches.layer_receptive_field(model, (1, 9, 9), "0")
    assert rf == (3, 1, 0.5)
    crops, chosen = patches.top_patches(values, positions, images, rf, [0], k=4)
    np.testing.assert_array_equal(chosen[0], np.argsort(-brightness)[:4])
    assert crops.shape == (1, 4, 1, 3, 3)
    np.testing.assert_allclose(crops[0, :, 0, 1, 1], np.sort(brightness)[::-1][:4])
    grid = patches.patches_figure(crops)
    assert grid.shape == (1 * 4 + 1, 4 * 4 + 1)
    with pytest.raises(ValueError, match="patches: unit 2 out of range; the layer has 2 units"):
        patches.top_patches(values, positions, images, rf, [2])
