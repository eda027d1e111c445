"""train/flags.py: a share of the training 1s drawn with a flag (CNNConfig.flags), and only the 1s."""

from __future__ import annotations

import math

import torch

from digitlab import classifiers
from digitlab.classifiers.cnn import augment
from digitlab.train import flags


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_only_ones_are_flagged_about_their_share_with_ink_added_up_and_left_of_the_top(mnist_train):
    images, labels = mnist_train.images[:2000].float() / 255, mnist_train.labels[:2000]
    ones = labels == 1
    out = flags.flagged(images, ones, 0.5, _gen())
    changed = (out != images).flatten(1).any(1)
    assert not changed[~ones].any()  # no other digit is touched
    assert 0.4 < changed[ones].float().mean() < 0.6
    assert (out >= images).all() and out.max() <= 1  # ink only added
    strokes = 0
    for before, after in zip(images[changed][:40], out[changed][:40]):
        rows, cols = torch.nonzero((after - before) > 0.3, as_tuple=True)
        if len(rows) < 3:
            continue  # a 1 leaning far right: its flag runs near its own stroke
        strokes += 1
        inked = torch.nonzero(before > 0.5, as_tuple=True)
        top = int(inked[0].min())
        at_top = float(inked[1][inked[0] == top].float().mean())
        assert rows.float().mean() < top + 0.45 * (int(inked[0].max()) - top + 1)  # in the top of the digit
        assert cols.float().mean() < at_top  # to the left of where the stroke begins
    assert strokes >= 30  # most flags are a stroke of new ink
    assert flags.flagged(images, ones, 0.0, _gen()) is images
    assert torch.equal(flags.flagged(images, ones, 0.5, _gen(3)), flags.flagged(images, ones, 0.5, _gen(3)))


def test_the_flag_slopes_down_to_the_left_within_its_angles():
    one = torch.zeros(1, 28, 28)
    one[0, 6:24, 14] = 1  # an upright 1, top at row 6, column 14
    out = flags.flagged(one, torch.tensor([True]), 1.0, _gen(1))
    added = (out[0] - one[0]) > 0.5
    rows, cols = torch.nonzero(added, as_tuple=True)
    far = int(torch.argmin(cols))
    dy, dx = float(rows[far]) - 6, 14 - float(cols[far])
    angle = math.degrees(math.atan2(dy, dx))
    assert dx > 2 and flags.FLAG_ANGLES[0] - 12 < angle < flags.FLAG_ANGLES[1] + 12


def test_the_recipe_flags_the_ones_and_a_share_of_0_trains_as_before_the_option(mnist_train):
    images, labels = mnist_train.images[:600], mnist_train.labels[:600]
    config = classifiers.make("cnn", preset="fast", flags=0.6, lines=0.0).config
    ones = labels == 1
    out = augment.augmented(images, config, _gen(), ones=ones)
    bare = augment.augmented(images, classifiers.make("cnn", preset="fast").config, _gen())
    assert out.dtype == images.dtype
    assert not torch.equal(out[ones], bare[ones])
    # flags 0 draws nothing: the epoch's images as a run drew them before the option existed (no 1s told of)
    plain = classifiers.make("cnn", preset="fast").config
    assert torch.equal(augment.augmented(images, plain, _gen(), ones=ones), augment.augmented(images, plain, _gen()))
