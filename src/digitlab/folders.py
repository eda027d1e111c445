"""Any folder of digit images, loaded into the same `Digits` that `data.load` returns.

The layout is fastai's: `root/<digit>/<anything>.png`, optionally one level deeper under split
folders (`train/` and `valid/`, or `training/` and `testing/` like `mnist_png`). Label folders must
be the digits 0-9. Images become grayscale uint8 28 x 28; other sizes are resized (one warning).
Files that are not images, image files that cannot be read (damaged, or too large to decode), and
folders inside the digit folders are skipped with a warning that names the first few and counts the
rest; only a folder with nothing readable left is an error. A folder without split folders loads whole here; `data.load` splits it at random.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
from PIL import Image

from digitlab.console import progress_bar
from digitlab.data import Digits
from digitlab.errors import DataError, warn
from digitlab.images import DECODE_SIDE, decode

T = TypeVar("T")
R = TypeVar("R")

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif"}
# Split folder names, in the order they are looked for; "test" accepts the validation folder too
# because digitlab (like fastai) validates on MNIST's test images.
SPLIT_FOLDERS = {
    "train": ("train", "training"),
    "valid": ("valid", "validation", "testing", "test"),
    "test": ("test", "testing", "valid", "validation"),
}
SIZE = (28, 28)
NAMED = 5  # skipped files a warning names before it says "and N more"
PROGRESS_FROM = 2000  # files: below this a folder loads too fast for a progress bar to help
CHUNK = 500  # files per task given to a worker thread


def default_workers() -> int:
    return max(1, min(2, os.cpu_count() or 1))


def map_chunks(
    fn: Callable[[Sequence[T]], R],
    items: Sequence[T],
    workers: int,
    description: str,
    chunk: int | None = None,
) -> list[R]:
    """`fn` over `items` in chunks on a pool of threads, results in order, with a progress bar.

    Threads rather than processes: the work is zlib, Pillow's decoders and file system calls, which
    release the GIL, and threads need no pickling or process start-up. `benchmarks/load_data.py`
    measures one worker against two.
    """
    chunk = chunk or CHUNK
    chunks = [items[start : start + chunk] for start in range(0, len(items), chunk)]
    if len(items) < PROGRESS_FROM:
        if workers <= 1:
            return [fn(part) for part in chunks]
        with ThreadPoolExecutor(workers) as pool:
            return list(pool.map(fn, chunks))
    results = []
    with progress_bar() as bar, ThreadPoolExecutor(max(1, workers)) as pool:
        task = bar.add_task(description, total=len(items))
        for part, result in zip(chunks, pool.map(fn, chunks)):
            results.append(result)
            bar.advance(task, len(part))
    return results


def _present_splits(root: Path) -> list[str]:
    """The split folder names that `root` holds, sorted."""
    names = {name for names in SPLIT_FOLDERS.values() for name in names}
    return sorted(name for name in names if (root / name).is_dir())


def folder_splits(root: str | os.PathLike) -> list[str | None]:
    """The splits `load_folder(root, split)` accepts: "train" and/or "valid", or [None]."""
    root = Path(root)
    if not root.is_dir():
        return [None]  # load_folder says what is wrong with it
    present = _present_splits(root)
    if not present or _label_dirs(root, strict=False):
        return [None]
    return [s for s in ("train", "valid") if any(n in present for n in SPLIT_FOLDERS[s])]


def _split_folder(root: Path, split: str | None) -> Path:
    """The folder holding the label folders for `split`, after checking the layout."""
    present = _present_splits(root)
    if folder_splits(root) == [None]:
        if split is not None:
            raise DataError(
                f"{root}: has no split folders, so no {split!r} split; make {root}/train/<digit>/ "
                f"and {root}/valid/<digit>/, load it with split=None, or use data.load, which splits "
                "it at random"
            )
        return root
    if split is None:
        raise DataError(
            f"{root}: has split folders ({', '.join(present)}); choose one with split="
            f"'train' or 'valid' (--split on the command line)"
        )
    if split not in SPLIT_FOLDERS:
        raise DataError(f"unknown split {split!r}; choose 'train', 'valid' or 'test'")
    for name in SPLIT_FOLDERS[split]:
        if (root / name).is_dir():
            return root / name
    raise DataError(f"{root}: has no {split!r} split folder; it has {', '.join(present)}")


def _label_dirs(folder: Path, strict: bool = True) -> list[Path]:
    """The digit folders of `folder`; with `strict`, any other visible sub-folder is an error."""
    subdirs = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    labels = [p for p in subdirs if p.name.isdigit() and len(p.name) == 1]
    if strict:
        others = [p.name for p in subdirs if p not in labels]
        if others:
            raise DataError(
                f"{folder}: label folders must be the digits 0-9, found {', '.join(others[:5])}; "
                "rename or move them"
            )
        if not labels:
            raise DataError(
                f"{folder}: no label folders; put each image in a folder named after its digit, "
                f"like {folder}/3/001.png"
            )
    return labels


def _file_order(path: Path) -> tuple[int, str]:
    """Numbered files in numeric order (fastai names them after their MNIST index), others after."""
    stem = path.stem
    return (int(stem), path.name) if stem.isdigit() else (1 << 62, path.name)


def _image_files(folder: Path) -> tuple[list[Path], list[int]]:
    """The image files in `folder`'s digit folders and their digits; one warning names the other
    files, another the sub-folders (their images would otherwise vanish without a word)."""
    paths, labels, others, nested = [], [], [], []
    for label_dir in _label_dirs(folder):
        entries = list(label_dir.iterdir())
        files = sorted((p for p in entries if p.is_file()), key=_file_order)
        images = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
        others += [p for p in files if p.suffix.lower() not in IMAGE_SUFFIXES]
        # Hidden folders (.ipynb_checkpoints and the like) are tools' own, not the user's images.
        nested += sorted(p for p in entries if p.is_dir() and not p.name.startswith("."))
        paths += images
        labels += [int(label_dir.name)] * len(images)
    warn_not_images(folder, others)
    if nested:
        what = "sub-folders" if len(nested) > 1 else "sub-folder"
        warn(f"{folder}: skipped {len(nested)} {what} of the digit folders: {_some(nested, folder)}; "
             "only images directly inside a digit folder are read, like 3/001.png")
    return paths, labels


def warn_not_images(folder: Path, others: Sequence[Path]) -> None:
    """Warn that the files `others` inside `folder` are skipped, as they are not images (if any)."""
    if others:
        kinds = ", ".join(sorted(IMAGE_SUFFIXES))
        what = "files that are not images" if len(others) > 1 else "file that is not an image"
        warn(f"{folder}: skipped {len(others)} {what} ({kinds}): {_some(others, folder)}")


def _some(paths: Sequence[Path], folder: Path) -> str:
    """The first NAMED of `paths`, relative to `folder`, then how many more there are."""
    names = ", ".join(p.relative_to(folder).as_posix() for p in paths[:NAMED])
    return names + (f" and {len(paths) - NAMED} more" if len(paths) > NAMED else "")


def _decode(paths: Sequence[Path]) -> tuple[np.ndarray, int, list[tuple[Path, str]]]:
    """(images (n, 28, 28) uint8, how many had to be resized, [(path, why)] of those that could not
    be read, whose rows stay 0) for one chunk of image files."""
    images = np.zeros((len(paths), *SIZE), dtype=np.uint8)
    resized, bad = 0, []
    for i, path in enumerate(paths):
        try:
            with decode(path, str(path), DECODE_SIDE) as image:
                image = image.convert("L")
        except DataError as err:
            bad.append((path, str(err).removeprefix(f"{path}: ").split(";")[0]))
            continue
        if image.size != SIZE:
            image = image.resize(SIZE, Image.Resampling.LANCZOS)
            resized += 1
        images[i] = np.asarray(image)
    return images, resized, bad


def _unreadable(folder: Path, bad: list[tuple[Path, str]], total: int) -> None:
    """Warn that the images `bad` were skipped, naming the first few and why the first failed; fail
    when none of the `total` images is left."""
    if not bad:
        return
    names, (_, why) = _some([path for path, _ in bad], folder), bad[0]
    if len(bad) == total:
        raise DataError(f"{folder}: none of its {total} image files could be read: {names} ({why}); "
                        "remove or replace them")
    what = "image files" if len(bad) > 1 else "image file"
    warn(f"{folder}: skipped {len(bad)} {what} that could not be read: {names} (the first: {why})")


def load_folder(
    root: str | os.PathLike, split: str | None = None, workers: int | None = None
) -> Digits:
    """Load `root/<digit>/*.png` (or `root/<split>/<digit>/*.png`) as `Digits`.

    split: None for a folder without split folders, else "train", "valid" or "test". The images
    keep the order digit by digit, files in numeric order; `index` numbers them from 0 and
    `source` is the split ("all" without one).
    """
    root = Path(root)
    if not root.exists():
        raise DataError(f"{root}: no such folder")
    if not root.is_dir():
        raise DataError(f"{root}: not a folder; expected a folder of label folders 0-9")
    if not any(root.iterdir()):
        raise DataError(f"{root}: the folder is empty; expected label folders 0-9 of images")
    folder = _split_folder(root, split)
    paths, labels = _image_files(folder)
    if not paths:
        raise DataError(f"{folder}: the label folders hold no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    workers = default_workers() if workers is None else workers
    parts = map_chunks(_decode, paths, workers, f"decoding {folder.name or folder}")
    bad = [item for _, _, part in parts for item in part]
    _unreadable(folder, bad, len(paths))
    resized = sum(count for _, count, _ in parts)
    if resized:
        warn(f"{folder}: resized {resized} images that were not 28 x 28 to 28 x 28")
    skipped = {path for path, _ in bad}
    keep = torch.tensor([path not in skipped for path in paths])  # (N,) bool
    images = torch.from_numpy(np.concatenate([part for part, _, _ in parts]))[keep]  # (N', 28, 28) uint8
    labels = torch.tensor(labels, dtype=torch.int64)[keep]
    return Digits(images, labels, torch.arange(len(labels), dtype=torch.int64), split or "all")
