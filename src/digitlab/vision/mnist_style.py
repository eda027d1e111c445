"""Turning a user's photo, scan or drawing of one digit into the 28 x 28 input MNIST models expect.

MNIST's own recipe (LeCun et al.): white ink on black, the digit scaled to fit a 20 x 20 box keeping
its aspect ratio, then placed in 28 x 28 so that its centre of mass is the centre. A photo needs more
first (decoding.py, page.py): EXIF rotation, transparency, dark ink on light paper, uneven lighting
and sensor noise. Here: slant and stroke width brought within MNIST's writers' range, the digit
framed (`to_mnist`), and predict's routing of many images (`prepare`, `dark_page`)."""

from __future__ import annotations

import os

import numpy as np
import torch
from PIL import Image

from digitlab.errors import BlankImage, DataError
from digitlab.vision.decoding import WORK_SIDE, open_image
from digitlab.vision.input_cleaning import BOX_SIDE, FRAME_SIDE, cleaned, framed
from digitlab.vision.page import (MIN_CONTRAST, MIN_INK_PIXELS, SPECK_SHARE, components, despeckled_grey, grey_levels, ink_masks,
                                  stroke_width, sweep)


PREPROCESS_VERSION = 18  # bump when what to_mnist, prepare or input_cleaning gives changes: the stress and
#                         corruption sets' caches are keyed on it


# MNIST's writers, measured over 10,000 of its training digits in the 28 x 28 frame (10th and 90th
# percentiles): slant as x's change per unit of y, down (-0.49 leans right, 0.22 left; median -0.12),
# and stroke width in px (median 2.7). Inputs outside are brought to the nearer edge.
MNIST_SLANT = (-0.49, 0.22)
MNIST_WIDTH = (1.95, 3.85)


def cropped(ink: np.ndarray) -> np.ndarray:
    """The smallest box around the ink."""
    rows, cols = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
    return ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def _slant(ink: np.ndarray) -> float:
    """How far the ink leans: x's change per unit of y (down) about the centre of mass (mu11 / mu02)."""
    ys, xs = np.mgrid[0 : ink.shape[0], 0 : ink.shape[1]].astype(np.float64)
    total = ink.sum()
    dy, dx = ys - (ink * ys).sum() / total, xs - (ink * xs).sum() / total
    spread = (ink * dy * dy).sum()
    return float((ink * dx * dy).sum() / spread) if spread > 0 else 0.0




def _as_mnist_writes(ink: np.ndarray) -> np.ndarray:
    """The ink leaned and stroked within the range of MNIST's own writers (MNIST_SLANT, MNIST_WIDTH).

    A digit already within it is left alone; an italic font or a heavy pen is brought to the edge of
    the range: sheared about its centre of mass, its strokes grown or thinned by a max or min filter.
    Widths are judged at the size the digit will have in the 28 x 28 frame.
    """
    slant = _slant(ink)
    target = min(max(slant, MNIST_SLANT[0]), MNIST_SLANT[1])
    if abs(target - slant) > 0.02:
        ink = _sheared(ink, target - slant)
    crop = cropped(ink)
    fit = BOX_SIDE / max(crop.shape)  # work px -> frame px
    width = stroke_width(crop) * fit
    target = min(max(width, MNIST_WIDTH[0]), MNIST_WIDTH[1])
    radius = round((target - width) / fit / 2)  # work px to add (or take) on each side
    if radius:
        pad = max(radius, 0)
        grown = np.pad(ink, pad)
        reduce = np.max if radius > 0 else np.min
        grown = sweep(grown, 2 * abs(radius) + 1, reduce)
        # Thinning never erases the digit, nor breaks it: a bold serif 0 or 8 has hairlines
        # that a min filter wide enough for its stems would cut.
        broken = radius < 0 and components(grown > 0).max() > components(ink > 0).max()
        ink = grown if grown.any() and not broken else ink
    return ink


