"""The one service layer: what the commands, the compare job, the web page and the report share.

A classifier made from the options set (`make`, which refuses one its method lacks; `with_overrides`,
`options_of`), loaded from its folder (`load`: the one place a saved model is loaded), asked about
images (`predict`: probabilities checked finite, the digit each image reads as), checked against a
task's digits (`check_task`) and scored in batches (`evaluate`: accuracy, confusion, calibration,
the worst images); the methods a `--methods` list names (`parse_methods`). Only this module calls
`classifiers.make` and `classifiers.load` (tests/test_architecture.py holds everyone else to it).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from digitlab import metrics
from digitlab.errors import DigitlabError, ModelError
from digitlab.train.devices import batched


# Images scored at once: a batch's float copy and activations stay small (4,096 are 13 MB as float)
# while the images themselves stay uint8, so 100,000 test images evaluate in well under 1 GB.
SCORE_BATCH = 4096


@dataclass(frozen=True)
class Worst:
    image: torch.Tensor  # (28, 28) uint8
    actual: int
    predicted: int
    probability: float  # the model's probability for what it predicted


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def count_parameters(clf) -> int:
    """How many numbers the fitted model holds: its network's parameters (every network classifier keeps
    it in `model_`), or its stored float tensors (pixel similarity's ideal digits)."""
    network = getattr(clf, "model_", None)
    if isinstance(network, torch.nn.Module):
        return sum(p.numel() for p in network.parameters())
    return sum(v.numel() for v in vars(clf).values() if isinstance(v, torch.Tensor) and v.is_floating_point())


@dataclass(frozen=True)
class Predictions:
    """What a model says about N images: `proba` (N, K) float32 on the CPU, columns in the order of
    `classes` (the model's digits), every number finite; `digits` the digit each image reads as (its
    most probable class; the first of a tie) and `top` that class's probability."""

    classes: list[int]
    proba: torch.Tensor
    digits: list[int]
    top: list[float]  # each image's largest probability, the one for its digit


def predict(clf, images: torch.Tensor, model: str = "the model") -> Predictions:
    """A fitted classifier's answers for `images` ((N, 28, 28) uint8, or float in [0, 1]), in batches of
    SCORE_BATCH; a model whose outputs are not numbers is the user's ModelError naming `model`. What
    `predict`, `evaluate`, the web page and `digitlab.read` all answer with."""
    classes = clf.classes_.tolist()
    proba = batched(lambda batch: clf.predict_proba(batch).float().cpu(), images, SCORE_BATCH, images.device)
    top, best = check_outputs(proba, model).max(1)  # (N, K) -> (N,) largest probabilities, their columns
    return Predictions(classes, proba, [classes[i] for i in best.tolist()], top.tolist())


def evaluate(clf, images: torch.Tensor, labels: torch.Tensor, worst: int = 9, model: str = "the model") -> dict:
    """Accuracy, calibration error (and its reliability bins), confusion matrix, predict time per
    image and the worst images of a fitted model."""
    classes = clf.classes_.cpu()
    start = time.perf_counter()
    proba = predict(clf, images, model).proba  # (N, K)
    seconds = time.perf_counter() - start
    predicted = proba.argmax(1)  # (N,) class indices, columns follow classes_
    actual = torch.searchsorted(classes, labels)  # (N,) digits -> class indices
    _, rows = metrics.top_losses(proba.clamp_min(1e-12).log(), actual, k=worst)  # -log p(actual)
    return {
        "accuracy": float((predicted == actual).float().mean()),
        "predicted": classes[predicted],  # (N,) digits
        "confusion": metrics.confusion_matrix(actual, predicted, len(classes)),
        "ece": metrics.expected_calibration_error(proba, actual),
        "reliability": {k: v.tolist() for k, v in metrics.reliability(proba, actual).items()},
        "seconds_per_image": seconds / max(1, len(labels)),
        "worst": [
            # a copy, not a view: a view keeps (and a pickled one carries) every image of the set
            Worst(images[i].cpu().clone(), int(labels[i]), int(classes[predicted[i]]), float(proba[i, predicted[i]]))
            for i in rows.tolist()
        ],
    }


CONFUSIONS_NAMED = 3  # the commonest misreadings a set's figures name (a model card's "known to misread")


def figures(scores: dict, digits, dataset: str, classes: list[int]) -> dict:
    """What `digitlab evaluate` prints and a model card records about one set of test digits, from
    `evaluate`'s scores on `digits` (a data.Digits; `dataset` its name as the user gives it): the
    count, accuracy, calibration error, confusion matrix and its commonest misreadings, and for the
    stress set its categories, for the corruption set its kinds (each with its accuracy)."""
    record = {"dataset": dataset, "images": len(digits.labels), "accuracy": scores["accuracy"], "ece": scores["ece"],
              "confusion": scores["confusion"].tolist(),
              "confusions": metrics.largest_confusions(scores["confusion"], classes, CONFUSIONS_NAMED)}
    if digits.source == "stress":
        from digitlab.data import stress

        record["by_category"] = stress.accuracy_by_category(scores["predicted"], digits.labels, digits.index)
    if digits.source in ("corrupted", "corrupted_raw"):
        from digitlab.data import corrupted

        record["by_kind"] = corrupted.accuracy_by_kind(scores["predicted"], digits.labels, digits.index)
    return record


def measure(clf, digits, dataset: str, model: str = "the model") -> dict:
    """`figures` of a fitted classifier on `digits`, checked first against the digits it knows: the one
    measurement behind `digitlab evaluate`'s lines, the compare job's and the shipped models' cards."""
    check_task(clf, digits.labels, model)
    scores = evaluate(clf, digits.images, digits.labels, worst=0, model=model)
    return figures(scores, digits, dataset, clf.classes_.tolist())


def check_outputs(proba: torch.Tensor, model: str) -> torch.Tensor:
    """`proba`, once every number in it is finite: weights that are finite but vast can still
    overflow to NaN, which argmax would read as a confident first class."""
    if not bool(torch.isfinite(proba).all()):
        raise ModelError(f"{model}: the model's outputs are not numbers (NaN or infinite); its weights "
                         "are damaged or diverged: train it again (with a lower --lr)")
    return proba


def load(folder: str | Path):
    """A saved classifier from its folder (the one place a saved model is loaded); a missing or damaged
    folder is the user's ModelError, naming it."""
    from digitlab import classifiers
    from digitlab.store import checkpoint

    path = Path(folder)
    checkpoint.recover(path)  # a save a killed process cut short is put right before the folder is looked at
    if not path.is_dir():
        raise ModelError(f"{path}: no such model folder; give a folder written by `digitlab compare` or "
                         "`digitlab train`")
    return classifiers.load(path)


def check_task(clf, labels: torch.Tensor, model: str) -> None:
    """A model trained on other digits than these cannot be scored on them."""
    known = set(clf.classes_.tolist())
    unknown = sorted(set(labels.tolist()) - known)
    if unknown:
        raise ModelError(
            f"{model}: the model knows the digits {sorted(known)} but the data also holds {unknown}; "
            "use the dataset the model was trained on (or train one on this dataset)"
        )


def options_of(method: str) -> set[str]:
    """The option names `classifiers.make(method, ...)` takes (pixel similarity has no epochs, lr or seed)."""
    from digitlab import classifiers

    return classifiers.CLASSES[method].options()


def device_option(method: str, device) -> dict:
    """{"device": device} for a method whose config depends on where it trains (the cnn: its preset's
    GPU form on a GPU), else {}: every other method trains wherever `fit` is told, and `make` refuses
    an option its method lacks."""
    return {"device": device} if "device" in options_of(method) else {}


def make(method: str, **options):
    """A new classifier of `method` with the options that are set (not None) in its defaults' place: the
    one place the commands' settings (--epochs, --lr, --seed, --recipe, the device, a CompareConfig
    plan) override a method's defaults. An option set that the method lacks is refused, never dropped:
    it would change nothing the user could see."""
    from digitlab import classifiers

    given = {k: v for k, v in options.items() if v is not None}
    if method in classifiers.CLASSES:
        accepted = options_of(method)
        unknown = sorted(set(given) - accepted)
        if unknown:
            raise DigitlabError(f"{unknown[0]}: the {method} method has no such option; "
                                f"its options are {', '.join(sorted(accepted))}")
    return classifiers.make(method, **given)


def with_overrides(clf, **options):
    """A loaded classifier whose config takes the options given (not None), e.g. more epochs on resume."""
    changes = {k: v for k, v in options.items() if v is not None}
    unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(clf.config)})
    if unknown:
        raise DigitlabError(f"--{unknown[0]}: a {clf.method} model has no such setting")
    clf.config = dataclasses.replace(clf.config, **changes)
    return clf


def parse_methods(text: str | None, option: str = "--methods") -> list[str]:
    """A comma list of method names (None: all of them), checked against classifiers.METHODS."""
    from digitlab.classifiers import METHODS

    if not text:
        return list(METHODS)
    methods = [m.strip() for m in text.split(",") if m.strip()]
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        named = ", ".join(unknown) or repr(text)
        raise DigitlabError(f"{option}: unknown method {named}; choose from {', '.join(METHODS)}")
    twice = [m for i, m in enumerate(methods) if m in methods[:i]]
    if twice:
        # Both runs would save to the same folder and print the same row: the second would hide the first.
        raise DigitlabError(f"{option}: {twice[0]} is named twice; give each method once")
    return methods
