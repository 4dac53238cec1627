"""Layers and containers with PyTorch's constructor signatures (``mg.nn``)."""

from . import init  # noqa: F401
from .module import *  # noqa: F401,F403
from .linear import *  # noqa: F401,F403
from .activation import *  # noqa: F401,F403
from .dropout import *  # noqa: F401,F403
from .conv import *  # noqa: F401,F403
from .pooling import *  # noqa: F401,F403
from .upsample import *  # noqa: F401,F403
from .normalization import *  # noqa: F401,F403
from .loss import *  # noqa: F401,F403
from . import functional  # noqa: F401,E402  (import minigrad.nn.functional as F)
