"""MNIST digits as a user's scan brings them: each digit cut to its ink, enlarged 2-5x (bilinear), on a
page with a margin, dark on light or light on dark, with a little paper grain, then read through
`mnist_style.to_mnist` as `digitlab predict` reads a file.

The gate learnt MNIST's digits as 28 x 28 tensors and stress-style digits, but not MNIST's own
strokes after to_mnist has thinned and smoothed them: it declined 5.2 % of held-out training digits
scanned this way (mostly 0s, thin smooth rings; also 6s and 7s) against 0.0 % of the same as tensors.
The gate trains on such scans of digits below heldout.START (gate_config.SCANNED_SEED) and its
threshold must let those of the calibration digits through (SCANNED_CALIBRATION_SEED).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

VERSION = 1  # bump when what `page` draws changes: the cached sets are keyed on it
SCALES = (2, 5)  # each digit's ink enlarged by a whole factor in this range, both ends included
MARGIN = (8, 60)  # px of page on each side of the enlarged ink
PAPER = (0, 40)  # how far the paper is from pure white (or black), and the ink from pure black (or white)
GRAIN = 5.0  # grey levels: the paper grain's largest spread (Gaussian), drawn per page from 0 up


def page(digit: np.ndarray, rng: np.random.Generator, dark_on_light: bool) -> Image.Image:
    """One (28, 28) uint8 MNIST digit (light on black) -> a grey page showing it as a scan would."""
    rows, cols = np.flatnonzero(digit.any(1)), np.flatnonzero(digit.any(0))
    ink = Image.fromarray(digit[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1])
    scale = int(rng.integers(SCALES[0], SCALES[1] + 1))
    ink = np.asarray(ink.resize((ink.width * scale, ink.height * scale), Image.Resampling.BILINEAR)) / 255
    top, bottom, left, right = rng.integers(MARGIN[0], MARGIN[1] + 1, 4)
    strength = np.pad(ink, ((top, bottom), (left, right)))  # (H, W) in [0, 1]: 1 where the pen was
    paper, pen = 255 - rng.integers(*PAPER, endpoint=True), rng.integers(*PAPER, endpoint=True)
    if not dark_on_light:
        paper, pen = 255 - paper, 255 - pen
    grey = paper + (pen - paper) * strength + rng.normal(0, rng.uniform(0, GRAIN), strength.shape)
    return Image.fromarray(np.clip(grey, 0, 255).round().astype(np.uint8))


def scans(mnist: np.ndarray, picks: np.ndarray, seed: int) -> np.ndarray:
    """(len(picks), 28, 28) uint8: MNIST training digits mnist[picks] each scanned (`page`, from a
    generator seeded by (seed, index), every second index light on dark) and read through to_mnist.
    A page to_mnist refuses stays a black square (none of the 16,000 drawn for the gate on 2026-12-07)."""
    from digitlab.errors import DataError
    from digitlab.vision.mnist_style import to_mnist

    out = np.zeros((len(picks), 28, 28), dtype=np.uint8)
    for k, index in enumerate(picks.tolist()):
        raw = page(mnist[index], np.random.default_rng([seed, index]), dark_on_light=index % 2 == 0)
        try:
            out[k] = (to_mnist(raw).numpy() * 255).round().astype(np.uint8)
        except DataError:
            pass
    return out


def spread(span: range, count: int) -> np.ndarray:
    """`count` MNIST training indices spread evenly over `span` (all of it when count >= len(span))."""
    return np.unique(np.linspace(span.start, span.stop - 1, min(count, len(span))).round().astype(int))


def cached(mnist: np.ndarray, span: range, count: int, seed: int) -> np.ndarray:
    """scans(mnist, spread(span, count), seed), kept in home()'s cache keyed on VERSION, the
    preprocessing's version, the seed and the indices (drawn again when either changes)."""
    from digitlab.store import array_cache
    from digitlab.store.files import home
    from digitlab.vision.mnist_style import PREPROCESS_VERSION

    picks = spread(span, count)
    name = f"scanned-v{VERSION}-prep{PREPROCESS_VERSION}-seed{seed}-{span.start}-{span.stop}-{len(picks)}.npz"
    path = home() / "nondigits" / name
    saved = array_cache.load(path, ("images",), "scanned digits")
    if saved and saved["images"].shape == (len(picks), 28, 28):
        return saved["images"]
    images = scans(mnist, picks, seed)
    array_cache.save(path, images=images)
    return images
