"""interpolate (nearest, bilinear), bed_of_nails and the upsampling layers against minigrad.reference."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad as mg
import minigrad.nn as nn
from minigrad import reference as R


def assert_close(actual, expected, dtype):
    tol = 1e-10 if np.dtype(dtype) == np.float64 else 1e-5
    scale = max(1.0, float(np.max(np.abs(expected)))) if np.size(expected) else 1.0
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol * scale)


@st.composite
def resize_cases(draw):
    h, w = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    if draw(st.booleans()):
        size, factor = (draw(st.integers(1, 15)), draw(st.integers(1, 15))), None
        out = size
    else:
        factor = (draw(st.sampled_from([0.5, 1.0, 1.5, 2.0, 2.5, 3.0])), draw(st.sampled_from([0.75, 1.0, 2.0, 3.0])))
        out = (math.floor(h * factor[0]), math.floor(w * factor[1]))
        if min(out) < 1:
            factor = (2.0, 3.0)
            out = (2 * h, 3 * w)
        size = None
    return dict(shape=(draw(st.integers(1, 2)), draw(st.integers(1, 3)), h, w), size=size, factor=factor, out=out,
                dtype=draw(st.sampled_from([np.float32, np.float64])), seed=draw(st.integers(0, 2**16)))


def make(case):
    return np.random.default_rng(case["seed"]).standard_normal(case["shape"]).astype(case["dtype"])


@given(resize_cases())
def test_nearest_matches_reference(case):
    x = make(case)
    out = mg.interpolate(mg.Tensor(x), size=case["size"], scale_factor=case["factor"])
    assert out.shape[2:] == case["out"]
    np.testing.assert_array_equal(out.numpy(), R.interpolate_nearest(x, case["out"], case["factor"]))


@given(resize_cases(), st.booleans())
def test_bilinear_matches_reference(case, align_corners):
    x = make(case)
    out = mg.interpolate(mg.Tensor(x), size=case["size"], scale_factor=case["factor"], mode="bilinear",
                         align_corners=align_corners)
    expected = R.interpolate_bilinear(x.astype(np.float64), case["out"], align_corners, case["factor"])
    assert_close(out.numpy(), expected, case["dtype"])


def test_scale_factor_and_size_give_different_coordinates():
    # 3 -> 7 columns: size uses in/out = 3/7, scale_factor 2.5 uses 1/2.5 (PyTorch's distinction).
    x = np.arange(3.0).reshape(1, 1, 1, 3)
    by_size = mg.interpolate(mg.Tensor(x), size=(1, 7), mode="bilinear").numpy()
    by_factor = mg.interpolate(mg.Tensor(x), scale_factor=(1.0, 2.5), mode="bilinear").numpy()
    assert by_size.shape == by_factor.shape == (1, 1, 1, 7)
    np.testing.assert_allclose(by_size, R.interpolate_bilinear(x, (1, 7)), rtol=1e-12)
    np.testing.assert_allclose(by_factor, R.interpolate_bilinear(x, (1, 7), scale_factor=(1.0, 2.5)), rtol=1e-12)
    assert not np.allclose(by_size, by_factor)
    recomputed = mg.interpolate(mg.Tensor(x), scale_factor=(1.0, 2.5), mode="bilinear", recompute_scale_factor=True)
    np.testing.assert_allclose(recomputed.numpy(), by_size, rtol=1e-12)


def test_align_corners_keeps_the_corner_values():
    x = np.random.default_rng(0).standard_normal((1, 2, 3, 4))
    out = mg.interpolate(mg.Tensor(x), size=(7, 9), mode="bilinear", align_corners=True).numpy()
    np.testing.assert_allclose(out[..., [0, -1], :][..., [0, -1]], x[..., [0, -1], :][..., [0, -1]], rtol=1e-12)


def test_nearest_by_two_repeats_pixels():
    x = np.random.default_rng(1).standard_normal((2, 2, 3, 4))
    out = mg.interpolate(mg.Tensor(x), scale_factor=2).numpy()
    np.testing.assert_array_equal(out, x.repeat(2, axis=2).repeat(2, axis=3))


@pytest.mark.parametrize("scale", [1, 2, 3, (2, 3)])
def test_bed_of_nails(scale):
    x = np.random.default_rng(2).standard_normal((2, 3, 3, 4))
    out = mg.bed_of_nails(mg.Tensor(x), scale).numpy()
    np.testing.assert_array_equal(out, R.bed_of_nails(x, scale))
    sh, sw = (scale, scale) if isinstance(scale, int) else scale
    assert np.count_nonzero(out) == np.count_nonzero(x) and out.shape == (2, 3, 3 * sh, 4 * sw)


@pytest.mark.parametrize("kwargs", [
    dict(size=(5, 7)), dict(scale_factor=1.5), dict(scale_factor=(2, 0.5)),
    dict(size=(5, 7), mode="bilinear"), dict(size=(2, 9), mode="bilinear", align_corners=True),
    dict(scale_factor=2.5, mode="bilinear"), dict(size=(1, 1), mode="bilinear", align_corners=True),
])
def test_interpolate_gradcheck(kwargs):
    x = np.random.default_rng(3).standard_normal((2, 2, 3, 4))
    assert mg.gradcheck(lambda t: mg.interpolate(t, **kwargs), [x])


def test_bed_of_nails_gradcheck():
    x = np.random.default_rng(4).standard_normal((1, 2, 3, 3))
    assert mg.gradcheck(lambda t: mg.bed_of_nails(t, (2, 3)), [x])


@pytest.mark.parametrize("call, message", [
    (lambda x: mg.interpolate(x), "exactly one"),
    (lambda x: mg.interpolate(x, size=4, scale_factor=2), "exactly one"),
    (lambda x: mg.interpolate(x, size=4, mode="trilinear"), "mode"),
    (lambda x: mg.interpolate(x, size=4, mode="linear"), "mode 'linear' does not apply to a 4-D input"),
    (lambda x: mg.interpolate(x, size=4, align_corners=True), "align_corners"),
    (lambda x: mg.interpolate(x, scale_factor=0.1), "output size"),
    (lambda x: mg.interpolate(x, scale_factor=-1.0), "positive"),
    (lambda x: mg.interpolate(mg.Tensor(np.zeros((2, 3))), size=4), "4-D"),
    (lambda x: mg.interpolate(x, size=4, antialias=True), "antialias"),
    (lambda x: mg.bed_of_nails(x, 0), "scale"),
])
def test_bad_input_raises_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call(mg.Tensor(np.zeros((1, 1, 3, 3))))


def test_layers():
    x = mg.Tensor(np.random.default_rng(5).standard_normal((1, 2, 3, 4)).astype(np.float32))
    assert nn.Upsample(scale_factor=2)(x).shape == (1, 2, 6, 8)
    bilinear = nn.Upsample(size=(5, 5), mode="bilinear", align_corners=True)(x).numpy()
    np.testing.assert_allclose(nn.UpsamplingBilinear2d(size=(5, 5))(x).numpy(), bilinear)
    np.testing.assert_array_equal(nn.UpsamplingNearest2d(scale_factor=3)(x).numpy(),
                                  mg.interpolate(x, scale_factor=3).numpy())
    assert nn.BedOfNails(2)(x).shape == (1, 2, 6, 8)


@settings(max_examples=20)
@given(resize_cases(), st.booleans())
def test_interpolate_matches_pytorch(case, align_corners):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    F = torch.nn.functional
    x = make(case)
    kwargs = dict(size=case["size"], scale_factor=case["factor"])
    np.testing.assert_array_equal(mg.interpolate(mg.Tensor(x), **kwargs).numpy(),
                                  F.interpolate(torch.tensor(x), **kwargs).numpy())
    xt = mg.Tensor(x, requires_grad=True)
    out = mg.interpolate(xt, mode="bilinear", align_corners=align_corners, **kwargs)
    tx = torch.tensor(x, requires_grad=True)
    ref = F.interpolate(tx, mode="bilinear", align_corners=align_corners, **kwargs)
    g = np.random.default_rng(0).standard_normal(out.shape).astype(x.dtype)
    out.backward(gradient=g)
    ref.backward(torch.tensor(g))
    assert_close(out.numpy(), ref.detach().numpy(), case["dtype"])
    assert_close(xt.grad.numpy(), tx.grad.numpy(), case["dtype"])
