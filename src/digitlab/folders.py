"""Any folder of digit images, loaded into the same `Digits` that `data.load` returns.

The layout is fastai's: `root/<digit>/<anything>.png`, optionally one level deeper under split
folders (`train/` and `valid/`, or `training/` and `testing/` like `mnist_png`). Label folders must
be the digits 0-9. Images become grayscale uint8 28 x 28; other sizes are resized (one warning).
Files that are not images, image files that cannot be read (damaged, or too large to decode), and
folders inside the digit folders are skipped with a warning that names the first few and counts the
rest; only a folder with nothing readable left is an error. A folder without split folders loads whole here; `data.load` splits it at random.

Large folders: files are decoded on two threads into one array made up front, 28 x 28 grey PNGs by
`png` (a batch at a time, without Pillow's per-file cost), and the result is kept in
`folder_cache`, keyed on every image file's path, size, modification time and inode, which are
read again on every load: an unchanged folder is not decoded twice, a changed one always is.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from PIL import Image

from digitlab import folder_cache, png
from digitlab.digits import SPLIT_FOLDERS, Digits, split_name
from digitlab.errors import DataError, warn
from digitlab.folder_cache import Decoded
from digitlab.images import DECODE_SIDE, decode
from digitlab.parallel import CHUNK, default_workers, map_chunks

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif"}
SIZE = (28, 28)
NAMED = 5  # skipped files a warning names before it says "and N more"
SMALL_FILE = 1 << 16  # bytes: a 28 x 28 PNG is under 1 KB; a larger file is left to Pillow, not read whole
# Linux stamps a file's modification time from a coarse clock (1-10 ms ticks), so a file written
# twice within one tick, same size, keeps its time: a folder with a file modified this recently
# is loaded but not cached (git's "racily clean" rule). Later loads cache it.
FRESH_SECONDS = 2.0
FOLDER_FORMAT = 1  # bump when what a folder decodes to changes: older cache entries stop matching


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


class Listing(NamedTuple):
    """The image files of a folder's digit folders, in load order, and what the cache is keyed on."""

    names: np.ndarray  # (N,) bytes: each file's name inside its digit folder (a few bytes each, not a Path)
    labels: np.ndarray  # (N,) int64: the digit folder each file is in
    key: str  # a digest of every image file's path, size, modification time and inode
    fresh: bool  # a file was modified within FRESH_SECONDS: too recent to cache (see FRESH_SECONDS)

    def path(self, folder: bytes, i: int) -> bytes:
        """File `i`'s path, as bytes: os.open takes them as they are, with no decoding a file."""
        return b"%s/%d/%s" % (folder, self.labels[i], self.names[i])


def _file_order(name: str) -> tuple[int, str]:
    """Numbered files in numeric order (fastai names them after their MNIST index), others after."""
    dot = name.rfind(".")
    stem = name[:dot] if dot > 0 else name
    return (int(stem), name) if stem.isdigit() else (1 << 62, name)


def _is_image(name: str) -> bool:
    dot = name.rfind(".")
    return dot > 0 and name[dot:].lower() in IMAGE_SUFFIXES


def _stat_chunk(entries: list[os.DirEntry]) -> list[os.stat_result]:
    return [entry.stat() for entry in entries]


def _scan(label_dir: Path, pool: ThreadPoolExecutor) -> tuple[list[os.DirEntry], list[os.stat_result],
                                                                list[os.DirEntry], list[Path]]:
    """(image files in load order, their stat, other files, visible sub-folders) of one digit folder."""
    with os.scandir(label_dir) as found:
        entries = list(found)
    images, others, nested = [], [], []
    for entry in entries:
        if entry.is_file():
            (images if _is_image(entry.name) else others).append(entry)
        elif entry.is_dir() and not entry.name.startswith("."):
            # Hidden folders (.ipynb_checkpoints and the like) are tools', not the user's images.
            nested.append(Path(entry.path))
    images.sort(key=lambda e: _file_order(e.name))
    # The stat calls in chunks on the pool's threads: the system calls release the GIL and overlap
    # (60,000 files: 0.23 s against 0.33-0.58 s one after another, on two busy cores).
    chunks = [images[start : start + CHUNK] for start in range(0, len(images), CHUNK)]
    return images, [info for part in pool.map(_stat_chunk, chunks) for info in part], others, nested


def _add_to_key(digest, label: str, images: list[os.DirEntry], stats: list[os.stat_result]) -> None:
    """Each file's path in the folder, size, modification time and inode, into the cache's key."""
    digest.update("".join(f"{label}/{e.name}\0{s.st_size} {s.st_mtime_ns} {s.st_ino}\n"
                          for e, s in zip(images, stats)).encode(errors="surrogateescape"))


