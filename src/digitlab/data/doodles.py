"""Drawn things that are neither characters nor digits, for nondigits.py: pen scribbles, shapes and
textures, each in a TRAINING family (random-point scribbles; rectangles, triangles, stars, plus signs,
arrows, random polygons and pebbles, and since 2026-12-06 kites, cogs, chevrons, L blocks and
strewn small shapes; noise, stripes, checks, dots, and graph paper, diamonds, mosaics, hay and
plaid) and a TEST family of its own (spirals, zigzags, coils, waves; pentagons and hexagons, hearts,
moons, bolts, thick crosses; hatching, rings, bricks, blobs, wood grain). No ring and no long thin box: those are a 0 and a 1.

Each function draws from the generator it is given, white on black, as stress.py draws its digits.

The test families live in unseen_doodles.py."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from digitlab.data import glyphs


def strokes(lines: list[np.ndarray], rng: np.random.Generator, side: int = 280) -> Image.Image:
    """Pen strokes through `lines` (each (n, 2) in a unit box) at one pen width of 4 to 44 px on a 280 px pad."""
    canvas = Image.new("L", (side, side), 0)
    draw = ImageDraw.Draw(canvas)
    width = float(rng.choice([rng.uniform(4, 12), rng.uniform(12, 26), rng.uniform(26, 44)])) * side / 280
    for line in lines:
        pen_stroke_points = [tuple(p) for p in (0.1 + 0.8 * np.clip(line, 0, 1)) * side]
        glyphs.pen_stroke(draw, pen_stroke_points, width)
    return canvas


# ---------------------------------------------------------------------------------------------
# The training generator
# ---------------------------------------------------------------------------------------------


def training_scribble(rng: np.random.Generator) -> Image.Image:
    """One to three strokes through 6-14 random points each: busier than any digit's path."""
    lines = [glyphs.smooth(rng.uniform(0, 1, (int(rng.integers(6, 15)), 2))) for _ in range(int(rng.integers(1, 4)))]
    return strokes(lines, rng)


def polygon(points: np.ndarray, rng: np.random.Generator, side: int = 256, filled: bool | None = None) -> Image.Image:
    """`points` ((n, 2) about 0 in a unit box) turned at random, drawn filled or as an outline."""
    turn = rng.uniform(0, 2 * math.pi)
    c, s = math.cos(turn), math.sin(turn)
    xy = points @ np.array([[c, s], [-s, c]]) * rng.uniform(0.5, 0.8) + 0.5
    canvas = Image.new("L", (side, side), 0)
    draw = ImageDraw.Draw(canvas)
    corners = [tuple(p) for p in xy * side]
    if (rng.random() < 0.4) if filled is None else filled:
        draw.polygon(corners, fill=255)
    else:
        draw.line(corners + corners[:1], fill=255, width=int(side * rng.uniform(0.02, 0.08)), joint="curve")
    return canvas


def star(tips: int, inner: float) -> np.ndarray:
    angles = np.arange(2 * tips) * math.pi / tips
    radius = np.where(np.arange(2 * tips) % 2 == 0, 0.5, 0.5 * inner)
    return np.stack([radius * np.cos(angles), radius * np.sin(angles)], 1)


def triangle(rng: np.random.Generator) -> np.ndarray:
    """Three corners enclosing a fifth of the box or more: a sliver of a triangle is a 1."""
    while True:
        pts = rng.uniform(-0.5, 0.5, (3, 2))
        (x1, y1), (x2, y2) = pts[1] - pts[0], pts[2] - pts[0]
        if abs(x1 * y2 - x2 * y1) / 2 >= 0.2 * (np.ptp(pts[:, 0]) * np.ptp(pts[:, 1])) and min(np.ptp(pts, 0)) > 0.4:
            return pts


def blob(rng: np.random.Generator, corners: int) -> np.ndarray:
    """A closed outline about the centre: `corners` points at random angles and radii, the curve
    through them smoothed when corners > 8 (a pebble), left straight otherwise (a polygon)."""
    angles = np.sort(rng.uniform(0, 2 * math.pi, corners))
    radius = 0.5 * rng.uniform(0.55, 1.0, corners)
    pts = np.stack([radius * np.cos(angles), radius * np.sin(angles)], 1)
    return glyphs.smooth(np.vstack([pts, pts[:2]]))[6:-6] if corners > 8 else pts


