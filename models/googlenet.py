"""GoogLeNet / Inception v1 (Szegedy et al., 2014), in torchvision's layout.

Every convolution is a ``BasicConv2d`` (conv without bias -> BatchNorm(eps=0.001) -> ReLU),
as in torchvision, so its ImageNet weights load by name. Like torchvision, the
"5x5" branch uses a 3x3 convolution: this reproduces its 6,624,904 parameters
(13,004,888 with the two auxiliary heads) and its weights' shapes.
"""

from __future__ import annotations

import minigrad.functional as F
import minigrad.nn as nn

from .registry import register_model

__all__ = ["BasicConv2d", "Inception", "InceptionAux", "GoogLeNet", "googlenet", "googlenet_loss", "AUX_WEIGHT"]

AUX_WEIGHT = 0.3  # each auxiliary classifier's share of the training loss (Szegedy et al. 2014)


def googlenet_loss(output, target, label_smoothing: float = 0.0):
    """GoogLeNet's training loss and its main logits, ``(loss, logits)``.

    Args:
        output: what ``GoogLeNet`` returns: in training mode with auxiliary heads the tuple
            ``(logits, aux2, aux1)``, whose loss is ``CE(logits) + 0.3 * CE(aux2) + 0.3 * CE(aux1)``;
            otherwise the (N, K) logits alone (plain cross entropy).
        target: (N,) class indices.
        label_smoothing: cross-entropy label smoothing, applied to every head.
    """
    heads = list(output) if isinstance(output, (tuple, list)) else [output]
    kwargs = {"label_smoothing": label_smoothing} if label_smoothing else {}
    loss = F.cross_entropy(heads[0], target, **kwargs)
    for aux in heads[1:]:
        loss = loss + F.cross_entropy(aux, target, **kwargs) * AUX_WEIGHT
    return loss, heads[0]


class BasicConv2d(nn.Module):
    """Conv2d (no bias) -> BatchNorm2d(eps=0.001) -> ReLU; keyword arguments go to ``Conv2d``.

    Shape:
        - Output: (N, out_channels, Hout, Wout), Hout = floor((H + 2p - k) / s) + 1.
    """

    def __init__(self, in_channels: int, out_channels: int, **kwargs):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, bias=False, **kwargs)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class Inception(nn.Module):
    """Four parallel branches concatenated along channels: 1x1 | 1x1->3x3 | 1x1->3x3 | 3x3 max pool->1x1.

    Args:
        in_channels: input channels.
        ch1x1: output channels of branch 1.
        ch3x3red, ch3x3: reduction and output channels of branch 2.
        ch5x5red, ch5x5: reduction and output channels of branch 3 (3x3 kernel, as torchvision).
        pool_proj: output channels of branch 4.

    Shape:
        - Input: (N, in_channels, H, W). Output: (N, ch1x1 + ch3x3 + ch5x5 + pool_proj, H, W).
    """

    def __init__(self, in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj):
        super().__init__()
        self.branch1 = BasicConv2d(in_channels, ch1x1, kernel_size=1)
        self.branch2 = nn.Sequential(BasicConv2d(in_channels, ch3x3red, kernel_size=1),
                                     BasicConv2d(ch3x3red, ch3x3, kernel_size=3, padding=1))
        self.branch3 = nn.Sequential(BasicConv2d(in_channels, ch5x5red, kernel_size=1),
                                     BasicConv2d(ch5x5red, ch5x5, kernel_size=3, padding=1))
        self.branch4 = nn.Sequential(nn.MaxPool2d(kernel_size=3, stride=1, padding=1, ceil_mode=True),
                                     BasicConv2d(in_channels, pool_proj, kernel_size=1))

    def forward(self, x):
        return F.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class InceptionAux(nn.Module):
    """Auxiliary classifier: 4x4 average pool -> 1x1 conv (128) -> FC-1024 -> dropout(0.7) -> FC-classes.

    Shape:
        - Input: (N, in_channels, H, W). Output: (N, num_classes).
    """

    def __init__(self, in_channels: int, num_classes: int, dropout: float = 0.7):
        super().__init__()
        self.conv = BasicConv2d(in_channels, 128, kernel_size=1)
        self.fc1 = nn.Linear(2048, 1024)
        self.fc2 = nn.Linear(1024, num_classes)
        self.dropout = nn.Dropout(p=dropout)

    def forward(self, x):
        x = F.adaptive_avg_pool2d(x, (4, 4))
        x = self.conv(x)
        x = F.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = self.dropout(x)
        return self.fc2(x)