def _sheared(ink: np.ndarray, shear: float) -> np.ndarray:
    """x moved by shear * (y - the centre of mass's y), on a canvas wide enough to keep all the ink."""
    h, w = ink.shape
    cy = float((ink.sum(1) * np.arange(h)).sum() / ink.sum())
    extra = int(np.ceil(abs(shear) * h)) + 1
    canvas = Image.fromarray(np.pad(ink, ((0, 0), (extra, extra))).astype(np.float32), mode="F")
    # PIL maps each output (x, y) to the input (a x + b y + c, d x + e y + f)
    moved = canvas.transform(canvas.size, Image.Transform.AFFINE, (1, -shear, shear * cy, 0, 1, 0),
                             resample=Image.Resampling.BILINEAR)
    return np.clip(np.asarray(moved), 0, 1)


def _shrunk(values: np.ndarray, side: int, resample=Image.Resampling.BOX) -> np.ndarray:
    """(H, W) float32 -> the longer side `side` px (BOX averages when shrinking)."""
    scale = side / max(values.shape)
    size = (max(1, round(values.shape[1] * scale)), max(1, round(values.shape[0] * scale)))  # (W, H) for PIL
    return np.asarray(Image.fromarray(values.astype(np.float32), mode="F").resize(size, resample))


def ink_at(grey: np.ndarray, side: int, speck: float = SPECK_SHARE) -> np.ndarray:
    """(H, W) 0-255 grey -> its ink (see ink_mask, and its `speck`) with the longer side `side` px."""
    return inks_at(grey, side, (speck,))[0]


def inks_at(grey: np.ndarray, side: int, specks: tuple[float, ...]) -> list[np.ndarray]:
    """ink_at for each of `specks`, the image resized and its paper found once (page.ink_masks)."""
    grow = side > max(grey.shape)
    grey = _shrunk(grey, side, Image.Resampling.BICUBIC if grow else Image.Resampling.BOX)
    return ink_masks(np.clip(grey, 0, 255), specks)


def dark_page(batch: np.ndarray) -> np.ndarray:
    """(n, 28, 28) uint8 -> (n,) bool: which are light ink on a darker page, as MNIST's files (and
    `digitlab export`'s mnist_png, and the digits people save from MNIST) are: the frame's edge
    darker than mid-grey, the brightest pixel at least MIN_CONTRAST above it. Such an image is at
    MNIST's scale already; the models clean it themselves (input_cleaning) rather than as a photo."""
    if not len(batch):
        return np.zeros(0, dtype=bool)
    edge = np.concatenate([batch[:, 0], batch[:, -1], batch[:, 1:-1, 0], batch[:, 1:-1, -1]], axis=1)  # (n, 108)
    paper = np.median(edge, axis=1)  # (n,)
    return (paper < 128) & (batch.reshape(len(batch), -1).max(1) >= paper + MIN_CONTRAST)


def prepare(small: np.ndarray, at, sources, names, skipped=None, blanks: bool = False,
            read_one=None, workers: int = 1) -> tuple[torch.Tensor, np.ndarray]:
    """What a model is given for each of `sources`, as `digitlab predict` routes them: ((n, 28, 28)
    float32 in [0, 1], (n,) bool, which of them could be read).

    `small` ((k, 28, 28) uint8) holds the 28 x 28 grey images among them, at places `at`: those on a
    `dark_page` are cleaned as the models clean a tensor (`input_cleaning.cleaned`, a batch at once:
    an MNIST digit comes out as it went in); every other source (a path, bytes or PIL image, named
    `names[i]`) goes through `to_mnist`, a few milliseconds each. A `DataError` from it goes to
    `skipped(err)`, its row left black and unread; without `skipped` it is raised. With `blanks`, an
    image with no ink is read as the black square it is (BlankImage). `read_one(source, name)`, when
    given, reads each of the others in to_mnist's place (predict's reader of numbers). The one routing
    `predict` and the corruption set share, so what one measures is what the other does. With
    `workers` > 1 the others are read on that many threads (`data.parallel`), each image's outcome
    taken in the given order, so the inputs and the errors passed on are the same as on one.

    Why not to_mnist for those too: it rescales the ink's box, and lines or a pattern across a 28 x 28
    image become part of that box (the shipped models, 200 damaged held-out digits of every kind of
    the corruption set: 84-89 % through to_mnist, 90-95 % cleaned as tensors)."""
    at = np.asarray(at, dtype=np.int64)
    ready = dark_page(small)  # (k,)
    inputs = torch.zeros(len(sources), FRAME_SIDE, FRAME_SIDE)
    inputs[at[ready]] = cleaned(torch.from_numpy(small[ready]).float() / 255)
    read = np.zeros(len(sources), dtype=bool)
    read[at[ready]] = True
    others = np.flatnonzero(~read).tolist()
    reader = read_one or to_mnist
    for i, (image, err) in zip(others, _outcomes(reader, [(sources[i], names[i]) for i in others], workers)):
        if err is None:
            inputs[i] = image
            read[i] = True
        elif blanks and isinstance(err, BlankImage):
            read[i] = True  # read fine: its black square is to be declined as "no digit"
        elif skipped is None:
            raise err
        else:
            skipped(err)
    return inputs, read


