"""conv2d, convolve2d, conv_transpose2d and their layers against minigrad.reference."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad as mg
import minigrad.nn as nn
from minigrad import reference as R


class lowering:
    """Run the body with the direct kernels allowed (``True``) or forbidden (im2row + GEMM only)."""

    def __init__(self, direct: bool):
        self.direct = direct

    def __enter__(self):
        self.block = mg.config.using(direct_conv=self.direct)
        self.block.__enter__()

    def __exit__(self, *exc):
        self.block.__exit__(*exc)


def assert_close(actual, expected, dtype):
    """float64: 1e-10; float32: 1e-5 relative to the result's scale."""
    tol = 1e-10 if np.dtype(dtype) == np.float64 else 1e-5
    scale = max(1.0, float(np.max(np.abs(expected)))) if np.size(expected) else 1.0
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol * scale)


def maybe_noncontiguous(array, flag):
    """The same values in a non-contiguous view (every other entry, along the last axis longer than 1)."""
    axis = next((a for a in reversed(range(array.ndim)) if array.shape[a] > 1), None)
    if not flag or axis is None:
        return array  # a single element is contiguous in every layout
    shape = list(array.shape)
    shape[axis] *= 2
    every_other = tuple(slice(None, None, 2) if a == axis else slice(None) for a in range(array.ndim))
    wide = np.zeros(shape, dtype=array.dtype)
    wide[every_other] = array
    view = wide[every_other]
    assert not view.flags.c_contiguous
    return view


@st.composite
def conv_cases(draw):
    groups = draw(st.integers(1, 3))
    cg, og = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    dh, dw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    # Smallest input whose padded size still holds one dilated window.
    h = draw(st.integers(max(1, dh * (kh - 1) + 1 - 2 * ph), 8))
    w = draw(st.integers(max(1, dw * (kw - 1) + 1 - 2 * pw), 8))
    n = draw(st.integers(1, 2))
    return dict(n=n, c=cg * groups, o=og * groups, h=h, w=w, k=(kh, kw), stride=(sh, sw), padding=(ph, pw),
                dilation=(dh, dw), groups=groups, bias=draw(st.booleans()), dtype=draw(st.sampled_from([np.float32, np.float64])),
                noncontig=draw(st.booleans()), seed=draw(st.integers(0, 2**16)), direct=draw(st.booleans()))


def make(case, weight_shape):
    rng = np.random.default_rng(case["seed"])
    x = rng.standard_normal((case["n"], case["c"], case["h"], case["w"])).astype(case["dtype"])
    w = rng.standard_normal(weight_shape).astype(case["dtype"])
    b = rng.standard_normal(case["o"]).astype(case["dtype"]) if case["bias"] else None
    return x, w, b


