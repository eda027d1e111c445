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
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont, ImageOps

CATEGORIES = ("fonts", "pen", "photo", "small")
PER_CATEGORY = 1250  # images per category: 125 of each digit, 5,000 in all
SEED = 0  # the shipped set's seed; figures in RESULTS.md and the report are on this one
VERSION = "v1"  # bump when what the generator draws changes

FONT_FILES = (
    "DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf", "DejaVuSans-BoldOblique.ttf",
    "DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf", "DejaVuSansMono-Oblique.ttf", "DejaVuSansMono-BoldOblique.ttf",
    "DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf", "DejaVuSerif-Italic.ttf", "DejaVuSerif-BoldItalic.ttf",
    "STIXGeneral.ttf", "STIXGeneralBol.ttf", "STIXGeneralItalic.ttf", "STIXGeneralBolIta.ttf",
    "cmr10.ttf", "cmb10.ttf", "cmss10.ttf", "cmtt10.ttf", "cmti10.ttf",
)

# Each digit's pen strokes, as a writer might draw them: lists of (x, y) in a unit box, y down,
# several variants a digit (a 1 with and without a flag, an open and a closed 4, a crossed 7...).
SKELETONS: dict[int, list[list[list[tuple[float, float]]]]] = {
    0: [[[(0.5, 0.08), (0.26, 0.25), (0.22, 0.55), (0.32, 0.85), (0.52, 0.93), (0.72, 0.8), (0.78, 0.48),
          (0.7, 0.18), (0.5, 0.08), (0.4, 0.13)]]],
    1: [[[(0.52, 0.08), (0.48, 0.92)]],
        [[(0.32, 0.28), (0.55, 0.08), (0.52, 0.92)]],
        [[(0.34, 0.26), (0.55, 0.08), (0.53, 0.9)], [(0.36, 0.91), (0.7, 0.91)]]],
    2: [[[(0.24, 0.3), (0.34, 0.13), (0.55, 0.08), (0.74, 0.2), (0.72, 0.42), (0.5, 0.63), (0.24, 0.9),
          (0.8, 0.9)]],
        [[(0.26, 0.25), (0.5, 0.08), (0.74, 0.25), (0.6, 0.52), (0.25, 0.9), (0.45, 0.84), (0.8, 0.9)]]],
    3: [[[(0.24, 0.18), (0.45, 0.08), (0.7, 0.17), (0.69, 0.37), (0.44, 0.48), (0.73, 0.6), (0.74, 0.8),
          (0.52, 0.93), (0.24, 0.85)]],
        [[(0.25, 0.1), (0.74, 0.1), (0.45, 0.45), (0.72, 0.58), (0.73, 0.8), (0.5, 0.93), (0.24, 0.84)]]],
    4: [[[(0.62, 0.08), (0.22, 0.64), (0.82, 0.64)], [(0.64, 0.34), (0.64, 0.93)]],
        [[(0.34, 0.08), (0.27, 0.56), (0.8, 0.56)], [(0.66, 0.08), (0.66, 0.93)]]],
    5: [[[(0.74, 0.09), (0.33, 0.09)], [(0.33, 0.09), (0.29, 0.46), (0.5, 0.4), (0.72, 0.54), (0.73, 0.78),
                                         (0.52, 0.93), (0.24, 0.85)]]],
    6: [[[(0.7, 0.1), (0.46, 0.22), (0.3, 0.48), (0.29, 0.75), (0.47, 0.93), (0.69, 0.82), (0.7, 0.6),
          (0.5, 0.5), (0.31, 0.62)]]],
    7: [[[(0.2, 0.11), (0.8, 0.11), (0.42, 0.93)]],
        [[(0.22, 0.11), (0.8, 0.11), (0.46, 0.93)], [(0.4, 0.5), (0.74, 0.5)]],
        [[(0.2, 0.2), (0.3, 0.1), (0.8, 0.12), (0.5, 0.6), (0.42, 0.93)]]],
    8: [[[(0.52, 0.5), (0.7, 0.34), (0.68, 0.16), (0.5, 0.08), (0.32, 0.16), (0.3, 0.34), (0.5, 0.5),
          (0.73, 0.68), (0.71, 0.86), (0.5, 0.94), (0.29, 0.86), (0.28, 0.68), (0.5, 0.5)]]],
    9: [[[(0.7, 0.34), (0.6, 0.12), (0.42, 0.1), (0.29, 0.26), (0.37, 0.45), (0.58, 0.45), (0.7, 0.34),
          (0.68, 0.6), (0.58, 0.93)]],
        [[(0.7, 0.3), (0.55, 0.1), (0.35, 0.13), (0.3, 0.32), (0.45, 0.44), (0.7, 0.3)], [(0.7, 0.3), (0.7, 0.93)]]],
}


