"""What every model does to a 28 x 28 input before reading it: salt-and-pepper noise removed, the
background brought to black, faint ink to full strength, a digit far smaller or larger than MNIST's
framed as MNIST frames one, and a digit off to one side centred.

MNIST's digits are light ink on an exactly black background, and a model trained on them reads
nothing else: given a digit on a grey background (a raised brightness, fog, low contrast) the
shipped cnn answered 8 for 994 of 1,000 held-out training digits, where `mnist_style.to_mnist` would have
cleaned the same image first. A tensor handed to a model through the Python API gets no such
cleaning, so the models clean their own input, here. Digits that already look like MNIST's pass
unchanged (bit for bit: checked over MNIST's 60,000 training digits, all but 33, the heaviest, whose
ink holds a square as wide as the background window), so models trained before read them as before.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from digitlab.vision import cleaning_memo
from digitlab.vision.cleaning_memo import CleaningMemo

BOX_SIDE = 20  # px: MNIST fits each digit into a 20 x 20 box ...
FRAME_SIDE = 28  # px: ... centred by mass in a 28 x 28 frame
BOX_RANGE = (15, 22)  # px: a digit whose box's longer side is outside this, clear of the frame's
#                       edge, is scaled back into BOX_SIDE (MNIST's are 19-20; see boxed)
SMALLEST_BOX = 6  # px: ink in a smaller box is a speck, never framed up to a digit's size
INK_LEVEL = 0.2  # what counts as ink when measuring a digit's box (MNIST's soft edges do not) ...
EDGE_LEVEL = 0.05  # ... and when asking which sides of the frame it reaches
BACKGROUND_WINDOW = 11  # px: a grey opening this wide erases every stroke (MNIST's are 2-4 px wide;
#                         at 9 px, 316 of its 60,000 training digits kept a patch, at 11 px 31)
TEXTURED = 0.5  # share of the frame still inked after the opening, above which the page is patterned
#                 (stripes, fog: 0.56-0.81 of it) rather than a digit (MNIST's: at most 0.40 of 60,000)
FULL_INK = 0.9  # ink fainter than this at its brightest is stretched to 1, as to_mnist does
SPECK_JUMP = 0.3  # a pixel this much brighter (or darker) than all 8 of its neighbours is a speck ...
SPECKS = 4  # ... and this many specks in 28 x 28 are salt-and-pepper noise: MNIST's training digits
#             hold at most 2 (20,000 counted), 1 % noise about 3, 5 % noise 13 (half are lost on black)


def otsu(values: np.ndarray) -> float:
    """The grey level that best splits `values` (0-255) into two groups (Otsu's method)."""
    # np.histogram(values, bins=256, range=(0, 256)), counted directly: a value's bin is its whole
    # part (256 itself in the last); the same counts in a fifth of the time.
    inside = values[(values >= 0) & (values <= 256)]
    counts = np.bincount(np.minimum(inside.astype(np.intp), 255).ravel(), minlength=256)
    levels = np.arange(256, dtype=np.float64)
    weight = np.cumsum(counts).astype(np.float64)  # pixels at or below each level
    total = weight[-1]
    mass = np.cumsum(counts * levels)
    mean_low = mass / np.maximum(weight, 1)
    mean_high = (mass[-1] - mass) / np.maximum(total - weight, 1)
    between = weight * (total - weight) * (mean_low - mean_high) ** 2
    return float(levels[int(np.argmax(between))])


def specks(x: torch.Tensor) -> torch.Tensor:
    """(N, H, W) floats in [0, 1] -> (N,) how many pixels stand alone, far brighter or darker than
    each of their eight neighbours (salt-and-pepper noise; a pen stroke never does)."""
    n, h, w = x.shape
    padded = x.new_zeros(n, h + 2, w + 2)  # 0 beyond the edge (nn.functional.pad's general path: 3x slower here)
    padded[:, 1:-1, 1:-1] = x
    brightest, darkest = padded[:, :h, :w].clone(), padded[:, :h, :w].clone()
    for dy in range(3):  # the other seven neighbours as shifted views, folded in place: no 9x copy
        for dx in range(3):
            if dy == dx == 1 or dy == dx == 0:
                continue
            near = padded[:, dy:dy + h, dx:dx + w]
            torch.maximum(brightest, near, out=brightest)
            torch.minimum(darkest, near, out=darkest)
    alone = ((x - brightest) > SPECK_JUMP) | ((darkest - x) > SPECK_JUMP)
    return alone.flatten(1).sum(1)


def despeckled(x: torch.Tensor) -> torch.Tensor:
    """(N, H, W) -> the images with SPECKS or more lone pixels through a 3 x 3 median; the rest as
    they are (a median always would round a thin stroke's ends and corners)."""
    noisy = specks(x) >= SPECKS  # (N,)
    if not noisy.any():
        return x
    out = x.clone()
    out[noisy] = median3(x[noisy])
    return out


# A 3 x 3 neighbourhood's median by 19 compare-and-swaps of its nine values (0-8, row by row), each
# putting the smaller in the first place: after them the median is in place 4. Elementwise min and
# max: exported to ONNX, a sort of every neighbourhood took 43 % of ONNX Runtime's time (onnx/graph.py).
MEDIAN_OF_NINE = ((1, 2), (4, 5), (7, 8), (0, 1), (3, 4), (6, 7), (1, 2), (4, 5), (7, 8), (0, 3), (5, 8),
                  (4, 7), (3, 6), (1, 4), (2, 5), (4, 7), (4, 2), (6, 4), (4, 2))


def median3(x: torch.Tensor) -> torch.Tensor:
    """(N, H, W) -> each pixel's 3 x 3 median, 0 counted beyond the edge."""
    h, w = x.shape[1:]
    padded = nn.functional.pad(x, (1, 1, 1, 1))  # (N, H+2, W+2)
    values = [padded[:, dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3)]  # 9 x (N, H, W)
    for a, b in MEDIAN_OF_NINE:
        values[a], values[b] = torch.minimum(values[a], values[b]), torch.maximum(values[a], values[b])
    return values[4]


def _brightest_along_rows(x: torch.Tensor) -> torch.Tensor:
    """(N, H, W) -> each pixel's brightest neighbour within BACKGROUND_WINDOW along its row."""
    n, h, w = x.shape
    rows = nn.functional.max_pool1d(x.reshape(n * h, 1, w), BACKGROUND_WINDOW, stride=1,
                                    padding=BACKGROUND_WINDOW // 2)  # (N*H, 1, W)
    return rows.reshape(n, h, w)


def _brightest_around(x: torch.Tensor) -> torch.Tensor:
    """(N, H, W) -> each pixel's brightest neighbour within BACKGROUND_WINDOW, a square taken as a
    row then a column (two passes of 11 rather than one of 121: 5x faster), each pass as rows of
    one channel (max_pool1d: 1.6x faster than max_pool2d's (11, 1) window on 10,000 digits)."""
    along = _brightest_along_rows(x)
    return _brightest_along_rows(along.transpose(1, 2)).transpose(1, 2)


def grey_opening(x: torch.Tensor) -> torch.Tensor:
    """(N, H, W) -> the grey opening, the page's background: the darkest level around each pixel,
    then the brightest of those. Without a branch, as onnx/graph.py runs it; `_background` is the same
    numbers, faster."""
    return _brightest_around(-_brightest_around(-x))


def _background(x: torch.Tensor) -> torch.Tensor:
    """(N, H, W) -> `grey_opening(x)`. Where the darkest levels are all 0 (every window holds black
    paper: MNIST's digits and most cleaned ones) the opening is 0 and its second half is skipped."""
    darkest = -_brightest_around(-x)
    grey = darkest.flatten(1).amax(1) > 0  # (N,)
    background = torch.zeros_like(x)
    if grey.any():
        background[grey] = _brightest_around(darkest[grey])
    return background


def without_pattern(ink: torch.Tensor) -> torch.Tensor:
    """(N, 28, 28) ink above the background -> where more than TEXTURED of the frame is inked (a
    striped or foggy page that the opening could not take away), only what stands above Otsu's split
    between the pattern and the ink (of the inked pixels alone: with the black paper among them, the
    split fell between paper and pattern), the rest 0; other images as they are."""
    patterned = (ink > 0.05).float().mean(dim=(1, 2)) > TEXTURED  # (N,)
    if not patterned.any():
        return ink
    out = ink.clone()
    for i in torch.nonzero(patterned).flatten().tolist():
        inked = ink[i][ink[i] > 0.05]  # the pattern and the digit: the split falls between them, not the paper
        split = otsu(inked.numpy() * 255) / 255
        out[i] = ((ink[i] - split) / max(float(ink[i].max()) - split, 1e-6)).clamp_(0, 1)
    return out


def on_black(x: torch.Tensor) -> torch.Tensor:
    """(N, 28, 28) floats in [0, 1] -> the ink above its local background (a grey opening
    BACKGROUND_WINDOW px wide: the darkest level around each pixel, then the brightest of those), a
    patterned page's pattern cut away, stretched to full strength where its brightest pixel is under
    FULL_INK."""
    return full_strength(without_pattern((x - _background(x)).clamp_min_(0)))  # (N, 28, 28)


def full_strength(ink: torch.Tensor) -> torch.Tensor:
    """(N, 28, 28) ink -> stretched to 1 at its brightest where that is under FULL_INK (and above 0)."""
    peak = ink.amax(dim=(1, 2), keepdim=True)  # (N, 1, 1)
    faint = (peak < FULL_INK) & (peak > 0)
    return torch.where(faint, ink / peak.clamp_min(1e-6), ink)


OFF_CENTRE = 1.5  # px: ink whose centre of mass is further than this from (14, 14) is moved back by
#                   whole pixels (MNIST's own are within 0.52 px, so none of them moves)


def centred(x: torch.Tensor) -> torch.Tensor:
    """(N, 28, 28) -> each image moved by whole pixels (0 coming in at the edge) so that its centre
    of mass is within a pixel of the frame's, where it lies further than OFF_CENTRE from it, as
    MNIST's recipe leaves every digit. A digit off to one side otherwise leaves the middle 20 x 20
    that the cnn looks at (translated held-out digits, shipped cnn: see RESULTS.md)."""
    dy, dx, off = centring_shifts(x)
    if not off.any():
        return x
    return moved(x, torch.where(off, dy, 0), torch.where(off, dx, 0))


def centring_shifts(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(N, 28, 28) -> (dy, dx, off), each (N,): the whole pixels down and right that bring each image's
    centre of mass to pixel (14, 14), and whether it lies further than OFF_CENTRE from it (and has ink)."""
    mass = x.sum(dim=(1, 2)).clamp_min(1e-6)  # (N,)
    where = torch.arange(28, dtype=x.dtype)
    cy = (x.sum(dim=2) @ where) / mass  # (N,) row of the centre of mass
    cx = (x.sum(dim=1) @ where) / mass
    dy, dx = (14 - cy).round().long(), (14 - cx).round().long()  # MNIST centres the mass on pixel (14, 14)
    off = ((dy.abs() > OFF_CENTRE) | (dx.abs() > OFF_CENTRE)) & (x.sum(dim=(1, 2)) > 0)
    return dy, dx, off


def moved(x: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor) -> torch.Tensor:
    """(N, 28, 28) each image moved down by its dy and right by its dx ((N,) whole pixels), 0 where
    nothing comes in: one gather for the batch, no loop, so an ONNX graph does the same (onnx/graph.py)."""
    n, h, w = x.shape
    rows = torch.arange(h)[None, :] - dy[:, None]  # (N, H) the row each output row reads
    cols = torch.arange(w)[None, :] - dx[:, None]  # (N, W)
    inside = ((rows >= 0) & (rows < h))[:, :, None] & ((cols >= 0) & (cols < w))[:, None, :]  # (N, H, W)
    read = x.gather(1, rows.clamp(0, h - 1)[:, :, None].expand(n, h, w))  # (N, H, W) rows moved
    read = read.gather(2, cols.clamp(0, w - 1)[:, None, :].expand(n, h, w))  # then columns
    return torch.where(inside, read, torch.zeros_like(read))


def framed(crop: torch.Tensor) -> torch.Tensor:
    """(h, w) ink cut to its box -> (28, 28) as MNIST's recipe leaves a digit: scaled (keeping its
    aspect) so that its longer side is BOX_SIDE, at full strength, its centre of mass on pixel
    (14, 14). to_mnist's last step, and boxed's."""
    h, w = crop.shape
    fit = BOX_SIDE / max(h, w)
    small = (max(1, round(h * fit)), max(1, round(w * fit)))
    # (1, 1, h, w) -> (1, 1, h', w'), longer side 20; antialias averages when shrinking
    crop = nn.functional.interpolate(crop[None, None].float(), size=small, mode="bilinear", antialias=True)[0, 0]
    crop = crop.clamp(0, 1)
    if crop.max() > 0:
        crop = crop / crop.max()  # a thin stroke shrunk to a faint line is still full-strength ink
    return _centre(crop)


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



def boxed(x: torch.Tensor) -> torch.Tensor:
    """(N, 28, 28) -> each digit whose box (the pixels above INK_LEVEL) is smaller or larger than
    BOX_RANGE allows framed again as MNIST frames a digit, where its box is clear of the frame's edge,
    or reaches three or four of its sides, or its top and bottom alone (a digit cropped to its box
    and enlarged to fill the frame); the rest as they are. A digit drawn small in its 28 x 28 (a
    held-out digit at half size: read 92 % of the time, 99 % once framed) is otherwise far from what
    the models learnt. Ink that reaches any other one or two sides is left alone: what runs off the
    frame there (a line across, a digit moved aside) is not the digit's box."""
    ink = x > INK_LEVEL  # (N, 28, 28)
    rows, cols = ink.any(2), ink.any(1)  # (N, 28) each
    first_row, last_row = rows.float().argmax(1), 27 - rows.flip(1).float().argmax(1)
    first_col, last_col = cols.float().argmax(1), 27 - cols.flip(1).float().argmax(1)
    side = torch.maximum(last_row - first_row, last_col - first_col) + 1  # (N,)
    edge = x > EDGE_LEVEL  # soft ink counts here: a digit enlarged to fill the frame reaches it faintly
    top, bottom, left, right = edge[:, 0].any(1), edge[:, -1].any(1), edge[:, :, 0].any(1), edge[:, :, -1].any(1)
    sides = top.long() + bottom.long() + left.long() + right.long()  # (N,) sides of the frame the ink reaches
    standing = top & bottom & ~left & ~right  # a digit enlarged to the frame's full height
    off = (side >= SMALLEST_BOX) & rows.any(1) & (((sides == 0) & ((side < BOX_RANGE[0]) | (side > BOX_RANGE[1])))
                                                 | (sides >= 3) | standing)
    if not off.any():
        return x
    out = x.clone()
    for i in torch.nonzero(off).flatten().tolist():  # few images, each its own box
        out[i] = framed(x[i, first_row[i]:last_row[i] + 1, first_col[i]:last_col[i] + 1])
    return out


# Images cleaned at once: the 3 x 3 neighbourhoods take 9x an image's memory. 1,024 rather than 4,096: a
# classifier preparing MNIST's 55,000 fit digits peaked 140 MB lower (a chunk's temporaries 30 MB, not 115)
# in the same 2.5 s (two processes each, one thread, 10:06 UTC; benchmarks/RESULTS.md, "Memory").
CHUNK = 1024


def cleaned(x: torch.Tensor) -> torch.Tensor:
    """(N, 28, 28) floats in [0, 1] (or uint8 0-255) -> what the models read: despeckled, on black,
    boxed, centred."""
    if not x.is_floating_point():  # uint8 pixels: the grey opening's negation would wrap around
        x = x.float() / 255
    return torch.cat([_MEMO.cleaned(part, _cleaned_chunk) for part in x.split(CHUNK)]) if len(x) else x


def _cleaned_chunk(x: torch.Tensor) -> torch.Tensor:
    return centred(boxed(on_black(despeckled(x))))


# chunks already cleaned in this process, and data sets' chunks cleaned before (cleaning_memo.py:
# compare cleans each set often; train and compare clean MNIST's digits every run)
_MEMO_SOURCES = (Path(__file__), Path(cleaning_memo.__file__))  # what names the shelf's version
_MEMO = CleaningMemo(shelf=cleaning_memo.home_shelf(*_MEMO_SOURCES))
