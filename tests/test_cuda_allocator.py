"""The caching allocator behind ``CudaArray``: freed buffers are reused by size, views keep their
buffer alive, ``empty_cache`` gives cached memory back, and the counters say so.

Counters are compared as differences: other tests in the process leave arrays and cached blocks behind.
"""

from __future__ import annotations

import gc
import os

import numpy as np
import pytest
from test_cuda_setup import needs_cuda

from minigrad.backends import get_backend

pytestmark = [
    needs_cuda,
    pytest.mark.skipif(os.environ.get("MINIGRAD_CUDA_CACHING", "1") == "0",
                       reason="MINIGRAD_CUDA_CACHING=0 turns the caching allocator off"),
]


@pytest.fixture(scope="module")
def gpu():
    return get_backend("cuda")


@pytest.fixture(autouse=True)
def no_cycle_collection():
    """Collect garbage first and not during the test: a cycle of dead arrays from an earlier
    test, collected mid-test, would change the counters the test compares."""
    gc.collect()
    gc.disable()
    yield
    gc.enable()


def test_round_size_is_512_bytes_below_1_mib_and_128_kib_above():
    from minigrad.backends.cuda.allocator import round_size

    assert [round_size(n) for n in (1, 512, 513, 4000)] == [512, 512, 1024, 4096]
    assert round_size((1 << 20) - 1) == 1 << 20
    assert round_size((1 << 20) + 1) == (1 << 20) + (128 << 10)


def test_a_freed_buffer_serves_the_next_request_of_its_rounded_size(gpu):
    a = gpu.empty((10, 10), np.float32)  # 400 bytes -> a 512-byte block
    block = a._lease.block
    before = gpu.memory_stats()
    del a
    b = gpu.empty(120, np.float32)  # 480 bytes: the same block size
    after = gpu.memory_stats()
    assert b._lease.block is block
    assert after["cache_hits"] == before["cache_hits"] + 1
    assert after["device_allocations"] == before["device_allocations"]


def test_a_block_changes_dtype_between_owners(gpu):
    a = gpu.full((100,), 2.5, np.float32)
    block = a._lease.block
    del a
    b = gpu.from_numpy(np.arange(50, dtype=np.int64))  # 400 bytes of int64 in the float32's old block
    assert b._lease.block is block
    assert b.dtype == np.int64 and b.shape == (50,)
    np.testing.assert_array_equal(b.get(), np.arange(50))


@pytest.mark.parametrize("make_view", [
    lambda a: a.reshape(10, 10)[3],  # a contiguous row of a reshape
    lambda a: a[20:50],  # a contiguous slice
    lambda a: a.reshape(4, 25),  # a reshape
], ids=["row", "slice", "reshape"])
def test_views_keep_the_buffer_out_of_the_pool(gpu, make_view):
    a = gpu.from_numpy(np.arange(100, dtype=np.float32))
    view = make_view(a)
    expected = view.get()
    block = a._lease.block
    del a
    b = gpu.full((100,), -1.0, np.float32)  # would overwrite the view's data if it took the block
    assert b._lease.block is not block
    np.testing.assert_array_equal(view.get(), expected)
    del view
    c = gpu.full((100,), -1.0, np.float32)
    assert c._lease.block is block


def test_memory_allocated_and_reserved_follow_live_and_cached_blocks(gpu):
    gpu.empty_cache()
    base_alloc, base_reserved = gpu.memory_allocated(), gpu.memory_reserved()
    assert base_reserved == base_alloc  # nothing cached right after empty_cache
    a = gpu.empty((1000,), np.float32)  # 4000 bytes -> 4096
    assert gpu.memory_allocated() == base_alloc + 4096
    assert gpu.max_memory_allocated() >= base_alloc + 4096
    del a
    assert gpu.memory_allocated() == base_alloc
    assert gpu.memory_reserved() == base_reserved + 4096
    assert gpu.memory_stats()["cached_bytes"] == 4096


