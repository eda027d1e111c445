"""The `digitlab` command: one argparse parser, one module per subcommand in `digitlab.commands`.

Each command module defines `add_parser(subparsers)` and `run(args) -> int`, and imports torch only
inside `run`, so that `digitlab --help` stays fast. A `DigitlabError` (a user's mistake) prints as
one line and exits 2; Ctrl-C exits 130; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings

from digitlab import __version__

# Subcommands in the order `digitlab --help` lists them; each is digitlab.commands.<name>.
COMMANDS = ["compare", "train", "evaluate", "predict", "serve", "data", "export", "download"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="digitlab",
        description="Handwritten-digit classification from scratch, after fastai's chapter 4.",
    )
    parser.add_argument("--version", action="version", version=f"digitlab {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"digitlab.commands.{name}").add_parser(subparsers)
    return parser


def _one_line_warnings(message, category, filename, lineno, file=None, line=None):
    print(f"digitlab: warning: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    from digitlab.errors import DigitlabError, DigitlabWarning

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 0
    warnings.showwarning = _one_line_warnings
    warnings.simplefilter("always", DigitlabWarning)
    try:
        return int(args.run(args) or 0)
    except DigitlabError as err:
        print(f"digitlab: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("digitlab: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
