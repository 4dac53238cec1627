"""Pooling and unpooling ops and layers against minigrad.reference's explicit loops."""

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
def pool_cases(draw, dilation=True):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    dh, dw = (draw(st.integers(1, 2)), draw(st.integers(1, 2))) if dilation else (1, 1)
    ph, pw = draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2))
    h = draw(st.integers(max(1, dh * (kh - 1) + 1 - 2 * ph), 9))
    w = draw(st.integers(max(1, dw * (kw - 1) + 1 - 2 * pw), 9))
    return dict(shape=(draw(st.integers(1, 2)), draw(st.integers(1, 3)), h, w), k=(kh, kw),
                stride=draw(st.sampled_from([None, (sh, sw)])), padding=(ph, pw), dilation=(dh, dw),
                ceil_mode=draw(st.booleans()), dtype=draw(st.sampled_from([np.float32, np.float64])),
                transpose=draw(st.booleans()), seed=draw(st.integers(0, 2**16)))


def make_input(case):
    rng = np.random.default_rng(case["seed"])
    x = rng.standard_normal(case["shape"]).astype(case["dtype"])
    # Non-contiguous variant: the same values through a transposed view.
    return (np.ascontiguousarray(x.transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2) if case["transpose"] else x), x


@given(pool_cases())
def test_max_and_min_pool2d_match_reference(case):
    x_in, x = make_input(case)
    args = (case["k"], case["stride"], case["padding"], case["dilation"], case["ceil_mode"])
    for op, ref in ((mg.max_pool2d, R.max_pool2d), (mg.min_pool2d, R.min_pool2d)):
        out, idx = op(mg.Tensor(x_in), *args, return_indices=True)
        expected, expected_idx = ref(x, *args)
        assert out.dtype == case["dtype"] and idx.dtype == np.int64
        np.testing.assert_array_equal(out.numpy(), expected)
        np.testing.assert_array_equal(idx.numpy(), expected_idx)


@given(pool_cases(dilation=False), st.booleans(), st.sampled_from([None, 1, 3]))
def test_avg_pool2d_matches_reference(case, count_include_pad, divisor):
    x_in, x = make_input(case)
    args = (case["k"], case["stride"], case["padding"], case["ceil_mode"], count_include_pad, divisor)
    out = mg.avg_pool2d(mg.Tensor(x_in), *args)
    assert_close(out.numpy(), R.avg_pool2d(x.astype(np.float64), *args), case["dtype"])


@given(st.integers(1, 9), st.integers(1, 9), st.integers(1, 9), st.integers(1, 9), st.sampled_from([np.float32, np.float64]))
def test_adaptive_pools_match_reference(h, w, oh, ow, dtype):
    x = np.random.default_rng(h * 100 + w).standard_normal((2, 3, h, w)).astype(dtype)
    assert_close(mg.adaptive_avg_pool2d(mg.Tensor(x), (oh, ow)).numpy(), R.adaptive_avg_pool2d(x.astype(np.float64), (oh, ow)), dtype)
    out, idx = mg.adaptive_max_pool2d(mg.Tensor(x), (oh, ow), return_indices=True)
    expected, expected_idx = R.adaptive_max_pool2d(x, (oh, ow))
    np.testing.assert_array_equal(out.numpy(), expected)
    np.testing.assert_array_equal(idx.numpy(), expected_idx)


def test_global_average_pooling_is_the_mean():
    x = np.random.default_rng(0).standard_normal((3, 4, 5, 7))
    out = mg.adaptive_avg_pool2d(mg.Tensor(x), 1).numpy()
    np.testing.assert_allclose(out, x.mean(axis=(2, 3), keepdims=True), rtol=1e-12)
    assert mg.adaptive_avg_pool2d(mg.Tensor(x), (None, 2)).shape == (3, 4, 5, 2)


@given(pool_cases(dilation=False))
def test_max_unpool2d_matches_reference(case):
    _, x = make_input(case)
    k, s, p = case["k"], case["stride"], case["padding"]
    pooled, idx = mg.max_pool2d(mg.Tensor(x), k, s, p, return_indices=True)
    h, w = case["shape"][2:]
    out = mg.max_unpool2d(pooled, idx, k, s, p, output_size=(h, w))
    np.testing.assert_array_equal(out.numpy(), R.max_unpool2d(pooled.numpy(), idx.numpy(), (h, w)))


