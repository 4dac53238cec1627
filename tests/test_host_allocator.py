"""The CPU caching allocator (``backends/cpu/allocator.py``): a large array's memory is reused only
once no array refers to it, and never while a view, a reshape or a saved tensor holds it.

The CPU backend is imported by fixtures, not at module level: importing it imports Numba, and
``test_cuda_setup`` can select the CUDA simulator in-process only while Numba is not yet
imported, so a collection-time import here would send every CUDA test to the subprocess."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import minigrad as mg

pytestmark = pytest.mark.skipif(os.environ.get("MINIGRAD_CPU_CACHING", "1") == "0",
                                reason="MINIGRAD_CPU_CACHING=0 turns caching off")

LARGE = (512, 256)  # 512 KiB of float32: pooled


@pytest.fixture(scope="module")
def allocator():
    from minigrad.backends.cpu import allocator

    return allocator


@pytest.fixture(scope="module")
def cpu():
    from minigrad.backends import get_backend

    return get_backend("cpu")


@pytest.fixture(autouse=True)
def no_free_blocks(allocator):
    """Start with no free pooled block, so that a request can only be served by the test's own."""
    gc.collect()
    allocator.empty_cache()


def owner(a):
    return a if a.base is None else a.base


def test_a_dead_array_s_memory_serves_the_next_request_of_its_size(cpu):
    a = cpu.empty(LARGE, np.float32)
    block = id(owner(a))
    del a
    b = cpu.empty(LARGE, np.float32)
    assert id(owner(b)) == block
    assert b.shape == LARGE and b.dtype == np.float32 and b.flags.c_contiguous and b.flags.writeable


@pytest.mark.parametrize("keep,values", [
    (lambda a: a[3:5].T, lambda k: k),                  # a strided view
    (lambda a: a.reshape(-1), lambda k: k),             # a reshape
    (lambda a: memoryview(a), np.asarray),              # an exported buffer
    (lambda a: mg.Tensor(a), lambda k: k.numpy()),      # a tensor wrapping it
    (lambda a: [a[0]], lambda k: k[0]),                 # a row in a container
])
def test_memory_is_not_reused_while_anything_refers_to_it(keep, values, cpu):
    a = cpu.empty(LARGE, np.float32)
    a[...] = 7.0
    kept = keep(a)
    block = id(owner(a))  # only the id: a reference would itself keep the block busy
    del a
    b = cpu.empty(LARGE, np.float32)
    assert id(owner(b)) != block
    b[...] = -1.0
    assert np.all(values(kept) == 7.0)


def test_concurrent_requests_get_distinct_memory(cpu):
    blocks, lock = [], threading.Lock()

    def grab():
        arrays = [cpu.empty(LARGE, np.float32) for _ in range(20)]
        with lock:
            blocks.extend(arrays)

    threads = [threading.Thread(target=grab) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(owner(a)) for a in blocks}) == 80


def test_sizes_are_rounded_and_a_block_can_change_dtype(cpu, allocator):
    a = cpu.empty((100_000,), np.float32)  # 400,000 bytes -> 7 * 64 KiB, plus room to align its start
    assert owner(a).size == 7 * allocator.ROUND + allocator.ALIGN
    assert a.ctypes.data % allocator.ALIGN == 0
    block = id(owner(a))
    del a
    b = cpu.empty((50_000,), np.int64)  # the same rounded size
    assert id(owner(b)) == block and b.dtype == np.int64 and b.shape == (50_000,)


def test_small_and_object_arrays_bypass_the_pool(cpu):
    a = cpu.empty((10, 10), np.float32)
    assert a.base is None and a.flags.owndata
    b = cpu.empty(LARGE, object)
    assert b.base is None and b.dtype == object


def test_empty_cache_forgets_free_blocks_only(cpu, allocator):
    gc.collect()
    allocator.empty_cache()
    before = allocator.memory_reserved()  # blocks that live arrays of other tests hold
    kept = cpu.empty(LARGE, np.float32)
    free = cpu.empty((1024, 1024), np.float32)
    del free
    assert allocator.memory_reserved() == before + kept.nbytes + (4 << 20)
    allocator.empty_cache()
    assert allocator.memory_reserved() == before + kept.nbytes
    del kept


