"""``mg.config``: process defaults, thread-local ``using`` overrides, checked values, and the switches' effects."""

import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import minigrad as mg
from minigrad.autograd import function_hook
from minigrad.backends import get_backend
from minigrad.backends.cpu import memory_format as layout
from minigrad.ops.conv import Conv2d
from minigrad.ops.conv_direct import DirectConv2d


def test_defaults_are_the_documented_values():
    assert mg.config.defaults() == {
        "save_columns": False, "chunk_bytes": 16 << 20, "channels_last_min": 32, "direct_conv": True, "strip_conv": True,
        "shift_conv": True, "tiled_conv": True,
        "serial_below": 1 << 15, "blas_serial_below": 50_000_000,
        "cpu_caching": os.environ.get("MINIGRAD_CPU_CACHING", "1") != "0", "cpu_free_max_bytes": 32 << 20,
        "cuda_caching": os.environ.get("MINIGRAD_CUDA_CACHING", "1") != "0",
    }


def test_using_overrides_nests_and_restores_even_after_an_error():
    assert mg.config.chunk_bytes == 16 << 20
    with mg.config.using(chunk_bytes=5, save_columns=True):
        assert (mg.config.chunk_bytes, mg.config.save_columns) == (5, True)
        with pytest.raises(RuntimeError, match="stop"):
            with mg.config.using(chunk_bytes=7):
                assert (mg.config.chunk_bytes, mg.config.save_columns) == (7, True)
                raise RuntimeError("stop")
        assert mg.config.chunk_bytes == 5
    assert (mg.config.chunk_bytes, mg.config.save_columns) == (16 << 20, False)


def test_overrides_are_thread_local_and_set_changes_the_default_for_all():
    seen = {}
    inside, leave = threading.Event(), threading.Event()

    def other():
        seen["during"] = mg.config.chunk_bytes  # the main thread holds an override now
        with mg.config.using(chunk_bytes=3):
            inside.set()
            leave.wait(10)
            seen["own"] = mg.config.chunk_bytes

    with mg.config.using(chunk_bytes=1):
        t = threading.Thread(target=other)
        t.start()
        inside.wait(10)
        seen["main"] = mg.config.chunk_bytes  # the other thread holds one too
        leave.set()
        t.join()
    assert seen == {"during": 16 << 20, "own": 3, "main": 1}
    try:
        mg.config.set(chunk_bytes=1 << 10)
        values = []
        t = threading.Thread(target=lambda: values.append(mg.config.chunk_bytes))
        t.start()
        t.join()
        assert values == [1 << 10] and mg.config.chunk_bytes == 1 << 10
        with mg.config.using(chunk_bytes=2):
            assert mg.config.chunk_bytes == 2
    finally:
        mg.config.set(chunk_bytes=16 << 20)


def test_bad_names_and_values_are_refused_before_anything_changes():
    with pytest.raises(ValueError, match="config: no option 'chunk_size'; the options are save_columns, chunk_bytes"):
        with mg.config.using(save_columns=True, chunk_size=1):
            pass
    assert mg.config.save_columns is False
    for name, value, message in [("chunk_bytes", 0, "an int >= 1, got 0"), ("chunk_bytes", 1.5, "an int >= 1"),
                                 ("channels_last_min", True, "an int >= 1, got True"),
                                 ("save_columns", 1, "True or False, got 1")]:
        with pytest.raises(ValueError, match=f"config: {name} must be {message}"):
            mg.config.set(**{name: value})
    with pytest.raises(AttributeError, match=r"mg.config.using\(direct_conv=...\)"):
        mg.config.direct_conv = False
    with mg.config.using(chunk_bytes=np.int64(64)):
        assert mg.config.chunk_bytes == 64 and type(mg.config.chunk_bytes) is int


def _conv_functions():
    """The Function classes one LeNet-sized conv2d runs (direct kernels or im2row + GEMM)."""
    x = mg.Tensor(np.random.default_rng(0).standard_normal((1, 3, 8, 8)).astype(np.float32))
    w = mg.Tensor(np.random.default_rng(1).standard_normal((4, 3, 3, 3)).astype(np.float32))
    seen = []
    with function_hook(lambda fn, *rest: seen.append(fn)):
        mg.conv2d(x, w)
    return [fn for fn in seen if fn in (Conv2d, DirectConv2d)]


def test_switches_steer_the_conv_lowering_in_this_thread_only():
    assert _conv_functions() == [DirectConv2d]
    results = {}
    barrier = threading.Barrier(2)

    def run(name, direct):
        with mg.config.using(direct_conv=direct):
            barrier.wait(10)
            results[name] = [_conv_functions() for _ in range(5)]

    threads = [threading.Thread(target=run, args=(n, d)) for n, d in (("direct", True), ("im2row", False))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {"direct": [[DirectConv2d]] * 5, "im2row": [[Conv2d]] * 5}


def test_channels_last_min_and_cpu_caching_take_effect():
    x = mg.Tensor(np.ones((1, 2, 4, 4), np.float32))
    w = mg.Tensor(np.ones((3, 2, 1, 1), np.float32))
    assert layout.channels_last_view(mg.conv2d(x, w).numpy()) is None
    with mg.config.using(channels_last_min=2, direct_conv=False):
        assert layout.channels_last_view(mg.conv2d(x, w).numpy()) is not None
    cpu = get_backend("cpu")
    with mg.config.using(cpu_caching=False):
        assert cpu.empty((512, 256), np.float32).base is None  # a plain np.empty, not a pooled view
    if mg.config.cpu_caching:
        assert cpu.empty((512, 256), np.float32).base is not None


def test_environment_sets_the_caching_defaults():
    code = "import minigrad as mg; print(mg.config.cpu_caching, mg.config.cuda_caching)"
    env = {**os.environ, "MINIGRAD_CPU_CACHING": "0", "MINIGRAD_CUDA_CACHING": "0"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
