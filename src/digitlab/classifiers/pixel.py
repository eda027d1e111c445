"""pixel: the book's first idea, each class's mean ("ideal") digit, and the nearest one wins.

One mean per class is the book's. People write a 4 open or closed, a 7 with or without a bar, and a
typed 6 is rounder than a written one: one mean blurs these together and the image nearest to it is
no particular digit. With `ideals` > 1 each class's training digits are first split into that many
groups of alike digits (k-means on their pixels), and each group's mean is one of the class's ideal
digits; an image is as far from a class as from its nearest ideal. Held-out split, 3 seeds,
deskewed: one ideal 87.9 %, stress set 73.4 %; 15 ideals 95.8 %, 91.5 % (benchmarks/RESULTS.md).
The shipped model keeps 120 (calibration digits 98.2 %, stress set 94.8 %, one seed; 240 no better).
"""

from __future__ import annotations

import math
import time
import torch

from digitlab.classifiers.base import Classifier
from digitlab.classifiers.configs import PixelConfig
from digitlab.errors import ModelError

def ideal_digits(images: torch.Tensor, k: int, generator: torch.Generator,
                 starts: int = PixelConfig.kmeans_starts, rounds: int = PixelConfig.kmeans_rounds) -> torch.Tensor:
    """(n, 28, 28) digits of one class -> (k, 28, 28): the means of k groups of alike digits, the
    largest group's first. k-means (`rounds` at most) from `starts` sets of first guesses, keeping the grouping
    whose digits lie nearest their means. With fewer than k digits, the digits themselves, repeated."""
    if k == 1:
        return images.mean(dim=0, keepdim=True)
    if len(images) <= k:
        return images[torch.arange(k) % len(images)]
    flat = images.reshape(len(images), -1)  # (n, 784)
    best, spread, distances = None, math.inf, _DistancesFrom(flat)
    for _ in range(starts):
        centres, counts, error = _k_means(flat, _spread_out_centres(flat, k, generator, distances), rounds, distances)
        if error < spread:
            best, spread = centres[counts.argsort(descending=True, stable=True)], error
    return best.reshape(k, *images.shape[1:])


class _DistancesFrom:
    """torch.cdist(flat, centres) for many sets of centres against the same digits, bit for bit, in a
    ninth of the time. cdist's Euclidean path (more than 25 rows on either side) glues -2x, |x|^2 and
    a column of ones onto the digits (an (n, 786) copy) and multiplies that by the centres glued the
    other way, on every call: k-means calls it every round with the same digits, so their side is glued
    once here and each call builds only the centres' (k, 786). The same tensors meet in the same
    matmul, so every distance, and every nearest centre, is cdist's (checked over random shapes and
    MNIST's digits, one and two threads: tests/test_classifiers.py). (n, 784) 5,500 digits and 15
    centres, one thread: 13.9 -> 1.5 ms; one centre, as k-means++ draws its guesses: 0.7 ms."""

    def __init__(self, flat: torch.Tensor):
        self.flat = flat
        norms = flat.pow(2).sum(-1, keepdim=True)  # (n, 1)
        self.glued = torch.cat([flat.mul(-2), norms, torch.ones_like(norms)], -1)  # (n, 786)

    def __call__(self, centres: torch.Tensor) -> torch.Tensor:
        """(k, 784) -> (n, k) Euclidean distances, equal to torch.cdist(flat, centres)."""
        if len(self.flat) <= CDIST_DIRECT and len(centres) <= CDIST_DIRECT:
            return torch.cdist(self.flat, centres)  # cdist's direct path: no matmul to share
        norms = centres.pow(2).sum(-1, keepdim=True)  # (k, 1)
        glued = torch.cat([centres, torch.ones_like(norms), norms], -1)  # (k, 786)
        return self.glued.matmul(glued.mT).clamp_min_(0).sqrt_()


CDIST_DIRECT = 25  # rows on both sides at or under which torch.cdist skips its matmul (its compute_mode default)


