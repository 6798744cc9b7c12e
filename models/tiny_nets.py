"""The MLPerf Tiny reference networks in torch, as the reference defines them
(facts from mlcommons/tiny's Keras models, docs/tiny_tasks.md):

- ``ResNet8`` (image classification): 3x3 conv stem with 16 filters; three stacks of two
  3x3 convolutions (16, 32, 64 filters; the 2nd and 3rd downsample by 2 and have a 1x1
  stride-2 convolution without batch norm on the shortcut); 8x8 average pool; dense 10.
  78,666 values (78,186 trainable, 480 batch-norm statistics).
- ``DsCnn`` (keyword spotting): conv 10x4 stride 2, 64 filters; four depthwise-separable
  blocks (3x3 depthwise, 1x1 pointwise, 64 filters); dropout 0.2 and 0.4; a 24x5 average
  pool (which drops the last of the 25 time rows); dense 12. 24,908 values (23,756 trainable).
- ``MobileNetV1`` width 0.25 (visual wake words): 3x3 stride-2 conv with 8 filters; 13
  depthwise-separable blocks (16, 32, 32, 64, 64, 128 x 6, 256, 256 filters, stride 2 at
  the 2nd, 4th, 6th and 12th); 3x3 average pool; dense 2; plain ReLU. 221,794 values
  (216,322 trainable).
- ``FcAutoencoder`` (anomaly detection): 640 -> 4 x (dense 128, batch norm, ReLU) -> dense
  8, batch norm, ReLU -> 4 x (dense 128, batch norm, ReLU) -> dense 640. 269,992 values
  (267,928 trainable).

Every convolution has a bias; batch norm uses Keras's epsilon 1e-3 and momentum 0.99.
Convolutions pad as TensorFlow's "same" does (for an even input and stride 2 the extra row
and column go at the bottom and right), so that weights trained with the Keras reference
could be copied in unchanged. The networks take NCHW input, as torch does; ecoscore feeds
them by transposing its NHWC arrays (runners/model_interface.py), and their ONNX exports
declare NCHW. They output logits (or the reconstruction, for the autoencoder); the Keras
reference ends with a softmax, which changes no prediction and no ROC curve.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

BN_EPS = 1e-3
BN_MOMENTUM = 0.01  # torch's momentum is 1 - Keras's 0.99


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow "same" padding along one axis: (before, after)."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class SameConv2d(nn.Conv2d):
    """A convolution with TensorFlow "same" padding for a fixed input size."""

    def __init__(
        self,
        cin: int,
        cout: int,
        kernel: int | tuple[int, int],
        stride: int | tuple[int, int],
        in_size: tuple[int, int],
        groups: int = 1,
    ) -> None:
        super().__init__(cin, cout, kernel, stride=stride, padding=0, groups=groups, bias=True)
        kh, kw = self.kernel_size
        sh, sw = self.stride
        top, bottom = same_padding(in_size[0], kh, sh)
        left, right = same_padding(in_size[1], kw, sw)
        self.pad = (left, right, top, bottom)
        self.out_size = (math.ceil(in_size[0] / sh), math.ceil(in_size[1] / sw))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if any(self.pad):
            x = F.pad(x, self.pad)
        return super().forward(x)


def bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


class _ResidualStack(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, size: int) -> None:
        super().__init__()
        self.conv1 = SameConv2d(cin, cout, 3, stride, (size, size))
        out = self.conv1.out_size[0]
        self.bn1 = bn(cout)
        self.conv2 = SameConv2d(cout, cout, 3, 1, (out, out))
        self.bn2 = bn(cout)
        self.shortcut = SameConv2d(cin, cout, 1, stride, (size, size)) if stride != 1 else None
        self.out_size = out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        skip = x if self.shortcut is None else self.shortcut(x)
        return F.relu(y + skip)


class ResNet8(nn.Module):
    def __init__(self, num_classes: int = 10, filters: tuple[int, int, int] = (16, 32, 64)) -> None:
        super().__init__()
        self.stem = SameConv2d(3, filters[0], 3, 1, (32, 32))
        self.stem_bn = bn(filters[0])
        self.stack1 = _ResidualStack(filters[0], filters[0], 1, 32)
        self.stack2 = _ResidualStack(filters[0], filters[1], 2, 32)
        self.stack3 = _ResidualStack(filters[1], filters[2], 2, 16)
        self.head = nn.Linear(filters[2], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.stem_bn(self.stem(x)))
        y = self.stack3(self.stack2(self.stack1(y)))
        y = F.avg_pool2d(y, 8)
        return self.head(torch.flatten(y, 1))


class _Separable(nn.Module):
    """Depthwise 3x3 (stride s), BN, ReLU, pointwise 1x1, BN, ReLU."""

    def __init__(self, cin: int, cout: int, stride: int, size: tuple[int, int]) -> None:
        super().__init__()
        self.dw = SameConv2d(cin, cin, 3, stride, size, groups=cin)
        self.bn1 = bn(cin)
        self.pw = SameConv2d(cin, cout, 1, 1, self.dw.out_size)
        self.bn2 = bn(cout)
        self.out_size = self.dw.out_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn2(self.pw(F.relu(self.bn1(self.dw(x))))))


class DsCnn(nn.Module):
    def __init__(self, num_classes: int = 12, filters: int = 64) -> None:
        super().__init__()
        self.conv = SameConv2d(1, filters, (10, 4), (2, 2), (49, 10))
        self.bn = bn(filters)
        self.drop1 = nn.Dropout(0.2)
        size = self.conv.out_size  # (25, 5)
        self.blocks = nn.Sequential(*[_Separable(filters, filters, 1, size) for _ in range(4)])
        self.drop2 = nn.Dropout(0.4)
        self.pool = nn.AvgPool2d((49 // 2, 10 // 2))  # (24, 5), stride = size, no padding
        self.head = nn.Linear(filters, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.drop1(F.relu(self.bn(self.conv(x))))
        y = self.pool(self.drop2(self.blocks(y)))
        return self.head(torch.flatten(y, 1))


#: MobileNetV1 0.25 blocks: (stride, output filters).
MOBILENET_BLOCKS = (
    (1, 16),
    (2, 32),
    (1, 32),
    (2, 64),
    (1, 64),
    (2, 128),
    (1, 128),
    (1, 128),
    (1, 128),
    (1, 128),
    (1, 128),
    (2, 256),
    (1, 256),
)


class MobileNetV1(nn.Module):
    def __init__(self, num_classes: int = 2, size: int = 96) -> None:
        super().__init__()
        self.stem = SameConv2d(3, 8, 3, 2, (size, size))
        self.stem_bn = bn(8)
        blocks, cin, hw = [], 8, self.stem.out_size
        for stride, cout in MOBILENET_BLOCKS:
            block = _Separable(cin, cout, stride, hw)
            blocks.append(block)
            cin, hw = cout, block.out_size
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.AvgPool2d(hw)
        self.head = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.blocks(F.relu(self.stem_bn(self.stem(x))))
        return self.head(torch.flatten(self.pool(y), 1))


class FcAutoencoder(nn.Module):
    def __init__(self, features: int = 640, hidden: int = 128, bottleneck: int = 8) -> None:
        super().__init__()
        sizes = [features, hidden, hidden, hidden, hidden, bottleneck]
        sizes += [hidden, hidden, hidden, hidden]
        layers: list[nn.Module] = []
        for a, b in zip(sizes[:-1], sizes[1:], strict=True):
            layers += [nn.Linear(a, b), nn.BatchNorm1d(b, eps=BN_EPS, momentum=BN_MOMENTUM)]
            layers.append(nn.ReLU())
        layers.append(nn.Linear(hidden, features))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def keras_value_count(module: nn.Module) -> tuple[int, int]:
    """(all values as Keras counts them, trainable ones): parameters plus batch-norm running
    means and variances."""
    trainable = sum(p.numel() for p in module.parameters())
    stats = sum(
        b.numel()
        for name, b in module.named_buffers()
        if name.endswith(("running_mean", "running_var"))
    )
    return trainable + stats, trainable
