"""Kinds of damage of digitlab's own, apart from the corruption set's: what the gate learns to answer
through and its threshold is chosen on, so that damage it was never shown (the corruption set's
held-out kinds) is met by something wider than the corruption set's seen kinds.

Each kind is `(img, severity 1..3, rng) -> img` on (28, 28) float32 in [0, 1], light ink on black, as
damage_kinds.py's are. They were written on 2026-12-07 from plain descriptions (a bent hair on the
glass, blots of ink, graph paper, dust, a lens out of focus) before anything was chosen with them, and
none is tuned afterwards: their strengths are as first written.
"""

from __future__ import annotations

import math

import numpy as np

from digitlab.data.damage_drawing import SIDE, _as_bytes, _clip, _drawn, _over

SEED = 5  # the gate's training draws of these kinds ...
CHOICE_SEED = 6  # ... and the draws its threshold is chosen on (the corruption set's are 0 and 1, the gate's 2)


def hairline(img, severity, rng):
    """`count` thin bent lines from one side of the frame to another (a quadratic curve through a
    point up to 8 px off the straight line), 0.4-0.9 px wide, half as bright as ink to full."""
    count = (1, 2, 3)[severity - 1]
    out = img
    for _ in range(count):
        a, b = rng.uniform(0, SIDE, 2), rng.uniform(0, SIDE, 2)
        side = int(rng.integers(4))  # which pair of sides: the line enters on one and leaves on the other
        start = [(a[0], 0.0), (SIDE - 1.0, a[1]), (a[0], SIDE - 1.0), (0.0, a[1])][side]
        end = [(b[0], SIDE - 1.0), (0.0, b[1]), (b[0], 0.0), (SIDE - 1.0, b[1])][side]
        bend = rng.uniform(-8, 8, 2)
        middle = ((start[0] + end[0]) / 2 + bend[0], (start[1] + end[1]) / 2 + bend[1])
        t = np.linspace(0, 1, 40)[:, None]
        curve = (1 - t) ** 2 * np.array(start) + 2 * t * (1 - t) * np.array(middle) + t ** 2 * np.array(end)
        width, level = rng.uniform(0.4, 0.9), rng.uniform(0.5, 1.0)

        def line(draw, k, curve=curve, width=width):
            draw.line([(x * k, y * k) for x, y in curve], fill=255, width=max(1, round(width * k)))

        out = np.maximum(out, level * _drawn(line))
    return _clip(out)


def blots(img, severity, rng):
    """`count` blots of ink, each two to four overlapping discs 0.8-2 px across around one point,
    anywhere in the frame; one in three as dark as the page (ink lost), the rest as bright as ink."""
    count = (1, 2, 4)[severity - 1]
    out = img
    for _ in range(count):
        centre = rng.uniform(2, SIDE - 2, 2)
        discs = [(centre + rng.normal(0, 1.0, 2), rng.uniform(0.8, 2.0)) for _ in range(int(rng.integers(2, 5)))]
        value = 0.0 if rng.random() < 1 / 3 else float(rng.uniform(0.7, 1.0))

        def blot(draw, k, discs=discs):
            for (x, y), r in discs:
                draw.ellipse([(x - r) * k, (y - r) * k, (x + r) * k, (y + r) * k], fill=255)

        out = _over(out, _drawn(blot), value)
    return _clip(out)


def grid(img, severity, rng):
    """Graph paper behind the digit: faint lines both ways every 4-7 px, turned up to 8 degrees,
    `level` bright (the ink stays above them)."""
    level = (0.2, 0.35, 0.5)[severity - 1]
    period, turn = rng.uniform(4, 7), math.radians(rng.uniform(-8, 8))
    ys, xs = np.mgrid[0:SIDE, 0:SIDE].astype(np.float32)
    offset = rng.uniform(0, period, 2)
    u = math.cos(turn) * xs + math.sin(turn) * ys + offset[0]  # px along the paper's two directions
    v = -math.sin(turn) * xs + math.cos(turn) * ys + offset[1]

    def near(c):  # 1 on a line, falling to 0 half a pixel away
        gap = np.abs(np.remainder(c + period / 2, period) - period / 2)
        return np.clip(1.0 - gap / 0.7, 0, 1)

    return _clip(np.maximum(img, level * np.maximum(near(u), near(v))))


def speckle(img, severity, rng):
    """Dust: `count` single specks, each a pixel's worth of light or dark, anywhere."""
    count = (12, 25, 45)[severity - 1]
    out = img.copy()
    ys, xs = rng.integers(0, SIDE, (2, count))
    values = np.where(rng.random(count) < 0.25, 0.0, rng.uniform(0.3, 1.0, count)).astype(np.float32)
    out[ys, xs] = values
    return _clip(out)


def defocus(img, severity, rng):
    """A lens out of focus: the image averaged over a disc of `radius` px (and a little either way),
    then brought back to its own brightest ink, as a camera's exposure would."""
    radius = (1.0, 1.5, 2.2)[severity - 1] * rng.uniform(0.9, 1.1)
    reach = math.ceil(radius)
    dy, dx = np.mgrid[-reach:reach + 1, -reach:reach + 1]
    weights = np.clip(radius + 0.5 - np.hypot(dy, dx), 0, 1)  # the disc, anti-aliased at its rim
    padded = np.pad(img, reach)
    out = sum(w * padded[reach + y:reach + y + SIDE, reach + x:reach + x + SIDE]
              for y, x, w in zip(dy.ravel(), dx.ravel(), weights.ravel()) if w > 0) / weights.sum()
    return _clip(out * (img.max() / max(float(out.max()), 1e-6)))


KINDS = {"hairline": hairline, "blots": blots, "grid": grid, "speckle": speckle, "defocus": defocus}
NAMES = tuple(KINDS)


def damaged_copies(images: np.ndarray, seed: int = SEED) -> np.ndarray:
    """(n, 28, 28) uint8 digits -> each under one of these kinds in turn (image i: kind i % 5, severity
    1, 2, 3 in turn over each kind's images), from a generator seeded from (seed, i) alone."""
    out = []
    for i, image in enumerate(images):
        rng = np.random.default_rng([seed, i])
        kind = KINDS[NAMES[i % len(NAMES)]]
        out.append(_as_bytes(kind(image.astype(np.float32) / 255, (i // len(NAMES)) % 3 + 1, rng)))
    return np.stack(out) if out else images.copy()
