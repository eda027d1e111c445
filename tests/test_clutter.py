"""clutter.py: the training damage that teaches the cnn, the linear model, simple_net and pixel to
read through lines, smears, turns and outlines."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from digitlab import classifiers
from digitlab.classifiers.cnn import presets, augment
from digitlab.errors import DigitlabError
from digitlab.train import clutter


@pytest.fixture(scope="module")
def digits(mnist_train):
    return mnist_train.images[:400].float() / 255  # (400, 28, 28)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("damage", [clutter.crossed, clutter.smeared, clutter.turned, clutter.outlined])
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
    config = dataclasses.replace(presets.preset("fast"), lines=0.5, smear=0.5)
    x = mnist_train.images[:200]
    out = augment.augmented(x, config, _gen())
    assert out.dtype == torch.uint8
    plain = augment.augmented(x, dataclasses.replace(config, lines=0, smear=0), _gen())
    assert (out.float().mean(dim=(1, 2)) > plain.float().mean(dim=(1, 2))).float().mean() > 0.5


def test_a_turn_keeps_the_ink_and_moves_it_about_the_centre(digits):
    out = clutter.turned(digits, 1.0, _gen())
    assert torch.allclose(out.sum(dim=(1, 2)), digits.sum(dim=(1, 2)), rtol=0.1)  # little ink lost at 30 degrees
    assert ((out - digits).abs().sum(dim=(1, 2)) > 5).float().mean() > 0.8  # most visibly turned


def test_an_outline_is_hollow_where_the_stroke_was_thick(digits):
    out = clutter.outlined(digits, 1.0, _gen())
    # A pixel inside a thick stroke (its whole 3 x 3 neighbourhood inked) is dark in the outline.
    solid = -torch.nn.functional.max_pool2d(-(digits > 0.5).float()[:, None], 3, stride=1, padding=1)[:, 0]
    assert (out[solid > 0] == 0).all()
    assert ((out > 0) & (digits <= 0.5)).any(dim=(1, 2)).all()  # and lit just outside each stroke


@pytest.mark.parametrize("method, options", [("linear", {"epochs": 1}), ("simple_net", {"epochs": 1}),
                                             ("pixel", {"ideals": 3})])
def test_each_template_method_fits_cluttered_copies_after_the_digits(mnist_train, method, options):
    x, y = mnist_train.images[:300], mnist_train.labels[:300]
    clf = classifiers.make(method, **options, lines=0.5, outline=0.2, seed=3)
    images, labels = clf._with_copies(x, y)
    assert 300 + 100 < len(images) < 300 + 250  # about half again crossed, a fifth outlined
    assert torch.equal(images[:300], x.float() / 255) and torch.equal(labels[:300], y)
    # The crossed copies come first, drawn with the config's seed: each is its own digit with ink
    # added (a line), never ink taken away, under its own label.
    chosen = torch.nonzero(torch.rand(300, generator=_gen(3)) < 0.5).flatten()
    lined = images[300:300 + len(chosen)]
    assert (lined >= images[chosen] - 1e-6).all()
    assert (lined.sum(dim=(1, 2)) > images[chosen].sum(dim=(1, 2)) + 1).all()
    assert torch.equal(labels[300:300 + len(chosen)], y[chosen])
    assert clf._with_copies(x, y)[0].equal(images)  # the same copies again: a resumed fit sees them too
    assert classifiers.make(method, **options)._with_copies(x, y)[0] is x  # no options: nothing copied


def test_a_book_network_with_clutter_saves_and_loads_its_options(mnist_train, tmp_path):
    clf = classifiers.make("simple_net", epochs=1, hidden=8, lines=0.3, smear=0.1, turn=0.2, outline=0.05)
    clf.fit(mnist_train.images[:200], mnist_train.labels[:200], progress=False)
    copies = len(clf._with_copies(mnist_train.images[:200], mnist_train.labels[:200])[0]) - 200
    assert copies > 100 and clf.data_ == {"n_train": 200, "n_valid": 0, "n_copies": copies}  # counted apart
    clf.save(tmp_path / "net")
    assert (f"200 training images, and {copies:,} damaged copies of some of them (30% crossed by lines, 10% "
            "smeared, 20% turned, 5% outlined)") in (tmp_path / "net" / "README.md").read_text()
    again = classifiers.load(tmp_path / "net")
    assert (again.config.lines, again.config.smear, again.config.turn, again.config.outline) == (0.3, 0.1, 0.2, 0.05)
    assert torch.equal(again.predict(mnist_train.images[:50]), clf.predict(mnist_train.images[:50]))


def test_pixel_makes_ideal_digits_of_its_outlined_copies(mnist_train):
    """With copies of every digit in outline, k-means makes outlined ideal digits too, and outlined
    digits it never saw find their class (1,000 fit digits, 10 ideals: 73.3 -> 86.3 % of 300 outlined)."""
    x, y = mnist_train.images[:1000], mnist_train.labels[:1000]
    unseen, labels = mnist_train.images[-300:], mnist_train.labels[-300:]
    outlined = clutter.outlined(unseen.float() / 255, 1.0, _gen(7))  # (300, 28, 28)
    plain = classifiers.make("pixel", ideals=10).fit(x, y, progress=False)
    copied = classifiers.make("pixel", ideals=10, outline=1.0).fit(x, y, progress=False)
    assert copied.data_["n_copies"] == 1000 and copied.data_["n_train"] == 1000  # every digit once more, outlined
    assert copied.score(outlined, labels) > plain.score(outlined, labels) + 0.05


def test_a_pixel_model_with_clutter_saves_and_loads_its_options(mnist_train, tmp_path):
    clf = classifiers.make("pixel", ideals=4, lines=0.3, smear=0.1, turn=0.2, outline=0.05)
    clf.fit(mnist_train.images[:200], mnist_train.labels[:200], progress=False)
    clf.save(tmp_path / "pixel")
    again = classifiers.load(tmp_path / "pixel")
    assert (again.config.lines, again.config.smear, again.config.turn, again.config.outline) == (0.3, 0.1, 0.2, 0.05)
    assert torch.equal(again.ideals_, clf.ideals_)


def test_pixel_copy_ideals_keep_the_clean_ideals_and_add_the_copies_own(mnist_train, tmp_path):
    """copy_ideals: the clean digits' ideals are those of a model without copies (the same seed), and
    the copies' own follow them in each class; saved and loaded with their count."""
    x, y = mnist_train.images[:600], mnist_train.labels[:600]
    plain = classifiers.make("pixel", ideals=4).fit(x, y, progress=False)
    both = classifiers.make("pixel", ideals=4, outline=1.0, copy_ideals=3).fit(x, y, progress=False)
    assert both.ideals_.shape == (10, 7, 28, 28)
    assert torch.equal(both.ideals_[:, :4], plain.ideals_)  # the copies took none of the clean digits' ideals
    outlined = clutter.outlined(x[y == 3].float() / 255, 1.0, _gen(7))  # the 3s in outline lie nearer ...
    ideal_3 = both.ideals_[list(both.classes_).index(3)].reshape(7, 784)
    d = torch.cdist(outlined.reshape(-1, 784), ideal_3)  # (n, 7)
    assert (d[:, 4:].amin(1) < d[:, :4].amin(1)).float().mean() > 0.8  # ... to the copies' ideals than the clean ones
    both.save(tmp_path / "pixel")
    assert torch.equal(classifiers.load(tmp_path / "pixel").ideals_, both.ideals_)


def test_pixel_copy_ideals_are_kept_even_when_no_digit_was_copied(mnist_train, tmp_path):
    """A share so small that no fit digit is picked still gives each class its copy_ideals (of its clean
    digits), so that the saved model has the shape its config says and loads."""
    clf = classifiers.make("pixel", ideals=2, lines=1e-4, copy_ideals=2)
    clf.fit(mnist_train.images[:40], mnist_train.labels[:40], progress=False)
    assert clf.data_ == {"n_train": 40, "n_valid": 0} and clf.ideals_.shape[1] == 4  # nothing copied, four ideals a class
    clf.save(tmp_path / "pixel")
    assert torch.equal(classifiers.load(tmp_path / "pixel").ideals_, clf.ideals_)


@pytest.mark.parametrize("method", ["linear", "pixel"])
@pytest.mark.parametrize("bad", [{"lines": 1.5}, {"turn": -0.1}])
def test_a_share_out_of_range_is_refused(bad, method):
    name = next(iter(bad))
    with pytest.raises(DigitlabError, match=f"{name} is .*; it must be a number from 0 to 1"):
        classifiers.make(method, **bad)
