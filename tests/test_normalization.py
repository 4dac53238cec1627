"""batch_norm, local_response_norm and their layers against minigrad.reference."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
import minigrad.nn as nn
from minigrad import reference as R


def assert_close(actual, expected, dtype):
    tol = 1e-10 if np.dtype(dtype) == np.float64 else 1e-5
    scale = max(1.0, float(np.max(np.abs(expected)))) if np.size(expected) else 1.0
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol * scale)


shapes = st.sampled_from([(4, 3), (2, 3, 5), (2, 3, 4, 5), (1, 2, 3, 3), (5, 1, 2, 2)])


@given(shapes, st.booleans(), st.booleans(), st.sampled_from([0.1, 0.5, 1.0]), st.sampled_from([np.float32, np.float64]),
       st.integers(0, 2**16))
def test_batch_norm_matches_reference(shape, training, affine, momentum, dtype, seed):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * 3 + 1).astype(dtype)
    C = shape[1]
    mean0, var0 = rng.standard_normal(C).astype(dtype), rng.uniform(0.5, 2, C).astype(dtype)
    w, b = (rng.standard_normal(C).astype(dtype), rng.standard_normal(C).astype(dtype)) if affine else (None, None)
    rm, rv = mg.Tensor(mean0.copy()), mg.Tensor(var0.copy())
    out = mg.batch_norm(mg.Tensor(x), rm, rv, None if w is None else mg.Tensor(w), None if b is None else mg.Tensor(b),
                        training, momentum)
    f64 = lambda a: None if a is None else a.astype(np.float64)  # noqa: E731
    expected, new_mean, new_var = R.batch_norm(f64(x), f64(mean0), f64(var0), f64(w), f64(b), training, momentum)
    assert out.dtype == dtype and rm.dtype == dtype
    assert_close(out.numpy(), expected, dtype)
    assert_close(rm.numpy(), new_mean, dtype)
    assert_close(rv.numpy(), new_var, dtype)


@given(st.integers(1, 6), st.integers(1, 7), st.sampled_from([np.float32, np.float64]), st.integers(0, 2**16))
def test_local_response_norm_matches_reference(channels, size, dtype, seed):
    x = np.random.default_rng(seed).standard_normal((2, channels, 3, 2)).astype(dtype)
    out = mg.local_response_norm(mg.Tensor(x), size, alpha=0.5, beta=0.75, k=2.0)
    assert_close(out.numpy(), R.local_response_norm(x.astype(np.float64), size, 0.5, 0.75, 2.0), dtype)


@pytest.mark.parametrize("shape", [(4, 3), (3, 2, 4), (2, 3, 3, 2)])
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_gradcheck(shape, training):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape)
    C = shape[1]
    w, b = rng.standard_normal(C), rng.standard_normal(C)
    mean, var = rng.standard_normal(C), rng.uniform(0.5, 2, C)
    # Fresh running tensors on every call, so finite differences see the same statistics.
    fn = lambda x, w, b: mg.batch_norm(x, mg.Tensor(mean.copy()), mg.Tensor(var.copy()), w, b, training)  # noqa: E731
    assert mg.gradcheck(fn, [x, w, b])


@pytest.mark.parametrize("size", [1, 2, 3, 5])
def test_local_response_norm_gradcheck(size):
    x = np.random.default_rng(2).standard_normal((2, 4, 2, 3))
    assert mg.gradcheck(lambda t: mg.local_response_norm(t, size, alpha=0.3, beta=0.75, k=1.5), [x])


@pytest.mark.parametrize("call, message", [
    (lambda: mg.batch_norm(mg.Tensor(np.zeros((2, 3))), mg.Tensor(np.zeros(4)), mg.Tensor(np.ones(4))), r"\(3,\)"),
    (lambda: mg.batch_norm(mg.Tensor(np.zeros((2, 3))), None, None), "training=False"),
    (lambda: mg.batch_norm(mg.Tensor(np.zeros((1, 3))), None, None, training=True), "more than 1 value"),
    (lambda: mg.local_response_norm(mg.Tensor(np.zeros((2, 3))), 2), "3 dimensions"),
    (lambda: mg.local_response_norm(mg.Tensor(np.zeros((2, 3, 4))), 0), "size"),
    (lambda: nn.BatchNorm2d(3)(mg.Tensor(np.zeros((2, 3, 4)))), "4-D"),
    (lambda: nn.BatchNorm1d(3)(mg.Tensor(np.zeros((2, 4)))), "3 channels"),
])
def test_bad_input_raises_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_batchnorm2d_layer_defaults_and_buffers():
    bn = nn.BatchNorm2d(4)
    np.testing.assert_array_equal(bn.weight.numpy(), np.ones(4))
    np.testing.assert_array_equal(bn.bias.numpy(), np.zeros(4))
    np.testing.assert_array_equal(bn.running_mean.numpy(), np.zeros(4))
    np.testing.assert_array_equal(bn.running_var.numpy(), np.ones(4))
    assert not bn.running_mean.requires_grad and bn.num_batches_tracked.numpy() == 0
    assert list(bn.state_dict()) == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    assert [n for n, _ in bn.named_parameters()] == ["weight", "bias"]


def test_batchnorm_layer_running_stats_momentum_and_cumulative_average():
    rng = np.random.default_rng(3)
    batches = [(rng.standard_normal((4, 2, 3, 3)) * (i + 1) + i).astype(np.float32) for i in range(3)]
    ema = nn.BatchNorm2d(2, momentum=0.2)
    cumulative = nn.BatchNorm2d(2, momentum=None)
    mean, var = np.zeros(2), np.ones(2)
    for x in batches:
        ema(mg.Tensor(x))
        cumulative(mg.Tensor(x))
        mean = 0.8 * mean + 0.2 * x.mean(axis=(0, 2, 3))
        var = 0.8 * var + 0.2 * x.var(axis=(0, 2, 3), ddof=1)
    np.testing.assert_allclose(ema.running_mean.numpy(), mean, rtol=1e-5)
    np.testing.assert_allclose(ema.running_var.numpy(), var, rtol=1e-5)
    # momentum=None: the plain average of the batch statistics (the initial values weigh nothing).
    np.testing.assert_allclose(cumulative.running_mean.numpy(), np.mean([x.mean(axis=(0, 2, 3)) for x in batches], axis=0), rtol=1e-5)
    np.testing.assert_allclose(cumulative.running_var.numpy(), np.mean([x.var(axis=(0, 2, 3), ddof=1) for x in batches], axis=0), rtol=1e-5)
    assert ema.num_batches_tracked.numpy() == 3
    ema.eval()
    frozen = ema.running_mean.numpy().copy()
    out = ema(mg.Tensor(batches[0])).numpy()
    np.testing.assert_array_equal(ema.running_mean.numpy(), frozen)
    expected = (batches[0] - mean.reshape(1, 2, 1, 1)) / np.sqrt(var.reshape(1, 2, 1, 1) + 1e-5)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)


def test_batchnorm1d_without_running_stats_uses_batch_statistics_in_eval():
    bn = nn.BatchNorm1d(3, affine=False, track_running_stats=False).eval()
    x = np.random.default_rng(4).standard_normal((6, 3, 2))
    out = bn(mg.Tensor(x)).numpy()
    np.testing.assert_allclose(out, (x - x.mean(axis=(0, 2), keepdims=True)) / np.sqrt(x.var(axis=(0, 2), keepdims=True) + 1e-5), rtol=1e-10)
    assert list(bn.state_dict()) == [] and list(bn.parameters()) == []


def test_local_response_norm_layer():
    x = mg.Tensor(np.random.default_rng(5).standard_normal((1, 5, 2, 2)).astype(np.float32))
    np.testing.assert_allclose(nn.LocalResponseNorm(3, 1e-2, 0.75, 2.0)(x).numpy(),
                               R.local_response_norm(x.numpy().astype(np.float64), 3, 1e-2, 0.75, 2.0), rtol=1e-5)


@pytest.mark.parametrize("shape", [(8, 3), (4, 3, 5, 5)])
def test_batch_norm_and_lrn_match_pytorch(shape):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    F = torch.nn.functional
    rng = np.random.default_rng(6)
    x = rng.standard_normal(shape)
    w, b = rng.standard_normal(3), rng.standard_normal(3)
    rm, rv = mg.Tensor(np.zeros(3)), mg.Tensor(np.ones(3))
    trm, trv = torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)
    xt, tx = mg.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out = mg.batch_norm(xt, rm, rv, mg.Tensor(w), mg.Tensor(b), True, 0.3)
    ref = F.batch_norm(tx, trm, trv, torch.tensor(w), torch.tensor(b), True, 0.3)
    g = rng.standard_normal(shape)
    out.backward(gradient=g)
    ref.backward(torch.tensor(g))
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), atol=1e-10)
    np.testing.assert_allclose(xt.grad.numpy(), tx.grad.numpy(), atol=1e-10)
    np.testing.assert_allclose(rm.numpy(), trm.numpy(), atol=1e-12)
    np.testing.assert_allclose(rv.numpy(), trv.numpy(), atol=1e-12)
    if len(shape) == 4:
        np.testing.assert_allclose(mg.local_response_norm(mg.Tensor(x), 4, 0.1, 0.75, 2.0).numpy(),
                                   F.local_response_norm(torch.tensor(x), 4, 0.1, 0.75, 2.0).numpy(), atol=1e-12)
