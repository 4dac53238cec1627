"""Where the CUDA tests run: on a real GPU, under Numba's CUDA simulator, or in a subprocess.

Imported by every ``test_cuda_*`` module before anything imports ``numba.cuda``.

- With ``nvidia-smi`` present, the tests run in-process on the GPU.
- Without it, ``NUMBA_ENABLE_CUDASIM=1`` selects the simulator. Numba reads that
  variable when ``numba`` is first imported, so it is set here only if nothing has
  imported Numba yet: a run of the CUDA test files alone (or with the variable already
  set by the caller) runs them in-process under the simulator.
- In a full-suite run, earlier modules have imported Numba without the simulator.
  Switching the process to it (``numba.core.config.reload_config()`` would, as long as
  ``numba.cuda`` is not imported) would change what every later test sees - e.g.
  ``cuda_available()`` becoming True - so instead the CUDA tests skip in-process and
  ``test_cuda_tests_in_a_simulator_subprocess`` below runs them all in one fresh
  interpreter under the simulator.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HAS_DRIVER = shutil.which("nvidia-smi") is not None

if not HAS_DRIVER and "numba" not in sys.modules:
    os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")

from numba import config  # noqa: E402

SIMULATED = bool(config.ENABLE_CUDASIM)


def _usable() -> bool:
    from minigrad.backends import cuda_available

    return cuda_available()


IN_PROCESS = (HAS_DRIVER or SIMULATED) and _usable()

#: Put on every CUDA test: skipped here when the subprocess runs them instead.
needs_cuda = pytest.mark.skipif(not IN_PROCESS, reason="CUDA tests run in a simulator subprocess in this session")

HERE = Path(__file__).parent
CUDA_TEST_FILES = sorted(p.name for p in HERE.glob("test_cuda_*.py") if p.name != Path(__file__).name)


@pytest.mark.skipif(IN_PROCESS, reason="the CUDA tests run in this process")
def test_cuda_tests_in_a_simulator_subprocess():
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *CUDA_TEST_FILES],
        cwd=HERE, env=env, capture_output=True, text=True, timeout=900,
    )
    assert result.returncode == 0, f"CUDA tests under the simulator failed:\n{result.stdout[-6000:]}\n{result.stderr[-2000:]}"
