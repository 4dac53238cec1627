"""The CPU backend: NumPy for what NumPy already does optimally, Numba ``njit`` kernels elsewhere.

Kernel modules are re-exported here so that ops can call ``backend.<kernel>`` without
knowing which device they run on; ``backends/contract.py`` lists those names.
"""

from .array import *  # noqa: F401,F403
from .allocator import *  # noqa: F401,F403
from .conv import *  # noqa: F401,F403
from .conv_plan import *  # noqa: F401,F403
from .channels_last import *  # noqa: F401,F403
from .memory_format import *  # noqa: F401,F403
from .direct_conv import *  # noqa: F401,F403
from .strips import *  # noqa: F401,F403
from .shifts import *  # noqa: F401,F403
from .tiled_conv import *  # noqa: F401,F403
from .pool import *  # noqa: F401,F403
from .upsample import *  # noqa: F401,F403
from .norm import *  # noqa: F401,F403
from .activation import *  # noqa: F401,F403
from .residual import *  # noqa: F401,F403
from .fused import *  # noqa: F401,F403
from .gemm import *  # noqa: F401,F403
from .threads import configure as _configure_threads, get_num_threads, set_num_threads  # noqa: F401

# Thread counts and Numba's waiting policy before the first parallel kernel (see threads.py).
_configure_threads()
