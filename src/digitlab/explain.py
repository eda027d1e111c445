"""Why a model gave its answer: one image's explanation per method, computed from the model itself.

- pixel: the distance to each mean digit; the input minus the nearest and the runner-up mean, and
  each pixel's evidence (how much closer it brings the input to the nearest mean than to the runner-up);
- linear: each pixel's contribution (weight x input) to the answer's and the runner-up's score,
  which with the bias add up to the score exactly;
- simple_net: the same exact decomposition for the ReLUs this image switches on (a ReLU net is
  linear where its units keep their state), and the hidden units that pushed the answer most;
- cnn: integrated gradients and occlusion, by Captum, from a black image (MNIST's background), of
  the model that answered: its test-time shifts included, run as one batch (`in_one_pass`).

Every explanation uses the image as the model sees it (`clf._images`: deskewed where the config
says so). `learned(clf)` gives what a model learned, whatever the image: mean digits, weight
images, the first layer's units or filters. The maps are (28, 28) tensors; `to_json` and
`save_pictures` turn them into lists and PNGs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from digitlab.errors import DataError, ModelError, OutputError

IG_PIECES = 16  # the path from black to the image is first cut into this many pieces, one gradient each
IG_MAX_GRADIENTS = 512  # at most; 200 test digits needed 22 (median), 54 (p95), 122 (max): benchmarks/RESULTS.md
IG_TOLERANCE = 0.01  # relative gap allowed between the attributions' sum and the score's change
OCCLUSION_WINDOW = 4  # px: the square blacked out at a time, moved by its own side (49 squares, 7 x 7 blocks)
UNITS_SHOWN = 4  # simple_net's hidden units shown for one answer
PICTURE_SCALE = 8  # a 28 x 28 map saves as 224 x 224


@dataclass
class Explanation:
    """One image's answer and why. Scores are per class, in the model's classes' order: a pixel
    model's distance (smaller is nearer), a network's logit."""

    method: str
    label: int  # the answer
    runner_up: int  # the class with the next-best score
    classes: list[int]
    scores: list[float]
    seen: torch.Tensor  # (28, 28) the input as the model saw it
    maps: dict[str, torch.Tensor]  # name -> (28, 28); positive favours the answer unless the name says otherwise
    notes: dict[str, float | list] = field(default_factory=dict)  # bias, baseline score, units' shares...


def _one_image(image) -> torch.Tensor:
    image = torch.as_tensor(image)
    if image.ndim == 2:
        image = image.unsqueeze(0)
    if image.ndim != 3 or image.shape[0] != 1:
        raise DataError(f"explain takes one image (28, 28), got {tuple(image.shape)}; explain images one at a time")
    return image


def _top_two(scores: torch.Tensor, smaller_wins: bool = False) -> tuple[int, int]:
    order = scores.argsort(descending=not smaller_wins)
    return int(order[0]), int(order[1])


def explain(clf, image) -> Explanation:
    """The explanation of `clf`'s answer for one (28, 28) image (uint8 0-255 or float in [0, 1])."""
    clf._fitted()
    explainer = {"pixel": _pixel, "linear": _linear, "simple_net": _simple_net, "cnn": _cnn}.get(clf.method)
    if explainer is None:
        raise ModelError(f"cannot explain a {clf.method!r} model; explain knows pixel, linear, simple_net and cnn")
    return explainer(clf, _one_image(image))


# ---------------------------------------------------------------------------------------------
# pixel
# ---------------------------------------------------------------------------------------------


def _pixel(clf, image) -> Explanation:
    seen = clf._images(image)[0]  # (28, 28)
    distances = clf.distances(image)[0]  # (C,); distances() deskews for itself
    best, second = _top_two(distances, smaller_wins=True)
    near, far = clf.means_[best], clf.means_[second]  # (28, 28) each
    if clf.config.distance == "l2":
        evidence = (seen - far) ** 2 - (seen - near) ** 2  # sums to 784 (d_far^2 - d_near^2)
    else:
        evidence = (seen - far).abs() - (seen - near).abs()  # sums to 784 (d_far - d_near)
    return Explanation("pixel", *_labels(clf, best, second), distances.tolist(), seen, {
        "minus_nearest_mean": seen - near,
        "minus_runner_up_mean": seen - far,
        "evidence": evidence,
    }, {"distance": clf.config.distance})


def _labels(clf, best: int, second: int) -> tuple[int, int, list[int]]:
    classes = clf.classes_.tolist()
    return classes[best], classes[second], classes


# ---------------------------------------------------------------------------------------------
# linear and simple_net: exact decompositions
# ---------------------------------------------------------------------------------------------


