"""What the damage kinds are drawn with, on (28, 28) float32 images: blur, resampling and warps,
anti-aliased drawing (drawn SUPERSAMPLE times larger), lines from edge to edge, clipping."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw


SIDE = 28  # px
CENTRE = (SIDE - 1) / 2  # px: the frame's centre, in pixel coordinates
SUPERSAMPLE = 4  # lines and drops are drawn this many times larger, then averaged down (anti-aliased)


def _gaussian_blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """A separable Gaussian blur, edges extended (so a grey border stays grey)."""
    radius = max(1, math.ceil(3 * sigma))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps /= taps.sum()
    out = np.pad(img, radius, mode="edge")
    out = sum(w * out[k:k + SIDE, :] for k, w in enumerate(taps))  # (28 + 2r, ...) -> (28, 28 + 2r)
    out = sum(w * out[:, k:k + SIDE] for k, w in enumerate(taps))  # -> (28, 28)
    return out.astype(np.float32)


def _sample(img: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """img read at real coordinates (ys, xs), bilinearly; black outside the frame."""
    padded = np.pad(img, 1)  # a black border: far-away coordinates clip into it
    y0, x0 = np.floor(ys), np.floor(xs)
    wy, wx = ys - y0, xs - x0

    def at(dy: int, dx: int) -> np.ndarray:
        yy = np.clip(y0 + dy + 1, 0, SIDE + 1).astype(np.int64)
        xx = np.clip(x0 + dx + 1, 0, SIDE + 1).astype(np.int64)
        return padded[yy, xx]

    return ((1 - wy) * (1 - wx) * at(0, 0) + (1 - wy) * wx * at(0, 1)
            + wy * (1 - wx) * at(1, 0) + wy * wx * at(1, 1)).astype(np.float32)


def _warp(img: np.ndarray, matrix: np.ndarray, shift=(0.0, 0.0)) -> np.ndarray:
    """The image moved by the 2 x 2 `matrix` (on (x, y) about the centre), then by `shift` (x, y) px."""
    ys, xs = np.mgrid[0:SIDE, 0:SIDE].astype(np.float64)
    # Each output pixel reads the input where the inverse map sends it.
    inverse = np.linalg.inv(matrix)
    x, y = xs - CENTRE - shift[0], ys - CENTRE - shift[1]
    src_x = inverse[0, 0] * x + inverse[0, 1] * y + CENTRE
    src_y = inverse[1, 0] * x + inverse[1, 1] * y + CENTRE
    return _sample(img, src_y, src_x)


def _drawn(draw_on) -> np.ndarray:
    """(28, 28) float32 coverage in [0, 1] of what `draw_on(draw, scale)` draws in white on a canvas
    SUPERSAMPLE times larger (coordinates in frame px times `scale`), averaged down."""
    big = Image.new("L", (SIDE * SUPERSAMPLE, SIDE * SUPERSAMPLE), 0)
    draw_on(ImageDraw.Draw(big), SUPERSAMPLE)
    return np.asarray(big.resize((SIDE, SIDE), Image.Resampling.BOX), dtype=np.float32) / 255


def _over(img: np.ndarray, coverage: np.ndarray, value: float) -> np.ndarray:
    """`value` painted over the image where `coverage` says, as paint is: opaque where it is 1."""
    return img * (1 - coverage) + value * coverage


def _edge_point(rng: np.random.Generator, side: int) -> tuple[float, float]:
    """A point on the frame's side `side` (0 top, 1 right, 2 bottom, 3 left), away from the corners."""
    t = float(rng.uniform(4, SIDE - 4))
    return [(t, 0.0), (SIDE - 1.0, t), (t, SIDE - 1.0), (0.0, t)][side]


def _across(rng: np.random.Generator) -> tuple[tuple[float, float], tuple[float, float]]:
    """Two points on opposite sides of the frame: a line between them crosses the digit's box."""
    side = int(rng.integers(4))
    return _edge_point(rng, side), _edge_point(rng, (side + 2) % 4)


def _ramp(rng: np.random.Generator) -> np.ndarray:
    """(28, 28) in [0, 1]: a linear ramp across the frame in a random direction."""
    theta = rng.uniform(0, 2 * math.pi)
    ys, xs = np.mgrid[0:SIDE, 0:SIDE] - CENTRE
    along = math.cos(theta) * xs + math.sin(theta) * ys
    return ((along - along.min()) / (along.max() - along.min())).astype(np.float32)


def _clip(img: np.ndarray) -> np.ndarray:
    return np.clip(img, 0, 1).astype(np.float32)


def _as_bytes(img: np.ndarray) -> np.ndarray:
    """(28, 28) float in [0, 1] -> uint8 0-255, as a PNG stores it."""
    return (np.clip(img, 0, 1) * 255).round().astype(np.uint8)