def _k_means(flat: torch.Tensor, centres: torch.Tensor, rounds: int,
             distances: _DistancesFrom | None = None) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Lloyd's rounds from the given centres: (centres, digits per centre, sum of squared distances)."""
    distances = distances or _DistancesFrom(flat)
    k, nearest = len(centres), None
    for _ in range(rounds):
        moved = distances(centres).argmin(dim=1)  # (n,) each digit's nearest centre
        if nearest is not None and torch.equal(moved, nearest):
            break
        nearest = moved
        counts = torch.bincount(nearest, minlength=k)  # (k,)
        sums = torch.zeros_like(centres).index_add_(0, nearest, flat)
        # A centre no digit chose keeps its place (a digit of the class) rather than becoming 0/0.
        centres = torch.where(counts[:, None] > 0, sums / counts.clamp_min(1)[:, None], centres)
    distance = distances(centres)  # (n, k)
    nearest = distance.argmin(dim=1)
    return centres, torch.bincount(nearest, minlength=k), float((distance.amin(dim=1) ** 2).sum())


def _spread_out_centres(flat: torch.Tensor, k: int, generator: torch.Generator,
                        distances: _DistancesFrom | None = None) -> torch.Tensor:
    """k-means++'s first guesses: one digit at random, then each next one drawn with a chance
    proportional to its squared distance from the nearest guess so far. Guesses drawn uniformly
    leave some groups split in two and others merged (stress set, 3 seeds of one start: 88.5-92.1 %
    from uniform guesses, 89.4-91.9 % from these)."""
    distances = distances or _DistancesFrom(flat)
    first = torch.randint(len(flat), (1,), generator=generator)
    centres = [flat[first[0]]]
    nearest = distances(centres[0][None]).squeeze(1) ** 2  # (n,)
    for _ in range(1, k):
        pick = torch.multinomial(nearest.clamp_min(0) + 1e-12, 1, generator=generator)[0]
        centres.append(flat[pick])
        nearest = torch.minimum(nearest, distances(flat[pick][None]).squeeze(1) ** 2)
    return torch.stack(centres)


def to_ideals(x: torch.Tensor, ideals: torch.Tensor, distance: str) -> torch.Tensor:
    """(N, 28, 28) prepared images, (C, k, 28, 28) ideal digits -> (N, C, k) the distance of each
    image to each ideal digit, in pixel units [0, 1] ("l2": root mean square, "l1": mean absolute)."""
    C, k = ideals.shape[:2]
    x, flat = x.reshape(-1, 28 * 28), ideals.reshape(C * k, 28 * 28)  # (N, 784), (C k, 784)
    if distance == "l2":
        # ||x - m||^2 = ||x||^2 - 2 x.m + ||m||^2: one (N, 784) @ (784, C k) matmul for all pairs.
        sq = (x * x).sum(1, keepdim=True) - 2 * x @ flat.T + (flat * flat).sum(1)  # (N, C k)
        return (sq.clamp_min(0) / (28 * 28)).sqrt().reshape(-1, C, k)
    if torch.compiler.is_exporting():
        # cdist has no ONNX form (onnx/graph.py): the same sums from the (N, C k, 784) differences.
        return ((x[:, None] - flat).abs().sum(2) / (28 * 28)).reshape(-1, C, k)
    # L1 has no matmul trick; cdist sums |x - m| without building the (N, C k, 784) differences.
    return (torch.cdist(x, flat, p=1) / (28 * 28)).reshape(-1, C, k)


