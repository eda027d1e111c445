"""How fast digitlab gets MNIST into tensors, and how fast it writes fastai's PNG folders.

Prints medians over several runs (seconds) and their ratios:
  cold   datasets.load of all 70,000 images with an empty cache: SHA-256 of the shipped files, gunzip,
         IDX parsing, and writing the .npy cache
  warm   the same with the cache in place
  gunzip gzip.decompress + np.frombuffer + torch.from_numpy of the four shipped files, nothing else
  export `export_layout("mnist_sample")` (14,434 PNGs) with 1 worker thread, then with 2

Run: python benchmarks/load_data.py [--repeats 5] [--export-repeats 2] [--export-dir DIR]
Timings on a shared machine are noisy; compare ratios taken in the same run.
"""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable

import numpy as np
import torch

from digitlab.data import datasets, shipped_mnist
from digitlab.data.export import export_layout


def seconds(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def load_all() -> int:
    return sum(len(datasets.load("mnist", split).labels) for split in ("train", "test"))


def plain_gunzip() -> int:
    # torch warns once that these tensors view read-only bytes; copying them would not be "plain".
    warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
    total = 0
    for split in ("train", "test"):
        images_gz, labels_gz = (shipped_mnist.shipped_dir() / name for name in shipped_mnist.MNIST_FILES[split])
        raw = gzip.decompress(images_gz.read_bytes())
        images = torch.from_numpy(np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 28, 28))
        raw_labels = gzip.decompress(labels_gz.read_bytes())
        labels = torch.from_numpy(np.frombuffer(raw_labels, np.uint8, offset=8))
        assert len(images) == len(labels)
        total += len(labels)
    return total


def time_export(workers: int, repeats: int, parent: str | None) -> list[float]:
    runs = []
    for _ in range(repeats):
        dest = tempfile.mkdtemp(prefix="digitlab-bench-export-", dir=parent)
        try:
            runs.append(seconds(lambda: export_layout("mnist_sample", dest, workers=workers)))
        finally:
            shutil.rmtree(dest)
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs of each load timing")
    parser.add_argument("--export-repeats", type=int, default=2, help="runs of each export timing")
    parser.add_argument(
        "--export-dir",
        help="where to write the exports (default: the temp folder); a RAM disk separates the "
        "encoding from the disk",
    )
    args = parser.parse_args()

    saved_home = os.environ.get("DIGITLAB_HOME")
    cold, warm = [], []
    try:
        for _ in range(args.repeats):
            with tempfile.TemporaryDirectory(prefix="digitlab-bench-home-") as home:
                os.environ["DIGITLAB_HOME"] = home  # an empty cache: the cold path
                cold.append(seconds(load_all))
                warm.append(seconds(load_all))
        assert load_all() == 70_000
        gunzip = [seconds(plain_gunzip) for _ in range(args.repeats)]
        export = {w: time_export(w, args.export_repeats, args.export_dir) for w in (1, 2)}
    finally:
        if saved_home is None:
            os.environ.pop("DIGITLAB_HOME", None)
        else:
            os.environ["DIGITLAB_HOME"] = saved_home

    cold_s, warm_s, gunzip_s = (statistics.median(x) for x in (cold, warm, gunzip))
    threads = torch.get_num_threads()
    print(f"70,000 MNIST images into tensors (median of {args.repeats}, {threads} torch threads)")
    print(f"  cold load (checksum + gunzip + cache write): {cold_s * 1000:8.1f} ms")
    print(f"  warm load (from the .npy cache):              {warm_s * 1000:8.1f} ms")
    print(f"  plain gzip.decompress + frombuffer:           {gunzip_s * 1000:8.1f} ms")
    print(f"  cold / plain gunzip: {cold_s / gunzip_s:5.2f}x")
    print(f"  plain gunzip / warm: {gunzip_s / warm_s:5.1f}x")
    one, two = (statistics.median(export[w]) for w in (1, 2))
    print(f"export mnist_sample, 14,434 PNGs (median of {args.export_repeats})")
    print(f"  1 worker:  {one:6.2f} s   ({14_434 / one:,.0f} files/s)")
    print(f"  2 workers: {two:6.2f} s   ({14_434 / two:,.0f} files/s)")
    print(f"  speed-up with 2 workers: {one / two:4.2f}x")


if __name__ == "__main__":
    main()