def _list_images(folder: Path) -> Listing:
    """The image files in `folder`'s digit folders; one warning names the other files, another the
    sub-folders (their images would otherwise vanish without a word).

    os.scandir rather than Path.iterdir: a directory entry knows whether it is a file without a
    stat call, and a Path per file cost 0.3 s of 60,000 files' listing. Only the image files are
    stat'ed, for the cache's key."""
    digest = hashlib.blake2b(f"{FOLDER_FORMAT}".encode(), digest_size=16)
    names, labels, others, nested, newest = [], [], [], [], 0
    # One digit folder at a time: its entries and their stat results (about 250 bytes a file) are
    # dropped before the next, so a million files never hold them all at once.
    with ThreadPoolExecutor(default_workers()) as pool:
        scanned = ((label_dir, _scan(label_dir, pool)) for label_dir in _label_dirs(folder))
        for label_dir, (images, stats, not_images, dirs) in scanned:
            _add_to_key(digest, label_dir.name, images, stats)
            newest = max([newest, *(s.st_mtime_ns for s in stats)])
            names.append(np.array([os.fsencode(e.name) for e in images], dtype=bytes))
            labels.append(np.full(len(images), int(label_dir.name), dtype=np.int64))
            others += not_images
            nested += dirs
    others.sort(key=lambda e: e.path)
    others = [Path(e.path) for e in others]
    nested.sort()
    warn_not_images(folder, others)
    if nested:
        what = "sub-folders" if len(nested) > 1 else "sub-folder"
        warn(f"{folder}: skipped {len(nested)} {what} of the digit folders: {_some(nested, folder)}; "
             "only images directly inside a digit folder are read, like 3/001.png")
    fresh = time.time_ns() - newest < FRESH_SECONDS * 1e9
    return Listing(np.concatenate(names), np.concatenate(labels), digest.hexdigest(), fresh)


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


def _head(path: bytes | str) -> bytes | None:
    """The whole file when it is small enough to be an MNIST-sized PNG, else None (also when it
    cannot be opened: Pillow then says why, in the words every other image gets). os.open rather
    than open(): no buffered file object, a quarter of a 28 x 28 PNG's read time."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))  # Windows would translate line ends
    except OSError:
        return None
    try:
        data = os.read(fd, SMALL_FILE + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    return data if len(data) <= SMALL_FILE else None


def _decode_one(path: str, data: bytes | None) -> tuple[np.ndarray, bool]:
    """One file through images.decode (bounded), as (28, 28) uint8 and whether it was resized."""
    with decode(io.BytesIO(data) if data is not None else path, path, DECODE_SIDE) as image:
        image = image.convert("L")
    if image.size == SIZE:
        return np.asarray(image), False
    return np.asarray(image.resize(SIZE, Image.Resampling.LANCZOS)), True


def decode_files(paths: Sequence[bytes | str]) -> tuple[np.ndarray, int, list[tuple[int, str]]]:
    """(images (n, 28, 28) uint8, how many had to be resized, [(i, why)] of those that could not be
    read, whose rows stay 0) for image files given by path, as a folder's files are read.

    28 x 28 grey PNGs are read by `png` and unfiltered together; the rest go through Pillow."""
    out = np.zeros((len(paths), *SIZE), dtype=np.uint8)
    small_at, small_rows, resized, bad = [], [], 0, []
    for i, path in enumerate(paths):
        data = _head(path)
        rows = png.read(data) if data is not None else None
        if rows is not None:
            small_at.append(i)
            small_rows.append(rows)
            continue
        path = os.fsdecode(path)
        try:
            out[i], was_resized = _decode_one(path, data)
            resized += was_resized
        except DataError as err:
            bad.append((i, str(err).removeprefix(f"{path}: ").split(";")[0]))
    if small_at:
        rows = np.frombuffer(b"".join(small_rows), np.uint8).reshape(-1, png.SIDE, png.ROW_BYTES)
        out[small_at] = png.unfilter(rows)  # (b, 28, 29) -> (b, 28, 28)
    return out, resized, bad


def _decode(folder: Path, listing: Listing, out: np.ndarray, part: range) -> tuple[int, list[tuple[int, str]]]:
    """decode_files for the files `part` of `listing`, into out[part]; the unreadable by index in it."""
    folder_bytes = os.fsencode(folder)
    images, resized, bad = decode_files([listing.path(folder_bytes, i) for i in part])
    out[part.start : part.stop] = images
    return resized, [(part.start + i, why) for i, why in bad]


def _decode_all(folder: Path, listing: Listing, workers: int) -> Decoded:
    """Every file of `listing`, decoded on `workers` threads into one array made up front (so 1M
    images take their own 784 MB and no second copy); unreadable ones are dropped, and named."""
    images = np.zeros((len(listing.names), *SIZE), dtype=np.uint8)
    parts = map_chunks(functools.partial(_decode, folder, listing, images), range(len(images)), workers,
                       f"decoding {folder.name or folder}")
    bad = sorted(item for _, part in parts for item in part)
    keep = np.ones(len(images), dtype=bool)
    keep[[i for i, _ in bad]] = False
    named = [(f"{listing.labels[i]}/{os.fsdecode(listing.names[i])}", why) for i, why in bad]
    return Decoded(_compact(images, keep), listing.labels[keep].astype(np.uint8),
                   sum(count for count, _ in parts), named)


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
    names, (_, why) = _some([path for path, _ in bad], folder), bad[0]
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
    listing = _list_images(folder)
    if not len(listing.names):
        raise DataError(f"{folder}: the label folders hold no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    decoded = folder_cache.read(folder, listing.key) if cache else None
    decoded_now = decoded is None
    if decoded_now:
        decoded = _decode_all(folder, listing, default_workers() if workers is None else workers)
    _unreadable(folder, [(folder / name, why) for name, why in decoded.bad], len(listing.names))
    if decoded_now and cache and not listing.fresh:
        folder_cache.write(folder, listing.key, decoded)
    if decoded.resized:
        warn(f"{folder}: resized {decoded.resized} images that were not 28 x 28 to 28 x 28")
    labels = torch.from_numpy(decoded.labels.astype(np.int64))
    return Digits(torch.from_numpy(decoded.images), labels, torch.arange(len(labels), dtype=torch.int64),
                  split or "all")
