"""Optimizers and LR schedules against hand-written NumPy loops of the published formulas (and torch, if installed)."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
from minigrad.nn import Parameter
from minigrad.optim import SGD, Adam, AdamW
from minigrad.optim import lr_scheduler as S

rng = np.random.default_rng(0)


def _params_and_grads(steps, shapes=((3, 4), (4,)), dtype=np.float64):
    w0 = [rng.standard_normal(s).astype(dtype) for s in shapes]
    grads = [[rng.standard_normal(s).astype(dtype) for s in shapes] for _ in range(steps)]
    return w0, grads


def _run(optimizer_cls, w0, grads, **kw):
    params = [Parameter(w.copy()) for w in w0]
    opt = optimizer_cls(params, **kw)
    for g in grads:
        for p, gi in zip(params, g):
            p.grad = mg.Tensor(gi.copy())
        opt.step()
    return [p.numpy() for p in params], opt


def _sgd_reference(w, gs, lr, momentum, dampening, weight_decay, nesterov, maximize):
    w, buf = w.copy(), None
    for g in gs:
        d = -g if maximize else g.copy()
        d = d + weight_decay * w
        if momentum:
            buf = d.copy() if buf is None else momentum * buf + (1 - dampening) * d
            d = d + momentum * buf if nesterov else buf
        w = w - lr * d
    return w


def _adam_reference(w, gs, lr, betas, eps, weight_decay, amsgrad, decoupled, maximize=False):
    w = w.copy()
    m, v, vmax = np.zeros_like(w), np.zeros_like(w), np.zeros_like(w)
    for step, g in enumerate(gs, start=1):
        g = -g if maximize else g
        if decoupled:
            w = w * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * w
        m = betas[0] * m + (1 - betas[0]) * g
        v = betas[1] * v + (1 - betas[1]) * g * g
        vmax = np.maximum(vmax, v)
        vhat = (vmax if amsgrad else v) / (1 - betas[1] ** step)
        w = w - lr * (m / (1 - betas[0] ** step)) / (np.sqrt(vhat) + eps)
    return w


# ------------------------------------------------------------------ SGD
@given(momentum=st.sampled_from([0.0, 0.5, 0.9]), dampening=st.sampled_from([0.0, 0.3]),
       weight_decay=st.sampled_from([0.0, 0.01]), nesterov=st.booleans(), maximize=st.booleans(),
       steps=st.integers(1, 5))
def test_sgd_matches_formula(momentum, dampening, weight_decay, nesterov, maximize, steps):
    if nesterov and (momentum == 0 or dampening != 0):
        with pytest.raises(ValueError, match="nesterov"):
            SGD([Parameter(np.zeros(2))], lr=0.1, momentum=momentum, dampening=dampening, nesterov=True)
        return
    kw = dict(lr=0.1, momentum=momentum, dampening=dampening, weight_decay=weight_decay, nesterov=nesterov,
              maximize=maximize)
    w0, grads = _params_and_grads(steps)
    got, _ = _run(SGD, w0, grads, **kw)
    for i, w in enumerate(w0):
        np.testing.assert_allclose(got[i], _sgd_reference(w, [g[i] for g in grads], **kw), rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------- Adam
@given(amsgrad=st.booleans(), weight_decay=st.sampled_from([0.0, 0.1]), decoupled=st.booleans(),
       maximize=st.booleans(), steps=st.integers(1, 6))
def test_adam_and_adamw_match_formula(amsgrad, weight_decay, decoupled, maximize, steps):
    kw = dict(lr=0.01, betas=(0.8, 0.95), eps=1e-6, weight_decay=weight_decay, amsgrad=amsgrad, maximize=maximize)
    w0, grads = _params_and_grads(steps)
    got, _ = _run(AdamW if decoupled else Adam, w0, grads, **kw)
    for i, w in enumerate(w0):
        ref = _adam_reference(w, [g[i] for g in grads], decoupled=decoupled, **kw)
        np.testing.assert_allclose(got[i], ref, rtol=1e-10, atol=1e-12)


def test_adamw_default_weight_decay_and_grad_untouched():
    p = Parameter(np.ones(3))
    opt = AdamW([p], lr=0.1)
    assert opt.param_groups[0]["weight_decay"] == 1e-2
    g = np.array([1.0, -2.0, 3.0])
    p.grad = mg.Tensor(g.copy())
    opt.step()
    np.testing.assert_array_equal(p.grad.numpy(), g)  # the update never writes into .grad
    np.testing.assert_allclose(p.numpy(), 1 * (1 - 0.1 * 1e-2) - 0.1 * np.sign(g), rtol=1e-6)


# ---------------------------------------------------------- groups, state
def test_param_groups_use_their_own_hyperparameters():
    a, b = Parameter(np.ones(2)), Parameter(np.ones(2))
    opt = SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
    a.grad, b.grad = mg.Tensor(np.ones(2)), mg.Tensor(np.ones(2))
    opt.step()
    np.testing.assert_allclose(a.numpy(), 0.9)
    np.testing.assert_allclose(b.numpy(), 0.5)
    assert opt.param_groups[1]["momentum"] == 0.0
    c = Parameter(np.zeros(2))
    assert c.grad is None
    opt.add_param_group({"params": [c], "lr": 1.0})
    opt.step()  # parameters without a gradient are skipped
    np.testing.assert_allclose(c.numpy(), 0.0)


def test_zero_grad():
    p = Parameter(np.ones(2))
    opt = SGD([p], lr=0.1)
    p.grad = mg.Tensor(np.ones(2))
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(p.grad.numpy(), 0)
    opt.zero_grad()
    assert p.grad is None


@pytest.mark.parametrize("make", [lambda ps: SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
                                  lambda ps: Adam(ps, lr=0.01, amsgrad=True),
                                  lambda ps: AdamW([{"params": ps[:1]}, {"params": ps[1:], "lr": 0.1}], lr=0.01)])
def test_state_dict_round_trip_resumes_exactly(make):
    w0, grads = _params_and_grads(6)
    full, _ = _run(lambda ps, **kw: make(ps), w0, grads)
    first = [Parameter(w.copy()) for w in w0]
    opt = make(first)
    for g in grads[:3]:
        for p, gi in zip(first, g):
            p.grad = mg.Tensor(gi.copy())
        opt.step()
    saved = opt.state_dict()
    assert sorted(saved["state"]) == [0, 1]
    assert [g["params"] for g in saved["param_groups"]] in ([[0, 1]], [[0], [1]])
    # A fresh optimizer over copies of the parameters continues exactly where the first stopped.
    second = [Parameter(p.numpy().copy()) for p in first]
    opt2 = make(second)
    opt2.load_state_dict(saved)
    for g in grads[3:]:
        for p, gi in zip(second, g):
            p.grad = mg.Tensor(gi.copy())
        opt2.step()
    for a, b in zip(second, full):
        np.testing.assert_array_equal(a.numpy(), b)
    # The saved state is a copy, not a view of the live buffers.
    key = next(iter(saved["state"][0]))
    if isinstance(saved["state"][0][key], np.ndarray):
        assert not np.shares_memory(saved["state"][0][key], opt.state[first[0]][key])


def test_load_state_dict_rejects_mismatches():
    opt = SGD([Parameter(np.ones(2)), Parameter(np.ones(3))], lr=0.1, momentum=0.9)
    other = SGD([Parameter(np.ones(2))], lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="group 0 has 1 parameters in the saved state and 2"):
        opt.load_state_dict(other.state_dict())
    bad = {"state": {1: {"momentum_buffer": np.ones(5)}}, "param_groups": opt.state_dict()["param_groups"]}
    with pytest.raises(ValueError, match=r"shape \(5,\).*shape \(3,\)"):
        opt.load_state_dict(bad)


def test_constructor_errors():
    with pytest.raises(ValueError, match="empty parameter list"):
        SGD([], lr=0.1)
    with pytest.raises(ValueError, match="invalid learning rate"):
        SGD([Parameter(np.ones(1))], lr=-1)
    with pytest.raises(ValueError, match="betas"):
        Adam([Parameter(np.ones(1))], betas=(0.9, 1.0))
    with pytest.raises(TypeError, match="single Tensor"):
        SGD(Parameter(np.ones(1)), lr=0.1)
    p = Parameter(np.ones(1))
    with pytest.raises(ValueError, match="more than one parameter group"):
        SGD([{"params": [p]}, {"params": [p]}], lr=0.1)


@pytest.mark.parametrize("name,kw", [("SGD", dict(lr=0.1, momentum=0.9, dampening=0.1, weight_decay=1e-2)),
                                     ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
                                     ("Adam", dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
                                     ("AdamW", dict(lr=0.01)),
                                     ("AdamW", dict(lr=0.01, betas=(0.8, 0.9), maximize=True))])
def test_matches_torch_optim(name, kw):
    torch = pytest.importorskip("torch")
    w0, grads = _params_and_grads(5, dtype=np.float32)
    ours, _ = _run(getattr(mg.optim, name), w0, grads, **kw)
    params = [torch.nn.Parameter(torch.tensor(w)) for w in w0]
    opt = getattr(torch.optim, name)(params, **kw)
    for g in grads:
        for p, gi in zip(params, g):
            p.grad = torch.tensor(gi)
        opt.step()
    for a, b in zip(ours, params):
        np.testing.assert_allclose(a, b.detach().numpy(), atol=1e-6)


# ------------------------------------------------------------ schedules
def _lrs(make, steps, lr=0.1, optimizer=SGD, **okw):
    opt = optimizer([Parameter(np.zeros(1))], lr=lr, **okw)
    sched = make(opt)
    out = []
    for _ in range(steps):
        out.append(sched.get_last_lr()[0])
        assert opt.param_groups[0]["lr"] == out[-1]
        opt.step()
        sched.step()
    return np.array(out)


def test_step_multistep_exponential_lambda():
    e = np.arange(20)
    np.testing.assert_allclose(_lrs(lambda o: S.StepLR(o, 7, 0.5), 20), 0.1 * 0.5 ** (e // 7))
    np.testing.assert_allclose(_lrs(lambda o: S.MultiStepLR(o, [10, 3], 0.5), 20),
                               0.1 * 0.5 ** ((e >= 3).astype(int) + (e >= 10)))
    np.testing.assert_allclose(_lrs(lambda o: S.ExponentialLR(o, 0.9), 20), 0.1 * 0.9**e)
    np.testing.assert_allclose(_lrs(lambda o: S.LambdaLR(o, lambda k: 1 / (k + 1)), 20), 0.1 / (e + 1))


def test_cosine_and_linear():
    e = np.arange(25)
    np.testing.assert_allclose(_lrs(lambda o: S.CosineAnnealingLR(o, 10, eta_min=0.01), 25),
                               0.01 + 0.09 * (1 + np.cos(np.pi * e / 10)) / 2, atol=1e-15)
    np.testing.assert_allclose(_lrs(lambda o: S.LinearLR(o, 0.25, 1.0, 4), 10),
                               0.1 * (0.25 + 0.75 * np.minimum(np.arange(10), 4) / 4))


def test_sequential_warmup_then_cosine():
    got = _lrs(lambda o: S.SequentialLR(o, [S.LinearLR(o, 0.1, 1.0, 5), S.CosineAnnealingLR(o, 10)], [5]), 15)
    e = np.arange(15)
    expected = np.where(e < 5, 0.1 * (0.1 + 0.9 * e / 5), 0.1 * (1 + np.cos(np.pi * (e - 5) / 10)) / 2)
    np.testing.assert_allclose(got, expected, atol=1e-15)


@pytest.mark.parametrize("strategy", ["cos", "linear"])
def test_one_cycle_matches_formula(strategy):
    total, max_lr, pct = 20, 1.0, 0.3
    opt = SGD([Parameter(np.zeros(1))], lr=0.1, momentum=0.9)
    sched = S.OneCycleLR(opt, max_lr, total_steps=total, pct_start=pct, anneal_strategy=strategy)
    lo, hi, final = max_lr / 25, max_lr, max_lr / 25 / 1e4

    def anneal(a, b, f):
        return b + (a - b) / 2 * (math.cos(math.pi * f) + 1) if strategy == "cos" else a + (b - a) * f

    up_end = pct * total - 1
    for k in range(total):
        if k <= up_end:
            lr, mom = anneal(lo, hi, k / up_end), anneal(0.95, 0.85, k / up_end)
        else:
            f = (k - up_end) / (total - 1 - up_end)
            lr, mom = anneal(hi, final, f), anneal(0.85, 0.95, f)
        assert sched.get_last_lr()[0] == pytest.approx(lr, rel=1e-12)
        assert opt.param_groups[0]["momentum"] == pytest.approx(mom, rel=1e-12)
        opt.step()
        sched.step()
    adam = Adam([Parameter(np.zeros(1))], lr=0.1)
    S.OneCycleLR(adam, 1.0, epochs=2, steps_per_epoch=5)
    assert adam.param_groups[0]["betas"] == (0.95, 0.999)
    with pytest.raises(ValueError, match="total_steps"):
        S.OneCycleLR(opt, 1.0)


def test_scheduler_state_dict_resume():
    def make(o):
        return S.SequentialLR(o, [S.LinearLR(o, 0.1, 1.0, 3), S.StepLR(o, 2, 0.5)], [3])

    straight = _lrs(make, 10)
    opt = SGD([Parameter(np.zeros(1))], lr=0.1)
    sched = make(opt)
    for _ in range(4):
        opt.step()
        sched.step()
    saved_opt, saved = opt.state_dict(), sched.state_dict()
    assert "optimizer" not in saved
    opt2 = SGD([Parameter(np.zeros(1))], lr=0.1)
    sched2 = make(opt2)
    opt2.load_state_dict(saved_opt)
    sched2.load_state_dict(saved)
    resumed = []
    for _ in range(6):
        resumed.append(sched2.get_last_lr()[0])
        opt2.step()
        sched2.step()
    np.testing.assert_allclose(resumed, straight[4:])


@pytest.mark.parametrize("make", [
    (lambda S, o: S.StepLR(o, 3, 0.5)),
    (lambda S, o: S.MultiStepLR(o, [2, 5], 0.3)),
    (lambda S, o: S.CosineAnnealingLR(o, 7, 0.001)),
    (lambda S, o: S.LinearLR(o, 0.2, 0.9, 6)),
    (lambda S, o: S.OneCycleLR(o, 0.5, total_steps=25, three_phase=True)),
    (lambda S, o: S.SequentialLR(o, [S.LinearLR(o, 0.1, 1.0, 4), S.CosineAnnealingLR(o, 12)], [4])),
])
def test_schedules_match_torch(make):
    torch = pytest.importorskip("torch")
    from torch.optim import lr_scheduler as T

    ours = _lrs(lambda o: make(S, o), 25, momentum=0.9)
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1, momentum=0.9)
    sched = make(T, opt)
    ref = []
    for _ in range(25):
        ref.append(sched.get_last_lr()[0])
        opt.step()
        sched.step()
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-15)


def test_resuming_a_schedule_needs_initial_lr():
    opt = SGD([Parameter(np.zeros(1))], lr=0.1)
    with pytest.raises(ValueError, match="param group 0 has no 'initial_lr'"):
        S.StepLR(opt, 2, last_epoch=3)
    S.StepLR(opt, 2)
    resumed = S.StepLR(opt, 2, gamma=0.5, last_epoch=3)  # continues at step 4
    assert resumed.get_last_lr() == [0.1 * 0.5**2]


def test_one_cycle_with_a_one_step_warm_up_phase():
    opt = SGD([Parameter(np.zeros(1))], lr=0.1, momentum=0.9)
    sched = S.OneCycleLR(opt, 1.0, total_steps=10, pct_start=0.1)  # the rising phase ends at step 0
    lrs = []
    for _ in range(10):
        lrs.append(sched.get_last_lr()[0])
        opt.step()
        sched.step()
    assert lrs[0] == pytest.approx(1.0) and lrs[-1] == pytest.approx(1.0 / 25 / 1e4)
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))


_DEVICE_SCRIPT = """
import numpy as np, minigrad as mg
from minigrad.backends import cuda_available
if not cuda_available():
    print("NO-CUDA")
    raise SystemExit(0)
