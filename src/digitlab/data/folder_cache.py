"""The cache of decoded folders: a folder of images is decoded once, then loads in a blink.

Each folder `folders.load_folder` decodes is kept under `home()/folders/` as one file named after
the folder's absolute path: three numpy .npy records one after another (what the loader had to say
about its files, as JSON; the labels; the images), read straight into their arrays. The first
record holds `folder_listing.Listing.key`, a digest of every image file's name, size, modification
time, inode and ctime; a load whose listing digests differently decodes again, so an added,
removed, touched or replaced file is never answered from a stale entry (its images are not read).

Entries are written atomically: two processes loading the same folder at once each write a whole
file and the last rename wins. A damaged entry reads as a miss and is written again; the meta holds
the SHA-256 of the labels and images as written, so pixels or labels changed on disk (still a valid
file: 150 images zeroed read as 58.67 % for 96.33 % before) are a miss too, with a warning. The cache
holds at most `max_bytes()` (DIGITLAB_CACHE_MB changes it); the entries used longest ago go first.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np

from digitlab.errors import DataError, OutputError, warn
from digitlab.store.files import atomic_write, home

CACHE_VERSION = "v3"  # bump when an entry's layout changes (v1: an .npz, keyed without ctime; v2: no digest)
SUFFIX = ".npys"
DEFAULT_MB = 2048  # room for 2.7 million 28 x 28 images
LEFTOVER_SECONDS = 3600  # a temporary file this old was left by a killed writer, not one at work
# What a damaged entry can raise while it is read: each means "decode the folder again".
DAMAGED = (OSError, ValueError, KeyError, EOFError, TypeError, AttributeError, RecursionError)  # the last: [[[[...
SIDE = 28


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
    return cache_dir() / f"{name}{SUFFIX}"


def _read_record(f, dtype: str, shape: tuple[int | None, ...], left: int) -> np.ndarray:
    """The next .npy record of `f`, which must be C-ordered `dtype` of `shape` (None: any length)
    within the `left` bytes of the file; read straight into its array (no second copy)."""
    version = np.lib.format.read_magic(f)
    header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    found, fortran, found_dtype = header(f, max_header_size=10_000)
    if fortran or found_dtype != np.dtype(dtype) or len(found) != len(shape) or any(
            want is not None and want != got for want, got in zip(shape, found)):
        raise ValueError(f"a record of {found_dtype} {found}, expected {dtype} {shape}")
    if math.prod(found) * found_dtype.itemsize > left:  # before anything is made: a damaged header cannot ask for any size
        raise EOFError("the file is shorter than its records")
    array = np.empty(found, dtype=found_dtype)
    view, done = memoryview(array).cast("B"), 0
    while done < array.nbytes:
        got = f.readinto(view[done:])
        if not got:
            raise EOFError("the file is shorter than its records")
        done += got
    return array


def _read_meta(f, left: int) -> dict:
    meta = json.loads(_read_record(f, "u1", (None,), left).tobytes())
    if not isinstance(meta, dict):
        raise ValueError("not an entry")
    return meta


def read(folder: Path, key: str) -> Decoded | None:
    """The cached decoding of `folder` if its files still digest to `key`, else None."""
    path = entry_path(folder)
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            meta = _read_meta(f, size)
            if meta.get("key") != key:  # checked first: a stale entry's images are never read
                return None
            count = int(meta["images"])
            labels = _read_record(f, "u1", (count,), size - f.tell())
            images = _read_record(f, "u1", (count, SIDE, SIDE), size - f.tell())
            decoded = Decoded(images, labels, int(meta["resized"]), [(str(n), str(w)) for n, w in meta["bad"]])
    except DAMAGED:
        return None
    if meta.get("digest") != _digest(labels, images):
        warn(f"{folder}: its cached decoding is damaged (it does not match its checksum); decoding the folder again")
        return None
    with contextlib.suppress(OSError):
        os.utime(path)  # used now: the last to be evicted
    return decoded


def _digest(labels: np.ndarray, images: np.ndarray) -> str:
    """SHA-256 of the labels' and images' bytes (0.1 s for 60,000 images)."""
    h = hashlib.sha256(np.ascontiguousarray(labels, dtype=np.uint8).tobytes())
    h.update(np.ascontiguousarray(images, dtype=np.uint8).tobytes())
    return h.hexdigest()


def write(folder: Path, key: str, decoded: Decoded) -> None:
    """Store `decoded` as `folder`'s entry, then evict the oldest entries past the bound.

    A cache that cannot be written (full disk, no permission) costs a warning, not the load."""
    limit, path = max_bytes(), entry_path(folder)
    if decoded.images.nbytes > limit:
        return  # it would push out every other entry and still not fit
    meta = {"folder": os.path.abspath(folder), "key": key, "images": len(decoded.labels),
            "resized": decoded.resized, "bad": decoded.bad, "digest": _digest(decoded.labels, decoded.images)}
    try:
        with atomic_write(path) as f:
            for array in (np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8), decoded.labels, decoded.images):
                np.lib.format.write_array(f, np.ascontiguousarray(array), allow_pickle=False)
    except OutputError as err:
        warn(f"{folder}: loaded, but not cached ({err})")
        return
    evict(limit, keep=path)


def entries() -> list[Entry]:
    """Every entry, the most recently used first; damaged ones are listed with 0 images."""
    found = []
    for path in cache_dir().glob(f"*{SUFFIX}"):
        with contextlib.suppress(FileNotFoundError):  # another process may evict it meanwhile
            info = path.stat()
            try:
                with open(path, "rb") as f:
                    meta = _read_meta(f, info.st_size)
                folder, count = str(meta["folder"]), int(meta["images"])
            except DAMAGED:
                folder, count = "(damaged: rebuilt when its folder is next loaded)", 0
            found.append(Entry(path, folder, count, info.st_size, info.st_mtime))
    return sorted(found, key=lambda e: e.used, reverse=True)


def evict(limit: int, keep: Path | None = None) -> None:
    """Remove the entries used longest ago until the cache holds at most `limit` bytes, temporary
    files that killed writers left behind, and entries of older layouts (other CACHE_VERSION
    folders), which this version can never read."""
    now = time.time()
    for leftover in cache_dir().glob(".*.tmp"):
        with contextlib.suppress(OSError):
            if now - leftover.stat().st_mtime > LEFTOVER_SECONDS:
                leftover.unlink()
    for old in cache_dir().parent.glob("*/*"):
        if old.parent.name != CACHE_VERSION and old.suffix in (".npz", SUFFIX):
            with contextlib.suppress(OSError):
                old.unlink()
    files = []
    for path in cache_dir().glob(f"*{SUFFIX}"):
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
    """Remove every entry, older layouts' (other CACHE_VERSION folders) too: (how many, bytes freed).
    An entry that cannot be removed (a read-only home) is an OutputError, once all the others are gone."""
    count = freed = 0
    failed: list[OSError] = []
    for path in cache_dir().parent.glob("*/*"):
        try:
            size = path.stat().st_size
            path.unlink()
        except (FileNotFoundError, IsADirectoryError):
            continue  # another process removed it meanwhile; a folder is not an entry
        except OSError as err:
            failed.append(err)
            continue
        count += not path.name.endswith(".tmp")
        freed += size
    if failed:
        why = failed[0].strerror or str(failed[0])
        raise OutputError(f"{cache_dir()}: cannot remove {len(failed)} cached folder(s) ({why}); removed "
                          f"{count}; check that DIGITLAB_HOME can be written, or set it to another folder")
    return count, freed