def test_max_pool_ties_keep_first_and_nan_propagates():
    x = np.zeros((1, 1, 2, 2))
    _, idx = mg.max_pool2d(mg.Tensor(x), 2, return_indices=True)
    assert idx.numpy().item() == 0
    x = np.array([[[[1.0, np.nan], [5.0, 2.0]]]])
    out, idx = mg.max_pool2d(mg.Tensor(x), 2, return_indices=True)
    assert np.isnan(out.numpy().item()) and idx.numpy().item() == 1
    x = np.full((1, 1, 2, 2), -np.inf)
    assert mg.max_pool2d(mg.Tensor(x), 2).numpy().item() == -np.inf


GRAD_CASES = [
    dict(shape=(2, 2, 5, 6), k=2, stride=None, padding=0, dilation=1, ceil_mode=False),
    dict(shape=(1, 2, 7, 6), k=3, stride=2, padding=1, dilation=1, ceil_mode=True),
    dict(shape=(1, 1, 7, 7), k=(3, 2), stride=(2, 1), padding=(1, 1), dilation=(2, 2), ceil_mode=False),
]


@pytest.mark.parametrize("case", GRAD_CASES)
def test_pooling_gradcheck(case):
    # Distinct values so that a finite-difference step never changes which element is the maximum.
    rng = np.random.default_rng(5)
    x = rng.permutation(np.prod(case["shape"])).reshape(case["shape"]) * 0.1
    a = (case["k"], case["stride"], case["padding"])
    assert mg.gradcheck(lambda t: mg.max_pool2d(t, *a, case["dilation"], case["ceil_mode"]), [x])
    assert mg.gradcheck(lambda t: mg.min_pool2d(t, *a, case["dilation"], case["ceil_mode"]), [x])
    for include in (True, False):
        assert mg.gradcheck(lambda t: mg.avg_pool2d(t, *a, case["ceil_mode"], include), [x])
    assert mg.gradcheck(lambda t: mg.avg_pool2d(t, *a, case["ceil_mode"], True, 2), [x])
    assert mg.gradcheck(lambda t: mg.adaptive_avg_pool2d(t, (3, 4)), [x])
    assert mg.gradcheck(lambda t: mg.adaptive_max_pool2d(t, (3, 4)), [x])


def test_max_unpool2d_gradcheck():
    rng = np.random.default_rng(6)
    x = rng.permutation(2 * 3 * 6 * 6).reshape(2, 3, 6, 6) * 0.1
    pooled, idx = mg.max_pool2d(mg.Tensor(x), 2, return_indices=True)
    assert mg.gradcheck(lambda t: mg.max_unpool2d(t, idx, 2), [pooled.numpy()])


def test_overlapping_windows_accumulate_gradient_on_a_shared_maximum():
    x = np.zeros((1, 1, 3, 3))
    x[0, 0, 1, 1] = 1.0  # the centre is the maximum of all four 2x2 windows
    t = mg.Tensor(x, requires_grad=True)
    mg.max_pool2d(t, 2, stride=1).backward(gradient=np.ones((1, 1, 2, 2)))
    assert t.grad.numpy()[0, 0, 1, 1] == 4.0 and t.grad.numpy().sum() == 4.0


