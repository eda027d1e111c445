"""The cnn's training augmentation, drawn anew each epoch from the epoch's generator: shifts, turns,
zooms and slants (`warped`), stroke weight (`restroked`), bent strokes (`bent`), clutter, blur and low
resolution."""

from __future__ import annotations

import math

import torch
from torch import nn

from digitlab.classifiers.cnn.config import CNNConfig
from digitlab.train import clutter
from digitlab.train.flags import flagged


def to_unit(x: torch.Tensor) -> torch.Tensor:
    return x.float().div_(255) if x.dtype == torch.uint8 else x.float()


# Images warped or restroked at once. A chunk's grid, float copy and output stay beside the epoch's
# images: 2,048 left an epoch draw of the fast preset on 55,000 float digits 80-90 MB lower than 8,192
# at the same 0.72 s (two processes each, one thread, 09:51 UTC, load 3.5).
DRAW_CHUNK = 2048


def shifted(images: torch.Tensor, shift: int, generator: torch.Generator) -> torch.Tensor:
    """Each image moved by its own random (dy, dx) in [-shift, shift]^2, the border filled with 0."""
    n = len(images)
    padded = nn.functional.pad(images, (shift, shift, shift, shift))  # (N, 28+2s, 28+2s)
    offsets = torch.randint(0, 2 * shift + 1, (2, n), generator=generator).to(images.device)
    out = torch.empty_like(images)
    for dy in range(2 * shift + 1):  # one slice per offset pair beats a per-image gather
        for dx in range(2 * shift + 1):
            pick = (offsets[0] == dy) & (offsets[1] == dx)  # (N,) bool
            out[pick] = padded[pick, dy:dy + 28, dx:dx + 28]
    return out


def warped(images: torch.Tensor, shift: float, rotate: float, scale: float, generator: torch.Generator,
           chunk: int = DRAW_CHUNK, shear: float = 0.0, aspect: float = 0.0, margin: int = 0,
           out: torch.Tensor | None = None) -> torch.Tensor:
    """Each image turned by up to +-rotate degrees, zoomed by up to 1 +- scale, slanted by up to
    +-shear, widened or narrowed by up to 1 +- aspect and moved by up to +-shift pixels, each drawn
    uniformly and independently; bilinear, the border filled with 0. Only the middle (28 - 2 margin)
    pixels square are computed, the `margin` around them left 0: a net that crops them away (the
    recipe's `crop`) sees the same images for half the work (0.7 -> 0.4 s an epoch, crop 4).
    out: a tensor like `images` (not `images` itself) to write them into, else a new one."""
    n = len(images)
    rows = 6 if shear or aspect else 4  # the first four draws are those of runs without slant or width
    u = (torch.rand(rows, n, generator=generator) * 2 - 1).to(images.device)  # (rows, N) in [-1, 1)
    angle, zoom = u[0] * math.radians(rotate), 1 + u[1] * scale
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom  # output -> input coordinates
    move = u[2:4] * shift * 2 / 28  # pixels -> affine_grid's [-1, 1] units
    theta = torch.stack([torch.stack([cos, -sin, move[0]], 1), torch.stack([sin, cos, move[1]], 1)], 1)  # (N, 2, 3)
    if rows == 6:  # then slant and width: x_in = (x_out - slant * y_out) / width, before the turn
        slant, width = u[4] * shear, 1 + u[5] * aspect
        extra = torch.zeros(n, 2, 3, device=images.device)
        extra[:, 0, 0], extra[:, 0, 1], extra[:, 1, 1] = 1 / width, -slant / width, 1
        theta = torch.cat([theta[:, :, :2] @ extra[:, :, :2], theta[:, :, 2:]], 2)  # (N, 2, 3)
    out = torch.zeros_like(images) if out is None else out.zero_()
    inner = slice(margin, 28 - margin)
    for start in range(0, n, chunk):  # a grid is 2 floats a pixel: chunks keep it small
        part = slice(start, start + chunk)
        grid = _sampling_grid(theta[part], margin)  # (b, 28 - 2 margin, 28 - 2 margin, 2)
        moved = nn.functional.grid_sample(to_unit(images[part]).unsqueeze(1), grid, align_corners=False)[:, 0]
        out[part, inner, inner] = moved.mul_(255).round_().to(torch.uint8) if images.dtype == torch.uint8 else moved
    return out


def _sampling_grid(theta: torch.Tensor, margin: int) -> torch.Tensor:
    """(b, 2, 3) affine maps -> (b, S, S, 2) the input points that the middle S = 28 - 2 margin
    output pixels read: affine_grid's arithmetic (align_corners=False) for those pixels alone, as one
    batched matrix product (affine_grid itself took 0.4 s of an epoch's 0.7 s of warping)."""
    side = 28 - 2 * margin
    centres = (2 * torch.arange(margin, 28 - margin, dtype=theta.dtype, device=theta.device) + 1) / 28 - 1  # (S,)
    ys, xs = torch.meshgrid(centres, centres, indexing="ij")
    base = torch.stack([xs, ys, torch.ones_like(xs)], -1).reshape(1, side * side, 3)  # (1, S*S, 3): x, y, 1
    return (base @ theta.transpose(1, 2)).reshape(len(theta), side, side, 2)  # (b, S*S, 2) -> (b, S, S, 2)