def font_dir() -> Path:
    """matplotlib's own TrueType fonts: the same files wherever digitlab is installed."""
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


def _rng(seed: int, category: str, i: int) -> np.random.Generator:
    return np.random.default_rng([seed, CATEGORIES.index(category), i])


# ---------------------------------------------------------------------------------------------
# Ink: a digit as white-on-black float32 in [0, 1], drawn large
# ---------------------------------------------------------------------------------------------


def _shear(ink: Image.Image, slant: float, fill: int = 0) -> Image.Image:
    """Lean the image right by `slant` (x moves by slant * distance above the centre)."""
    w, h = ink.size
    return ink.transform((w, h), Image.Transform.AFFINE, (1, slant, -slant * h / 2, 0, 1, 0),
                         resample=Image.Resampling.BILINEAR, fillcolor=fill)


def skeleton(mask: np.ndarray) -> np.ndarray:
    """(H, W) bool -> its one-pixel-wide skeleton (Zhang and Suen's thinning, 1984)."""
    img = np.pad(mask.astype(np.uint8), 1)
    while True:
        changed = False
        for first in (True, False):
            # The eight neighbours, clockwise from north: p2 .. p9 in the paper's names.
            p = [np.roll(np.roll(img, dy, 0), dx, 1) for dy, dx in
                 ((1, 0), (1, -1), (0, -1), (-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1))]
            count = sum(p)
            turns = sum(((p[k] == 0) & (p[(k + 1) % 8] == 1)).astype(np.uint8) for k in range(8))
            if first:
                gone = (p[0] * p[2] * p[4] == 0) & (p[2] * p[4] * p[6] == 0)
            else:
                gone = (p[0] * p[2] * p[6] == 0) & (p[0] * p[4] * p[6] == 0)
            remove = (img == 1) & (count >= 2) & (count <= 6) & (turns == 1) & gone
            if remove.any():
                img[remove] = 0
                changed = True
        if not changed:
            return img[1:-1, 1:-1].astype(bool)


def reweigh(ink: Image.Image, width: float) -> Image.Image:
    """The same glyph drawn with a round pen `width` px wide along its skeleton: hairline to light."""
    spine = skeleton(np.asarray(ink) > 127)
    canvas = Image.new("L", ink.size, 0)
    draw = ImageDraw.Draw(canvas)
    r = width / 2
    for y, x in zip(*np.nonzero(spine)):
        draw.ellipse([x - r, y - r, x + r, y + r], fill=255)
    return canvas.filter(ImageFilter.GaussianBlur(0.5))  # anti-aliased edges, as a renderer draws them


def font_ink(digit: int, rng: np.random.Generator, side: int = 192, heavy: bool = True) -> Image.Image:
    """A typed digit, mode "L" white on black, `side` px square: any of FONT_FILES, hairline to heavy
    (to bold only where heavy=False)."""
    return glyph_ink(str(digit), font_dir() / FONT_FILES[rng.integers(len(FONT_FILES))], rng, side, heavy)