@given(conv_cases())
def test_conv2d_matches_reference(case):
    x, w, b = make(case, (case["o"], case["c"] // case["groups"]) + case["k"])
    args = (case["stride"], case["padding"], case["dilation"], case["groups"])
    with lowering(case["direct"]):
        out = mg.conv2d(mg.Tensor(maybe_noncontiguous(x, case["noncontig"])), mg.Tensor(w),
                        None if b is None else mg.Tensor(b), *args)
    expected = R.conv2d(x.astype(np.float64), w.astype(np.float64), None if b is None else b.astype(np.float64), *args)
    assert out.dtype == case["dtype"]
    assert_close(out.numpy(), expected, case["dtype"])


@given(conv_cases())
def test_convolve2d_matches_reference(case):
    x, w, b = make(case, (case["o"], case["c"] // case["groups"]) + case["k"])
    args = (case["stride"], case["padding"], case["dilation"], case["groups"])
    with lowering(case["direct"]):
        out = mg.convolve2d(mg.Tensor(x), mg.Tensor(w), None if b is None else mg.Tensor(b), *args)
    expected = R.convolve2d(x.astype(np.float64), w.astype(np.float64), None if b is None else b.astype(np.float64), *args)
    assert_close(out.numpy(), expected, case["dtype"])


@given(conv_cases(), st.integers(0, 2), st.integers(0, 2))
def test_conv_transpose2d_matches_reference(case, oph, opw):
    # output_padding must be smaller than stride or dilation.
    op = (min(oph, max(case["stride"][0], case["dilation"][0]) - 1), min(opw, max(case["stride"][1], case["dilation"][1]) - 1))
    x, w, b = make(case, (case["c"], case["o"] // case["groups"]) + case["k"])
    kh, kw = case["k"]
    oh = (case["h"] - 1) * case["stride"][0] - 2 * case["padding"][0] + case["dilation"][0] * (kh - 1) + op[0] + 1
    ow = (case["w"] - 1) * case["stride"][1] - 2 * case["padding"][1] + case["dilation"][1] * (kw - 1) + op[1] + 1
    args = (case["stride"], case["padding"], op, case["groups"], case["dilation"])
    if oh <= 0 or ow <= 0:
        with pytest.raises(ValueError, match="conv_transpose2d"):
            mg.conv_transpose2d(mg.Tensor(x), mg.Tensor(w), None, *args)
        return
    out = mg.conv_transpose2d(mg.Tensor(maybe_noncontiguous(x, case["noncontig"])), mg.Tensor(w),
                              None if b is None else mg.Tensor(b), *args)
    expected = R.conv_transpose2d(x.astype(np.float64), w.astype(np.float64), None if b is None else b.astype(np.float64), *args)
    assert out.shape == expected.shape == (case["n"], case["o"], oh, ow)
    assert_close(out.numpy(), expected, case["dtype"])


@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("k,d", [(3, 1), (4, 1), (2, 3), ((2, 5), (2, 1))])
def test_conv2d_string_padding(padding, k, d):
    rng = np.random.default_rng(0)
    kh, kw = (k, k) if isinstance(k, int) else k
    dh, dw = (d, d) if isinstance(d, int) else d
    x = rng.standard_normal((1, 2, 9, 8))
    w = rng.standard_normal((3, 2, kh, kw))
    out = mg.conv2d(mg.Tensor(x), mg.Tensor(w), padding=padding, dilation=d).numpy()
    if padding == "valid":
        expected = R.conv2d(x, w, dilation=d)
    else:
        th, tw = dh * (kh - 1), dw * (kw - 1)  # the extra odd pixel of padding goes bottom/right
        expected = R.conv2d(x, w, padding=(th // 2, th - th // 2, tw // 2, tw - tw // 2), dilation=d)
        assert out.shape[2:] == x.shape[2:]
    assert_close(out, expected, np.float64)


GRAD_CASES = [
    dict(x=(2, 2, 5, 4), w=(3, 2, 3, 2), stride=1, padding=1, dilation=1, groups=1),
    dict(x=(1, 4, 6, 5), w=(4, 2, 2, 3), stride=(2, 1), padding=(1, 0), dilation=(1, 2), groups=2),
    dict(x=(2, 3, 5, 5), w=(3, 1, 3, 3), stride=2, padding=2, dilation=2, groups=3),  # depthwise
    dict(x=(1, 2, 4, 4), w=(2, 2, 3, 3), stride=1, padding="same", dilation=1, groups=1),
    # dilation with asymmetric "same" padding; grouped with asymmetric padding
    dict(x=(1, 4, 5, 6), w=(2, 4, 2, 3), stride=1, padding="same", dilation=(2, 1), groups=1),
    dict(x=(2, 4, 5, 5), w=(2, 2, 3, 3), stride=1, padding=(2, 0), dilation=1, groups=2),
]


@pytest.mark.parametrize("save_columns,direct", [(True, False), (False, False), (False, True)])
@pytest.mark.parametrize("case", GRAD_CASES)
def test_conv2d_gradcheck(case, save_columns, direct):
    rng = np.random.default_rng(1)
    x, w, b = rng.standard_normal(case["x"]), rng.standard_normal(case["w"]), rng.standard_normal(case["w"][0])
    args = (case["stride"], case["padding"], case["dilation"], case["groups"])
    with mg.config.using(save_columns=save_columns), lowering(direct):
        assert mg.gradcheck(lambda x, w, b: mg.conv2d(x, w, b, *args), [x, w, b])
        assert mg.gradcheck(lambda x, w, b: mg.convolve2d(x, w, b, *args), [x, w, b])


@pytest.mark.parametrize("case", [
    dict(x=(2, 2, 3, 3), w=(2, 3, 3, 2), stride=2, padding=1, output_padding=1, groups=1, dilation=1),
    dict(x=(1, 4, 3, 2), w=(4, 1, 2, 2), stride=(1, 2), padding=0, output_padding=(0, 1), groups=2, dilation=(2, 1)),
])
def test_conv_transpose2d_gradcheck(case):
    rng = np.random.default_rng(2)
    x, w = rng.standard_normal(case["x"]), rng.standard_normal(case["w"])
    b = rng.standard_normal(case["w"][1] * case["groups"])
    args = (case["stride"], case["padding"], case["output_padding"], case["groups"], case["dilation"])
    assert mg.gradcheck(lambda x, w, b: mg.conv_transpose2d(x, w, b, *args), [x, w, b])


def test_weight_gradient_sums_over_positions_and_images():
    # A 1x1 kernel on one channel: dL/dw = sum over every image and pixel of x * dL/dy.
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 1, 4, 5))
    g = rng.standard_normal((3, 1, 4, 5))
    w = mg.Tensor(np.array([[[[0.7]]]]), requires_grad=True)
    mg.conv2d(mg.Tensor(x), w).backward(gradient=g)
    np.testing.assert_allclose(w.grad.numpy().item(), np.sum(x * g), rtol=1e-12)


def test_save_columns_choice_gives_identical_gradients():
    rng = np.random.default_rng(4)
    x, w = rng.standard_normal((2, 3, 7, 7)).astype(np.float32), rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    grads = []
    for flag in (True, False):
        with mg.config.using(save_columns=flag):
            xt, wt = mg.Tensor(x, requires_grad=True), mg.Tensor(w, requires_grad=True)
            mg.conv2d(xt, wt, stride=2, padding=1).backward(gradient=np.ones((2, 4, 4, 4), np.float32))
            grads.append((xt.grad.numpy(), wt.grad.numpy()))
    np.testing.assert_array_equal(grads[0][0], grads[1][0])
    np.testing.assert_array_equal(grads[0][1], grads[1][1])


def test_correlation_and_convolution_differ_for_asymmetric_kernels():
    sobel = np.array([[[[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]]])
    ramp = np.tile(np.arange(6.0), (6, 1))[None, None]  # brightness increases to the right
    corr = mg.conv2d(mg.Tensor(ramp), mg.Tensor(sobel)).numpy()
    conv = mg.convolve2d(mg.Tensor(ramp), mg.Tensor(sobel)).numpy()
    np.testing.assert_allclose(corr, 8.0)   # correlation responds +8 to a rising edge
    np.testing.assert_allclose(conv, -8.0)  # convolution flips the kernel, hence the sign


@pytest.mark.parametrize("call, message", [
    (lambda: mg.conv2d(mg.Tensor(np.zeros((1, 3, 4, 4))), mg.Tensor(np.zeros((2, 3, 5, 5)))), "output size"),
    (lambda: mg.conv2d(mg.Tensor(np.zeros((1, 4, 8, 8))), mg.Tensor(np.zeros((3, 2, 3, 3))), groups=2), "divisible by groups"),
    (lambda: mg.conv2d(mg.Tensor(np.zeros((1, 4, 8, 8))), mg.Tensor(np.zeros((2, 3, 3, 3)))), "channels"),
    (lambda: mg.conv2d(mg.Tensor(np.zeros((8, 8))), mg.Tensor(np.zeros((2, 4, 3, 3)))), "3-D \\(C, H, W\\) or 4-D"),
    (lambda: mg.conv2d(mg.Tensor(np.zeros((1, 2, 8, 8))), mg.Tensor(np.zeros((2, 2, 3, 3))), stride=2, padding="same"), "strided"),
    (lambda: mg.conv2d(mg.Tensor(np.zeros((1, 2, 8, 8))), mg.Tensor(np.zeros((2, 2, 3, 3))), stride=0), "stride"),
    (lambda: mg.conv2d(mg.Tensor(np.zeros((1, 2, 8, 8))), mg.Tensor(np.zeros((2, 2, 3, 3))), mg.Tensor(np.zeros(3))), "bias"),
    (lambda: mg.conv_transpose2d(mg.Tensor(np.zeros((1, 2, 3, 3))), mg.Tensor(np.zeros((2, 2, 3, 3))), stride=2, output_padding=2), "output_padding"),
    (lambda: mg.conv_transpose2d(mg.Tensor(np.zeros((1, 2, 1, 1))), mg.Tensor(np.zeros((2, 2, 1, 1))), padding=1), "output size"),
])
def test_bad_input_raises_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_bad_input_message_names_shapes_and_formula_result():
    with pytest.raises(ValueError) as err:
        mg.conv2d(mg.Tensor(np.zeros((1, 3, 4, 4))), mg.Tensor(np.zeros((2, 3, 5, 5))), stride=2)
    text = str(err.value)
    assert "conv2d" in text and "(1, 3, 4, 4)" in text and "(2, 3, 5, 5)" in text and "(0, 0)" in text


def test_mixed_dtypes_raise_type_error():
    with pytest.raises(TypeError, match="conv2d"):
        mg.conv2d(mg.Tensor(np.zeros((1, 1, 3, 3), np.float32)), mg.Tensor(np.zeros((1, 1, 2, 2), np.float64)))


# ------------------------------------------------------------------------- layers
def test_conv2d_layer_shapes_and_pytorch_default_init():
    mg.manual_seed(0)
    layer = nn.Conv2d(16, 32, 3, stride=2, padding=1)
    assert layer.weight.shape == (32, 16, 3, 3) and layer.bias.shape == (32,)
    assert layer.weight.dtype == np.float32
    # kaiming_uniform_(a=sqrt(5)) gives U(-1/sqrt(fan_in), 1/sqrt(fan_in)), as does the bias.
    bound = 1 / math.sqrt(16 * 9)
    w = layer.weight.numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound
    assert np.abs(layer.bias.numpy()).max() <= bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.05 * bound
    out = layer(mg.Tensor(np.zeros((2, 16, 9, 9), np.float32)))
    assert out.shape == (2, 32, 5, 5)
    assert [name for name, _ in layer.named_parameters()] == ["weight", "bias"]


def test_conv2d_layer_depthwise_no_bias():
    layer = nn.Conv2d(6, 12, (3, 1), padding="same", groups=6, bias=False)
    assert layer.weight.shape == (12, 1, 3, 1) and layer.bias is None
    assert list(layer.state_dict()) == ["weight"]
    assert layer(mg.Tensor(np.ones((1, 6, 5, 4), np.float32))).shape == (1, 12, 5, 4)


def test_conv_transpose2d_layer():
    mg.manual_seed(0)
    layer = nn.ConvTranspose2d(8, 4, 2, stride=2)
    assert layer.weight.shape == (8, 4, 2, 2)
    bound = 1 / math.sqrt(4 * 4)  # PyTorch's fan_in for the transposed weight is out_channels/groups * K*K
    assert np.abs(layer.weight.numpy()).max() <= bound and np.abs(layer.bias.numpy()).max() <= bound
    x = mg.Tensor(np.ones((1, 8, 5, 5), np.float32))
    assert layer(x).shape == (1, 4, 10, 10)
    up = nn.ConvTranspose2d(2, 2, 3, stride=2, padding=1)
    assert up(mg.Tensor(np.ones((1, 2, 4, 4), np.float32)), output_size=(8, 8)).shape == (1, 2, 8, 8)
    with pytest.raises(ValueError, match="ConvTranspose2d"):
        up(mg.Tensor(np.ones((1, 2, 4, 4), np.float32)), output_size=(10, 10))


def test_conv_layer_errors():
    with pytest.raises(ValueError, match="groups"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="padding_mode"):
        nn.Conv2d(3, 4, 3, padding_mode="reflect")


# --------------------------------------------------------------- against PyTorch
@settings(max_examples=15)
@given(conv_cases())
def test_conv2d_and_transpose_match_pytorch(case):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    F = torch.nn.functional
    x, w, b = make(case, (case["o"], case["c"] // case["groups"]) + case["k"])
    x, w = x.astype(np.float64), w.astype(np.float64)
    args = (case["stride"], case["padding"], case["dilation"], case["groups"])
    xt, wt = mg.Tensor(x, requires_grad=True), mg.Tensor(w, requires_grad=True)
    out = mg.conv2d(xt, wt, None, *args)
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    ref = F.conv2d(tx, tw, None, *args)
    g = np.random.default_rng(0).standard_normal(out.shape)
    out.backward(gradient=g)
    ref.backward(torch.tensor(g))
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), atol=1e-10)
    np.testing.assert_allclose(xt.grad.numpy(), tx.grad.numpy(), atol=1e-10)
    np.testing.assert_allclose(wt.grad.numpy(), tw.grad.numpy(), atol=1e-10)
    # The same weight read as a transposed convolution from O to C channels.
    wT = w.reshape(case["groups"], case["o"] // case["groups"], case["c"] // case["groups"], *case["k"])
    wT = wT.reshape(case["o"], case["c"] // case["groups"], *case["k"])
    y = np.random.default_rng(1).standard_normal(out.shape)
    op = tuple(max(s, d) - 1 for s, d in zip(case["stride"], case["dilation"]))
    targs = (case["stride"], case["padding"], op, case["groups"], case["dilation"])
    sizes = [(n - 1) * s - 2 * p + d * (k - 1) + o + 1
             for n, s, p, d, k, o in zip(out.shape[2:], case["stride"], case["padding"], case["dilation"], case["k"], op)]
    if min(sizes) <= 0:
        return
    np.testing.assert_allclose(
        mg.conv_transpose2d(mg.Tensor(y), mg.Tensor(wT), None, *targs).numpy(),
        F.conv_transpose2d(torch.tensor(y), torch.tensor(wT), None, *targs).numpy(), atol=1e-10,
    )
