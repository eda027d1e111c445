"""compare/tasks.py by value: what a task holds, quick subsets, the refusals' messages, and when
two tasks are told apart."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from digitlab.compare import tasks
from digitlab.compare.config import CompareConfig
from digitlab.errors import DataError, DigitlabError


@pytest.fixture(scope="module")
def tiny():
    return tasks.load_task("mnist_tiny")


@pytest.fixture(scope="module")
def sample():
    return tasks.load_task("mnist_sample")


def test_a_full_task_is_the_fit_part_the_held_out_part_and_the_test_images(sample):
    again = tasks.load_tasks(["mnist_sample"])[0]  # defaults: not quick, seed 0
    assert torch.equal(again.train_labels, sample.train_labels) and torch.equal(again.test_images, sample.test_images)
    assert (sample.name, sample.slug, sample.classes) == ("3 vs 7", "3v7", [3, 7])
    n_train, n_held = len(sample.train_labels), len(sample.calibration_labels)
    assert n_held > 0 and n_train > 5 * n_held  # a held-out part, small beside the fit part
    assert len(sample.train_images) == n_train and len(sample.calibration_images) == n_held


def test_a_quick_task_takes_seeded_subsets_of_each_part(sample):
    config = CompareConfig(quick_train=50, quick_test=30)
    quick = tasks.load_task("mnist_sample", quick=True, seed=0, config=config)
    assert (len(quick.train_labels), len(quick.test_labels), len(quick.calibration_labels)) == (50, 30, 30)
    assert torch.equal(quick.train_labels, tasks.load_tasks(["mnist_sample"], True, 0, config)[0].train_labels)
    other = tasks.load_task("mnist_sample", quick=True, seed=1, config=config)
    assert not torch.equal(quick.train_images, other.train_images)
    # Every quick image is one of the full part's images.
    full = {bytes(x.numpy()) for x in sample.train_images}
    assert all(bytes(x.numpy()) in full for x in quick.train_images)


def test_a_subset_of_at_least_everything_is_everything_in_its_order():
    images, labels = torch.arange(12).reshape(6, 2), torch.arange(6)
    for count in (6, 7):
        kept = tasks._subset(images, labels, count, seed=0)
        assert torch.equal(kept[0], images) and torch.equal(kept[1], labels)
    kept = tasks._subset(images, labels, 5, seed=0)
    assert len(kept[1]) == 5 and torch.equal(kept[0][:, 0] // 2, kept[1])  # pairs kept together


def test_task_names():
    assert tasks.task_name(range(10), "mnist") == "0-9"
    assert tasks.task_name([3, 7], "mnist_sample") == "3 vs 7"
    assert tasks.task_name([1, 4, 7], "some/where/letters") == "letters"


def test_one_digit_and_unseen_test_digits_are_refused_naming_the_dataset(monkeypatch):
    from digitlab.data import datasets

    real = datasets.load_train_valid

    def relabelled(train_label=None, test_label=None):
        def load(dataset):
            train, test = real("mnist_tiny")
            if train_label is not None:
                train = train._replace(labels=torch.full_like(train.labels, train_label))
            if test_label is not None:
                test = test._replace(labels=torch.where(torch.arange(len(test.labels)) == 0,
                                                                    test_label, test.labels))
            return train, test
        return load

    monkeypatch.setattr(tasks.datasets, "load_train_valid", relabelled(train_label=3))
    with pytest.raises(DataError, match=r"^--dataset mnist_tiny: its training images hold only one digit; "
                                        r"a classifier needs two or more$"):
        tasks.load_task("mnist_tiny")
    monkeypatch.setattr(tasks.datasets, "load_train_valid", relabelled(test_label=5))
    with pytest.raises(DataError, match=r"^--dataset mnist_tiny: its test images hold digits \[5\] that no training "
                                        r"image has; give every test digit training images too$"):
        tasks.load_task("mnist_tiny")


def test_a_dataset_named_twice_says_whether_it_was_the_same_words(tmp_path):
    with pytest.raises(DigitlabError, match=r"--dataset mnist_tiny: given twice; give each dataset once"):
        tasks.load_tasks(["mnist_tiny", "mnist_tiny"])
    folder = tmp_path / "mix"
    folder.mkdir()
    with pytest.raises(DigitlabError, match=rf"--dataset {folder}/: the same folder as --dataset {folder}, given twice"):
        tasks.load_tasks([str(folder), f"{folder}/"])


def test_tasks_sharing_only_a_slug_are_told_apart_too(tiny):
    # A folder named "3v7" of three digits: its name and slug are "3v7", as mnist_tiny's slug is.
    folder = dataclasses.replace(tiny, dataset="data/3v7", name="3v7",
                                 train_labels=torch.tensor([1, 3, 7]))
    assert folder.slug == "3v7" and folder.name != tiny.name
    told = tasks.tell_apart([tiny, folder])
    assert [t.slug for t in told] == ["3v7-mnist_tiny", "3v7-3v7"]
    assert [t.name for t in told] == ["3 vs 7 (mnist_tiny)", "3v7 (3v7)"]
    lone = dataclasses.replace(tiny, dataset="mnist", train_labels=torch.arange(10), name="0-9")
    a, b = (dataclasses.replace(tiny, dataset=f"{root}/mix") for root in ("a", "b"))
    told = tasks.tell_apart([a, lone, b])  # only the clashing pair numbered; the other keeps its name
    assert [(t.slug, t.tag) for t in told] == [("3v7-mix-1", "mix-1"), ("0-9", ""), ("3v7-mix-3", "mix-3")]
