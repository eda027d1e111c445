"""Training damage that teaches a model to read a digit through clutter: lines drawn across it,
smears, a turn, strokes drawn in outline.

Other people's images carry marks MNIST's never do: a line struck through, a hand that moved. The
cnn recipe's `lines` and `smear` settings put a share of each epoch's training images through these,
each image drawing its own kind and amount. The linear model's, simple_net's and pixel's `lines`,
`smear`, `turn` and `outline` add a damaged copy of a share of their training digits, once
(`with_copies`, called by Classifier._with_copies). (A patterned or foggy page behind the digit is left to input_cleaning,
which takes it away before any model reads it: trained on such pages instead, 20 % of the images,
the fast cnn lost a point on the stress set's typed digits, benchmarks/RESULTS.md.) Written from the
descriptions of the kinds of damage, not from the corruption set's code (and blind to its held-out
kinds: corrupted.HELD_OUT_KINDS), so that the set still measures something the training never saw.
Every function: (N, 28, 28) float in [0, 1], light ink on black -> the same.
"""

from __future__ import annotations

import math

import torch
from torch import nn

LINE_HALF_WIDTHS = (0.4, 1.2)  # px: a line's half width is drawn from this range
LINE_LEVELS = (0.4, 1.0)  # how bright a line is, drawn from this range
DASH_PERIODS = (3.0, 7.0)  # px: a dotted line's period, drawn from this range
SMEAR_LENGTHS = (2, 6)  # px: how far a smear drags the ink


def _grid(device) -> tuple[torch.Tensor, torch.Tensor]:
    """(1, 28, 28) row and column coordinates, for broadcasting against (n, 1, 1) parameters."""
    ys, xs = torch.meshgrid(torch.arange(28.0, device=device), torch.arange(28.0, device=device), indexing="ij")
    return ys[None], xs[None]


def _between(u: torch.Tensor, span: tuple[float, float]) -> torch.Tensor:
    """Uniform draws in [0, 1) -> in span, shaped (n, 1, 1) for broadcasting over images."""
    return (span[0] + u * (span[1] - span[0])).view(-1, 1, 1)


def crossed(x: torch.Tensor, share: float, generator: torch.Generator) -> torch.Tensor:
    """A `share` of the images crossed by one or two straight lines through the middle, solid or
    dotted, at any angle, each of its own width and brightness (anti-aliased)."""
    u = torch.rand(12, len(x), generator=generator).to(x.device)  # (12, N)
    pick = u[0] < share
    if not pick.any():
        return x
    out, u = x.clone(), u[:, pick]
    ys, xs = _grid(x.device)
    drawn = torch.zeros_like(out[pick])  # (n, 28, 28)
    for first, second_line in ((1, None), (6, u[11] < 0.3)):  # a second line for 30 % of them
        angle = _between(u[first], (0, math.pi))
        cy, cx = _between(u[first + 1], (6, 22)), _between(u[first + 2], (6, 22))  # px: where it passes
        across = (xs - cx) * torch.sin(angle) - (ys - cy) * torch.cos(angle)  # (n, 28, 28) px from the line
        along = (xs - cx) * torch.cos(angle) + (ys - cy) * torch.sin(angle)
        ink = (_between(u[first + 3], LINE_HALF_WIDTHS) + 0.5 - across.abs()).clamp(0, 1)
        period = _between(u[first + 4], DASH_PERIODS)
        dotted = (u[first + 4] < 0.4).view(-1, 1, 1)  # 40 % of lines dotted (those of the shorter periods)
        ink = torch.where(dotted, ink * (torch.remainder(along, period) < period / 2), ink)
        level = _between(u[10], LINE_LEVELS)
        keep = torch.ones_like(ink) if second_line is None else second_line.view(-1, 1, 1).float()
        drawn = torch.maximum(drawn, ink * level * keep)
    out[pick] = torch.maximum(out[pick], drawn)
    return out


