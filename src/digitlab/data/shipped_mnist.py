"""Real MNIST, shipped inside the package, and fastai's subsets of it (`mnist_sample`: 3s and 7s,
`mnist_tiny`), as arrays.

The four IDX files in `digitlab/data/mnist/` are checked against their SHA-256 once, decoded, and
cached as uint8 `.npy` under `home()`, so that later loads are a memory copy rather than a gunzip.
Each cached array carries the SHA-256 of its file, checked whenever it is read: a cache damaged on
disk (pixels zeroed, labels shifted, an array rewritten as float) is decoded again from the shipped
files, with a warning, rather than read as MNIST (it gave 79.94 % for 96.18 %, silently, before)."""

from __future__ import annotations

import hashlib
import io
from importlib import resources
from pathlib import Path

import numpy as np

from digitlab.data import idx
from digitlab.data.digits import part_of
from digitlab.errors import DataError, OutputError, warn
from digitlab.store.files import atomic_write, home, read_sums, verify_sha256


MNIST_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
CACHE_VERSION = "v2"  # bump when the cache layout changes (v2: each array with its SHA-256)

# fastai's MNIST_TINY has 709 training and 699 validation images of 3s and 7s. Its archive holds,
# for each digit, the last TINY_COUNTS files of mnist_png's training/<digit> and testing/<digit>
# folders in name order (the names compared as text, so "7.png" < "7030.png" < "998.png"): that
# rule reproduces every file name the book and the write-ups print (docs/book.md).
TINY_COUNTS = {"train": {3: 346, 7: 363}, "valid": {3: 346, 7: 353}}

# A folder without a split of its own is split as fastai's RandomSplitter(valid_pct=0.2, seed=42)
# would, but digit by digit, so that both parts keep every digit. The seed is fixed rather than
# train's --seed, so that models trained with different seeds are validated on the same images.
VALID_FRACTION = 0.2
SPLIT_SEED = 42


def shipped_dir() -> Path:
    """The folder inside the installed package that holds the four MNIST files."""
    return Path(str(resources.files("digitlab.data") / "mnist"))


def _cache_paths(split: str) -> tuple[Path, Path]:
    folder = home() / "mnist" / CACHE_VERSION
    return folder / f"{split}-images.npy", folder / f"{split}-labels.npy"


def _decode_shipped(split: str) -> tuple[np.ndarray, np.ndarray]:
    folder = shipped_dir()
    sums = read_sums(folder / "SHA256SUMS")
    paths = [folder / name for name in MNIST_FILES[split]]
    for path in paths:
        verify_sha256(path, sums[path.name])
    images, labels = idx.read_pair(*paths)
    return images.copy(), labels.copy()  # writable, unlike the buffer they were parsed from


def _digest_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _save_npy(path: Path, array: np.ndarray) -> None:
    """The array as .npy, and beside it its file's SHA-256 (written second: a file without one is rebuilt)."""
    buffer = io.BytesIO()
    np.save(buffer, array)
    data = buffer.getvalue()
    with atomic_write(path) as f:
        f.write(data)
    with atomic_write(_digest_path(path)) as f:
        f.write(hashlib.sha256(data).hexdigest().encode() + b"\n")


def _load_npy(path: Path) -> np.ndarray | None:
    """The cached uint8 array at `path`, None when there is none or it does not match its SHA-256
    (which takes about 0.1 s for the 47 MB of training images: one read, hashed, then parsed)."""
    try:
        data = path.read_bytes()
        expected = _digest_path(path).read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None
    if hashlib.sha256(data).hexdigest() != expected:
        return None
    try:
        array = np.load(io.BytesIO(data))
    except (OSError, ValueError):
        return None
    return array if array.dtype == np.uint8 else None


def mnist_arrays(split: str) -> tuple[np.ndarray, np.ndarray]:
    """(images (N, 28, 28) uint8, labels (N,) uint8) of MNIST's "train" or "test" file."""
    if split not in MNIST_FILES:
        raise DataError(f"unknown MNIST split {split!r}; choose 'train' or 'test'")
    images_path, labels_path = _cache_paths(split)
    images, labels = _load_npy(images_path), _load_npy(labels_path)
    if images is not None and labels is not None and images.shape[1:] == (28, 28) and len(images) == len(labels):
        return images, labels
    if images_path.exists() or labels_path.exists():  # there, but damaged (none yet: nothing to say)
        warn(f"{images_path.parent}: the cached MNIST {split} arrays are damaged (they do not match their "
             "checksum); decoding the shipped files again")
    images, labels = _decode_shipped(split)
    try:
        _save_npy(images_path, images)
        _save_npy(labels_path, labels)
    except OutputError as err:  # a full or read-only home: the cache is a convenience, the arrays are here
        warn(f"MNIST {split}: decoded, but not cached ({err}); it is decoded again each time")
    return images, labels


def _select(split: str, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    images, labels = mnist_arrays(split)
    return images[keep], labels[keep], keep


def _digits_in_order(labels: np.ndarray) -> np.ndarray:
    """Indices of the 3s and 7s, grouped by digit (ascending), each group in file order."""
    return np.concatenate([np.flatnonzero(labels == digit) for digit in (3, 7)])


def _mnist(split: str):
    source = "train" if part_of(split) == "train" else "test"
    images, labels = mnist_arrays(source)
    return images, labels, np.arange(len(labels)), source


def _mnist_sample(split: str):
    source = "train" if part_of(split) == "train" else "test"
    _, labels = mnist_arrays(source)
    return (*_select(source, _digits_in_order(labels)), source)


def _mnist_tiny(split: str):
    part = part_of(split)
    source = "train" if part == "train" else "test"
    _, labels = mnist_arrays(source)
    return (*_select(source, _last_by_name(labels, TINY_COUNTS[part])), source)


def _last_by_name(labels: np.ndarray, counts: dict[int, int]) -> np.ndarray:
    """Indices of the last `count` images of each digit when their file names (`<index>.png`) are
    sorted as text, as a folder listing sorts them; grouped by digit, each group in file order."""
    groups = []
    for digit, count in counts.items():
        where = np.flatnonzero(labels == digit)
        by_name = sorted(where.tolist(), key=str)  # "7" < "7030" < "998": the text order of names
        groups.append(np.sort(np.array(by_name[-count:], dtype=np.int64)))
    return np.concatenate(groups)
