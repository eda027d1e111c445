"""What the page and API say about an image of one digit or a number: the digits found once
(reading.find_digits), every model's answer for each, put together as each model's number.

Every model reads the same digits: where to cut two that touch is the split's choice, made once
(reading.py says why), not each model's. The answers come from the batched forward passes
(app.predict: service.predict, then decline.reasons); the number's text from reading.Number, as
`digitlab predict` and `digitlab.read_number` put it together.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass

import torch
from PIL import Image

from digitlab import reading
from digitlab.vision.splitting import Digit

GAP = 4  # px between the digits of a number in the picture of what the models saw


@dataclass(frozen=True)
class Found:
    """One upload's digits, in reading order, and whether the image as a whole is declined as not
    digits at all (reading.not_digits: a scribble's parts; the same for every model)."""

    digits: list[Digit]
    declined: str | None

    @property
    def images(self) -> torch.Tensor:
        return torch.stack([d.image for d in self.digits])  # (n, 28, 28)


def find(body: bytes, name: str = "upload") -> Found:
    """The digits in an upload's bytes; reading.find_digits's errors (DataError, BlankImage) pass through."""
    from digitlab.trust.decline import NOT_A_DIGIT, screen

    digits = reading.find_digits(body, name)
    reasons = screen(torch.stack([d.image for d in digits])) if len(digits) > 1 else []  # the gate's, every model's
    return Found(digits, NOT_A_DIGIT if len(digits) > 1 and reading.not_digits(digits, reasons) else None)


def warm_up() -> None:
    """Load what splitting a number needs (the gate and the shipped cnn that judge cuts) before the first
    upload, once: otherwise the first number waits for it, and two decoding threads may both load it."""
    reading.judge(torch.zeros(1, 28, 28))


def png_base64(image: torch.Tensor) -> str:
    """(H, W) float in [0, 1] -> base64 of a greyscale PNG."""
    buffer = io.BytesIO()
    Image.fromarray((image * 255).round().to(torch.uint8).numpy(), mode="L").save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def seen(found: Found) -> str:
    """What the models saw, as a PNG: the one digit's 28 x 28, or a number's digits side by side."""
    images = list(found.images)
    if len(images) == 1:
        return png_base64(images[0])
    strip = torch.zeros(28, 28 * len(images) + GAP * (len(images) - 1))
    for k, image in enumerate(images):
        strip[:, k * (28 + GAP):k * (28 + GAP) + 28] = image
    return png_base64(strip)


def answer(found: Found, said: list[list[dict]]) -> dict:
    """The JSON's "predictions" and "digits" from app.predict's answers for each digit (`said[k]`, every
    model's in METHODS order). One digit: each prediction as it always was, and its "number". Several:
    each prediction's "number" ("4?2": a digit declined; null: the image declined, as "declined"
    says) with "label" null and no "probabilities" (a number has no one distribution). "digits" gives
    each digit's box in the upload's pixels, its 28 x 28 picture and every model's answer; "read" (only
    where it differs from the cnn's own) the number as `digitlab predict` reads it, with the strip
    reader's digits where digits touch."""
    methods = [a["method"] for a in said[0]]
    if len(found.digits) == 1:
        predictions = [{**a, "number": None if a["declined"] else str(a["label"])} for a in said[0]]
    else:
        predictions = [_number(found, [row[m] for row in said]) for m in range(len(methods))]
    read = _read_as_predict(found, said, methods)
    digits = [{
        "box": list(digit.box),
        "line": digit.line,
        "image": png_base64(digit.image),
        "answers": {a["method"]: {"label": a["label"], "probability": round(max(a["probabilities"]), 6),
                                  "declined": a["declined"]} for a in answers},
    } for digit, answers in zip(found.digits, said)]
    return {"predictions": predictions, "digits": digits, **({"read": read} if read else {})}


def _read_as_predict(found: Found, said: list[list[dict]], methods: list[str]) -> str | None:
    """The number as `digitlab predict` reads it (reading.strip_reads: the cnn's digits, the strip
    reader's where it steered a cut through digits that touch or read a digit the cnn was unsure of),
    where that is not the served cnn's own number; else None. The cards show each method's own reading of every piece: the page compares them."""
    twice = reading.SINGLE_STRIP_SURE is not None and len(found.digits) > 1
    if not reading.STRIP_DIGITS or "cnn" not in methods or (all(d.said is None for d in found.digits) and not twice):
        return None
    answers = [row[methods.index("cnn")] for row in said]
    own = _digit_reads(found, answers)
    read = reading.strip_reads(found.digits, own, answers[0]["classes"], bool(found.declined))
    text = reading.Number(read, answers[0]["classes"], found.declined).text
    return text if text != reading.Number(own, answers[0]["classes"], found.declined).text else None


def _digit_reads(found: Found, answers: list[dict]) -> list[reading.DigitRead]:
    """One model's answer for each digit found (`answers`, app.predict's), as reading.DigitReads."""
    return [reading.DigitRead(a["label"], max(a["probabilities"]), a["declined"], d.box, d.line, d.image)
            for a, d in zip(answers, found.digits)]


def _number(found: Found, answers: list[dict]) -> dict:
    """One model's prediction for a number: `answers` its answer for each digit."""
    number = reading.Number(_digit_reads(found, answers), answers[0]["classes"], found.declined)
    first = answers[0]
    return {"method": first["method"], "label": None, "declined": found.declined, "classes": first["classes"],
            "number": number.text, **({"note": first["note"]} if "note" in first else {})}
