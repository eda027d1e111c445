"""Any folder of digit images, loaded into the same `Digits` that `data.load` returns.

The layout is fastai's: `root/<digit>/<anything>.png`, optionally one level deeper under split
folders (`train/` and `valid/`, or `training/` and `testing/` like `mnist_png`). Label folders must
be the digits 0-9. Images become grayscale uint8 28 x 28; other sizes are resized (one warning).
Files that are not images, image files that cannot be read (damaged, or too large to decode), and
folders inside the digit folders are skipped with a warning that names the first few and counts the
rest; only a folder with nothing readable left is an error. A folder without split folders loads
whole here; `data.load` splits it at random.

Large folders: `folder_listing` lists the files and digests what it finds on every load; files are
decoded on two threads into one array made up front, 28 x 28 grey PNGs by `png` (a batch at a
time, without Pillow's per-file cost), and the result is kept in `folder_cache` under that digest:
an unchanged folder is not decoded twice, a changed one always is.
"""

from __future__ import annotations

import contextlib
import io
import os
import stat
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from digitlab.console import progress_bar
from digitlab.data import folder_cache, png
from digitlab.data.digits import SPLIT_FOLDERS, Digits, split_name
from digitlab.data.folder_cache import Decoded
from digitlab.data.folder_listing import IMAGE_SUFFIXES, Listing, list_images, load_order, some
from digitlab.data.parallel import CHUNK, PROGRESS_FROM, default_workers
from digitlab.errors import DataError, warn
from digitlab.vision.decoding import DECODE_SIDE, decode

SIZE = (28, 28)
SMALL_FILE = 1 << 16  # bytes: a 28 x 28 PNG is under 1 KB; a larger file is left to Pillow, not read whole


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
    for name in SPLIT_FOLDERS[split_name(split)]:
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