def test_empty_cache_releases_cached_blocks_and_keeps_live_ones(gpu):
    live = gpu.full((300,), 7.0, np.float32)
    dead = gpu.empty((300,), np.float32)
    block = dead._lease.block
    del dead
    assert gpu.memory_stats()["cached_blocks"] >= 1
    gpu.empty_cache()
    stats = gpu.memory_stats()
    assert stats["cached_blocks"] == 0 and stats["cached_bytes"] == 0
    assert stats["reserved_bytes"] == stats["allocated_bytes"] == gpu.memory_allocated()
    fresh = gpu.empty((300,), np.float32)
    assert fresh._lease.block is not block
    assert gpu.memory_stats()["device_allocations"] == stats["device_allocations"] + 1
    np.testing.assert_array_equal(live.get(), np.full(300, 7.0, np.float32))


def test_zero_size_arrays_bypass_the_pool(gpu):
    before = gpu.memory_allocated()
    z = gpu.empty((0, 3), np.float32)
    assert z._lease is None and z.size == 0 and z.get().shape == (0, 3)
    assert gpu.memory_allocated() == before


def test_out_of_memory_empties_the_cache_and_retries_once(gpu, monkeypatch):
    from minigrad.backends.cuda import allocator as mod

    pool = mod.CachingAllocator()
    buf, lease = pool.allocate(100, np.float32)
    del buf, lease
    assert pool.stats()["cached_blocks"] == 1
    real, calls = mod.cuda.device_array, []

    def flaky(n, dtype):
        calls.append(n)
        if len(calls) == 1:
            raise RuntimeError("[2] Call to cuMemAlloc results in CUDA_ERROR_OUT_OF_MEMORY")
        return real(n, dtype=dtype)

    monkeypatch.setattr(mod.cuda, "device_array", flaky)
    buf, lease = pool.allocate(4096, np.float32)
    assert calls == [16384, 16384]
    assert pool.stats()["cached_blocks"] == 0  # the cache was given back before the retry
    assert buf.shape == (4096,) and lease.nbytes == 16384


def test_other_allocation_errors_are_not_retried(gpu, monkeypatch):
    from minigrad.backends.cuda import allocator as mod

    calls = []

    def broken(n, dtype):
        calls.append(n)
        raise RuntimeError("unrelated driver error")

    monkeypatch.setattr(mod.cuda, "device_array", broken)
    with pytest.raises(RuntimeError, match="unrelated"):
        mod.CachingAllocator().allocate(10, np.float32)
    assert calls == [512]


def test_caching_can_be_turned_off(gpu):
    from minigrad.backends.cuda.allocator import CachingAllocator

    pool = CachingAllocator(enabled=False)
    buf, lease = pool.allocate(10, np.float32)
    assert lease is None and buf.shape == (10,)
    assert pool.stats()["allocated_bytes"] == 0


def test_training_steps_after_the_first_allocate_no_device_memory(gpu):
    import minigrad as mg

    mg.manual_seed(0)
    model = mg.nn.Sequential(mg.nn.Linear(5, 4), mg.nn.ReLU(), mg.nn.Linear(4, 3)).to("cuda")
    opt = mg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x = mg.Tensor(np.random.default_rng(0).standard_normal((6, 5)).astype(np.float32), device="cuda")
    y = np.array([0, 1, 2, 0, 1, 2])
    counts = []
    for _ in range(3):
        before = gpu.memory_stats()
        opt.zero_grad()
        loss = mg.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        del loss  # as a training loop's next iteration would drop it
        after = gpu.memory_stats()
        counts.append((after["device_allocations"] - before["device_allocations"],
                       after["allocated_bytes"] - before["allocated_bytes"]))
    assert counts[0][1] > 0  # the first step keeps momentum buffers and gradients
    assert counts[2] == (0, 0)  # the third reuses every buffer and holds no more memory than the second
