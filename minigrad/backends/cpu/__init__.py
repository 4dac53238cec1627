"""The CPU backend: NumPy for what NumPy already does optimally, Numba ``njit`` kernels elsewhere.

Kernel modules are re-exported here so that ops can call ``backend.<kernel>`` without
knowing which device they run on.
"""

import numpy as np

from .arrays import *  # noqa: F401,F403
from .conv import *  # noqa: F401,F403
from .pool import *  # noqa: F401,F403
from .upsample import *  # noqa: F401,F403
from .norm import *  # noqa: F401,F403
from .elementwise import *  # noqa: F401,F403
