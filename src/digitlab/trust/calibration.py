"""Temperature scaling: a model's probabilities made honest on digits it never trained on.

A classifier's raw scores (`logits`) become probabilities through softmax(scores / T), or for the
book's one-output binary model, sigmoid(z / T) for the first class. T = 1 is the model as trained;
T > 1 softens an over-confident model, T < 1 sharpens an under-confident one (the cnn's label
smoothing keeps it at 93-97 % on crisp digits). Dividing every score by the same T > 0 keeps their
order, so no answer changes: only how sure the model says it is. T is fitted by minimising the
negative log-likelihood of held-out digits (heldout.CALIBRATION for MNIST), never of the test set.
"""

from __future__ import annotations

import math

import torch

MIN_TEMPERATURE = 0.05  # sharpens scores 20-fold: further than any digitlab model has needed
MAX_TEMPERATURE = 20.0  # flattens them 20-fold
SEARCH_STEPS = 80  # golden-section steps on log T: the bracket shrinks 0.618^80, to ~1e-16 of its width


def probabilities(scores: torch.Tensor) -> torch.Tensor:
    """(N, C) scores -> (N, C) softmax; (N, 1) one-output scores -> (N, 2), the first column
    sigmoid(z), the book's 3 of 3-vs-7."""
    if scores.shape[1] == 1:
        p_first = torch.sigmoid(scores[:, 0])
        return torch.stack([p_first, 1 - p_first], dim=1)  # columns in classes_ order
    return torch.softmax(scores, dim=1)


def log_probabilities(scores: torch.Tensor) -> torch.Tensor:
    """log of `probabilities(scores)`, computed without rounding small probabilities to 0."""
    if scores.shape[1] == 1:
        z = scores[:, 0]
        return torch.stack([torch.nn.functional.logsigmoid(z), torch.nn.functional.logsigmoid(-z)], dim=1)
    return torch.log_softmax(scores, dim=1)


def negative_log_likelihood(scores: torch.Tensor, labels_index: torch.Tensor, temperature: float) -> float:
    """Mean -log p(right class) of scores / temperature."""
    log_p = log_probabilities(scores.double() / temperature)  # (N, C)
    return float(-log_p.gather(1, labels_index.reshape(-1, 1)).mean())


def fit_temperature(scores: torch.Tensor, labels_index: torch.Tensor) -> float:
    """The T in [MIN_TEMPERATURE, MAX_TEMPERATURE] that minimises the negative log-likelihood of
    `labels_index` under probabilities(scores / T).

    The likelihood is convex in 1 / T, so it has one minimum along log T and a golden-section
    search finds it without gradients or a learning rate (a minimum past either end gives that end).
    """
    def loss(log_t: float) -> float:
        return negative_log_likelihood(scores, labels_index, math.exp(log_t))

    golden = (math.sqrt(5) - 1) / 2  # 0.618...
    lo, hi = math.log(MIN_TEMPERATURE), math.log(MAX_TEMPERATURE)
    a, b = hi - golden * (hi - lo), lo + golden * (hi - lo)
    loss_a, loss_b = loss(a), loss(b)
    for _ in range(SEARCH_STEPS):
        if loss_a <= loss_b:  # the minimum lies in [lo, b]
            hi, b, loss_b = b, a, loss_a
            a = hi - golden * (hi - lo)
            loss_a = loss(a)
        else:  # in [a, hi]
            lo, a, loss_a = a, b, loss_b
            b = lo + golden * (hi - lo)
            loss_b = loss(b)
    return min(MAX_TEMPERATURE, max(MIN_TEMPERATURE, math.exp((lo + hi) / 2)))
