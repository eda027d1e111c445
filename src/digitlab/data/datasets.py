"""The datasets by name (`mnist`, `mnist_sample`, `mnist_tiny`, the test-only stress, corrupted and
non-digit sets; the number set is named but read by evaluate, not loaded as digits) or by path (a folder of images, a folder of IDX files): `load(name, split, dtype)
-> Digits`, `load_train_valid`, `load_idx`, `splits`, `evaluation_split`.

Every dataset keeps each image's index in its MNIST split file: fastai names its PNGs after that
index, so `export` can reproduce the archives' file names exactly."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from digitlab.data import idx
from digitlab.data.digits import Digits, part_of, split_name
from digitlab.data.shipped_mnist import (MNIST_FILES, SPLIT_SEED, VALID_FRACTION, _mnist, _mnist_sample, _mnist_tiny,
                                         mnist_arrays)
from digitlab.errors import DataError, warn


def _stress(split: str):
    from digitlab.data import stress

    if part_of(split) == "train":
        raise DataError("the stress set is for testing only (digits that are not MNIST's, to see how a "
                        "model reads other people's); train on mnist and evaluate with --dataset stress")
    images, labels = stress.arrays()
    return images, labels, np.arange(len(labels)), "stress"


def _corrupted_view(view: str, split: str):
    from digitlab.data import corrupted

    if part_of(split) == "train":
        raise DataError(f"the corruption set is for testing only (held-out MNIST digits, damaged); train on "
                        f"mnist and evaluate with --dataset {view}")
    images, labels = corrupted.arrays(lambda: mnist_arrays("train"), view)
    return images, labels, np.arange(len(labels)), view


def _corrupted(split: str):
    return _corrupted_view("corrupted", split)


def _corrupted_raw(split: str):
    return _corrupted_view("corrupted_raw", split)


def _nondigits(split: str):
    from digitlab.data import nondigits

    if part_of(split) == "train":
        raise DataError("the non-digit set is for testing only (letters, symbols, scribbles, shapes, textures "
                        "and several digits, to see how often digitlab declines them); see nondigits.py")
    images, labels = nondigits.arrays(mnist_arrays("train")[0])
    return images, labels, np.arange(len(labels)), "nondigits"


def _numbers(split: str):
    part_of(split)  # an unknown split is named as for every dataset
    raise DataError("the number set holds whole numbers of every size, not 28 x 28 digits, so it is not "
                    "loaded as digits; score a model on it with digitlab evaluate MODEL --dataset numbers")


DATASETS = {"mnist": _mnist, "mnist_sample": _mnist_sample, "mnist_tiny": _mnist_tiny, "stress": _stress,
            "corrupted": _corrupted, "corrupted_raw": _corrupted_raw, "nondigits": _nondigits,
            "numbers": _numbers}
TEST_ONLY = {"stress", "corrupted", "corrupted_raw", "nondigits", "numbers"}  # datasets no model may train on
DESCRIPTIONS = {
    "mnist": "all ten digits (valid = MNIST's test set)",
    "mnist_sample": "fastai's 3s and 7s (valid = the test set's)",
    "mnist_tiny": "fastai's small 3s-and-7s subset (its files, by name)",
    "stress": "5,000 digits that are not MNIST's: fonts, pen strokes, photos, small (test only)",
    "corrupted": "1,000 held-out MNIST training digits damaged 21 ways (21,000), as digitlab predict reads them (test only)",
    "corrupted_raw": "the corruption set's damaged 28 x 28 images as they are, as the Python API reads them (test only)",
    "nondigits": "1,800 images that are not one digit, labelled -1: letters, symbols, scribbles, shapes, "
                 "textures, several digits (test only: the share digitlab declines)",
    "numbers": "2,800 images of numbers 2-8 digits long, handwritten, typed, pen and photographed, and 1,400 "
               "held out (test only; read whole by evaluate --dataset numbers, not loaded as digits)",
}


def load(name: str, split: str | None = "train", dtype: torch.dtype | str = torch.uint8) -> Digits:
    """Load a dataset split as tensors.

    name: "mnist", "mnist_sample", "mnist_tiny", or the path of a folder: a tree of images
    (`folders.load_folder`) or a folder holding MNIST's IDX files (as `digitlab download` writes
    them). split: "train", or "valid"/"test" (the same thing here: fastai validates on MNIST's test
    images). A folder without a split of its own (no split folders, or one pair of IDX files) is
    loaded whole with split None, and split at random for "train" and "valid" (`random_part`).
    dtype: torch.uint8 (0-255) or a float dtype (scaled to [0, 1]), or its name ("uint8", "float32").
    """
    dtype = _as_dtype(dtype)
    if name in DATASETS:
        if split is None:
            raise DataError(f"{name} needs a split: 'train' or 'valid'")
        images, labels, index, source = DATASETS[name](split)
        digits = _as_digits(images, labels, index, source)
    else:
        digits = _load_path(_as_path(name), split)
    if dtype.is_floating_point:
        return digits._replace(images=digits.images.to(dtype) / 255)
    return digits


def _as_dtype(asked: torch.dtype | str) -> torch.dtype:
    dtype = getattr(torch, asked.removeprefix("torch."), None) if isinstance(asked, str) else asked
    if not isinstance(dtype, torch.dtype) or (dtype != torch.uint8 and not dtype.is_floating_point):
        raise DataError(f"dtype must be torch.uint8 or a float dtype such as torch.float32, not {asked!r}")
    return dtype


def _as_digits(images: np.ndarray, labels: np.ndarray, index: np.ndarray, source: str) -> Digits:
    return Digits(
        torch.from_numpy(np.ascontiguousarray(images)),
        torch.from_numpy(labels.astype(np.int64)),
        torch.from_numpy(np.asarray(index, dtype=np.int64)),
        source,
    )


def load_idx(images_path: str | os.PathLike, labels_path: str | os.PathLike) -> Digits:
    """Digits from a pair of raw IDX files (gzipped or not), such as MNIST's originals.

    `index` numbers the images from 0 (their position in the file); `source` is the images file's
    name.
    """
    images, labels = idx.read_pair(images_path, labels_path)
    images = images.copy()  # writable, unlike the file buffer it was parsed from
    return _as_digits(images, labels, np.arange(len(labels)), Path(images_path).name)


def _as_path(name: str) -> Path:
    """`name` as a folder path, or a DataError when it is neither a dataset nor a path."""
    looks_like_path = any(sep in name for sep in ("/", os.sep)) or name.startswith((".", "~"))
    if not looks_like_path and not Path(name).exists():
        raise DataError(
            f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}, or give a folder path"
        )
    path = Path(name).expanduser()
    if not path.exists():
        raise DataError(
            f"{path}: no such folder; give a folder of images (<digit>/*.png) or one of "
            f"{', '.join(DATASETS)}"
        )
    return path


def _idx_files(folder: Path, split: str) -> tuple[Path, Path] | None:
    """The IDX images and labels files of `split` in `folder`, if it holds MNIST's file names."""
    pair = []
    for name in MNIST_FILES[split]:
        stem = name.removesuffix(".gz")
        found = [folder / n for n in (name, stem) if (folder / n).is_file()]
        if not found:
            return None
        pair.append(found[0])
    return pair[0], pair[1]


