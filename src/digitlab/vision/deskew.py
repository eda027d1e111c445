"""Deskewing: each digit sheared upright by its own image moments, as classic MNIST work does.

A template method (pixel similarity, a linear model, a small net on raw pixels) compares pixels at
fixed places, so a digit leaning left and the same digit leaning right look unalike. Sheared so that
its second moments show no lean, and moved so that its centre of mass sits at (14, 14), every
digit meets its template upright. It is the classifier's own first step (config `deskew`), in
training and in prediction alike. Held-out split of MNIST's training images, seed 0: pixel
similarity 83.1 -> 87.9 %, linear 92.3 -> 95.7 %; stress set 63.3 -> 72.7 % and 83.6 -> 86.6 %
(benchmarks/RESULTS.md, "Other people's digits").

Stretching (`stretched=True`, config `stretch`) goes one step further, as moment normalisation
does: each digit is also widened or narrowed so that its ink spreads across MNIST_ASPECT times as
far as it spreads down. A typed 6 is round where a written one is narrow; the same digit at one
width meets its template in more of its pixels. Linear model, held-out split, 3 seeds: 95.39 ->
96.10 %, stress set 88.82 -> 92.21 % (benchmarks/RESULTS.md).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

MAX_SLANT = 1.0  # x's change per unit of y: steeper leans are clamped (a 1 lying on its side)
# The ink's spread across over its spread down (standard deviations), upright: the median of MNIST's
# 60,000 training digits (tests/test_deskew.py measures it again).
MNIST_ASPECT = 0.63
STRETCH_RANGE = (0.5, 2.0)  # the most a digit is narrowed or widened: a 1 is widened 2x, no more


def deskewed(x: torch.Tensor, stretched: bool = False) -> torch.Tensor:
    """(N, 28, 28) float in [0, 1] -> the same digits upright and centred by mass, bilinear;
    stretched: also widened or narrowed to MNIST_ASPECT, within STRETCH_RANGE."""
    n = x.shape[0]  # not len(x): a symbolic batch size stays symbolic when exported (onnx/graph.py)
    if n == 0:
        return x
    ys, xs = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")  # (28, 28) each
    total = x.sum((1, 2)).clamp_min(1e-6)  # (N,)
    cy, cx = (x * ys).sum((1, 2)) / total, (x * xs).sum((1, 2)) / total  # (N,) centres of mass
    dy, dx = ys - cy[:, None, None], xs - cx[:, None, None]  # (N, 28, 28)
    sum_yy, sum_xy = (x * dy * dy).sum((1, 2)), (x * dx * dy).sum((1, 2))  # (N,) each: second moments
    slant = (sum_xy / sum_yy.clamp_min(1e-6)).clamp(-MAX_SLANT, MAX_SLANT)
    widen = torch.ones(n)
    if stretched:
        # The sheared ink's spread across: x' = dx - slant * dy, so its moment is
        # sum_xx - 2 slant sum_xy + slant^2 sum_yy (the ink's total cancels in the ratio).
        sum_xx = (x * dx * dx).sum((1, 2))
        across = (sum_xx - 2 * slant * sum_xy + slant**2 * sum_yy).clamp_min(1e-6)
        widen = (MNIST_ASPECT * (sum_yy.clamp_min(1e-6) / across).sqrt()).clamp(*STRETCH_RANGE)
    # Output pixel (X, Y) reads input ((X - 14) / widen + slant * (Y - 14) + cx, Y - 14 + cy): upright,
    # centred, at MNIST's width when stretched; shear and stretch in one resampling.
    # Pixels -> grid_sample's [-1, 1] units, whose pixel centres lie at (2k + 1) / 28 - 1 with 13.5 in
    # the middle, so widening about 14 moves x by (1 - 1 / widen) / 2 px more. The grid written out
    # elementwise (F.affine_grid's grid to 2e-7: no answer of the shipped models changed on MNIST's test
    # or the stress set): exported to ONNX, affine_grid became a multiply and a sum over a middle axis,
    # 44 % of ONNX Runtime's time for the linear model (onnx/graph.py; benchmarks/RESULTS.md).
    u = (torch.arange(28.0) * 2 + 1) / 28 - 1  # (28,) the pixel centres in grid units
    shift_x = ((cx - 14 + (1 - 1 / widen) / 2) * 2 / 28)[:, None, None]  # (N, 1, 1)
    shift_y = ((cy - 14) * 2 / 28)[:, None, None]
    read_x = u / widen[:, None, None] + slant[:, None, None] * u[:, None] + shift_x  # (N, 28, 28): [row, column]
    read_y = (u[:, None] + shift_y).expand(n, 28, 28)  # (N, 28, 28)
    grid = torch.stack([read_x, read_y], dim=-1)  # (N, 28, 28, 2): where each output pixel reads (x, y)
    return F.grid_sample(x[:, None], grid, align_corners=False)[:, 0].clamp(0, 1)  # (N, 28, 28)