rng = np.random.default_rng(0)
w, g = rng.standard_normal((3, 4)).astype(np.float32), rng.standard_normal((3, 4)).astype(np.float32)
results = []
for device in ("cpu", "cuda"):
    for make in (lambda ps: mg.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
                 lambda ps: mg.optim.AdamW(ps, lr=0.01, amsgrad=True)):
        p = mg.nn.Parameter(w, device=device)
        opt = make([p])
        for _ in range(3):
            p.grad = mg.Tensor(g.copy(), device=device)  # zero_grad below zeroes it in place
            opt.step()
        assert p.device == device
        opt.zero_grad(set_to_none=False)
        assert not p.grad.numpy().any()
        results.append(p.numpy())
for a, b in zip(results[:2], results[2:]):
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
print("OK")
"""


def test_optimizers_update_parameters_on_the_cuda_device():
    """Parameters on the CUDA device (Numba's simulator, in a subprocess) get the CPU's updates."""
    import os
    import subprocess
    import sys

    # The simulator runs everywhere (and must be chosen before numba is imported: a subprocess).
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    result = subprocess.run([sys.executable, "-c", _DEVICE_SCRIPT], env=env, capture_output=True, text=True,
                            timeout=300)
    if "NO-CUDA" in result.stdout:
        pytest.skip("numba-cuda is not usable here")
    assert result.returncode == 0 and "OK" in result.stdout, result.stderr[-2000:]