class PixelSimilarity(Classifier):
    method, Config = "pixel", PixelConfig

    def fit(self, X, y, valid=None, epoch_end=None, resume=False, device="cpu", progress=True):
        start = time.perf_counter()
        raw_valid = valid  # score() prepares images itself; _start's prepared ones would be prepared twice
        clean = len(X)
        X, y = self._with_copies(X, y)  # the config's cluttered copies after the digits they copy
        X, y, valid = self._start(X, y, valid, copies=len(X) - clean)
        idx = self._index(y)
        copied = torch.arange(len(X)) >= clean  # (N,) which images are copies
        # The book's ideal 3 is `stacked_threes.mean(0)`: with one ideal, the same mean, one class at a time.
        generator = torch.Generator().manual_seed(self.config.seed)
        cfg = self.config

        def ideals(images: torch.Tensor, k: int) -> torch.Tensor:
            return ideal_digits(images, k, generator, cfg.kmeans_starts, cfg.kmeans_rounds)

        if self._ideals_a_class() == cfg.ideals:  # no copies asked for, or no ideals of their own
            self.ideals_ = torch.stack([ideals(X[idx == c], cfg.ideals) for c in range(len(self.classes_))])
        else:  # (C, ideals + copy_ideals, 28, 28): the clean digits' ideals (drawn as without copies), then the copies'
            own = [ideals(X[(idx == c) & ~copied], cfg.ideals) for c in range(len(self.classes_))]
            # A class none of whose digits was picked for a copy (a few fit digits) groups its clean ones again.
            theirs = [ideals(X[mine] if (mine := (idx == c) & copied).any() else X[idx == c], cfg.copy_ideals)
                      for c in range(len(self.classes_))]
            self.ideals_ = torch.stack([torch.cat(pair) for pair in zip(own, theirs)])
        self.history_, self.state_ = [], {"epoch": 0}
        self._record({"epoch": 0, "train_loss": None, "valid_loss": None,
                      "accuracy": self.score(*raw_valid) if valid is not None else None,
                      "seconds": time.perf_counter() - start}, epoch_end)
        return self

    @property
    def means_(self) -> torch.Tensor:
        """(C, 28, 28) each class's mean digit, the book's ideal: there when a class has one ideal."""
        if self.config.ideals != 1:
            raise AttributeError(f"a pixel model with ideals={self.config.ideals} has several ideal digits "
                                 "per class: see ideals_")
        return self.ideals_[:, 0]

    def distances(self, X) -> torch.Tensor:
        """(N, C) distance of each image to each class's nearest ideal digit, in pixel units [0, 1]."""
        return self._to_ideals(X).amin(dim=2)

    def nearest_ideals(self, X) -> torch.Tensor:
        """(N, C) which of each class's ideal digits is nearest each image (index into ideals_[c])."""
        return self._to_ideals(X).argmin(dim=2)

    def _to_ideals(self, X) -> torch.Tensor:
        """(N, C, k) distance of each image to each ideal digit."""
        self._fitted()
        return to_ideals(self._images(X), self.ideals_, self.config.distance)

    def _flat_ideals(self) -> tuple[torch.Tensor, int, int]:
        """The ideal digits as (C k, 784) rows, class by class, and C and k."""
        C, k = self.ideals_.shape[:2]
        return self.ideals_.reshape(C * k, 28 * 28), C, k

    def logits(self, X) -> torch.Tensor:
        """(N, C) the nearer an ideal digit, the higher: -distance / config.temperature, the scores
        whose softmax is the book's similarity turned into probabilities."""
        return -self.distances(X) / self.config.temperature

    def predict(self, X) -> torch.Tensor:
        if self.config.distance == "l1":
            return super().predict(X)
        self._fitted()
        x = self._images(X).reshape(-1, 28 * 28)  # (N, 784), cleaned as every method's input is
        ideals, C, k = self._flat_ideals()
        # argmin ||x - m||^2 = argmax (2 x.m - ||m||^2): ||x||^2 is the same for every ideal, so one
        # (N, 784) @ (784, C k) matmul plus a bias decides; a class scores its nearest ideal's.
        scores = torch.addmm(-(ideals * ideals).sum(1), x, ideals.T * 2)  # (N, C k)
        return self.classes_[scores.reshape(-1, C, k).amax(dim=2).argmax(dim=1)]

    def _ideals_a_class(self) -> int:
        """How many ideal digits each class keeps: its clean digits' and, with copies, theirs."""
        cfg = self.config
        return cfg.ideals + (cfg.copy_ideals if any(self._copy_shares().values()) else 0)

    def _tensors(self) -> dict[str, torch.Tensor]:
        # One ideal a class is saved as the book's means, as it always was.
        return {"means": self.means_} if self.config.ideals == 1 else {"ideals": self.ideals_}

    def _restore(self, tensors, saved) -> None:
        n_classes, k = len(saved["classes"]), self._ideals_a_class()
        name, shape = ("means", (n_classes, 28, 28)) if k == 1 else ("ideals", (n_classes, k, 28, 28))
        held = tensors.get(name)
        if held is None or tuple(held.shape) != shape:
            raise ModelError(f"pixel checkpoint: {name!r} must be {shape} for ideals={k}; train it again")
        if held.dtype != torch.float32:  # distances to images of another dtype end in a raw torch error
            raise ModelError(f"pixel checkpoint: {name!r} is {held.dtype}, not float32; the checkpoint is "
                             "damaged, train it again")
        self.ideals_ = held[:, None] if k == 1 else held
