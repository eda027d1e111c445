"""How the number set (numbers.py) draws a number's ink: digits set side by side with a kind of gap
(`compose`), typed in one font at its own spacing (`typed`), and photographed on paper
(`photographed`). Ink is white on black, float32 0-255, until numbers.py gives the number its
polarity; a box is a digit's ink box (x0, y0, x1, y1), x1 and y1 exclusive."""

from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from digitlab.data.glyphs import font_dir, reweigh
from digitlab.data.stress import on_paper
from digitlab.errors import DataError

Box = tuple[int, int, int, int]

INK = 128  # a pixel is ink from half the ink's level up: boxes and touching are measured on it
GAP_HEIGHTS = {"wide": (0.3, 0.8), "normal": (0.05, 0.25)}  # empty columns between neighbours, in digit heights
OVERLAP_PX = (2, 6)  # "overlapping": a digit's ink runs this far into the ink before it
BASELINE_JITTER = 0.1  # each digit's foot moves up or down by up to this share of the digit height
# A digit whose ink, touching its neighbour's, would start left of that digit's middle (a 7's bar
# above the digit before) is set on a baseline drawn again, up to this many times in all: on 350
# numbers of each part, 37 of 784 handwritten touching pairs did so with one try, 12 with four
# (overlapping: 28 and 16 of 336; pen: 8 and 3 of 784 touching, 14 and 7 of 336 overlapping).
NESTING_TRIES = 4


def ink_box(ink: np.ndarray, level: float = INK) -> Box | None:
    """The box of the pixels of `ink` at `level` or more, None where there are none."""
    rows, cols = np.flatnonzero((ink >= level).any(1)), np.flatnonzero((ink >= level).any(0))
    if not len(rows):
        return None
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def cropped(ink: np.ndarray) -> np.ndarray:
    """`ink` cut to the box of everything it holds, faint edges included."""
    x0, y0, x1, y1 = ink_box(ink, 1)
    return ink[y0:y1, x0:x1]


def shifted(boxes: list[Box], dx: int, dy: int) -> list[Box]:
    return [(x0 + dx, y0 + dy, x1 + dx, y1 + dy) for x0, y0, x1, y1 in boxes]


# ---------------------------------------------------------------------------------------------
# Digits side by side
# ---------------------------------------------------------------------------------------------

def compose(glyphs: list[np.ndarray], gap: str, rng: np.random.Generator) -> tuple[np.ndarray, list[Box]]:
    """Each glyph ((h, w) float ink, cropped) placed right of the ones before it, its foot on a
    jittered baseline, with `gap` between neighbours (GAPS in numbers.py); the ink combined by max.

    Touching and overlapping are measured row by row on the ink drawn so far: "touching" brings the
    closest ink pixels together (8-neighbours, or one column shared), "overlapping" runs the new
    digit's ink 2-6 columns into it (a digit that would reach past the middle of the one before is
    set on another baseline). Wide and normal gaps leave that many empty columns between the ink so
    far and the new digit's ink box. Returns the ink, cut to its box, and each digit's box."""
    height = float(np.median([(g >= INK).any(1).sum() for g in glyphs]))  # the number's digit height
    jitter = BASELINE_JITTER * height
    base = math.ceil(max(g.shape[0] for g in glyphs) + jitter) + 1
    width = sum(g.shape[1] for g in glyphs) + math.ceil(len(glyphs) * height) + 2
    canvas = np.zeros((base + math.ceil(jitter) + 2, width), np.float32)
    right = np.full(canvas.shape[0], -np.inf)  # (rows,) the rightmost ink column so far, per row
    boxes = []
    for k, glyph in enumerate(glyphs):
        h, w = glyph.shape
        mask = glyph >= INK
        for _ in range(NESTING_TRIES):
            top = base - h + int(round(rng.uniform(-jitter, jitter)))
            x = 0 if k == 0 else max(0, _offset(mask, right, top, gap, height, rng))
            if k == 0 or x + ink_box(glyph)[0] >= (boxes[-1][0] + boxes[-1][2]) / 2:
                break  # its ink starts right of the middle of the digit before
        np.maximum(canvas[top:top + h, x:x + w], glyph, out=canvas[top:top + h, x:x + w])
        x0, y0, x1, y1 = ink_box(glyph)
        boxes.append((x + x0, top + y0, x + x1, top + y1))
        rows = np.flatnonzero(mask.any(1))
        last = w - 1 - np.argmax(mask[rows, ::-1], axis=1)  # each inked row's rightmost ink column
        right[top + rows] = np.maximum(right[top + rows], x + last)
    x0, y0, x1, y1 = ink_box(canvas, 1)
    return canvas[y0:y1, x0:x1], shifted(boxes, -x0, -y0)


