"""The fused CUDA kernels: dropout masks, SGD and Adam updates.

References: NumPy formulas written here, the NumPy twin of the counter-based RNG, and
minigrad's CPU optimizers (whose rules are PyTorch's and are tested against it elsewhere).
"""

from __future__ import annotations

import numpy as np
import pytest
from test_cuda_setup import needs_cuda

import minigrad as mg
from minigrad.backends import get_backend

pytestmark = needs_cuda


@pytest.fixture(scope="module")
def gpu():
    return get_backend("cuda")


# The simulator runs the kernel on NumPy uint64 scalars, which warn on the (intended) wraparound.
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_dropout_mask_is_the_counter_based_hash_of_seed_and_index(gpu):
    from minigrad.backends.cuda.fused import dropout_mask_reference

    mask = gpu.empty((6, 50), np.float32)
    gpu.dropout_mask(mask, 1234, 0.3)
    got = gpu.to_numpy(mask)
    np.testing.assert_array_equal(got, dropout_mask_reference((6, 50), 1234, 0.3))
    assert set(np.unique(got)) <= {0.0, np.float32(1 / 0.7)}
    # 300 Bernoulli(0.7) draws: the kept fraction is within 5 standard deviations of 0.7.
    assert abs((got > 0).mean() - 0.7) < 5 * np.sqrt(0.7 * 0.3 / 300)
    other = gpu.empty((6, 50), np.float32)
    gpu.dropout_mask(other, 1235, 0.3)
    assert not np.array_equal(gpu.to_numpy(other), got)


def test_dropout_reference_hash_is_splitmix64():
    from minigrad.backends.cuda.fused import dropout_mask_reference

    # SplitMix64 test vector: the first output for state 0 is 0xE220A8397B1DCDAF.
    first = 0xE220A8397B1DCDAF
    u0 = (first >> 11) / 2.0**53
    # mask element 0 uses splitmix64(splitmix64(seed) + 0); recompute splitmix64(seed=0) in Python ints.
    def mix(z):
        z = (z + 0x9E3779B97F4A7C15) % 2**64
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) % 2**64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) % 2**64
        return z ^ (z >> 31)
    assert mix(0) == first
    u = (mix(mix(0)) >> 11) / 2.0**53
    p = 0.5
    assert dropout_mask_reference((1,), 0, p)[0] == (np.float32(2.0) if u >= p else 0.0)
    assert 0 <= u0 < 1


def _cpu_steps(opt_cls, p0, grads, **kw):
    p = mg.nn.Parameter(mg.Tensor(p0.copy()))
    opt = opt_cls([p], **kw)
    for g in grads:
        p.grad = mg.Tensor(g.copy())
        opt.step()
    return p.numpy()


@pytest.mark.parametrize("kw", [
    dict(lr=0.1, momentum=0.9),
    dict(lr=0.05, momentum=0.9, dampening=0.1, weight_decay=1e-2),
    dict(lr=0.05, momentum=0.8, nesterov=True, maximize=True),
    dict(lr=0.1, weight_decay=0.5),
])
def test_fused_sgd_matches_the_cpu_optimizer(gpu, kw):
    r = np.random.default_rng(1)
    p0 = r.standard_normal(7).astype(np.float32)
    grads = [r.standard_normal(7).astype(np.float32) for _ in range(3)]
    p, buf = gpu.from_numpy(p0), gpu.zeros(7, np.float32)
    for step, g in enumerate(grads):
        gpu.sgd_momentum_update(p, gpu.from_numpy(g), buf, kw["lr"], kw.get("momentum", 0.0), kw.get("dampening", 0.0),
                                kw.get("weight_decay", 0.0), kw.get("nesterov", False), kw.get("maximize", False),
                                step == 0)
    np.testing.assert_allclose(gpu.to_numpy(p), _cpu_steps(mg.optim.SGD, p0, grads, **kw), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("decoupled,kw", [
    (False, dict(lr=0.01)),
    (False, dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
    (True, dict(lr=0.02, weight_decay=0.1, maximize=True)),
])
def test_fused_adam_matches_the_cpu_optimizer(gpu, decoupled, kw):
    r = np.random.default_rng(2)
    p0 = r.standard_normal(6).astype(np.float32)
    grads = [r.standard_normal(6).astype(np.float32) * s for s in (1.0, 0.1, 3.0)]
    p = gpu.from_numpy(p0)
    m, v, vmax = (gpu.zeros(6, np.float32) for _ in range(3))
    for step, g in enumerate(grads, start=1):
        gpu.adam_update(p, gpu.from_numpy(g), m, v, vmax, kw["lr"], 0.9, 0.999, 1e-8, kw.get("weight_decay", 0.0),
                        decoupled, kw.get("amsgrad", False), kw.get("maximize", False), step)
    cls = mg.optim.AdamW if decoupled else mg.optim.Adam
    expected = _cpu_steps(cls, p0, grads, **({"weight_decay": 0.0} | kw))
    np.testing.assert_allclose(gpu.to_numpy(p), expected, rtol=1e-6, atol=1e-7)
