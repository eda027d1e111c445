"""The stress set: digits that did not come from MNIST, to measure how a model reads other people's.

A seeded generator draws each image from scratch (no network, no files but the fonts that ship with
matplotlib: DejaVu, STIX and Computer Modern), in four categories of PER_CATEGORY images each:

- fonts: typed digits in 21 fonts, from hairline (eroded) to heavy (stroked) weights, slanted,
  at several sizes and positions;
- pen: strokes drawn as the web page's 280 x 280 canvas draws them (round caps and joins, white
  on black), through hand-written skeletons of each digit, at pen widths from 4 to 44 px;
- photo: a pen or font digit inked on paper (or chalk on a board), with uneven light, a shadow,
  blur, sensor noise, a turn of up to 15 degrees and JPEG compression;
- small: digits 7 to 16 px tall, shown 3 to 8 times larger (nearest or bilinear).

Half of every category is dark ink on light and half light on dark. Each raw image then goes
through `mnist_style.to_mnist`, as a user's file would, so the set measures the preprocessing too.
It is for testing only: `data.load("stress", "train")` refuses, so no model ever trains on it.

Image i of a category draws from a generator seeded from (seed, category, i): the same seed gives
the same bytes, and any slice of the set can be made alone.

The fonts and pen strokes the digits are drawn with: glyphs.py."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter, ImageOps

from digitlab.data.glyphs import any_ink, font_ink, pen_ink


CATEGORIES = ("fonts", "pen", "photo", "small")
PER_CATEGORY = 1250  # images per category: 125 of each digit, 5,000 in all
SEED = 0  # the shipped set's seed; figures in RESULTS.md and the report are on this one
VERSION = "v1"  # bump when what the generator draws changes


def _rng(seed: int, category: str, i: int) -> np.random.Generator:
    return np.random.default_rng([seed, CATEGORIES.index(category), i])


def _polarity(ink: Image.Image, dark_on_light: bool) -> Image.Image:
    return Image.eval(ink, lambda v: 255 - v) if dark_on_light else ink


def _fonts(digit: int, rng: np.random.Generator, dark: bool) -> Image.Image:
    ink = font_ink(digit, rng, side=int(rng.choice([96, 160, 256])))
    # Placed off-centre on a larger page of its own shape, as a crop of a document would be.
    w, h = ink.size
    page = Image.new("L", (int(w * rng.uniform(1.0, 1.6)), int(h * rng.uniform(1.0, 1.6))), 0)
    page.paste(ink, (int(rng.integers(0, page.width - w + 1)), int(rng.integers(0, page.height - h + 1))))
    return _polarity(page, dark)


def _pen(digit: int, rng: np.random.Generator, dark: bool) -> Image.Image:
    return _polarity(pen_ink(digit, rng), dark)


def _photo(digit: int, rng: np.random.Generator, dark: bool) -> Image.Image:
    """Ink on paper (dark) or chalk on a board (light), lit unevenly, shadowed, blurred, noisy, turned, JPEG."""
    side = int(rng.integers(200, 400))
    glyph = any_ink(digit, rng, 256)
    size = int(side * rng.uniform(0.35, 0.7))
    glyph = glyph.resize((size, size), Image.Resampling.BOX)
    # The page is drawn 1.5x larger and cropped after the turn, so no corner of it shows.
    crop_side, side = side, int(side * 1.5)
    margin = (side - crop_side) // 2
    alpha = Image.new("L", (side, side), 0)
    alpha.paste(glyph, (margin + int(rng.integers(0, crop_side - size)), margin + int(rng.integers(0, crop_side - size))))
    grey = on_paper(np.asarray(alpha, dtype=np.float64) / 255, rng, dark, centre=(0.5, 0.5))
    image = Image.fromarray(np.clip(grey, 0, 255).astype(np.uint8))
    image = image.rotate(float(rng.uniform(-15, 15)), resample=Image.Resampling.BICUBIC)
    image = image.crop((margin, margin, margin + crop_side, margin + crop_side))
    image = image.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.3, 1.6))))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=int(rng.integers(30, 90)))
    return Image.open(io.BytesIO(buffer.getvalue()))


def on_paper(a: np.ndarray, rng: np.random.Generator, dark: bool, centre: tuple[float, float] | None = None) -> np.ndarray:
    """(H, W) ink in [0, 1] -> (H, W) float grey of a photo of it: ink on paper (dark) or chalk on a board
    (light), lit unevenly along a random direction, a shadow's soft-edged half-plane across it (darker by
    a fifth to a third, its edge about `centre`, in shares of the longer side; the grid's own mean when
    None), and sensor noise. The photo numbers (number_drawing.photographed) are lit the same way."""
    side = max(a.shape)
    yy, xx = np.mgrid[0:a.shape[0], 0:a.shape[1]] / side
    theta = rng.uniform(0, 2 * math.pi)
    along = np.cos(theta) * xx + np.sin(theta) * yy  # (H, W), the light's direction
    if dark:
        paper = rng.uniform(150, 235) + rng.uniform(-40, 40) * (along - along.mean())
        ink_level = paper - rng.uniform(70, 140)
    else:
        paper = rng.uniform(20, 70) + rng.uniform(-25, 25) * (along - along.mean())
        ink_level = paper + rng.uniform(90, 170)
    cx, cy = centre or (xx.mean(), yy.mean())
    phi = rng.uniform(0, 2 * math.pi)
    edge = np.cos(phi) * (xx - cx) + np.sin(phi) * (yy - cy) - rng.uniform(-0.3, 0.5)
    shade = 1 - rng.uniform(0.2, 0.35) / (1 + np.exp(-edge * 25))
    grey = (paper * (1 - a) + ink_level * a) * shade
    return grey + rng.normal(0, rng.uniform(2, 9), grey.shape)  # sensor noise


def _small(digit: int, rng: np.random.Generator, dark: bool) -> Image.Image:
    """A digit 8-16 px tall in an image barely larger, then shown 3-8x larger."""
    height = int(rng.integers(8, 17))
    ink = ImageOps.expand(any_ink(digit, rng, 192, heavy=False), 64)  # room for the margin below
    left, top, right, bottom = ink.getbbox() or (0, 0, ink.width, ink.height)
    scale = height / (bottom - top)
    pad = int(rng.integers(1, 4)) / scale  # 1-3 px of background around the digit
    box = (left - pad, top - pad, right + pad, bottom + pad)
    size = (max(1, round((box[2] - box[0]) * scale)), max(1, round((box[3] - box[1]) * scale)))
    small = ink.resize(size, Image.Resampling.BOX, box=box)  # anti-aliased, as a small scan is
    small = _polarity(small, dark)
    factor = int(rng.integers(3, 9))
    resample = Image.Resampling.NEAREST if rng.random() < 0.5 else Image.Resampling.BILINEAR
    return small.resize((small.width * factor, small.height * factor), resample)


MAKERS = {"fonts": _fonts, "pen": _pen, "photo": _photo, "small": _small}


def raw_image(category: str, i: int, seed: int = SEED) -> tuple[Image.Image, int]:
    """Image i of `category` as a user would bring it, and the digit it shows."""
    rng = _rng(seed, category, i)
    digit = i % 10
    dark = (i // 10) % 2 == 0  # alternate polarity per round of ten digits
    return MAKERS[category](digit, rng, dark), digit


def category_of(index: np.ndarray | int):
    """The category name(s) of stress-set image index(es): the set is laid out category by category."""
    return np.asarray(CATEGORIES)[np.asarray(index) // PER_CATEGORY]


def build(seed: int = SEED, per_category: int | None = None, progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(images (N, 28, 28) uint8, labels (N,) uint8), N = 4 * per_category (PER_CATEGORY when None),
    category by category.

    An image that mnist_style.to_mnist refuses (it found no digit) stays in the set as a black square, so
    every model gets it wrong, as a user would see it refused; none is dropped to flatter a score.
    """
    from digitlab.console import track
    from digitlab.errors import DataError
    from digitlab.vision.mnist_style import to_mnist

    jobs = [(c, i) for c in CATEGORIES for i in range(per_category or PER_CATEGORY)]
    images = np.zeros((len(jobs), 28, 28), dtype=np.uint8)
    labels = np.zeros(len(jobs), dtype=np.uint8)
    steps = track(enumerate(jobs), "drawing the stress set", total=len(jobs)) if progress else enumerate(jobs)
    for k, (category, i) in steps:
        raw, labels[k] = raw_image(category, i, seed)
        try:
            images[k] = (to_mnist(raw).numpy() * 255).round().astype(np.uint8)
        except DataError:
            pass  # refused: left black
    return images, labels