def _idx_pairs(folder: Path) -> dict[str, tuple[Path, Path]]:
    """The complete pairs of IDX files in `folder`, by MNIST split ("train", "test")."""
    pairs = {split: _idx_files(folder, split) for split in MNIST_FILES}
    return {split: files for split, files in pairs.items() if files}


def _is_idx_folder(path: Path) -> bool:
    return path.is_dir() and any(path.glob("*-idx[13]-ubyte*"))


def splits(name: str) -> list[str | None]:
    """The splits `load(name, split)` takes: "train" and "valid", or [None] for a folder without a
    split of its own (which `load` also splits at random for "train" and "valid")."""
    if name in DATASETS:
        return ["valid"] if name in TEST_ONLY else ["train", "valid"]
    return _path_splits(_as_path(name))


def evaluation_split(name: str) -> str | None:
    """The split to score a model on: "valid", or None (all of it) for a folder without a split of
    its own, which is then the user's own test set."""
    return None if splits(name) == [None] else "valid"


def _path_splits(path: Path) -> list[str | None]:
    if _is_idx_folder(path):
        return ["train", "valid"] if len(_idx_pairs(path)) == len(MNIST_FILES) else [None]
    from digitlab.data.folders import folder_splits  # on first use: folders brings Pillow and the decoders

    return folder_splits(path)


