"""`Digits`, what every loader returns, and the names of the splits it comes in.

Every loader (MNIST and the sample sets in data.py, a folder of images in folders.py, IDX files,
the stress set) returns the same `Digits`, and reads a split's name here: users and fastai's
archives call the same split "train" or "training", "valid", "validation", "test" or "testing".
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from digitlab.errors import DataError

if TYPE_CHECKING:  # no torch at import time: the command line reads SPLITS for its --help
    import torch

SPLITS = ("train", "valid")  # the two parts every dataset has; "test" is another name for "valid"

# Folder names for each split, in the order they are looked for; "test" accepts the validation
# folder too, and "valid" the test folder, because digitlab (like fastai) validates on MNIST's test
# images.
SPLIT_FOLDERS = {
    "train": ("train", "training"),
    "valid": ("valid", "validation", "testing", "test"),
    "test": ("test", "testing", "valid", "validation"),
}
ALIASES = {"training": "train", "validation": "valid", "testing": "test"}


class Digits(NamedTuple):
    images: torch.Tensor  # (N, 28, 28) uint8 0-255, or float32 in [0, 1]
    labels: torch.Tensor  # (N,) int64, the digit each image shows
    index: torch.Tensor  # (N,) int64, each image's position in its MNIST split file
    source: str  # "train" or "test": the MNIST split file the images come from ("stress": stress.py)


def split_name(split: str | None) -> str | None:
    """"train", "valid" or "test" for any of their names; None (a folder loaded whole) stays None."""
    name = ALIASES.get(split, split)
    if name is not None and name not in SPLIT_FOLDERS:
        raise DataError(f"unknown split {split!r}; choose 'train' or 'valid'")
    return name


def part_of(split: str | None) -> str:
    """"train" or "valid": every dataset's two parts; "test" names the validation images, as fastai
    validates on MNIST's test images."""
    name = split_name(split)
    if name is None:
        raise DataError("a split is needed here: 'train' or 'valid'")
    return "train" if name == "train" else "valid"

