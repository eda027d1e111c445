"""`digitlab export LAYOUT DIR`: write fastai's mnist_png, mnist_sample or mnist_tiny folders."""

from __future__ import annotations

import argparse

LAYOUT_NAMES = ("mnist_png", "mnist_sample", "mnist_tiny")  # export.LAYOUTS, without importing it


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "export",
        help="write fastai's MNIST folder layouts as PNG files",
        description="Write fastai's folder layout LAYOUT into DIR/LAYOUT, pixel for pixel from "
        "the shipped MNIST files. An existing complete export is reused.",
    )
    parser.add_argument(
        "layout", metavar="LAYOUT", choices=LAYOUT_NAMES, help=", ".join(LAYOUT_NAMES)
    )
    parser.add_argument("dir", metavar="DIR", help="the folder to write it into (created if needed)")
    parser.add_argument(
        "--workers", type=int, default=None, help="threads encoding PNGs (default: up to 2)"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from digitlab.data.export import export_layout
    from digitlab.errors import DigitlabError

    if args.workers is not None and args.workers < 1:
        raise DigitlabError(f"--workers must be 1 or more, not {args.workers}")
    print(export_layout(args.layout, args.dir, workers=args.workers))
    return 0