def training_shape(rng: np.random.Generator) -> Image.Image:
    """One of the training generator's shapes: half the time one of the seven first families, else
    one of the later ones (more_shape), so that adding those left the first ones' mix as it was."""
    if rng.random() < 0.5:
        return more_shape(rng)
    form = rng.integers(7)
    if form >= 5:  # a random polygon of 4-8 corners, or a pebble (drawn filled: an outline is a 0)
        pts = blob(rng, int(rng.integers(4, 9)) if form == 5 else int(rng.integers(9, 14)))
        return polygon(pts, rng, filled=form == 6 or None)
    if form == 0:  # a rectangle, square to long
        w, h = 0.5, 0.5 * rng.uniform(0.45, 1)  # no thinner: a long thin box is a 1 or a 0
        pts = np.array([[-w, -h], [w, -h], [w, h], [-w, h]])
    elif form == 1:
        pts = triangle(rng)
    elif form == 2:
        pts = star(int(rng.integers(4, 7)), rng.uniform(0.35, 0.55))
    elif form == 3:  # a plus, as a polygon
        a, b = 0.5, rng.uniform(0.1, 0.2)
        pts = np.array([[-b, -a], [b, -a], [b, -b], [a, -b], [a, b], [b, b], [b, a], [-b, a], [-b, b], [-a, b],
                        [-a, -b], [-b, -b]])
    else:  # an arrow
        pts = np.array([[-0.5, -0.1], [0.1, -0.1], [0.1, -0.3], [0.5, 0], [0.1, 0.3], [0.1, 0.1], [-0.5, 0.1]])
    return polygon(pts, rng)


def grid(side: int) -> tuple[np.ndarray, np.ndarray]:
    return np.mgrid[0:side, 0:side].astype(np.float64) / side


def training_texture(rng: np.random.Generator) -> Image.Image:
    """One of the training generator's textures: half the time noise, stripes, checks or dots, else
    one of the later families (more_texture)."""
    if rng.random() < 0.5:
        return more_texture(rng)
    side = int(rng.integers(96, 257))
    yy, xx = grid(side)
    form = rng.integers(4)
    if form == 0:  # noise, blurred to a grain of 0-3 px
        values = rng.uniform(0, 255, (side, side))
        return Image.fromarray(values.astype(np.uint8)).filter(ImageFilter.GaussianBlur(float(rng.uniform(0, 3))))
    angle = rng.uniform(0, math.pi)
    freq = rng.uniform(4, 16)
    if form == 1:  # stripes
        values = np.sin(2 * math.pi * freq * (math.cos(angle) * xx + math.sin(angle) * yy)) > 0
    elif form == 2:  # checks
        values = (np.floor(xx * freq) + np.floor(yy * freq)) % 2 == 0
    else:  # a grid of dots
        values = (np.hypot((xx * freq) % 1 - 0.5, (yy * freq) % 1 - 0.5) < rng.uniform(0.15, 0.35))
    return Image.fromarray((values * 255).astype(np.uint8))


# Later training families (2026-12-06): shapes and textures of other make than the first ones, since
# the gate missed a fifth of the test set's shapes and a third of its textures. None is a test
# family (no regular pentagon or hexagon, heart, moon, bolt or thick diagonal cross; no hatching,
# rings, bricks, blobs or wood grain): the test set must stay unseen.


def kite(rng: np.random.Generator) -> np.ndarray:
    """A kite: its cross-bar a fifth to two fifths down, half to whole the box wide. (Pie slices
    were tried here first: to_mnist made crescents of them, too like the test set's moons.)"""
    w, y = 0.5 * rng.uniform(0.5, 1.0), rng.uniform(-0.3, -0.1)
    return np.array([[0, -0.5], [w, y], [0, 0.5], [-w, y]])


def gear(rng: np.random.Generator) -> np.ndarray:
    """A cog: 6-12 square teeth on a disc."""
    teeth = int(rng.integers(6, 13))
    t = np.linspace(0, 2 * math.pi, teeth * 8, endpoint=False)
    radius = np.where((t * teeth / (2 * math.pi)) % 1 < 0.5, 0.5, 0.5 * rng.uniform(0.7, 0.82))
    return np.stack([radius * np.cos(t), radius * np.sin(t)], 1)


def chevron(rng: np.random.Generator) -> np.ndarray:
    """A thick V, its arms 60-120 degrees apart (a thin one would be a V, a letter)."""
    depth, thick = rng.uniform(0.25, 0.5), rng.uniform(0.18, 0.3)
    return np.array([[-0.5, -depth], [0, depth - thick], [0.5, -depth], [0.5, -depth + thick], [0, depth],
                     [-0.5, -depth + thick]])


