"""Deskewing: a leaning digit comes out upright and centred, stretching brings it to MNIST's width,
and a classifier configured with them does both in fit and in predict alike, also after a save and load."""

from __future__ import annotations

import pytest
import torch

from digitlab import classifiers
from digitlab.errors import DigitlabError
from digitlab.vision.deskew import MNIST_ASPECT, STRETCH_RANGE, deskewed
from digitlab.vision.input_cleaning import cleaned


def _moments(x: torch.Tensor) -> tuple[float, float, float]:
    ys, xs = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
    total = x.sum()
    cy, cx = float((x * ys).sum() / total), float((x * xs).sum() / total)
    slant = float((x * (xs - cx) * (ys - cy)).sum() / (x * (ys - cy) ** 2).sum())
    return cy, cx, slant


def test_a_leaning_bar_off_centre_comes_out_upright_and_centred():
    bar = torch.zeros(28, 28)
    for row in range(6, 22):  # leans right by half a pixel a row, left of the middle
        col = 6 + (21 - row) // 2
        bar[row, col : col + 2] = 1.0
    assert _moments(bar)[2] < -0.4
    cy, cx, slant = _moments(deskewed(bar[None])[0])
    assert abs(slant) < 0.05 and abs(cy - 14) < 0.5 and abs(cx - 14) < 0.5, (cy, cx, slant)


def test_mnist_digits_keep_their_ink_and_lose_their_lean(mnist_train):
    x = mnist_train.images[:200].float() / 255
    out = deskewed(x)
    assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1
    before = torch.tensor([abs(_moments(d)[2]) for d in x])
    after = torch.tensor([abs(_moments(d)[2]) for d in out])
    assert after.median() < 0.05 < before.median()
    kept = out.sum((1, 2)) / x.sum((1, 2))
    assert kept.min() > 0.85  # bilinear shearing moves ink, it does not lose it (some leaves the frame)
    assert len(deskewed(torch.zeros(0, 28, 28))) == 0


def test_a_classifier_deskews_in_fit_and_predict_and_keeps_it_when_saved(mnist_train, mnist_test, tmp_path):
    x, y = mnist_train.images[:3000], mnist_train.labels[:3000]
    test = mnist_test.images[:500]
    for method in ("pixel", "linear"):
        options = {} if method == "pixel" else {"epochs": 2, "seed": 0}
        own = classifiers.make(method, deskew=True, **options).fit(x, y, progress=False)
        # the same model trained and asked on inputs deskewed by hand
        # what it reads, in fit and predict alike (_start and predict both go through _images): its
        # input cleaned (input_cleaning) then deskewed. (A model fed such digits by hand cleans them
        # again, which moves 61 of 3,000 deskewed digits: no longer the same predictions to the digit.)
        assert torch.equal(own._images(test), deskewed(cleaned(test.float() / 255))), method
        plain = classifiers.make(method, **options).fit(x, y, progress=False)
        assert not torch.equal(own.predict(test), plain.predict(test)), method
        own.save(tmp_path / method)
        again = classifiers.load(tmp_path / method)
        assert again.config.deskew and torch.equal(again.predict(test), own.predict(test)), method


def _aspect(x: torch.Tensor) -> torch.Tensor:
    """(N, 28, 28) -> each digit's spread across over its spread down (standard deviations of its ink)."""
    ys, xs = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
    total = x.sum((1, 2))
    cy, cx = (x * ys).sum((1, 2)) / total, (x * xs).sum((1, 2)) / total
    across = (x * (xs - cx[:, None, None]) ** 2).sum((1, 2))
    down = (x * (ys - cy[:, None, None]) ** 2).sum((1, 2))
    return (across / down).sqrt()


def test_mnist_aspect_is_the_median_of_mnists_own_upright_digits(mnist_train):
    upright = deskewed(mnist_train.images[:20_000].float() / 255)
    assert abs(float(_aspect(upright).median()) - MNIST_ASPECT) < 0.01


