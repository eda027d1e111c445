"""Turning a user's photo, scan or drawing of one digit into the 28 x 28 input MNIST models expect.

MNIST's own recipe (LeCun et al.): white ink on black, the digit scaled to fit a 20 x 20 box keeping
its aspect ratio, then placed in 28 x 28 so that its centre of mass is the centre. A photo needs more
first: EXIF rotation, transparency, dark ink on light paper, uneven lighting and sensor noise.
"""

from __future__ import annotations

import io
import os
import warnings
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
DECODE_SIDE = 4 * WORK_SIDE  # px: a file is decoded (or shrunk at once) to about this, longer side
MAX_DECODE_BYTES = 160 << 20  # one image's decoded pixels; with what follows, peak memory stays under 300 MB
BYTES_PER_PIXEL = {"1": 1, "L": 1, "I;16": 2, "I;16B": 2, "I;16L": 2}  # Pillow's storage; 4 for the rest


def open_image(source: str | os.PathLike | bytes | Image.Image, name: str = "image") -> Image.Image:
    """A PIL image from a path, raw bytes or a PIL image, upright per its EXIF orientation.

    Decoding is bounded (see `decode`): a file is at most DECODE_SIDE on its longer side here.
    """
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
        image = decode(stream, name, DECODE_SIDE)
    try:
        return ImageOps.exif_transpose(image)
    except (OSError, ValueError, SyntaxError):
        return image  # a damaged EXIF block: keep the pixels as stored


def decode(stream, name: str, side: int) -> Image.Image:
    """Open and decode one image file with bounded memory, shrunk to at most `side` pixels a side.

    A JPEG decodes straight at 1/2..1/8 scale (its draft mode). Other formats cannot, so a file
    whose pixels would take more than MAX_DECODE_BYTES is refused before decoding (a 12,000 x
    12,000 grey PNG, 144 MB, is read; the same in colour, 576 MB, is not), and a large one is
    box-averaged down to `side` at once, so what follows works on a small image.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the budget below decides
            image = Image.open(stream)
        image.draft(image.mode, (side, side))
        need = image.width * image.height * BYTES_PER_PIXEL.get(image.mode, 4)
        if need > MAX_DECODE_BYTES:
            raise Image.DecompressionBombError(f"{image.width:,} x {image.height:,} pixels")
        image.load()  # decode now, so a truncated file fails here rather than later
        if max(image.size) <= side:
            return image
        if image.mode not in ("L", "LA", "RGB", "RGBA", "I", "F"):
            image = image.convert("RGBA" if "transparency" in image.info or "A" in image.mode else
                                  "I" if image.mode.startswith("I;16") else "RGB" if image.mode != "1" else "L")
        return image.reduce(max(image.size) // side)
    except Image.DecompressionBombError as err:  # Pillow's own limit (178 million pixels) or ours
        raise DataError(f"{name}: too large to read ({str(err).split(' exceeds')[0]}, over "
                        f"{MAX_DECODE_BYTES >> 20} MB decoded); give a smaller image of one digit") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise DataError(f"{name}: not a readable image ({err}); give a PNG or JPEG of one digit") from None


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


def _sweep(values: np.ndarray, window: int, reduce) -> np.ndarray:
    """A square min or max filter of odd side `window`, done as two 1-D passes (it is separable)."""
    half = window // 2
    for axis in (0, 1):
        padded = np.pad(values, [(half, half) if a == axis else (0, 0) for a in (0, 1)], mode="edge")
        values = reduce(np.lib.stride_tricks.sliding_window_view(padded, window, axis=axis), axis=-1)
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
