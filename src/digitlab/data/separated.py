"""Numbers with marks between their digits, as people write dates, phone numbers, decimals and times
("12/05", "555-1234", "3.14", "12:30"): seeded images, test only, to measure what reading numbers
does with a mark that is not a digit. The reader reads digits: a mark may be left out or shown as
the `?` of a declined digit, but never read as a digit, and the digits around it must still be read.

Three categories, half of each dark ink on light and half light on dark, each drawn as numbers.py
draws its own (its glyph helpers, its page and pad): handwritten (held-out MNIST digits, the marks
drawn with a pen as thick as their strokes), pen (digits and marks with one pen, as the web page's
pad draws them) and typed (the whole text in one of the number set's fonts).

Two parts, as the number set's: "choose" for choices, and "held_out", reported apart, whose
handwritten digits are other MNIST digits, whose typed ones use the held-out font family, and which
alone holds HELD_OUT_MARK (a mark no choice has seen). Number i of a (part, category) is drawn from a
generator seeded from (seed, part, category, i).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from digitlab.data import numbers
from digitlab.data.glyphs import pen_stroke
from digitlab.data.number_drawing import Box, compose, typed
from digitlab.errors import DataError

CATEGORIES = ("handwritten", "pen", "typed")
# Each mark's forms, "d" a digit: a date, a phone number, a decimal, a time.
FORMS = {"/": ("dd/dd", "dd/dd/dddd", "d/dd"), "-": ("ddd-dddd", "dd-dd", "dddd-dd-dd"),
         ".": ("d.dd", "dd.d", "ddd.dd"), ":": ("dd:dd", "d:dd")}
HELD_OUT_MARK = ":"  # only in the held-out part
PART_MARKS = {"choose": tuple(m for m in FORMS if m != HELD_OUT_MARK), "held_out": tuple(FORMS)}
PER_CATEGORY = {"choose": 150, "held_out": 120}
GAPS = ("normal", "wide")  # marks are written apart from their digits (touching is the number set's)
SEED = 0


@dataclass(frozen=True)
class Marked:
    image: Image.Image  # mode "L", any size
    text: str  # as written: "12/05"
    category: str
    part: str
    boxes: tuple[Box, ...]  # each character's ink box, marks too, left to right

    @property
    def digits(self) -> str:
        """What a reader of digits should read: the text without its marks ("1205")."""
        return "".join(c for c in self.text if c.isdigit())


def marked(category: str, i: int, part: str = "choose", seed: int = SEED) -> Marked:
    """Number i of `category` in `part`, drawn alone."""
    if part not in PART_MARKS:
        raise DataError(f"unknown part {part!r}; choose one of {', '.join(PART_MARKS)}")
    if category not in CATEGORIES:
        raise DataError(f"unknown category {category!r}; choose one of {', '.join(CATEGORIES)}")
    rng = np.random.default_rng([seed, 10 + list(PART_MARKS).index(part), CATEGORIES.index(category), i])
    marks = PART_MARKS[part]
    mark = marks[i % len(marks)]
    form = FORMS[mark][(i // len(marks)) % len(FORMS[mark])]
    text = "".join(str(rng.integers(10)) if c == "d" else c for c in form)
    dark = (i // 7) % 2 == 0
    if category == "typed":
        ink, boxes = _typed(text, numbers.PART_FONTS[part], rng)
        image, boxes = numbers.on_page(ink, boxes, rng, dark)
        return Marked(image, text, category, part, tuple(boxes))
    digits = np.array([int(c) for c in text if c.isdigit()])
    if category == "pen":
        glyphs, pen = numbers.pen_glyphs(digits, rng)
    else:
        glyphs, _ = numbers.handwritten_glyphs(digits, part, rng)
    height = float(np.median([g.shape[0] for g in glyphs]))
    if category != "pen":
        pen = height * rng.uniform(0.1, 0.16)  # MNIST's strokes, scaled with them
    glyphs = iter(glyphs)
    drawn = [next(glyphs) if c.isdigit() else mark_ink(c, height, pen, rng) for c in text]
    ink, boxes = compose(drawn, GAPS[(i // 14) % len(GAPS)], rng)
    place = numbers.on_pad if category == "pen" else numbers.on_page
    image, boxes = place(ink, boxes, rng, dark)
    return Marked(image, text, category, part, tuple(boxes))


def _typed(text: str, fonts: tuple[str, ...], rng: np.random.Generator) -> tuple[np.ndarray, list[Box]]:
    """number_drawing.typed's ink and boxes; a number whose mark the draw left without ink (a colon's dots
    thinned and stroked light) is drawn again, in the font, size and weight the generator draws next."""
    for _ in range(len(fonts)):
        try:
            ink, boxes, _ = typed(text, fonts, rng)
            return ink, boxes
        except DataError:
            continue
    raise DataError(f"no font of {len(fonts)} typed {text!r}")


def each(part: str = "choose", per_category: int | None = None, seed: int = SEED) -> Iterator[Marked]:
    """The part's numbers, category by category, drawn as they are asked for."""
    count = PER_CATEGORY[part] if per_category is None else per_category
    return (marked(category, i, part, seed) for category in CATEGORIES for i in range(count))


def mark_ink(mark: str, height: float, pen: float, rng: np.random.Generator) -> np.ndarray:
    """A mark drawn with a round pen `pen` px wide, as (height, w) ink whose rows are the digits' own
    (its foot on their baseline): a dash across the middle, a slash leaning right over the whole
    height, a dot on the baseline, a colon's two dots."""
    h = max(4, round(height))
    r = pen / 2
    w = {"-": 0.45, "/": 0.55, ".": 0.0, ":": 0.0}[mark] * h + 2 * pen + 2
    canvas = Image.new("L", (max(3, round(w)), h), 0)
    draw = ImageDraw.Draw(canvas)
    jitter = rng.uniform(-0.04, 0.04, 4) * h
    if mark == "-":
        y = rng.uniform(0.45, 0.6) * h
        pen_stroke(draw, [(pen, y + jitter[0]), (w - pen, y + jitter[1])], pen)
    elif mark == "/":
        pen_stroke(draw, [(pen + jitter[0], h - r - 1), (w - pen + jitter[1], r + 1)], pen)
    else:
        spots = [h - r - 1] if mark == "." else [rng.uniform(0.3, 0.4) * h, h - r - 1 - rng.uniform(0, 0.1) * h]
        for y in spots:
            draw.ellipse([w / 2 - r * 1.2, y - r * 1.2, w / 2 + r * 1.2, y + r * 1.2], fill=255)
    return np.asarray(canvas, dtype=np.float32)


def marks_read_as_digits(read: str, number: Marked) -> bool:
    """Whether `read` (a reading of `number`, "?" for a declined digit) holds more digits than the
    number does: a mark was read as a digit."""
    return sum(c.isdigit() for c in read) > len(number.digits)


def read_right(read: str, number: Marked) -> bool:
    """Whether `read`, its "?"s taken out, is the number's digits: every digit read, no mark read as one."""
    return read.replace("?", "") == number.digits