@pytest.mark.parametrize("call, message", [
    (lambda: mg.max_pool2d(mg.Tensor(np.zeros((1, 1, 2, 2))), 3), "output size"),
    (lambda: mg.max_pool2d(mg.Tensor(np.zeros((2, 2))), 2), "3-D \\(C, H, W\\) or 4-D"),
    (lambda: mg.max_pool2d(mg.Tensor(np.zeros((1, 1, 8, 8))), 2, padding=2), "half of kernel_size"),
    (lambda: mg.avg_pool2d(mg.Tensor(np.zeros((1, 1, 8, 8))), 0), "kernel_size"),
    (lambda: mg.avg_pool2d(mg.Tensor(np.zeros((1, 1, 8, 8))), 2, divisor_override=0), "divisor_override"),
    (lambda: mg.max_unpool2d(mg.Tensor(np.zeros((1, 1, 2, 2))), np.zeros((1, 1, 3, 2), np.int64), 2), "indices"),
    (lambda: mg.max_unpool2d(mg.Tensor(np.zeros((1, 1, 2, 2))), np.full((1, 1, 2, 2), 16), 2), r"\[0, 16\)"),
    (lambda: mg.max_unpool2d(mg.Tensor(np.zeros((1, 1, 2, 2))), np.zeros((1, 1, 2, 2), np.int64), 2, output_size=(7, 7)), "output_size"),
    (lambda: mg.min_pool2d(mg.Tensor(np.zeros((1, 1, 3, 3))), 2, stride=1, padding=1, dilation=5), "output size"),
])
def test_bad_input_raises_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_layers():
    x = mg.Tensor(np.random.default_rng(7).standard_normal((2, 3, 8, 8)).astype(np.float32))
    pool = nn.MaxPool2d(2, return_indices=True)
    out, idx = pool(x)
    assert out.shape == (2, 3, 4, 4)
    restored = nn.MaxUnpool2d(2)(out, idx)
    assert restored.shape == (2, 3, 8, 8)
    assert nn.MinPool2d(3, stride=1, padding=1)(x).shape == (2, 3, 8, 8)
    assert nn.AvgPool2d(3, stride=2, ceil_mode=True)(x).shape == (2, 3, 4, 4)
    assert nn.AdaptiveAvgPool2d(1)(x).shape == (2, 3, 1, 1)
    out, idx = nn.AdaptiveMaxPool2d((2, 3), return_indices=True)(x)
    assert out.shape == idx.shape == (2, 3, 2, 3)
    assert list(nn.MaxPool2d(2).parameters()) == []


# --------------------------------------------------------------- against PyTorch
@settings(max_examples=15)
@given(pool_cases())
def test_pooling_matches_pytorch(case):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    F = torch.nn.functional
    _, x = make_input(case)
    x = x.astype(np.float64)
    args = (case["k"], case["stride"], case["padding"], case["dilation"], case["ceil_mode"])
    out, idx = mg.max_pool2d(mg.Tensor(x), *args, return_indices=True)
    tout, tidx = F.max_pool2d(torch.tensor(x), *args, return_indices=True)
    np.testing.assert_array_equal(out.numpy(), tout.numpy())
    np.testing.assert_array_equal(idx.numpy(), tidx.numpy())
    h, w = case["shape"][2:]
    k, s, p = case["k"], case["stride"], case["padding"]
    if case["dilation"] == (1, 1) and not case["ceil_mode"]:
        np.testing.assert_array_equal(
            mg.max_unpool2d(out, idx, k, s, p, output_size=(h, w)).numpy(),
            F.max_unpool2d(tout, tidx, k, s, p, output_size=(h, w)).numpy(),
        )
    for include in (True, False):
        np.testing.assert_allclose(
            mg.avg_pool2d(mg.Tensor(x), k, s, p, case["ceil_mode"], include).numpy(),
            F.avg_pool2d(torch.tensor(x), k, s, p, case["ceil_mode"], include).numpy(), atol=1e-12,
        )
    for size in ((1, 1), (2, 3), (h + 1, max(1, w - 1))):
        np.testing.assert_allclose(mg.adaptive_avg_pool2d(mg.Tensor(x), size).numpy(),
                                   F.adaptive_avg_pool2d(torch.tensor(x), size).numpy(), atol=1e-12)


def test_window_entirely_in_padding_gives_minus_inf_and_no_gradient():
    # H=1, kernel 2, padding 1, dilation 2: the only window's taps are rows -1 and 1.
    x = mg.Tensor(np.array([[[[3.0]]]]), requires_grad=True)
    out, idx = mg.max_pool2d(x, (2, 1), None, (1, 0), (2, 1), return_indices=True)
    expected, expected_idx = R.max_pool2d(x.numpy(), (2, 1), None, (1, 0), (2, 1))
    np.testing.assert_array_equal(out.numpy(), expected)
    np.testing.assert_array_equal(idx.numpy(), expected_idx)
    assert out.numpy().item() == -np.inf
    out.backward(gradient=np.ones((1, 1, 1, 1)))
    assert x.grad.numpy().item() == 0.0