def _offset(mask: np.ndarray, right: np.ndarray, top: int, gap: str, height: float, rng: np.random.Generator) -> int:
    """Where the new glyph's left edge goes so that its ink, `top` rows down, keeps `gap` to the ink
    so far (`right`: the canvas's rightmost ink column per row)."""
    first = np.where(mask.any(1), np.argmax(mask, axis=1), np.inf)  # (h,) each row's leftmost ink column
    if gap in GAP_HEIGHTS:  # measured from all the ink so far, so that the boxes keep apart too
        empty = int(round(rng.uniform(*GAP_HEIGHTS[gap]) * height))
        return int(np.max(right[np.isfinite(right)])) + 1 + empty - int(first.min())
    right = right[top:top + len(mask)]  # (h,) over the glyph's rows
    if gap == "touching" and rng.random() < 0.5:
        # Diagonal neighbours touch too: the ink one row up or down counts.
        right = np.maximum.reduce([right, np.r_[right[1:], -np.inf], np.r_[-np.inf, right[:-1]]])
        meet = 1  # the new ink starts in the column after the old
    else:
        meet = 0 if gap == "touching" else 1 - int(rng.integers(OVERLAP_PX[0], OVERLAP_PX[1] + 1))
    both = np.isfinite(right) & np.isfinite(first)
    if not both.any():
        raise AssertionError("neighbouring digits share no row: the baseline jitter is too large for them")
    return meet + int(np.max(right[both] - first[both]))


# ---------------------------------------------------------------------------------------------
# Typed
# ---------------------------------------------------------------------------------------------

WEIGHTS = ("hairline", "light", "regular", "bold", "heavy")  # as glyphs.glyph_ink types them


def typed(text: str, fonts: tuple[str, ...], rng: np.random.Generator) -> tuple[np.ndarray, list[Box], str]:
    """`text` typed in one of `fonts` (glyphs.FONT_FILES' names) at the font's own advance widths, 20-140 px a
    character, hairline to heavy, slanted a little; each digit typed alone at its pen position
    (the advance of the text before it) and the line combined by max, so each box is the digit's own."""
    font_file = font_dir() / fonts[rng.integers(len(fonts))]
    size = int(rng.choice([rng.uniform(20, 40), rng.uniform(40, 80), rng.uniform(80, 140)]))
    font = ImageFont.truetype(str(font_file), size)
    weight = WEIGHTS[rng.integers(len(WEIGHTS))]
    if weight == "heavy" and any(mark in font_file.name for mark in ("Bold", "Bol", "cmb")):
        weight = "bold"  # a bold face stroked heavier still ran its digits into one blot
    stroke = {"bold": round(size * 0.025), "heavy": round(size * rng.uniform(0.03, 0.05))}.get(weight, 0)
    thin = {"hairline": (0.015, 0.03), "light": (0.05, 0.08)}.get(weight)  # stroke width, in font sizes
    pen = max(1.5, size * rng.uniform(*thin)) if thin else 0.0
    slant = float(rng.uniform(-0.1, 0.3))
    ascent, descent = font.getmetrics()
    pad = stroke + 2 + math.ceil(abs(slant) * (ascent + descent) / 2)
    line_height = ascent + descent + 2 * pad
    line = np.zeros((line_height, math.ceil(font.getlength(text)) + 2 * pad + size), np.float32)
    boxes = []
    for k, char in enumerate(text):
        glyph = Image.new("L", (math.ceil(font.getlength(char)) + 2 * pad, line_height), 0)
        ImageDraw.Draw(glyph).text((pad, pad + ascent), char, fill=255, font=font, anchor="ls",
                                   stroke_width=stroke, stroke_fill=255)
        if pen:
            glyph = reweigh(glyph, pen)
        # A shear about the line's middle, the same for every digit: the whole line leans alike.
        glyph = glyph.transform(glyph.size, Image.Transform.AFFINE, (1, slant, -slant * line_height / 2, 0, 1, 0),
                                resample=Image.Resampling.BILINEAR)
        ink = np.asarray(glyph, dtype=np.float32)
        x = round(font.getlength(text[:k]))
        np.maximum(line[:, x:x + glyph.width], ink, out=line[:, x:x + glyph.width])
        box = ink_box(ink)
        if box is None:  # a colon's dots thinned to a skeleton and stroked light can leave none
            raise DataError(f"{char!r} typed in {font_file.name} at {size} px, {weight}, left no ink")
        x0, y0, x1, y1 = box
        boxes.append((x + x0, y0, x + x1, y1))
    x0, y0, x1, y1 = ink_box(line, 1)
    return line[y0:y1, x0:x1], shifted(boxes, -x0, -y0), font_file.name


