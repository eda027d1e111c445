"""Options that more than one command shares, typed and checked by the settings' specs
(store/spec.py: the ranges every method's config holds them to); argparse turns a value outside
them into its one-line error before anything runs."""

from __future__ import annotations

from digitlab.store import spec


def add_setting(parser, option: str, setting: spec.Spec, *, metavar: str, default=None,
                default_text: str = "the method's own", help: str = "") -> None:
    """`option` (e.g. --epochs) parsed as its spec's kind and held to its range; its help is the
    spec's (or `help`), the range, and what it is when left out."""
    parser.add_argument(option, type=spec.argument_type(setting, option), default=default, metavar=metavar,
                        help=f"{help or setting.help}: {setting.allowed()} (default: {default_text})")


def add_training_settings(parser) -> None:
    """--epochs, --lr and --batch-size: given, they replace the method's own; left out, it keeps them."""
    add_setting(parser, "--epochs", spec.EPOCHS, metavar="N")
    add_setting(parser, "--lr", spec.LR, metavar="LR")
    add_setting(parser, "--batch-size", spec.BATCH_SIZE, metavar="N")


def add_seed(parser) -> None:
    add_setting(parser, "--seed", spec.SEED, metavar="N", default=0, default_text="0")