def _l_block(rng: np.random.Generator) -> np.ndarray:
    """An L-shaped block, both arms at least a third of the box thick."""
    a, b = rng.uniform(0.33, 0.45, 2)
    return np.array([[-0.5, -0.5], [-0.5 + a, -0.5], [-0.5 + a, 0.5 - b], [0.5, 0.5 - b], [0.5, 0.5], [-0.5, 0.5]])


def more_shape(rng: np.random.Generator) -> Image.Image:
    """A kite (filled or outlined), a cog, a chevron, an L block or strewn small shapes, one in five each."""
    form = rng.integers(5)
    if form == 0:
        return polygon(kite(rng), rng)
    if form == 1:
        return polygon(gear(rng), rng, filled=rng.random() < 0.7)
    if form == 2:
        return polygon(chevron(rng), rng, filled=True)
    if form == 3:
        return polygon(_l_block(rng), rng, filled=True)
    return scattered_shapes(rng)


def scattered_shapes(rng: np.random.Generator, side: int = 256) -> Image.Image:
    """Three to seven small filled squares, triangles and discs strewn over the box."""
    canvas = Image.new("L", (side, side), 0)
    draw = ImageDraw.Draw(canvas)
    for _ in range(int(rng.integers(3, 8))):
        r = side * rng.uniform(0.06, 0.14)
        cx, cy = rng.uniform(r, side - r, 2)
        kind = rng.integers(3)
        if kind == 0:
            draw.rectangle([cx - r, cy - r, cx + r, cy + r], fill=255)
        elif kind == 1:
            draw.polygon([(cx, cy - r), (cx + r, cy + r), (cx - r, cy + r)], fill=255)
        else:
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=255)
    return canvas


def more_texture(rng: np.random.Generator) -> Image.Image:
    """Graph paper, diamonds, a mosaic, hay or plaid, one in five each, 96-256 px square."""
    side = int(rng.integers(96, 257))
    yy, xx = grid(side)
    freq = rng.uniform(4, 14)
    form = rng.integers(5)
    if form == 0:  # graph paper: thin lines both ways, turned at most 20 degrees (45 would be hatching)
        turn = rng.uniform(-math.pi / 9, math.pi / 9)
        u, v = math.cos(turn) * xx + math.sin(turn) * yy, -math.sin(turn) * xx + math.cos(turn) * yy
        width = rng.uniform(0.08, 0.2)
        values = ((u * freq) % 1 < width) | ((v * freq) % 1 < width)
    elif form == 1:  # diamonds: a lattice cut from |sin| + |sin|
        values = np.abs(np.sin(math.pi * freq * xx)) + np.abs(np.sin(math.pi * freq * yy)) > rng.uniform(0.9, 1.3)
    elif form == 2:  # a mosaic: random squares of 3-12 px, on or off
        cell = int(rng.integers(3, 13))
        coarse = rng.random((side // cell + 1, side // cell + 1)) < rng.uniform(0.3, 0.7)
        values = np.kron(coarse, np.ones((cell, cell), dtype=bool))[:side, :side]
    elif form == 3:  # hay: 30-120 short sticks at any angle
        return sticks(rng, side)
    else:  # plaid: two stripe sets of their own widths, in grey
        a = np.sin(2 * math.pi * freq * xx) > rng.uniform(-0.5, 0.5)
        b = np.sin(2 * math.pi * rng.uniform(4, 14) * yy) > rng.uniform(-0.5, 0.5)
        return Image.fromarray((a * 127 + b * 128).astype(np.uint8))
    return Image.fromarray((values * 255).astype(np.uint8))


def sticks(rng: np.random.Generator, side: int) -> Image.Image:
    """Hay: 30-120 short straight sticks of one length and width, anywhere, at any angle."""
    canvas = Image.new("L", (side, side), 0)
    draw = ImageDraw.Draw(canvas)
    length, width = side * rng.uniform(0.08, 0.2), max(1, int(side * rng.uniform(0.01, 0.03)))
    for _ in range(int(rng.integers(30, 121))):
        x, y = rng.uniform(0, side, 2)
        turn = rng.uniform(0, math.pi)
        dx, dy = length / 2 * math.cos(turn), length / 2 * math.sin(turn)
        draw.line([(x - dx, y - dy), (x + dx, y + dy)], fill=255, width=width)
    return canvas
