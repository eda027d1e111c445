"""The non-digit test set's own drawn families, never seen in training (doodles.py holds the training
ones): spirals, zigzags, coils and waves; pentagons, hexagons, hearts, moons, bolts and thick
crosses; hatching, rings, bricks, blobs and wood grain."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from digitlab.data.doodles import grid, polygon, star, strokes


def unseen_scribble(rng: np.random.Generator) -> Image.Image:
    t = np.linspace(0, 1, 200)[:, None]
    form = rng.integers(4)
    if form == 0:  # a spiral of 2-4 turns
        turns, r = rng.uniform(2, 4), 0.05 + 0.45 * t
        line = np.hstack([r * np.cos(2 * math.pi * turns * t), r * np.sin(2 * math.pi * turns * t)]) + 0.5
    elif form == 1:  # a zigzag of 4-9 teeth
        teeth = int(rng.integers(4, 10))
        x = np.linspace(0, 1, 2 * teeth + 1)
        line = np.stack([x, 0.5 + rng.uniform(0.15, 0.4) * (np.arange(2 * teeth + 1) % 2 - 0.5)], 1)
    elif form == 2:  # a coil: loops along a line, as a pen tried out
        loops = rng.uniform(4, 8)
        line = np.hstack([t * 0.8 + 0.1 + 0.08 * np.cos(2 * math.pi * loops * t),
                          0.5 + 0.2 * np.sin(2 * math.pi * loops * t)])
    else:  # waves, two or three lines of them
        line = None
        lines = [np.hstack([t, 0.2 + k * 0.3 + 0.08 * np.sin(2 * math.pi * rng.uniform(2, 5) * t)])
                 for k in range(int(rng.integers(2, 4)))]
        return strokes(lines, rng)
    return strokes([line], rng)


def unseen_shape(rng: np.random.Generator) -> Image.Image:
    form = rng.integers(5)
    t = np.linspace(0, 2 * math.pi, 120, endpoint=False)
    if form == 0:  # a pentagon or hexagon
        n = int(rng.integers(5, 7))
        a = np.arange(n) * 2 * math.pi / n
        pts = 0.5 * np.stack([np.cos(a), np.sin(a)], 1)
    elif form == 1:  # a heart
        x, y = 16 * np.sin(t) ** 3, -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
        pts = np.stack([x, y], 1) / 34
    elif form == 2:  # a crescent moon: two arcs
        outer = 0.5 * np.stack([np.cos(t[:60] * 1.0 - math.pi / 2), np.sin(t[:60] - math.pi / 2)], 1)
        inner = outer[::-1] * np.array([0.55, 1.0])
        pts = np.vstack([outer, inner])
    elif form == 3:  # a lightning bolt
        pts = np.array([[0.05, -0.5], [-0.3, 0.05], [-0.02, 0.05], [-0.15, 0.5], [0.3, -0.1], [0.02, -0.1],
                        [0.2, -0.5]])
    else:  # a cross of St Andrew, thick
        pts = star(4, rng.uniform(0.2, 0.3)) * np.array([1.0, 1.0])
        pts = np.vstack([pts, pts[:1]])[:-1]
    return polygon(pts, rng)


def unseen_texture(rng: np.random.Generator) -> Image.Image:
    side = int(rng.integers(96, 257))
    yy, xx = grid(side)
    freq = rng.uniform(5, 14)
    form = rng.integers(5)
    if form == 0:  # cross-hatching
        values = (((xx + yy) * freq) % 1 < 0.25) | (((xx - yy) * freq) % 1 < 0.25)
    elif form == 1:  # many rings about a point off the image's centre
        cx, cy = rng.uniform(-0.5, 1.5, 2)
        values = (np.hypot(xx - cx, yy - cy) * freq) % 1 < 0.4
    elif form == 2:  # bricks
        row = np.floor(yy * freq)
        values = ((yy * freq) % 1 < 0.15) | (((xx * freq / 2 + row * 0.5) % 1) < 0.08)
    elif form == 3:  # blobs: coarse noise, smoothed and cut at its median
        coarse = Image.fromarray(rng.uniform(0, 255, (8, 8)).astype(np.uint8)).resize((side, side), Image.Resampling.BICUBIC)
        grey = np.asarray(coarse, dtype=np.float64)
        values = grey > np.median(grey)
    else:  # wood grain: stripes bent by a slow wave
        values = np.sin(2 * math.pi * freq * (yy + 0.1 * np.sin(2 * math.pi * rng.uniform(1, 3) * xx))) > 0.3
    return Image.fromarray((values * 255).astype(np.uint8))