def _load_path(path: Path, split: str | None) -> Digits:
    # Not part_of: in a folder, "valid" must find valid/ before a test/ folder of unlabelled images
    # (fastai's mnist_tiny has one).
    split = split_name(split)
    if _path_splits(path) != [None]:
        return _load_named_split(path, split)
    if split is None:
        return _load_whole(path)
    part = random_part(_load_whole(path), split, path)  # a folder that cannot be read or split gets no note
    if split == "train":
        _say_random_split(path)
    return part


def load_train_valid(name: str, dtype: torch.dtype | str = torch.uint8) -> tuple[Digits, Digits]:
    """(train, valid) as `load` gives them, a folder without a split of its own read only once."""
    if name in DATASETS or splits(name) != [None]:
        return load(name, "train", dtype), load(name, "valid", dtype)
    whole = load(name, None, dtype)
    train, valid = random_part(whole, "train", name), random_part(whole, "valid", name)
    _say_random_split(name)
    return train, valid


def _say_random_split(name: str | os.PathLike) -> None:
    valid = round(100 * VALID_FRACTION)
    warn(f"{name}: has no train/valid split, so a random {100 - valid} % of each digit's images train "
         f"and the other {valid} % validate (seed {SPLIT_SEED})")


def _load_named_split(path: Path, split: str | None) -> Digits:
    """One split of a folder that has its own: split folders, or both pairs of MNIST's IDX files."""
    if not _is_idx_folder(path):
        from digitlab.data.folders import load_folder

        return load_folder(path, split)
    if split is None:
        raise DataError(f"{path}: holds MNIST's training and test IDX files; choose split 'train' or "
                        "'valid' (--split on the command line)")
    mnist_split = "train" if split == "train" else "test"
    return load_idx(*_idx_pairs(path)[mnist_split])._replace(source=mnist_split)


def _load_whole(path: Path) -> Digits:
    """All the images of a folder without a split of its own."""
    if not _is_idx_folder(path):
        from digitlab.data.folders import load_folder

        return load_folder(path, None)
    pairs = _idx_pairs(path)
    if not pairs:
        wanted = " or ".join(" and ".join(names) for names in MNIST_FILES.values())
        raise DataError(f"{path}: holds IDX files but no complete pair; give it {wanted} (gzipped or not)")
    [(mnist_split, files)] = pairs.items()  # _path_splits sends a folder with both pairs elsewhere
    return load_idx(*files)._replace(source=mnist_split)


def random_part(digits: Digits, split: str, name: str | os.PathLike) -> Digits:
    """The "train" or "valid" part of `digits` (VALID_FRACTION of each digit's images), drawn at
    random with SPLIT_SEED, so the same images give the same parts on every run and machine.

    Each part keeps the images' order; `index` and `source` stay those of the whole. A digit with a
    single image cannot be in both parts: that is a DataError naming it.
    """
    labels = digits.labels.numpy()
    rng = np.random.default_rng(SPLIT_SEED)
    in_valid = np.zeros(len(labels), dtype=bool)
    for digit in np.unique(labels):  # digit by digit, so that both parts keep every digit
        where = np.flatnonzero(labels == digit)
        if len(where) < 2:
            raise DataError(
                f"{name}: digit {digit} has only one image, too few to split at random into train and "
                f"valid; add more images of {digit}, or give the folder its own train/ and valid/ folders"
            )
        count = max(1, int(len(where) * VALID_FRACTION))  # fastai's RandomSplitter rounds down too
        in_valid[rng.choice(where, count, replace=False)] = True
    keep = torch.from_numpy(np.flatnonzero(in_valid if part_of(split) == "valid" else ~in_valid))
    return digits._replace(images=digits.images[keep], labels=digits.labels[keep], index=digits.index[keep])
