"""Finding the digits in an image of a number: each one's box, left to right (lines top to bottom),
and each as the 28 x 28 MNIST-style digit a model reads.

The page's ink is found as for one digit (page.ink_mask), on a work image wide enough to give each
digit WORK_SIDE's height. Its connected parts are then grouped into digits:

- parts of one digit go together: a part far shorter than its line's digits (a 5's flag, a broken
  stroke) joins the neighbour it overlaps or nearly touches, and parts that overlap left to right
  for most of the narrower one's width (the halves of a broken 0, a 4 drawn in two strokes) join;
- a group wider than one digit can be (two digits that touch or overlap) is cut apart (cutting.py)
  into the pieces a `judge` (the gate and the shipped cnn: reading.judge) is surest are digits.

Each digit's ink then goes through mnist_style.from_ink, the single digit's own last step; an image
in which only one digit is found is read exactly as to_mnist reads it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from PIL import Image

from digitlab.vision import cutting
from digitlab.vision.decoding import SCALE, WORK_SIDE, open_image
from digitlab.vision.mnist_style import digit_ink, from_ink, ink_at, inks_at
from digitlab.vision.page import MIN_INK_PIXELS, SPECK_SHARE, components, despeckled_grey, grey_levels


MAX_ACROSS = 8  # the work image is at most this many WORK_SIDEs long: a line of 8 digits keeps ~60 px a digit
CELL = 2  # px: parts closer than this (at the work image's scale) are one part (page.components)
NUMBER_SPECK = 0.005  # the page's ink keeps parts with this share of the largest's (page.ink_mask's `speck`) ...
SPECK = 0.15  # ... and a digit needs this share of its line's median digit's ink, else it is a speck
SHORT = 0.55  # a part shorter than this share of its line's digit height is a piece of a digit ...
NEAR = 0.25  # ... and joins a neighbour closer than this many digit heights (else it stands alone) ...
FLAG_ZONE: float | None = 0.35  # ... across a gap only if its middle is this high on it (share of its height from the top)
STACKED = 0.5  # two parts overlapping left to right by this share of the narrower one are one digit
LINE_OVERLAP = 0.5  # a part shares a line with parts it overlaps top to bottom by this share of its height
CUT_FROM = 1.0  # a group wider than this many digit heights may hold several digits: cuts are tried ...
MIN_CUT_HEIGHT = 16  # ... if it is this many px high at least (work pixels; a line of digits is ~40-110): a
#                      dash or a stroke is not cut into hundreds of pieces to judge (2 s for one bar)


@dataclass(frozen=True)
class Digit:
    """One digit found: `box` (x0, y0, x1, y1) in the given image's pixels (x1, y1 exclusive), `line`
    its line (0 the top one), `image` (28, 28) float32 in [0, 1] as a model reads it; `pair` (where a
    digit follows on its line) the two framed together, as the gate is asked whether they are several
    digits or not digits at all (reading.read_digits)."""

    box: tuple[int, int, int, int]
    line: int
    image: torch.Tensor
    pair: torch.Tensor | None = None  # (28, 28): this digit and the next on its line framed together
    said: int | None = None  # the strip reader's digit, where it read this one's group as several (cutting.read_cut)
    said_probability: float | None = None  # ... and how likely its read of the whole group is


@dataclass
class _Group:
    """Parts of the ink taken for one digit: their labels and joint box (work pixels)."""

    labels: list[int]
    x0: int
    y0: int
    x1: int
    y1: int
    mass: float
    ink: np.ndarray | None = None  # its own ink, cut to its box, when it is a piece of a cut part
    said: tuple[int, float] | None = None  # the strip reader's digit here, its read's probability (it steered the cut)

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    def joined(self, other: "_Group") -> "_Group":
        return _Group(self.labels + other.labels, min(self.x0, other.x0), min(self.y0, other.y0),
                      max(self.x1, other.x1), max(self.y1, other.y1), self.mass + other.mass)


def find_digits(source: str | os.PathLike | bytes | Image.Image, name: str = "image",
                judge: cutting.Judge | None = None, guide: cutting.Guide | None = None) -> list[Digit]:
    """The digits in an image (path, bytes or PIL image), in reading order, cut with `judge` (steered by
    `guide`'s strip reader where given). Raises DataError for an unreadable file, BlankImage for no ink."""
    page = _work_ink(source, name)
    cut = None if judge is None else (lambda own, height, group: cutting.read_cut(own, height, judge, guide)
                                      if guide else (cutting.cut(own, height, judge), None))
    lines, labels = digit_groups(page.ink, cut)

    def box(group: _Group) -> tuple[int, int, int, int]:
        return tuple(int(round(v * page.scale)) for v in (group.x0, group.y0, group.x1, group.y1))

    groups = [(number, group) for number, line in enumerate(lines) for group in line]
    if len(groups) <= 1:  # one digit: read exactly as to_mnist reads it, all its ink
        one = digit_ink(page.grey, page.label, page.single) if page.as_one is None else page.as_one
        whole = (0, 0, page.width, page.height)
        return [Digit(box(groups[0][1]) if groups else tuple(map(round, whole)), 0, from_ink(one))]
    inks = [_ink_of(page.ink, labels, group) for _, group in groups]
    found = []
    for k, ((number, group), own) in enumerate(zip(groups, inks)):
        after = groups[k + 1] if k + 1 < len(groups) and groups[k + 1][0] == number else None
        pair = from_ink(_together(group, own, after[1], inks[k + 1])) if after else None
        found.append(Digit(box(group), number, from_ink(own), pair, *(group.said or (None, None))))
    return found


def weighed_pieces(source: str | os.PathLike | bytes | Image.Image,
                   name: str = "image") -> list[tuple[tuple[float, float, float, float], np.ndarray]]:
    """Every piece the cutter weighs in an image, whatever it then keeps: (box (x0, y0, x1, y1) in the
    image's pixels, the piece's ink), for each group wide enough to be cut. What the piece judge
    (trust/pieces.py) learns from."""
    page = _work_ink(source, name)
    weighed = []

    def record(own: np.ndarray, height: float, group: _Group) -> list[tuple[int, int, np.ndarray]]:
        for _, _, piece in cutting.candidate_pieces(own, cutting.candidate_paths(own, height), height):
            rows, cols = np.flatnonzero(piece.any(1)), np.flatnonzero(piece.any(0))
            if len(rows):
                box = (group.x0 + cols[0], group.y0 + rows[0], group.x0 + cols[-1] + 1, group.y0 + rows[-1] + 1)
                weighed.append((tuple(float(v * page.scale) for v in box), piece))
        return [(0, 0, own)], None

    digit_groups(page.ink, record)
    return weighed


def group_inks(source: str | os.PathLike | bytes | Image.Image,
               name: str = "image") -> tuple[list[tuple[tuple[int, int, int, int], np.ndarray]], float]:
    """Every group of ink the splitter finds in an image, uncut: ([(box (x0, y0, x1, y1) in work pixels,
    its own ink)], the scale from work pixels to the image's). What the strip reader learns from."""
    page = _work_ink(source, name)
    lines, labels = digit_groups(page.ink)
    return [((g.x0, g.y0, g.x1, g.y1), _ink_of(page.ink, labels, g)) for line in lines for g in line], page.scale


@dataclass(frozen=True)
class _Page:
    """An image's ink as the splitter works on it: `ink` on the work image, `scale` from its pixels to
    the given image's, `as_one` to_mnist's own ink where it was already looked for."""

    label: str
    grey: np.ndarray  # (H, W) 0-255, despeckled
    ink: np.ndarray  # (h, w) in [0, 1], the work image's
    as_one: np.ndarray | None
    single: np.ndarray | None  # ink_at(grey, WORK_SIDE), to_mnist's first look, where it was found with `ink`
    scale: float
    width: float  # the given image's size, in its own pixels
    height: float


def _work_ink(source: str | os.PathLike | bytes | Image.Image, name: str) -> _Page:
    label = str(source) if isinstance(source, (str, os.PathLike)) else name
    image = open_image(source, label)
    grey = despeckled_grey(grey_levels(image))  # (H, W) 0-255
    across = _across(grey.shape)
    single = None  # to_mnist's own first look (ink_at(grey, WORK_SIDE)), where it comes at no cost
    if across == 1:  # the same work image as to_mnist's: both looks from one finding of the paper
        ink, single = inks_at(grey, WORK_SIDE, (NUMBER_SPECK, SPECK_SHARE))
    else:
        ink = ink_at(grey, WORK_SIDE * across, NUMBER_SPECK)
    as_one = None  # to_mnist's own ink, once it has been looked for
    if (ink > 0).sum() < MIN_INK_PIXELS:
        ink = as_one = digit_ink(grey, label, single)  # to_mnist's own look (a second one for a hairline); BlankImage if none
    shrunk = image.info.get(SCALE, 1.0)  # how far decoding shrank the file
    # Work pixels -> the given image's: the work image's scale, then any shrinking while decoding.
    scale = grey.shape[1] / ink.shape[1] / shrunk
    return _Page(label, grey, ink, as_one, single, scale, image.width / shrunk, image.height / shrunk)


def _together(a: _Group, ink_a: np.ndarray, b: _Group, ink_b: np.ndarray) -> np.ndarray:
    """Two groups' ink in their joint box, as they lie on the page."""
    x0, y0 = min(a.x0, b.x0), min(a.y0, b.y0)
    both = np.zeros((max(a.y1, b.y1) - y0, max(a.x1, b.x1) - x0), dtype=np.float32)
    for g, own in ((a, ink_a), (b, ink_b)):
        part = both[g.y0 - y0:g.y0 - y0 + own.shape[0], g.x0 - x0:g.x0 - x0 + own.shape[1]]
        np.maximum(part, own, out=part)
    return both


def _across(shape: tuple[int, int]) -> int:
    """How many WORK_SIDEs long the work image is: about the image's aspect ratio, so that a line of
    digits keeps each one about as many pixels high as a single digit gets."""
    h, w = shape
    return int(min(MAX_ACROSS, max(1, round(max(h, w) / max(1, min(h, w))))))


def _labels(ink: np.ndarray) -> np.ndarray:
    return components(ink > 0, CELL)


def _ink_of(ink: np.ndarray, labels: np.ndarray, group: _Group) -> np.ndarray:
    """The group's own ink, cut to its box (a neighbour's ink inside that box left out)."""
    if group.ink is not None:
        return group.ink
    box = (slice(group.y0, group.y1), slice(group.x0, group.x1))
    mine = np.isin(labels[box], group.labels)
    return np.where(mine, ink[box], 0).astype(np.float32)


def digit_groups(ink: np.ndarray, cut: Callable | None = None) -> tuple[list[list[_Group]], np.ndarray]:
    """(H, W) ink in [0, 1] -> (its digits as groups of parts, line by line, each line left to right;
    the parts' labels, page.components'). A group wider than a digit is cut by `cut(its own ink, the
    line's digit height, the group)` into (cutting.cut's pieces, the digit read in each or None); not
    cut when `cut` is None."""
    labels = _labels(ink)
    parts = _parts(ink, labels)
    if not parts:
        return [], labels
    lines = []
    for line in _lines(parts):
        groups = _joined(line)
        height = float(np.median([g.height for g in groups if g.height >= SHORT * max(x.height for x in groups)]))
        typical = float(np.median([g.mass for g in groups if g.height >= SHORT * max(x.height for x in groups)]))
        groups = [g for g in groups if g.mass >= SPECK * typical]
        pieces = []
        for group in groups:
            wide = cut is not None and group.width > CUT_FROM * height and group.height >= MIN_CUT_HEIGHT
            if wide:
                own = _ink_of(ink, labels, group)
                pieces += _pieces(group, *cut(own, height, group))
            else:
                pieces.append(group)
        lines.append(pieces)
    return lines, labels


def _parts(ink: np.ndarray, labels: np.ndarray) -> list[_Group]:
    """Every connected part of the ink, with its box and mass."""
    ys, xs = np.nonzero(labels)
    if not len(ys):
        return []
    which = labels[ys, xs]
    order = np.argsort(which, kind="stable")
    which, ys, xs = which[order], ys[order], xs[order]
    starts = np.flatnonzero(np.r_[True, which[1:] != which[:-1]])
    mass = np.add.reduceat(ink[ys, xs], starts)
    y0, y1 = np.minimum.reduceat(ys, starts), np.maximum.reduceat(ys, starts) + 1
    x0, x1 = np.minimum.reduceat(xs, starts), np.maximum.reduceat(xs, starts) + 1
    return [_Group([int(which[s])], int(a), int(b), int(c), int(d), float(m))
            for s, a, b, c, d, m in zip(starts, x0, y0, x1, y1, mass)]


def _lines(parts: list[_Group]) -> list[list[_Group]]:
    """Parts grouped into lines of writing, top to bottom: a tall part starts or joins the line it
    overlaps top to bottom; a short one (a flag, a speck) joins the line it overlaps most."""
    tallest = max(p.height for p in parts)
    tall = sorted((p for p in parts if p.height >= SHORT * tallest), key=lambda p: (p.y0 + p.y1) / 2)
    lines: list[list[_Group]] = []
    for part in tall:
        line = lines[-1] if lines else None
        if line is not None:
            top, bottom = min(p.y0 for p in line), max(p.y1 for p in line)
            shared = min(bottom, part.y1) - max(top, part.y0)
            if shared >= LINE_OVERLAP * min(part.height, float(np.median([p.height for p in line]))):
                line.append(part)
                continue
        lines.append([part])
    for part in (p for p in parts if p.height < SHORT * tallest):
        def shared(line: list[_Group]) -> float:
            top, bottom = min(p.y0 for p in line), max(p.y1 for p in line)
            return min(bottom, part.y1) - max(top, part.y0)
        max(lines, key=shared).append(part)
    return [sorted(line, key=lambda p: p.x0) for line in lines]


def _overlap(a: _Group, b: _Group) -> int:
    """How many columns the two boxes share (negative: the gap between them)."""
    return min(a.x1, b.x1) - max(a.x0, b.x0)


def _joined(line: list[_Group]) -> list[_Group]:
    """One line's parts grouped into digits (see the module's notes), left to right."""
    groups = list(line)
    changed = True
    while changed and len(groups) > 1:
        changed = False
        tallest = max(g.height for g in groups)
        for i, a in enumerate(groups):
            others = [(j, b) for j, b in enumerate(groups) if j != i]
            j, b = max(others, key=lambda jb: _overlap(a, jb[1]))
            stacked = _overlap(a, b) >= STACKED * min(a.width, b.width)
            short = a.height < SHORT * tallest and _overlap(a, b) > -NEAR * tallest and _may_join(a, b)
            if stacked or short:
                groups = [g for k, g in enumerate(groups) if k not in (i, j)] + [a.joined(b)]
                changed = True
                break
    return sorted(groups, key=lambda g: g.x0)


def _may_join(short: _Group, digit: _Group) -> bool:
    """Whether a short part may join `digit`: where it overlaps it left to right, always (a crossbar, a
    broken stroke); across a gap only as a flag does, high on it (FLAG_ZONE), not as a dash across the
    middle or a dot on the baseline between two digits."""
    if FLAG_ZONE is None or _overlap(short, digit) > 0:
        return True
    return (short.y0 + short.y1) / 2 - digit.y0 <= FLAG_ZONE * digit.height


def _pieces(group: _Group, pieces: list[tuple[int, int, np.ndarray]], said=None) -> list[_Group]:
    """The group as cut (cut's pieces: column, row, ink in its box; `said` the strip reader's read or None)."""
    return [_Group(group.labels, group.x0 + x, group.y0 + y, group.x0 + x + piece.shape[1], group.y0 + y + piece.shape[0],
                   float(piece.sum()), ink=piece, said=(int(said.text[k]), float(said.probability)) if said else None)
            for k, (x, y, piece) in enumerate(pieces)]
