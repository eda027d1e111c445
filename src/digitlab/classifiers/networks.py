"""The networks the classifiers train. Every one maps (B, 1, 28, 28) or (B, 28, 28) floats in
[0, 1] to (B, n_out) scores. The small fast ResNet for 28 x 28 lives in classifiers/cnn/network.py.
"""

from __future__ import annotations

import torch
from torch import nn


def linear(n_out: int) -> nn.Module:
    """The book's linear model: one weight per pixel per output."""
    return nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, n_out))  # (B, 784) -> (B, n_out)


def simple_net(n_out: int, hidden: int = 30) -> nn.Module:
    """The book's two-layer net: linear, ReLU, linear."""
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(28 * 28, hidden),  # (B, 784) -> (B, hidden)
        nn.ReLU(),
        nn.Linear(hidden, n_out),  # (B, hidden) -> (B, n_out)
    )


def _conv_bn(ni: int, nf: int, ks: int, stride: int) -> list[nn.Module]:
    return [nn.Conv2d(ni, nf, ks, stride=stride, padding=ks // 2, bias=False), nn.BatchNorm2d(nf)]


class BasicBlock(nn.Module):
    """ResNet's basic block: relu(bn(conv(relu(bn(conv(x))))) + shortcut(x)).

    The shortcut is the identity, or a strided 1x1 conv + batch norm where the block changes the
    resolution or the number of channels, so the two branches can be added.
    """

    def __init__(self, ni: int, nf: int, stride: int = 1):
        super().__init__()
        self.conv1, self.bn1 = _conv_bn(ni, nf, 3, stride)
        self.conv2, self.bn2 = _conv_bn(nf, nf, 3, 1)
        changes = stride != 1 or ni != nf
        self.shortcut = nn.Sequential(*_conv_bn(ni, nf, 1, stride)) if changes else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))  # (B, ni, H, W) -> (B, nf, H/stride, W/stride)
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class ConcatPool(nn.Module):
    """Average and max pooling side by side, as fastai's head does: (B, C, H, W) -> (B, 2C)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x.amax(dim=(2, 3)), x.mean(dim=(2, 3))], dim=1)


def resnet18(n_out: int, in_channels: int = 1) -> nn.Module:
    """A ResNet-18 body (as torchvision's, without its weights) with fastai's vision_learner head.

    Body: 7x7 stride-2 stem, max pool, four stages of two basic blocks (64, 128, 256, 512
    channels; stages 2-4 halve the resolution). 28 x 28 inputs shrink to 1 x 1 at the end.
    Head: concat pooling, then BN-dropout-linear-ReLU-BN-dropout-linear, fastai's default.
    """
    widths = [64, 128, 256, 512]
    stages, ni = [], widths[0]
    for i, nf in enumerate(widths):
        stride = 1 if i == 0 else 2
        stages += [BasicBlock(ni, nf, stride), BasicBlock(nf, nf, 1)]
        ni = nf
    return nn.Sequential(
        ToImage(),
        *_conv_bn(in_channels, 64, 7, 2), nn.ReLU(),  # (B, 1, 28, 28) -> (B, 64, 14, 14)
        nn.MaxPool2d(3, stride=2, padding=1),  # -> (B, 64, 7, 7)
        *stages,  # -> (B, 512, 1, 1)
        ConcatPool(), nn.BatchNorm1d(1024), nn.Dropout(0.25),  # -> (B, 1024)
        nn.Linear(1024, 512, bias=False), nn.ReLU(), nn.BatchNorm1d(512), nn.Dropout(0.5),
        nn.Linear(512, n_out, bias=False),  # -> (B, n_out)
    )


class ToImage(nn.Module):
    """(B, 28, 28) -> (B, 1, 28, 28); leaves (B, 1, 28, 28) alone."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.unsqueeze(1) if x.ndim == 3 else x