def test_stretching_brings_a_round_digit_and_a_narrow_one_to_mnists_width(mnist_train):
    round_zero = torch.zeros(28, 28)
    ys, xs = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
    ring = ((xs - 14) ** 2 + (ys - 14) ** 2).sqrt()
    round_zero[(ring > 7) & (ring < 9.5)] = 1.0  # as wide as it is tall: a typed 0
    narrow_zero = round_zero.clone()
    narrow_zero[:, :10], narrow_zero[:, 18:] = 0, 0  # only its middle columns: narrower than MNIST's
    x = torch.stack([round_zero, narrow_zero])
    before, after = _aspect(x), _aspect(deskewed(x, stretched=True))
    assert before[0] > 0.9 and before[1] < 0.5, before
    assert torch.allclose(after, torch.full((2,), MNIST_ASPECT), atol=0.05), after  # resampling blurs a little
    digits = mnist_train.images[:500].float() / 255
    plain, stretched = _aspect(deskewed(digits)), _aspect(deskewed(digits, stretched=True))
    assert (stretched - MNIST_ASPECT).abs().median() < 0.02 < (plain - MNIST_ASPECT).abs().median()
    ink = deskewed(digits, stretched=True).sum((1, 2)) / digits.sum((1, 2))
    assert ink.median() > 0.9  # widened or narrowed, the ink is resampled, not lost


def test_a_narrow_one_is_widened_at_most_stretch_range_allows():
    one = torch.zeros(1, 28, 28)
    one[0, 4:24, 13:15] = 1.0  # two pixels wide: its aspect alone would ask for a widening of about 4
    widened = deskewed(one, stretched=True)
    columns = (widened[0].sum(0) > 0.05).sum().item()
    assert columns <= 2 * STRETCH_RANGE[1] + 2, columns  # bilinear edges add a column each side


def test_stretch_needs_deskew_and_is_kept_when_saved(mnist_train, mnist_test, tmp_path):
    with pytest.raises(DigitlabError, match="stretch=True needs deskew=True"):
        classifiers.make("linear", stretch=True)
    x, y, test = mnist_train.images[:3000], mnist_train.labels[:3000], mnist_test.images[:500]
    own = classifiers.make("linear", epochs=2, deskew=True, stretch=True).fit(x, y, progress=False)
    assert torch.equal(own._images(test), deskewed(cleaned(test.float() / 255), stretched=True))
    upright = classifiers.make("linear", epochs=2, deskew=True).fit(x, y, progress=False)
    assert not torch.equal(own.predict(test), upright.predict(test))
    own.save(tmp_path / "linear")
    again = classifiers.load(tmp_path / "linear")
    assert again.config.stretch and torch.equal(again.predict(test), own.predict(test))


def test_the_written_out_grid_samples_where_affine_grid_would(mnist_test):
    """deskewed's grid, written out elementwise, against F.affine_grid's with the same shear and shifts."""
    from torch.nn import functional as F

    x = mnist_test.images[:300].float() / 255
    ys, xs = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
    total = x.sum((1, 2))
    cy, cx = (x * ys).sum((1, 2)) / total, (x * xs).sum((1, 2)) / total
    dy, dx = ys - cy[:, None, None], xs - cx[:, None, None]
    slant = ((x * dx * dy).sum((1, 2)) / (x * dy * dy).sum((1, 2))).clamp(-1, 1)
    theta = torch.zeros(len(x), 2, 3)
    theta[:, 0, 0], theta[:, 0, 1], theta[:, 1, 1] = 1, slant, 1
    theta[:, 0, 2], theta[:, 1, 2] = (cx - 14) * 2 / 28, (cy - 14) * 2 / 28
    grid = F.affine_grid(theta, [len(x), 1, 28, 28], align_corners=False)
    expected = F.grid_sample(x[:, None], grid, align_corners=False)[:, 0].clamp(0, 1)
    got = deskewed(x)
    assert float((got - expected).abs().max()) < 1e-5
    assert float((got - x).abs().max()) > 0.5  # and the digits did move


def test_a_classifier_prepares_its_images_a_chunk_at_a_time_into_the_whole_sets_pixels(mnist_train, monkeypatch):
    # Prepared all at once, 55,000 digits' float copies and deskewing's temporaries made most of
    # `digitlab compare`'s peak memory (benchmarks/RESULTS.md, "Memory"): a chunk at a time, the same pixels.
    from digitlab.classifiers import base

    x = mnist_train.images[:300]  # (300, 28, 28) uint8
    expected = deskewed(cleaned(x.float() / 255), stretched=True)  # the whole set at once
    sizes = []

    def spy(part, stretched):
        sizes.append(len(part))
        return deskewed(part, stretched=stretched)

    monkeypatch.setattr(base, "CLEANING_CHUNK", 64)
    monkeypatch.setattr(base, "deskewed", spy)
    prepared = classifiers.make("linear", deskew=True, stretch=True)._images(x)
    assert prepared.dtype == torch.float32 and torch.equal(prepared, expected)
    assert sizes == [64, 64, 64, 64, 44]  # never more than a chunk deskewed at once, every image once
