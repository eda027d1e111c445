"""pixel: the book's first idea, each class's mean ("ideal") digit, and the nearest one wins."""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from digitlab.classifiers.base import Classifier, require
from digitlab.errors import ModelError


@dataclass
class PixelConfig:
    distance: str = "l2"  # "l1": mean |x - ideal| (the book's 3-vs-7); "l2": root mean square
    deskew: bool = False  # shear each digit upright first (deskew.py), in fit and predict; the book does not
    temperature: float = 0.01  # predict_proba = softmax(-distance / temperature); distance in [0, 1]

    def __post_init__(self):
        require(self.distance in ("l1", "l2"), f"distance={self.distance!r}: choose 'l1' or 'l2'")
        require(self.temperature > 0, f"temperature={self.temperature}: must be > 0")


class PixelSimilarity(Classifier):
    method, Config = "pixel", PixelConfig

    def fit(self, X, y, valid=None, epoch_end=None, resume=False, device="cpu", progress=True):
        start = time.perf_counter()
        X, y, valid = self._start(X, y, valid)
        idx = self._index(y)
        # The book's ideal 3 is `stacked_threes.mean(0)`: the same mean, one class at a time.
        self.means_ = torch.stack([X[idx == c].mean(dim=0) for c in range(len(self.classes_))])
        self.history_, self.state_ = [], {"epoch": 0}
        self._record({"epoch": 0, "train_loss": None, "valid_loss": None,
                      "accuracy": self.score(*valid) if valid is not None else None,
                      "seconds": time.perf_counter() - start}, epoch_end)
        return self

    def distances(self, X) -> torch.Tensor:
        """(N, C) distance of each image to each class's ideal digit, in pixel units [0, 1]."""
        self._fitted()
        X = self._images(X).reshape(-1, 28 * 28)  # (N, 784)
        means = self.means_.reshape(-1, 28 * 28)  # (C, 784)
        if self.config.distance == "l2":
            # ||x - m||^2 = ||x||^2 - 2 x.m + ||m||^2: one (N, 784) @ (784, C) matmul for all pairs.
            sq = (X * X).sum(1, keepdim=True) - 2 * X @ means.T + (means * means).sum(1)  # (N, C)
            return (sq.clamp_min(0) / (28 * 28)).sqrt()
        # L1 has no matmul trick; cdist sums |x - m| without building the (N, C, 784) differences.
        return torch.cdist(X, means, p=1) / (28 * 28)

    def predict_proba(self, X) -> torch.Tensor:
        return torch.softmax(-self.distances(X) / self.config.temperature, dim=1)

    def predict(self, X) -> torch.Tensor:
        if self.config.distance == "l1":
            return super().predict(X)
        self._fitted()
        X = torch.as_tensor(X)
        if X.dtype == torch.uint8 and X.shape[1:] == (28, 28) and not self.config.deskew:
            x, scale = X.reshape(-1, 28 * 28).float(), 1 / 255  # folding /255 into the weights saves a pass
        else:
            x, scale = self._images(X).reshape(-1, 28 * 28), 1.0
        means = self.means_.reshape(-1, 28 * 28)  # (C, 784)
        # argmin_c ||x - m_c||^2 = argmax_c (2 x.m_c - ||m_c||^2): ||x||^2 is the same for every
        # class, so one (N, 784) @ (784, C) matmul plus a bias decides.
        scores = torch.addmm(-(means * means).sum(1), x, means.T * (2 * scale))  # (N, C)
        return self.classes_[scores.argmax(dim=1)]

    def _tensors(self) -> dict[str, torch.Tensor]:
        return {"means": self.means_}

    def _restore(self, tensors, saved) -> None:
        means = tensors.get("means")
        if means is None or tuple(means.shape) != (len(saved["classes"]), 28, 28):
            raise ModelError("pixel checkpoint: 'means' must be (classes, 28, 28); train it again")
        self.means_ = means