SHIPPED = Path(__file__).resolve().parent / "drawn"  # the set as drawn for the package (see ship)


def _name(seed: int) -> str:
    from digitlab.vision.mnist_style import PREPROCESS_VERSION

    # The set is what the preprocessing makes of the raw images, so a change to either draws it anew.
    return f"{VERSION}-prep{PREPROCESS_VERSION}-seed{seed}-{PER_CATEGORY}.npz"


def cache_path(seed: int = SEED) -> Path:
    from digitlab.store.files import home

    return home() / "stress" / _name(seed)


def shipped_path(seed: int = SEED) -> Path:
    return SHIPPED / f"stress-{_name(seed)}"


def arrays(seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """The stress set as arrays: as it ships with digitlab (the shipped seed, drawn by this very
    generator and preprocessing: see ship), else from the cache when it is there (and its checksum
    holds), else drawn (about a minute) and cached."""
    from digitlab.store import array_cache

    for path in (shipped_path(seed), cache_path(seed)):
        saved = array_cache.load(path, ("images", "labels"), "stress set")  # None where there is none
        whole = saved and saved["images"].shape == (len(CATEGORIES) * PER_CATEGORY, 28, 28)
        if whole and len(saved["labels"]) == len(saved["images"]):
            return saved["images"], saved["labels"]
    images, labels = build(seed)
    array_cache.save(cache_path(seed), images=images, labels=labels)
    return images, labels


def ship(seed: int = SEED) -> Path:
    """Draw the set afresh and write it into the package (compressed, 1.1 MB), in place of any other
    version: a fresh install's first `compare` then reads it rather than drawing it (40 s on two
    cores, half a first compare). tests/test_stress.py draws a sample again and checks it against
    this file, so the shipped set is always the one this code draws."""
    from digitlab.store import array_cache

    images, labels = build(seed)
    for old in SHIPPED.glob(f"stress-*-seed{seed}-*.npz"):
        old.unlink()
    array_cache.save(shipped_path(seed), compress=True, images=images, labels=labels)
    return shipped_path(seed)


def accuracy_by_category(predicted, labels, index) -> dict[str, float]:
    """{"fonts": 0.97, ..., "all": 0.96}: accuracy per category of the stress set, and overall."""
    predicted, labels = np.asarray(predicted), np.asarray(labels)
    right = predicted == labels
    names = category_of(np.asarray(index))
    scores = {c: float(right[names == c].mean()) for c in CATEGORIES if (names == c).any()}
    return {**scores, "all": float(right.mean())}


if __name__ == "__main__":  # python -m digitlab.data.stress: the shipped set drawn again (see ship)
    print(f"wrote {ship()}")
