"""Which image files a folder's digit folders hold, and a key that changes whenever any of them does.

`folders.load_folder` lists a folder on every load, cached or not: the key is a digest of every
image file's name, size, modification time, inode and status-change time (ctime, which no program
can set back), so an added, removed, touched, replaced or rewritten file always changes it, and
`folder_cache` answers only for the key it stored. A directory's own time would be cheaper, but
it does not change when a file is rewritten in place, so every file is looked at.

That is a `stat` per file, and the Python around it is what cost: a cached load of 100,000 files
took 1.1-1.2 s when each file got a `DirEntry`, a `stat_result`, a sort key and a formatted line of
the digest; now it takes 0.29 s of CPU, half of it the kernel's `stat`. Each digit folder's names
come from one `os.listdir` (bytes), are split into images and others by one compiled pattern and
sorted as they are; the `stat` calls run on two threads relative to the folder's descriptor
(`dir_fd`: no path to build or walk), and what they say goes into a numpy array a chunk at a time,
digested in bulk. Names are kept as one NUL-joined blob per digit folder (11 bytes a file), not a
Python object per file, so a million files cost about 11 MB here. The load order (numbered files
in numeric order) is worked out only when the folder has to be decoded. Figures:
benchmarks/RESULTS.md ("Folders of many images").
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import numpy as np

from digitlab.errors import warn

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif"}
# IMAGE_SUFFIXES as one pattern over a name's bytes, so a C loop sorts names into images and others;
# a name needs something before its suffix (".png" alone is a hidden file, not an image).
IMAGE_NAME = re.compile(rb".+\.(?:png|jpg|jpeg|bmp|gif)\Z", re.IGNORECASE | re.DOTALL)
NAMED = 5  # skipped files a warning names before it says "and N more"
STAT_CHUNK = 2000  # names per task given to a stat thread
# Linux stamps a file's modification time from a coarse clock (1-10 ms ticks), so a file written
# twice within one tick, same size, keeps its time: a folder with a file modified this recently
# is loaded but not cached (git's "racily clean" rule). Later loads cache it.
FRESH_SECONDS = 2.0
FOLDER_FORMAT = 2  # bump when what a folder decodes to, or how it is keyed, changes
INO_BITS = (1 << 63) - 1  # an inode number is unsigned 64-bit; the key keeps what fits an int64
STATS = 5  # columns of a stat array: mode, size, mtime_ns, ino, ctime_ns
SIZE, MTIME = 1, 2


class DigitFolder(NamedTuple):
    """One digit folder's image files."""

    label: int
    names: bytes  # the image files' names, sorted, joined by NUL (no name holds one)
    count: int

    def load_order(self) -> list[bytes]:
        """The names as they load: numbered files in numeric order (fastai names them after their
        MNIST index), then the rest by name."""
        return sorted(self.names.split(b"\0"), key=_file_order) if self.count else []


class Listing(NamedTuple):
    """The image files of a folder's digit folders, and what the cache is keyed on."""

    digit_folders: tuple[DigitFolder, ...]
    key: str  # a digest of every image file's name, size, modification time, inode and ctime
    fresh: bool  # a file was modified within FRESH_SECONDS: too recent to cache (see FRESH_SECONDS)

    @property
    def count(self) -> int:
        return sum(d.count for d in self.digit_folders)


def _file_order(name: bytes) -> tuple[int, bytes]:
    dot = name.rfind(b".")
    stem = name[:dot] if dot > 0 else name
    return (int(stem), name) if stem.isdigit() else (1 << 62, name)  # bytes.isdigit: ASCII 0-9 only


def _stat_one(name: bytes, folder: bytes, dir_fd: int | None) -> tuple[int, ...]:
    try:
        s = os.stat(name, dir_fd=dir_fd) if dir_fd is not None else os.stat(os.path.join(folder, name))
    except OSError:
        return (0,) * STATS  # gone since it was listed, or a link to nothing: neither file nor folder
    return s.st_mode, s.st_size, s.st_mtime_ns, s.st_ino & INO_BITS, s.st_ctime_ns


def _stat_chunk(folder: bytes, dir_fd: int | None, names: Sequence[bytes]) -> np.ndarray:
    """(n, STATS) int64: mode, size, mtime_ns, ino, ctime_ns of each name (following links).

    The common case is two comprehensions with no Python function per file; a file gone since it was
    listed, or an inode number past int64, takes the careful way (a function and a try per file)."""
    try:
        found = ([os.stat(name, dir_fd=dir_fd) for name in names] if dir_fd is not None
                 else [os.stat(os.path.join(folder, name)) for name in names])
        values = (v for s in found for v in (s.st_mode, s.st_size, s.st_mtime_ns, s.st_ino, s.st_ctime_ns))
        return np.fromiter(values, np.int64, STATS * len(names)).reshape(len(names), STATS)
    except (OSError, OverflowError):
        flat = [value for name in names for value in _stat_one(name, folder, dir_fd)]
        return np.array(flat, dtype=np.int64).reshape(len(names), STATS)