def _head(path: bytes | str) -> bytes | None:
    """The whole file when it is small enough to be an MNIST-sized PNG, else None (also when it
    cannot be opened: Pillow then says why, in the words every other image gets). os.open rather
    than open(): no buffered file object, a quarter of a 28 x 28 PNG's read time."""
    try:
        # O_NONBLOCK: opening a named pipe with no writer would otherwise wait for one for ever
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # a pipe or a device: never read (open_image refuses it)
            return None
        data = os.read(fd, SMALL_FILE + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    return data if len(data) <= SMALL_FILE else None


def _decode_one(path: str, data: bytes | None) -> tuple[np.ndarray, bool]:
    """One file through decoding.decode (bounded), as (28, 28) uint8 and whether it was resized."""
    with decode(io.BytesIO(data) if data is not None else path, path, DECODE_SIDE) as image:
        image = image.convert("L")
    if image.size == SIZE:
        return np.asarray(image), False
    return np.asarray(image.resize(SIZE, Image.Resampling.LANCZOS)), True


def read_small_pngs(paths: Sequence[bytes | str]) -> tuple[np.ndarray, list[int], list[bytes | None]]:
    """The 28 x 28 grey PNGs among `paths`, read by `png` and their rows unfiltered together:
    ((k, 28, 28) uint8, their places in `paths`, and every file's bytes where it was small enough
    to read whole, else None), so the rest can be decoded without reading them again."""
    at, rows, heads = [], [], []
    for i, path in enumerate(paths):
        data = _head(path)
        heads.append(data)
        found = png.read(data) if data is not None else None
        if found is not None:
            at.append(i)
            rows.append(found)
    if not rows:
        return np.zeros((0, *SIZE), dtype=np.uint8), at, heads
    batch = np.frombuffer(b"".join(rows), np.uint8).reshape(-1, png.SIDE, png.ROW_BYTES)
    return png.unfilter(batch), at, heads  # (k, 28, 29) -> (k, 28, 28)


def decode_files(paths: Sequence[bytes | str]) -> tuple[np.ndarray, int, list[tuple[int, str]]]:
    """(images (n, 28, 28) uint8, how many had to be resized, [(i, why)] of those that could not be
    read, whose rows stay 0) for image files given by path, as a folder's files are read.

    28 x 28 grey PNGs are read by `png` and unfiltered together; the rest go through Pillow."""
    out = np.zeros((len(paths), *SIZE), dtype=np.uint8)
    small, at, heads = read_small_pngs(paths)
    out[at] = small
    resized, bad, done = 0, [], set(at)
    for i, (path, data) in enumerate(zip(paths, heads)):
        if i in done:
            continue
        path = os.fsdecode(path)
        try:
            out[i], was_resized = _decode_one(path, data)
            resized += was_resized
        except DataError as err:
            bad.append((i, str(err).removeprefix(f"{path}: ").split(";")[0]))
    return out, resized, bad


def _decode_chunk(folder: bytes, label: int, out: np.ndarray, names: list[bytes], start: int
                  ) -> tuple[int, list[tuple[int, str]]]:
    """decode_files for `names` in `folder`/`label`, into out[start:]; the unreadable by index in out."""
    images, resized, bad = decode_files([b"%s/%d/%s" % (folder, label, name) for name in names])
    out[start : start + len(names)] = images
    return resized, [(start + i, why) for i, why in bad]


def _decode_all(folder: Path, listing: Listing, workers: int) -> Decoded:
    """Every file of `listing`, decoded on `workers` threads into one array made up front (so 1M
    images take their own 784 MB and no second copy); unreadable ones are dropped, and named.
    One digit folder at a time: only its names are Python objects at once."""
    images = np.zeros((listing.count, *SIZE), dtype=np.uint8)
    labels = np.zeros(listing.count, dtype=np.uint8)
    folder_bytes, resized, bad, start = os.fsencode(folder), 0, [], 0
    bar = progress_bar() if listing.count >= PROGRESS_FROM else None  # a small folder is done before it shows
    with bar or contextlib.nullcontext(), ThreadPoolExecutor(max(1, workers)) as pool:
        task = bar.add_task(f"decoding {folder.name or folder}", total=listing.count) if bar is not None else None
        for label, names in load_order(listing):
            labels[start : start + len(names)] = label
            parts = [(names[i : i + CHUNK], start + i) for i in range(0, len(names), CHUNK)]
            results = pool.map(lambda part: _decode_chunk(folder_bytes, label, images, *part), parts)
            for (part, _), (count, part_bad) in zip(parts, results):
                resized += count
                bad += [(i, f"{label}/{os.fsdecode(names[i - start])}", why) for i, why in part_bad]
                if bar is not None:
                    bar.advance(task, len(part))
            start += len(names)
    keep = np.ones(len(images), dtype=bool)
    keep[[i for i, _, _ in bad]] = False
    return Decoded(_compact(images, keep), labels[keep], resized, [(name, why) for _, name, why in bad])


def _compact(images: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """images[keep], moved down in place a block at a time, so no second full-size array is made."""
    if keep.all():
        return images
    rows = np.flatnonzero(keep)
    for start in range(0, len(rows), CHUNK):  # rows[j] >= j: a block never overwrites one still to move
        block = rows[start : start + CHUNK]
        images[start : start + len(block)] = images[block]
    return images[: len(rows)]

def _unreadable(folder: Path, bad: list[tuple[Path, str]], total: int) -> None:
    """Warn that the images `bad` were skipped, naming the first few and why the first failed; fail
    when none of the `total` images is left."""
    if not bad:
        return
    names, (_, why) = some([path for path, _ in bad], folder), bad[0]
    if len(bad) == total:
        raise DataError(f"{folder}: none of its {total} image files could be read: {names} ({why}); "
                        "remove or replace them")
    what = "image files" if len(bad) > 1 else "image file"
    warn(f"{folder}: skipped {len(bad)} {what} that could not be read: {names} (the first: {why})")


def load_folder(
    root: str | os.PathLike, split: str | None = None, workers: int | None = None, cache: bool = True
) -> Digits:
    """Load `root/<digit>/*.png` (or `root/<split>/<digit>/*.png`) as `Digits`.

    split: None for a folder without split folders, else "train", "valid" or "test". The images
    keep the order digit by digit, files in numeric order; `index` numbers them from 0 and
    `source` is the split ("all" without one). With `cache`, a folder whose files are all as they
    were last time (path, size, modification time) is read from `folder_cache` instead.
    """
    root = Path(root)
    if not root.exists():
        raise DataError(f"{root}: no such folder")
    if not root.is_dir():
        raise DataError(f"{root}: not a folder; expected a folder of label folders 0-9")
    if not any(root.iterdir()):
        raise DataError(f"{root}: the folder is empty; expected label folders 0-9 of images")
    folder = _split_folder(root, split)
    workers = default_workers() if workers is None else workers
    listing = list_images(folder, _label_dirs(folder), workers)
    if not listing.count:
        raise DataError(f"{folder}: the label folders hold no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    decoded = folder_cache.read(folder, listing.key) if cache else None
    decoded_now = decoded is None
    if decoded_now:
        decoded = _decode_all(folder, listing, workers)
    _unreadable(folder, [(folder / name, why) for name, why in decoded.bad], listing.count)
    if decoded_now and cache and not listing.fresh:
        folder_cache.write(folder, listing.key, decoded)
    if decoded.resized:
        warn(f"{folder}: resized {decoded.resized} images that were not 28 x 28 to 28 x 28")
    labels = torch.from_numpy(decoded.labels.astype(np.int64))
    return Digits(torch.from_numpy(decoded.images), labels, torch.arange(len(labels), dtype=torch.int64),
                  split or "all")
