"""The networks: shapes, and the ResNet basic block against the same maths in torch functional ops."""

import torch
import torch.nn.functional as F
from torch.testing import assert_close

from digitlab.classifiers import networks


def test_linear_and_simple_net_have_the_books_shapes():
    x = torch.rand(5, 28, 28)
    lin, net = networks.linear(1), networks.simple_net(1)
    assert lin(x).shape == (5, 1) and lin[1].weight.shape == (1, 784)
    assert net(x).shape == (5, 1) and [m.weight.shape for m in net if hasattr(m, "weight")] == [(30, 784), (1, 30)]
    assert networks.simple_net(10, hidden=64)(x).shape == (5, 10)


def _functional_block(block, x):
    """The basic block written out with torch.nn.functional, batch norm in training mode."""

    def bn(m, t):
        return F.batch_norm(t, None, None, m.weight, m.bias, training=True, eps=m.eps)

    stride = block.conv1.stride
    out = F.relu(bn(block.bn1, F.conv2d(x, block.conv1.weight, stride=stride, padding=1)))
    out = bn(block.bn2, F.conv2d(out, block.conv2.weight, padding=1))
    if isinstance(block.shortcut, torch.nn.Identity):
        short = x
    else:
        conv, norm = block.shortcut
        short = bn(norm, F.conv2d(x, conv.weight, stride=stride))
    return F.relu(out + short)


def test_basic_block_matches_functional_ops_in_values_and_gradients():
    torch.manual_seed(0)
    for ni, nf, stride, shape in [(8, 8, 1, (2, 8, 7, 7)), (8, 16, 2, (2, 16, 4, 4))]:
        block = networks.BasicBlock(ni, nf, stride)
        for m in block.modules():  # non-trivial affine parameters, so that they are really used
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.data.uniform_(0.5, 1.5)
                m.bias.data.uniform_(-0.5, 0.5)
        x = torch.randn(2, ni, 7, 7, requires_grad=True)
        ours, theirs = block(x), _functional_block(block, x)
        assert ours.shape == shape
        assert_close(ours, theirs)
        g_ours = torch.autograd.grad(ours.square().sum(), [x, block.conv1.weight])
        g_theirs = torch.autograd.grad(theirs.square().sum(), [x, block.conv1.weight])
        for a, b in zip(g_ours, g_theirs):
            assert_close(a, b)


def test_resnet18_has_resnet18s_layers_and_maps_28x28_to_scores():
    net = networks.resnet18(10)
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size != (1, 1)]
    assert len(convs) == 17  # stem + 8 blocks x 2: with the final linear layer, the "18"
    pool = next(i for i, m in enumerate(net) if isinstance(m, networks.ConcatPool))
    body = sum(p.numel() for p in net[:pool].parameters())
    # torchvision's resnet18 without its fc layer: 11,176,512 parameters with a 3-channel stem;
    # one input channel has 2 x 64 x 7 x 7 fewer.
    assert body == 11_176_512 - 2 * 64 * 7 * 7
    net.eval()
    assert net(torch.rand(3, 28, 28)).shape == (3, 10)
    assert net(torch.rand(3, 1, 28, 28)).shape == (3, 10)
