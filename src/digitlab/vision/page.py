"""Finding the ink on a page: grey levels, the ink's shade judged against the page's edge or, under a
shadow, the local paper; paper and shading removed; blobs cut by the frame and far specks dropped."""

from __future__ import annotations

import functools

import numpy as np
import torch
from PIL import Image, ImageFilter

from digitlab.vision.input_cleaning import FRAME_SIDE, SPECK_JUMP, SPECKS, otsu, specks


MIN_CONTRAST = 16  # grey levels (of 255) that ink must stand above the paper, else the page is blank ...
GRAIN_RATIO = 6  # ... and it must stand this many times the paper's noise (its sigma) above it
NOISE_SIGMAS = 4.0  # ink less than this many sigmas of the noise above the paper is noise (3: specks of
#                     a grainy JPEG came through in clouds, a 2 read as 3)


EVEN_EDGE = 0.25  # the edge's spread (10th to 90th percentile), as a share of the image's, of an even page
# The ink's level: the brightest 0.1 % of the cleaned image. A thin 1 in a photo covers under 0.5 %
# of it (the 99.5th percentile, used before, found paper there and refused the image as blank).
INK_PERCENTILE = 99.9
# A second look at the paper (see ink_mask): an opening this many of the digit's stroke widths wide.
STROKE_WINDOWS = 3
SPECK_SHARE = 0.05  # a part of the ink with less than this share of the largest part's is a speck
MIN_INK_PIXELS = 12  # at WORK_SIDE: fewer ink pixels than this is a speck of dust, not a digit


