"""Should `digitlab predict` clean images that are MNIST-style already? Accuracy both ways.

The 10,000 test PNGs of `digitlab export mnist_png` are read the way `predict` reads them (a 28 x 28
grey PNG on a dark page (`mnist_style.dark_page`) is cleaned as the models clean a tensor; anything else through
`mnist_style.to_mnist`), and again with every file through `mnist_style.to_mnist`, the cleaning a photo gets.
Each shipped model predicts both; the script prints how many files passed as they are, the
accuracy of each model each way, and the seconds each way took.

MNIST's test set is used here as a final figure about preprocessing, never to choose anything:
the routing's limits were measured on the training images (see vision/mnist_style.py), and the choice is
made with --held-out: 5,000 training images held out (seeded), each method fitted on the other
55,000 with the shipped models' settings (the cnn: the fast preset, the shipped medium one takes
half an hour), and scored on the held-out digits both ways.

Run: python benchmarks/predict_mnist_style.py [--limit N] [--dir DIR] [--held-out]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import torch

from digitlab import pretrained
from digitlab.commands.predict import Unreadable, batches, read_images
from digitlab.data.export import export_layout
from digitlab.data.folders import read_small_pngs
from digitlab.vision import mnist_style

BATCH = 1024  # as predict reads them


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, help="only the first N test files (by digit, then name)")
    parser.add_argument("--dir", help="where to write mnist_png (default: the temp folder)")
    parser.add_argument("--held-out", action="store_true", help="choose: held-out training digits, fresh models")
    args = parser.parse_args()
    if args.held_out:
        held_out(args.limit)
        return
    parent = Path(tempfile.mkdtemp(prefix="digitlab-bench-mnist-style-", dir=args.dir))
    try:
        export_layout("mnist_png", parent)
        files = sorted(str(p) for p in (parent / "mnist_png" / "testing").glob("*/*.png"))[: args.limit]
        labels = torch.tensor([int(Path(f).parent.name) for f in files])
        print(f"{len(files):,} test PNGs of mnist_png; load average {os.getloadavg()[0]:.2f}")

        start, unreadable = time.perf_counter(), Unreadable()
        as_predict = torch.cat([read_images(batch, unreadable)[0] for batch in batches(files, BATCH)])
        predict_seconds = time.perf_counter() - start
        start = time.perf_counter()
        cleaned = torch.stack([mnist_style.to_mnist(f) for f in files])
        clean_seconds = time.perf_counter() - start
        passed = int(mnist_style.dark_page(read_small_pngs(files)[0]).sum())
        print(f"  read as predict reads them: {predict_seconds:6.1f} s ({len(files) / predict_seconds:7,.0f} images/s); "
              f"{passed:,} of {len(files):,} passed as they are")
        print(f"  every file through to_mnist: {clean_seconds:6.1f} s ({len(files) / clean_seconds:7,.0f} images/s)")
        print(f"  {'model':12s} {'as predict reads them':>22s} {'all through to_mnist':>22s}  {HEAD}")
        for method in pretrained.RECIPES:
            print(f"  {method:12s} {both_ways(pretrained.load(method), as_predict, cleaned, labels)}")
    finally:
        shutil.rmtree(parent, ignore_errors=True)


def held_out(limit: int | None) -> None:
    """The held-out training digits as predict reads them and all through to_mnist, fresh models."""
    from PIL import Image

    from digitlab import classifiers
    from digitlab.data import datasets

    train = datasets.load("mnist", "train")
    order = torch.randperm(len(train.labels), generator=torch.Generator().manual_seed(0))
    held, fit = order[: limit or 5000], order[5000:]
    pixels = train.images[held].numpy()  # (n, 28, 28) uint8: a PNG of them reads back the same
    ready = mnist_style.dark_page(pixels)
    start = time.perf_counter()
    cleaned = torch.stack([mnist_style.to_mnist(Image.fromarray(x)) for x in pixels])
    print(f"{len(held):,} held-out training digits, {int(ready.sum()):,} on a dark page; to_mnist "
          f"{time.perf_counter() - start:.1f} s; load average {os.getloadavg()[0]:.2f}")
    as_predict = mnist_style.prepare(pixels, range(len(pixels)), [Image.fromarray(x) for x in pixels],
                                [str(i) for i in range(len(pixels))])[0]
    labels = train.labels[held]
    print(f"  {'model':12s} {'as predict reads them':>22s} {'all through to_mnist':>22s}  {HEAD}")
    for method, options in {**pretrained.RECIPES, "cnn": {"preset": "fast", "seed": 0}}.items():
        clf = classifiers.make(method, **options).fit(train.images[fit], train.labels[fit])
        print(f"  {method:12s} {both_ways(clf, as_predict, cleaned, labels)}")


HEAD = "right one way only: as predict reads them / through to_mnist"


def both_ways(clf, as_predict: torch.Tensor, cleaned: torch.Tensor, labels: torch.Tensor) -> str:
    """Accuracy and errors each way, and the images only one way reads right (McNemar's counts:
    a difference is worth something only when these two differ by much more than their noise)."""
    right = [clf.predict(x).cpu() == labels for x in (as_predict, cleaned)]
    only = [int((right[0] & ~right[1]).sum()), int((right[1] & ~right[0]).sum())]
    return (" ".join(f"{float(r.float().mean()):>16.2%} ({int((~r).sum()):>4} wrong)" for r in right)
            + f"  {only[0]} / {only[1]}")


if __name__ == "__main__":
    main()
