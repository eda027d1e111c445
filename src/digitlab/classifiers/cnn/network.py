"""The cnn's network: a small ResNet for 28 x 28 digits (`SmallResNet`, its `Residual` blocks), an
`Ensemble` of them, `ShiftAverage` for test-time shifts; `build(config, n_classes)`."""

from __future__ import annotations

import torch
from torch import nn

from digitlab.classifiers.cnn.config import CNNConfig


MNIST_MEAN, MNIST_STD = 0.1307, 0.3081  # of the training pixels in [0, 1]


def _conv(ni: int, nf: int) -> nn.Conv2d:
    return nn.Conv2d(ni, nf, 3, padding=1, bias=False)  # batch norm follows: a bias would be wasted


class Residual(nn.Module):
    """x + conv-bn-relu(conv-bn-relu(x)), at constant resolution and width."""

    def __init__(self, nf: int):
        super().__init__()
        self.body = nn.Sequential(_conv(nf, nf), nn.BatchNorm2d(nf), nn.ReLU(),
                                  _conv(nf, nf), nn.BatchNorm2d(nf), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def _stem(kind: str, nf: int) -> list[nn.Module]:
    """(B, 1, S, S) -> (B, nf, S/2, S/2), batch-normed and rectified."""
    if kind == "stride":
        layers = [nn.Conv2d(1, nf, 3, stride=2, padding=1, bias=False)]
    elif kind == "unshuffle":
        layers = [nn.PixelUnshuffle(2), _conv(4, nf)]  # (B, 1, S, S) -> (B, 4, S/2, S/2) -> conv
    else:
        layers = [_conv(1, nf), nn.MaxPool2d(2)]  # pooling before the norm: a quarter of the work
    return [*layers, nn.BatchNorm2d(nf), nn.ReLU()]


class SmallResNet(nn.Module):
    """(B, 1, 28, 28) or (B, 28, 28) floats in [0, 1] -> (B, n_classes) logits.

    Three conv stages of width w, 2w and last_width * w at 1/2, 1/4 and 1/4 of the (cropped)
    input's side, e.g. 10, 5 and 5 pixels for a 20 x 20 crop; then the head: global max pooling
    and a linear layer ("max"), or a linear layer on the whole last map ("flat").
    The pixel normalisation is a buffer, so a checkpoint carries it.
    """

    def __init__(self, n_classes: int, *, width: int, blocks: int, stem: str, crop: int, last_width: int,
                 head: str):  # no defaults of its own: build() gives CNNConfig's, the one place they are decided
        super().__init__()
        w1, w2, w3 = width, 2 * width, last_width * width
        self.crop, self.flat = crop, head == "flat"
        self.register_buffer("mean", torch.tensor(MNIST_MEAN))
        self.register_buffer("std", torch.tensor(MNIST_STD))
        self.body = nn.Sequential(
            *_stem(stem, w1),  # (B, 1, S, S) -> (B, w1, S/2, S/2), S = 28 - 2 * crop
            _conv(w1, w2), nn.MaxPool2d(2), nn.BatchNorm2d(w2), nn.ReLU(),  # -> (B, w2, S/4, S/4)
            *[Residual(w2) for _ in range(blocks)],
            _conv(w2, w3), nn.BatchNorm2d(w3), nn.ReLU(),  # -> (B, w3, S/4, S/4)
            *[Residual(w3) for _ in range(blocks)],
        )
        side = (28 - 2 * crop) // 4
        self.head = nn.Linear(w3 * side * side if self.flat else w3, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim == 3:
            x = x.unsqueeze(1)  # (B, 28, 28) -> (B, 1, 28, 28)
        if self.crop:
            x = x[..., self.crop:28 - self.crop, self.crop:28 - self.crop]  # (B, 1, 28-2c, 28-2c)
        x = (x - self.mean) / self.std
        maps = self.body(x)  # (B, w3, S/4, S/4)
        features = maps.flatten(1) if self.flat else maps.amax(dim=(2, 3))  # (B, w3 * (S/4)^2) or (B, w3)
        return self.head(features)  # (B, n_classes)


class Ensemble(nn.Module):
    """Several SmallResNets. Training: (k, B, C) logits, one loss each; eval: (B, C) mean of their logits.

    In training, a list of k batches gives member i batch i: the same images under different
    augmentations, so that the members differ by more than their initial weights.
    """

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor | list[torch.Tensor]) -> torch.Tensor:
        views = x if isinstance(x, (list, tuple)) else [x] * len(self.members)
        logits = torch.stack([m(v) for m, v in zip(self.members, views, strict=True)])  # (k, B, C)
        return logits if self.training else logits.mean(dim=0)


class ShiftAverage(nn.Module):
    """Test-time augmentation: in eval mode, the mean logits of the image and its 1-pixel shifts, for
    the images the plain view leaves unsure.

    The shifts cost 5x the plain pass, and they only ever changed answers the plain view was unsure
    of: on held-out digits (MNIST training 55,000-58,999), the stress set and the seen kinds of damage,
    the mean over the shifts answered every image as the plain view did wherever its top two logits
    were SURE_GAP or more apart, for the shipped cnn (5.3, 13.9 and 11.8 % of images under the gap)
    and a fast one (6.8, 19.3 and 16.4 %); the calibration error moved by under 0.15 point
    (benchmarks/RESULTS.md, "The levers, each measured"). So only those images get shifted.
    Where gradients flow (explanations) or the module is traced, every image is averaged: both need
    one function, not a choice per image. `digitlab export-model` makes the same choice as this
    forward, for every image, as a `where` (onnx/graph.py's SureOrShifted).
    """

    SHIFTS = ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1))  # (rows, columns)
    SURE_GAP = 2.0  # logits: a plain view's top-two gap from which its answer stands without the shifts

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            return self.net(x)
        if x.ndim == 3:
            x = x.unsqueeze(1)  # (B, 28, 28) -> (B, 1, 28, 28)
        if torch.is_grad_enabled() or _exporting():
            return self.averaged(x)
        plain = self.net(x)  # (B, C)
        unsure = top_two_gap(plain) < self.SURE_GAP  # (B,)
        if not unsure.any():
            return plain
        shifted = self.views(x[unsure], self.SHIFTS[1:])  # the unsure images' four shifts, (4U, 1, 28, 28)
        others = self.net(shifted).reshape(len(self.SHIFTS) - 1, int(unsure.sum()), plain.shape[-1])
        plain[unsure] = (plain[unsure] + others.sum(dim=0)) / len(self.SHIFTS)
        return plain

    def averaged(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, 28, 28) -> (B, C): the mean logits over all five views of every image."""
        # The five views as one batch: one call's fixed cost instead of five (a web request's batch is small).
        logits = self.net(self.views(x, self.SHIFTS))  # (5B, C)
        # C named, not -1: for an empty batch (B = 0) a -1 would be ambiguous and torch refuses it
        return logits.reshape(len(self.SHIFTS), x.shape[0], logits.shape[-1]).mean(dim=0)  # (5, B, C) -> (B, C)

    @staticmethod
    def views(x: torch.Tensor, shifts) -> torch.Tensor:
        """(B, 1, 28, 28) -> (len(shifts) * B, 1, 28, 28), shift by shift; the background is 0."""
        padded = nn.functional.pad(x, (1, 1, 1, 1))  # (B, 1, 30, 30)
        return torch.cat([padded[..., 1 + dy:29 + dy, 1 + dx:29 + dx] for dy, dx in shifts])


def top_two_gap(logits: torch.Tensor) -> torch.Tensor:
    """(B, C) -> (B,) the largest logit minus the second (0 for one class: nothing to be sure of)."""
    if logits.shape[-1] < 2:
        return torch.zeros(len(logits), device=logits.device)
    top = logits.topk(2, dim=-1).values  # (B, 2)
    return top[:, 0] - top[:, 1]


def _exporting() -> bool:
    """Traced for ONNX: torch.export (the current exporter) or the TorchScript tracer (the older one).
    torch.onnx's own flag is not asked: importing torch.onnx costs a prediction 0.06 s."""
    return torch.compiler.is_exporting() or torch.jit.is_tracing()


def build(config: CNNConfig, n_classes: int) -> nn.Module:
    """The recipe's network, its weights drawn from torch's global generator (seed it first)."""
    nets = [SmallResNet(n_classes, width=config.width, blocks=config.blocks, stem=config.stem, crop=config.crop,
                        last_width=config.last_width, head=config.head)
            for _ in range(config.ensemble)]
    model = nets[0] if config.ensemble == 1 else Ensemble(nets)
    return ShiftAverage(model) if config.tta else model
