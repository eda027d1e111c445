"""Why a model gave its answer: one image's explanation per method, computed from the model itself.

- pixel: the distance to each class's nearest ideal digit (its mean, the book's, or the nearest of
  its several); the input minus the answer's and the runner-up's, and
  each pixel's evidence (how much closer it brings the input to the nearest ideal than to the runner-up's);
- linear: each pixel's contribution (weight x input) to the answer's and the runner-up's score,
  which with the bias add up to the score exactly;
- simple_net: the same exact decomposition for the ReLUs this image switches on (a ReLU net is
  linear where its units keep their state), and the hidden units that pushed the answer most;
- cnn: integrated gradients and occlusion, by Captum, from a black image (MNIST's background), of
  the model that answered: its test-time shifts included, run as one batch (attribution.py).

Every explanation uses the image as the model sees it (`clf._images`: deskewed where the config
says so). `learned(clf)` gives what a model learned, whatever the image: mean digits, weight
images, the first layer's units or filters. The maps are (28, 28) tensors; `to_json` turns them
into lists, pictures.py into PNGs and words.py into the words beside them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from digitlab.classifiers.cnn.network import ShiftAverage
from digitlab.errors import DataError, ModelError
from digitlab.explain import words
from digitlab.explain.attribution import integrated_gradients, occlusion

UNITS_SHOWN = 4  # simple_net's hidden units shown for one answer: those that raised its score most


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
    nearest = clf.nearest_ideals(image)[0]  # (C,): which of each class's ideal digits it was measured to
    near, far = clf.ideals_[best, nearest[best]], clf.ideals_[second, nearest[second]]  # (28, 28) each
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
    units = [u for u in shares.argsort(descending=True)[:UNITS_SHOWN].tolist() if shares[u] > 0]  # none that lowered it
    maps = {"contribution": contributions[0].reshape(28, 28),
            "runner_up_contribution": contributions[1].reshape(28, 28)}
    maps |= {f"unit_{u}": w1[u].reshape(28, 28) for u in units}
    return Explanation("simple_net", *_labels(clf, best, second), scores.tolist(), seen, maps, {
        "bias": (through[0] @ b1 + b2[best]).item(),
        "runner_up_bias": (through[1] @ b1 + b2[second]).item(),
        "units": [[u, round(shares[u].item(), 4)] for u in units], "hidden_units": len(hidden),
    })


# ---------------------------------------------------------------------------------------------
# cnn: integrated gradients and occlusion (attribution.py)
# ---------------------------------------------------------------------------------------------


def warm_up(clf=None) -> None:
    """Import Captum now rather than in the first cnn explanation (0.3 s on an idle machine, 0.8 s on
    a busy one) and, given a classifier, explain a drawn bar once (torch's first passes at each batch
    size are slower): the web server calls this as it starts, on the thread that explains."""
    import captum.attr  # noqa: F401

    if clf is not None:
        bar = torch.zeros(28, 28)
        bar[6:22, 13:15] = 1.0  # a 1
        explain(clf, bar)


def _cnn(clf, image) -> Explanation:
    seen = clf._images(image)[0]  # (28, 28); the cnn has no deskew option, so this is as_images
    model = clf.model_.cpu().eval()
    # With test-time shifts, every image averaged over all of them (ShiftAverage.averaged): the maps
    # need one smooth function, not the plain view for sure images and the shifts for the rest.
    forward = model.averaged if isinstance(model, ShiftAverage) else model
    with torch.no_grad():
        scores = forward(seen.reshape(1, 1, 28, 28))[0]  # (C,)
    best, second = _top_two(scores)
    attributions, change, steps = integrated_gradients(forward, seen, best)
    return Explanation("cnn", *_labels(clf, best, second), scores.tolist(), seen, {
        "integrated_gradients": attributions,
        "occlusion": occlusion(forward, seen, best),
    }, {"baseline_score": scores[best].item() - change, "ig_steps": steps})


# ---------------------------------------------------------------------------------------------
# What a model learned, whatever the image
# ---------------------------------------------------------------------------------------------


def learned(clf, units: int = 10) -> list[tuple[str, torch.Tensor]]:
    """(caption, (h, w) picture) pairs: the mean or `units` most common ideal digits of each class
    (pixel: the shipped model keeps 120 a class), each class's weight image (linear), the first
    layer's `units` strongest units (simple_net: by the size of their outgoing weights),
    the first convolution's filters (cnn)."""
    clf._fitted()
    classes = clf.classes_.tolist()
    if clf.method == "pixel":
        if clf.config.ideals == 1:
            return [(f"mean {c}", m) for c, m in zip(classes, clf.means_)]
        # Each class's most common ideal digits, a row each (ideals_ keeps them most common first); the row named once.
        return [(str(c) if j == 0 else "", m) for c, row in zip(classes, clf.ideals_) for j, m in enumerate(row[:units])]
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
# As JSON (the pictures: pictures.py)
# ---------------------------------------------------------------------------------------------


def _grid(map_: torch.Tensor, digits: int = 5) -> list[list[float]]:
    return [[round(v, digits) for v in row] for row in map_.tolist()]


def to_json(explanation: Explanation, probabilities: dict[int, float] | None = None) -> dict:
    """Plain JSON: every map as a 28 x 28 list of lists, and the words beside them (words.to_json; the
    answer's and the runner-up's `probabilities`, digit -> probability, said with the scores when given)."""
    e = explanation
    return {"method": e.method, "label": e.label, "runner_up": e.runner_up, "classes": e.classes,
            "scores": [round(s, 6) for s in e.scores], "notes": e.notes,
            "seen": _grid(e.seen, 4), "maps": {name: _grid(m) for name, m in e.maps.items()},
            "words": words.to_json(e, probabilities)}
