"""Device-resident optimizers and dropout: SGD/Adam/AdamW keep their state on the GPU and update
parameters in place there, with the CPU optimizers' trajectories (which are tested against
PyTorch in test_optim.py); dropout masks are drawn on the device, seeded by ``mg.manual_seed``.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_cuda_setup import needs_cuda

import minigrad as mg
from minigrad.backends import get_backend

pytestmark = needs_cuda

STEPS = 4


@pytest.fixture(scope="module")
def gpu():
    return get_backend("cuda")


@pytest.fixture()
def no_host_copies(gpu, monkeypatch):
    """Inside ``with no_host_copies():`` any device-to-host or host-to-device copy of an array fails."""
    import contextlib

    from minigrad.backends.cuda import array as arr

    @contextlib.contextmanager
    def guard():
        def refuse(*args, **kwargs):
            raise AssertionError("an array crossed between host and device")

        with monkeypatch.context() as m:
            m.setattr(arr.CudaArray, "get", refuse)
            m.setattr(arr, "from_numpy", refuse)
            m.setitem(gpu._namespace(), "from_numpy", refuse)
            m.setitem(gpu._namespace(), "to_numpy", refuse)
            yield

    return guard


def _model(device):
    mg.manual_seed(3)
    return mg.nn.Sequential(mg.nn.Linear(5, 4), mg.nn.ReLU(), mg.nn.Linear(4, 3)).to(device)


def _batches():
    r = np.random.default_rng(7)
    return [(r.standard_normal((6, 5)).astype(np.float32), r.integers(0, 3, 6)) for _ in range(STEPS)]


def _train(device, make_opt, steps=STEPS):
    """Parameters (host copies) after each of ``steps`` full training steps, and the model and optimizer."""
    model = _model(device)
    opt = make_opt(model.parameters())
    trajectory = []
    for x, y in _batches()[:steps]:
        loss = mg.functional.cross_entropy(model(mg.Tensor(x).to(device)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        trajectory.append([p.numpy().copy() for p in model.parameters()])
    return trajectory, model, opt


OPTIMIZERS = {
    "sgd": lambda ps: mg.optim.SGD(ps, lr=0.1),
    "sgd-momentum": lambda ps: mg.optim.SGD(ps, lr=0.1, momentum=0.9),
    "sgd-dampening-decay": lambda ps: mg.optim.SGD(ps, lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.01),
    "sgd-nesterov-maximize": lambda ps: mg.optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True, maximize=True),
    "adam": lambda ps: mg.optim.Adam(ps, lr=0.01),
    "adam-l2-amsgrad": lambda ps: mg.optim.Adam(ps, lr=0.01, weight_decay=0.1, amsgrad=True),
    "adamw-maximize": lambda ps: mg.optim.AdamW(ps, lr=0.02, betas=(0.8, 0.99), maximize=True),
    "adamw-amsgrad": lambda ps: mg.optim.AdamW(ps, lr=0.01, weight_decay=0.05, amsgrad=True),
}

STATE_NAMES = {
    "sgd": set(), "sgd-momentum": {"momentum_buffer"}, "sgd-dampening-decay": {"momentum_buffer"},
    "sgd-nesterov-maximize": {"momentum_buffer"}, "adam": {"step", "exp_avg", "exp_avg_sq"},
    "adam-l2-amsgrad": {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"},
    "adamw-maximize": {"step", "exp_avg", "exp_avg_sq"},
    "adamw-amsgrad": {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"},
}


def _manual(device, make_opt, steps=STEPS):
    """Like ``_train`` with given gradients instead of a model's (the simulator makes GEMMs slow)."""
    r = np.random.default_rng(5)
    shapes = ((3, 4), (4,))
    params = [mg.nn.Parameter(mg.Tensor(r.standard_normal(s).astype(np.float32), device=device)) for s in shapes]
    grads = [[r.standard_normal(s).astype(np.float32) * scale for s in shapes] for scale in (1.0, 0.1, 3.0, 0.5)]
    opt = make_opt(params)
    trajectory = []
    for g in grads[:steps]:
        for p, gi in zip(params, g):
            p.grad = mg.Tensor(gi, device=device)
        opt.step()
        trajectory.append([p.numpy().copy() for p in params])
    return trajectory, params, opt