def restroked(images: torch.Tensor, thicken: int, generator: torch.Generator, chunk: int = DRAW_CHUNK,
              out: torch.Tensor | None = None) -> torch.Tensor:
    """Each image's strokes grown by k px (k drawn from -1 .. thicken per image): a (2k+1)-wide max
    filter for k > 0, a 2 x 2 min filter (half a pixel off each side) for k = -1, none for k = 0.
    Done in the images' own dtype with shifted maxima and minima (a separable filter): on uint8,
    5x faster than max_pool2d on a float copy (0.5 s an epoch of 60,000 before).
    Every k drawn first, then `chunk` images filtered at a time: the picked images' copies stay small
    (three of a third of 55,000 float digits at once, 170 MB, before). out: where the images go (may be
    `images` itself: each image is read before it is written), else a new tensor."""
    k = torch.randint(-1, thicken + 1, (len(images),), generator=generator).to(images.device)  # (N,)
    out = images.clone() if out is None else out.copy_(images)
    for start in range(0, len(images), chunk):
        part = slice(start, start + chunk)
        source, target, amount = images[part], out[part], k[part]  # views of this chunk
        for size in range(1, thicken + 1):
            pick = amount == size
            target[pick] = _spread(source[pick], size, torch.maximum)
        pick = amount == -1
        target[pick] = _spread(source[pick], 0, torch.minimum, one_sided=True)
    return out


def _spread(x: torch.Tensor, reach: int, pick, one_sided: bool = False) -> torch.Tensor:
    """(n, H, W) -> each pixel the `pick` (max or min) of its neighbours within `reach` px along rows,
    then columns; one_sided: of itself and the next pixel down and right (a 2 x 2 window). Beyond the
    edge is background (0), as max_pool2d's padding makes it."""
    for dim in (1, 2):
        src, out = x, x.clone()
        n = x.shape[dim]
        steps = [1] if one_sided else [s for r in range(1, reach + 1) for s in (r, -r)]
        for step in steps:  # out[i] = pick(out[i], src[i + step]), src being 0 beyond the edge
            a, b = (slice(0, n - step), slice(step, n)) if step > 0 else (slice(-step, n), slice(0, n + step))
            out[(slice(None),) * dim + (a,)] = pick(out[(slice(None),) * dim + (a,)], src[(slice(None),) * dim + (b,)])
            if pick is torch.minimum:  # the pixels whose neighbour is beyond the edge: min(x, 0)
                edge = slice(n - step, n) if step > 0 else slice(0, -step)
                out[(slice(None),) * dim + (edge,)] = 0
        x = out
    return x


def augmented(images: torch.Tensor, config: CNNConfig, generator: torch.Generator,
              out: torch.Tensor | None = None, ones: torch.Tensor | None = None) -> torch.Tensor:
    """The epoch's training images under config's augmentation: warped (or moved by whole pixels),
    restroked, some bent, then some blurred or put through a low resolution; written into `out` (a tensor like
    `images`, not `images` itself), else into a new tensor.
    The warp writes straight into `out` and the restroke works there in place: the fast preset's
    epoch of 55,000 float digits draws beside the images and their view alone, where it held two more
    whole copies and the picked images' (`digitlab compare`'s peak 1,391 -> 934 MB, benchmarks/RESULTS.md,
    "Memory")."""
    out = torch.empty_like(images) if out is None else out
    if config.rotate or config.scale or config.shear or config.aspect:
        warped(images, config.shift, config.rotate, config.scale, generator,
               shear=config.shear, aspect=config.aspect, margin=config.crop, out=out)
    elif config.shift:
        out.copy_(shifted(images, config.shift, generator))
    else:
        out.copy_(images)
    if config.flags and ones is not None:  # after the warp, before the restroke and the blur: a flag drawn with the pen
        x = flagged(to_unit(out), ones, config.flags, generator)
        out.copy_(x.mul_(255).round_().to(torch.uint8) if out.dtype == torch.uint8 else x)
    if config.thicken:
        restroked(out, config.thicken, generator, out=out)
    if config.elastic:  # a share of 0 draws nothing: runs without it draw the images they drew before it existed
        out.copy_(bent(out, config.elastic, generator))
    if config.blur or config.lowres:
        out.copy_(degraded(out, config.blur, config.lowres, generator))
    if config.turn or config.outline or config.lines or config.smear:
        out.copy_(_cluttered(out, config, generator))
    return out