# ---------------------------------------------------------------------------------------------
# Photographed
# ---------------------------------------------------------------------------------------------

TURN_DEGREES = 5.0  # a photo is held a little crooked, up to this much either way


def photographed(ink: np.ndarray, boxes: list[Box], rng: np.random.Generator,
                 dark: bool) -> tuple[Image.Image, list[Box]]:
    """The number inked on paper (dark) or chalked on a board (light), as the stress set's photos
    are (stress._photo): margins, a small turn, uneven light, a shadow, sensor noise, blur, JPEG.
    The turn moves the ink before the light falls on it, so no corner of the page shows; each box
    is the extent of its ink pixels turned (approximate: a neighbour's ink inside the box counts)."""
    h, w = ink.shape
    left, top, right, bottom = (int(rng.uniform(0.2, 0.9) * h) for _ in range(4))
    alpha = np.pad(ink, ((top, bottom), (left, right)))
    boxes = shifted(boxes, left, top)
    alpha, boxes = _turned(alpha, boxes, float(rng.uniform(-TURN_DEGREES, TURN_DEGREES)))
    grey = on_paper(alpha / 255, rng, dark)
    image = Image.fromarray(np.clip(grey, 0, 255).astype(np.uint8))
    image = image.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.3, 1.6))))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=int(rng.integers(30, 90)))
    return Image.open(io.BytesIO(buffer.getvalue())).convert("L"), boxes


def _turned(alpha: np.ndarray, boxes: list[Box], degrees: float) -> tuple[np.ndarray, list[Box]]:
    """`alpha` turned `degrees` anticlockwise about its centre onto a canvas that holds all of it,
    and each box as the extent of its ink pixels after the same turn."""
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    turn = np.array([[c, -s], [s, c]])  # row vector (x, y) @ turn: anticlockwise on screen (y down)
    h, w = alpha.shape
    corners = (np.array([[0, 0], [w, 0], [0, h], [w, h]]) - (w / 2, h / 2)) @ turn
    size = np.ceil(corners.max(0) - corners.min(0)).astype(int)  # (W', H')
    centre, new_centre = np.array([w / 2, h / 2]), size / 2
    # PIL maps each output pixel back to the input: (x, y) = turn^-1 (x' - c') + c.
    back = np.linalg.inv(turn).T
    offset = centre - back @ new_centre
    image = Image.fromarray(alpha.astype(np.float32)).transform(
        (int(size[0]), int(size[1])), Image.Transform.AFFINE,
        (back[0, 0], back[0, 1], offset[0], back[1, 0], back[1, 1], offset[1]), resample=Image.Resampling.BICUBIC)
    turned_boxes = []
    for x0, y0, x1, y1 in boxes:
        ys, xs = np.nonzero(alpha[y0:y1, x0:x1] >= INK)
        points = (np.stack([xs + x0 + 0.5, ys + y0 + 0.5], 1) - centre) @ turn + new_centre
        low, high = np.floor(points.min(0)).astype(int), np.ceil(points.max(0)).astype(int)
        turned_boxes.append((int(low[0]), int(low[1]), int(high[0]), int(high[1])))
    return np.clip(np.asarray(image), 0, 255), turned_boxes
