"""Metrics: numbers for people, as opposed to losses, which are numbers for gradients."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F


def predicted_index(outputs: torch.Tensor) -> torch.Tensor:
    """Class index per row: argmax of many outputs, or for one output 0 when its sigmoid > 0.5.

    One output follows the book's convention: a positive score means the first class (3 of 3-vs-7).
    """
    if outputs.ndim == 1 or outputs.shape[-1] == 1:
        return (outputs.reshape(-1) <= 0).long()  # sigmoid(x) > 0.5 exactly when x > 0
    return outputs.argmax(dim=-1)


def accuracy(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Fraction of rows whose predicted class is the target class index.

    For one output the target is the book's 1 (first class) / 0 (second class) encoding.
    """
    if outputs.ndim == 1 or outputs.shape[-1] == 1:
        predicted_first = outputs.reshape(-1) > 0
        return (predicted_first == (targets.reshape(-1) == 1)).float().mean()
    return (outputs.argmax(dim=-1) == targets.reshape(-1)).float().mean()


def confusion_matrix(actual: torch.Tensor, predicted: torch.Tensor, n_classes: int) -> torch.Tensor:
    """(n_classes, n_classes) int64 counts: row = actual class index, column = predicted.

    Arguments in scikit-learn's order (y_true, y_pred), and its layout: cm[3, 8] counts 3s read as 8.
    """
    flat = actual.reshape(-1).long() * n_classes + predicted.reshape(-1).long()  # (N,) row-major cell
    return torch.bincount(flat, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def largest_confusions(confusion: torch.Tensor | Sequence[Sequence[int]], classes: Sequence[int],
                       shown: int = 3) -> list[tuple[int, int, int]]:
    """The `shown` commonest misreadings as (actual, predicted, count), most first; rows are the
    actual digits and columns the predicted ones (confusion_matrix's layout). The report's sentence
    under each matrix and a model card's "known to misread" name them."""
    rows = [[int(c) for c in row] for row in (confusion.tolist() if hasattr(confusion, "tolist") else confusion)]
    wrong = [(-rows[i][j], i, j) for i in range(len(rows)) for j in range(len(rows)) if i != j and rows[i][j] > 0]
    return [(classes[i], classes[j], -minus) for minus, i, j in sorted(wrong)[:shown]]


def top_losses(
    outputs: torch.Tensor,
    targets: torch.Tensor,
    k: int = 9,
    loss_func: Callable | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The k largest per-item losses and their row indices, largest first: the images to look at.

    loss_func: None for cross-entropy (many outputs), or any loss of (outputs, targets) -> scalar,
    which is then called once per item (e.g. the book's `mnist_loss`).
    """
    if loss_func is None:
        per_item = F.cross_entropy(outputs, targets, reduction="none")  # (N, C), (N,) -> (N,)
    else:
        per_item = torch.stack([loss_func(o[None], t[None]) for o, t in zip(outputs, targets)])
    return per_item.topk(min(k, len(per_item)))


ECE_BINS = 15  # equal-width confidence bins of the calibration error (the "15 bins")


def reliability(proba: torch.Tensor, labels_index: torch.Tensor, bins: int = ECE_BINS) -> dict[str, torch.Tensor]:
    """What a reliability diagram draws: for each of `bins` equal-width confidence bins over (0, 1],
    the mean confidence (the largest probability of each row), the accuracy and how many rows fall
    in it. An empty bin has count 0 and confidence and accuracy 0.

    proba: (N, C) probabilities; labels_index: (N,) the right column of each row.
    """
    confidence, predicted = proba.double().max(dim=1)  # (N,), (N,)
    right = (predicted == labels_index.reshape(-1)).double()  # (N,)
    # Bin b holds confidences in (b / bins, (b + 1) / bins]: a confidence of exactly 1 is the last bin's.
    which = (torch.ceil(confidence * bins).long() - 1).clamp(0, bins - 1)  # (N,)
    count = torch.bincount(which, minlength=bins)  # (bins,)
    per_bin = count.clamp_min(1).double()
    return {
        "confidence": torch.zeros(bins, dtype=torch.float64).index_add_(0, which, confidence) / per_bin,
        "accuracy": torch.zeros(bins, dtype=torch.float64).index_add_(0, which, right) / per_bin,
        "count": count,
    }


def expected_calibration_error(proba: torch.Tensor, labels_index: torch.Tensor, bins: int = ECE_BINS) -> float:
    """The mean over confidence bins of |accuracy - confidence|, each bin weighted by its share of
    the rows: 0 when a model that says 80 % is right 80 % of the time, at every confidence."""
    table = reliability(proba, labels_index, bins)
    weight = table["count"].double() / max(1, len(labels_index))
    return float((weight * (table["accuracy"] - table["confidence"]).abs()).sum())