def grey_levels(image: Image.Image) -> np.ndarray:
    """(H, W) float32 0-255 luminance; transparent pixels become the paper behind the ink."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        alpha = np.asarray(rgba.getchannel("A"), dtype=np.float32) / 255  # (H, W)
        grey = np.asarray(rgba.convert("L"), dtype=np.float32)  # (H, W)
        if alpha.min() < 1:
            # A drawing exported with transparency has its ink in the opaque pixels: put it on paper
            # of the opposite shade, so white ink on nothing and black ink on nothing both survive.
            ink = float((grey * alpha).sum() / max(alpha.sum(), 1e-6))
            paper = 0.0 if ink > 127 else 255.0
            grey = grey * alpha + paper * (1 - alpha)
        return grey
    if image.mode in ("I", "I;16", "F"):
        values = np.asarray(image, dtype=np.float32)
        span = values.max() - values.min()
        return (values - values.min()) * (255 / span) if span else np.zeros_like(values)
    return np.asarray(image.convert("L"), dtype=np.float32)


def despeckled_grey(grey: np.ndarray) -> np.ndarray:
    """(H, W) 0-255 grey -> through a 3 x 3 median when salt-and-pepper noise covers it (as many lone
    pixels, for its size, as input_cleaning.SPECKS in 28 x 28), at the image's own resolution, before
    it is resized and blurred into blobs; else as it is: a median always would erase a photo's
    hairline 1 (see ink_mask). Held-out digits under 5 % impulse noise through to_mnist, shipped cnn:
    see benchmarks/RESULTS.md, "The corruption set"."""
    if lone_pixels(grey) < SPECKS * grey.size / FRAME_SIDE**2:
        return grey
    median = Image.fromarray(grey.round().astype(np.uint8)).filter(ImageFilter.MedianFilter(3))
    return np.asarray(median, dtype=np.float32)


def lone_pixels(grey: np.ndarray) -> int:
    """input_cleaning.specks's count for one (H, W) 0-255 grey image. A decoded file's grey levels are
    whole numbers, and for those a jump (a - b) / 255 > SPECK_JUMP is a - b >= 77: counted on int16
    shifted views, the same count at under half the cost (a 256 x 256 photo: 0.84 -> 0.35 ms); any other
    grey (a transparent drawing put on paper, 16-bit levels) goes through specks itself."""
    if not (grey == np.floor(grey)).all():
        return int(specks(torch.from_numpy(grey / 255)[None])[0])
    h, w = grey.shape
    padded = np.zeros((h + 2, w + 2), dtype=np.int16)  # 0 beyond the edge, as specks pads
    padded[1:-1, 1:-1] = grey
    level, brightest = padded[1:-1, 1:-1], padded[:h, :w].copy()
    darkest = brightest.copy()
    for dy, dx in [(y, x) for y in range(3) for x in range(3) if (y, x) not in ((0, 0), (1, 1))]:
        np.maximum(brightest, padded[dy:dy + h, dx:dx + w], out=brightest)
        np.minimum(darkest, padded[dy:dy + h, dx:dx + w], out=darkest)
    jump = int(SPECK_JUMP * 255) + 1  # 77
    return int(((level - brightest) >= jump).sum() + ((darkest - level) >= jump).sum())


def _running(values: np.ndarray, window: int, axis: int, reduce) -> np.ndarray:
    """The min (reduce=np.min) or max of every `window` consecutive values along `axis`: a length of
    n + window - 1 there becomes n. By doubling: after k steps each value holds the min (or max) of
    the 2**k values from it on, and two such spans that overlap cover any window; min and max do not
    mind the overlap. Six whole-array comparisons for a window of 43 (0.1 ms at WORK_SIDE, where
    van Herk's blocks took 0.3 ms and comparing each window whole 1.9 ms; all bit-identical)."""
    combine = np.minimum if reduce is np.min else np.maximum
    lines = np.moveaxis(values, axis, 0)  # (L, M): the windows run along the first axis
    out = lines.shape[0] - window + 1
    span = 1
    while 2 * span <= window:
        lines = combine(lines[:-span], lines[span:])  # (L - 2 span + 1, M): each row, its next 2 span values
        span *= 2
    return np.moveaxis(combine(lines[:out], lines[window - span : window - span + out]), 0, axis)


def sweep(values: np.ndarray, window: int, reduce) -> np.ndarray:
    """A square min or max filter of odd side `window`, done as two 1-D passes (it is separable)."""
    half = window // 2
    for axis in (0, 1):
        first, last = np.take(values, [0], axis), np.take(values, [-1], axis)
        # np.pad(mode="edge") along `axis`, written out: np.pad's own bookkeeping cost more than the filter
        padded = np.concatenate([np.repeat(first, half, axis), values, np.repeat(last, half, axis)], axis)
        values = _running(padded, window, axis, reduce)
    return values


def _rim(grey: np.ndarray, depth: int | None = None) -> np.ndarray:
    """The pixels along the image's four edges, `depth` deep (a thirty-second of its side unless told)."""
    rim = depth or max(1, min(grey.shape) // 32)
    return np.concatenate([grey[:rim].ravel(), grey[-rim:].ravel(), grey[:, :rim].ravel(), grey[:, -rim:].ravel()])


def _ink_is_dark(grey: np.ndarray) -> bool:
    """Whether the ink is darker than the paper around it.

    On a plain page the image's edge shows even paper, and the ink is the tail of grey levels far
    from it (against the edge, not the whole image's median: a tight crop can be mostly ink). With a
    shadow or a band of light across the page the edge is uneven, and a lit band can pass for
    light ink, a shadow for dark. Then the ink is judged against the local paper instead: a median
    over a window a third of the image wide, taken on a small copy, which ignores strokes but
    follows shadows and uneven light.
    """
    low, high = np.percentile(grey, [1, 99])
    rim = _rim(grey)
    paper = float(np.median(rim))
    if max(paper - low, high - paper) < MIN_CONTRAST:  # ink on under 1 % of the page: a thin 1 on clean paper
        low, high = np.percentile(grey, [100 - INK_PERCENTILE, INK_PERCENTILE])
    if np.percentile(rim, 90) - np.percentile(rim, 10) < EVEN_EDGE * max(high - low, 1):
        return paper - low > high - paper
    small = Image.fromarray(grey.astype(np.uint8)).resize((32, 32), Image.Resampling.BOX)
    paper = small.filter(ImageFilter.MedianFilter(11)).resize(grey.shape[::-1], Image.Resampling.BILINEAR)
    away = grey - np.asarray(paper, dtype=np.float32)  # (H, W): ink stands out from it, one way
    low, high = np.percentile(away, [100 - INK_PERCENTILE, INK_PERCENTILE])
    return -low > high


def ink_mask(grey: np.ndarray, speck: float = SPECK_SHARE) -> np.ndarray:
    """(H, W) 0-255 grey at WORK_SIDE -> (H, W) float32 ink in [0, 1], background exactly 0; a part with
    less than `speck` of the largest part's ink is dropped (a number's reader keeps more: its largest
    part may be several digits that touch, and a 5's flag is no speck)."""
    return ink_masks(grey, (speck,))[0]


def ink_masks(grey: np.ndarray, specks: tuple[float, ...]) -> list[np.ndarray]:
    """ink_mask's ink for each of `specks`, the page's paper found once: a number's reader and to_mnist
    both look at a one-digit photo (half of its reading time was the paper found twice)."""
    if _ink_is_dark(grey):
        grey = 255 - grey
    # Sensor noise: a slight blur. (A 3 x 3 median, used before, erased strokes a pixel wide: the thin
    # 1 of a photo came out in pieces, read as a 3; stress photos 96.3 -> 98.0 % for the shipped cnn.)
    image = Image.fromarray(grey.astype(np.uint8)).filter(ImageFilter.GaussianBlur(0.7))
    clean = np.asarray(image, dtype=np.float32)
    # Uneven lighting: a grey opening (min then max filter) wider than any stroke erases the ink and
    # leaves the paper's own shading, which is then subtracted.
    window = 2 * (min(grey.shape) // 6) + 1
    inks = []
    for speck, (ink, parts) in zip(specks, _above_paper(clean, window, specks)):
        # A shadow or a dim corner narrower than that window is left behind as ink (a band across the
        # top of a photo read with its 1 as a 7). Strokes are far narrower: a second opening a few of
        # the digit's own stroke widths wide keeps them and takes such patches for paper. Only a page
        # whose ink came in several parts or reached the frame is looked at again (a drawing seldom is).
        if parts > 1 or _rim(ink, 1).any():
            width = stroke_width(_inside(ink))
            narrow = 2 * int(np.ceil(STROKE_WINDOWS * width / 2)) + 1
            if width and narrow < window:
                ink = _above_paper(clean, narrow, (speck,))[0][0]
        inks.append(ink)
    return inks


def _above_paper(clean: np.ndarray, window: int, specks: tuple[float, ...]) -> list[tuple[np.ndarray, int]]:
    """Light ink on darker paper, cleaned of noise -> for each of `specks`: (ink in [0, 1] above the
    paper that a grey opening `window` px wide finds, background exactly 0 (all zero when nothing
    stands out); how many separate parts the ink came in before specks and blobs were dropped)."""
    paper = sweep(sweep(clean, window, np.min), window, np.max)
    flat = clean - paper
    contrast = float(np.percentile(flat, INK_PERCENTILE))
    # Ink must stand out from the paper's own grain, not by a fixed margin: a thin or faint stroke
    # shrunk to WORK_SIDE keeps little contrast (a thin 1 in a photo fell under a fixed 40 levels).
    split = otsu(flat)
    edge = _rim(flat)  # paper, even in a tight crop that is mostly ink
    grain = 1.4826 * float(np.median(np.abs(edge - np.median(edge))))  # the paper's noise, as a sigma
    # (Measured from the cleaned paper's own level: removing the paper leaves pure noise a little
    # above 0, and the top of that noise is no ink.)
    if contrast < MIN_CONTRAST or contrast - float(np.median(flat)) < GRAIN_RATIO * grain:
        return [(np.zeros_like(flat), 0) for _ in specks]
    # Below half of Otsu's ink/paper split is paper (and its noise); above it, the grey is kept in
    # proportion, so soft stroke edges stay soft, as in MNIST's anti-aliased digits.
    floor = max(split / 2, contrast * 0.125, NOISE_SIGMAS * grain)
    mask = flat > floor
    labels = components(mask)
    found = []
    for speck in specks:
        keep, parts = _without_border_blobs(mask, flat, speck, labels)
        own = contrast
        if not keep.all():  # what was dropped may have set the contrast: take it from the digit's own ink
            own = float(np.percentile(flat[mask][keep[mask]], 99)) if keep.any() else contrast
        found.append((np.where(mask & keep, np.clip(flat / own, 0, 1), 0).astype(np.float32), parts))
    return found


def _inside(ink: np.ndarray) -> np.ndarray:
    """The ink less its parts that touch the image's edge, when enough is left to judge strokes by;
    else all of it (a digit drawn to the border)."""
    labels = components(ink > 0)
    inside = np.where(np.isin(labels, _rim(labels, 1)), 0, ink)
    return inside if (inside > 0.5).sum() >= MIN_INK_PIXELS else ink


def components(mask: np.ndarray, cell: int = 4) -> np.ndarray:
    """(H, W) bool -> (H, W) int32 labels of its 8-connected parts (0: background), found on a grid of
    cell x cell blocks: parts closer than a block count as one, which is all the speck and blob
    tests need, at a sixteenth of the pixels to visit. Parts are numbered in the order of their
    first block, row by row.

    The grid's rows are cut into runs of inked blocks, and a run joins every run of the row above
    that it touches, corners included: a few dozen runs where a fill visits hundreds of blocks
    (0.1 ms a drawing; a fill indexing numpy one block at a time took 1 ms)."""
    h, w = mask.shape
    padded = np.pad(mask, ((0, -h % cell), (0, -w % cell)))
    # Whether each block holds ink: its rows OR-ed, then its columns (numpy's any over a reshaped
    # grid's inner axes took four times as long)
    bands = functools.reduce(np.logical_or, [padded[k::cell] for k in range(cell)])  # (H', W)
    coarse = functools.reduce(np.logical_or, [bands[:, k::cell] for k in range(cell)])  # (H', W')
    steps = np.diff(np.pad(coarse, ((0, 0), (1, 1))).astype(np.int8), axis=1)  # (h', w' + 1): +1 a run starts, -1 it ended
    rows, starts = np.nonzero(steps == 1)  # one per run, row by row
    ends = np.nonzero(steps == -1)[1]  # each run's end (exclusive), in the same order
    lengths = ends - starts
    rows, starts, ends = rows.tolist(), starts.tolist(), ends.tolist()
    root = list(range(len(rows)))  # each run's part, as the first run of it found so far

    def first(run: int) -> int:
        while root[run] != run:
            root[run] = root[root[run]]
            run = root[run]
        return run

    above = below = 0  # the previous row's runs: [above, below)
    for run, row in enumerate(rows):
        if run and row != rows[run - 1]:  # a new row: the runs of the row before it are those since `below`
            above, below = (below, run) if row == rows[run - 1] + 1 else (run, run)
        for other in range(above, below):
            if starts[other] <= ends[run] and starts[run] <= ends[other]:  # overlapping, or touching at a corner
                a, b = first(run), first(other)
                root[max(a, b)] = min(a, b)
    parts = {}  # a part's first run -> its number
    numbers = [parts.setdefault(first(run), len(parts) + 1) for run in range(len(rows))]
    labels = np.zeros(coarse.shape, dtype=np.int32)
    labels[coarse] = np.repeat(np.array(numbers, dtype=np.int32), lengths)  # the inked blocks, row by row
    full = np.repeat(np.repeat(labels, cell, axis=0), cell, axis=1)[:h, :w]  # (H, W)
    return np.where(mask, full, 0)


def _without_border_blobs(mask: np.ndarray, weight: np.ndarray, speck: float = SPECK_SHARE,
                          labels: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """(What of `mask` is the digit, how many parts it came in): the mask less the parts that touch the image's edge, where the rest holds
    a fifth of the ink or more, and less specks far smaller than the largest part.

    In a photo, the edge of a shadow or the corner of a darker patch survives the paper's removal as
    a bright blob cut off by the frame; the digit sits inside. A digit that itself runs off the edge
    (a tight crop, a drawing to the border) is kept, being most of the ink. A speck of dust or grain
    left far from the digit would stretch the crop around both, shrinking the digit.
    """
    labels = components(mask) if labels is None else labels  # (the mask's own, when given)
    if labels.max() <= 1:
        return np.ones_like(mask), int(labels.max())  # one part (or none): nothing to choose between
    mass = np.bincount(labels.ravel(), weights=weight.ravel())  # (parts + 1,), [0] the background
    mass[0] = 0
    edge = np.unique(_rim(labels, 1))
    edge = edge[edge > 0]
    inside = mass.copy()
    inside[edge] = 0
    if inside.sum() >= 0.2 * mass.sum():
        mass[edge] = 0  # the blobs cut by the frame go
    kept = mass >= speck * mass.max()
    kept[0] = False
    return kept[labels] | ~mask, int(labels.max())


def stroke_width(ink: np.ndarray) -> float:
    """The ink's mean stroke width in px: a stroke of width w and length L has area wL and an outline
    of about 2L pixels, so w = 2 * area / outline."""
    mask = ink > 0.5
    inner = mask.copy()
    inner[1:] &= mask[:-1]
    inner[:-1] &= mask[1:]
    inner[:, 1:] &= mask[:, :-1]
    inner[:, :-1] &= mask[:, 1:]
    outline = (mask & ~inner).sum()
    return 2 * float(mask.sum()) / outline if outline else 0.0
