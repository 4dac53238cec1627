"""The CPU backend's threading policy: one thread count for Numba and OpenBLAS, MINIGRAD_NUM_THREADS."""

import os
import subprocess
import sys

import numba
import numpy as np
import pytest

import minigrad as mg
from minigrad.backends.cpu import threads
from minigrad.backends.cpu.gemm import gemm


def test_set_num_threads_sets_numba_and_blas():
    previous = threads.set_num_threads(1)
    try:
        assert numba.get_num_threads() == 1
        assert threads.get_num_threads() == 1
        if threads.blas_num_threads() is not None:
            assert threads.blas_num_threads() == 1
        # Work still gives the same result on one thread as NumPy's reference.
        a = np.random.default_rng(0).standard_normal((70, 50)).astype(np.float32)
        x = mg.Tensor(a)
        np.testing.assert_allclose(mg.relu(x).numpy(), np.maximum(a, 0))
    finally:
        threads.set_num_threads(previous)
    assert numba.get_num_threads() == previous


def test_set_num_threads_clips_to_started_pool():
    previous = threads.set_num_threads(10_000)
    try:
        assert numba.get_num_threads() == numba.config.NUMBA_NUM_THREADS
    finally:
        threads.set_num_threads(previous)


@pytest.mark.parametrize("bad, error", [(0, ValueError), (-3, ValueError), (1.5, TypeError), (True, TypeError)])
def test_set_num_threads_rejects_bad_counts(bad, error):
    with pytest.raises(error, match="set_num_threads"):
        threads.set_num_threads(bad)


def test_wait_policy_is_not_left_in_the_environment():
    # The sleeping-worker policy is applied to Numba's pool only; child processes keep their defaults.
    code = ("import os, minigrad as mg; import numpy as np; mg.relu(mg.Tensor(np.ones(3))); "
            "from numba.np.ufunc import parallel; print(parallel._is_initialized, os.environ.get('OMP_WAIT_POLICY'))")
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "None"]


def _run(env_value):
    code = ("import minigrad as mg, numba, numpy as np; mg.relu(mg.Tensor(np.ones(3))); "
            "from minigrad.backends.cpu import threads; "
            "print(numba.get_num_threads(), threads.blas_num_threads())")
    env = dict(os.environ, MINIGRAD_NUM_THREADS=env_value)
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)


def test_env_var_sets_thread_count():
    done = _run("1")
    assert done.returncode == 0, done.stderr
    numba_threads, blas = done.stdout.split()
    assert numba_threads == "1"
    assert blas in ("1", "None")


def test_env_var_rejects_garbage():
    done = _run("many")
    assert done.returncode != 0
    assert "MINIGRAD_NUM_THREADS" in done.stderr and "'many'" in done.stderr


@pytest.mark.parametrize("shape_a, shape_b", [((5, 7), (7, 3)), ((2, 4, 6), (2, 6, 3)), ((300, 400), (400, 500))])
def test_matmul_small_products_on_one_thread_restores_the_count(shape_a, shape_b):
    rng = np.random.default_rng(0)
    a = rng.standard_normal(shape_a).astype(np.float32)
    b = rng.standard_normal(shape_b).astype(np.float32)
    previous = threads.set_num_threads(2)
    try:
        out = np.empty(shape_a[:-1] + shape_b[-1:], np.float32)
        assert gemm(out, a, b) is None  # a kernel: it fills ``out``
        expected = np.einsum("...ik,...kj->...ij", a.astype(np.float64), b.astype(np.float64))
        np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-3)
        if threads.blas_num_threads() is not None:
            assert threads.blas_num_threads() == min(2, numba.config.NUMBA_NUM_THREADS)
    finally:
        threads.set_num_threads(previous)
