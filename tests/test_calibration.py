"""Calibrated probabilities: the temperature fitted the right way, every answer kept, the
temperature saved and checked, the calibration error computed right, and the held-out split that
calibration needs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from digitlab import metrics
from digitlab.classifiers import load, make
from digitlab.compare.tasks import load_task
from digitlab.data import datasets, heldout
from digitlab.data.damage import damaged_copies
from digitlab.data.digits import Digits
from digitlab.errors import DigitlabWarning, ModelError
from digitlab.trust import calibration

FIXTURES = Path(__file__).parent / "fixtures"


def _sampled(scores: torch.Tensor, seed: int) -> torch.Tensor:
    """Labels drawn from softmax(scores): scores that are perfectly calibrated at T = 1."""
    generator = torch.Generator().manual_seed(seed)
    return torch.multinomial(calibration.probabilities(scores), 1, generator=generator)[:, 0]


def test_an_over_confident_model_is_softened_and_an_under_confident_one_sharpened():
    generator = torch.Generator().manual_seed(0)
    honest = torch.randn(4000, 10, generator=generator) * 3  # (N, 10) calibrated at T = 1
    labels = _sampled(honest, seed=1)
    # The same scores tripled say "surer" than the labels bear out: T must undo the 3 (T > 1);
    # divided by 4 they say "less sure": T < 1. Both found to within a few per cent.
    assert calibration.fit_temperature(honest * 3, labels) == pytest.approx(3, rel=0.06)
    assert calibration.fit_temperature(honest / 4, labels) == pytest.approx(0.25, rel=0.06)
    assert calibration.fit_temperature(honest, labels) == pytest.approx(1, rel=0.06)


def test_the_book_binary_models_one_output_is_calibrated_too():
    generator = torch.Generator().manual_seed(0)
    z = torch.randn(4000, 1, generator=generator) * 4  # (N, 1): positive means the first class
    first = torch.bernoulli(torch.sigmoid(z[:, 0]), generator=generator).bool()
    labels_index = (~first).long()  # column 0 is the first class
    assert calibration.fit_temperature(z * 2, labels_index) == pytest.approx(2, rel=0.08)
    assert calibration.fit_temperature(z / 2, labels_index) == pytest.approx(0.5, rel=0.08)


def test_the_temperature_stays_in_its_range_when_the_best_lies_outside():
    labels = torch.zeros(100, dtype=torch.int64)
    always_right = torch.tensor([[1.0, 0.0]]).repeat(100, 1)  # sharper is always better
    assert calibration.fit_temperature(always_right, labels) == pytest.approx(calibration.MIN_TEMPERATURE)


@pytest.fixture(scope="module")
def ten(mnist_train, mnist_test):
    """A linear model on 3,000 fit digits, 1,500 held-out digits, and 2,000 test digits (seeded)."""
    keep = torch.randperm(heldout.START, generator=torch.Generator().manual_seed(0))[:3000]
    held = torch.arange(heldout.CALIBRATION.start, heldout.CALIBRATION.start + 1500)
    test = torch.randperm(len(mnist_test.labels), generator=torch.Generator().manual_seed(1))[:2000]
    clf = make("linear", epochs=4, lr=1.0, seed=0).fit(mnist_train.images[keep], mnist_train.labels[keep],
                                                         progress=False)
    return clf, (mnist_train.images[held], mnist_train.labels[held]), (mnist_test.images[test], mnist_test.labels[test])


ECE_BOUND = 0.02  # the target on MNIST test


def test_calibration_brings_the_error_on_a_seeded_test_slice_under_its_bound(ten):
    clf, held, (x, y) = ten
    right = torch.searchsorted(clf.classes_, y)
    before = metrics.expected_calibration_error(clf.predict_proba(x), right)
    clf.calibrate(*held)
    after = metrics.expected_calibration_error(clf.predict_proba(x), right)
    assert before > ECE_BOUND, before  # four epochs of plain SGD leave it unsure of itself (T about 0.77)
    assert after <= ECE_BOUND and after < before / 2, (before, after)  # honest on digits it never saw
    record = clf.calibration_
    assert record["images"] == 1500 and record["temperature"] == clf.temperature_
    assert record["ece_after"] < record["ece_before"]


def test_calibration_changes_no_answer(ten):
    clf, held, (x, _) = ten
    clf.calibrate(*held)
    assert clf.temperature_ != 1
    logits = clf.logits(x)
    assert torch.equal(clf.predict_proba(x).argmax(1), logits.argmax(1))
    assert torch.equal(clf.predict(x), clf.classes_[logits.argmax(1)])
    for t in (0.05, 0.3, 7.0, 20.0):  # any T > 0 keeps the order of every row's scores
        assert torch.equal(calibration.probabilities(logits / t).argmax(1), logits.argmax(1))


@pytest.mark.parametrize("method", ["pixel", "linear", "simple_net"])
def test_uncalibrated_probabilities_are_exactly_what_they_were(method, mnist_train):
    x, y = mnist_train.images[:600], mnist_train.labels[:600]
    clf = make(method, **({} if method == "pixel" else {"epochs": 1})).fit(x, y, progress=False)
    assert clf.temperature_ == 1 and clf.calibration_ is None
    if method == "pixel":  # softmax(-distance / config.temperature), as predict_proba always gave
        before = torch.softmax(-clf.distances(x) / clf.config.temperature, dim=1)
    else:
        before = torch.softmax(clf.model_(x.float() / 255), dim=1)
    assert torch.equal(clf.predict_proba(x), before)


def test_the_binary_model_uses_its_temperature(mnist_train):
    sample = datasets.load("mnist_sample", "train")
    x, y = sample.images[::20], sample.labels[::20]
    clf = make("linear", epochs=2).fit(x, y, progress=False)
    z = clf.logits(x)  # (N, 1)
    assert z.shape == (len(y), 1)
    clf.temperature_ = 2.5
    expected = torch.sigmoid(z[:, 0] / 2.5)
    torch.testing.assert_close(clf.predict_proba(x)[:, 0], expected)


def test_the_temperature_is_saved_loaded_and_cleared_by_training(ten, tmp_path):
    clf, held, (x, y) = ten
    clf.calibrate(*held)
    clf.save(tmp_path / "m")
    stored = json.loads((tmp_path / "m" / "config.json").read_text())["calibration"]
    assert stored["temperature"] == clf.temperature_ and stored["images"] == 1500
    again = load(tmp_path / "m")
    assert again.temperature_ == clf.temperature_ and again.calibration_ == clf.calibration_
    torch.testing.assert_close(again.predict_proba(x), clf.predict_proba(x))
    again.fit(x, y, progress=False)  # a model trained again no longer fits the old temperature
    assert again.temperature_ == 1 and again.calibration_ is None
    again.save(tmp_path / "n")
    assert "calibration" not in json.loads((tmp_path / "n" / "config.json").read_text())


def test_a_checkpoint_from_before_calibration_loads_with_temperature_1():
    clf = load(FIXTURES / "cnn-saved-before-one-config")
    assert clf.temperature_ == 1 and clf.calibration_ is None


@pytest.mark.parametrize("temperature, words", [
    (-1.0, "calibration.temperature is -1.0; it must be a number from 0.05 to 20"),
    (1e9, "calibration.temperature is 1000000000.0; it must be a number from 0.05 to 20"),
    ("2", "calibration.temperature is '2'"),
    (float("nan"), "NaN is not a number JSON allows"),
])
def test_a_bad_temperature_is_one_line_naming_it(ten, tmp_path, temperature, words):
    clf, held, _ = ten
    clf.calibrate(*held)
    clf.save(tmp_path / "m")
    path = tmp_path / "m" / "config.json"
    config = json.loads(path.read_text())
    config["calibration"]["temperature"] = temperature
    path.write_text(json.dumps(config))
    with pytest.raises(ModelError) as caught:
        load(tmp_path / "m")
    assert words in str(caught.value) and "\n" not in str(caught.value)


def test_the_calibration_error_of_a_hand_worked_example():
    # Four bins of width 0.25, each (lo, hi]. Rows (confidence, right?): 0.9 yes, 0.82 no -> bin
    # (0.75, 1]: accuracy 1/2, confidence 0.86, gap 0.36, weight 2/6. 0.62 yes, 0.7 yes, 0.55 no and
    # 0.75 yes (on the edge: its bin is (0.5, 0.75]) -> accuracy 3/4, confidence 2.62/4 = 0.655, gap
    # 0.095, weight 4/6. ECE = 0.12 + 0.0633 = 0.18333.
    proba = torch.tensor([[0.9, 0.1], [0.82, 0.18], [0.62, 0.38], [0.3, 0.7], [0.45, 0.55], [0.25, 0.75]])
    labels = torch.tensor([0, 1, 0, 1, 0, 1])
    assert metrics.expected_calibration_error(proba, labels, bins=4) == pytest.approx(0.36 * 2 / 6 + 0.095 * 4 / 6)
    table = metrics.reliability(proba, labels, bins=4)
    assert table["count"].tolist() == [0, 0, 4, 2]
    torch.testing.assert_close(table["accuracy"][2:], torch.tensor([3 / 4, 1 / 2], dtype=torch.float64))
    torch.testing.assert_close(table["confidence"][2:], torch.tensor([2.62 / 4, 0.86], dtype=torch.float64))
    # 15 bins of width 1/15: every row alone in its bin (8 to 13), so each row's own gap: 0.1 (right
    # at 0.9), 0.82 (wrong at 0.82), 0.38, 0.3, 0.55 (wrong at 0.55), 0.25, a sixth each.
    hand = (0.1 + 0.82 + 0.38 + 0.3 + 0.55 + 0.25) / 6
    assert metrics.expected_calibration_error(proba, labels) == pytest.approx(hand)
    assert metrics.reliability(proba, labels)["count"].nonzero()[:, 0].tolist() == [8, 9, 10, 11, 12, 13]


def test_an_always_right_always_sure_model_has_no_calibration_error():
    proba = torch.eye(3).repeat(4, 1)  # confidence exactly 1: the last bin
    assert metrics.expected_calibration_error(proba, torch.arange(3).repeat(4)) == 0
    assert metrics.reliability(proba, torch.arange(3).repeat(4))["count"][-1] == 12


# -- the held-out split ----------------------------------------------------------------------------

@pytest.mark.parametrize("dataset", ["mnist", "mnist_sample", "mnist_tiny"])
def test_mnist_never_fits_on_a_held_out_digit(dataset):
    train = datasets.load(dataset, "train")
    if dataset == "mnist_tiny":  # its files are all from MNIST's first 10,000: nothing to calibrate on
        fit, held = heldout.split(train, dataset)
        assert held is None and torch.equal(fit.index, train.index)
        return
    fit, held = heldout.split(train, dataset)
    assert int(fit.index.max()) < heldout.START
    assert held.index.min() >= heldout.CALIBRATION.start and held.index.max() < heldout.CALIBRATION.stop
    corrupted = (train.index >= heldout.CORRUPTION.start).sum()
    clean_count = int(((train.index >= heldout.CALIBRATION.start) & (train.index < heldout.CALIBRATION.stop)).sum())
    again = (clean_count + heldout.DAMAGED_EVERY - 1) // heldout.DAMAGED_EVERY  # every fourth one damaged too
    assert len(held.labels) == clean_count + again
    assert len(fit.labels) + clean_count + corrupted == len(train.labels)  # the corruption set's in neither
    assert torch.equal(fit.labels, train.labels[train.index < heldout.START])
    clean, damaged = held.images[:clean_count], held.images[clean_count:]
    assert torch.equal(held.index[clean_count:], held.index[:clean_count:heldout.DAMAGED_EVERY])
    assert torch.equal(held.labels[clean_count:], held.labels[:clean_count:heldout.DAMAGED_EVERY])
    assert torch.equal(clean, train.images[(train.index >= heldout.CALIBRATION.start)
                                           & (train.index < heldout.CALIBRATION.stop)])
    originals = clean[::heldout.DAMAGED_EVERY]
    assert (damaged != originals).flatten(1).any(1).float().mean() > 0.95  # nearly every copy is damaged
    assert torch.equal(damaged, torch.from_numpy(damaged_copies(originals.numpy())))  # each its own digit's copy
    if dataset == "mnist":
        assert len(fit.labels) == 55_000 and held.index[:clean_count].tolist() == list(heldout.CALIBRATION)
        assert len(damaged) == 1_000  # a fifth of what calibrates is damaged


def test_compare_and_train_fit_on_the_fit_part_and_calibrate_on_the_rest():
    task = load_task("mnist")
    assert len(task.train_labels) == 55_000 and len(task.calibration_labels) == 5_000  # 4,000 clean, 1,000 damaged
    train = datasets.load("mnist", "train")
    assert torch.equal(task.train_images, train.images[:55_000])
    assert torch.equal(task.calibration_images[:4_000], train.images[55_000:59_000])


def _folder_digits(per_digit: int, source: str = "train") -> Digits:
    labels = torch.arange(10).repeat_interleave(per_digit)
    return Digits(torch.arange(len(labels), dtype=torch.uint8)[:, None, None].expand(-1, 28, 28).clone(),
                  labels, torch.arange(len(labels)) + 55_000, source)


def test_a_folder_is_split_at_random_even_when_its_split_is_called_train():
    # A folder's "train" split with indices past 55,000 is not MNIST's: 10 % of each digit, seeded.
    digits = _folder_digits(30)
    fit, held = heldout.split(digits, "my-digits/")
    assert torch.bincount(held.labels).tolist() == [3] * 10 and len(fit.labels) == 270
    assert not set(fit.index.tolist()) & set(held.index.tolist())
    assert sorted(fit.index.tolist() + held.index.tolist()) == digits.index.tolist()
    _, again = heldout.split(digits, "my-digits/")
    assert torch.equal(again.index, held.index)  # the same images on every run
    assert held.index.tolist() != [i for i in digits.index.tolist() if (i - 55_000) % 30 < 3]  # drawn, not the first


def test_a_folder_with_too_few_images_of_a_digit_is_left_uncalibrated():
    digits = _folder_digits(9)
    with pytest.warns(DigitlabWarning, match="digit 0 has only 9 training image"):
        fit, held = heldout.split(digits, "small/")
    assert held is None and fit is digits


def test_train_calibrates_and_evaluate_prints_the_calibration_error(capsys, tmp_path):
    from cli_run import digitlab

    code, out, _ = digitlab(capsys, "train", "linear", "--dataset", "mnist_sample", "--epochs", "1",
                            "--out", tmp_path / "m")
    assert code == 0 and "calibrated on" in out
    clf = load(tmp_path / "m")
    fit, held = heldout.split(datasets.load("mnist_sample", "train"), "mnist_sample")
    assert clf.calibration_["images"] == len(held.labels) > 0 and clf.data_["n_train"] == len(fit.labels)
    code, out, _ = digitlab(capsys, "evaluate", tmp_path / "m", "--dataset", "mnist_sample")
    line = next(line for line in out.splitlines() if line.startswith("calibration error (ECE, 15 bins)"))
    assert f"temperature {clf.temperature_:.3f}" in line and math.isfinite(float(line.split()[5].rstrip("%")))


def test_calibrating_on_no_images_is_the_users_error(ten):
    from digitlab.errors import DataError

    clf, _, _ = ten
    with pytest.raises(DataError, match="calibrate got no images"):
        clf.calibrate(torch.zeros(0, 28, 28, dtype=torch.uint8), torch.zeros(0, dtype=torch.int64))
