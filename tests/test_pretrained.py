"""The models that ship inside the package: they load, score what is recorded beside them, and read
the digits that MNIST-only models misread (a thin 1 in a photo, very thick strokes)."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from digitlab import pretrained
from digitlab.classifiers import METHODS
from digitlab.compare.job import set_figures
from digitlab.data import datasets, glyphs, stress
from digitlab.vision import mnist_style
from cli_run import digitlab

SLICE_TOLERANCE = 0.003  # 6 of the 2,000 images: another CPU's rounding may flip a near tie or two


@pytest.fixture(scope="module")
def cnn():
    return pretrained.load("cnn")


@pytest.mark.parametrize("method", METHODS)
def test_each_shipped_model_loads_and_scores_what_is_recorded(method, mnist_test):
    clf = pretrained.load(method)
    assert clf.classes_.tolist() == list(range(10))
    recorded = pretrained.recorded()[method]
    assert recorded["recipe"] == pretrained.RECIPES[method]  # rebuilt since the recipe last changed
    x, y = mnist_test.images[: pretrained.SLICE], mnist_test.labels[: pretrained.SLICE]
    accuracy = (clf.predict(x) == y).float().mean().item()
    assert abs(accuracy - recorded["mnist_test_slice"]) <= SLICE_TOLERANCE, (method, accuracy, recorded)
    assert recorded["mnist_test"] > 0.8 and set(recorded["stress"]) == {*stress.CATEGORIES, "all"}


STRESS_TOLERANCE = 0.005  # 25 of the 5,000 images: fonts and rounding differ a little from machine to machine


@pytest.mark.parametrize("method", METHODS)
def test_each_shipped_model_reads_the_stress_set_as_recorded_within_5_points_of_mnist(method):
    # The target: every method reads other people's digits nearly as well as MNIST's own.
    clf, recorded = pretrained.load(method), pretrained.recorded()[method]
    scored = set_figures(clf, datasets.load("stress", "valid"), "stress")["by_category"]
    assert abs(scored["all"] - recorded["stress"]["all"]) <= STRESS_TOLERANCE, (method, scored, recorded)
    assert recorded["mnist_test"] - recorded["stress"]["all"] <= 0.05, (method, recorded)


def test_the_shipped_files_are_a_few_megabytes():
    total = sum(p.stat().st_size for p in pretrained.folder().rglob("*") if p.is_file())
    # pixel's 150 ideal digits a class (120 of its digits, 30 of their cluttered copies: 4.7 MB of float32)
    # are most of it; the strip reader's 280,000 weights 1.1 MB (strips/, float32, as `--methods strips`
    # trains them); the rest under 1 MB
    assert total < 8 << 20, total


def _thin_one_photo(seed: int = 0) -> bytes:
    """A 320 x 320 photo of paper with a thin, slightly leaning 1: its ink under 0.5 % of the pixels."""
    rng = np.random.default_rng(seed)
    page = Image.new("L", (320, 320), 205)
    ImageDraw.Draw(page).line([(166, 96), (158, 224)], fill=70, width=2)
    grey = np.asarray(page, dtype=np.float32)
    grey = grey * np.linspace(1.0, 0.85, 320)[None, :] + rng.normal(0, 4, grey.shape)  # light falls off, grain
    ink_share = (np.asarray(page) < 128).mean()
    assert ink_share < 0.005, ink_share
    buffer = io.BytesIO()
    Image.fromarray(np.clip(grey, 0, 255).astype(np.uint8)).save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def test_the_shipped_cnn_reads_a_thin_one_in_a_photo(cnn):
    seen = mnist_style.to_mnist(_thin_one_photo())  # was refused as "no digit found" before
    assert int(cnn.predict(seen[None])[0]) == 1


def test_the_shipped_cnn_reads_very_thick_strokes(cnn):
    # DejaVu Sans at 115 pt on a 192 px page, its strokes widened by 9 px a side: about 30 px, a
    # sixth of the digit's height (MNIST's widest writers: a seventh). The one-epoch cnn trained on
    # MNIST alone, before the ROBUST recipe and the width normalisation, read this 6 as a 5.
    from PIL import ImageFont

    font = ImageFont.truetype(str(glyphs.font_dir() / "DejaVuSans.ttf"), 115)
    seen = []
    for digit in range(10):
        page = Image.new("L", (192, 192), 0)
        ImageDraw.Draw(page).text((96, 96), str(digit), fill=255, font=font, anchor="mm", stroke_width=9,
                                  stroke_fill=255)
        seen.append(mnist_style.to_mnist(page))
    assert cnn.predict(torch.stack(seen)).tolist() == list(range(10))


def test_predict_without_a_model_uses_the_shipped_cnn(capsys, tmp_path):
    photo = tmp_path / "one.jpg"
    photo.write_bytes(_thin_one_photo())
    code, out, err = digitlab(capsys, "predict", photo)
    assert code == 0, err
    assert out.startswith(f"{photo}: 1 (probability")


def test_build_fits_on_the_fit_part_and_calibrates_on_the_held_out_digits(tmp_path, monkeypatch):
    from digitlab.classifiers import load
    from digitlab.data import heldout

    monkeypatch.setitem(pretrained.RECIPES, "linear", {"epochs": 1, "seed": 0})  # a second's training
    recorded = pretrained.build(tmp_path, methods=("linear",))["linear"]
    clf = load(tmp_path / "linear")
    assert clf.data_["n_train"] == heldout.START  # never a held-out digit
    held = len(heldout.CALIBRATION)  # clean, and every DAMAGED_EVERY-th damaged
    assert clf.calibration_["images"] == held + held // heldout.DAMAGED_EVERY and clf.temperature_ != 1
    assert recorded["temperature"] == clf.temperature_
    # --recalibrate after a change to the calibration digits: a new temperature, the same weights
    monkeypatch.setattr(heldout, "DAMAGED_EVERY", 1)
    again = pretrained.recalibrate(tmp_path, methods=("linear",))["linear"]
    after = load(tmp_path / "linear")
    assert after.calibration_["images"] == 2 * held and after.temperature_ != clf.temperature_
    assert again["temperature"] == after.temperature_
    assert all(torch.equal(a, b) for a, b in zip(after._tensors().values(), clf._tensors().values()))
    assert 0 <= recorded["ece_mnist_test"] < 0.05 and 0 <= recorded["ece_stress"] < 0.1, recorded


LINEAR_CLEAN_ECE = 0.02  # the MNIST-test target, here on the 4,000 clean calibration digits
LINEAR_STRESS_ECE = 0.03  # the target for the stress set
# The 1,000 damaged calibration digits measure 3.07 % at the shipped T (2.38 % on the 2,000 of a third
# damaged), a noisy figure: at the same T, one damaged copy of each of the 4,000 calibration digits
# measures 1.57 %, and 20 seeded draws of 1,000 of those copies 1.76-3.84 % (median 2.78 %), so this
# only guards against a gross miss.
LINEAR_DAMAGED_ECE = 0.04


def test_the_shipped_linear_models_temperature_is_honest_on_clean_and_damaged_digits_alike(mnist_train):
    """The linear model is the one whose clean and damaged digits pull its temperature furthest apart
    (heldout.DAMAGED_EVERY): calibrated on a third damaged (every second digit; T 1.231), its error on
    the clean calibration digits was 2.14 %, over the target; on a fifth (T 1.136), 1.49 %."""
    from digitlab import metrics
    from digitlab.data import heldout

    shipped = pretrained.load("linear")
    _, held = heldout.split(mnist_train, "mnist")
    clf = pretrained.load("linear").calibrate(held.images, held.labels)
    assert abs(clf.temperature_ - shipped.temperature_) < 1e-6  # the shipped file follows today's rule
    clean = len(heldout.CALIBRATION)
    for part, bound in ((slice(None, clean), LINEAR_CLEAN_ECE), (slice(clean, None), LINEAR_DAMAGED_ECE)):
        ece = metrics.expected_calibration_error(clf.predict_proba(held.images[part]), held.labels[part])
        assert 0 < ece <= bound, (part, ece)
    shaken = datasets.load("stress", "valid")
    assert metrics.expected_calibration_error(clf.predict_proba(shaken.images), shaken.labels) <= LINEAR_STRESS_ECE