class GoogLeNet(nn.Module):
    """Stem, nine Inception modules, global average pooling and one fully connected layer.

    Args:
        num_classes: number of output classes.
        in_channels: channels of the input image.
        aux_logits: build the two auxiliary heads (after inception4a and 4d), used in training only.
        dropout: dropout before the final layer.
        dropout_aux: dropout inside the auxiliary heads.
        small_input: for 28x28 / 32x32 images: a 3x3 stride-1 first convolution.

    Returns:
        In training mode with ``aux_logits``: the tuple ``(logits, aux2, aux1)`` (torchvision's
        ``GoogLeNetOutputs`` order); otherwise the logits, (N, num_classes).

    Shape:
        - Input: (N, in_channels, H, W). Output: (N, num_classes).
        - conv1 (7x7/2, padding 3) then four 3x3/2 (2x2/2 before inception5) ceil-mode max pools:
          Hout = ceil((Hin - k) / 2) + 1; at 224: 112 -> 56 -> 28 -> 14 -> 7.
    """

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, aux_logits: bool = True,
                 dropout: float = 0.2, dropout_aux: float = 0.7, small_input: bool = False):
        super().__init__()
        if num_classes < 1 or in_channels < 1:
            raise ValueError(f"googlenet: num_classes and in_channels must be positive, got num_classes={num_classes}, "
                             f"in_channels={in_channels}")
        self.input_size = (in_channels, 32, 32) if small_input else (in_channels, 224, 224)  # read by minigrad.train
        self.aux_logits = aux_logits
        if small_input:
            self.conv1 = BasicConv2d(in_channels, 64, kernel_size=3, stride=1, padding=1)
        else:
            self.conv1 = BasicConv2d(in_channels, 64, kernel_size=7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = BasicConv2d(64, 64, kernel_size=1)
        self.conv3 = BasicConv2d(64, 192, kernel_size=3, padding=1)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)

        self.inception3a = Inception(192, 64, 96, 128, 16, 32, 32)
        self.inception3b = Inception(256, 128, 128, 192, 32, 96, 64)
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)

        self.inception4a = Inception(480, 192, 96, 208, 16, 48, 64)
        self.inception4b = Inception(512, 160, 112, 224, 24, 64, 64)
        self.inception4c = Inception(512, 128, 128, 256, 24, 64, 64)
        self.inception4d = Inception(512, 112, 144, 288, 32, 64, 64)
        self.inception4e = Inception(528, 256, 160, 320, 32, 128, 128)
        self.maxpool4 = nn.MaxPool2d(2, stride=2, ceil_mode=True)

        self.inception5a = Inception(832, 256, 160, 320, 32, 128, 128)
        self.inception5b = Inception(832, 384, 192, 384, 48, 128, 128)

        if aux_logits:
            self.aux1 = InceptionAux(512, num_classes, dropout=dropout_aux)
            self.aux2 = InceptionAux(528, num_classes, dropout=dropout_aux)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(p=dropout)
        self.fc = nn.Linear(1024, num_classes)

        # torchvision's initialisation: truncated N(0, 0.01) weights, BatchNorm (1, 0).
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.trunc_normal_(m.weight, mean=0.0, std=0.01, a=-2, b=2)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        x = self.conv1(x)
        x = self.maxpool1(x)
        x = self.conv2(x)
        x = self.conv3(x)
        x = self.maxpool2(x)

        x = self.inception3a(x)
        x = self.inception3b(x)
        x = self.maxpool3(x)

        x = self.inception4a(x)
        aux1 = self.aux1(x) if self.aux_logits and self.training else None
        x = self.inception4b(x)
        x = self.inception4c(x)
        x = self.inception4d(x)
        aux2 = self.aux2(x) if self.aux_logits and self.training else None
        x = self.inception4e(x)
        x = self.maxpool4(x)

        x = self.inception5a(x)
        x = self.inception5b(x)

        x = self.avgpool(x)
        x = F.flatten(x, 1)
        x = self.dropout(x)
        x = self.fc(x)
        if self.aux_logits and self.training:
            return x, aux2, aux1
        return x

    def training_loss(self, output, target, label_smoothing: float = 0.0):
        """The loss ``minigrad.train.fit`` minimises for this model (``googlenet_loss``).

        ``fit`` calls a model's ``training_loss(output, target, label_smoothing) -> (loss, logits)``
        when it defines one, and plain cross entropy otherwise.
        """
        return googlenet_loss(output, target, label_smoothing)


@register_model("googlenet", input_size=(3, 224, 224),
                description="GoogLeNet / Inception v1 (torchvision layout; aux heads in training)")
def googlenet(num_classes: int = 1000, in_channels: int = 3, aux_logits: bool = True,
              dropout: float = 0.2, dropout_aux: float = 0.7, small_input: bool = False) -> GoogLeNet:
    """GoogLeNet: 13,004,888 parameters with the auxiliary heads, 6,624,904 without (1000 classes)."""
    return GoogLeNet(num_classes, in_channels, aux_logits, dropout, dropout_aux, small_input)
