"""Every method as one torch module under one contract, the graph `export.py` hands to torch.onnx.

The contract, the same for pixel similarity, linear, simple_net and the cnn: `pixels` float32
(N, 1, 28, 28), MNIST's own pixels / 255 (light ink on dark, centred as `to_mnist` leaves a digit) ->
`probabilities` float32 (N, classes), columns in the order of the model's `classes_`. Whatever the
classifier does between the two is inside: its input cleaning, deskewing, the network or the ideal
digits, the cnn's normalisation and its test-time shifts where the plain view is unsure, the calibrated temperature, softmax (or the
book's one-output sigmoid). `Classifier.predict_proba` on the same images is the answer it must give.

Two steps of the input cleaning (vision/input_cleaning.py) are left out, being decisions per image
that no fixed graph of tensor operations makes: `boxed` crops a digit far off MNIST's size to its own
box and resizes that crop to a size that depends on the image, and `without_pattern` splits a
patterned page at Otsu's level of a histogram of that image's inked pixels alone. Both leave MNIST's
digits and what `to_mnist` makes alone (none of MNIST's 10,000 test digits is changed by either,
measured in benchmarks/onnx_parity.py); they matter for a raw photo handed to a model as a tensor,
which the contract rules out.

Pixel similarity by the L1 distance sums |x - m| from the (N, C k, 784) differences in the graph
(torch's cdist has no ONNX form): 3.7 MB an image for 120 ideal digits a class, so such a file wants
small batches; the shipped pixel model measures L2, a matrix product.
"""

from __future__ import annotations

import torch
from torch import nn

from digitlab.classifiers.cnn.network import ShiftAverage, top_two_gap
from digitlab.classifiers.pixel import to_ideals
from digitlab.trust import calibration
from digitlab.vision import input_cleaning
from digitlab.vision.deskew import deskewed


class Cleaning(nn.Module):
    """(N, 28, 28) -> what `input_cleaning.cleaned` makes of it, branch-free: the despeckling median
    computed for every image and kept where there are SPECKS, the ink above its background at full
    strength, each image moved by its own centring shift (0 for one already near the centre)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        noisy = (input_cleaning.specks(x) >= input_cleaning.SPECKS)[:, None, None]  # (N, 1, 1)
        x = torch.where(noisy, input_cleaning.median3(x), x)
        x = input_cleaning.full_strength((x - input_cleaning.grey_opening(x)).clamp_min(0))
        dy, dx, off = input_cleaning.centring_shifts(x)  # (N,) each
        return input_cleaning.moved(x, torch.where(off, dy, 0), torch.where(off, dx, 0))


class IdealScores(nn.Module):
    """Pixel similarity's scores: (N, 28, 28) prepared images -> (N, C) -distance to each class's
    nearest ideal digit / its config's temperature, as `PixelSimilarity.logits`."""

    def __init__(self, ideals: torch.Tensor, distance: str, sharpness: float):
        super().__init__()
        self.register_buffer("ideals", ideals.detach().clone())  # (C, k, 28, 28)
        self.distance, self.sharpness = distance, sharpness

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return -to_ideals(x, self.ideals, self.distance).amin(dim=2) / self.sharpness  # (N, C, k) -> (N, C)


class SureOrShifted(nn.Module):
    """The cnn's test-time shifts as `ShiftAverage` gives them outside a graph: the plain view's
    logits where its top two are SURE_GAP or more apart, else the mean over all five views. A graph
    makes no choice per image, so every image's five views are scored (5x the plain pass; the plain
    view is the first of them) and the choice is a `where`. An image whose gap lies within float
    rounding of SURE_GAP could fall on the other side than in torch (none of the 10,000 test digits
    did). (ShiftAverage itself, exported, averages every image: what explanations' gradients need,
    but not what `predict_proba` answers.)"""

    def __init__(self, shifting: ShiftAverage):
        super().__init__()
        self.net = shifting.net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim == 3:
            x = x.unsqueeze(1)  # (N, 28, 28) -> (N, 1, 28, 28)
        views = ShiftAverage.views(x, ShiftAverage.SHIFTS)  # (5N, 1, 28, 28), the plain view first
        logits = self.net(views)
        logits = logits.reshape(len(ShiftAverage.SHIFTS), x.shape[0], logits.shape[-1])  # (5, N, C)
        plain = logits[0]
        sure = top_two_gap(plain) >= ShiftAverage.SURE_GAP  # (N,)
        # ShiftAverage's own sum for the unsure: the plain view plus the four others, over five
        averaged = (plain + logits[1:].sum(dim=0)) / len(ShiftAverage.SHIFTS)
        return torch.where(sure[:, None], plain, averaged)


class Contract(nn.Module):
    """A fitted classifier's probabilities under the contract: pixels (N, 1, 28, 28) -> (N, classes)."""

    def __init__(self, scores: nn.Module, deskew: bool, stretch: bool, temperature: float):
        super().__init__()
        self.cleaning, self.scores = Cleaning(), scores
        self.deskew, self.stretch, self.temperature = deskew, stretch, temperature

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        x = self.cleaning(pixels[:, 0])  # (N, 1, 28, 28) -> (N, 28, 28)
        if self.deskew:
            x = deskewed(x, stretched=self.stretch)
        logits = self.scores(x)  # (N, C), or (N, 1) for the book's one-output binary model
        return calibration.probabilities(logits / self.temperature)  # (N, C)


def scores_of(clf) -> nn.Module:
    """The module that turns a classifier's prepared images into its raw scores (`clf.logits`)."""
    if clf.method == "pixel":
        return IdealScores(clf.ideals_, clf.config.distance, clf.config.temperature)
    if isinstance(clf.model_, ShiftAverage):
        return SureOrShifted(clf.model_.eval())
    return clf.model_.eval()


def contract(clf) -> Contract:
    """A fitted classifier as one module under the contract, in eval mode."""
    config = clf.config
    return Contract(scores_of(clf), deskew=getattr(config, "deskew", False),
                    stretch=getattr(config, "stretch", False), temperature=float(clf.temperature_)).eval()
