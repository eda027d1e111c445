"""More shapes for the training generator (issue 30/4, 2026-12-07): sixteen families of things a
user might draw that are not a digit, written all at once before the gate was trained on them or
anything was chosen with them, for doodles.training_shape.

Each family draws from the generator it is given, white ink on black, in a box of `SIDE` px; sizes,
stroke weights, fill and turn vary within it. None is a family the non-digit test set is documented
to hold (no heart, moon or crescent, regular pentagon or hexagon, lightning bolt or thick diagonal
cross drawn as a block; no spiral, zigzag, coil or wave), so that set still measures families the
gate never saw. None is a ring or a long thin bar either: those are a 0 and a 1.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

from digitlab.data import doodles

SIDE = 256  # px, the box every family draws in (to_mnist scales it down to MNIST's 20 px box)


def _turn(points: np.ndarray, angle: float) -> np.ndarray:
    """(n, 2) points about 0 turned by `angle` radians."""
    c, s = math.cos(angle), math.sin(angle)
    return points @ np.array([[c, s], [-s, c]])


def _in_box(points: np.ndarray, scale: float) -> list[tuple[float, float]]:
    """(n, 2) points about 0 in a unit box -> pixel corners of a SIDE box, `scale` of it wide."""
    return [tuple(p) for p in (points * scale + 0.5) * SIDE]


def _weight(rng: np.random.Generator) -> int:
    """A stroke weight: thin, medium or heavy, 2-10 % of the box."""
    return int(SIDE * float(rng.choice([rng.uniform(0.02, 0.04), rng.uniform(0.04, 0.07), rng.uniform(0.07, 0.1)])))


def _canvas() -> tuple[Image.Image, ImageDraw.ImageDraw]:
    canvas = Image.new("L", (SIDE, SIDE), 0)
    return canvas, ImageDraw.Draw(canvas)


def _small(ink: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A filled shape on a page 1.4-1.8x its box: to_mnist reads a solid shape over a third of the
    page as a page with a few dashes of ink at its edge (a filled 8-gon filling the box: 17 px left)."""
    side = int(SIDE * rng.uniform(1.4, 1.8))
    page = Image.new("L", (side, side), 0)
    page.paste(ink, (int(rng.integers(0, side - SIDE + 1)), int(rng.integers(0, side - SIDE + 1))))
    return page


def _circle(n: int, radius: float = 0.5, start: float = -math.pi / 2) -> np.ndarray:
    """n points evenly round a circle of `radius` about 0, the first straight up."""
    t = start + np.arange(n) * 2 * math.pi / n
    return np.stack([radius * np.cos(t), radius * np.sin(t)], 1)


