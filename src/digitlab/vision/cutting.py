"""Cutting apart digits that touch or overlap: a group of ink wider than one digit, cut along the
cheapest paths from top to bottom through its thinnest columns, into the pieces a judge scores best.

A straight cut through two digits that lean into each other takes a piece of one into the other; a
path that may bend a little (BEND) and pays for the ink it crosses runs between them instead. Which
cuts to make is the judge's (reading.judge: is each piece one digit, surely read?), less a price a
cut (CUT_COST), with the uncut group among the choices, by dynamic programming over the paths.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from digitlab.vision.mnist_style import cropped, from_ink
from digitlab.vision.page import MIN_INK_PIXELS

MIN_PIECE = 0.12  # digit heights: no cut nearer a group's side than this (a 1's own width is about 0.15-0.3)
MAX_PIECE = 1.3  # no piece wider than this many digit heights, unless it is the whole group
CANDIDATES = 10  # the thinnest columns tried as cuts, for each digit height of the group's width ...
SPACING = 0.05  # ... no two closer than this many digit heights
COVER = 0.2  # digit heights: a column is tried at least this often along a group
MAX_DIGITS = 8  # a group is cut into at most this many digits' worth of candidate columns ...
AHEAD = 2 * CANDIDATES  # ... and a piece spans at most this many of them: what one group costs is bounded
BEND = 0.3  # digit heights: how far aside of its column a cut's path may wander
STRAY = 1.0  # ink-units a pixel the path pays for each BEND's worth it strays: near its column unless a gap is close
CUT_COST = 0.0  # log-score paid for each cut (0: the judge's scores alone decide; each piece's is under 0)

Judge = Callable[[torch.Tensor], torch.Tensor]  # (n, 28, 28) pieces -> (n,) log-score: is each one sure digit?


@dataclass(frozen=True)
class Guide:
    """What steers the cuts where a strip reader reads a group: `read(own)` its digits and how sure
    (strip_reading.StripReader.read), `digit_log` (n, 28, 28) pieces -> (n, 10) each digit's
    log-probability (the shipped cnn's); a read less sure than `sure` steers nothing."""

    read: Callable
    digit_log: Callable[[torch.Tensor], torch.Tensor]
    sure: float = 0.0


def cut(own: np.ndarray, height: float, judge: Judge) -> list[tuple[int, int, np.ndarray]]:
    """(h, w) a group's ink, its line's digit height in px -> its pieces, left to right, each as (column,
    row, ink cut to its box) within `own`; the whole group as one piece when no cut scores better."""
    paths = candidate_paths(own, height)
    chosen = _best_paths(own, paths, height, judge) if len(paths) > 2 else [paths[0], paths[-1]]
    return _along(own, chosen)


def read_cut(own: np.ndarray, height: float, judge: Judge, guide: Guide) -> tuple[list[tuple[int, int, np.ndarray]], object | None]:
    """`cut`, steered by the digits guide.read reads in the group: the cuts that leave as many pieces as
    it read digits, each piece scored by the judge plus guide.digit_log's log-probability that it is the
    digit read there. (The pieces, and the read (its `text`, a digit a piece, and `probability`) where it
    read several; None where it read one (the group left whole), or nothing, or was unsure, or no cuts
    leave that many pieces (then cut as `cut` cuts).)"""
    said = guide.read(own)
    if not said.text or said.probability < guide.sure:
        return cut(own, height, judge), None
    if len(said.text) == 1:
        return _along(own, [np.zeros(own.shape[0], dtype=np.int64), np.full(own.shape[0], own.shape[1])]), None
    paths = candidate_paths(own, height)
    chosen = _counted_paths(own, paths, height, judge, guide.digit_log, said.text)
    if chosen is None:
        return cut(own, height, judge), None
    pieces = _along(own, chosen)
    return pieces, (said if len(pieces) == len(said.text) else None)


def _along(own: np.ndarray, chosen: list[np.ndarray]) -> list[tuple[int, int, np.ndarray]]:
    """The pieces between each two neighbouring paths of `chosen`, each cut to its ink."""
    pieces = []
    for left, right in zip(chosen, chosen[1:]):
        piece = _between(own, left, right)
        rows, cols = np.flatnonzero(piece.any(1)), np.flatnonzero(piece.any(0))
        if len(rows):
            pieces.append((int(cols[0]), int(rows[0]), piece[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]))
    return pieces


def candidate_paths(own: np.ndarray, height: float) -> list[np.ndarray]:
    """(h, w) a group's ink, its line's digit height in px -> the paths a cut may take, left to right,
    each (h,) its column at every row; the group's left and right edges first and last."""
    h, w = own.shape
    profile = np.convolve(own.sum(0), np.ones(3) / 3, mode="same")  # (w,) ink per column
    low, high = max(1, int(MIN_PIECE * height)), w - int(MIN_PIECE * height)
    inside = np.arange(low, max(low, high))
    minima = inside[(profile[inside] <= profile[np.maximum(inside - 1, 0)])
                    & (profile[inside] <= profile[np.minimum(inside + 1, w - 1)])]
    most = CANDIDATES * min(MAX_DIGITS, max(1, round(w / height)))  # the work stays bounded (a long flat stroke)
    columns = _spread(minima.tolist(), profile, most, SPACING * height)
    # Where no thin column was found for a while (two digits pressed into each other), columns at even
    # steps are tried too, so that some chain of pieces spans the group.
    even = np.arange(low, high, max(1, int(COVER * height), w // most))
    columns += [int(c) for c in even if not any(abs(c - k) < COVER * height / 2 for k in columns)]
    columns = sorted(sorted(set(columns), key=lambda c: profile[c])[:most])
    return [np.zeros(h, dtype=np.int64)] + _paths(own, columns, height) + [np.full(h, w)]


def candidate_pieces(own: np.ndarray, paths: list[np.ndarray], height: float) -> list[tuple[int, int, np.ndarray]]:
    """Every piece the cuts may leave: (left path, right path, the ink between them), for each pair of
    `paths` at most AHEAD apart whose middles lie at most MAX_PIECE digit heights apart."""
    middle = [float(p.mean()) for p in paths]
    spans = [(i, j) for i in range(len(paths)) for j in range(i + 1, min(len(paths), i + 1 + AHEAD))
             if (middle[j] - middle[i]) <= MAX_PIECE * height]
    return [(i, j, _between(own, paths[i], paths[j])) for i, j in spans]


def _spread(minima: list[int], profile: np.ndarray, most: int, apart: float) -> list[int]:
    """Up to `most` of the columns `minima`, thinnest first, none within `apart` of one already taken
    (a flat stretch of thin ink offers every column in it), left to right."""
    taken: list[int] = []
    for column in sorted(minima, key=lambda c: profile[c]):
        if all(abs(column - t) >= apart for t in taken):
            taken.append(column)
            if len(taken) == most:
                break
    return sorted(taken)


def _paths(own: np.ndarray, columns: list[int], height: float) -> list[np.ndarray]:
    """For each of `columns`, (h,) the column at each row of the cheapest path from top to bottom near
    it: it crosses as little ink as it can, moving at most a pixel a row and at most BEND digit heights
    aside, so that it passes between two digits that touch or lean into each other rather than through
    them. Every column's path is found at once, row by row over a (columns, 2 reach + 1) band (a band
    cut by the group's edge is padded with cost inf, which no path takes): the one dynamic programme
    per column it was, with the same sums and the same first-of-equals choices, so the same paths, at
    a tenth of the numpy calls (RESULTS.md, issue 35)."""
    h, w = own.shape
    if not columns:
        return []
    reach = max(1, int(BEND * height))
    offsets = np.arange(-reach, reach + 1)  # (b,)
    at = np.asarray(columns)[:, None] + offsets  # (p, b): the image column of each band cell
    inside = (at >= 0) & (at < w)
    ink = np.where(inside[:, None, :], own[:, np.clip(at, 0, w - 1)].transpose(1, 0, 2).astype(np.float64), np.inf)
    band = ink + STRAY * np.abs(offsets) / reach  # (p, h, b): what each cell costs
    cost = band[:, 0].copy()  # (p, b)
    step = np.zeros((len(columns), h, len(offsets)), dtype=np.int8)  # each row's move from the row above
    edge = np.full((len(columns), 1), np.inf)
    cells = np.arange(len(offsets))
    for y in range(1, h):
        shifted = np.stack([np.hstack([edge, cost[:, :-1]]), cost, np.hstack([cost[:, 1:], edge])])  # (3, p, b)
        move = shifted.argmin(0)  # (p, b): from x-1, x or x+1, the first of equals
        cost = np.take_along_axis(shifted, move[None], 0)[0] + band[:, y]
        step[:, y] = move - 1
    x = cost.argmin(1)  # (p,)
    paths = np.empty((len(columns), h), dtype=np.int64)
    rows = np.arange(len(columns))
    for y in range(h - 1, -1, -1):
        paths[:, y] = at[rows, x]
        x = x + step[rows, y, x]
    return list(paths)


def _between(own: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """The group's ink right of path `left` (on it included) and left of path `right`."""
    cols = np.arange(own.shape[1])
    return np.where((cols >= left[:, None]) & (cols < right[:, None]), own, 0).astype(np.float32)


def _best_paths(own: np.ndarray, paths: list[np.ndarray], height: float, judge: Judge) -> list[np.ndarray]:
    """The paths (the first and last kept) whose pieces score best: the sum of the judge's log-scores,
    less CUT_COST a cut; no piece wider than MAX_PIECE heights (the whole group, when no cuts fit)."""
    last = len(paths) - 1
    candidates = candidate_pieces(own, paths, height)
    spans = [(i, j) for i, j, _ in candidates]
    inked = [bool((p > 0).sum() >= MIN_INK_PIXELS) for _, _, p in candidates]
    scores = torch.full((len(spans),), -float("inf"))
    if any(inked):
        framed = torch.stack([from_ink(cropped(p)) for (_, _, p), ok in zip(candidates, inked) if ok])  # (m, 28, 28)
        scores[torch.tensor(inked)] = judge(framed).float()
    score = dict(zip(spans, scores.tolist()))
    best = {0: (0.0, [0])}  # path index -> (score, paths so far)
    for j in range(1, len(paths)):
        options = [(best[i][0] + score[(i, j)] - (CUT_COST if i else 0), best[i][1] + [j])
                   for i in range(j) if i in best and score.get((i, j), -float("inf")) > -float("inf")]
        if options:
            best[j] = max(options, key=lambda o: o[0])
    return [paths[k] for k in best[last][1]] if last in best else [paths[0], paths[-1]]


def _counted_paths(own: np.ndarray, paths: list[np.ndarray], height: float, judge: Judge,
                   digit_log: Callable[[torch.Tensor], torch.Tensor], text: str) -> list[np.ndarray] | None:
    """The paths that leave exactly len(text) pieces, piece k scoring the judge's log-score plus
    digit_log's for digit text[k], best in sum (dynamic programming over (path, pieces so far)); None
    when no such cuts exist."""
    candidates = candidate_pieces(own, paths, height)
    inked = torch.tensor([bool((p > 0).sum() >= MIN_INK_PIXELS) for _, _, p in candidates], dtype=torch.bool)
    if not bool(inked.any()):
        return None
    framed = torch.stack([from_ink(cropped(p)) for (_, _, p), ok in zip(candidates, inked.tolist()) if ok])  # (m, 28, 28)
    scores = torch.full((len(candidates), 10), -float("inf"))  # (n, 10) each piece scored as each digit
    scores[inked] = judge(framed).float()[:, None] + digit_log(framed).float()
    score = {(i, j): row for (i, j, _), row in zip(candidates, scores.tolist())}
    best = {(0, 0): (0.0, [0])}  # (path index, pieces so far) -> (score, paths so far)
    for j in range(1, len(paths)):
        for k in range(1, len(text) + 1):
            digit = int(text[k - 1])
            options = [(best[(i, k - 1)][0] + score[(i, j)][digit], best[(i, k - 1)][1] + [j]) for i in range(j)
                       if (i, k - 1) in best and (i, j) in score and score[(i, j)][digit] > -float("inf")]
            if options:
                best[(j, k)] = max(options, key=lambda o: o[0])
    done = best.get((len(paths) - 1, len(text)))
    return None if done is None else [paths[k] for k in done[1]]
