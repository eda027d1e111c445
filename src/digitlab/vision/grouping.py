"""Grouping the connected parts of a line's ink into digits (splitting.py finds the parts and cuts
the groups that hold several digits): lines of writing top to bottom, then the parts of one digit
joined, left to right.

A part far shorter than its line's digits (a 5's flag, a broken stroke, a crossbar) joins the
neighbour it overlaps or nearly touches, but between two digits across a gap only as a flag does, high
on that digit: a dash across the middle or a dot on the baseline stands apart (a date's or a phone
number's marks, data/separated.py). Parts that overlap left to right for most of the narrower one's
width (the halves of a broken 0, a 4 drawn in two strokes) join.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SHORT = 0.55  # a part shorter than this share of its line's digit height is a piece of a digit ...
NEAR = 0.25  # ... and joins a neighbour closer than this many digit heights (else it stands alone) ...
# ... across a gap only if its middle lies this high on that digit (a share of its height from its top;
# None: wherever it lies). 0.35, chosen 2026-12-08 by its rule (RESULTS.md, "Marks between digits"):
# of None, 0.35 and 0.5, the most marked numbers read right on their choose part (49.56 -> 58.89 %),
# the number set, the non-digit choice draws and the stress images as before; the held-out part of
# the marks 56.94 -> 65.83 % (dashes 58.9 -> 85.6 %, dots 84.4 -> 93.3 %).
FLAG_ZONE: float | None = 0.35
# ... and held to that only between two tall parts: a smudge beside one digit joins it as before. On,
# 2026-12-08: the whole stress set found 4,996 of 5,000 images as one digit with FLAG_ZONE alone (three
# photos fell apart), 4,999 with this, as before FLAG_ZONE; the marks and numbers as with FLAG_ZONE alone.
BETWEEN = True
STACKED = 0.5  # two parts overlapping left to right by this share of the narrower one are one digit
LINE_OVERLAP = 0.5  # a part shares a line with parts it overlaps top to bottom by this share of its height


@dataclass
class Group:
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

    def joined(self, other: "Group") -> "Group":
        return Group(self.labels + other.labels, min(self.x0, other.x0), min(self.y0, other.y0),
                     max(self.x1, other.x1), max(self.y1, other.y1), self.mass + other.mass)


def parts(ink: np.ndarray, labels: np.ndarray) -> list[Group]:
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
    return [Group([int(which[s])], int(a), int(b), int(c), int(d), float(m))
            for s, a, b, c, d, m in zip(starts, x0, y0, x1, y1, mass)]


def lines(parts: list[Group]) -> list[list[Group]]:
    """Parts grouped into lines of writing, top to bottom: a tall part starts or joins the line it
    overlaps top to bottom; a short one (a flag, a speck) joins the line it overlaps most."""
    tallest = max(p.height for p in parts)
    tall = sorted((p for p in parts if p.height >= SHORT * tallest), key=lambda p: (p.y0 + p.y1) / 2)
    found: list[list[Group]] = []
    for part in tall:
        line = found[-1] if found else None
        if line is not None:
            top, bottom = min(p.y0 for p in line), max(p.y1 for p in line)
            shared = min(bottom, part.y1) - max(top, part.y0)
            if shared >= LINE_OVERLAP * min(part.height, float(np.median([p.height for p in line]))):
                line.append(part)
                continue
        found.append([part])
    for part in (p for p in parts if p.height < SHORT * tallest):
        def shared(line: list[Group]) -> float:
            top, bottom = min(p.y0 for p in line), max(p.y1 for p in line)
            return min(bottom, part.y1) - max(top, part.y0)
        max(found, key=shared).append(part)
    return [sorted(line, key=lambda p: p.x0) for line in found]


def overlap(a: Group, b: Group) -> int:
    """How many columns the two boxes share (negative: the gap between them)."""
    return min(a.x1, b.x1) - max(a.x0, b.x0)


def joined(line: list[Group]) -> list[Group]:
    """One line's parts grouped into digits (see the module's notes), left to right."""
    groups = list(line)
    changed = True
    while changed and len(groups) > 1:
        changed = False
        tallest = max(g.height for g in groups)
        for i, a in enumerate(groups):
            others = [(j, b) for j, b in enumerate(groups) if j != i]
            j, b = max(others, key=lambda jb: overlap(a, jb[1]))
            stacked = overlap(a, b) >= STACKED * min(a.width, b.width)
            short = a.height < SHORT * tallest and overlap(a, b) > -NEAR * tallest and may_join(a, b, groups, tallest)
            if stacked or short:
                groups = [g for k, g in enumerate(groups) if k not in (i, j)] + [a.joined(b)]
                changed = True
                break
    return sorted(groups, key=lambda g: g.x0)


def may_join(short: Group, digit: Group, groups: list[Group], tallest: int) -> bool:
    """Whether a short part may join `digit`: where it overlaps it left to right, always (a crossbar, a
    broken stroke); across a gap only as a flag does, high on it (FLAG_ZONE), not as a dash across the
    middle or a dot on the baseline between two digits. With BETWEEN, only a part with a tall part of
    its line's `groups` (`tallest` the tallest's height) on each side is held to that: a smudge beside
    one digit joins it as before."""
    if FLAG_ZONE is None or overlap(short, digit) > 0 or (BETWEEN and not _between(short, groups, tallest)):
        return True
    return (short.y0 + short.y1) / 2 - digit.y0 <= FLAG_ZONE * digit.height


def _between(short: Group, groups: list[Group], tallest: int) -> bool:
    """Whether tall parts of `groups` lie both left and right of the short part's middle."""
    middle = (short.x0 + short.x1) / 2
    tall = [(g.x0 + g.x1) / 2 for g in groups if g.height >= SHORT * tallest]
    return any(m < middle for m in tall) and any(m > middle for m in tall)
