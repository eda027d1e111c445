"""What the commands, the compare job, the web page and the report share: a classifier made from the
options set (`make`, `with_overrides`, `options_of`), loaded (`load_model`), checked against a task's
digits (`check_task`), evaluated in batches (`evaluate`: accuracy, confusion, calibration, the worst
images), and the methods a `--methods` list names (`parse_methods`)."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from digitlab import metrics
from digitlab.errors import DigitlabError, ModelError


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
    """How many numbers the fitted model holds: its network's parameters, or its stored tensors."""
    for name in ("model_", "net_", "module_"):
        module = getattr(clf, name, None)
        if isinstance(module, torch.nn.Module):
            return sum(p.numel() for p in module.parameters())
    return sum(v.numel() for v in vars(clf).values() if isinstance(v, torch.Tensor) and v.is_floating_point())


def evaluate(clf, images: torch.Tensor, labels: torch.Tensor, worst: int = 9, model: str = "the model") -> dict:
    """Accuracy, calibration error (and its reliability bins), confusion matrix, predict time per
    image and the worst images of a fitted model."""
    classes = clf.classes_.cpu()
    start = time.perf_counter()
    proba = torch.cat([clf.predict_proba(batch).float().cpu() for batch in images.split(SCORE_BATCH)])
    proba = check_outputs(proba, model)  # (N, K)
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
            Worst(images[i].cpu(), int(labels[i]), int(classes[predicted[i]]), float(proba[i, predicted[i]]))
            for i in rows.tolist()
        ],
    }


def check_outputs(proba: torch.Tensor, model: str) -> torch.Tensor:
    """`proba`, once every number in it is finite: weights that are finite but vast can still
    overflow to NaN, which argmax would read as a confident first class."""
    if not bool(torch.isfinite(proba).all()):
        raise ModelError(f"{model}: the model's outputs are not numbers (NaN or infinite); its weights "
                         "are damaged or diverged: train it again (with a lower --lr)")
    return proba


def load_model(folder: str | Path):
    """A saved classifier from its folder; a missing or damaged folder is the user's ModelError."""
    from digitlab import classifiers

    path = Path(folder)
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


def make(method: str, **options):
    """classifiers.make with the options this method has and that are set (not None): the one place
    the commands' settings (--epochs, --lr, --seed, --recipe, the device, a CompareConfig plan)
    override a method's defaults."""
    from digitlab import classifiers

    accepted = options_of(method)
    return classifiers.make(method, **{k: v for k, v in options.items() if v is not None and k in accepted})


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
