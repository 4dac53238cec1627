"""``minigrad.nn.functional``: the functional API under ``torch.nn.functional``'s module path.

``import minigrad.nn.functional as F`` gives the same functions as ``minigrad.functional``
(they are the same objects), so code written against ``torch.nn.functional`` ports by
changing the import.
"""

from ..functional import *  # noqa: F401,F403
