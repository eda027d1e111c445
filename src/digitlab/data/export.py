"""Writing fastai's MNIST folder layouts, file for file, from the shipped data.

    mnist_png/training/<digit>/<index>.png     all 60,000 training images
    mnist_png/testing/<digit>/<index>.png      all 10,000 test images
    mnist_sample/train/{3,7}/<index>.png       the training 3s and 7s
    mnist_sample/valid/{3,7}/<index>.png       the test set's 3s and 7s
    mnist_sample/labels.csv                    name,label for the train files (3 -> 0, 7 -> 1)
    mnist_tiny/{train,valid}/{3,7}/<index>.png datasets.load("mnist_tiny") (see data.py)
    mnist_tiny/labels.csv                      name,label for every file (label = the digit)

`<index>` is the image's position in its MNIST file, the name fastai gives it. Each PNG is 8-bit
grayscale 28 x 28 holding MNIST's bytes unchanged. The layout is built under a hidden temporary
name beside its destination and renamed into place only when complete.
"""

from __future__ import annotations

import functools
import os
import shutil
import struct
import tempfile
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from digitlab.console import console
from digitlab.data.parallel import default_workers, map_chunks
from digitlab.errors import DataError
from digitlab.store.files import cannot_write, default_mode

# layout -> [(folder inside the layout, dataset, split)]
LAYOUTS = {
    "mnist_png": [("training", "mnist", "train"), ("testing", "mnist", "test")],
    "mnist_sample": [("train", "mnist_sample", "train"), ("valid", "mnist_sample", "valid")],
    "mnist_tiny": [("train", "mnist_tiny", "train"), ("valid", "mnist_tiny", "valid")],
}
SAMPLE_LABELS = {3: 0, 7: 1}  # fastai's mnist_sample/labels.csv calls a 3 "0" and a 7 "1"

Job = tuple[str, np.ndarray]  # (relative path of the PNG, its (28, 28) uint8 pixels)


def _jobs(name: str) -> list[Job]:
    from digitlab.data import datasets

    jobs = []
    for folder, dataset, split in LAYOUTS[name]:
        digits = datasets.load(dataset, split)
        images, labels, index = digits.images.numpy(), digits.labels.tolist(), digits.index.tolist()
        for image, label, i in zip(images, labels, index):
            jobs.append((f"{folder}/{label}/{i}.png", image))
    return jobs


def _labels_csv(name: str, jobs: Sequence[Job]) -> str | None:
    """fastai's labels.csv for `name`, or None for a layout that has none."""
    rows = []
    for path, _ in jobs:
        folder, label, _ = path.split("/")
        if name == "mnist_sample" and folder == "train":
            rows.append(f"{path},{SAMPLE_LABELS[int(label)]}")
        elif name == "mnist_tiny":
            rows.append(f"{path},{label}")
    return "\n".join(["name,label", *rows]) + "\n" if rows else None


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def encode_png(image: np.ndarray) -> bytes:
    """An 8-bit grayscale PNG of a (H, W) uint8 array, its pixels stored exactly.

    Written by hand because the format is this small and Pillow's `save` costs ~8x more per
    28 x 28 image, which adds up over 70,000 files.
    """
    height, width = image.shape
    rows = np.zeros((height, width + 1), dtype=np.uint8)  # each row starts with filter type 0
    rows[:, 1:] = image
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit, grayscale, no interlace
    return b"".join((
        b"\x89PNG\r\n\x1a\n",
        _png_chunk(b"IHDR", header),
        _png_chunk(b"IDAT", zlib.compress(rows.tobytes(), 6)),
        _png_chunk(b"IEND", b""),
    ))


def _write_pngs(root: Path, jobs: Sequence[Job]) -> int:
    for path, image in jobs:
        (root / path).write_bytes(encode_png(image))
    return len(jobs)


def _count_pngs(root: Path) -> int:
    return sum(
        1 for folder in root.iterdir() if folder.is_dir() for _ in folder.glob("[0-9]/*.png")
    )


def _is_complete(root: Path, name: str, jobs: Sequence[Job]) -> bool:
    """Every file of the layout is there, by name (an mnist_tiny written before its file list became
    fastai's has the right count and the wrong names), and nothing else."""
    has_csv = _labels_csv(name, jobs) is not None
    return (
        _count_pngs(root) == len(jobs)
        and all((root / path).is_file() for path, _ in jobs)
        and (root / "labels.csv").is_file() == has_csv
    )


def export_layout(name: str, dest_dir: str | os.PathLike, workers: int | None = None,
                  quiet: bool = False) -> Path:
    """Write fastai's `name` layout ("mnist_png", "mnist_sample", "mnist_tiny") into `dest_dir`.

    Returns `dest_dir/name`. A complete export already there is reused as it is (said on stderr
    unless `quiet`). workers: threads encoding PNGs (default: up to 2, one per core).
    """
    if name not in LAYOUTS:
        raise DataError(f"unknown layout {name!r}; choose one of {', '.join(LAYOUTS)}")
    dest = Path(dest_dir).expanduser()
    final = dest / name
    jobs = _jobs(name)
    if final.exists():
        return _reuse(final, name, jobs, quiet)
    try:
        dest.mkdir(parents=True, exist_ok=True)
        partial = Path(tempfile.mkdtemp(dir=dest, prefix=f".{name}.", suffix=".partial"))
        partial.chmod(default_mode(folder=True))  # mkdtemp's 0700 would hide the layout from others
    except OSError as err:
        raise cannot_write(dest, err, "DIR") from err
    try:
        for folder in sorted({path.rsplit("/", 1)[0] for path, _ in jobs}):
            (partial / folder).mkdir(parents=True)
        workers = default_workers() if workers is None else workers
        map_chunks(functools.partial(_write_pngs, partial), jobs, workers, f"writing {name}")
        if (csv := _labels_csv(name, jobs)) is not None:
            (partial / "labels.csv").write_text(csv)
        try:
            os.rename(partial, final)  # the complete layout appears at once, or not at all
        except OSError:
            if not final.exists():
                raise
            return _reuse(final, name, jobs, quiet)  # another export finished first
    except OSError as err:  # a full disk, say
        raise cannot_write(final, err, "DIR") from err
    finally:
        shutil.rmtree(partial, ignore_errors=True)  # gone after the rename; removes a failed try
    return final


def _reuse(final: Path, name: str, jobs: Sequence[Job], quiet: bool) -> Path:
    if not final.is_dir() or not _is_complete(final, name, jobs):
        raise DataError(
            f"{final}: already exists but is not a complete {name} export; remove it or choose "
            "another folder"
        )
    if not quiet:
        console.print(
            f"{final}: a complete {name} export is already there ({len(jobs):,} images); reusing it",
            soft_wrap=True,
        )
    return final