def _class_rows(weight: torch.Tensor, bias: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(C, D) weights and (C,) biases of each class's score. A two-class net has one output, the
    first class's logit; the second class's score is its negative (sigmoid(-z) = 1 - sigmoid(z))."""
    if weight.shape[0] == 1:
        return torch.cat([weight, -weight]), torch.cat([bias, -bias])
    return weight, bias


def _linear(clf, image) -> Explanation:
    seen = clf._images(image)[0]  # (28, 28)
    layer = _layers(clf)[0]
    weight, bias = _class_rows(layer.weight.detach(), layer.bias.detach())  # (C, 784), (C,)
    contributions = weight * seen.reshape(1, -1)  # (C, 784): weight x input, per class
    scores = contributions.sum(1) + bias  # (C,) the logits, exactly as the layer computes them
    best, second = _top_two(scores)
    return Explanation("linear", *_labels(clf, best, second), scores.tolist(), seen, {
        "contribution": contributions[best].reshape(28, 28),
        "runner_up_contribution": contributions[second].reshape(28, 28),
    }, {"bias": bias[best].item(), "runner_up_bias": bias[second].item()})


def _layers(clf) -> list[nn.Linear]:
    return [m for m in clf.model_.modules() if isinstance(m, nn.Linear)]


def _simple_net(clf, image) -> Explanation:
    seen = clf._images(image)[0]  # (28, 28)
    first, last = _layers(clf)
    x = seen.reshape(-1)  # (784,)
    w1, b1 = first.weight.detach(), first.bias.detach()  # (H, 784), (H,)
    w2, b2 = _class_rows(last.weight.detach(), last.bias.detach())  # (C, H), (C,)
    hidden = torch.relu(w1 @ x + b1)  # (H,)
    on = (hidden > 0).float()  # the units this image switches on
    scores = w2 @ hidden + b2  # (C,)
    best, second = _top_two(scores)
    # With the on/off pattern fixed, score_c = sum_p x_p (w2_c * on) @ w1[:, p] + (w2_c * on) @ b1 + b2_c.
    through = w2[[best, second]] * on  # (2, H)
    contributions = (through @ w1) * x  # (2, 784)
    shares = w2[best] * hidden  # (H,) each unit's push towards the answer
    units = shares.argsort(descending=True)[:UNITS_SHOWN].tolist()
    maps = {"contribution": contributions[0].reshape(28, 28),
            "runner_up_contribution": contributions[1].reshape(28, 28)}
    maps |= {f"unit_{u}": w1[u].reshape(28, 28) for u in units}
    return Explanation("simple_net", *_labels(clf, best, second), scores.tolist(), seen, maps, {
        "bias": (through[0] @ b1 + b2[best]).item(),
        "runner_up_bias": (through[1] @ b1 + b2[second]).item(),
        "units": [[u, round(shares[u].item(), 4)] for u in units],
    })


# ---------------------------------------------------------------------------------------------
# cnn: Captum's integrated gradients and occlusion
# ---------------------------------------------------------------------------------------------


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
    from captum.attr import IntegratedGradients

    x = image.reshape(1, 1, 28, 28)
    ig = IntegratedGradients(forward)

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
    them out changes nothing (their map is 0): a digit's 20-odd inked squares cost a pass each, not 49."""
    from captum.attr import FeatureAblation

    x = image.reshape(1, 1, 28, 28)
    inked = nn.functional.max_pool2d(x, window, ceil_mode=True).flatten() > 0  # (squares,) any ink in each
    feature = torch.cumsum(inked, 0) * inked  # (squares,) 1, 2, ... for the inked squares, 0 for the rest
    per_side = -(-28 // window)  # squares along a side, the last narrower where window does not divide 28
    square = (torch.arange(28) // window).view(-1, 1) * per_side + torch.arange(28) // window  # (28, 28) each pixel's
    with torch.no_grad():
        maps = FeatureAblation(forward).attribute(x, baselines=0.0, target=target, feature_mask=feature[square].view_as(x),
                                                  perturbations_per_eval=int(feature.max()) + 1)
    return maps.reshape(28, 28)


def in_one_pass(model: nn.Module):
    """The model as one forward call: a ShiftAverage's image and its four 1-pixel shifts go through
    its net as one batch (5B images) rather than five, the same mean logits. Integrated gradients
    and occlusion explain the model that answered, test-time shifts included (the answer and the
    score whose change the attributions must add up to are the shifted mean's)."""
    from digitlab.recipe import ShiftAverage

    if not isinstance(model, ShiftAverage):
        return model
    net, shifts = model.net, model.SHIFTS

    def forward(x: torch.Tensor) -> torch.Tensor:  # (B, 1, 28, 28) -> (B, C)
        padded = nn.functional.pad(x, (1, 1, 1, 1))  # (B, 1, 30, 30), background is 0
        views = torch.cat([padded[..., 1 + dy:29 + dy, 1 + dx:29 + dx] for dy, dx in shifts])  # (5B, 1, 28, 28)
        return net(views).reshape(len(shifts), len(x), -1).mean(dim=0)  # (5, B, C) -> (B, C)

    return forward


def _cnn(clf, image) -> Explanation:
    seen = clf._images(image)[0]  # (28, 28); the cnn has no deskew option, so this is as_images
    model = in_one_pass(clf.model_.cpu().eval())
    with torch.no_grad():
        scores = model(seen.reshape(1, 1, 28, 28))[0]  # (C,)
    best, second = _top_two(scores)
    attributions, change, steps = integrated_gradients(model, seen, best)
    return Explanation("cnn", *_labels(clf, best, second), scores.tolist(), seen, {
        "integrated_gradients": attributions,
        "occlusion": occlusion(model, seen, best),
    }, {"baseline_score": scores[best].item() - change, "ig_steps": steps})


def warm_up() -> None:
    """Import Captum now rather than in the first cnn explanation (0.3 s on an idle machine, 0.8 s on
    a busy one): the web server calls this once as it starts, on the thread that explains."""
    import captum.attr  # noqa: F401


# ---------------------------------------------------------------------------------------------
# What a model learned, whatever the image
# ---------------------------------------------------------------------------------------------


def learned(clf, units: int = 10) -> list[tuple[str, torch.Tensor]]:
    """(caption, (h, w) picture) pairs: the mean digits (pixel), each class's weight image (linear),
    the first layer's `units` strongest units (simple_net: by the size of their outgoing weights),
    the first convolution's filters (cnn)."""
    clf._fitted()
    classes = clf.classes_.tolist()
    if clf.method == "pixel":
        return [(f"mean {c}", m) for c, m in zip(classes, clf.means_)]
    if clf.method == "linear":
        layer = _layers(clf)[0]
        weight, _ = _class_rows(layer.weight.detach(), layer.bias.detach())
        return [(f"weights for {c}", w.reshape(28, 28)) for c, w in zip(classes, weight)]
    if clf.method == "simple_net":
        first, last = _layers(clf)
        strength = last.weight.detach().norm(dim=0)  # (H,)
        top = strength.argsort(descending=True)[:units].tolist()
        return [(f"unit {u}", first.weight.detach()[u].reshape(28, 28)) for u in top]
    conv = next(m for m in clf.model_.modules() if isinstance(m, nn.Conv2d))
    return [(f"filter {i}", w[0].detach()) for i, w in enumerate(conv.weight)]  # (k, k) each


# ---------------------------------------------------------------------------------------------
# As JSON and as pictures
# ---------------------------------------------------------------------------------------------


def _grid(map_: torch.Tensor, digits: int = 5) -> list[list[float]]:
    return [[round(v, digits) for v in row] for row in map_.tolist()]


def to_json(explanation: Explanation) -> dict:
    """Plain JSON: every map as a 28 x 28 list of lists."""
    e = explanation
    return {"method": e.method, "label": e.label, "runner_up": e.runner_up, "classes": e.classes,
            "scores": [round(s, 6) for s in e.scores], "notes": e.notes,
            "seen": _grid(e.seen, 4), "maps": {name: _grid(m) for name, m in e.maps.items()}}


def heat(map_: torch.Tensor, scale: int = PICTURE_SCALE):
    """A signed map as a PIL image: red where positive, blue where negative, white at 0, scaled by
    its largest magnitude; each pixel a scale x scale square."""
    import numpy as np
    from PIL import Image

    m = map_.float()
    top = m.abs().max().clamp_min(1e-12)
    pos, neg = (m / top).clamp_min(0), (-m / top).clamp_min(0)  # (h, w) in [0, 1]
    rgb = torch.stack([1 - neg, 1 - pos - neg, 1 - pos], dim=-1).clamp(0, 1)  # (h, w, 3)
    pixels = (rgb * 255).round().to(torch.uint8).numpy()
    return Image.fromarray(np.ascontiguousarray(pixels), "RGB").resize(
        (m.shape[1] * scale, m.shape[0] * scale), Image.NEAREST)


def grey(image: torch.Tensor, scale: int = PICTURE_SCALE):
    """A (h, w) image in [0, 1] as a greyscale PIL image, scale x larger."""
    from PIL import Image

    pixels = (image.clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    return Image.fromarray(pixels, "L").resize((image.shape[1] * scale, image.shape[0] * scale), Image.NEAREST)


def save_pictures(explanation: Explanation, folder: str | os.PathLike, stem: str) -> list[Path]:
    """DIR/<stem>-seen.png and DIR/<stem>-<map>.png for each map, written atomically; their paths."""
    from digitlab.files import atomic_write

    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(f"{folder}: cannot make the explanations' folder ({err.strerror}); "
                          "give --explain a folder you can write to") from None
    pictures = {"seen": grey(explanation.seen)} | {name: heat(m) for name, m in explanation.maps.items()}
    written = []
    for name, picture in pictures.items():
        path = folder / f"{stem}-{name}.png"
        with atomic_write(path) as f:
            picture.save(f, format="PNG")
        written.append(path)
    return written