def _cluttered(images: torch.Tensor, config: CNNConfig, generator: torch.Generator) -> torch.Tensor:
    """clutter.py's turns, outlines, smears then lines, in the images' own dtype: the digit turned and
    drawn in outline first (what a pen or an edge filter did to it), then a smear drags that ink, and a
    line is drawn last, crossing what is there. A share of 0 draws nothing from the generator, so a
    config without turns or outlines draws the images it drew before they existed."""
    x = to_unit(images)
    x = clutter.turned(x, config.turn, generator) if config.turn else x
    x = clutter.outlined(x, config.outline, generator) if config.outline else x
    x = clutter.smeared(x, config.smear, generator) if config.smear else x
    x = clutter.crossed(x, config.lines, generator) if config.lines else x
    return x.mul_(255).round_().to(torch.uint8) if images.dtype == torch.uint8 else x


BEND_PX = 2.0  # px, the largest move of a control point in x and in y (see bent)
BEND_KNOTS = 4  # control points a side: about 9 px apart, so a stroke bends as a whole rather than jitters


def bent(images: torch.Tensor, share: float, generator: torch.Generator) -> torch.Tensor:
    """A `share` of the images (drawn per image) bent by a smooth random field, as hands and pens bend
    strokes in ways no affine map (`warped`) does: each of BEND_KNOTS x BEND_KNOTS control points spread
    over the image is moved by up to +-BEND_PX px in x and y, drawn uniformly, the moves spread between
    them bicubically, and each pixel read from where its move points; bilinear, 0 beyond the edge."""
    picked = torch.rand(len(images), generator=generator) < share  # (N,), drawn on the generator's device
    knots = torch.rand(int(picked.sum()), 2, BEND_KNOTS, BEND_KNOTS, generator=generator) * 2 - 1  # (k, 2, K, K)
    if not picked.any():
        return images.clone()
    pick, knots = picked.to(images.device), knots.to(images.device)
    moves = nn.functional.interpolate(knots, size=(28, 28), mode="bicubic", align_corners=True)  # (k, 2, 28, 28)
    identity = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]], device=images.device)  # (1, 2, 3)
    grid = _sampling_grid(identity, 0) + moves.permute(0, 2, 3, 1) * (BEND_PX * 2 / 28)  # px -> grid units
    moved = nn.functional.grid_sample(to_unit(images[pick]).unsqueeze(1), grid, align_corners=False)[:, 0]
    out = images.clone()
    out[pick] = moved.mul_(255).round_().clamp_(0, 255).to(torch.uint8) if images.dtype == torch.uint8 else moved
    return out


BLUR_SIGMAS = (0.5, 0.8, 1.2)  # px, the blurs drawn from (see degraded)
LOW_SIDES = (10, 13, 16)  # px, the low resolutions drawn from


def degraded(images: torch.Tensor, blur: float, lowres: float, generator: torch.Generator) -> torch.Tensor:
    """A `blur` share of the images blurred and a `lowres` share shrunk and grown back, each by a
    level drawn per image, each changed one then stretched so that its brightest pixel is full ink again, as
    mnist_style.to_mnist leaves every input. The photos and small scans of other people are softer
    than MNIST's pen strokes (a blurred photo, a 12 px digit shown larger)."""
    n = len(images)
    draws = torch.rand(4, n, generator=generator).to(images.device)  # (4, N): which, and how much
    out = to_unit(images).clone()
    touched = (draws[0] < blur) | (draws[2] < lowres)  # (N,)
    for k, sigma in enumerate(BLUR_SIGMAS):
        pick = (draws[0] < blur) & ((draws[1] * len(BLUR_SIGMAS)).long() == k)
        if pick.any():
            out[pick] = _gaussian(out[pick], sigma)
    for k, side in enumerate(LOW_SIDES):
        pick = (draws[2] < lowres) & ((draws[3] * len(LOW_SIDES)).long() == k)
        if pick.any():
            small = nn.functional.interpolate(out[pick, None], size=(side, side), mode="bilinear", antialias=True)
            out[pick] = nn.functional.interpolate(small, size=(28, 28), mode="bilinear")[:, 0]
    out[touched] = out[touched] / out[touched].amax(dim=(1, 2), keepdim=True).clamp_min(1e-6)
    if images.dtype != torch.uint8:
        return out
    kept = images.clone()
    kept[touched] = out[touched].mul_(255).round_().to(torch.uint8)
    return kept


def _gaussian(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """(n, H, W) -> each image blurred by a Gaussian of `sigma` px, as two 1-D passes, zero beyond the edge."""
    reach = max(1, math.ceil(3 * sigma))
    taps = torch.arange(-reach, reach + 1, dtype=x.dtype, device=x.device)
    kernel = torch.exp(-taps**2 / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    x = nn.functional.conv2d(x[:, None], kernel.view(1, 1, 1, -1), padding=(0, reach))
    return nn.functional.conv2d(x, kernel.view(1, 1, -1, 1), padding=(reach, 0))[:, 0]