def test_a_miss_forgets_free_blocks_of_other_sizes_beyond_the_limit(cpu, allocator):
    with mg.config.using(cpu_free_max_bytes=1 << 20):
        before = allocator.memory_reserved()
        arrays = [cpu.empty(LARGE, np.float32) for _ in range(4)]  # 4 x 512 KiB
        del arrays
        assert allocator.memory_reserved() == before + (2 << 20)
        other = cpu.empty((1024, 1024), np.float32)  # 4 MiB: no free block of that size
        # Two of the four free blocks are forgotten (1 MiB of free blocks remains), the new one is added.
        assert allocator.memory_reserved() == before + (1 << 20) + (4 << 20)
        kept = [cpu.empty(LARGE, np.float32) for _ in range(2)]  # the two kept blocks serve these
        assert allocator.memory_reserved() == before + (5 << 20)
        del other, kept


def test_caching_can_be_turned_off():
    code = ("import numpy as np; from minigrad.backends import get_backend; "
            "a = get_backend('cpu').empty((512, 256), np.float32); print(a.base is None)")
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "MINIGRAD_CPU_CACHING": "0"},
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"


def test_a_training_step_reuses_its_activation_memory(allocator):
    """Two steps of a conv net: the second allocates no new pooled block."""
    mg.manual_seed(0)
    model = mg.nn.Sequential(mg.nn.Conv2d(1, 6, 5, padding=2), mg.nn.ReLU(), mg.nn.MaxPool2d(2))
    x = mg.Tensor(np.random.default_rng(0).standard_normal((32, 1, 28, 28)).astype(np.float32))

    def step():
        model.zero_grad()
        model(x).sum().backward()

    step()
    gc.collect()
    reserved = allocator.memory_reserved()
    step()
    assert allocator.memory_reserved() == reserved


def test_sole_owner_says_whether_another_array_shares_the_memory(cpu, allocator):
    pooled = cpu.empty(LARGE, np.float32)
    assert allocator.sole_owner(pooled)
    view = pooled[1:]
    assert not allocator.sole_owner(pooled) and not allocator.sole_owner(view)
    del view
    assert allocator.sole_owner(pooled)
    reshaped = pooled.reshape(-1)  # a second array on the block, though it covers the same bytes
    assert not allocator.sole_owner(pooled)
    del reshaped

    plain = np.empty(10, np.float32)
    assert allocator.sole_owner(plain)
    assert not allocator.sole_owner(plain[2:])  # a view owns nothing
    assert not allocator.sole_owner(plain.T.reshape(5, 2)[::2])
    plain.flags.writeable = False
    assert not allocator.sole_owner(plain)
    assert not allocator.sole_owner(np.broadcast_to(np.ones(3), (4, 3)))
    assert not allocator.sole_owner(np.frombuffer(bytearray(16), np.float32))  # memory of another object
    assert not allocator.sole_owner([1.0, 2.0])
    # A plain uint8 array that is not a pooled block, with one view on it, is not mistaken for one.
    raw = np.empty(LARGE[0] * LARGE[1] * 4 + allocator.ALIGN, np.uint8)
    assert not allocator.sole_owner(raw[allocator.ALIGN:].view(np.float32))


def test_blocks_freed_together_are_kept_up_to_the_largest_total_in_use(cpu, allocator):
    # A step's activations all die at the end of its backward; a request of another size then
    # must not forget them, or the next step faults them in again.
    with mg.config.using(cpu_free_max_bytes=1 << 20):
        before = allocator.memory_reserved()
        arrays = [cpu.empty(LARGE, np.float32) for _ in range(8)]  # 4 MiB in use at once
        del arrays
        other = cpu.empty((256, 1024), np.float32)  # 1 MiB, a new size: 5 MiB held, 5 = 4 + 1 allowed
        assert allocator.memory_reserved() == before + (5 << 20)
        again = [cpu.empty(LARGE, np.float32) for _ in range(8)]  # all eight blocks still there
        assert allocator.memory_reserved() == before + (5 << 20)
        del other, again
        allocator.empty_cache()
        assert allocator.memory_reserved() == before
