"""The public functional API, with PyTorch's names and semantics (also ``mg.nn.functional``).

Every function takes and returns ``Tensor``s; plain Python numbers and NumPy arrays are
accepted wherever PyTorch accepts a number. The implementations live in ``minigrad.ops``.
"""

from .ops.device import *  # noqa: F401,F403
from .ops.elementwise import *  # noqa: F401,F403
from .ops.clamp import *  # noqa: F401,F403
from .ops.activation import *  # noqa: F401,F403
from .ops.reduce import *  # noqa: F401,F403
from .ops.shape import *  # noqa: F401,F403
from .ops.linalg import *  # noqa: F401,F403
from .ops.loss import *  # noqa: F401,F403
from .ops.conv import *  # noqa: F401,F403
from .ops.conv_transpose import *  # noqa: F401,F403
from .ops.pooling import *  # noqa: F401,F403
from .ops.upsample import *  # noqa: F401,F403
from .ops.normalization import *  # noqa: F401,F403
