"""The 21 kinds of damage, each `(img, severity 1..3, rng) -> damaged img` on (28, 28) float32 in
[0, 1], light ink on black; each one's three strengths in its first line."""

from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image

from digitlab.data.damage_drawing import SIDE, _across, _as_bytes, _clip, _drawn, _gaussian_blur, _over, _ramp, _warp


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