READ_CHUNK = 8  # images a thread takes at a time: 300 photos in 38 tasks keep both threads busy to the end


def _outcomes(reader, given: list[tuple], workers: int) -> list[tuple]:
    """(image, None) or (None, the DataError) of reader(source, name) for each of `given`, in order, on
    `workers` threads. Two threads, not processes: decoding, PIL's filters and numpy's whole-array steps
    release the GIL, and a process would import torch again (1.0-1.9 s here). 300 photos through
    reading.find_digits, 2026-12-07, load 0.5: 2.4 s on one thread, 1.84 s on two, answers identical
    (the rest of each photo's time holds the GIL: small numpy calls and Python)."""
    from digitlab.data.parallel import map_chunks

    def attempt(part: list[tuple]) -> list[tuple]:
        done = []
        for source, name in part:
            try:
                done.append((reader(source, name), None))
            except DataError as err:
                done.append((None, err))
        return done

    return [outcome for part in map_chunks(attempt, given, workers, "reading images", READ_CHUNK) for outcome in part]


def to_mnist(source: str | os.PathLike | bytes | Image.Image, name: str = "image") -> torch.Tensor:
    """One handwritten digit (path, bytes or PIL image) -> (28, 28) float32 in [0, 1], MNIST-style.

    Raises DataError for a missing file, a non-image, a corrupt file, and its BlankImage for a page with no ink.
    """
    label = str(source) if isinstance(source, (str, os.PathLike)) else name
    grey = despeckled_grey(grey_levels(open_image(source, label)))  # (H, W)
    return from_ink(digit_ink(grey, label))


def digit_ink(grey: np.ndarray, label: str = "image", first: np.ndarray | None = None) -> np.ndarray:
    """(H, W) 0-255 grey of one digit -> its ink at WORK_SIDE (see ink_mask); BlankImage when there is
    none. `first`: ink_at(grey, WORK_SIDE), where the caller has found it already."""
    ink = ink_at(grey, WORK_SIDE) if first is None else first  # (H', W')
    if (ink > 0).sum() < MIN_INK_PIXELS and max(grey.shape) > WORK_SIDE:
        # A faint hairline shrunk to WORK_SIDE can sink into the paper's grain: look again at twice
        # the size (4x the work, paid only by pages that look blank).
        larger = ink_at(grey, 2 * WORK_SIDE)
        if (larger > 0).sum() >= 4 * MIN_INK_PIXELS:  # as many ink pixels as WORK_SIDE asks, at 4x the area
            ink = _shrunk(larger, WORK_SIDE)
    if (ink > 0).sum() < MIN_INK_PIXELS:
        raise BlankImage(f"{label}: no digit found (the image looks blank); give a photo or drawing of one digit")
    return ink


def from_ink(ink: np.ndarray) -> torch.Tensor:
    """(H, W) ink in [0, 1] of one digit, background 0 -> (28, 28): leaned and stroked as MNIST's writers,
    cut to its box and framed as MNIST frames a digit. to_mnist's last step, and each digit's of a number."""
    ink = _as_mnist_writes(ink)
    return framed(torch.from_numpy(cropped(ink).copy()))  # (h, w) -> (28, 28)
