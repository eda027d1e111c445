"""The cache of decoded folders: a folder of images is decoded once, then loads in a blink.

Each folder `folders.load_folder` decodes is kept under `home()/folders/` as one uncompressed
.npz (its images, labels, and what the loader had to say about its files), named after the
folder's absolute path and holding a digest of every image file's path, size, modification time
and inode (`folders.Listing.key`). A load whose listing digests differently decodes again, so an
added, removed, touched or replaced file is never answered from a stale entry.

Entries are written atomically: two processes loading the same folder at once each write a whole
file and the last rename wins. A damaged entry reads as a miss and is written again. The cache
holds at most `max_bytes()` (DIGITLAB_CACHE_MB changes it); the entries used longest ago go first.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
import zipfile
from pathlib import Path
from typing import NamedTuple

import numpy as np

from digitlab.errors import DataError, OutputError, warn
from digitlab.files import atomic_write, home

CACHE_VERSION = "v1"  # bump when an entry's layout changes
DEFAULT_MB = 2048  # room for 2.7 million 28 x 28 images
LEFTOVER_SECONDS = 3600  # a temporary file this old was left by a killed writer, not one at work
# What a damaged entry can raise while it is read: each means "decode the folder again".
DAMAGED = (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile)


class Decoded(NamedTuple):
    """A folder's decoded images, as the cache stores them."""

    images: np.ndarray  # (N, 28, 28) uint8: the files that could be read, in load order
    labels: np.ndarray  # (N,) uint8: their digits
    resized: int  # how many were not 28 x 28
    bad: list[tuple[str, str]]  # (path inside the folder, why) of the files that could not be read


class Entry(NamedTuple):
    path: Path  # the cache file
    folder: str  # the folder it holds
    images: int
    size: int  # bytes
    used: float  # when it was last read or written (seconds since the epoch)


def cache_dir() -> Path:
    return home() / "folders" / CACHE_VERSION


def max_bytes() -> int:
    """The cache's bound: DIGITLAB_CACHE_MB megabytes, else DEFAULT_MB."""
    text = os.environ.get("DIGITLAB_CACHE_MB", "").strip()
    if not text:
        return DEFAULT_MB << 20
    if not text.isdigit():
        raise DataError(f"DIGITLAB_CACHE_MB={text}: give a whole number of megabytes (0 turns the cache off)")
    return int(text) << 20


def entry_path(folder: Path) -> Path:
    name = hashlib.sha256(os.fsencode(os.path.abspath(folder))).hexdigest()[:32]
    return cache_dir() / f"{name}.npz"


def _meta(stored) -> dict:
    return json.loads(stored["meta"].tobytes())


def read(folder: Path, key: str) -> Decoded | None:
    """The cached decoding of `folder` if its files still digest to `key`, else None."""
    path = entry_path(folder)
    try:
        with np.load(path, allow_pickle=False) as stored:
            meta = _meta(stored)
            if meta.get("key") != key:  # checked first: a stale entry's images are never read
                return None
            images, labels = stored["images"], stored["labels"]
            decoded = Decoded(images, labels, int(meta["resized"]), [(str(n), str(w)) for n, w in meta["bad"]])
    except DAMAGED:
        return None
    if images.dtype != np.uint8 or images.shape != (len(labels), 28, 28) or labels.dtype != np.uint8:
        return None
    with contextlib.suppress(OSError):
        os.utime(path)  # used now: the last to be evicted
    return decoded


def write(folder: Path, key: str, decoded: Decoded) -> None:
    """Store `decoded` as `folder`'s entry, then evict the oldest entries past the bound.

    A cache that cannot be written (full disk, no permission) costs a warning, not the load."""
    limit, path = max_bytes(), entry_path(folder)
    if decoded.images.nbytes > limit:
        return  # it would push out every other entry and still not fit
    meta = {"folder": os.path.abspath(folder), "key": key, "resized": decoded.resized, "bad": decoded.bad}
    try:
        with atomic_write(path) as f:
            np.savez(f, images=decoded.images, labels=decoded.labels,
                     meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))
    except OutputError as err:
        warn(f"{folder}: loaded, but not cached ({err})")
        return
    evict(limit, keep=path)


def entries() -> list[Entry]:
    """Every entry, the most recently used first; damaged ones are listed with 0 images."""
    found = []
    for path in cache_dir().glob("*.npz"):
        with contextlib.suppress(FileNotFoundError):  # another process may evict it meanwhile
            info = path.stat()
            try:
                with np.load(path, allow_pickle=False) as stored:
                    meta = _meta(stored)
                    count = int(stored["labels"].shape[0])
                folder = str(meta["folder"])
            except DAMAGED:
                folder, count = "(damaged: rebuilt when its folder is next loaded)", 0
            found.append(Entry(path, folder, count, info.st_size, info.st_mtime))
    return sorted(found, key=lambda e: e.used, reverse=True)


def evict(limit: int, keep: Path | None = None) -> None:
    """Remove the entries used longest ago until the cache holds at most `limit` bytes, and
    temporary files that killed writers left behind."""
    now = time.time()
    for leftover in cache_dir().glob(".*.tmp"):
        with contextlib.suppress(OSError):
            if now - leftover.stat().st_mtime > LEFTOVER_SECONDS:
                leftover.unlink()
    files = []
    for path in cache_dir().glob("*.npz"):
        with contextlib.suppress(FileNotFoundError):
            info = path.stat()
            files.append((info.st_mtime, info.st_size, path))
    total = sum(size for _, size, _ in files)
    for _, size, path in sorted(files):
        if total <= limit:
            break
        if path != keep:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            total -= size


def clear() -> tuple[int, int]:
    """Remove every entry: (how many, bytes freed)."""
    count = freed = 0
    for path in list(cache_dir().glob("*.npz")) + list(cache_dir().glob(".*.tmp")):
        with contextlib.suppress(FileNotFoundError):
            size = path.stat().st_size
            path.unlink()
            count += path.suffix == ".npz"
            freed += size
    return count, freed
