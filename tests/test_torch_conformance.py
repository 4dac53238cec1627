"""minigrad against PyTorch over the grid of call forms in ``conformance_cases`` (skipped without torch).

Every case runs in float32 (1e-4 relative) and float64 (1e-10 relative) on the CPU; the CUDA
backend runs the cases marked ``cuda`` in ``test_cuda_torch_conformance.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from conformance_cases import CASES  # noqa: E402
from torch_compare import check_case  # noqa: E402


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("c", CASES, ids=[c.name for c in CASES])
def test_matches_torch(c, dtype):
    check_case(c, dtype)


def test_the_grid_covers_the_issue_list():
    # The grid must keep the forms the issue names; a case silently dropped would pass unnoticed.
    names = {c.name.split("[")[0] for c in CASES}
    for required in ("add_alpha", "div_trunc", "div_floor", "var_correction", "var_dim_unbiased_pos", "softmax_dtype",
                     "clamp_tensors", "pad_constant(-1, 2)", "einsum", "cross_entropy_probs", "unbatched_conv2d",
                     "unbatched_conv_transpose2d", "unbatched_max_pool2d", "unbatched_avg_pool2d",
                     "unbatched_adaptive_avg_pool2d", "unbatched_max_unpool2d", "interpolate1d", "interpolate2d",
                     "max_pool2d_tuple1", "avg_pool2d_empty_stride", "transpose_0d", "squeeze_0d", "bce_logits_0d",
                     "lrn", "logsumexp", "pow_zero_exponent"):
        assert required in names, required
    assert len(CASES) > 400


LAYERS = [
    ("Conv2d", lambda nn: nn.Conv2d(3, 4, 3, stride=2, padding=1)),
    ("ConvTranspose2d", lambda nn: nn.ConvTranspose2d(3, 2, 3, stride=2, output_padding=1)),
    ("MaxPool2d", lambda nn: nn.MaxPool2d(2, stride=1)),
    ("AvgPool2d", lambda nn: nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)),
    ("AdaptiveAvgPool2d", lambda nn: nn.AdaptiveAvgPool2d((2, 3))),
    ("AdaptiveMaxPool2d", lambda nn: nn.AdaptiveMaxPool2d(2)),
    ("Upsample", lambda nn: nn.Upsample(scale_factor=2, mode="bicubic", align_corners=False)),
    ("LocalResponseNorm", lambda nn: nn.LocalResponseNorm(2)),
]


# A 3-D input to Upsample is an (N, C, L) signal in PyTorch, not an unbatched image.
LAYER_FORMS = [(n, m, b) for n, m in LAYERS for b in (True, False) if b or n != "Upsample"]


@pytest.mark.parametrize("name, make, batched", LAYER_FORMS,
                         ids=[f"{n}-{'batched' if b else 'unbatched'}" for n, _, b in LAYER_FORMS])
def test_layers_take_unbatched_input_as_torch(name, make, batched):
    import torch

    import minigrad as mg

    ours, theirs = make(mg.nn), make(torch.nn).double()
    params = dict(theirs.named_parameters())
    for key, p in ours.named_parameters():
        p.data = params[key].detach().numpy().copy()
    x = np.random.default_rng(0).standard_normal((2, 3, 5, 6) if batched else (3, 5, 6))
    xm, xt = mg.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out_m, out_t = ours(xm), theirs(xt)
    assert out_m.shape == tuple(out_t.shape)
    np.testing.assert_allclose(out_m.numpy(), out_t.detach().numpy(), rtol=1e-10, atol=1e-12)
    seed = np.random.default_rng(1).standard_normal(out_m.shape)
    out_m.backward(seed)
    out_t.backward(torch.tensor(seed))
    np.testing.assert_allclose(xm.grad.numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    for key, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), params[key].grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("batched", [True, False], ids=["batched", "unbatched"])
def test_max_unpool_layer_takes_unbatched_input(batched):
    import torch

    import minigrad as mg

    x = np.random.default_rng(2).permutation(2 * 2 * 4 * 4).reshape(2, 2, 4, 4).astype(np.float64)
    x = x if batched else x[0]
    pooled_t, idx_t = torch.nn.MaxPool2d(2, return_indices=True)(torch.tensor(x))
    pooled_m, idx_m = mg.nn.MaxPool2d(2, return_indices=True)(mg.Tensor(x))
    np.testing.assert_array_equal(idx_m.numpy(), idx_t.numpy())
    np.testing.assert_array_equal(mg.nn.MaxUnpool2d(2)(pooled_m, idx_m).numpy(),
                                  torch.nn.MaxUnpool2d(2)(pooled_t, idx_t).numpy())


CREATION = [
    ("zeros", lambda m: m.zeros(2, 3)), ("zeros_tuple_dtype", lambda m: m.zeros((2, 3), dtype=m.int64)),
    ("zeros_list", lambda m: m.zeros([2])), ("zeros_0d", lambda m: m.zeros(())),
    ("ones_dtype", lambda m: m.ones(2, dtype=m.float64)), ("empty", lambda m: m.empty(2, 0)),
    ("full_int", lambda m: m.full((2,), 3)), ("full_float", lambda m: m.full((2,), 3.5)),
    ("full_bool", lambda m: m.full((2,), True)), ("full_dtype", lambda m: m.full([2, 2], 1, dtype=m.float32)),
    ("arange_int", lambda m: m.arange(5)), ("arange_float", lambda m: m.arange(0, 1, 0.25)),
    ("arange_neg", lambda m: m.arange(5, 0, -2)), ("arange_dtype", lambda m: m.arange(3, dtype=m.float64)),
    ("arange_float_end", lambda m: m.arange(2.5)), ("eye", lambda m: m.eye(3)), ("eye_nm", lambda m: m.eye(2, 3)),
    ("eye_dtype", lambda m: m.eye(2, dtype=m.int64)), ("zeros_like", lambda m: m.zeros_like(m.ones(2, dtype=m.int64))),
    ("ones_like_dtype", lambda m: m.ones_like(m.ones(2), dtype=m.float64)), ("full_like", lambda m: m.full_like(m.ones(2), 7)),
    ("full_like_int", lambda m: m.full_like(m.ones(2, dtype=m.int64), 2.7)), ("rand", lambda m: m.rand(2, 3)),
    ("randn_tuple", lambda m: m.randn((2, 3))), ("randn_dtype", lambda m: m.randn(2, dtype=m.float64)),
    ("tensor_int", lambda m: m.tensor([1, 2])), ("tensor_float", lambda m: m.tensor([1.0, 2])),
    ("tensor_bool", lambda m: m.tensor([True])), ("tensor_float64_array", lambda m: m.tensor(np.zeros(2))),
    ("tensor_scalar", lambda m: m.tensor(3.0)), ("tensor_dtype", lambda m: m.tensor([1, 2], dtype=m.float32)),
    ("tensor_int32_array", lambda m: m.tensor(np.zeros(2, np.int32))),
]


@pytest.mark.parametrize("name, make", CREATION, ids=[n for n, _ in CREATION])
def test_creation_matches_torch(name, make):
    import torch

    import minigrad as mg

    ours, theirs = make(mg), make(torch)
    assert str(ours.dtype) == str(theirs.dtype).replace("torch.", "") and ours.shape == tuple(theirs.shape)
    if not name.startswith(("rand", "empty")):  # random and uninitialised values differ by design
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


@pytest.mark.parametrize("layer", ["Softmax", "LogSoftmax"])
@pytest.mark.parametrize("shape", [(5,), (2, 3), (2, 3, 4), (2, 3, 2, 2)])
def test_softmax_layers_default_dim_as_torch(layer, shape):
    import torch

    import minigrad as mg

    x = np.random.default_rng(0).standard_normal(shape)
    np.testing.assert_allclose(getattr(mg.nn, layer)()(mg.Tensor(x)).numpy(),
                               getattr(torch.nn, layer)()(torch.tensor(x)).numpy(), rtol=1e-10)
