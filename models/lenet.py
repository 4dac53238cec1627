"""LeNet-5 (LeCun, Bottou, Bengio and Haffner, 1998), the network that read cheques.

The modern variant (``lenet5``) is the one courses teach today: ReLU, max pooling, and
``padding=2`` on the first convolution so that 28x28 MNIST digits keep their size::

    input  1 x 28 x 28
    conv1  6 @ 5x5, padding 2 -> 6 x 28 x 28   ReLU
    pool   2x2 max            -> 6 x 14 x 14
    conv2  16 @ 5x5           -> 16 x 10 x 10  ReLU
    pool   2x2 max            -> 16 x 5 x 5
    flatten                   -> 400
    fc1    400 -> 120   ReLU
    fc2    120 -> 84    ReLU
    fc3    84 -> 10     (logits)

(The code takes each ReLU after its pool: the same function, a quarter of the work; see
``LeNet5._subsample``.)

``classic=True`` follows the 1998 paper instead: a 32x32 input without padding (the paper
centred the 20x20 digits in a 32x32 field; ``minigrad train`` pads 28x28 images by 2 on each
side), tanh activations and average-pooling subsampling. Both have 61,706 parameters for
10 classes and one input channel.
"""

from __future__ import annotations

import minigrad.functional as F
from minigrad.nn import Conv2d, Linear, Module
from .registry import register_model

__all__ = ["LeNet5", "lenet5", "lenet5_classic"]


class LeNet5(Module):
    """LeNet-5: two convolution + subsampling stages, then three fully connected layers.

    Args:
        num_classes: number of output logits.
        in_channels: channels of the input image.
        classic: the 1998 variant (tanh, average pooling, 32x32 input) instead of ReLU/max pooling
            on 28x28.

    Shape:
        Input ``(N, in_channels, 28, 28)`` (``(N, in_channels, 32, 32)`` when classic);
        output ``(N, num_classes)``. The convolutions give ``H_out = H + 2 * padding - 5 + 1``
        and the pools halve H and W, so both variants reach 16 x 5 x 5 = 400 features.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1, classic: bool = False):
        super().__init__()
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"lenet5: num_classes must be a positive integer, got {num_classes!r}")
        if not isinstance(in_channels, int) or in_channels < 1:
            raise ValueError(f"lenet5: in_channels must be a positive integer, got {in_channels!r}")
        self.classic = bool(classic)
        self.input_hw = 32 if classic else 28
        self.input_size = (in_channels, self.input_hw, self.input_hw)  # read by minigrad.train
        self.conv1 = Conv2d(in_channels, 6, kernel_size=5, padding=0 if classic else 2)
        self.conv2 = Conv2d(6, 16, kernel_size=5)
        self.fc1 = Linear(16 * 5 * 5, 120)
        self.fc2 = Linear(120, 84)
        self.fc3 = Linear(84, num_classes)

    def _act(self, x):
        return F.tanh(x) if self.classic else F.relu(x)

    def _subsample(self, x):
        """Activation and subsampling of a convolution's maps (C1 -> S2, C3 -> S4).

        The modern variant pools first: max pooling commutes with ReLU (both are monotone, and
        a window whose maximum is <= 0 gets a zero gradient either way), so ``relu(max_pool(x))``
        equals ``max_pool(relu(x))`` in values and gradients, bit for bit, with ReLU on a
        quarter of the elements (batch 64, 2 cores: ~0.15 ms of a 3.4 ms training step).
        tanh does not commute with averaging: the classic variant keeps its order.
        """
        if self.classic:
            return F.avg_pool2d(F.tanh(x), 2)
        return F.relu(F.max_pool2d(x, 2))

    def forward(self, x):
        if x.ndim != 4 or x.shape[2:] != (self.input_hw, self.input_hw):
            raise ValueError(f"lenet5: expected input (N, C, {self.input_hw}, {self.input_hw}), got {x.shape}")
        x = self._subsample(self.conv1(x))              # C1 + S2
        x = self._subsample(self.conv2(x))              # C3 + S4
        x = x.flatten(1)
        x = self._act(self.fc1(x))                      # C5 (a full connection on 5x5 maps)
        x = self._act(self.fc2(x))                      # F6
        return self.fc3(x)                              # output layer (logits)

    def extra_repr(self) -> str:
        return "classic=True" if self.classic else ""


@register_model("lenet", input_size=(1, 28, 28), description="LeNet-5 (ReLU, max pooling; 61,706 parameters)")
@register_model("lenet5", input_size=(1, 28, 28), description="LeNet-5, same as 'lenet'")
def lenet5(num_classes: int = 10, in_channels: int = 1, classic: bool = False) -> LeNet5:
    """LeNet-5 for 28x28 images (or the 1998 variant on 32x32 with ``classic=True``).

    Args:
        num_classes: number of output classes.
        in_channels: image channels (1 for MNIST, 3 for CIFAR-10).
        classic: tanh + average pooling on 32x32 inputs, as in the paper.

    Returns:
        A ``LeNet5`` module.
    """
    return LeNet5(num_classes=num_classes, in_channels=in_channels, classic=classic)


@register_model("lenet5-classic", input_size=(1, 32, 32), description="LeNet-5 as in the 1998 paper (tanh, average pooling, 32x32)")
def lenet5_classic(num_classes: int = 10, in_channels: int = 1) -> LeNet5:
    """LeNet-5 as in the 1998 paper: tanh, average-pooling subsampling, 32x32 inputs.

    Args:
        num_classes: number of output classes.
        in_channels: image channels.

    Returns:
        A ``LeNet5`` module with ``classic=True``.
    """
    return LeNet5(num_classes=num_classes, in_channels=in_channels, classic=True)
