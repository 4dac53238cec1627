"""AlexNet (Krizhevsky, Sutskever & Hinton, 2012), as torchvision defines it.

The default is torchvision's single-stream variant (64-192-384-256-256 channels,
61,100,840 parameters at 1000 classes); ``original=True`` builds the paper's
network, whose two GPU streams become ``groups=2`` convolutions, with local
response normalisation after the first two convolutions.
"""

from __future__ import annotations

import minigrad.functional as F
import minigrad.nn as nn

from .registry import register_model

__all__ = ["AlexNet", "alexnet"]


class AlexNet(nn.Module):
    """Five convolutions, three max pools, three fully connected layers.

    Args:
        num_classes: number of output classes.
        in_channels: channels of the input image.
        dropout: dropout probability before the first two fully connected layers.
        original: the paper's 96-256-384-384-256 channels, ``groups=2`` in conv2/4/5, LRN after conv1/2.
        small_input: for 28x28 / 32x32 images: a 3x3 stride-1 first convolution, a 2x2 adaptive
            pool and 1024-wide hidden layers (the pools and parameter names stay as in torchvision).

    Shape:
        - Input: (N, in_channels, H, W), H, W >= 63 (>= 12 with ``small_input``).
        - Output: (N, num_classes).
        - conv1 (11x11, stride 4, padding 2): H1 = floor((H + 4 - 11) / 4) + 1; each 3x3/2 max pool
          halves: Hout = floor((Hin - 3) / 2) + 1; at 224: 55 -> 27 -> 13 -> 6.
    """

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5,
                 original: bool = False, small_input: bool = False):
        super().__init__()
        if num_classes < 1 or in_channels < 1:
            raise ValueError(f"alexnet: num_classes and in_channels must be positive, got num_classes={num_classes}, "
                             f"in_channels={in_channels}")
        self.input_size = (in_channels, 32, 32) if small_input else (in_channels, 224, 224)  # read by minigrad.train
        widths = (96, 256, 384, 384, 256) if original else (64, 192, 384, 256, 256)
        groups = 2 if original else 1
        c1, c2, c3, c4, c5 = widths
        stem = nn.Conv2d(in_channels, c1, kernel_size=3, stride=1, padding=1) if small_input else \
            nn.Conv2d(in_channels, c1, kernel_size=11, stride=4, padding=2)
        # torchvision indexes the layers of `features`; LRN (original only) shifts later indices.
        layers = [stem, nn.ReLU()]
        if original:
            layers.append(nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0))
        layers += [nn.MaxPool2d(kernel_size=3, stride=2),
                   nn.Conv2d(c1, c2, kernel_size=5, padding=2, groups=groups), nn.ReLU()]
        if original:
            layers.append(nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0))
        layers += [nn.MaxPool2d(kernel_size=3, stride=2),
                   nn.Conv2d(c2, c3, kernel_size=3, padding=1), nn.ReLU(),
                   nn.Conv2d(c3, c4, kernel_size=3, padding=1, groups=groups), nn.ReLU(),
                   nn.Conv2d(c4, c5, kernel_size=3, padding=1, groups=groups), nn.ReLU(),
                   nn.MaxPool2d(kernel_size=3, stride=2)]
        self.features = nn.Sequential(*layers)
        pooled = 2 if small_input else 6
        hidden = 1024 if small_input else 4096
        self.avgpool = nn.AdaptiveAvgPool2d((pooled, pooled))
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout),
            nn.Linear(c5 * pooled * pooled, hidden),
            nn.ReLU(),
            nn.Dropout(p=dropout),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x):
        x = self.features(x)
        x = self.avgpool(x)
        x = F.flatten(x, 1)
        return self.classifier(x)


@register_model("alexnet", input_size=(3, 224, 224),
                description="AlexNet (torchvision single-stream; original=True: two-stream groups + LRN)")
def alexnet(num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5,
            original: bool = False, small_input: bool = False) -> AlexNet:
    """AlexNet; 61,100,840 parameters at 1000 classes (see ``AlexNet`` for the arguments)."""
    return AlexNet(num_classes, in_channels, dropout, original, small_input)
