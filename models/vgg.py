"""VGG (Simonyan & Zisserman, 2014): configurations A, B, D, E = VGG-11, 13, 16, 19, with or without BatchNorm.

Stacks of 3x3 convolutions (padding 1, so only the 2x2 max pools shrink the image)
and three fully connected layers; parameter names as torchvision's
(``features.N.weight``, ``classifier.0/3/6``), so its weights load unchanged.
"""

from __future__ import annotations

import minigrad.functional as F
import minigrad.nn as nn

from .registry import register_model

__all__ = ["VGG", "make_features", "CONFIGS", "vgg11", "vgg11_bn", "vgg13", "vgg13_bn",
           "vgg16", "vgg16_bn", "vgg19", "vgg19_bn"]

# Output channels of each 3x3 convolution; "M" is a 2x2 max pool (the paper's Table 1).
CONFIGS = {
    11: [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    13: [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    16: [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    19: [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}


def make_features(config, in_channels: int = 3, batch_norm: bool = False) -> nn.Sequential:
    """The convolutional part: conv3x3 [-> BatchNorm] -> ReLU per number, a 2x2/2 max pool per "M"."""
    layers, channels = [], in_channels
    for item in config:
        if item == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            continue
        layers.append(nn.Conv2d(channels, item, kernel_size=3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(item))
        layers.append(nn.ReLU())
        channels = item
    return nn.Sequential(*layers)


class VGG(nn.Module):
    """features -> adaptive average pool -> classifier (FC-4096, FC-4096, FC-classes).

    Args:
        features: the convolutional stack from ``make_features``.
        num_classes: number of output classes.
        dropout: dropout probability after the two hidden fully connected layers.
        small_input: the 32x32 variant: 1x1 adaptive pool and 512-wide hidden layers.
        init_weights: torchvision's initialisation (Kaiming-normal convs, N(0, 0.01) linears).

    Shape:
        - Input: (N, C, H, W) with H, W >= 32 (>= 16 with the 4-pool small-input features).
        - Output: (N, num_classes).
        - Each max pool: Hout = floor(Hin / 2); the convolutions keep the size (3x3, padding 1).
    """

    def __init__(self, features: nn.Sequential, num_classes: int = 1000, dropout: float = 0.5,
                 small_input: bool = False, init_weights: bool = True):
        super().__init__()
        in_channels = features[0].in_channels
        if num_classes < 1 or in_channels < 1:
            raise ValueError(f"vgg: num_classes and in_channels must be positive, got num_classes={num_classes}, "
                             f"in_channels={in_channels}")
        self.input_size = (in_channels, 32, 32) if small_input else (in_channels, 224, 224)  # read by minigrad.train
        self.features = features
        pooled, hidden = (1, 512) if small_input else (7, 4096)
        self.avgpool = nn.AdaptiveAvgPool2d((pooled, pooled))
        self.classifier = nn.Sequential(
            nn.Linear(512 * pooled * pooled, hidden),
            nn.ReLU(),
            nn.Dropout(p=dropout),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Dropout(p=dropout),
            nn.Linear(hidden, num_classes),
        )
        if init_weights:
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                    nn.init.zeros_(m.bias)
                elif isinstance(m, nn.BatchNorm2d):
                    nn.init.ones_(m.weight)
                    nn.init.zeros_(m.bias)
                elif isinstance(m, nn.Linear):
                    nn.init.normal_(m.weight, 0.0, 0.01)
                    nn.init.zeros_(m.bias)

    def forward(self, x):
        x = self.features(x)
        x = self.avgpool(x)
        x = F.flatten(x, 1)
        return self.classifier(x)


def _vgg(depth: int, batch_norm: bool, num_classes: int, in_channels: int, dropout: float, small_input: bool) -> VGG:
    if num_classes < 1 or in_channels < 1:
        raise ValueError(f"vgg{depth}: num_classes and in_channels must be positive, got num_classes={num_classes}, "
                         f"in_channels={in_channels}")
    config = CONFIGS[depth]
    if small_input:
        # Five 2x2 pools would take 28x28 to 0; four leave 1x1 (28) or 2x2 (32) for the adaptive pool.
        config = config[:-1]
    return VGG(make_features(config, in_channels, batch_norm), num_classes, dropout, small_input)


def _register(depth: int, batch_norm: bool, params: str):
    name = f"vgg{depth}" + ("_bn" if batch_norm else "")

    @register_model(name, input_size=(3, 224, 224),
                    description=f"VGG-{depth}" + (" with BatchNorm" if batch_norm else "") + f" ({params} parameters)")
    def build(num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5, small_input: bool = False) -> VGG:
        return _vgg(depth, batch_norm, num_classes, in_channels, dropout, small_input)

    build.__name__ = build.__qualname__ = name
    build.__doc__ = (f"VGG-{depth}{' with BatchNorm' if batch_norm else ''}: {params} parameters at 1000 classes.\n\n"
                     "    Args: num_classes, in_channels, dropout, small_input (see ``VGG``).\n")
    return build


vgg11 = _register(11, False, "132,863,336")
vgg11_bn = _register(11, True, "132,868,840")
vgg13 = _register(13, False, "133,047,848")
vgg13_bn = _register(13, True, "133,053,736")
vgg16 = _register(16, False, "138,357,544")
vgg16_bn = _register(16, True, "138,365,992")
vgg19 = _register(19, False, "143,667,240")
vgg19_bn = _register(19, True, "143,678,248")
