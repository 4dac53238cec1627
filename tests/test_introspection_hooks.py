"""``summary`` and guided backpropagation observe a model through hook points, never by rebinding names.

A model that imported ``relu`` / ``max_pool2d`` by name (``from minigrad.functional import ...``)
is seen like one that calls ``F.relu``, and two threads introspecting at once do not see each
other's ops or ReLU rules.
"""

import threading

import numpy as np

import minigrad as mg
from minigrad import functional as F
from minigrad import nn
from minigrad.autograd import Function
from minigrad.functional import max_pool2d, relu
from minigrad.models import get_model
from minigrad.model_summary import summary
from minigrad.viz import guided, saliency


class ImportedNamesNet(nn.Module):
    """conv 3x3 -> relu -> max_pool 2x2 -> linear, with the functional ops imported by name."""

    def __init__(self, hidden=16, k=3):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)
        self.fc = nn.Linear(2 * 3 * 3, hidden)
        self.out = nn.Linear(hidden, k)

    def forward(self, x):
        x = max_pool2d(relu(self.conv(x)), 2)
        return self.out(relu(self.fc(x.flatten(1))))


def test_summary_sees_a_pool_imported_by_name():
    # 8x8 -> conv 3x3: (3, 1, 1.5) -> pool 2/2: r = 3 + 1*1 = 4, j = 2, start = 1.5 + 0.5 = 2.0.
    s = summary(ImportedNamesNet(), (1, 8, 8))
    assert [r.name for r in s.layers] == ["conv", "max_pool2d_1", "fc", "out"]
    pool = s.layer("max_pool2d_1")
    assert pool.type == "F.max_pool2d" and pool.output_shape == (1, 2, 3, 3)
    assert pool.receptive_field == {"size": 4, "jump": 2, "start": 2.0}
    assert s.layer("fc").receptive_field == {"size": 8, "jump": None, "start": None}
    assert s.total_macs == 2 * 6 * 6 * 9 + 18 * 16 + 16 * 3


class ImportedReluMLP(nn.Module):
    """Linear -> relu -> Linear, the relu imported by name."""

    def __init__(self, n=12, hidden=16, k=3):
        super().__init__()
        self.fc, self.out = nn.Linear(n, hidden), nn.Linear(hidden, k)

    def forward(self, x):
        return self.out(relu(self.fc(x.flatten(1))))


def test_guided_backprop_reaches_a_relu_imported_by_name():
    mg.manual_seed(5)
    model = ImportedReluMLP().eval()
    x = np.random.default_rng(1).standard_normal((1, 3, 4)).astype(np.float32)
    w1, b1, w2 = (p.numpy().astype(np.float64) for p in (model.fc.weight, model.fc.bias, model.out.weight))
    # d score_1 / d x by hand: the gradient w2[1] crosses the ReLU, then fc's weights.
    h, g = w1 @ x.reshape(-1) + b1, w2[1]
    plain, guided_ = w1.T @ (g * (h > 0)), w1.T @ (g * (h > 0) * (g > 0))
    assert not np.allclose(plain, guided_)
    np.testing.assert_allclose(saliency.input_gradient(model, x, 1)[0].reshape(-1), plain, atol=1e-5)
    np.testing.assert_allclose(guided.guided_backprop(model, x, 1)[0].reshape(-1), guided_, atol=1e-5)


class AttributeReluMLP(ImportedReluMLP):
    """The same MLP calling ``F.relu`` (the spelling the old rebinding of ``functional.relu`` caught)."""

    def forward(self, x):
        return self.out(F.relu(self.fc(x.flatten(1))))


def _run_in_threads(work, rounds=8):
    """Run ``work(i)`` for i = 0, 1 in two threads at once, ``rounds`` times; the results per thread."""
    barrier = threading.Barrier(2)
    results, errors = {0: [], 1: []}, []

    def body(i):
        try:
            for _ in range(rounds):
                barrier.wait()
                results[i].append(work(i))
        except Exception as error:  # noqa: BLE001 - reported below with the thread's index
            errors.append((i, error))
            barrier.abort()

    threads = [threading.Thread(target=body, args=(i,)) for i in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return results


def test_two_threads_summarise_at_once_without_colliding():
    models = [get_model("lenet5"), nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten())]
    sizes = [(1, 28, 28), (1, 8, 8)]
    alone = [summary(m, s).to_dict() for m, s in zip(models, sizes)]
    apply = Function.__dict__["apply"]
    results = _run_in_threads(lambda i: summary(models[i], sizes[i]).to_dict())
    for i in (0, 1):
        assert all(r == alone[i] for r in results[i])
    assert Function.__dict__["apply"] is apply
    assert all(not m._forward_hooks and not m._forward_pre_hooks for net in models for m in net.modules())


def test_guided_backprop_in_one_thread_leaves_another_threads_gradient_alone():
    mg.manual_seed(2)
    nets = [AttributeReluMLP().eval() for _ in range(2)]
    x = np.random.default_rng(4).standard_normal((1, 3, 4)).astype(np.float32)
    plain = [saliency.input_gradient(n, x, 0)[0] for n in nets]
    guided_alone = [guided.guided_backprop(n, x, 0)[0] for n in nets]
    assert not np.allclose(plain[1], guided_alone[1])
    # Thread 0 runs guided backprop while thread 1 takes plain gradients through the same relu.
    work = (lambda i: guided.guided_backprop(nets[0], x, 0)[0] if i == 0 else saliency.input_gradient(nets[1], x, 0)[0])
    results = _run_in_threads(work, rounds=20)
    for r in results[0]:
        np.testing.assert_allclose(r, guided_alone[0], atol=1e-6)
    for r in results[1]:
        np.testing.assert_allclose(r, plain[1], atol=1e-6)
