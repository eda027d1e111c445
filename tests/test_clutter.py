"""clutter.py: the training damage that teaches the cnn to read through lines and smears."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from digitlab import clutter, recipe


@pytest.fixture(scope="module")
def digits(mnist_train):
    return mnist_train.images[:400].float() / 255  # (400, 28, 28)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("damage", [clutter.crossed, clutter.smeared])
def test_each_damages_about_its_share_and_no_more(digits, damage):
    out = damage(digits, 0.3, _gen())
    touched = (out != digits).flatten(1).any(1).float().mean()
    assert 0.2 < touched < 0.4
    assert out.min() >= 0 and out.max() <= 1
    assert damage(digits, 0.0, _gen()) is digits
    assert torch.equal(damage(digits, 0.3, _gen(1)), damage(digits, 0.3, _gen(1)))  # seeded


def test_lines_add_ink_across_the_frame_and_never_take_any(digits):
    out = clutter.crossed(digits, 1.0, _gen())
    assert (out >= digits).all()
    added = (out - digits) > 0.2
    reach = added.any(1).sum(1).float()  # columns the new ink spans, per image
    rows = added.any(2).sum(1).float()
    assert torch.maximum(reach, rows).median() >= 20  # a line runs across, not a speck


def test_a_smear_spreads_the_ink_and_keeps_it_full(digits):
    out = clutter.smeared(digits, 1.0, _gen())
    assert ((out > 0.1).sum(dim=(1, 2)) > (digits > 0.1).sum(dim=(1, 2))).float().mean() > 0.9
    assert torch.allclose(out.amax(dim=(1, 2)), torch.ones(len(digits)))


def test_the_recipe_applies_them_in_the_images_own_dtype(mnist_train):
    config = dataclasses.replace(recipe.preset("fast"), lines=0.5, smear=0.5)
    x = mnist_train.images[:200]
    out = recipe.augmented(x, config, _gen())
    assert out.dtype == torch.uint8
    plain = recipe.augmented(x, dataclasses.replace(config, lines=0, smear=0), _gen())
    assert (out.float().mean(dim=(1, 2)) > plain.float().mean(dim=(1, 2))).float().mean() > 0.5
