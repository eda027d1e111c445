"""The number set: seeded images of numbers 2 to 8 digits long, to tune and measure how digitlab
reads a number left to right. Test only: no model trains on it.

Four categories, half of each dark ink on light and half light on dark:

- handwritten: held-out MNIST training digits, each cut to its ink, scaled 2-5x (bilinear), its
  size and baseline jittered, set side by side with a kind of gap (GAPS);
- typed: the number typed in one of the stress set's fonts at the font's own spacing, 20-140 px,
  hairline to heavy, slanted a little, on a larger page (the STIX family only in the held-out part);
- pen: digits drawn as the web page's pad draws them (glyphs.pen_ink), one pen for the number, on
  a wide pad 280 px high, with a kind of gap;
- photo: a handwritten or pen number inked on paper and photographed as the stress set's photos
  are (uneven light, a shadow, noise, blur, a turn of up to 5 degrees, JPEG).

Two parts. "choose" is for every choice (a splitter's thresholds, a setting); "held_out" is never
looked at while choosing, and reported on its own: its handwritten digits are other MNIST digits
(HANDWRITTEN_DIGITS), and it alone holds HELD_OUT_GAP (digits whose ink overlaps, a kind of damage
no choice has seen) and HELD_OUT_FONTS (a family of typefaces no choice has seen).

A third part, FIT, is not the set's: numbers of MNIST training digits below heldout.START (which the
models learn from anyway), drawn for the piece judge to learn from (trust/piece_training.py), never
scored.

Number i of a (part, category) is drawn from a generator seeded from (seed, part, category, i): the
same seed gives the same pixels, and any one can be made alone. Its length is LENGTHS[i % 7], its
polarity alternates every 7 numbers and its gap kind every 14.

How the ink is drawn: number_drawing.py. Scores: `accuracy`, `describe`."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from PIL import Image

from digitlab.data.glyphs import FONT_FILES
from digitlab.data.number_drawing import Box, compose, cropped, photographed, shifted, typed
from digitlab.errors import DataError

CATEGORIES = ("handwritten", "typed", "pen", "photo")
GAPS = ("wide", "normal", "touching", "overlapping")
HELD_OUT_GAP = "overlapping"  # only in the held-out part: no choice may see it
PARTS = ("choose", "held_out")  # the set's own parts, scored
FIT = "fit"  # numbers to learn from, not the set's (see above)
_DRAWS = PARTS + (FIT,)  # each part's place seeds its draws
PART_GAPS = {"choose": tuple(g for g in GAPS if g != HELD_OUT_GAP), "held_out": GAPS,
             FIT: ("touching", "normal", "touching")}  # the piece judge learns from the cuts of touching digits
# MNIST *training* indices each part's handwritten digits come from: heldout.CALIBRATION's
# 55,000-58,999, never the test set, never 59,000 on (the corruption set's digits).
HANDWRITTEN_DIGITS = {"choose": range(55_000, 58_500), "held_out": range(58_500, 59_000), FIT: range(0, 55_000)}
PER_CATEGORY = {"choose": 700, "held_out": 350}  # numbers per category: 100 (50) of each length
# The typed numbers' fonts: the STIX family only in the held-out part, so that no choice sees it
HELD_OUT_FONTS = tuple(f for f in FONT_FILES if f.startswith("STIX"))
PART_FONTS = {"choose": tuple(f for f in FONT_FILES if f not in HELD_OUT_FONTS), "held_out": FONT_FILES}
PART_FONTS[FIT] = PART_FONTS["choose"]
LENGTHS = range(2, 9)  # digits per number
SEED = 0
VERSION = "v1"  # bump when what the generator draws changes

MNIST_SCALE = (2.0, 5.0)  # a handwritten number's digits are its MNIST digits' ink this many times larger
SIZE_JITTER = 0.15  # each digit of a number is up to 15 % larger or smaller than the number's size
PAD_HEIGHT = 280  # the web page's pad is 280 px high; a pen number is drawn on a pad this high
PEN_SIDE = (0.45, 0.9)  # a pen digit is drawn in a square this share of the pad (its ink ~70 % of it)


@dataclass(frozen=True)
class Number:
    image: Image.Image  # mode "L", as a user's file would be decoded; any size
    text: str  # "3814"
    category: str
    gap: str | None  # None where the category has no gap kind (typed)
    # Each digit's ink box (x0, y0, x1, y1), x1/y1 exclusive, of its pixels at number_drawing.INK or
    # more (a photo's: approximate, turned); left to right by centre: a touching digit's box may
    # begin left of the one before, its ink reaching under that digit's
    boxes: tuple[Box, ...]
    part: str  # "choose" or "held_out" (or FIT)
    mnist_indices: tuple[int, ...] = ()  # the MNIST training digit each digit is (handwritten ink only)
    font: str = ""  # the font file a typed number is typed in


def number(category: str, i: int, part: str = "choose", seed: int = SEED, gaps: tuple[str, ...] | None = None) -> Number:
    """Number i of `category` in `part`, drawn alone; `gaps` the gap kinds taken in turn (the part's own
    when None; a model learning from FIT numbers may ask for others)."""
    _check_part(part)
    if category not in CATEGORIES:
        raise DataError(f"unknown number category {category!r}; choose one of {', '.join(CATEGORIES)}")
    rng = np.random.default_rng([seed, _DRAWS.index(part), CATEGORIES.index(category), i])
    digits = rng.integers(0, 10, LENGTHS[i % len(LENGTHS)])
    text = "".join(str(d) for d in digits)
    dark = (i // len(LENGTHS)) % 2 == 0  # dark ink on light paper
    gaps = PART_GAPS[part] if gaps is None else gaps
    gap = None if category == "typed" else gaps[(i // (2 * len(LENGTHS))) % len(gaps)]
    indices: tuple[int, ...] = ()
    font = ""
    if category == "typed":
        ink, boxes, font = typed(text, PART_FONTS[part], rng)
    elif category == "pen" or (category == "photo" and rng.random() < 0.5):
        ink, boxes = _pen(digits, gap, rng)
    else:
        ink, boxes, indices = _handwritten(digits, gap, part, rng)
    if category == "photo":
        image, boxes = photographed(ink, boxes, rng, dark)
    elif category == "pen":
        image, boxes = on_pad(ink, boxes, rng, dark)
    else:
        image, boxes = on_page(ink, boxes, rng, dark)
    return Number(image, text, category, gap, tuple(boxes), part, indices, font)


def build(part: str = "choose", per_category: int | None = None, seed: int = SEED) -> list[Number]:
    """The numbers of `part`, category by category, `per_category` of each (PER_CATEGORY[part] when
    None). The choose part takes 29 s of one core's time and its images 300 MB; held out 13 s,
    140 MB (each: the same numbers, none kept)."""
    return list(each(part, per_category, seed))


def each(part: str = "choose", per_category: int | None = None, seed: int = SEED) -> Iterator[Number]:
    """`build`'s numbers one at a time, drawn as they are asked for: none kept."""
    _check_part(part)
    count = PER_CATEGORY[part] if per_category is None else per_category
    return (number(category, i, part, seed) for category in CATEGORIES for i in range(count))


