"""Captum's pixel attributions for a network's answer, made fast enough to answer a click:
integrated gradients along the path from a black image, cut into pieces where the network's kinks
are, and occlusion of the inked squares; a model's test-time shifts run as one batch. Used by
explain.py for the cnn; figures in benchmarks/RESULTS.md ("Explanations").
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

IG_PIECES = 16  # the path from black to the image is first cut into this many pieces, one gradient each
IG_MAX_GRADIENTS = 512  # at most; 200 test digits needed 22 (median), 54 (p95), 122 (max): benchmarks/RESULTS.md
IG_TOLERANCE = 0.01  # relative gap allowed between the attributions' sum and the score's change
OCCLUSION_WINDOW = 4  # px: the square blacked out at a time, moved by its own side (49 squares, 7 x 7 blocks)


def captum_attr():
    """captum.attr, imported without tqdm's "IProgress not found" warning: Captum imports tqdm's
    notebook bars, which warn in a Jupyter kernel without ipywidgets, and digitlab shows no Captum
    bar (notebooks/02_ten_digits printed it, with the path of the installed tqdm)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="IProgress not found")
        import captum.attr
    return captum.attr


def integrated_gradients(forward, image: torch.Tensor, target: int, pieces: int = IG_PIECES,
                         tolerance: float = IG_TOLERANCE) -> tuple[torch.Tensor, float, int]:
    """(attributions (28, 28), the score's change from the black baseline, the gradients taken).

    Integrated gradients along the straight path a * image, a from 0 (black) to 1, taken piece by
    piece: a piece [a0, a1] is Captum's attribution from a0 * image to a1 * image with one gradient,
    at its middle (one-point Gauss-Legendre), and the pieces' attributions add up to the whole
    path's. Completeness holds piece by piece too, so each piece knows its own gap: between the kinks
    of the ReLUs and max pooling the network is linear and a piece is exact. Until the gaps add up to
    within `tolerance` of the change (or IG_MAX_GRADIENTS gradients), the pieces with the largest gaps
    (at least half the largest) are cut in three, the middle third keeping its gradient (a third of
    its attribution)."""
    x = image.reshape(1, 1, 28, 28)
    ig = captum_attr().IntegratedGradients(forward)

    def score(a: torch.Tensor) -> torch.Tensor:  # (k,) points on the path -> (k,) the target's scores
        with torch.no_grad():
            return forward(a.view(-1, 1, 1, 1) * x)[:, target]

    def attribute(a0: torch.Tensor, a1: torch.Tensor) -> torch.Tensor:  # (k,), (k,) -> (k, 1, 28, 28)
        return ig.attribute(a1.view(-1, 1, 1, 1) * x, a0.view(-1, 1, 1, 1) * x, target=target, n_steps=1,
                            method="gausslegendre").detach()

    edges = torch.linspace(0, 1, pieces + 1)
    scores = score(edges)  # (pieces + 1,)
    change = (scores[-1] - scores[0]).item()
    allowed = tolerance * max(abs(change), 1e-3)
    a0, a1, s0, s1 = edges[:-1], edges[1:], scores[:-1], scores[1:]  # each piece's ends and their scores
    parts = attribute(a0, a1)  # (pieces, 1, 28, 28)
    taken = pieces
    while True:
        gaps = parts.sum(dim=(1, 2, 3)) - (s1 - s0)  # (k,); they add up to the whole gap (the scores telescope)
        if abs(gaps.sum().item()) <= allowed or taken >= IG_MAX_GRADIENTS:
            return parts.sum(0).reshape(28, 28), change, taken
        # the worst pieces only: cutting every piece over a quarter of the limit took up to 2x the gradients
        cut = gaps.abs() >= gaps.abs().max() / 2
        budget = max(1, (IG_MAX_GRADIENTS - taken) // 2)
        if cut.sum() > budget:  # two new gradients a piece: the worst pieces first
            cut = torch.zeros_like(cut).index_fill_(0, gaps.abs().argsort(descending=True)[:budget], True)
        c0, c1, d0, d1 = a0[cut], a1[cut], s0[cut], s1[cut]  # the pieces cut, in thirds at t1 and t2
        t1, t2 = c0 + (c1 - c0) / 3, c0 + 2 * (c1 - c0) / 3
        inner = score(torch.cat([t1, t2])).split(len(t1))  # the scores at t1 and at t2
        keep = ~cut
        a0 = torch.cat([a0[keep], c0, t1, t2])
        a1 = torch.cat([a1[keep], t1, t2, c1])
        s0 = torch.cat([s0[keep], d0, inner[0], inner[1]])
        s1 = torch.cat([s1[keep], inner[0], inner[1], d1])
        outer = attribute(torch.cat([c0, t2]), torch.cat([t1, c1])).split(len(t1))  # the first and last thirds
        parts = torch.cat([parts[keep], outer[0], parts[cut] / 3, outer[1]])
        taken += 2 * len(t1)


def occlusion(forward, image: torch.Tensor, target: int, window: int = OCCLUSION_WINDOW) -> torch.Tensor:
    """(28, 28): how much the target's score falls when the window x window square holding each
    pixel is blacked out (the squares tile the image). Captum's feature ablation with the squares as
    features, all in one pass; the squares with no ink are one feature between them, since blacking
    them out changes nothing (their map is 0): a test digit's 18 inked squares (median) cost a pass
    each, not 49."""
    x = image.reshape(1, 1, 28, 28)
    inked = nn.functional.max_pool2d(x.abs(), window, ceil_mode=True).flatten() > 0  # (squares,) any ink in each
    feature = torch.cumsum(inked, 0) * inked  # (squares,) 1, 2, ... for the inked squares, 0 for the rest
    per_side = -(-28 // window)  # squares along a side, the last narrower where window does not divide 28
    along = torch.arange(28) // window  # (28,) each row's (and column's) square
    square = along.view(-1, 1) * per_side + along  # (28, 28) each pixel's square
    ablation = captum_attr().FeatureAblation(forward)
    with torch.no_grad():
        maps = ablation.attribute(x, baselines=0.0, target=target,
                                  feature_mask=feature[square].view_as(x),  # (1, 1, 28, 28)
                                  perturbations_per_eval=int(feature.max()) + 1)
    # Blacking out black squares changes no input pixel, so their map is 0 exactly; the network, given the
    # batch and the lone image apart, may sum in another order (channels-last convs) and leave ~1e-7 there.
    return torch.where(feature[square] > 0, maps.reshape(28, 28), 0.0)
