"""ResNet (He et al., 2015) with basic (18, 34) and bottleneck (50, 101, 152) blocks, in torchvision's layout.

Downsampling is by strided convolution (in the bottleneck's 3x3, torchvision's
"v1.5"); a shortcut that changes shape is a 1x1 strided projection + BatchNorm
(``downsample.0/1``). Names match torchvision (``conv1``, ``bn1``, ``layer1.0.conv1``, ``fc``).
"""

from __future__ import annotations

import minigrad.functional as F
import minigrad.nn as nn

from .registry import register_model

__all__ = ["BasicBlock", "Bottleneck", "ResNet", "resnet18", "resnet34", "resnet50", "resnet101", "resnet152"]


def conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """relu(bn2(conv3x3(relu(bn1(conv3x3/stride(x))))) + shortcut(x)).

    Shape:
        - Input: (N, inplanes, H, W). Output: (N, planes, Hout, Wout), Hout = floor((H - 1) / stride) + 1.
    """

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 reduce -> 3x3/stride -> 1x1 expand (x4), each with BatchNorm, plus the shortcut.

    Shape:
        - Input: (N, inplanes, H, W). Output: (N, 4 * planes, Hout, Wout), Hout = floor((H - 1) / stride) + 1.
    """

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = conv1x1(inplanes, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.downsample = downsample

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + identity)


class ResNet(nn.Module):
    """Stem (7x7/2 conv, 3x3/2 max pool), four stages of residual blocks, global average pool, FC.

    Args:
        block: ``BasicBlock`` or ``Bottleneck``.
        layers: number of blocks in each of the four stages.
        num_classes: number of output classes.
        in_channels: channels of the input image.
        zero_init_residual: start each block's last BatchNorm at zero, so every block begins as identity.
        small_input: for 28x28 / 32x32 images: 3x3 stride-1 stem and no max pool.

    Shape:
        - Input: (N, in_channels, H, W). Output: (N, num_classes).
        - The stem divides H by 4 (by 1 with ``small_input``), stages 2-4 by 2 each:
          at 224: 112 (conv1) -> 56 (maxpool, layer1) -> 28 -> 14 -> 7.
    """

    def __init__(self, block, layers, num_classes: int = 1000, in_channels: int = 3,
                 zero_init_residual: bool = False, small_input: bool = False):
        super().__init__()
        if num_classes < 1 or in_channels < 1:
            raise ValueError(f"resnet: num_classes and in_channels must be positive, got num_classes={num_classes}, "
                             f"in_channels={in_channels}")
        self.input_size = (in_channels, 32, 32) if small_input else (in_channels, 224, 224)  # read by minigrad.train
        self.inplanes = 64
        if small_input:
            self.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
            self.maxpool = nn.Identity()
        else:
            self.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
            self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.bn1 = nn.BatchNorm2d(64)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, Bottleneck):
                    nn.init.zeros_(m.bn3.weight)
                elif isinstance(m, BasicBlock):
                    nn.init.zeros_(m.bn2.weight)

    def _make_layer(self, block, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(conv1x1(self.inplanes, planes * block.expansion, stride),
                                       nn.BatchNorm2d(planes * block.expansion))
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.maxpool(x)

        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        x = self.layer4(x)

        x = self.avgpool(x)
        x = F.flatten(x, 1)
        return self.fc(x)


_SPECS = {
    "resnet18": (BasicBlock, (2, 2, 2, 2), "11,689,512"),
    "resnet34": (BasicBlock, (3, 4, 6, 3), "21,797,672"),
    "resnet50": (Bottleneck, (3, 4, 6, 3), "25,557,032"),
    "resnet101": (Bottleneck, (3, 4, 23, 3), "44,549,160"),
    "resnet152": (Bottleneck, (3, 8, 36, 3), "60,192,808"),
}


def _register(name: str):
    block, layers, params = _SPECS[name]

    @register_model(name, input_size=(3, 224, 224),
                    description=f"ResNet-{name[6:]} ({block.__name__}s {layers}, {params} parameters)")
    def build(num_classes: int = 1000, in_channels: int = 3, zero_init_residual: bool = False,
              small_input: bool = False) -> ResNet:
        return ResNet(block, layers, num_classes, in_channels, zero_init_residual, small_input)

    build.__name__ = build.__qualname__ = name
    build.__doc__ = (f"ResNet-{name[6:]}: {params} parameters at 1000 classes.\n\n"
                     "    Args: num_classes, in_channels, zero_init_residual, small_input (see ``ResNet``).\n")
    return build


resnet18 = _register("resnet18")
resnet34 = _register("resnet34")
resnet50 = _register("resnet50")
resnet101 = _register("resnet101")
resnet152 = _register("resnet152")