def _assert_same_trajectory(cpu, gpu_run, name, tol):
    assert len(cpu) == len(gpu_run)
    for step, (want, got) in enumerate(zip(cpu, gpu_run)):
        for i, (w, g) in enumerate(zip(want, got)):
            np.testing.assert_allclose(g, w, rtol=tol, atol=tol, err_msg=f"{name}: step {step + 1}, parameter {i}")
    assert not np.allclose(cpu[-1][0], cpu[0][0])  # the parameters did move


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_device_trajectory_matches_the_cpu(name):
    cpu, _, _ = _manual("cpu", OPTIMIZERS[name])
    gpu_run, _, _ = _manual("cuda", OPTIMIZERS[name])
    _assert_same_trajectory(cpu, gpu_run, name, 1e-6)


@pytest.mark.parametrize("name", ["sgd-nesterov-maximize", "adamw-amsgrad"])
def test_training_on_the_device_matches_the_cpu(name):
    """Forward, loss, backward and step, all on the device, against the same steps on the CPU."""
    _assert_same_trajectory(_train("cpu", OPTIMIZERS[name], 3)[0], _train("cuda", OPTIMIZERS[name], 3)[0], name, 1e-5)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_state_lives_on_the_device_and_the_step_copies_nothing(gpu, name, no_host_copies):
    from minigrad.backends.cuda.array import CudaArray

    _, params, opt = _manual("cuda", OPTIMIZERS[name], steps=1)
    data = [p.data for p in params]
    for p in params:
        p.grad = mg.Tensor(np.full(p.shape, 0.5, np.float32), device="cuda")
    with no_host_copies():
        opt.step()
    assert all(p.data is d for p, d in zip(params, data))  # updated in place
    for p in params:
        state = opt.state[p]
        assert set(state) == STATE_NAMES[name]
        for key, value in state.items():
            if key == "step":
                assert value == 2
            else:
                assert isinstance(value, CudaArray) and value.shape == p.shape and value.dtype == p.dtype, key


@pytest.mark.parametrize("name", ["sgd-momentum", "adam-l2-amsgrad"])
def test_state_dict_is_host_numpy_and_loads_back_onto_the_device(name, tmp_path):
    from minigrad.backends.cuda.array import CudaArray
    from minigrad.checkpoint import load_checkpoint, save_checkpoint

    cpu, cpu_model, cpu_opt = _train("cpu", OPTIMIZERS[name], steps=2)
    _, model, opt = _train("cuda", OPTIMIZERS[name], steps=2)
    saved = opt.state_dict()
    want = cpu_opt.state_dict()
    for index, entries in saved["state"].items():
        for key, value in entries.items():
            if key == "step":
                assert value == want["state"][index][key] == 2
            else:
                assert type(value) is np.ndarray, key
                np.testing.assert_allclose(value, want["state"][index][key], rtol=1e-5, atol=1e-6)

    # Through a checkpoint file, into a fresh model and optimizer on the device.
    path = save_checkpoint(tmp_path / "ckpt.npz", model, opt)
    ckpt = load_checkpoint(path)
    restored = _model("cuda")
    restored.load_state_dict(ckpt.model_state)
    opt2 = OPTIMIZERS[name](restored.parameters())
    opt2.load_state_dict(ckpt.optimizer_state)
    for p in restored.parameters():
        for key, value in opt2.state[p].items():
            assert key == "step" or isinstance(value, CudaArray), key

    # The restored optimizer continues exactly where the CPU run goes on.
    x, y = _batches()[2]
    for m, o, device in ((restored, opt2, "cuda"), (cpu_model, cpu_opt, "cpu")):
        o.zero_grad()
        mg.functional.cross_entropy(m(mg.Tensor(x).to(device)), y).backward()
        o.step()
    for g, w in zip(restored.parameters(), cpu_model.parameters()):
        np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["sgd-momentum", "adam"])
