"""What every model does to a 28 x 28 input before reading it: salt-and-pepper noise removed, the
background brought to black and faint ink to full strength.

MNIST's digits are light ink on an exactly black background, and a model trained on them reads
nothing else: given a digit on a grey background (a raised brightness, fog, low contrast) the
shipped cnn answered 8 for 994 of 1,000 held-out training digits, where `images.to_mnist` would have
cleaned the same image first. A tensor handed to a model through the Python API gets no such
cleaning, so the models clean their own input, here. Digits that already look like MNIST's pass
unchanged (bit for bit: checked over MNIST's 60,000 training digits but for the 31 heaviest, whose
ink holds a square as wide as the background window), so models trained before read them as before.
"""

from __future__ import annotations

import torch
from torch import nn

BACKGROUND_WINDOW = 11  # px: a grey opening this wide erases every stroke (MNIST's are 2-4 px wide;
#                         at 9 px, 316 of its 60,000 training digits kept a patch, at 11 px 31)
FULL_INK = 0.9  # ink fainter than this at its brightest is stretched to 1, as to_mnist does
SPECK_JUMP = 0.3  # a pixel this much brighter (or darker) than all 8 of its neighbours is a speck ...
SPECKS = 4  # ... and this many specks in 28 x 28 are salt-and-pepper noise: MNIST's training digits
#             hold at most 2 (20,000 counted), 1 % noise about 3, 5 % noise 13 (half are lost on black)


def _neighbourhoods(x: torch.Tensor) -> torch.Tensor:
    """(N, H, W) -> (N, H, W, 9): each pixel's 3 x 3 neighbourhood (itself at [4]), 0 beyond the edge."""
    padded = nn.functional.pad(x[:, None], (1, 1, 1, 1))  # (N, 1, H+2, W+2)
    return padded.unfold(2, 3, 1).unfold(3, 3, 1).reshape(*x.shape, 9)


def specks(x: torch.Tensor) -> torch.Tensor:
    """(N, H, W) floats in [0, 1] -> (N,) how many pixels stand alone, far brighter or darker than
    each of their eight neighbours (salt-and-pepper noise; a pen stroke never does)."""
    h, w = x.shape[1:]
    padded = nn.functional.pad(x, (1, 1, 1, 1))  # (N, H+2, W+2), 0 beyond the edge
    brightest = darkest = None
    for dy in range(3):  # the eight neighbours as shifted views: 16 elementwise passes, no 9x copy
        for dx in range(3):
            if dy == dx == 1:
                continue
            near = padded[:, dy:dy + h, dx:dx + w]
            brightest = near if brightest is None else torch.maximum(brightest, near)
            darkest = near if darkest is None else torch.minimum(darkest, near)
    alone = ((x - brightest) > SPECK_JUMP) | ((darkest - x) > SPECK_JUMP)
    return alone.flatten(1).sum(1)


def despeckled(x: torch.Tensor) -> torch.Tensor:
    """(N, H, W) -> the images with SPECKS or more lone pixels through a 3 x 3 median; the rest as
    they are (a median always would round a thin stroke's ends and corners)."""
    noisy = specks(x) >= SPECKS  # (N,)
    if not noisy.any():
        return x
    out = x.clone()
    out[noisy] = _neighbourhoods(x[noisy]).median(dim=-1).values
    return out


def _brightest_around(x4: torch.Tensor) -> torch.Tensor:
    """(N, 1, H, W) -> each pixel's brightest neighbour within BACKGROUND_WINDOW, a square taken as a
    column then a row (two passes of 11 rather than one of 121: 5x faster)."""
    reach = BACKGROUND_WINDOW // 2
    x4 = nn.functional.max_pool2d(x4, (BACKGROUND_WINDOW, 1), stride=1, padding=(reach, 0))
    return nn.functional.max_pool2d(x4, (1, BACKGROUND_WINDOW), stride=1, padding=(0, reach))


def on_black(x: torch.Tensor) -> torch.Tensor:
    """(N, 28, 28) floats in [0, 1] -> the ink above its local background (a grey opening
    BACKGROUND_WINDOW px wide: the darkest level around each pixel, then the brightest of those),
    stretched to full strength where its brightest pixel is under FULL_INK."""
    x4 = x[:, None]  # (N, 1, 28, 28)
    darkest = -_brightest_around(-x4)
    background = _brightest_around(darkest)
    ink = (x4 - background).clamp_min_(0)[:, 0]  # (N, 28, 28)
    peak = ink.amax(dim=(1, 2), keepdim=True)  # (N, 1, 1)
    faint = (peak < FULL_INK) & (peak > 0)
    return torch.where(faint, ink / peak.clamp_min(1e-6), ink)


CHUNK = 4096  # images cleaned at once: the 3 x 3 neighbourhoods take 9x an image's memory


def cleaned(x: torch.Tensor) -> torch.Tensor:
    """(N, 28, 28) floats in [0, 1] -> what the models read: despeckled, then on black."""
    if len(x) <= CHUNK:
        return on_black(despeckled(x))
    return torch.cat([on_black(despeckled(part)) for part in x.split(CHUNK)])
