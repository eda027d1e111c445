"""`digitlab data info`: a table of the datasets digitlab has, and where its cache lives."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("data", help="show the datasets and the cache")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    info = actions.add_parser("info", help="a table of the datasets, their splits and sizes")
    info.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np
    from rich.console import Console
    from rich.table import Table

    from digitlab import data

    table = Table(title="digitlab datasets (real MNIST, shipped with the package)")
    for column in ("dataset", "split", "images", "images per digit", "about"):
        table.add_column(column)
    for name in data.DATASETS:
        for split in ("train", "valid"):
            digits = data.load(name, split)
            counts = np.bincount(digits.labels.numpy(), minlength=10)
            present = [d for d in range(10) if counts[d]]
            table.add_row(
                name,
                split if name != "mnist" else ("train" if split == "train" else "test"),
                f"{len(digits.labels):,}",
                " ".join(f"{d}:{counts[d]}" for d in present),
                data.DESCRIPTIONS[name] if split == "train" else "",
            )
    Console(width=max(Console().width, 150)).print(table)
    print(f"cache: {data.home()}  (set DIGITLAB_HOME to move it)")
    return 0
