"""The book's hand-written pieces against PyTorch's own: values and gradients."""

import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close

from digitlab.metrics import accuracy
from digitlab.train import scratch


def _grads(f, *inputs):
    inputs = [t.detach().clone().requires_grad_() for t in inputs]
    out = f(*inputs)
    grads = torch.autograd.grad(out.sum(), inputs)
    return out.detach(), grads


def _same(mine, theirs, *inputs):
    out_a, grads_a = _grads(mine, *inputs)
    out_b, grads_b = _grads(theirs, *inputs)
    assert_close(out_a, out_b)
    for ga, gb in zip(grads_a, grads_b):
        assert_close(ga, gb)


@pytest.fixture
def gen():
    return torch.Generator().manual_seed(0)


def test_init_params_draws_scaled_normals_that_track_gradients():
    w = scratch.init_params((784, 1), std=0.5, generator=torch.Generator().manual_seed(3))
    assert w.shape == (784, 1) and w.requires_grad and w.is_leaf
    assert_close(w.detach(), torch.randn((784, 1), generator=torch.Generator().manual_seed(3)) * 0.5)


def test_linear1_matches_F_linear(gen):
    x, w, b = torch.randn(8, 784, generator=gen), torch.randn(784, 3, generator=gen), torch.randn(3, generator=gen)
    _same(scratch.linear1, lambda x, w, b: F.linear(x, w.T, b), x, w, b)


def test_sigmoid_and_relu_match_torch(gen):
    x = torch.cat([torch.randn(100, generator=gen) * 5, torch.tensor([-200.0, 200.0, 0.0])])
    _same(scratch.sigmoid, torch.sigmoid, x)
    _same(scratch.relu, F.relu, x)


def test_mnist_loss_is_the_l1_distance_to_the_target(gen):
    # |target - sigmoid(pred)| is exactly the book's torch.where form, for 0/1 targets.
    preds = torch.randn(64, 1, generator=gen) * 3
    targets = (torch.rand(64, 1, generator=gen) > 0.5).float()
    _same(lambda p: scratch.mnist_loss(p, targets),
          lambda p: F.l1_loss(torch.sigmoid(p), targets), preds)


def test_mnist_loss_does_not_broadcast_flat_targets_against_a_column(gen):
    preds = torch.randn(16, 1, generator=gen)
    targets = (torch.rand(16, generator=gen) > 0.5).float()
    assert_close(scratch.mnist_loss(preds, targets), scratch.mnist_loss(preds, targets[:, None]))


def test_softmax_and_log_softmax_match_torch_even_for_large_logits(gen):
    x = torch.randn(32, 10, generator=gen) * 30  # exp(90) would overflow float32 without the shift
    _same(scratch.softmax, lambda x: torch.softmax(x, dim=-1), x)
    _same(scratch.log_softmax, lambda x: F.log_softmax(x, dim=-1), x)


def test_cross_entropy_matches_F_cross_entropy(gen):
    logits, targets = torch.randn(50, 10, generator=gen) * 4, torch.randint(0, 10, (50,), generator=gen)
    _same(lambda z: scratch.cross_entropy(z, targets), lambda z: F.cross_entropy(z, targets), logits)


def test_batch_accuracy_agrees_with_argmax_over_two_columns(gen):
    out = torch.randn(200, 1, generator=gen)
    y = (torch.rand(200, 1, generator=gen) > 0.5).long()
    # sigmoid(x) > 0.5 <=> x > 0 <=> argmax of [0, x] is column 1
    two_columns = torch.cat([torch.zeros_like(out), out], dim=1)
    assert_close(scratch.batch_accuracy(out, y), accuracy(two_columns, y[:, 0]))
    assert 0.3 < scratch.batch_accuracy(out, y) < 0.7


def test_train_epoch_lowers_the_loss_of_the_books_linear_model(gen):
    x = torch.randn(256, 20, generator=gen)
    y = (x[:, :5].sum(1, keepdim=True) > 0).float()
    weights, bias = scratch.init_params((20, 1), generator=gen), scratch.init_params(1, generator=gen)
    from digitlab.train.optim import BasicOptim

    opt = BasicOptim([weights, bias], lr=1.0)
    model = lambda xb: scratch.linear1(xb, weights, bias)  # noqa: E731
    batches = [(x[i : i + 64], y[i : i + 64]) for i in range(0, 256, 64)]
    first = scratch.train_epoch(model, batches, opt, scratch.mnist_loss)
    for _ in range(20):
        last = scratch.train_epoch(model, batches, opt, scratch.mnist_loss)
    assert sum(last) < sum(first) * 0.8
    assert weights.grad is None  # zero_grad ran after each step


def test_softmax_and_log_softmax_work_over_the_last_dimension_of_any_shape(gen):
    x = torch.randn(2, 3, 5, generator=gen) * 10  # (..., classes): the last dimension, as torch's dim=-1
    _same(scratch.softmax, lambda x: torch.softmax(x, dim=-1), x)
    _same(scratch.log_softmax, lambda x: F.log_softmax(x, dim=-1), x)
