"""`digitlab data info` and `digitlab data show`: what a dataset holds, as a table or a picture."""

from __future__ import annotations

import argparse

DATASET_HELP = "mnist, mnist_sample, mnist_tiny, or a folder (<digit>/*.png, or MNIST's IDX files)"


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("data", help="show the datasets and the cache")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    info = actions.add_parser("info", help="a table of the datasets, their splits and sizes")
    info.add_argument("--dataset", help=f"only this dataset: {DATASET_HELP}")
    info.add_argument("--split", help="only this split: train or valid")
    info.set_defaults(run=run)
    show = actions.add_parser("show", help="save a picture of a dataset's first images")
    show.add_argument("dataset", help=DATASET_HELP)
    show.add_argument("--split", help="train or valid (default: the first the dataset has)")
    show.add_argument("--count", type=int, default=40, help="how many images (default 40)")
    show.add_argument("--out", default="digits.png", help="the PNG to write (default digits.png)")
    show.set_defaults(run=run_show)


def run(args: argparse.Namespace) -> int:
    import numpy as np
    from rich.console import Console
    from rich.table import Table

    from digitlab import data

    names = [args.dataset] if args.dataset else list(data.DATASETS)
    title = args.dataset or "digitlab datasets (real MNIST, shipped with the package)"
    table = Table(title=title)
    for column in ("dataset", "split", "images", "images per digit", "about"):
        table.add_column(column)
    for name in names:
        for i, split in enumerate([args.split] if args.split else data.splits(name)):
            digits = data.load(name, split)
            counts = np.bincount(digits.labels.numpy(), minlength=10)
            table.add_row(
                name,
                digits.source if name == "mnist" else (split or "all"),
                f"{len(digits.labels):,}",
                " ".join(f"{d}:{counts[d]}" for d in range(10) if counts[d]),
                data.DESCRIPTIONS.get(name, "a folder") if i == 0 else "",
            )
    Console(width=max(Console().width, 150)).print(table)
    print(f"cache: {data.home()}  (set DIGITLAB_HOME to move it)")
    return 0


def run_show(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from digitlab import data
    from digitlab.errors import DigitlabError
    from digitlab.files import atomic_write

    if args.count < 1:
        raise DigitlabError(f"--count must be 1 or more, not {args.count}")
    split = args.split or data.splits(args.dataset)[0]
    digits = data.load(args.dataset, split)
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
        fig.savefig(f, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    print(args.out)
    return 0
