"""Device-resident training: ``Module.to("cuda")``, forward, loss, backward and an SGD step of a
tiny LeNet (LeNet-5's layer types at a fraction of its size: the simulator runs every GPU
thread in Python) give the CPU's numbers."""

from __future__ import annotations

import numpy as np
import pytest
from test_cuda_setup import needs_cuda

import minigrad as mg

pytestmark = needs_cuda


def tiny_lenet():
    nn = mg.nn
    return nn.Sequential(
        nn.Conv2d(1, 3, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),  # 12x12 -> 6x6
        nn.Conv2d(3, 4, 3), nn.ReLU(), nn.MaxPool2d(2),  # -> 4x4 -> 2x2
        nn.Flatten(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 10),
    )


def _step(device, x, y):
    mg.manual_seed(0)
    model = tiny_lenet().to(device)
    opt = mg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    X = mg.Tensor(x).to(device)
    out = model(X)
    assert out.device == device and out.shape == (2, 10)
    loss = mg.functional.cross_entropy(out, y)
    loss.backward()
    grads = {name: p.grad for name, p in model.named_parameters()}
    assert all(g is not None and g.device == device for g in grads.values())
    grads = {name: g.numpy() for name, g in grads.items()}
    opt.step()
    params = {name: p.numpy() for name, p in model.named_parameters()}
    assert all(p.device == device for p in model.parameters())
    return loss.item(), grads, params


def test_lenet_training_step_on_the_gpu_matches_the_cpu():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 1, 12, 12)).astype(np.float32)
    y = np.array([1, 3])
    loss_cpu, grads_cpu, params_cpu = _step("cpu", x, y)
    loss_gpu, grads_gpu, params_gpu = _step("cuda", x, y)
    assert loss_gpu == pytest.approx(loss_cpu, rel=1e-5)
    for name in grads_cpu:
        np.testing.assert_allclose(grads_gpu[name], grads_cpu[name], rtol=1e-4, atol=1e-6, err_msg=name)
        np.testing.assert_allclose(params_gpu[name], params_cpu[name], rtol=1e-5, atol=1e-6, err_msg=name)


def test_tensors_on_different_devices_do_not_meet():
    a = mg.ones(2, 3).to("cuda")
    with pytest.raises(ValueError, match="tensors on different devices meet in one op"):
        a + mg.ones(2, 3)


class _Residual(mg.nn.Module):
    """Batch norm, a residual sum, dropout and adaptive pooling: ResNet's and VGG's other ops."""

    def __init__(self):
        super().__init__()
        nn = mg.nn
        self.conv = nn.Conv2d(2, 3, 3, padding=1)
        self.bn = nn.BatchNorm2d(3)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(0.5)
        self.fc = nn.Linear(3, 4)

    def forward(self, x):
        h = mg.functional.relu(self.bn(self.conv(x))) + self.conv(x)
        return self.fc(self.drop(self.pool(h).flatten(1)))


class _HashDropout(mg.nn.Module):
    """The GPU's dropout computed on the CPU: the same seed drawn from ``mg.default_rng()`` and the
    NumPy twin of the device's counter-based mask, so both runs drop the same elements."""

    def __init__(self, p):
        super().__init__()
        self.p = p

    def forward(self, x):
        if not self.training:
            return x
        from minigrad.backends.cuda.fused import dropout_mask_reference
        from minigrad.ops.activation import _dropout_seed

        return x * mg.Tensor(dropout_mask_reference(x.shape, _dropout_seed(), self.p, x.dtype))


def _adam_step(device, x):
    mg.manual_seed(0)
    model = _Residual().to(device)
    if device == "cpu":
        model.drop = _HashDropout(model.drop.p)  # the CPU's own dropout draws a different mask
    loss = mg.functional.cross_entropy(model(mg.Tensor(x).to(device)), np.array([0, 3]))
    loss.backward()
    mg.optim.Adam(model.parameters(), lr=0.01).step()
    model.eval()
    out = model(mg.Tensor(x).to(device))
    return loss.item(), out.numpy(), model.bn.running_var.numpy()


# The simulator runs the dropout kernel's hash on NumPy uint64 scalars, which warn on the (intended) wraparound.
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_batch_norm_dropout_residual_and_adam_on_the_gpu_match_the_cpu():
    x = np.random.default_rng(1).standard_normal((2, 2, 5, 5)).astype(np.float32)
    cpu, gpu = _adam_step("cpu", x), _adam_step("cuda", x)
    assert gpu[0] == pytest.approx(cpu[0], rel=1e-5)
    np.testing.assert_allclose(gpu[1], cpu[1], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(gpu[2], cpu[2], rtol=1e-5)