def _stats(folder: bytes, dir_fd: int | None, names: list[bytes], pool: ThreadPoolExecutor) -> np.ndarray:
    """_stat_chunk over `names` in chunks on `pool`'s threads: the system calls release the GIL."""
    chunks = [names[start : start + STAT_CHUNK] for start in range(0, len(names), STAT_CHUNK)]
    parts = list(pool.map(lambda part: _stat_chunk(folder, dir_fd, part), chunks))
    return np.concatenate(parts) if parts else np.zeros((0, STATS), np.int64)


def _kind(modes: np.ndarray, kind: int) -> np.ndarray:
    """Which of `modes` are of `kind` (stat.S_IFREG, S_IFDIR), as stat.S_IFMT reads one."""
    return (modes & 0o170000) == kind


class _Scan(NamedTuple):
    folder: DigitFolder
    stats: np.ndarray  # (n, STATS) of its images, in the order of folder.names
    others: list[bytes]  # files that are not images
    nested: list[bytes]  # visible sub-folders


def _scan(path: Path, pool: ThreadPoolExecutor) -> _Scan:
    """One digit folder: its image files (sorted) and their stat, its other files and sub-folders."""
    folder = os.fsencode(path)
    names = os.listdir(folder)
    images = sorted(filter(IMAGE_NAME.match, names))
    rest = sorted(set(names).difference(images)) if len(images) < len(names) else []
    dir_fd = os.open(folder, os.O_RDONLY) if os.stat in os.supports_dir_fd else None
    try:
        image_stats, rest_stats = _stats(folder, dir_fd, images, pool), _stats(folder, dir_fd, rest, pool)
    finally:
        if dir_fd is not None:
            os.close(dir_fd)
    files = _kind(image_stats[:, 0], stat.S_IFREG)
    nested = [n for n, is_dir in zip(images, _kind(image_stats[:, 0], stat.S_IFDIR)) if is_dir]
    # Hidden folders (.ipynb_checkpoints and the like) are tools', not the user's images.
    nested += [n for n, is_dir in zip(rest, _kind(rest_stats[:, 0], stat.S_IFDIR)) if is_dir and n[:1] != b"."]
    others = [n for n, is_file in zip(rest, _kind(rest_stats[:, 0], stat.S_IFREG)) if is_file]
    if not files.all():
        images = [n for n, is_file in zip(images, files) if is_file]
    return _Scan(DigitFolder(int(path.name), b"\0".join(images), len(images)), image_stats[files],
                 others, sorted(nested))


def list_images(folder: Path, label_dirs: Sequence[Path], workers: int) -> Listing:
    """The image files in `label_dirs` (the digit folders of `folder`); one warning names the other
    files, another the sub-folders (their images would otherwise vanish without a word)."""
    digest = hashlib.blake2b(f"{FOLDER_FORMAT}".encode(), digest_size=16)
    found, others, nested, newest = [], [], [], 0
    # One digit folder at a time: its list of names and stat array are dropped before the next.
    with ThreadPoolExecutor(workers) as pool:
        for label_dir in label_dirs:
            scan = _scan(label_dir, pool)
            digest.update(b"%d %d\0%s\0" % (scan.folder.label, scan.folder.count, scan.folder.names))
            digest.update(np.ascontiguousarray(scan.stats[:, SIZE:]).tobytes())
            if len(scan.stats):
                newest = max(newest, int(scan.stats[:, MTIME].max()))
            found.append(scan.folder)
            others += [label_dir / os.fsdecode(n) for n in scan.others]
            nested += [label_dir / os.fsdecode(n) for n in scan.nested]
    warn_not_images(folder, others)
    if nested:
        what = "sub-folders" if len(nested) > 1 else "sub-folder"
        warn(f"{folder}: skipped {len(nested)} {what} of the digit folders: {some(nested, folder)}; "
             "only images directly inside a digit folder are read, like 3/001.png")
    fresh = time.time_ns() - newest < FRESH_SECONDS * 1e9
    return Listing(tuple(found), digest.hexdigest(), fresh)


def load_order(listing: Listing) -> Iterator[tuple[int, list[bytes]]]:
    """(label, its image names in load order) for each digit folder, one at a time."""
    for digit_folder in listing.digit_folders:
        yield digit_folder.label, digit_folder.load_order()


def warn_not_images(folder: Path, others: Sequence[Path]) -> None:
    """Warn that the files `others` inside `folder` are skipped, as they are not images (if any)."""
    if others:
        kinds = ", ".join(sorted(IMAGE_SUFFIXES))
        what = "files that are not images" if len(others) > 1 else "file that is not an image"
        warn(f"{folder}: skipped {len(others)} {what} ({kinds}): {some(others, folder)}")


def some(paths: Sequence[Path], folder: Path) -> str:
    """The first NAMED of `paths`, relative to `folder`, then how many more there are."""
    names = ", ".join(p.relative_to(folder).as_posix() for p in paths[:NAMED])
    return names + (f" and {len(paths) - NAMED} more" if len(paths) > NAMED else "")
