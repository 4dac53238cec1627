"""The architectures of the course (installed as ``minigrad.models``).

    >>> from minigrad.models import get_model, list_models
    >>> model = get_model("lenet5", num_classes=10)
"""

from .registry import get_model, list_models, model_info, register_model  # noqa: F401
from .lenet import *  # noqa: F401,F403
from .alexnet import *  # noqa: F401,F403
from .vgg import *  # noqa: F401,F403
from .googlenet import *  # noqa: F401,F403
from .resnet import *  # noqa: F401,F403
from .unet import *  # noqa: F401,F403
