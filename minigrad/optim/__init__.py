"""Optimizers with PyTorch's update rules, and learning-rate schedules (``mg.optim``).

    >>> opt = mg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    >>> sched = mg.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10)
    >>> loss.backward(); opt.step(); opt.zero_grad(); sched.step()
"""

from . import lr_scheduler  # noqa: F401
from .adam import Adam, AdamW  # noqa: F401
from .optimizer import Optimizer  # noqa: F401
from .sgd import SGD  # noqa: F401

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "lr_scheduler"]