def glyph_ink(text: str, font_file: Path, rng: np.random.Generator, side: int = 192, heavy: bool = True) -> Image.Image:
    """`text` typed in `font_file`, as font_ink types a digit (nondigits.py types letters with it)."""
    font = ImageFont.truetype(str(font_file), int(side * 0.6))
    weight = rng.choice(["hairline", "light", "regular", "bold", "heavy"] if heavy else ["light", "regular", "bold"])
    stroke = {"bold": int(side * 0.015), "heavy": int(side * rng.uniform(0.025, 0.04))}.get(weight, 0)
    canvas = Image.new("L", (side, side), 0)
    ImageDraw.Draw(canvas).text((side / 2, side / 2), text, fill=255, font=font, anchor="mm",
                                stroke_width=stroke, stroke_fill=255)
    if weight in ("hairline", "light"):  # strokes 1-2 % (hairline) or 3-5 % of the glyph's box
        span = (0.01, 0.02) if weight == "hairline" else (0.03, 0.05)
        canvas = reweigh(canvas, max(1.5, side * rng.uniform(*span)))
    return _shear(canvas, float(rng.uniform(-0.25, 0.3)))


def smooth(points: np.ndarray, per_segment: int = 12) -> np.ndarray:
    """A Catmull-Rom curve through `points` ((n, 2)): the pen's path rather than a polyline."""
    if len(points) < 3:
        return points
    padded = np.vstack([points[0], points, points[-1]])
    t = np.linspace(0, 1, per_segment, endpoint=False)[:, None]
    out = []
    for p0, p1, p2, p3 in zip(padded[:-3], padded[1:-2], padded[2:-1], padded[3:]):
        out.append(0.5 * (2 * p1 + (-p0 + p2) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t ** 2
                          + (-p0 + 3 * p1 - 3 * p2 + p3) * t ** 3))
    return np.vstack([*out, points[-1:]])


def pen_ink(digit: int, rng: np.random.Generator, side: int = 280, width: float | None = None,
            variant: int | None = None) -> Image.Image:
    """A digit drawn as the web page's canvas draws it: white round-capped strokes on black, `side` px.

    The skeleton is jittered, turned, sheared and squeezed a little, as hands differ; `width` is the
    pen's width in px on a 280 px pad (drawn at random from 4 to 44 when None); `variant` picks the
    digit's form in SKELETONS (at random when None; 0 is the plainest).
    """
    variants = SKELETONS[digit]
    strokes = variants[rng.integers(len(variants)) if variant is None else variant]
    if width is None:
        width = float(rng.choice([rng.uniform(4, 12), rng.uniform(12, 26), rng.uniform(26, 44)]))
    angle, slant = math.radians(rng.uniform(-12, 12)), rng.uniform(-0.25, 0.25)
    sx, sy = rng.uniform(0.7, 1.1), rng.uniform(0.85, 1.0)
    c, s = math.cos(angle), math.sin(angle)
    shift = rng.uniform(-0.06, 0.06, 2)
    canvas = Image.new("L", (side, side), 0)
    draw = ImageDraw.Draw(canvas)
    scale = side * 0.72  # the digit's height on the pad, as people fill about three quarters of it
    for stroke in strokes:
        pts = np.asarray(stroke, dtype=np.float64) + rng.normal(0, 0.025, (len(stroke), 2))
        pts = smooth(pts) - 0.5  # about the box's centre
        x, y = pts[:, 0] * sx + slant * -pts[:, 1], pts[:, 1] * sy
        pts = np.stack([c * x - s * y, s * x + c * y], 1)
        pts = (pts + 0.5 + shift) * scale + (side - scale) / 2
        pen_stroke(draw, [tuple(p) for p in pts], width * side / 280)
    return canvas


def pen_stroke(draw: ImageDraw.ImageDraw, line: list[tuple[float, float]], w: float) -> None:
    """One stroke `w` px wide through the points of `line`, as the page's canvas draws it."""
    draw.line(line, fill=255, width=max(1, round(w)), joint="curve")
    for x0, y0 in (line[0], line[-1]):  # round caps, as lineCap = "round"
        draw.ellipse([x0 - w / 2, y0 - w / 2, x0 + w / 2, y0 + w / 2], fill=255)


def _any_ink(digit: int, rng: np.random.Generator, side: int, heavy: bool = True) -> Image.Image:
    """A pen or a font digit; with heavy=False, no weight a reader could not read at a small size."""
    if rng.random() < 0.5:
        return pen_ink(digit, rng, side, None if heavy else float(rng.uniform(6, 24)))
    return font_ink(digit, rng, side, heavy)


