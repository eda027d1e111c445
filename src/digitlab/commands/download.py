"""`digitlab download`: fetch MNIST's four original files from the public mirrors, checked."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "download",
        help="fetch the original MNIST files from the public mirrors",
        description="Fetch MNIST's four .gz files, trying each mirror in turn, and check the "
        "SHA-256 of their decompressed bytes. digitlab already ships them; this checks a copy "
        "against the originals or gives you the files themselves.",
    )
    parser.add_argument("--dest", help="folder to write them to (default: under the cache folder)")
    parser.add_argument(
        "--mirror",
        action="append",
        metavar="URL",
        help="a mirror's base URL, tried in the order given (repeatable; default: the public ones)",
    )
    parser.add_argument(
        "--timeout", type=float, default=30.0, help="seconds of silence before the next mirror"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from digitlab.console import console
    from digitlab.data.download import MIRRORS, download
    from digitlab.errors import DigitlabError

    if args.timeout <= 0:
        raise DigitlabError(f"--timeout must be more than 0 seconds, not {args.timeout}")
    dest = download(args.dest, args.mirror or MIRRORS, args.timeout)
    console.print(f"done; load them with --dataset {dest}", soft_wrap=True)
    print(dest)
    return 0