def smeared(x: torch.Tensor, share: float, generator: torch.Generator) -> torch.Tensor:
    """A `share` of the images smeared along a random direction, as by a hand that moved: the mean
    of the image shifted along a short line (SMEAR_LENGTHS px), then stretched to full ink again."""
    u = torch.rand(3, len(x), generator=generator).to(x.device)
    pick = u[0] < share
    if not pick.any():
        return x
    out = x.clone()
    chosen = torch.nonzero(pick).flatten()
    lengths = (SMEAR_LENGTHS[0] + u[1, pick] * (SMEAR_LENGTHS[1] - SMEAR_LENGTHS[0] + 1)).long()
    angles = u[2, pick] * math.pi
    images = x[chosen][:, None]  # (n, 1, 28, 28)
    total = torch.zeros_like(images)
    steps = SMEAR_LENGTHS[1] + 1
    for k in range(steps):  # the k-th point along each image's line, weighted 1 while within its length
        t = k - (lengths.float() - 1) / 2  # px from the smear's middle
        theta = torch.zeros(len(chosen), 2, 3, device=x.device)
        theta[:, 0, 0] = theta[:, 1, 1] = 1
        theta[:, 0, 2], theta[:, 1, 2] = t * torch.cos(angles) * 2 / 28, t * torch.sin(angles) * 2 / 28
        grid = nn.functional.affine_grid(theta, list(images.shape), align_corners=False)
        moved = nn.functional.grid_sample(images, grid, align_corners=False)
        total += moved * (k < lengths).float().view(-1, 1, 1, 1)
    total = total[:, 0] / lengths.float().view(-1, 1, 1)
    out[chosen] = total / total.amax(dim=(1, 2), keepdim=True).clamp_min(1e-6)
    return out


TURN_DEGREES = 30.0  # the most a turned digit is turned, either way (MNIST's own lean little: deskew takes it)


def turned(x: torch.Tensor, share: float, generator: torch.Generator) -> torch.Tensor:
    """A `share` of the images turned about the centre by up to TURN_DEGREES either way, bilinear."""
    u = torch.rand(2, len(x), generator=generator).to(x.device)
    pick = u[0] < share
    if not pick.any():
        return x
    out = x.clone()
    angles = (u[1, pick] * 2 - 1) * math.radians(TURN_DEGREES)  # (n,)
    theta = torch.zeros(len(angles), 2, 3, device=x.device)
    theta[:, 0, 0] = theta[:, 1, 1] = torch.cos(angles)
    theta[:, 0, 1], theta[:, 1, 0] = -torch.sin(angles), torch.sin(angles)
    images = x[pick][:, None]  # (n, 1, 28, 28)
    grid = nn.functional.affine_grid(theta, list(images.shape), align_corners=False)
    out[pick] = nn.functional.grid_sample(images, grid, align_corners=False)[:, 0]
    return out


def outlined(x: torch.Tensor, share: float, generator: torch.Generator) -> torch.Tensor:
    """A `share` of the images drawn as the outline of their strokes: the ink grown by one pixel
    less the ink shrunk by one (a morphological gradient of the ink over half), in full ink."""
    pick = torch.rand(len(x), generator=generator).to(x.device) < share
    if not pick.any():
        return x
    out = x.clone()
    ink = (x[pick] > 0.5).float()[:, None]  # (n, 1, 28, 28)
    grown = nn.functional.max_pool2d(ink, 3, stride=1, padding=1)
    shrunk = -nn.functional.max_pool2d(-ink, 3, stride=1, padding=1)
    out[pick] = (grown - shrunk)[:, 0]
    return out


# A config's field -> the damage its copies get (LinearConfig's and PixelConfig's shares of the fit digits).
COPIES = {"lines": crossed, "smear": smeared, "turn": turned, "outline": outlined}


def with_copies(images: torch.Tensor, labels: torch.Tensor, shares: dict[str, float],
                seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, 28, 28) float images in [0, 1] and their (N,) labels -> the images, then for each field of
    COPIES whose share is above 0, in COPIES' order, a damaged copy of about that share of them (which
    ones drawn anew for each field), with their labels. One generator seeded `seed` draws them all, so the
    same images and shares give the same copies on every call (a resumed fit trains on the same ones)."""
    generator = torch.Generator().manual_seed(seed)
    copied, copied_labels = [images], [labels]
    for name, damage in COPIES.items():
        share = shares.get(name, 0.0)
        if share:
            pick = torch.rand(len(images), generator=generator) < share  # (N,)
            copied.append(damage(images[pick], 1.0, generator))  # every picked image damaged
            copied_labels.append(labels[pick])
    return torch.cat(copied), torch.cat(copied_labels)
