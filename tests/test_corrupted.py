"""The corruption set: seeded and sliceable, every kind damaging more with severity, the held-out
MNIST digits and their labels, test only, by kind; its cleaned view exactly what predict reads."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from PIL import Image

from digitlab.data import corrupted, datasets, heldout, shipped_mnist
from digitlab.errors import DataError, DigitlabWarning
from cli_run import assert_one_line_error, digitlab


@pytest.fixture(scope="module")
def clean():
    """The first 30 held-out digits the set damages, (30, 28, 28) uint8."""
    return corrupted.digits(shipped_mnist.mnist_arrays("train"), 30)[0]


def test_the_same_seed_gives_the_same_bytes_and_a_slice_alone_equals_it_inside_a_larger_set():
    train = shipped_mnist.mnist_arrays("train")
    small, small_labels = corrupted.build_raw(train, seed=5, per_kind=4)
    again, _ = corrupted.build_raw(train, seed=5, per_kind=4)
    larger, larger_labels = corrupted.build_raw(train, seed=5, per_kind=9)
    other, _ = corrupted.build_raw(train, seed=6, per_kind=4)
    assert small.dtype == np.uint8 and small.shape == (len(corrupted.NAMES) * 4, 28, 28)
    assert small.tobytes() == again.tobytes()
    inside = larger.reshape(len(corrupted.NAMES), 9, 28, 28)[:, :4]  # each kind's first four
    assert np.array_equal(inside.reshape(-1, 28, 28), small)
    assert np.array_equal(larger_labels.reshape(len(corrupted.NAMES), 9)[:, :4].ravel(), small_labels)
    # One image made alone is the same as in the set; another seed changes every kind.
    digits, _ = corrupted.digits(shipped_mnist.mnist_arrays("train"), 4)
    assert np.array_equal(corrupted.damaged("fog", 3, digits[3], seed=5), small[corrupted.NAMES.index("fog") * 4 + 3])
    differ = (small != other).reshape(len(corrupted.NAMES), -1).any(1)
    assert [name for name, d in zip(corrupted.NAMES, differ) if not d] == []


@pytest.mark.parametrize("kind", corrupted.NAMES)
def test_every_kind_changes_every_digit_and_stays_an_image_in_0_1(kind, clean):
    for severity in corrupted.SEVERITIES:
        for i, digit in enumerate(clean[:6]):
            x = digit.astype(np.float32) / 255
            out = corrupted.KINDS[kind](x, severity, np.random.default_rng([1, i]))
            assert out.shape == (28, 28) and out.dtype == np.float32, (kind, severity)
            assert out.min() >= 0 and out.max() <= 1, (kind, severity)
            assert np.abs(out - x).max() > 0.1, (kind, severity, i)  # damaged, not a rounding
            assert np.array_equal(x, digit.astype(np.float32) / 255)  # the clean digit left as it was


@pytest.mark.parametrize("kind", corrupted.NAMES)
def test_each_step_of_severity_damages_more(kind, clean):
    # Mean absolute difference from the clean digit over 30 digits, each severity drawing from the
    # same generator: 1 < 2 < 3 for every kind, each step, not only 1 < 3.
    def damage(severity: int) -> float:
        diffs = [np.abs(corrupted.KINDS[kind](d.astype(np.float32) / 255, severity, np.random.default_rng([2, i]))
                        - d.astype(np.float32) / 255).mean() for i, d in enumerate(clean)]
        return float(np.mean(diffs))

    mild, middle, strong = (damage(s) for s in corrupted.SEVERITIES)
    assert mild < middle < strong, (kind, mild, middle, strong)


def test_severity_cycles_by_image_and_the_set_is_laid_out_kind_by_kind():
    assert [corrupted.severity_of(i) for i in range(7)] == [1, 2, 3, 1, 2, 3, 1]
    per = corrupted.PER_KIND
    assert corrupted.kind_of(0) == "shot_noise" and corrupted.kind_of(per - 1) == "shot_noise"
    assert corrupted.kind_of(per) == corrupted.NAMES[1]
    assert corrupted.kind_of(len(corrupted.NAMES) * per - 1) == corrupted.NAMES[-1]
    assert corrupted.HELD_OUT_KINDS < set(corrupted.NAMES) and 4 <= len(corrupted.HELD_OUT_KINDS) <= 5


def test_the_raw_view_holds_each_held_out_training_digit_damaged_once_a_kind_with_its_label(monkeypatch):
    monkeypatch.setattr(corrupted, "PER_KIND", 12)  # a small set, built and cached for this test
    mnist = datasets.load("mnist", "train")  # checked against MNIST's own file, not corrupted.digits
    raw = datasets.load("corrupted_raw", "valid")
    kinds = len(corrupted.NAMES)
    assert raw.images.shape == (kinds * 12, 28, 28) and raw.source == "corrupted_raw"
    assert raw.index.tolist() == list(range(kinds * 12))
    where = np.array([heldout.CORRUPTION[i] for i in range(12)])
    assert where[0] == 59_000 and where[-1] == 59_011
    assert raw.labels.tolist() == mnist.labels[where].tolist() * kinds
    for k, kind in enumerate(corrupted.NAMES):
        for i in (0, 11):
            made = corrupted.damaged(kind, i, mnist.images[where[i]].numpy())
            assert np.array_equal(raw.images[k * 12 + i].numpy(), made), (kind, i)
    assert corrupted.cache_path("corrupted_raw").is_file()


def test_the_cleaned_view_is_exactly_what_predict_reads_from_each_image_saved_as_a_png(monkeypatch, tmp_path):
    from digitlab.commands.predict import Unreadable, read_images

    monkeypatch.setattr(corrupted, "PER_KIND", 3)
    raw = datasets.load("corrupted_raw", "valid")
    seen = datasets.load("corrupted", "valid")
    assert seen.labels.tolist() == raw.labels.tolist() and seen.source == "corrupted"
    paths = []
    for k, image in enumerate(raw.images.numpy()):
        paths.append(str(tmp_path / f"{k}.png"))
        Image.fromarray(image).save(paths[-1])
    unreadable = Unreadable()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DigitlabWarning)  # the refused ones are named: the set keeps them black
        inputs, read = read_images(paths, unreadable)  # (n, 28, 28) of the images predict could read
    expected = np.zeros((len(paths), 28, 28), dtype=np.uint8)  # refused ones stay black in the set
    expected[[paths.index(p) for p in read]] = (inputs.numpy() * 255).round().astype(np.uint8)
    assert np.array_equal(seen.images.numpy(), expected)
    assert len(read) + unreadable.count == len(paths)
    # Neither route is left out: some images pass as they are, the rest are cleaned.
    assert 0 < (seen.images == raw.images).all(2).all(1).sum() < len(paths)


def test_the_shipped_cleaned_view_is_the_one_this_code_builds():
    from digitlab.store import array_cache

    path = corrupted.shipped_path()
    assert path.is_file(), "no shipped corruption set for this version and preprocessing: run python -m digitlab.data.corrupted"
    shipped = array_cache.load(path, ("images", "labels"), "corruption set")
    assert shipped is not None and shipped["images"].shape == (len(corrupted.NAMES) * corrupted.PER_KIND, 28, 28)
    clean, labels = corrupted.digits(shipped_mnist.mnist_arrays("train"))
    picks = (0, 1, 502, corrupted.PER_KIND - 1)  # built again here, a few of every kind
    raw = np.stack([corrupted.damaged(kind, i, clean[i], corrupted.SEED) for kind in corrupted.NAMES for i in picks])
    rows = [k * corrupted.PER_KIND + i for k in range(len(corrupted.NAMES)) for i in picks]
    assert np.array_equal(shipped["images"][rows], corrupted.cleaned(raw))
    assert np.array_equal(shipped["labels"], np.tile(labels, len(corrupted.NAMES)))


def test_the_cleaned_view_is_read_as_shipped_and_the_raw_one_built(monkeypatch, tmp_path):
    monkeypatch.setenv("DIGITLAB_HOME", str(tmp_path))  # an empty cache: nothing to read there

    def never(*args, **kwargs):
        raise AssertionError("the shipped corruption set should have been read, not built")

    monkeypatch.setattr(corrupted, "build_raw", never)
    images, labels = corrupted.arrays(never, "corrupted")
    assert images.shape == (21000, 28, 28) and labels[:3].tolist() == labels[1000:1003].tolist()
    assert not (tmp_path / "corrupted").exists()  # and nothing copied into the home
    with pytest.raises(AssertionError, match="not built"):  # the raw view does not ship
        corrupted.arrays(never, "corrupted_raw")


def test_accuracy_by_kind_scores_each_kind_and_the_seen_and_held_out_ones_apart():
    per = corrupted.PER_KIND
    index = np.concatenate([np.arange(k * per, k * per + 4) for k in range(len(corrupted.NAMES))])
    labels = np.tile([1, 2, 3, 4], len(corrupted.NAMES))
    predicted = labels.copy()
    predicted[index // per == corrupted.NAMES.index("zigzag")] = 0  # a held-out kind, all wrong
    predicted[(index // per == corrupted.NAMES.index("fog")) & (labels == 1)] = 0  # a seen one, one of four wrong
    scores = corrupted.accuracy_by_kind(predicted, labels, index)
    seen = len(corrupted.NAMES) - len(corrupted.HELD_OUT_KINDS)
    assert scores["zigzag"] == 0.0 and scores["fog"] == 0.75 and scores["shot_noise"] == 1.0
    assert scores["held-out kinds"] == pytest.approx(1 - 1 / len(corrupted.HELD_OUT_KINDS))
    assert scores["seen kinds"] == pytest.approx(1 - 0.25 / seen)
    assert scores["all"] == pytest.approx(1 - 5 / (4 * len(corrupted.NAMES)))
    assert list(scores)[:len(corrupted.NAMES)] == list(corrupted.NAMES)
    assert "worst kind zigzag 0.00%" in corrupted.describe(scores)


@pytest.mark.parametrize("view", ["corrupted", "corrupted_raw"])
def test_the_corruption_set_is_never_trained_on(view, capsys):
    assert view in datasets.TEST_ONLY and datasets.splits(view) == ["valid"]
    with pytest.raises(DataError, match="testing only"):
        datasets.load(view, "train")
    code, _, err = digitlab(capsys, "train", "linear", "--dataset", view, "--epochs", "1")
    assert_one_line_error(code, err, "testing only")


@pytest.mark.parametrize("view", ["corrupted", "corrupted_raw"])
def test_evaluate_on_the_corruption_set_reports_each_kind(view, capsys, tmp_path, monkeypatch, mnist_train):
    from digitlab import classifiers

    monkeypatch.setattr(corrupted, "PER_KIND", 12)
    clf = classifiers.make("pixel").fit(mnist_train.images[:2000], mnist_train.labels[:2000])
    clf.save(tmp_path / "pixel")
    damaged = datasets.load(view, "valid")
    expected = corrupted.accuracy_by_kind(clf.predict(damaged.images), damaged.labels, damaged.index)
    code, out, err = digitlab(capsys, "evaluate", tmp_path / "pixel", "--dataset", view)
    assert code == 0, err
    assert f"accuracy {expected['all']:.2%} on {12 * len(corrupted.NAMES)} test images of {view}" in out
    line = next(line for line in out.splitlines() if line.startswith("by kind (* held out):"))
    for kind in corrupted.NAMES:
        star = "*" if kind in corrupted.HELD_OUT_KINDS else ""
        assert f"{kind}{star} {expected[kind]:.2%}" in line
    assert f"held-out kinds {expected['held-out kinds']:.2%}" in out
