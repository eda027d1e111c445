"""Declining to answer: when digitlab says no digit, not a digit, several digits or unsure instead of
a digit, and `read`, the Python API that answers one image with its reason.

Every answer, whatever method gives it, passes the same checks in this order:

- "no digit": the image is blank (to_mnist found no ink, or a 28 x 28 input holds less than NO_INK);
- "not a digit" / "several digits": the gate (gate.py) does not see one digit;
- "unsure": the model's top probability is under UNSURE for its method.

A model trained on fewer than ten digits answers only with those, so every answer of one names them
(`note`): a 4 shown to the 3-vs-7 model is read as a 3 or a 7, and the reader must know that.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

import torch

NO_DIGIT, NOT_A_DIGIT, SEVERAL, UNSURE_REASON = "no digit", "not a digit", "several digits", "unsure"
REASONS = (NO_DIGIT, NOT_A_DIGIT, SEVERAL, UNSURE_REASON)
NO_INK = 5.0  # total ink (pixels in [0, 1], summed) under which a 28 x 28 is blank: MNIST's least-inked
#               training digit holds 19.9, its 0.01th percentile 23.2

# The top probability under which a method's answer is "unsure": for each shipped model, the lowest
# that still answers 99.5 % of MNIST's held-out digits (heldout.CALIBRATION), of the stress set and
# of calibration digits under the corruption set's seen kinds, each (after the gate). Chosen by
# benchmarks/decline_thresholds.py, which prints this table again when a model or its probabilities
# change (calibration, say): rerun it and paste. A method not listed (resnet18) uses UNSURE_OTHER.
# 2026-12-07 (01:01 UTC), every shipped model recalibrated on a fifth of its calibration digits damaged
# (heldout.DAMAGED_EVERY 4; it was a third on 2026-12-06 20:12 UTC: pixel 0.361, linear 0.295,
# simple_net 0.418, cnn 0.471), the gate as it was. The cnn's again 2026-12-07 (12:50 UTC) for the cnn shipped
# then (outlined strokes among its clutter): 0.482 -> 0.536 (the stress set's quantile; the others unchanged);
# and 2026-12-07 (14:39 UTC) for the cnn shipped then (lines on 15 % of its digits): 0.536 -> 0.546. Pixel's
# 2026-12-07 (17:37 UTC) for the pixel shipped then (30 ideal digits a class of cluttered copies): 0.371 ->
# 0.32 (the damaged digits' quantile; held-out 0.498, stress 0.360).
UNSURE = {"pixel": 0.32, "linear": 0.3, "simple_net": 0.436, "cnn": 0.546}
UNSURE_OTHER = 0.5


def unsure_threshold(method: str) -> float:
    return UNSURE.get(method, UNSURE_OTHER)


def blank(images: torch.Tensor) -> torch.Tensor:
    """(N, 28, 28) in [0, 1] -> (N,) bool: almost no ink."""
    return images.float().flatten(1).sum(1) < NO_INK


def screen(images: torch.Tensor, gate=None) -> list[str | None]:
    """What every model's answer shares: "no digit" for a blank image, the gate's "not a digit" or
    "several digits", else None. `images` (N, 28, 28) in [0, 1]; `gate` a gate.Gate (the shipped one
    when None). Both judge the image as the models read it (input_cleaning): a digit on a grey page
    is a digit, and a grey page alone is blank."""
    from digitlab.trust import gate as gates
    from digitlab.vision.input_cleaning import cleaned

    images = cleaned(images.float())
    verdicts = (gate or gates.shipped()).verdicts(images)
    return [NO_DIGIT if e else v for e, v in zip(blank(images).tolist(), verdicts)]


def reasons(images: torch.Tensor, proba: torch.Tensor, method: str = "cnn", gate=None,
            screened: list[str | None] | None = None) -> list[str | None]:
    """Why each answer is declined, or None where it stands: `images` (N, 28, 28) float in [0, 1] as
    the model saw them, `proba` (N, K) its probabilities, `method` the model's (for UNSURE); `screened`
    is screen(images) when already made (the web server asks once for all its models)."""
    screened = screen(images, gate) if screened is None else screened
    unsure = (proba.float().max(1).values < unsure_threshold(method)).tolist()
    return [s if s else UNSURE_REASON if u else None for s, u in zip(screened, unsure)]


def note(classes: list[int]) -> str | None:
    """What a reader must know about a model trained on fewer than ten digits, else None."""
    if len(classes) >= 10:
        return None
    return f"this model knows only {', '.join(map(str, classes[:-1]))} and {classes[-1]}"


@dataclass(frozen=True)
class Answer:
    """One image's answer: `label` None when `declined` says why; `probability` the top one (0 for a
    blank image, which no model saw); `probabilities` one per class of `classes`."""

    label: int | None
    probability: float
    declined: str | None
    classes: list[int]
    probabilities: list[float] = dataclasses.field(default_factory=list)

    @property
    def note(self) -> str | None:
        return note(self.classes)


def method_of(clf) -> str:
    return getattr(clf, "method", "") or type(clf).__name__


def answers(clf, images: torch.Tensor, decline: bool = True) -> list[Answer]:
    """Each of `images` ((N, 28, 28) in [0, 1]) answered by `clf`, or declined with its reason."""
    from digitlab import service

    said = service.predict(clf, images, method_of(clf))  # proba (N, K), columns follow classes
    why = reasons(images, said.proba, method_of(clf)) if decline else [None] * len(images)
    return [Answer(None if because else digit, top, because, said.classes, row)
            for row, digit, top, because in zip(said.proba.tolist(), said.digits, said.top, why)]


def classifier(model=None):
    """`model` as a classifier: one already, a model folder loaded (service.load), or None: the shipped cnn."""
    from digitlab import pretrained, service

    if hasattr(model, "predict_proba"):
        return model
    return service.load(model) if model else pretrained.load("cnn")


def read(image, model=None, decline: bool = True) -> Answer:
    """One image answered: a path (read as `digitlab predict` reads it, mnist_style.prepare), bytes or a
    PIL image of one digit (cleaned by mnist_style.to_mnist), or a (28, 28) tensor (float in [0, 1] or
    uint8; the model cleans it, input_cleaning).
    `model` is a classifier, a model folder, or None for the shipped cnn. With decline=False, the
    model's answer whatever it is (a blank file still has no answer: "no digit").

        >>> digitlab.read("photo.png")
        Answer(label=7, probability=0.97, declined=None, classes=[0, 1, ..., 9], ...)
    """
    from digitlab.errors import BlankImage
    from digitlab.vision import mnist_style

    clf = classifier(model)
    classes = clf.classes_.tolist()
    if isinstance(image, torch.Tensor):
        seen = image.float() / 255 if image.dtype == torch.uint8 else image.float()
        if seen.shape != (28, 28):
            from digitlab.errors import DataError

            raise DataError(f"image tensor is {tuple(seen.shape)}; give one (28, 28) MNIST-style image")
    elif isinstance(image, (str, os.PathLike)):  # a file: predict's own routing (mnist_style.prepare)
        from digitlab.data.folders import read_small_pngs

        small, at, heads = read_small_pngs([str(image)])
        seen, _ = mnist_style.prepare(small, at, [heads[0] or str(image)], [str(image)], blanks=True)
        seen = seen[0]
        if not seen.any():  # read as the black square it is: no ink
            return Answer(None, 0.0, NO_DIGIT, classes)
    else:
        try:
            seen = mnist_style.to_mnist(image, "image")
        except BlankImage:
            return Answer(None, 0.0, NO_DIGIT, classes)
    return answers(clf, seen[None], decline)[0]
