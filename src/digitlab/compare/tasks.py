"""A task: one dataset's training, calibration and test images (`Task`, `load_task`, `load_tasks`),
two datasets of the same digits told apart (`tell_apart`), a model calibrated on its held-out part."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from digitlab.compare.config import CompareConfig
from digitlab.data import datasets, heldout
from digitlab.errors import DataError, DigitlabError


@dataclass(frozen=True)
class Task:
    """One dataset's images: uint8 (N, 28, 28) and int64 digits, for training (the fit part of
    heldout.split), for calibrating (its held-out part; None when there is too little data to spare
    any) and for testing."""

    name: str  # what tables call it: "3 vs 7", "0-9", or a folder's name
    dataset: str  # what `--dataset` said
    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    tag: str = ""  # set by tell_apart when another task has the same digits: names and folders add it
    calibration_images: torch.Tensor | None = None
    calibration_labels: torch.Tensor | None = None

    @property
    def classes(self) -> list[int]:
        return sorted(set(self.train_labels.tolist()))

    @property
    def slug(self) -> str:
        """A folder-name-safe short name: "3v7", "0-9", or the dataset's own name; then "-<tag>" if tagged."""
        classes = self.classes
        if classes == list(range(10)):
            slug = "0-9"
        elif len(classes) == 2:
            slug = f"{classes[0]}v{classes[1]}"
        else:
            slug = Path(self.dataset).name or "data"
        return f"{slug}-{self.tag}" if self.tag else slug


def task_name(classes: Sequence[int], dataset: str) -> str:
    if list(classes) == list(range(10)):
        return "0-9"
    if len(classes) == 2:
        return f"{classes[0]} vs {classes[1]}"
    return Path(dataset).name


def _subset(images: torch.Tensor, labels: torch.Tensor, count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`count` images drawn at random (seeded), so a quick run still sees every class."""
    if count >= len(labels):
        return images, labels
    keep = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))[:count]
    return images[keep], labels[keep]


def load_task(dataset: str, quick: bool = False, seed: int = 0, config: CompareConfig = CompareConfig()) -> Task:
    """A dataset name or folder path -> its training (fit and calibration parts) and test images as a Task."""
    train, test = datasets.load_train_valid(dataset)
    train, held = heldout.split(train, dataset)
    train_xy, test_xy = (train.images, train.labels), (test.images, test.labels)
    held_xy = (held.images, held.labels) if held is not None else (None, None)
    if quick:
        train_xy = _subset(*train_xy, config.quick_train, seed)
        test_xy = _subset(*test_xy, config.quick_test, seed + 1)
        if held_xy[0] is not None:
            held_xy = _subset(*held_xy, config.quick_test, seed + 2)
    classes = sorted(set(train_xy[1].tolist()))
    if len(classes) < 2:
        raise DataError(f"--dataset {dataset}: its training images hold only one digit; a classifier needs two or more")
    unseen = sorted(set(test_xy[1].tolist()) - set(classes))
    if unseen:
        raise DataError(f"--dataset {dataset}: its test images hold digits {unseen} that no training image has; "
                        "give every test digit training images too")
    return Task(task_name(classes, dataset), dataset, *train_xy, *test_xy, calibration_images=held_xy[0],
                calibration_labels=held_xy[1])


def _dataset_key(dataset: str) -> str:
    """What makes two `--dataset` values the same data: the name of a known dataset, else the folder."""
    return dataset if dataset in datasets.DATASETS else str(Path(dataset).expanduser().resolve())


def tell_apart(tasks: Sequence[Task]) -> list[Task]:
    """The tasks, those sharing a name or folder name with another tagged with their dataset's name.

    Untagged names stay as they were ("3 vs 7", "cnn-0-9/"), which the web server and scripts rely on.
    Two folders of the same name are numbered too, in the order given.
    """
    def clashes(task: Task) -> bool:
        return sum(t.name == task.name or t.slug == task.slug for t in tasks) > 1

    tags = [Path(_dataset_key(t.dataset)).name if clashes(t) else "" for t in tasks]
    tagged = [tag for tag in tags if tag]
    if len(set(tagged)) < len(tagged):
        tags = [f"{tag}-{i}" if tag else "" for i, tag in enumerate(tags, 1)]
    return [dataclasses.replace(t, name=f"{t.name} ({tag})", tag=tag) if tag else t for t, tag in zip(tasks, tags)]


def load_tasks(datasets: Sequence[str], quick: bool = False, seed: int = 0,
               config: CompareConfig = CompareConfig()) -> list[Task]:
    """Each dataset as a Task, told apart from the others; a dataset named twice is refused."""
    seen: dict[str, str] = {}  # key -> the --dataset value that first named it
    for dataset in datasets:
        key = _dataset_key(dataset)
        if key in seen:
            same = "given twice" if seen[key] == dataset else f"the same folder as --dataset {seen[key]}, given twice"
            raise DigitlabError(f"--dataset {dataset}: {same}; give each dataset once")
        seen[key] = dataset
    return tell_apart([load_task(dataset, quick, seed, config) for dataset in datasets])


def calibrate(clf, task: Task):
    """`clf` calibrated on the task's held-out images, where it has any; else as it is (T = 1)."""
    if task.calibration_images is not None:
        clf.calibrate(task.calibration_images, task.calibration_labels)
    return clf
