"""The cnn's SmallResNet (classifiers/cnn/network.py) rebuilt from functional ops with the module's
own weights, stem by stem and head by head: the crop, the normalisation, each stage and the head must
be exactly what the docstring says, not only the right shape."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close

from digitlab.classifiers.cnn import network
from digitlab.classifiers.cnn.config import CNNConfig


def _randomised(model: torch.nn.Module) -> torch.nn.Module:
    """Batch norms given statistics and affine terms away from their identity start, so each counts."""
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for bn in (m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)):
            n = bn.num_features
            bn.running_mean.copy_(torch.rand(n, generator=generator) - 0.5)
            bn.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
            bn.weight.copy_(torch.rand(n, generator=generator) + 0.5)
            bn.bias.copy_(torch.rand(n, generator=generator) * 0.6 - 0.3)
    return model.eval()


def _bn_relu(h: torch.Tensor, bn: torch.nn.BatchNorm2d) -> torch.Tensor:
    return F.relu(F.batch_norm(h, bn.running_mean, bn.running_var, bn.weight, bn.bias, training=False, eps=bn.eps))


def _residual(h: torch.Tensor, block: network.Residual) -> torch.Tensor:
    conv1, bn1, _, conv2, bn2, _ = block.body
    inner = _bn_relu(F.conv2d(h, conv1.weight, padding=1), bn1)
    return h + _bn_relu(F.conv2d(inner, conv2.weight, padding=1), bn2)


def _reference(model: network.SmallResNet, x: torch.Tensor, config: CNNConfig) -> torch.Tensor:
    """SmallResNet's forward from its parts: crop, normalise, stem, stage 2 (+ blocks), stage 3 (+ blocks), head."""
    c = config.crop
    h = (x[:, None, c:28 - c, c:28 - c] - 0.1307) / 0.3081  # (B, 1, S, S)
    layers = list(model.body)
    if config.stem == "stride":
        conv, bn = layers[0], layers[1]
        h, rest = _bn_relu(F.conv2d(h, conv.weight, stride=2, padding=1), bn), layers[3:]
    elif config.stem == "unshuffle":
        conv, bn = layers[1], layers[2]
        h, rest = _bn_relu(F.conv2d(F.pixel_unshuffle(h, 2), conv.weight, padding=1), bn), layers[4:]
    else:
        conv, bn = layers[0], layers[2]
        h, rest = _bn_relu(F.max_pool2d(F.conv2d(h, conv.weight, padding=1), 2), bn), layers[4:]
    conv2, bn2 = rest[0], rest[2]
    h = _bn_relu(F.max_pool2d(F.conv2d(h, conv2.weight, padding=1), 2), bn2)  # (B, 2w, S/4, S/4)
    blocks = [m for m in rest if isinstance(m, network.Residual)]
    for block in blocks[:config.blocks]:
        h = _residual(h, block)
    conv3, bn3 = rest[4 + config.blocks], rest[5 + config.blocks]
    h = _bn_relu(F.conv2d(h, conv3.weight, padding=1), bn3)  # (B, last_width w, S/4, S/4)
    for block in blocks[config.blocks:]:
        h = _residual(h, block)
    features = h.flatten(1) if config.head == "flat" else h.amax(dim=(2, 3))
    return F.linear(features, model.head.weight, model.head.bias)


@pytest.mark.parametrize("changes", [
    {"stem": "stride", "crop": 4, "head": "flat", "last_width": 2},  # the fast preset's shape
    {"stem": "pool", "crop": 0, "head": "max", "last_width": 4},
    {"stem": "unshuffle", "crop": 2, "head": "flat", "last_width": 1, "blocks": 1},
    {"stem": "stride", "crop": 2, "head": "max", "last_width": 3, "blocks": 2},
])
def test_small_resnet_is_its_stages_by_functional_ops(changes):
    config = CNNConfig(width=3, **changes)
    torch.manual_seed(0)
    model = _randomised(network.build(config, 10))
    assert isinstance(model, network.SmallResNet)
    x = torch.rand(4, 28, 28, generator=torch.Generator().manual_seed(1))  # ink everywhere, even in the crop
    with torch.no_grad():
        expected = _reference(model, x, config)
        assert_close(model(x), expected)
        assert_close(model(x[:, None]), expected)  # (B, 1, 28, 28) alike
    kinds = [type(m).__name__ for m in model.body]
    conv3 = [i for i, m in enumerate(model.body) if isinstance(m, torch.nn.Conv2d)][-1]
    assert kinds[:conv3].count("Residual") == config.blocks == kinds[conv3:].count("Residual")  # after stages 2 and 3
    side = (28 - 2 * config.crop) // 4
    width = config.last_width * config.width
    assert model.head.in_features == (width * side * side if config.head == "flat" else width)
    assert not any(m.bias is not None for m in model.modules() if isinstance(m, torch.nn.Conv2d))  # batch norm follows


def test_the_crop_is_cut_before_the_net_looks():
    config = CNNConfig(width=2, crop=4, head="flat", last_width=1)
    torch.manual_seed(0)
    model = network.build(config, 10).eval()
    x = torch.rand(2, 28, 28)
    border = x.clone()
    border[:, :4], border[:, -4:], border[:, :, :4], border[:, :, -4:] = 9.0, 9.0, 9.0, 9.0  # only the crop changed
    with torch.no_grad():
        assert torch.equal(model(x), model(border))
        inner = x.clone()
        inner[:, 4, 4] += 1  # the first pixel inside the crop is seen
        assert not torch.equal(model(x), model(inner))


def test_the_normalisation_is_mnists_mean_and_spread():
    config = CNNConfig(width=2, crop=0, head="max", last_width=1)
    torch.manual_seed(0)
    model = network.build(config, 10).eval()
    seen = {}
    model.body.register_forward_pre_hook(lambda module, args: seen.update(x=args[0]))
    x = torch.rand(2, 28, 28)
    with torch.no_grad():
        model(x)
    assert_close(seen["x"], (x[:, None] - 0.1307) / 0.3081)


@pytest.mark.parametrize("tta", [False, True])
def test_no_images_give_no_rows_of_logits(tta):
    config = CNNConfig(width=2, tta=tta, ensemble=2)
    torch.manual_seed(0)
    model = network.build(config, 10).eval()
    with torch.no_grad():
        assert model(torch.zeros(0, 28, 28)).shape == (0, 10)  # was a reshape error with the shifts
