"""Deskewing: a leaning digit comes out upright and centred, and a classifier configured with it
deskews in fit and in predict alike, also after a save and load."""

from __future__ import annotations

import torch

from digitlab import classifiers
from digitlab.deskew import deskewed


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
        by_hand = classifiers.make(method, **options).fit(deskewed(x.float() / 255), y, progress=False)
        assert torch.equal(own.predict(test), by_hand.predict(deskewed(test.float() / 255))), method
        own.save(tmp_path / method)
        again = classifiers.load(tmp_path / method)
        assert again.config.deskew and torch.equal(again.predict(test), own.predict(test)), method
