"""Turning a user's photo, scan or drawing of one digit into the 28 x 28 input MNIST models expect.

MNIST's own recipe (LeCun et al.): white ink on black, the digit scaled to fit a 20 x 20 box keeping
its aspect ratio, then placed in 28 x 28 so that its centre of mass is the centre. A photo needs more
first: EXIF rotation, transparency, dark ink on light paper, uneven lighting and sensor noise.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageFilter, ImageOps, UnidentifiedImageError

from digitlab.errors import DataError

WORK_SIDE = 128  # px: the longer side the image is reduced to before cleaning; far above 20
BOX_SIDE = 20  # px: MNIST fits each digit into a 20 x 20 box ...
FRAME_SIDE = 28  # px: ... centred by mass in a 28 x 28 frame
MIN_CONTRAST = 40  # grey levels (of 255) that ink must stand above the paper, else the page is blank
MIN_INK_PIXELS = 12  # at WORK_SIDE: fewer ink pixels than this is a speck of dust, not a digit


def open_image(source: str | os.PathLike | bytes | Image.Image, name: str = "image") -> Image.Image:
    """A PIL image from a path, raw bytes or a PIL image, upright per its EXIF orientation."""
    if isinstance(source, Image.Image):
        image = source
    else:
        if isinstance(source, (bytes, bytearray)):
            stream = io.BytesIO(source)
        else:
            path = Path(source)
            if not path.is_file():
                raise DataError(f"{path}: no such image file; check the path")
            stream, name = path, str(path)
        try:
            image = Image.open(stream)
            # A phone photo is megapixels; JPEG can decode straight at a fraction of that size.
            image.draft(image.mode, (4 * WORK_SIDE, 4 * WORK_SIDE))
            image.load()  # decode now, so a truncated file fails here rather than later
        except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError) as err:
            raise DataError(f"{name}: not a readable image ({err}); give a PNG or JPEG of one digit") from None
    try:
        return ImageOps.exif_transpose(image)
    except (OSError, ValueError, SyntaxError):
        return image  # a damaged EXIF block: keep the pixels as stored


def _grey(image: Image.Image) -> np.ndarray:
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


def _otsu(values: np.ndarray) -> float:
    """The grey level that best splits `values` (0-255) into two groups (Otsu's method)."""
    counts, edges = np.histogram(values, bins=256, range=(0, 256))
    levels = edges[:-1]
    weight = np.cumsum(counts).astype(np.float64)  # pixels at or below each level
    total = weight[-1]
    mass = np.cumsum(counts * levels)
    mean_low = mass / np.maximum(weight, 1)
    mean_high = (mass[-1] - mass) / np.maximum(total - weight, 1)
    between = weight * (total - weight) * (mean_low - mean_high) ** 2
    return float(levels[int(np.argmax(between))])


def _running(values: np.ndarray, window: int, axis: int, reduce) -> np.ndarray:
    """The min (reduce=np.min) or max of every `window` consecutive values along `axis`: a length of
    n + window - 1 there becomes n. Van Herk and Gil-Werman's way: running results from each block
    of `window` values' two ends, combined, are three comparisons a value whatever the window (a
    window of 43 at WORK_SIDE: 0.8 ms where comparing each window whole took 1.9 ms, bit-identical)."""
    combine = np.minimum if reduce is np.min else np.maximum
    lines = np.moveaxis(values, axis, 0)  # (L, M): the windows run along the first axis
    length, out = lines.shape[0], lines.shape[0] - window + 1
    blocks = -(-length // window)
    # The filler past the end never reaches an output: a window that starts in the last block ends past it.
    tiled = np.pad(lines, [(0, blocks * window - length), (0, 0)], mode="edge").reshape(blocks, window, -1)
    from_start = combine.accumulate(tiled, axis=1).reshape(blocks * window, -1)
    to_end = combine.accumulate(tiled[:, ::-1], axis=1)[:, ::-1].reshape(blocks * window, -1)
    return np.moveaxis(combine(to_end[:out], from_start[window - 1 : window - 1 + out]), 0, axis)


def _sweep(values: np.ndarray, window: int, reduce) -> np.ndarray:
    """A square min or max filter of odd side `window`, done as two 1-D passes (it is separable)."""
    half = window // 2
    for axis in (0, 1):
        padded = np.pad(values, [(half, half) if a == axis else (0, 0) for a in (0, 1)], mode="edge")
        values = _running(padded, window, axis, reduce)
    return values


def _ink(grey: np.ndarray) -> np.ndarray:
    """(H, W) 0-255 grey at WORK_SIDE -> (H, W) float32 ink in [0, 1], background exactly 0."""
    low, median, high = np.percentile(grey, [1, 50, 99])
    if median - low > high - median:  # the far tail from the paper is the ink: here it is dark
        grey = 255 - grey
    image = Image.fromarray(grey.astype(np.uint8)).filter(ImageFilter.MedianFilter(3))  # sensor noise
    clean = np.asarray(image, dtype=np.float32)
    # Uneven lighting: a grey opening (min then max filter) wider than any stroke erases the ink and
    # leaves the paper's own shading, which is then subtracted.
    window = 2 * (min(grey.shape) // 6) + 1
    paper = _sweep(_sweep(clean, window, np.min), window, np.max)
    flat = clean - paper
    contrast = float(np.percentile(flat, 99.5))
    if contrast < MIN_CONTRAST:
        return np.zeros_like(flat)
    # Below half of Otsu's ink/paper split is paper (and its noise); above it, the grey is kept in
    # proportion, so soft stroke edges stay soft, as in MNIST's anti-aliased digits.
    floor = max(_otsu(flat), contrast * 0.25) / 2
    return np.where(flat > floor, np.clip(flat / contrast, 0, 1), 0).astype(np.float32)


def _centre(crop: torch.Tensor) -> torch.Tensor:
    """(h, w) ink, both sides <= BOX_SIDE -> (28, 28) with the centre of mass at the centre."""
    h, w = crop.shape
    ys, xs = torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32)
    total = crop.sum()
    cy, cx = float((crop.sum(1) * ys).sum() / total), float((crop.sum(0) * xs).sum() / total)
    # Top-left corner that puts the mass on pixel (14, 14), where MNIST's digits have theirs (measured
    # over its test set: 13.99, 14.01); clamped so the digit stays whole.
    top = min(max(round(FRAME_SIDE / 2 - cy), 0), FRAME_SIDE - h)
    left = min(max(round(FRAME_SIDE / 2 - cx), 0), FRAME_SIDE - w)
    frame = torch.zeros(FRAME_SIDE, FRAME_SIDE)
    frame[top : top + h, left : left + w] = crop
    return frame


def to_mnist(source: str | os.PathLike | bytes | Image.Image, name: str = "image") -> torch.Tensor:
    """One handwritten digit (path, bytes or PIL image) -> (28, 28) float32 in [0, 1], MNIST-style.

    Raises DataError for a missing file, a non-image, a corrupt file, or a page with no ink.
    """
    label = str(source) if isinstance(source, (str, os.PathLike)) else name
    image = open_image(source, label)
    grey = _grey(image)  # (H, W)
    scale = WORK_SIDE / max(grey.shape)
    size = (max(1, round(grey.shape[1] * scale)), max(1, round(grey.shape[0] * scale)))  # (W, H) for PIL
    resample = Image.Resampling.BOX if scale < 1 else Image.Resampling.BICUBIC  # BOX averages when shrinking
    grey = np.asarray(Image.fromarray(grey).resize(size, resample))
    ink = _ink(np.clip(grey, 0, 255))  # (H', W')
    if (ink > 0).sum() < MIN_INK_PIXELS:
        raise DataError(f"{label}: no digit found (the image looks blank); give a photo or drawing of one digit")
    rows, cols = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
    crop = torch.from_numpy(ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1].copy())  # (h, w)
    h, w = crop.shape
    fit = BOX_SIDE / max(h, w)
    small = (max(1, round(h * fit)), max(1, round(w * fit)))
    # (1, 1, h, w) -> (1, 1, h', w'), longer side 20; antialias averages when shrinking
    crop = torch.nn.functional.interpolate(crop[None, None], size=small, mode="bilinear", antialias=True)[0, 0]
    crop = crop.clamp(0, 1)
    if crop.max() > 0:
        crop = crop / crop.max()  # a thin stroke shrunk to a faint line is still full-strength ink
    return _centre(crop)
