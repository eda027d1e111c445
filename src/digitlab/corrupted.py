"""The corruption set: MNIST digits no model saw, damaged in the ways real images are.

The 1,000 digits of `heldout.CORRUPTION` (MNIST training indices 59,000-59,999, kept out of every
model's training; never the test set) each go through every kind of damage below, at severity 1
(mild), 2 or 3 (strong, still readable by a person), cycling 1, 2, 3 by image. Every kind is a small
function written here from its description: (28, 28) float32 in [0, 1], light ink on black, a
severity and a generator -> the damaged (28, 28) float32 in [0, 1].

The set is laid out kind by kind (`index // PER_KIND` is the kind). Image i of a kind draws from a
generator seeded from (seed, kind, i): the same seed gives the same bytes, and any slice of the set
can be made alone. Two views, both test only (`data.TEST_ONLY`):

- `corrupted_raw`: the damaged 28 x 28 images as they are, as the Python API feeds them to a model;
- `corrupted`: what `digitlab predict` makes of each, saved as a 28 x 28 PNG (`images.prepare`:
  MNIST-style images go as they are, the rest through `images.to_mnist`).
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

SEED = 0  # the shipped set's seed; figures in RESULTS.md and the report are on this one
VERSION = "v2"  # bump when what any kind draws changes: the caches are keyed on it (v2: milder glass_blur)
SIDE = 28  # px
CENTRE = (SIDE - 1) / 2  # px: the frame's centre, in pixel coordinates
SUPERSAMPLE = 4  # lines and drops are drawn this many times larger, then averaged down (anti-aliased)


# ---------------------------------------------------------------------------------------------
# Helpers: blur, resampling, drawing
# ---------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------
# The kinds: (img, severity 1..3, rng) -> damaged img; each one's three strengths in its first line
# ---------------------------------------------------------------------------------------------


def shot_noise(img, severity, rng):
    """Photon noise: each pixel a Poisson count of `photons` at full ink, fewer is noisier."""
    photons = (10, 5, 2.5)[severity - 1]
    return _clip(rng.poisson(img * photons) / photons)


def impulse_noise(img, severity, rng):
    """Salt and pepper: a share of the pixels set to full white or black, half each."""
    share = (0.04, 0.08, 0.13)[severity - 1]
    hit = rng.random(img.shape) < share
    salt = rng.random(img.shape) < 0.5
    return np.where(hit, salt.astype(np.float32), img).astype(np.float32)


def glass_blur(img, severity, rng):
    """Seen through frosted glass: blurred by `sigma` px, then each pixel read from a random one of its
    3 x 3 neighbours, `rounds` times (a third round made a 3 or a 5 an unreadable cloud)."""
    sigma, rounds = ((0.5, 1), (0.6, 2), (0.7, 2))[severity - 1]
    out = _gaussian_blur(img, sigma)
    ys, xs = np.mgrid[0:SIDE, 0:SIDE]
    for _ in range(rounds):
        dy, dx = rng.integers(-1, 2, (2, SIDE, SIDE))
        out = out[np.clip(ys + dy, 0, SIDE - 1), np.clip(xs + dx, 0, SIDE - 1)]
    return _clip(_gaussian_blur(out, 0.4))


def motion_blur(img, severity, rng):
    """A shaken camera: the mean of the image moved along a line `length` px long, in any direction."""
    length = (3.0, 5.0, 7.0)[severity - 1]
    theta = rng.uniform(0, math.pi)
    steps = np.linspace(-length / 2, length / 2, 2 * int(length) + 1)
    copies = [_warp(img, np.eye(2), (t * math.cos(theta), t * math.sin(theta))) for t in steps]
    return _clip(np.mean(copies, axis=0))


def shear(img, severity, rng):
    """Slanted: x moves by `amount` times the height above the centre, leaning either way."""
    amount = (0.25, 0.4, 0.55)[severity - 1] * rng.choice([-1, 1])
    return _clip(_warp(img, np.array([[1.0, amount], [0.0, 1.0]])))


def scale(img, severity, rng):
    """Smaller or larger about the centre: to `small` of its size, or up by `large`."""
    small, large = ((0.8, 1.1), (0.65, 1.2), (0.5, 1.3))[severity - 1]
    factor = small if rng.random() < 0.5 else large
    return _clip(_warp(img, np.eye(2) * factor))


def rotation(img, severity, rng):
    """Turned about the centre by `degrees`, either way."""
    degrees = (15.0, 25.0, 35.0)[severity - 1] * rng.choice([-1, 1])
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    return _clip(_warp(img, np.array([[c, -s], [s, c]])))


def brightness(img, severity, rng):
    """The whole image raised by `lift`: a grey background, the ink saturating at white."""
    lift = (0.2, 0.35, 0.5)[severity - 1] * rng.uniform(0.9, 1.1)
    return _clip(img + lift)


def translation(img, severity, rng):
    """Moved `distance` px in any direction (whole pixels; the far edge of the digit may leave the frame)."""
    distance = (3.0, 5.0, 7.0)[severity - 1]
    theta = rng.uniform(0, 2 * math.pi)
    dx, dy = round(distance * math.cos(theta)), round(distance * math.sin(theta))
    return _clip(_warp(img, np.eye(2), (dx, dy)))


def stripes(img, severity, rng):
    """Alternating bands `period` px apart raised by `lift`, at any angle (a screen's moire)."""
    lift = (0.2, 0.3, 0.4)[severity - 1]
    period = rng.uniform(3, 6)
    theta = rng.uniform(0, math.pi)
    ys, xs = np.mgrid[0:SIDE, 0:SIDE]
    bands = np.sin(2 * math.pi * (math.cos(theta) * xs + math.sin(theta) * ys) / period) > 0
    return _clip(img + lift * bands)


def fog(img, severity, rng):
    """A smooth random field added, up to `thickness`: noise on a coarse grid (4 and 8 px), enlarged."""
    thickness = (0.3, 0.45, 0.6)[severity - 1]
    field = np.zeros((SIDE, SIDE), dtype=np.float32)
    for cells, weight in ((4, 1.0), (8, 0.5)):
        coarse = Image.fromarray(rng.random((SIDE // cells + 2, SIDE // cells + 2)).astype(np.float32), mode="F")
        fine = np.asarray(coarse.resize((SIDE + 2 * cells, SIDE + 2 * cells), Image.Resampling.BICUBIC))
        field += weight * fine[cells:cells + SIDE, cells:cells + SIDE]
    field = (field - field.min()) / max(float(field.max() - field.min()), 1e-6)
    return _clip(img + thickness * field)


def spatter(img, severity, rng):
    """Drops: `count` round blobs 1-3 px across, each as bright as ink or dark as the page."""
    count = (4, 7, 10)[severity - 1]
    out = img
    for _ in range(count):
        x, y = rng.uniform(3, SIDE - 3, 2)
        r = rng.uniform(0.6, 1.5)
        value = float(rng.choice([0.0, rng.uniform(0.6, 1.0)]))

        def drop(draw, k, x=x, y=y, r=r):
            draw.ellipse([(x - r) * k, (y - r) * k, (x + r) * k, (y + r) * k], fill=255)

        out = _over(out, _drawn(drop), value)
    return _clip(out)


def dotted_line(img, severity, rng):
    """`lines` dotted lines across the frame: dots 1.5 px wide every 3 px, as bright as ink."""
    lines = (1, 2, 3)[severity - 1]
    out = img
    for _ in range(lines):
        (x0, y0), (x1, y1) = _across(rng)
        n = int(math.hypot(x1 - x0, y1 - y0) // 3)

        def dots(draw, k, x0=x0, y0=y0, x1=x1, y1=y1, n=n):
            for t in np.linspace(0, 1, n + 1):
                x, y = x0 + t * (x1 - x0), y0 + t * (y1 - y0)
                draw.ellipse([(x - 0.75) * k, (y - 0.75) * k, (x + 0.75) * k, (y + 0.75) * k], fill=255)

        out = np.maximum(out, _drawn(dots))
    return _clip(out)


def zigzag(img, severity, rng):
    """`lines` zigzag lines 1 px wide across the frame, turning `turns` times, swinging up to `swing` px
    either side, as bright as ink."""
    lines, turns, swing = ((1, 4, 2.5), (1, 6, 3.5), (2, 6, 3.5))[severity - 1]
    out = img
    for _ in range(lines):
        (x0, y0), (x1, y1) = _across(rng)
        length = math.hypot(x1 - x0, y1 - y0)
        nx, ny = -(y1 - y0) / length, (x1 - x0) / length  # the unit normal to the line
        offsets = rng.uniform(0.6, 1.0, turns + 2) * swing * np.where(np.arange(turns + 2) % 2 == 0, 1, -1)
        offsets[[0, -1]] = 0
        points = [(x0 + t * (x1 - x0) + w * nx, y0 + t * (y1 - y0) + w * ny)
                  for t, w in zip(np.linspace(0, 1, turns + 2), offsets)]

        def line(draw, k, points=points):
            draw.line([(x * k, y * k) for x, y in points], fill=255, width=k, joint="curve")

        out = np.maximum(out, _drawn(line))
    return _clip(out)


def edge_image(img, severity, rng):
    """The digit replaced by its outline: Sobel's gradient magnitude, thresholded; a `trace` of the
    filled strokes left inside (none at severity 3)."""
    trace = (0.4, 0.2, 0.0)[severity - 1]
    smooth = np.pad(_gaussian_blur(img, 0.5), 1)
    gx = (smooth[:-2, 2:] + 2 * smooth[1:-1, 2:] + smooth[2:, 2:]
          - smooth[:-2, :-2] - 2 * smooth[1:-1, :-2] - smooth[2:, :-2])  # (28, 28)
    gy = (smooth[2:, :-2] + 2 * smooth[2:, 1:-1] + smooth[2:, 2:]
          - smooth[:-2, :-2] - 2 * smooth[:-2, 1:-1] - smooth[:-2, 2:])
    magnitude = np.hypot(gx, gy)
    edges = magnitude > rng.uniform(0.25, 0.35) * magnitude.max()
    return _clip(np.maximum(edges.astype(np.float32), trace * img))


def jpeg(img, severity, rng):
    """Saved as a JPEG of a `quality` (of 100) in the severity's range and read back: blocks and ringing."""
    quality = int(rng.integers(*((22, 31), (11, 16), (5, 9))[severity - 1]))
    buffer = io.BytesIO()
    Image.fromarray(_as_bytes(img)).save(buffer, format="JPEG", quality=quality)
    return np.asarray(Image.open(buffer), dtype=np.float32) / 255


def low_contrast(img, severity, rng):
    """Washed out: every pixel pulled to the image's mean, keeping about `kept` of its difference from it."""
    kept = (0.4, 0.25, 0.15)[severity - 1] * rng.uniform(0.9, 1.1)
    mean = img.mean()
    return _clip(mean + kept * (img - mean))


def uneven_light(img, severity, rng):
    """Lit from one side: the page brighter by up to `glow` there, the ink dimmer by up to `dim` on the far side."""
    glow, dim = ((0.2, 0.2), (0.3, 0.35), (0.4, 0.5))[severity - 1]
    ramp = _ramp(rng)  # 0 where the light is, 1 at the far side
    return _clip(img * (1 - dim * ramp) + glow * (1 - ramp))


def dust_scratches(img, severity, rng):
    """An old scan: `specks` single dark or light dots and `scratches` thin curved hairlines, grey."""
    specks, scratches = ((6, 1), (12, 2), (18, 3))[severity - 1]
    out = img.copy()
    ys, xs = rng.integers(0, SIDE, (2, specks))
    out[ys, xs] = rng.choice([0.0, 0.8], specks)
    for _ in range(scratches):
        x0, y0 = rng.uniform(2, SIDE - 2, 2)
        theta, bend = rng.uniform(0, 2 * math.pi), rng.uniform(-0.08, 0.08)
        length = rng.uniform(8, 18)
        points = []
        for s in np.linspace(0, length, 12):
            angle = theta + bend * s
            points.append((x0 + s * math.cos(angle), y0 + s * math.sin(angle)))

        def hair(draw, k, points=points):
            draw.line([(x * k, y * k) for x, y in points], fill=255, width=max(1, k // 2))

        out = _over(out, _drawn(hair), float(rng.uniform(0.5, 0.8)))
    return _clip(out)


def occlusion(img, severity, rng):
    """A black block `side` px square laid over part of the digit (a thumb, a sticker)."""
    side = (4, 5, 6)[severity - 1]
    ys, xs = np.nonzero(img > 0.5)
    if len(ys) == 0:
        ys, xs = np.array([SIDE // 2]), np.array([SIDE // 2])
    k = int(rng.integers(len(ys)))  # centred on an inked pixel, so it always covers some of the digit
    top = int(np.clip(ys[k] - side // 2, 0, SIDE - side))
    left = int(np.clip(xs[k] - side // 2, 0, SIDE - side))
    out = img.copy()
    out[top:top + side, left:left + side] = 0
    return out


def ruled_lines(img, severity, rng):
    """Lined paper: 1 px horizontal lines every `gap` px, at grey `shade`, under the ink."""
    gap, shade = ((7, 0.3), (5, 0.45), (4, 0.6))[severity - 1]
    rows = np.arange(int(rng.integers(gap)), SIDE, gap)
    lines = np.zeros((SIDE, SIDE), dtype=np.float32)
    lines[rows] = shade
    return _clip(np.maximum(img, lines))


# The order is part of the set: it seeds each image and lays the set out (index // PER_KIND).
KINDS = {
    "shot_noise": shot_noise,
    "impulse_noise": impulse_noise,
    "glass_blur": glass_blur,
    "motion_blur": motion_blur,
    "shear": shear,
    "scale": scale,
    "rotation": rotation,
    "brightness": brightness,
    "translation": translation,
    "stripes": stripes,
    "fog": fog,
    "spatter": spatter,
    "dotted_line": dotted_line,
    "zigzag": zigzag,
    "edge_image": edge_image,
    "jpeg": jpeg,
    "low_contrast": low_contrast,
    "uneven_light": uneven_light,
    "dust_scratches": dust_scratches,
    "occlusion": occlusion,
    "ruled_lines": ruled_lines,
}
NAMES = tuple(KINDS)

# Chosen on 2026-12-06, before any model was tuned on this set, to stay unseen: no training
# augmentation, calibration or threshold may use these kinds, and every report gives their accuracy
# apart ("held-out kinds"), so that a gain on the others can be told from one that generalises.
HELD_OUT_KINDS = frozenset({"zigzag", "spatter", "dust_scratches", "ruled_lines", "glass_blur"})
SEVERITIES = (1, 2, 3)
TUNING_SEED = 1  # tuning_set's draws: never the set's own (SEED)


def _as_bytes(img: np.ndarray) -> np.ndarray:
    """(28, 28) float in [0, 1] -> uint8 0-255, as a PNG stores it."""
    return (np.clip(img, 0, 1) * 255).round().astype(np.uint8)


# ---------------------------------------------------------------------------------------------
# The set: every kind over every held-out digit, kind by kind
# ---------------------------------------------------------------------------------------------

PER_KIND = 1000  # images per kind: heldout.CORRUPTION's digits, each once


def digits(mnist_train: tuple[np.ndarray, np.ndarray], per_kind: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(images (n, 28, 28) uint8, labels (n,) uint8): the first `per_kind` (all when None) of the
    held-out digits the set damages, out of `mnist_train`, MNIST's training file as
    `data.mnist_arrays("train")` gives it (passed in, so that data.py may load this module)."""
    from digitlab.heldout import CORRUPTION

    images, labels = mnist_train
    keep = np.asarray(CORRUPTION)[:per_kind or PER_KIND]
    return images[keep], labels[keep]


def severity_of(i: int) -> int:
    """Image i of every kind is damaged at severity 1, 2, 3, 1, 2, 3, ..."""
    return i % len(SEVERITIES) + 1


def damaged(kind: str, i: int, clean: np.ndarray, seed: int = SEED) -> np.ndarray:
    """Image i of `kind`: the held-out digit `clean` ((28, 28) uint8) damaged at its severity,
    (28, 28) uint8, from a generator seeded from (seed, kind, i) alone."""
    rng = np.random.default_rng([seed, NAMES.index(kind), i])
    out = KINDS[kind](clean.astype(np.float32) / 255, severity_of(i), rng)
    return _as_bytes(out)


def build_raw(mnist_train: tuple[np.ndarray, np.ndarray], seed: int = SEED, per_kind: int | None = None,
              kinds=NAMES) -> tuple[np.ndarray, np.ndarray]:
    """(images (N, 28, 28) uint8, labels (N,) uint8), N = len(kinds) * per_kind, kind by kind: the
    damaged digits as they are (`mnist_train` as `digits` takes it)."""
    clean, labels = digits(mnist_train, per_kind)
    images = np.stack([damaged(kind, i, clean[i], seed) for kind in kinds for i in range(len(clean))])
    return images, np.tile(labels, len(kinds))


def tuning_set(mnist_train: tuple[np.ndarray, np.ndarray], per_kind: int = 100,
               seed: int = TUNING_SEED) -> tuple[np.ndarray, np.ndarray]:
    """(images (n, 28, 28) uint8, labels (n,)): the kinds anyone may tune on (not HELD_OUT_KINDS),
    each applied to the first `per_kind` of heldout.CALIBRATION's digits with another seed: damage
    to choose thresholds on, from digits and draws that are not the set's own."""
    from digitlab.heldout import CALIBRATION

    images, labels = mnist_train
    keep = np.asarray(CALIBRATION)[:per_kind]
    kinds = [kind for kind in NAMES if kind not in HELD_OUT_KINDS]
    damaged_images = np.stack([damaged(kind, i, images[keep[i]], seed) for kind in kinds for i in range(per_kind)])
    return damaged_images, np.tile(labels[keep], len(kinds))


def damaged_copies(images: np.ndarray, seed: int = TUNING_SEED) -> np.ndarray:
    """(n, 28, 28) uint8 held-out digits (never the set's own) -> each under one of the kinds anyone
    may tune on, in turn, at severity 1, 2, 3 in turn: what calibration fits a temperature on beside
    the clean digits (heldout.with_damage)."""
    kinds = [kind for kind in NAMES if kind not in HELD_OUT_KINDS]
    return np.stack([damaged(kinds[i % len(kinds)], i // len(kinds), image, seed)
                     for i, image in enumerate(images)]) if len(images) else images.copy()


def kind_of(index: np.ndarray | int):
    """The kind name(s) of corruption-set image index(es): the set is laid out kind by kind."""
    return np.asarray(NAMES)[np.asarray(index) // PER_KIND]


def accuracy_by_kind(predicted, labels, index) -> dict[str, float]:
    """{"shot_noise": 0.97, ..., "all": 0.95, "seen kinds": 0.96, "held-out kinds": 0.93}: accuracy
    per kind, over the whole set, over the kinds anyone may tune on, and over HELD_OUT_KINDS."""
    predicted, labels = np.asarray(predicted), np.asarray(labels)
    right = predicted == labels
    names = kind_of(np.asarray(index))
    scores = {k: float(right[names == k].mean()) for k in NAMES if (names == k).any()}
    held_out = np.isin(names, list(HELD_OUT_KINDS))
    groups = {"all": right, "seen kinds": right[~held_out], "held-out kinds": right[held_out]}
    return {**scores, **{name: float(part.mean()) for name, part in groups.items() if len(part)}}


def describe(by_kind: dict[str, float]) -> str:
    """accuracy_by_kind's dict as two lines: the seen and held-out kinds and the worst kind, then
    every kind (held-out ones starred)."""
    kinds = [k for k in NAMES if k in by_kind]
    worst = min(kinds, key=by_kind.__getitem__)
    groups = ", ".join(f"{g} {by_kind[g]:.2%}" for g in ("seen kinds", "held-out kinds") if g in by_kind)
    every = ", ".join(f"{k}{'*' if k in HELD_OUT_KINDS else ''} {by_kind[k]:.2%}" for k in kinds)
    return f"{groups}, worst kind {worst} {by_kind[worst]:.2%}\nby kind (* held out): {every}"


def _png(image: np.ndarray) -> bytes:
    """(28, 28) uint8 -> the bytes of it saved as a grey PNG, as a user would save it for predict."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def cleaned(raw: np.ndarray, progress: bool = False) -> np.ndarray:
    """(n, 28, 28) uint8 damaged images -> (n, 28, 28) uint8: what `digitlab predict` gives a model
    for each one saved as a 28 x 28 PNG (`images.prepare`, the routing predict itself calls), rounded
    to 0-255 as a dataset stores it. An image to_mnist refuses (it found no digit) stays a black
    square, so every model gets it wrong, as a user would see it refused; none is dropped."""
    from digitlab.console import track
    from digitlab.images import prepare

    out = np.zeros_like(raw)
    chunks = range(0, len(raw), PER_KIND)
    for start in track(chunks, "cleaning the corruption set as predict does") if progress else chunks:
        part = raw[start:start + PER_KIND]
        names = [f"corrupted image {start + k}" for k in range(len(part))]
        inputs, _ = prepare(part, range(len(part)), [_png(image) for image in part], names, skipped=lambda err: None)
        out[start:start + PER_KIND] = (inputs.numpy() * 255).round().astype(np.uint8)
    return out


VIEWS = ("corrupted_raw", "corrupted")  # data.load's names: the images as they are, and as predict reads them


def cache_path(view: str, seed: int = SEED) -> Path:
    from digitlab.files import home
    from digitlab.images import PREPROCESS_VERSION

    if view not in VIEWS:
        raise ValueError(f"no view {view!r} of the corruption set; choose one of {VIEWS}")
    if view == "corrupted_raw":
        return home() / "corrupted" / f"{VERSION}-seed{seed}-{PER_KIND}-raw.npz"
    # What predict makes of the images depends on the preprocessing too: a change to either rebuilds it.
    return home() / "corrupted" / f"{VERSION}-prep{PREPROCESS_VERSION}-seed{seed}-{PER_KIND}.npz"


def _cached(path: Path) -> tuple[np.ndarray, np.ndarray] | None:
    try:
        with np.load(path) as saved:
            images, labels = saved["images"], saved["labels"]
        if images.shape == (len(NAMES) * PER_KIND, SIDE, SIDE) and len(labels) == len(images):
            return images, labels
    except (OSError, ValueError, KeyError):
        pass  # not built yet, or a damaged cache: build it again
    return None


def _save(path: Path, images: np.ndarray, labels: np.ndarray) -> None:
    from digitlab.files import atomic_write

    with atomic_write(path) as f:
        np.savez(f, images=images, labels=labels)


def arrays(mnist_train, view: str = "corrupted", seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """One view of the set as (images (N, 28, 28) uint8, labels (N,) uint8), from the cache when it is
    there, else built from `mnist_train` (a function giving MNIST's training file as `digits` takes it,
    called only then) and cached: the raw view in about 6 s, the cleaned one (every image through
    predict's routing) in 1-2 minutes more on two busy cores (benchmarks/RESULTS.md, "The corruption set")."""
    found = _cached(cache_path(view, seed))
    if found is not None:
        return found
    raw = _cached(cache_path("corrupted_raw", seed))
    if raw is None:
        raw = build_raw(mnist_train(), seed)
        _save(cache_path("corrupted_raw", seed), *raw)
    if view == "corrupted_raw":
        return raw
    images, labels = cleaned(raw[0], progress=True), raw[1]
    _save(cache_path(view, seed), images, labels)
    return images, labels