def star_polygon(rng: np.random.Generator, tips: int | None = None) -> Image.Image:
    """A star drawn in one closed stroke, as people draw a pentagram: {n/k}, n = 5, 7, 8 or 9 tips."""
    n = int(rng.choice([5, 7, 8, 9])) if tips is None else tips
    k = int(rng.choice([k for k in range(2, (n + 1) // 2) if math.gcd(n, k) == 1]))
    path = _circle(n)[(np.arange(n + 1) * k) % n]
    return doodles.strokes([_turn(path, rng.uniform(0, 2 * math.pi)) * rng.uniform(0.8, 1.0) + 0.5], rng)


def spiky_star(rng: np.random.Generator, tips: int | None = None) -> Image.Image:
    """A star of 5-10 sharp tips (filled or outlined), or a seal of 11-16 blunt ones (filled: an
    outline of blunt tips is nearly a ring)."""
    if rng.random() < 0.6 if tips is None else tips <= 10:
        return doodles.polygon(doodles.star(tips or int(rng.integers(5, 11)), rng.uniform(0.15, 0.35)), rng)
    seal = doodles.star(tips or int(rng.integers(11, 17)), rng.uniform(0.7, 0.85))
    return _small(doodles.polygon(seal, rng, filled=True), rng)


def regular_polygon(rng: np.random.Generator, sides: int | None = None) -> Image.Image:
    """A regular polygon of 3, 4, 7, 8, 10 or 12 sides; the many-sided ones filled (an outline is a 0)."""
    n = int(rng.choice([3, 4, 7, 8, 10, 12])) if sides is None else sides
    return _small(doodles.polygon(_circle(n), rng, filled=True), rng) if n > 4 else doodles.polygon(_circle(n), rng)


def nested(rng: np.random.Generator) -> Image.Image:
    """A square, diamond or triangle outline holding a smaller one (filled or outlined) or a dot (a
    heavy outline can swallow a triangle's inner outline: 1 of the first 8 draws of the tests' seeds)."""
    canvas, draw = _canvas()
    n = int(rng.choice([3, 4]))
    outer = _circle(n, start=rng.uniform(0, 2 * math.pi))
    inner = rng.uniform(0.3, 0.55)
    draw.polygon(_in_box(outer, rng.uniform(0.85, 1.0)), outline=255, width=_weight(rng))
    inside = rng.integers(3)
    if inside == 0:
        draw.polygon(_in_box(outer, inner), fill=255)
    elif inside == 1:
        draw.polygon(_in_box(outer, inner), outline=255, width=_weight(rng))
    else:
        r = SIDE * rng.uniform(0.05, 0.1)
        draw.ellipse([SIDE / 2 - r, SIDE / 2 - r, SIDE / 2 + r, SIDE / 2 + r], fill=255)
    return canvas


def line_arrow(rng: np.random.Generator, ends: int | None = None) -> Image.Image:
    """An arrow drawn as strokes: a straight or bent shaft, a head of two barbs at one end or both
    (`ends` heads when given)."""
    bend = rng.uniform(-0.25, 0.25) if rng.random() < 0.5 else 0.0
    shaft = np.array([[-0.5, 0.0], [0.0, bend], [0.5, 0.0]])
    barb, spread = rng.uniform(0.15, 0.3), rng.uniform(0.5, 1.0)
    back = math.atan2(*(shaft[-2] - shaft[-1])[::-1])  # the way back along the shaft from its tip
    heads = [np.array([shaft[-1] + barb * np.array([math.cos(back + spread), math.sin(back + spread)]), shaft[-1],
                       shaft[-1] + barb * np.array([math.cos(back - spread), math.sin(back - spread)])])]
    if rng.random() < 0.3 if ends is None else ends == 2:  # double-headed: the tail's head, mirrored
        heads.append(heads[0] * np.array([-1, 1]))
    turn = rng.uniform(0, 2 * math.pi)
    return doodles.strokes([_turn(line, turn) * 0.9 + 0.5 for line in [shaft, *heads]], rng)


def asterisk(rng: np.random.Generator, arms: int | None = None) -> Image.Image:
    """Two to four strokes of one length crossing at the middle: a plus, an x, an asterisk."""
    n = int(rng.integers(2, 5)) if arms is None else arms
    turn = rng.uniform(0, math.pi)
    ends = [np.array([[math.cos(a), math.sin(a)], [-math.cos(a), -math.sin(a)]]) * 0.5
            for a in turn + np.arange(n) * math.pi / n]
    return doodles.strokes([e + 0.5 for e in ends], rng)


def flower(rng: np.random.Generator, petals: int | None = None) -> Image.Image:
    """A daisy (5-8 petals round a disc) or a cloud (6-9 discs along an oval), filled; a daisy of
    `petals` when given."""
    canvas, draw = _canvas()
    if rng.random() < 0.5 if petals is None else True:
        petals, r = petals or int(rng.integers(5, 9)), rng.uniform(0.08, 0.14)
        for x, y in _turn(_circle(petals, 0.32), rng.uniform(0, math.pi)) + 0.5:
            draw.ellipse([(x - r) * SIDE, (y - r) * SIDE, (x + r) * SIDE, (y + r) * SIDE], fill=255)
        c = rng.uniform(0.12, 0.2)
        draw.ellipse([(0.5 - c) * SIDE, (0.5 - c) * SIDE, (0.5 + c) * SIDE, (0.5 + c) * SIDE], fill=255)
        return _small(canvas, rng)
    bumps = int(rng.integers(6, 10))
    centres = _circle(bumps, 0.3) * np.array([1.0, rng.uniform(0.45, 0.7)]) + 0.5
    for (x, y), r in zip(centres, rng.uniform(0.12, 0.2, bumps)):
        draw.ellipse([(x - r) * SIDE, (y - r) * SIDE, (x + r) * SIDE, (y + r) * SIDE], fill=255)
    draw.ellipse([0.25 * SIDE, 0.35 * SIDE, 0.75 * SIDE, 0.65 * SIDE], fill=255)  # the cloud's middle filled
    return _small(canvas, rng)


def sun(rng: np.random.Generator, rays: int | None = None) -> Image.Image:
    """A filled disc with 6-12 rays standing off it."""
    canvas, draw = _canvas()
    rays, r = rays or int(rng.integers(6, 13)), rng.uniform(0.14, 0.22)
    draw.ellipse([(0.5 - r) * SIDE, (0.5 - r) * SIDE, (0.5 + r) * SIDE, (0.5 + r) * SIDE], fill=255)
    width = _weight(rng)
    for (x0, y0), (x1, y1) in zip(_circle(rays, r + 0.06) + 0.5, _circle(rays, 0.48) + 0.5):
        draw.line([(x0 * SIDE, y0 * SIDE), (x1 * SIDE, y1 * SIDE)], fill=255, width=width)
    return canvas


def house(rng: np.random.Generator, turn: float | None = None) -> Image.Image:
    """A house: a square body under a triangular roof, outlined or filled, with a door; turned up to
    30 degrees (`turn`, degrees, when given)."""
    canvas, draw = _canvas()
    body = np.array([[-0.35, -0.05], [0.35, -0.05], [0.35, 0.45], [-0.35, 0.45]])
    roof = np.array([[-0.45, -0.05], [0.0, -0.5], [0.45, -0.05]])
    door = [(0.5 - 0.08) * SIDE, 0.72 * SIDE, (0.5 + 0.08) * SIDE, 0.95 * SIDE]
    if rng.random() < 0.5:
        width = _weight(rng)
        draw.polygon(_in_box(body, 1.0), outline=255, width=width)
        draw.polygon(_in_box(roof, 1.0), outline=255, width=width)
        draw.rectangle(door, outline=255, width=max(1, width // 2))
    else:
        draw.polygon(_in_box(body, 1.0), fill=255)
        draw.polygon(_in_box(roof, 1.0), fill=255)
        draw.rectangle(door, fill=0)
        canvas = _small(canvas, rng)
    return canvas.rotate(float(rng.uniform(-30, 30)) if turn is None else turn, resample=Image.BILINEAR)


def face(rng: np.random.Generator) -> Image.Image:
    """A face: a round outline, two eyes and a smiling or frowning mouth."""
    canvas, draw = _canvas()
    width = _weight(rng)
    draw.ellipse([0.05 * SIDE, 0.05 * SIDE, 0.95 * SIDE, 0.95 * SIDE], outline=255, width=width)
    e = rng.uniform(0.05, 0.08)
    for x in (0.35, 0.65):
        draw.ellipse([(x - e) * SIDE, (0.38 - e) * SIDE, (x + e) * SIDE, (0.38 + e) * SIDE], fill=255)
    smile = rng.random() < 0.7
    box = [0.28 * SIDE, (0.4 if smile else 0.62) * SIDE, 0.72 * SIDE, (0.75 if smile else 0.9) * SIDE]
    draw.arc(box, 20 if smile else 200, 160 if smile else 340, fill=255, width=width)
    return canvas


def teardrop(rng: np.random.Generator) -> Image.Image:
    """A filled drop: a round bottom drawn up to a point."""
    t = np.linspace(0, 2 * math.pi, 60, endpoint=False)
    sharp = rng.uniform(1.5, 3.0)  # how fast the sides close on the point
    x = 0.4 * np.sin(t) * np.abs(np.sin(t / 2)) ** sharp  # 0 at t = 0: the point, at the top
    y = -0.5 * np.cos(t)
    return _small(doodles.polygon(np.stack([x, y], 1), rng, filled=True), rng)


def envelope(rng: np.random.Generator, turn: float | None = None) -> Image.Image:
    """An envelope: a rectangle outline with its flap, a V from the top corners."""
    h = rng.uniform(0.28, 0.4)
    outline = np.array([[-0.5, -h], [0.5, -h], [0.5, h], [-0.5, h], [-0.5, -h]])
    flap = np.array([[-0.5, -h], [0.0, rng.uniform(0.0, h * 0.6)], [0.5, -h]])
    turn = rng.uniform(-0.5, 0.5) if turn is None else turn
    return doodles.strokes([_turn(line, turn) * 0.95 + 0.5 for line in (outline, flap)], rng)


def crown(rng: np.random.Generator, spikes: int | None = None, turn: float | None = None) -> Image.Image:
    """A crown: a filled band under spikes + 1 points (spikes 3-5), turned at random (`turn` radians)."""
    spikes = int(rng.integers(3, 6)) if spikes is None else spikes
    xs = np.linspace(-0.5, 0.5, 2 * spikes + 1)
    top = np.stack([xs, np.where(np.arange(len(xs)) % 2 == 0, -0.45, -0.45 + rng.uniform(0.35, 0.55))], 1)
    band = np.array([[0.5, 0.3], [-0.5, 0.3]])
    return _small(doodles.polygon(np.vstack([top, band]), rng, filled=True, turn=turn), rng)


def tick(rng: np.random.Generator, turn: float | None = None) -> Image.Image:
    """A tick mark: a short stroke down to the right, then a long one up to the right."""
    low = rng.uniform(-0.15, 0.05)
    path = np.array([[-0.5, 0.05], [low, 0.45], [0.5, -0.5]])
    return doodles.strokes([_turn(path, rng.uniform(-0.3, 0.3) if turn is None else turn) * 0.9 + 0.5], rng)


def noughts_grid(rng: np.random.Generator, turn: float | None = None) -> Image.Image:
    """A noughts-and-crosses grid: two strokes each way, crossing."""
    a, b = rng.uniform(-0.25, -0.1), rng.uniform(0.1, 0.25)
    lines = [np.array([[x, -0.5], [x, 0.5]]) for x in (a, b)] + [np.array([[-0.5, y], [0.5, y]]) for y in (a, b)]
    turn = rng.uniform(-0.4, 0.4) if turn is None else turn
    return doodles.strokes([_turn(line, turn) * 0.9 + 0.5 for line in lines], rng)


def rounded_block(rng: np.random.Generator) -> Image.Image:
    """A filled rounded rectangle, square to a pill (no thinner than 0.45 of its length), turned."""
    canvas, draw = _canvas()
    h = 0.5 * rng.uniform(0.45, 1.0)
    radius = rng.uniform(0.05, h)  # up to a stadium's round ends
    draw.rounded_rectangle([0.2 * SIDE, (0.5 - 0.6 * h) * SIDE, 0.8 * SIDE, (0.5 + 0.6 * h) * SIDE],
                           radius=0.6 * radius * SIDE, fill=255)  # 0.6 of the box wide: a wider one read as dashes
    return _small(canvas.rotate(float(rng.uniform(0, 180)), resample=Image.BILINEAR), rng)


FAMILIES = {f.__name__: f for f in (star_polygon, spiky_star, regular_polygon, nested, line_arrow, asterisk, flower,
                                    sun, house, face, teardrop, envelope, crown, tick, noughts_grid, rounded_block)}


def any_shape(rng: np.random.Generator) -> Image.Image:
    """One of FAMILIES, each as likely."""
    names = list(FAMILIES)
    return FAMILIES[names[int(rng.integers(len(names)))]](rng)
