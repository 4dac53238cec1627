"""The measurement tools of ``benchmarks/``: vs_torch's competing process and profile_step's instrumentation.

Nothing here asserts on a time: the tests check that the competitor really runs and always
dies, that an instrumented step computes what a plain step computes (the split convolution
backward included) and leaves the library as it found it, and that PyTorch's profile is
sorted into the right op kinds and layers.
"""

import os
import sys

import numpy as np
import pytest

import minigrad as mg
import minigrad.functional as F
from minigrad.autograd import Function
from minigrad.models import get_model

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))

import profile_step  # noqa: E402
import vs_torch  # noqa: E402

linux = pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads /proc")


def _state(pid):
    """The process state letter from /proc, or None when the process is gone (reaped)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return None


@linux
def test_competitor_runs_in_the_block_and_is_reaped_after_an_exception():
    with pytest.raises(KeyboardInterrupt):
        with vs_torch.competitor() as info:
            pid = info["competitor_pid"]
            assert _state(pid) in ("R", "S")  # alive (running, or between time slices)
            raise KeyboardInterrupt
    assert _state(pid) is None
    assert info["competitor_matmuls_per_s"] >= 0  # it stopped on SIGTERM and reported its rate


@linux
def test_competitor_can_be_pinned():
    with vs_torch.competitor(core=sorted(os.sched_getaffinity(0))[0]) as info:
        assert os.sched_getaffinity(info["competitor_pid"]) == {sorted(os.sched_getaffinity(0))[0]}
    assert _state(info["competitor_pid"]) is None


def _lenet_run(instrumented: bool, split_conv: bool = True):
    mg.manual_seed(0)
    model = get_model("lenet5").train()
    images, labels = vs_torch.batch("lenet5", 4)
    x, y = mg.Tensor(images), mg.Tensor(labels)
    optimizer = mg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    result = None
    for _ in range(2):  # the second step uses the momentum buffers
        if instrumented:
            result = profile_step.MinigradProfiler(model, split_conv).step(optimizer, F.cross_entropy, x, y)
        else:
            optimizer.zero_grad()
            F.cross_entropy(model(x), y).backward()
            optimizer.step()
    return {k: np.array(v) for k, v in model.state_dict().items()}, result


@pytest.mark.parametrize("direct_conv", [True, False], ids=["direct", "im2row"])
@pytest.mark.parametrize("split_conv", [True, False], ids=["split", "whole"])
def test_instrumented_step_trains_like_a_plain_step(direct_conv, split_conv):
    import minigrad.backends.cpu as cpu

    backwards = {cls: cls.__dict__.get("backward") for cls in Function.__subclasses__()}
    kernels = dict(vars(cpu))
    with mg.config.using(direct_conv=direct_conv):
        plain, _ = _lenet_run(False)
        profiled, result = _lenet_run(True, split_conv)
    for name in plain:
        np.testing.assert_array_equal(profiled[name], plain[name], err_msg=name)
    kinds = result["kinds"]
    if split_conv:
        assert kinds["conv bwd dW"] > 0 and kinds["conv bwd dX"] > 0
        assert kinds["conv bwd"] == pytest.approx(kinds["conv bwd dW"] + kinds["conv bwd dX"])
    else:
        assert "conv bwd dX" not in kinds and kinds["conv bwd"] > 0
    for kind in ("conv fwd", "relu fwd", "relu bwd", "pooling fwd", "linear fwd", "linear bwd", "loss fwd"):
        assert kinds[kind] > 0, kind
    assert {"conv1|fwd", "conv1|bwd", "conv2|bwd", "fc1|fwd", "fc3|bwd", "(loss)|fwd"} <= set(result["layers"])
    kernel = "conv2d_direct" if direct_conv else "gemm"
    assert any(k.startswith("conv fwd|") and k.endswith(kernel) for k in result["kernels"])
    # The wrappers are gone: every Function has its own backward again, and the backend its kernels.
    assert {cls: cls.__dict__.get("backward") for cls in Function.__subclasses__()} == backwards
    assert {k: v for k, v in vars(cpu).items() if k in kernels} == kernels
    assert "gemm" in profile_step.MinigradProfiler(get_model("lenet5")).kernel_names


def test_torch_profile_sorted_by_kind_and_layer():
    torch = pytest.importorskip("torch")
    model = vs_torch.TorchLeNet5().train()
    images, labels = vs_torch.batch("lenet5", 4)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    result = profile_step.torch_profiled_step(model, optimizer, torch.from_numpy(images), torch.from_numpy(labels))
    kinds, layers = result["kinds"], result["layers"]
    for kind in ("conv fwd", "conv bwd", "relu fwd", "relu bwd", "pooling fwd", "pooling bwd", "linear fwd",
                 "linear bwd", "loss fwd", "loss bwd", "optimizer step"):
        assert kinds.get(kind, 0) > 0, kind
    assert "conv bwd dW" not in kinds  # one ATen op in PyTorch: no split
    # Backward nodes find their forward layer by sequence number.
    for layer in ("conv1", "conv2", "fc1", "fc2", "fc3"):
        assert layers.get(f"{layer}|fwd", 0) > 0 and layers.get(f"{layer}|bwd", 0) > 0, layer
    assert result["layer_types"]["conv1"] == "Conv2d"
    assert any(k.startswith("conv bwd|aten::convolution_backward") for k in result["kernels"])


@pytest.mark.parametrize("node, family", [("ConvolutionBackward0", "conv"), ("NativeBatchNormBackward0", "batchnorm"),
                                          ("torch::autograd::AccumulateGrad", "engine"), ("ViewBackward0", None)])
def test_torch_backward_family(node, family):
    assert profile_step.torch_backward_family(node) == family
