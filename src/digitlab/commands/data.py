"""`digitlab data info` and `digitlab data show`: what a dataset holds, as a table or a picture."""

from __future__ import annotations

import argparse

from digitlab.data.digits import SPLITS

DATASET_HELP = "mnist, mnist_sample, mnist_tiny, or a folder (<digit>/*.png, or MNIST's IDX files)"
# For the built-in datasets valid is MNIST's test set.
SPLIT_HELP = ("train or valid (valid is MNIST's test set for mnist, mnist_sample and mnist_tiny; a folder "
              "without split folders is split at random, 80 %% train and 20 %% valid)")
MAX_COUNT = 200  # images in one picture: 1,000 took half a minute and made a 700 x 9,000 px strip
# What --out's suffix may name: matplotlib's own writers and those it reaches through Pillow.
PICTURE_FORMATS = ("png", "jpg", "jpeg", "webp", "gif", "tif", "tiff", "pdf", "svg", "eps")


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("data", help="show the datasets and the cache")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    info = actions.add_parser("info", help="a table of the datasets, their splits and sizes")
    info.add_argument("--dataset", help=f"only this dataset: {DATASET_HELP}")
    info.add_argument("--split", help=f"only this split: {SPLIT_HELP}")
    info.set_defaults(run=run)
    show = actions.add_parser("show", help="save a picture of a dataset's first images")
    show.add_argument("dataset", help=DATASET_HELP)
    show.add_argument("--split", help=f"{SPLIT_HELP} (default: the first the dataset has)")
    show.add_argument("--count", type=int, default=40,
                      help=f"how many images (default 40, at most {MAX_COUNT})")
    show.add_argument("--out", default="digits.png",
                      help="the picture to write, in the format its suffix names: "
                      f"{', '.join('.' + f for f in PICTURE_FORMATS)} (default digits.png)")
    show.set_defaults(run=run_show)
    cache = actions.add_parser("cache", help="list (or clear) the decoded folders kept in the cache",
                               description="A folder of images is decoded once and kept under DIGITLAB_HOME; "
                               "a later load of the unchanged folder reads that instead. Any added, removed or "
                               "changed file is noticed and the folder decoded again. The cache holds at most "
                               "DIGITLAB_CACHE_MB megabytes (default 2048); the entries used longest ago go first.")
    cache.add_argument("--clear", action="store_true", help="remove every decoded folder from the cache")
    cache.set_defaults(run=run_cache)


def _check_split(split: str | None) -> None:
    from digitlab.errors import DigitlabError

    if split is not None and split not in SPLITS:
        raise DigitlabError(f"--split {split}: choose train or valid (valid is MNIST's test set for the "
                            "built-in datasets)")


def _picture_format(out: str) -> str:
    """The format --out's suffix names, checked before any work is done."""
    from pathlib import Path

    from digitlab.errors import DigitlabError, OutputError

    if Path(out).is_dir():  # in atomic_write's words, but before the picture is drawn
        raise OutputError(f"{out}: cannot write here (a folder of that name is there); "
                          f"give a file name such as {Path(out) / 'digits.png'}")
    suffix = Path(out).suffix.lower().removeprefix(".")
    if suffix not in PICTURE_FORMATS:
        what = f"a .{suffix} picture" if suffix else "a picture without a suffix to name its format"
        raise DigitlabError(f"--out {out}: cannot write {what}; end the name in "
                            f"{', '.join('.' + f for f in PICTURE_FORMATS)}")
    return suffix


def run(args: argparse.Namespace) -> int:
    import numpy as np
    from rich.console import Console
    from rich.table import Table

    from digitlab.data import datasets
    from digitlab.store.files import home

    _check_split(args.split)
    # The test-only sets are listed only when asked for: building them the first time takes a minute or two.
    names = [args.dataset] if args.dataset else [n for n in datasets.DATASETS if n not in datasets.TEST_ONLY]
    title = args.dataset or "digitlab datasets (real MNIST, shipped with the package)"
    table = Table(title=title)
    for column in ("dataset", "split", "images", "images per digit", "about"):
        table.add_column(column)
    for name in names:
        for i, split in enumerate([args.split] if args.split else datasets.splits(name)):
            digits = datasets.load(name, split)
            counts = np.bincount(digits.labels.numpy(), minlength=10)
            table.add_row(
                name,
                split or "all",
                f"{len(digits.labels):,}",
                " ".join(f"{d}:{counts[d]}" for d in range(10) if counts[d]),
                datasets.DESCRIPTIONS.get(name, "a folder") if i == 0 else "",
            )
    Console(width=max(Console().width, 150)).print(table)
    if not args.dataset:
        for name in sorted(datasets.TEST_ONLY):
            see = "digitlab evaluate MODEL --dataset numbers" if name == "numbers" else f"--dataset {name}"
            print(f"also {name}: {datasets.DESCRIPTIONS[name]}; see it with {see}")
    print(f"cache: {home()}  (set DIGITLAB_HOME to move it)")
    return 0


def run_show(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from digitlab.data import datasets
    from digitlab.errors import DigitlabError
    from digitlab.store.files import atomic_write

    if not 1 <= args.count <= MAX_COUNT:
        raise DigitlabError(f"--count {args.count}: give a number from 1 to {MAX_COUNT}")
    _check_split(args.split)
    picture_format = _picture_format(args.out)
    split = args.split or datasets.splits(args.dataset)[0]
    digits = datasets.load(args.dataset, split)
    count = min(args.count, len(digits.labels))
    columns = min(count, 10)
    rows = -(-count // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 0.9, rows * 1.05), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, label, index in zip(axes.flat, digits.images, digits.labels, digits.index):
        ax.imshow(image.numpy(), cmap="gray", vmin=0, vmax=255)
        ax.set_title(f"{int(label)} (#{int(index)})", fontsize=7)
    title = f"{args.dataset} {split or ''}: first {count} of {len(digits.labels):,}"
    fig.suptitle(title, fontsize=9)
    with atomic_write(args.out) as f:
        fig.savefig(f, format=picture_format, dpi=100, bbox_inches="tight")
    plt.close(fig)
    print(args.out)
    return 0


def run_cache(args: argparse.Namespace) -> int:
    import time

    from rich.console import Console
    from rich.table import Table

    from digitlab.data import folder_cache

    if args.clear:
        count, freed = folder_cache.clear()
        print(f"removed {count} decoded folders ({freed / 2**20:,.1f} MB) from {folder_cache.cache_dir()}")
        return 0
    found = folder_cache.entries()
    table = Table(title=f"decoded folders in {folder_cache.cache_dir()}")
    for column, justify in (("folder", "left"), ("images", "right"), ("MB", "right"), ("last used", "left")):
        table.add_column(column, justify=justify)
    for entry in found:
        used = time.strftime("%Y-%m-%d %H:%M", time.localtime(entry.used))
        table.add_row(entry.folder, f"{entry.images:,}", f"{entry.size / 2**20:,.1f}", used)
    Console(width=max(Console().width, 120)).print(table)
    total = sum(entry.size for entry in found)
    print(f"{len(found)} decoded folders, {total / 2**20:,.1f} MB of at most "
          f"{folder_cache.max_bytes() / 2**20:,.0f} MB (DIGITLAB_CACHE_MB); `digitlab data cache --clear` empties it")
    return 0
