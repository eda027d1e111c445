"""Ones written with a flag: many people start a 1 with a short stroke up from the left to its top (and
the web page's pen draws it so), where MNIST's 1s are mostly a bare stroke. The shipped cnn read such a
1 as a 7: 28 of its 65 errors on the stress set (2026-12-07: pen 13, small 8, photo 7; benchmarks/
RESULTS.md, issue 30), and in numbers read from the choose part. `flagged` draws that stroke onto a
share of the 1s among each epoch's training images (the cnn recipe's `flags`). Written from how a 1
is written, not from the stress set's or the page's drawing code.
(N, 28, 28) float in [0, 1], light ink on black -> the same.
"""

from __future__ import annotations

import math

import torch

FLAG_LENGTHS = (0.2, 0.4)  # of the 1's ink height: how long the flag is (a 7's bar is longer)
FLAG_ANGLES = (30.0, 60.0)  # degrees below the horizontal, down to the left from the top (a 7's bar is level)
FLAG_HALF_WIDTHS = (0.6, 1.2)  # px


def _between(u: torch.Tensor, span: tuple[float, float]) -> torch.Tensor:
    return span[0] + u * (span[1] - span[0])


def flagged(x: torch.Tensor, ones: torch.Tensor, share: float, generator: torch.Generator) -> torch.Tensor:
    """A `share` of the images that `ones` ((N,) bool) marks as 1s, given a flag: a straight stroke from
    the top of the ink, down to the left, anti-aliased, at full ink."""
    u = torch.rand(4, len(x), generator=generator).to(x.device)  # (4, N)
    pick = ones.to(x.device) & (u[0] < share)
    if not pick.any():
        return x
    out, u, ink = x.clone(), u[:, pick], x[pick]  # ink: (n, 28, 28)
    inked_rows = (ink > 0.5).any(2)  # (n, 28)
    if not inked_rows.any(1).all():
        return x  # a 1 with no full-ink pixel: nothing to hang a flag on (never in MNIST's training digits)
    rows = torch.arange(28.0, device=x.device)
    top = inked_rows.float().argmax(1)  # (n,) the first row with ink
    bottom = 27 - inked_rows.flip(1).float().argmax(1)
    at_top = ink[torch.arange(len(ink)), top]  # (n, 28) the top row's ink
    cx = (at_top * rows).sum(1) / at_top.sum(1).clamp_min(1e-6)  # where the stroke's top is
    cy = top.float()
    length = _between(u[1], FLAG_LENGTHS) * (bottom - top + 1).float()
    angle = torch.deg2rad(_between(u[2], FLAG_ANGLES))
    ex, ey = cx - length * torch.cos(angle), cy + length * torch.sin(angle)  # the flag's far end
    ys, xs = torch.meshgrid(rows, rows, indexing="ij")  # (28, 28)
    dx, dy = (ex - cx).view(-1, 1, 1), (ey - cy).view(-1, 1, 1)
    t = (((xs - cx.view(-1, 1, 1)) * dx + (ys - cy.view(-1, 1, 1)) * dy) / (dx * dx + dy * dy)).clamp(0, 1)
    distance = torch.hypot(xs - cx.view(-1, 1, 1) - t * dx, ys - cy.view(-1, 1, 1) - t * dy)  # (n, 28, 28)
    stroke = (_between(u[3], FLAG_HALF_WIDTHS).view(-1, 1, 1) + 0.5 - distance).clamp(0, 1)
    out[pick] = torch.maximum(ink, stroke)
    return out
