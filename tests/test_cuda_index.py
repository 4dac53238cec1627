"""``minigrad.backends.index``: the index arithmetic both backends compile, against brute force."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_cuda_setup import needs_cuda

from minigrad.backends import index as ix
from minigrad.ops.geometry import conv_output_size

small = st.integers(1, 6)


@given(st.integers(1, 12), small, small, st.integers(0, 3), small)
def test_source_range_is_exactly_the_outputs_that_read_an_input(size, k, s, p, d):
    out = conv_output_size(size, k, s, p, d)
    for i in range(size):
        readers = [o for o in range(max(out, 0)) if any(ix.input_index(o, t, s, p, d) == i for t in range(k))]
        lo, hi = ix.source_range(i, k, s, p, d, max(out, 0))
        assert readers == [o for o in range(lo, hi) if (i + p - o * s) % d == 0 and 0 <= (i + p - o * s) // d < k]
        assert all(lo <= o < hi for o in readers)
        assert ix.cpu.source_range(i, k, s, p, d, max(out, 0)) == (lo, hi)


@given(st.integers(-10, 10), small)
def test_first_inside_is_the_first_non_negative_tap(start, d):
    expected = next(start + j * d for j in range(100) if start + j * d >= 0)
    assert ix.first_inside(start, d) == expected == ix.cpu.first_inside(start, d)


@given(st.integers(1, 15), st.integers(1, 15))
def test_adaptive_windows_cover_the_input_as_pytorch(size_in, size_out):
    for i in range(size_out):
        assert ix.adaptive_start(i, size_in, size_out) == math.floor(i * size_in / size_out)
        assert ix.adaptive_end(i, size_in, size_out) == math.ceil((i + 1) * size_in / size_out)
        assert ix.cpu.adaptive_end(i, size_in, size_out) == ix.adaptive_end(i, size_in, size_out)


@given(st.integers(1, 10), small, small, st.integers(0, 2))
def test_pool_window_clips_as_the_reference_avg_pool(size, k, s, p):
    if p > k // 2:
        return
    for o in range(conv_output_size(size, k, s, p, 1)):
        lo, hi, padded = ix.pool_window(o, k, s, p, size)
        start = o * s - p
        assert (lo, hi) == (max(start, 0), min(start + k, size))
        assert padded == min(start + k, size + p) - start
        assert ix.cpu.pool_window(o, k, s, p, size) == (lo, hi, padded)


@needs_cuda
def test_the_cuda_compilation_gives_the_same_numbers():
    from numba import cuda

    dev = ix.cuda_functions()

    @cuda.jit
    def kernel(out):
        out[0] = dev.input_index(3, 2, 2, 1, 1)
        lo, hi = dev.source_range(7, 3, 2, 1, 1, 16)
        out[1], out[2] = lo, hi
        out[3] = dev.first_inside(-5, 2)
        out[4] = dev.adaptive_end(2, 7, 3)

    out = cuda.to_device(np.zeros(5, np.int64))
    kernel[1, 1](out)
    expected = [ix.input_index(3, 2, 2, 1, 1), *ix.source_range(7, 3, 2, 1, 1, 16), ix.first_inside(-5, 2),
                ix.adaptive_end(2, 7, 3)]
    assert out.copy_to_host().tolist() == expected


@needs_cuda
def test_cuda_backend_errors_are_clear(monkeypatch):
    import minigrad.backends.cuda as backend
    from minigrad.backends import get_backend

    gpu = get_backend("cuda")
    with pytest.raises(TypeError, match=r"im2col: output of shape \(4, 4\) is a host NumPy array"):
        gpu.im2col(np.zeros((4, 4), np.float32), gpu.zeros((1, 1, 2, 2)), 2, 2, 1, 1, 0, 0, 1, 1, 1, 1)
    with pytest.raises(AttributeError, match="no kernel or helper named 'nonexistent'"):
        gpu.nonexistent
    backend.require_gpu()  # usable here: returns
    monkeypatch.setattr(backend, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match="^CUDA requested but no GPU found: "):
        backend.require_gpu()
