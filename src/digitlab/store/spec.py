"""One spec per setting: each config field's type, range (or choices), unit and help, in one place.

A config is a dataclass whose fields are `setting(...)`s. From their specs come the construction
check (`check`: one DigitlabError line naming the field, its value and what it may be), the rule a
saved config.json is held to on load (schema.config_rule) and the command line's option types
(`argument_type`). Rules that tie two fields together (stretch needs deskew, an even crop) stay
small explicit checks in the config's own __post_init__, after `check`.

The settings several methods share (epochs, lr, batch_size, seed) are specs here, so that the
commands can read them without importing a method (and torch).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from dataclasses import dataclass

from digitlab.errors import DigitlabError

MAX_SEED = 2**63 - 1  # what torch.manual_seed and numpy's SeedSequence take


@dataclass(frozen=True)
class Spec:
    kind: type  # int, float, bool or str
    low: float | None = None  # the smallest value allowed (numbers)
    high: float | None = None  # the largest value allowed (numbers)
    above: bool = False  # the value must be more than `low`, not equal to it
    below: bool = False  # the value must be less than `high`, not equal to it
    choices: tuple[str, ...] = ()  # the strings allowed (str)
    none: bool = False  # None is allowed too (it means: decided by the data, e.g. simple_net's hidden)
    unit: str = ""  # what one unit of the value is: "images", "pixels", "degrees", "share of the images"
    help: str = ""  # what the setting does, one line

    def allowed(self) -> str:
        """What the value may be, as the error messages say it."""
        if self.kind is bool:
            what = "true or false"
        elif self.kind is str:
            what = f"one of {', '.join(self.choices)}"
        else:
            noun = "a whole number" if self.kind is int else "a number"
            low = f"above {_number(self.low)}" if self.above else f"from {_number(self.low)}"
            high = f"below {_number(self.high)}" if self.below else f"to {_number(self.high)}"
            what = f"{noun} {low} {high}" if low.startswith("from") and high.startswith("to") else \
                f"{noun} {low}, {high.replace('to ', 'at most ')}"
        return what + (" or null" if self.none else "")

    def fits(self, value) -> bool:
        if value is None:
            return self.none
        if self.kind in (bool, str):
            return type(value) is self.kind and (not self.choices or value in self.choices)
        kinds = (int,) if self.kind is int else (int, float)  # bool is an int subclass: refused here
        if type(value) not in kinds or not math.isfinite(value):
            return False
        too_low = value <= self.low if self.above else value < self.low
        too_high = value >= self.high if self.below else value > self.high
        return not (too_low or too_high)


def _number(x: float) -> str:
    return f"{int(x):,}" if float(x).is_integer() else f"{x:g}"


def setting(default, spec: Spec | None = None, *, kind: type | None = None, range: tuple | None = None,
            above: bool = False, below: bool = False, choices: tuple[str, ...] = (), none: bool = False,
            unit: str = "", help: str = ""):
    """A config field with its spec: `lr: float = setting(0.1, range=(0, 10), above=True, help=...)`,
    or a shared spec with its own help: `epochs: int = setting(10, EPOCHS, help=...)`. The kind is
    the default's type unless given (an Optional default: give kind)."""
    if spec is None:
        low, high = range if range is not None else (None, None)
        spec = Spec(kind or type(default), low, high, above, below, tuple(choices), none, unit, help)
    elif help or unit:
        spec = dataclasses.replace(spec, help=help or spec.help, unit=unit or spec.unit)
    if not spec.fits(default):
        raise ValueError(f"default {default!r} is outside its own spec ({spec.allowed()})")  # a bug in digitlab
    return dataclasses.field(default=default, metadata={"spec": spec})


def specs(config_class) -> dict[str, Spec]:
    """Each field's spec, in field order; a field declared without `setting` is a bug, named here."""
    found = {}
    for field in dataclasses.fields(config_class):
        if "spec" not in field.metadata:
            raise TypeError(f"{config_class.__name__}.{field.name} has no spec; declare it with setting()")
        found[field.name] = field.metadata["spec"]
    return found


def problem(spec: Spec, value) -> str | None:
    """Why `value` breaks `spec` (None when it fits), as `is <value>; it must be <allowed>`."""
    if spec.fits(value):
        return None
    return f"is {_shown(value)}; it must be {spec.allowed()}"


def check(config, owner: str) -> None:
    """Every field of `config` within its spec, or one DigitlabError line naming the first that is not."""
    for name, spec in specs(type(config)).items():
        why = problem(spec, getattr(config, name))
        if why is not None:
            raise DigitlabError(f"{owner}: {name} {why}")


def require(ok: bool, owner: str, message: str) -> None:
    """A rule between fields (stretch needs deskew): a DigitlabError naming them when it is broken."""
    if not ok:
        raise DigitlabError(f"{owner}: {message}")


def argument_type(spec: Spec, option: str):
    """An argparse `type` for a command-line option of this spec: its text parsed as the kind and held
    to the range, argparse's one-line error otherwise."""
    def parse(text: str):
        try:
            value = spec.kind(text)
        except ValueError:
            value = text
        if not spec.fits(value):
            raise argparse.ArgumentTypeError(f"{text!r}: give {spec.allowed()}")
        return value
    parse.__name__ = option  # argparse names the option's type in its messages
    return parse


def _shown(value) -> str:
    text = repr(value) if not isinstance(value, str) else repr(value[:40])
    return {"None": "null", "True": "true", "False": "false"}.get(text, text[:60])


# The settings several methods share: one range each, so the commands' options check what every
# method's config checks.
EPOCHS = Spec(int, 1, 100_000, unit="passes over the training images", help="epochs in all")
LR = Spec(float, 0, 1e6, above=True, unit="per step", help="learning rate")
BATCH_SIZE = Spec(int, 1, 1 << 20, unit="images", help="images per step")
SEED = Spec(int, 0, MAX_SEED, help="seeds every random choice")
SHARE = Spec(float, 0, 1, unit="share of the training images")