def _check_part(part: str) -> None:
    if part not in _DRAWS:
        raise DataError(f"unknown part of the number set {part!r}; choose one of {', '.join(PARTS)}")


# ---------------------------------------------------------------------------------------------
# The categories' ink
# ---------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=len(_DRAWS))
def _mnist_digits(part: str) -> tuple[np.ndarray, list[np.ndarray]]:
    """(images (n, 28, 28) of MNIST's training file, [each digit's indices into it]) for `part`'s range."""
    from digitlab.data.shipped_mnist import mnist_arrays

    images, labels = mnist_arrays("train")
    where = np.asarray(HANDWRITTEN_DIGITS[part])
    return images, [where[labels[where] == d] for d in range(10)]


def _handwritten(digits: np.ndarray, gap: str, part: str,
                 rng: np.random.Generator) -> tuple[np.ndarray, list[Box], tuple[int, ...]]:
    glyphs, indices = handwritten_glyphs(digits, part, rng)
    ink, boxes = compose(glyphs, gap, rng)
    return ink, boxes, indices


def handwritten_glyphs(digits: np.ndarray, part: str,
                       rng: np.random.Generator) -> tuple[list[np.ndarray], tuple[int, ...]]:
    """(each digit's ink: a held-out MNIST digit of `part`'s range, cut to its ink and scaled as the
    number's digits are, the MNIST indices)."""
    images, by_digit = _mnist_digits(part)
    indices = tuple(int(rng.choice(by_digit[d])) for d in digits)
    scale = rng.uniform(*MNIST_SCALE)
    glyphs = []
    for index in indices:
        ink = Image.fromarray(cropped(images[index]))
        factor = scale * rng.uniform(1 - SIZE_JITTER, 1 + SIZE_JITTER)
        size = (max(1, round(ink.width * factor)), max(1, round(ink.height * factor)))
        glyphs.append(np.asarray(ink.resize(size, Image.Resampling.BILINEAR), dtype=np.float32))
    return glyphs, indices


def _pen(digits: np.ndarray, gap: str, rng: np.random.Generator) -> tuple[np.ndarray, list[Box]]:
    """Digits drawn with one pen (4-30 px wide, as the pad's users draw) at one size, side by side."""
    glyphs, _ = pen_glyphs(digits, rng)
    return compose(glyphs, gap, rng)


