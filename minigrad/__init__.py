"""minigrad: a from-scratch deep-learning engine for the CNN course.

    >>> import minigrad as mg
    >>> x = mg.Tensor([[1.0, 2.0]], requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad
    tensor([[2., 4.]])
"""

from ._blas_env import load_numpy as _load_numpy

_load_numpy()  # first, so that OpenBLAS starts with minigrad's thread policy (backends/cpu/threads.py)

from .version import __version__  # noqa: F401,E402

from .configuration import config  # noqa: F401  (mg.config: switches and tunables, see configuration.py)
from .autograd import Context, Function, enable_grad, is_grad_enabled, no_grad  # noqa: F401
from .tensor import Tensor, default_rng, manual_seed, tensor  # noqa: F401
from . import functional  # noqa: F401
from .functional import *  # noqa: F401,F403
from .gradcheck import gradcheck  # noqa: F401
from .dtypes import float32, float64, int32, int64, uint8, double, long  # noqa: F401,E402
from . import nn, optim  # noqa: F401,E402
from .model_summary import summary  # noqa: F401,E402
from .inference import load, save  # noqa: F401,E402


def set_num_threads(n: int) -> int:
    """Use ``n`` threads in Numba's kernels and OpenBLAS (default: ``$MINIGRAD_NUM_THREADS`` or all cores)."""
    from .backends.cpu import threads

    return threads.set_num_threads(n)


def get_num_threads() -> int:
    """The thread count of the CPU backend."""
    from .backends.cpu import threads

    return threads.get_num_threads()


# torch.float and torch.bool as attributes: bound last, so no code above sees them instead of the builtins.
from .dtypes import bool, float  # noqa: E402,F401,A004
