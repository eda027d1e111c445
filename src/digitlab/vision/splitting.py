"""Finding the digits in an image of a number: each one's box, left to right (lines top to bottom),
and each as the 28 x 28 MNIST-style digit a model reads.

The page's ink is found as for one digit (page.ink_mask), on a work image wide enough to give each
digit WORK_SIDE's height. Its connected parts are then grouped into digits:

- parts of one digit go together (grouping.py): a part far shorter than its line's digits (a 5's
  flag, a broken stroke) joins the neighbour it overlaps or nearly touches (across a gap only high
  on it, as a flag: a dash or a dot between two digits stands apart), and parts that overlap left
  to right for most of the narrower one's width (the halves of a broken 0, a 4 in two strokes) join;
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

from digitlab.vision import cutting, grouping
from digitlab.vision.decoding import SCALE, WORK_SIDE, open_image
from digitlab.vision.grouping import SHORT, Group
from digitlab.vision.mnist_style import digit_ink, from_ink, ink_at, inks_at
from digitlab.vision.page import MIN_INK_PIXELS, SPECK_SHARE, components, despeckled_grey, grey_levels


MAX_ACROSS = 8  # the work image is at most this many WORK_SIDEs long: a line of 8 digits keeps ~60 px a digit
CELL = 2  # px: parts closer than this (at the work image's scale) are one part (page.components)
NUMBER_SPECK = 0.005  # the page's ink keeps parts with this share of the largest's (page.ink_mask's `speck`) ...
SPECK = 0.15  # ... and a digit needs this share of its line's median digit's ink, else it is a speck
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


def find_digits(source: str | os.PathLike | bytes | Image.Image, name: str = "image",
                judge: cutting.Judge | None = None, guide: cutting.Guide | None = None) -> list[Digit]:
    """The digits in an image (path, bytes or PIL image), in reading order, cut with `judge` (steered by
    `guide`'s strip reader where given). Raises DataError for an unreadable file, BlankImage for no ink."""
    page = _work_ink(source, name)
    cut = None if judge is None else (lambda own, height, group: cutting.read_cut(own, height, judge, guide)
                                      if guide else (cutting.cut(own, height, judge), None))
    lines, labels = digit_groups(page.ink, cut)

    def box(group: Group) -> tuple[int, int, int, int]:
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

    def record(own: np.ndarray, height: float, group: Group) -> list[tuple[int, int, np.ndarray]]:
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


def _together(a: Group, ink_a: np.ndarray, b: Group, ink_b: np.ndarray) -> np.ndarray:
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


def _ink_of(ink: np.ndarray, labels: np.ndarray, group: Group) -> np.ndarray:
    """The group's own ink, cut to its box (a neighbour's ink inside that box left out)."""
    if group.ink is not None:
        return group.ink
    box = (slice(group.y0, group.y1), slice(group.x0, group.x1))
    mine = np.isin(labels[box], group.labels)
    return np.where(mine, ink[box], 0).astype(np.float32)


def digit_groups(ink: np.ndarray, cut: Callable | None = None) -> tuple[list[list[Group]], np.ndarray]:
    """(H, W) ink in [0, 1] -> (its digits as groups of parts, line by line, each line left to right;
    the parts' labels, page.components'). A group wider than a digit is cut by `cut(its own ink, the
    line's digit height, the group)` into (cutting.cut's pieces, the digit read in each or None); not
    cut when `cut` is None."""
    labels = _labels(ink)
    parts = grouping.parts(ink, labels)
    if not parts:
        return [], labels
    lines = []
    for line in grouping.lines(parts):
        groups = grouping.joined(line)
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


def _pieces(group: Group, pieces: list[tuple[int, int, np.ndarray]], said=None) -> list[Group]:
    """The group as cut (cut's pieces: column, row, ink in its box; `said` the strip reader's read or None)."""
    return [Group(group.labels, group.x0 + x, group.y0 + y, group.x0 + x + piece.shape[1], group.y0 + y + piece.shape[0],
                   float(piece.sum()), ink=piece, said=(int(said.text[k]), float(said.probability)) if said else None)
            for k, (x, y, piece) in enumerate(pieces)]