def pen_glyphs(digits: np.ndarray, rng: np.random.Generator) -> tuple[list[np.ndarray], float]:
    """(each digit's ink drawn with one pen at one size, as `_pen` sets them side by side; the pen's
    width in px)."""
    from digitlab.data.glyphs import pen_ink

    side = PAD_HEIGHT * rng.uniform(*PEN_SIDE)
    width = float(rng.choice([rng.uniform(4, 10), rng.uniform(10, 18), rng.uniform(18, 30)])) * side / PAD_HEIGHT
    glyphs = []
    for digit in digits:
        square = round(side * rng.uniform(1 - SIZE_JITTER / 2, 1 + SIZE_JITTER / 2))
        ink = pen_ink(int(digit), rng, square, width * PAD_HEIGHT / square)  # pen_ink's width is on a 280 px pad
        glyphs.append(cropped(np.asarray(ink, dtype=np.float32)))
    return glyphs, width


def _polarity(ink: np.ndarray, dark: bool) -> Image.Image:
    grey = np.clip(np.rint(ink), 0, 255).astype(np.uint8)
    return Image.fromarray(255 - grey if dark else grey)


def on_page(ink: np.ndarray, boxes: list[Box], rng: np.random.Generator, dark: bool) -> tuple[Image.Image, list[Box]]:
    """The ink with margins of 0.1 to 1.2 digit heights on every side, in its polarity."""
    height = int(np.median([y1 - y0 for _, y0, _, y1 in boxes]))
    left, top, right, bottom = (int(rng.uniform(0.1, 1.2) * height) for _ in range(4))
    return _polarity(np.pad(ink, ((top, bottom), (left, right))), dark), shifted(boxes, left, top)


def on_pad(ink: np.ndarray, boxes: list[Box], rng: np.random.Generator, dark: bool) -> tuple[Image.Image, list[Box]]:
    """The ink on a wide pad PAD_HEIGHT high (higher only where the number is), at a random height,
    with 10-80 px of pad left and right."""
    h, w = ink.shape
    pad_height = max(PAD_HEIGHT, h + 8)
    top = int(rng.integers(4, pad_height - h - 3))
    left, right = (int(rng.integers(10, 81)) for _ in range(2))
    padded = np.pad(ink, ((top, pad_height - h - top), (left, right)))
    return _polarity(padded, dark), shifted(boxes, left, top)


# ---------------------------------------------------------------------------------------------
# Scores
# ---------------------------------------------------------------------------------------------

def _edits(a: str, b: str) -> int:
    """Levenshtein's distance: the fewest insertions, deletions and substitutions from a to b."""
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        previous, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (ca != cb))
    return row[-1]


def digit_accuracy(read: str, text: str) -> float:
    """1 - edits(read, text) / len(text), at least 0: a digit missed, added or wrong costs one
    ('?', a digit not read, is a wrong one)."""
    return max(0.0, 1 - _edits(read, text) / len(text))


def _scores(read: list[str], numbers: list[Number]) -> dict:
    return {"whole": float(np.mean([r == n.text for r, n in zip(read, numbers)])) if numbers else 0.0,
            "digits": float(np.mean([digit_accuracy(r, n.text) for r, n in zip(read, numbers)])) if numbers else 0.0,
            "count": len(numbers)}


def _grouped(read: list[str], numbers: list[Number], key, names) -> dict:
    groups = {}
    for name in names:
        pairs = [(r, n) for r, n in zip(read, numbers) if key(n) == name]
        if pairs:
            groups[name] = _scores([r for r, _ in pairs], [n for _, n in pairs])
    return groups


def accuracy(read: list[str], numbers: list[Number]) -> dict:
    """{"whole": the share read exactly, "digits": the mean digit_accuracy, "count", and the same
    per category ("by_category"), per length ("by_length": "2-4", "5-8") and per gap kind ("by_gap")}."""
    if len(read) != len(numbers):
        raise ValueError(f"{len(read)} readings for {len(numbers)} numbers")
    return {**_scores(read, numbers),
            "by_category": _grouped(read, numbers, lambda n: n.category, CATEGORIES),
            "by_length": _grouped(read, numbers, lambda n: "2-4" if len(n.text) <= 4 else "5-8", ("2-4", "5-8")),
            "by_gap": _grouped(read, numbers, lambda n: n.gap, GAPS)}


def describe(result: dict) -> str:
    """A few lines for evaluate and RESULTS.md: the whole and digit accuracies, then by group."""
    def line(name: str, s: dict) -> str:
        return f"{name:<12} whole {s['whole']:7.2%}  digits {s['digits']:7.2%}  ({s['count']:,} numbers)"

    lines = [line("all", result)]
    for group in ("by_category", "by_length", "by_gap"):
        lines += ["  " + line(name, scores) for name, scores in result[group].items()]
    return "\n".join(lines)