def test_state_follows_a_parameter_that_changes_device(name):
    from minigrad.backends.cuda.array import CudaArray

    cpu, _, _ = _train("cpu", OPTIMIZERS[name], steps=3)
    model = _model("cpu")
    opt = OPTIMIZERS[name](model.parameters())
    batches = _batches()
    for step, device in enumerate(("cpu", "cuda", "cpu")):
        model.to(device)
        x, y = batches[step]
        opt.zero_grad()
        mg.functional.cross_entropy(model(mg.Tensor(x).to(device)), y).backward()
        opt.step()
        arrays = [v for p in model.parameters() for k, v in opt.state[p].items() if k != "step"]
        assert all(isinstance(v, CudaArray if device == "cuda" else np.ndarray) for v in arrays)
        for got, want in zip(model.parameters(), cpu[step]):
            np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-5)


class _SignSGD(mg.optim.Optimizer):
    """An optimizer written only for NumPy (no ``_update_device``): steps by the sign of a running sum."""

    def __init__(self, params, lr=0.01):
        super().__init__(params, dict(lr=lr))

    def _update(self, param, grad, state, group):
        total = state.setdefault("total", np.zeros_like(param))
        total += grad
        param -= group["lr"] * np.sign(total)


def test_an_optimizer_without_device_kernels_still_keeps_its_state_on_the_device():
    from minigrad.backends.cuda.array import CudaArray

    cpu, _, _ = _manual("cpu", _SignSGD)
    gpu_run, params, opt = _manual("cuda", _SignSGD)
    _assert_same_trajectory(cpu, gpu_run, "SignSGD", 1e-6)
    assert all(isinstance(opt.state[p]["total"], CudaArray) for p in params)


# ------------------------------------------------------------------ dropout
# The simulator runs the mask kernel's hash on NumPy uint64 scalars, which warn on the (intended) wraparound.
overflow_ok = pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")


@overflow_ok
def test_dropout_on_the_device_keeps_1_minus_p_and_backward_uses_the_same_mask(no_host_copies):
    p = 0.3
    x = mg.Tensor(np.ones((64, 40), np.float32), requires_grad=True, device="cuda")
    upstream = mg.Tensor(np.random.default_rng(0).standard_normal((64, 40)).astype(np.float32)).to("cuda")
    with no_host_copies():  # the mask is drawn on the device, not copied there
        y = mg.functional.dropout(x, p)
        y.backward(upstream)
    mask = y.numpy()
    assert set(np.unique(mask)) == {np.float32(0), np.float32(1 / (1 - p))}
    keep = (mask != 0).mean()
    assert abs(keep - (1 - p)) < 0.03  # 2560 draws: the standard deviation of the rate is 0.009
    np.testing.assert_array_equal(x.grad.numpy(), upstream.numpy() * mask)


@overflow_ok
def test_dropout_mask_is_seeded_by_manual_seed():
    from minigrad.backends.cuda.fused import dropout_mask_reference
    from minigrad.ops.activation import _dropout_seed

    x = mg.Tensor(np.arange(1, 61, dtype=np.float32).reshape(3, 4, 5)).to("cuda")
    mg.manual_seed(11)
    seed = _dropout_seed()
    mg.manual_seed(11)
    first = mg.functional.dropout(x, 0.5).numpy()
    second = mg.functional.dropout(x, 0.5).numpy()
    mg.manual_seed(11)
    again = mg.functional.dropout(x, 0.5).numpy()
    np.testing.assert_array_equal(first, x.numpy() * dropout_mask_reference((3, 4, 5), seed, 0.5))
    np.testing.assert_array_equal(again, first)
    assert not np.array_equal(first, second)  # each call draws a new seed


@overflow_ok
def test_dropout_module_on_the_device_in_train_and_eval_mode():
    layer = mg.nn.Dropout(0.5).to("cuda")
    x = mg.Tensor(np.ones((8, 8), np.float32)).to("cuda")
    out = layer(x)
    assert out.device == "cuda" and set(np.unique(out.numpy())) <= {0.0, 2.0}
    assert 0 < (out.numpy() == 0).sum() < 64
    layer.eval()
    np.testing.assert_array_equal(layer(x).numpy(), x.numpy())


def test_dropout_with_p_1_zeroes_everything_on_the_device():
    x = mg.Tensor(np.arange(6, dtype=np.float32).reshape(2, 3), requires_grad=True, device="cuda")
    y = mg.functional.dropout(x, 1.0)
    y.backward(mg.Tensor(np.ones((2, 3), np.float32), device="cuda"))
    assert y.device == "cuda" and not y.numpy().any() and not x.grad.numpy().any()
