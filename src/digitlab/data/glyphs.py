"""Digits and characters drawn as white ink on black, large, for the stress set and the non-digit
sets: typed in matplotlib's own fonts (`font_ink`, `glyph_ink`, at any weight by `reweigh`) or drawn
with a pen along hand-written strokes (`pen_ink`, `pen_stroke`, `smooth`)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont


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


def any_ink(digit: int, rng: np.random.Generator, side: int, heavy: bool = True) -> Image.Image:
    """A pen or a font digit; with heavy=False, no weight a reader could not read at a small size."""
    if rng.random() < 0.5:
        return pen_ink(digit, rng, side, None if heavy else float(rng.uniform(6, 24)))
    return font_ink(digit, rng, side, heavy)
