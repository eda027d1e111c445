"""The book's hand-written pieces, written the way chapter 4 writes them.

Each one has a PyTorch twin (`torch.sigmoid`, `F.cross_entropy`, ...) and tests/test_scratch.py
checks values and gradients against it. The classifiers use these, not the twins, where the book
does: the binary task trains on `mnist_loss`, the hand loop on `linear1` and `calc_grad`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch


def init_params(size, std: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
    """Random starting weights, N(0, std^2), ready for autograd."""
    return (torch.randn(size, generator=generator) * std).requires_grad_()


def linear1(xb: torch.Tensor, weights: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    return xb @ weights + bias  # (B, 784) @ (784, n_out) + (n_out,) -> (B, n_out)


def sigmoid(x: torch.Tensor) -> torch.Tensor:
    # 1 / (1 + e^-x), with e^-x taken only where it is <= 1: the plain form overflows for x < -88 in float32 and
    # its gradient becomes inf / inf = NaN.
    positive = 1 / (1 + torch.exp(-x.clamp_min(0)))
    e = torch.exp(x.clamp_max(0))
    return torch.where(x >= 0, positive, e / (1 + e))


def relu(x: torch.Tensor) -> torch.Tensor:
    return torch.where(x > 0, x, torch.zeros_like(x))  # slope 0 at 0, as torch's relu


def _same_shape(predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    # (B, 1) predictions against (B,) targets would broadcast to (B, B) inside torch.where: a
    # silent bug, so targets take the predictions' shape first.
    if predictions.shape != targets.shape and predictions.numel() == targets.numel():
        return targets.reshape(predictions.shape)
    return targets


def mnist_loss(predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The book's loss for one output: how far the sigmoid is from the target (1 = first class)."""
    targets = _same_shape(predictions, targets)
    predictions = sigmoid(predictions)
    return torch.where(targets == 1, 1 - predictions, predictions).mean()


def batch_accuracy(xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
    """Accuracy of one-output predictions: a sigmoid above 0.5 means the first class."""
    yb = _same_shape(xb, yb)
    correct = (sigmoid(xb) > 0.5) == yb
    return correct.float().mean()


def softmax(x: torch.Tensor) -> torch.Tensor:
    # Subtracting the row maximum changes nothing mathematically and keeps exp() from overflowing.
    e = torch.exp(x - x.max(dim=-1, keepdim=True).values)
    return e / e.sum(dim=-1, keepdim=True)


def log_softmax(x: torch.Tensor) -> torch.Tensor:
    # log(e^x_i / sum_j e^x_j) = x_i - logsumexp(x), with the maximum taken out for stability.
    m = x.max(dim=-1, keepdim=True).values
    return x - m - torch.exp(x - m).sum(dim=-1, keepdim=True).log()


def nll_loss(log_probs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean negative log-probability of each row's target class."""
    rows = torch.arange(len(targets), device=targets.device)
    return -log_probs[rows, targets].mean()  # (B, C) indexed by (B,) pairs -> (B,) -> scalar


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return nll_loss(log_softmax(logits), targets)


def calc_grad(xb: torch.Tensor, yb: torch.Tensor, model: Callable, loss_func: Callable) -> torch.Tensor:
    """Forward, loss, backward: the gradients add up in each parameter's `.grad`."""
    loss = loss_func(model(xb), yb)
    loss.backward()
    return loss.detach()


def train_epoch(model: Callable, batches: Iterable, opt, loss_func: Callable) -> list[float]:
    """The book's epoch: for each batch, gradients, an optimiser step, gradients cleared.

    Returns each batch's loss so that callers can watch for NaN and report a mean.
    """
    losses = []
    for xb, yb in batches:
        losses.append(calc_grad(xb, yb, model, loss_func))
        opt.step()
        opt.zero_grad()
    return [float(loss) for loss in losses]  # one sync at the end, not one per batch