# ---------------------------------------------------------------------------------------------
# The four categories: a raw image as a user would bring it
# ---------------------------------------------------------------------------------------------


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
    glyph = _any_ink(digit, rng, 256)
    size = int(side * rng.uniform(0.35, 0.7))
    glyph = glyph.resize((size, size), Image.Resampling.BOX)
    # The page is drawn 1.5x larger and cropped after the turn, so no corner of it shows.
    crop_side, side = side, int(side * 1.5)
    margin = (side - crop_side) // 2
    alpha = Image.new("L", (side, side), 0)
    alpha.paste(glyph, (margin + int(rng.integers(0, crop_side - size)), margin + int(rng.integers(0, crop_side - size))))
    yy, xx = np.mgrid[0:side, 0:side] / side
    theta = rng.uniform(0, 2 * math.pi)
    along = np.cos(theta) * xx + np.sin(theta) * yy  # (side, side), the light's direction
    if dark:
        paper = rng.uniform(150, 235) + rng.uniform(-40, 40) * (along - along.mean())
        ink_level = paper - rng.uniform(70, 140)
    else:
        paper = rng.uniform(20, 70) + rng.uniform(-25, 25) * (along - along.mean())
        ink_level = paper + rng.uniform(90, 170)
    # A shadow: a soft-edged half-plane, darker by a fifth to a third
    phi = rng.uniform(0, 2 * math.pi)
    edge = np.cos(phi) * (xx - 0.5) + np.sin(phi) * (yy - 0.5) - rng.uniform(-0.3, 0.5)
    shade = 1 - rng.uniform(0.2, 0.35) / (1 + np.exp(-edge * 25))
    a = np.asarray(alpha, dtype=np.float64) / 255
    grey = (paper * (1 - a) + ink_level * a) * shade
    grey = grey + rng.normal(0, rng.uniform(2, 9), grey.shape)  # sensor noise
    image = Image.fromarray(np.clip(grey, 0, 255).astype(np.uint8))
    image = image.rotate(float(rng.uniform(-15, 15)), resample=Image.Resampling.BICUBIC)
    image = image.crop((margin, margin, margin + crop_side, margin + crop_side))
    image = image.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.3, 1.6))))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=int(rng.integers(30, 90)))
    return Image.open(io.BytesIO(buffer.getvalue()))


def _small(digit: int, rng: np.random.Generator, dark: bool) -> Image.Image:
    """A digit 8-16 px tall in an image barely larger, then shown 3-8x larger."""
    height = int(rng.integers(8, 17))
    ink = ImageOps.expand(_any_ink(digit, rng, 192, heavy=False), 64)  # room for the margin below
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


# ---------------------------------------------------------------------------------------------
# The dataset: every raw image through mnist_style.to_mnist, cached
# ---------------------------------------------------------------------------------------------


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


def cache_path(seed: int = SEED) -> Path:
    from digitlab.store.files import home
    from digitlab.vision.mnist_style import PREPROCESS_VERSION

    # The set is what the preprocessing makes of the raw images, so a change to either rebuilds it.
    return home() / "stress" / f"{VERSION}-prep{PREPROCESS_VERSION}-seed{seed}-{PER_CATEGORY}.npz"


def arrays(seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """The stress set as arrays, from the cache when it is there, else drawn (about a minute) and cached."""
    from digitlab.store.files import atomic_write

    path = cache_path(seed)
    try:
        with np.load(path) as saved:
            images, labels = saved["images"], saved["labels"]
        if images.shape == (len(CATEGORIES) * PER_CATEGORY, 28, 28) and len(labels) == len(images):
            return images, labels
    except (OSError, ValueError, KeyError):
        pass  # not drawn yet, or a damaged cache: draw it again
    images, labels = build(seed)
    with atomic_write(path) as f:
        np.savez(f, images=images, labels=labels)
    return images, labels


def accuracy_by_category(predicted, labels, index) -> dict[str, float]:
    """{"fonts": 0.97, ..., "all": 0.96}: accuracy per category of the stress set, and overall."""
    predicted, labels = np.asarray(predicted), np.asarray(labels)
    right = predicted == labels
    names = category_of(np.asarray(index))
    scores = {c: float(right[names == c].mean()) for c in CATEGORIES if (names == c).any()}
    return {**scores, "all": float(right.mean())}
