"""What a checkpoint's config.json may hold: every field's type, range and size.

A model folder is untrusted input. `check_config` runs on the parsed JSON before anything is built
from it, so that a network width of 1e15 or a string where a number belongs is one line naming the
field instead of an allocator's traceback. A method's `config` is held to the specs its dataclass's
fields carry (store/spec.py: the same specs its construction checks), whose ranges are sizes no
digitlab model comes near (a hidden layer of 16,384 units is 64x the book's).

A rule is a function `rule(value, field)` that raises `Invalid(field, why)`.
"""

from __future__ import annotations

import math
import reprlib
from collections.abc import Callable

from digitlab.classifiers.cnn.config import CNNConfig
from digitlab.classifiers.configs import LinearConfig, PixelConfig, ResNet18Config, SimpleNetConfig
from digitlab.store import spec
from digitlab.trust.calibration import MAX_TEMPERATURE, MIN_TEMPERATURE
from digitlab.trust.gate_config import GateConfig
from digitlab.trust.piece_config import PieceConfig
from digitlab.vision.strip_config import StripConfig

Rule = Callable[[object, str], None]
DTYPES = ("float32", "float64", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint8", "bool")


class Invalid(Exception):
    def __init__(self, field: str, why: str):
        super().__init__(f"{field} {why}")
        self.field, self.why = field, why


def whole(lo: int, hi: int, none: bool = False) -> Rule:
    def rule(value, field):
        if value is None and none:
            return
        if type(value) is not int or not lo <= value <= hi:  # bool is an int subclass: refused here
            raise Invalid(field, f"is {_short(value)}; it must be a whole number from {lo} to {hi:,}"
                          + (" or null" if none else ""))
    return rule


def number(lo: float, hi: float, none: bool = False, above: bool = False) -> Rule:
    """A finite number in [lo, hi] ((lo, hi] with `above`)."""
    def rule(value, field):
        if value is None and none:
            return
        ok = type(value) in (int, float) and math.isfinite(value) and value <= hi
        if not ok or value < lo or (above and value == lo):
            low = f"above {lo:g}" if above else f"from {lo:g}"
            raise Invalid(field, f"is {_short(value)}; it must be a number {low} to {hi:g}"
                          + (" or null" if none else ""))
    return rule


def text(*choices: str, longest: int = 200, none: bool = False) -> Rule:
    def rule(value, field):
        if value is None and none:
            return
        if not isinstance(value, str) or len(value) > longest:
            raise Invalid(field, f"is {_short(value)}; it must be a string of at most {longest} characters")
        if choices and value not in choices:
            raise Invalid(field, f"is {value!r}; it must be one of {', '.join(choices)}")
    return rule


def flag(value, field) -> None:
    if type(value) is not bool:
        raise Invalid(field, f"is {_short(value)}; it must be true or false")


def scalar(value, field) -> None:
    """A history cell: null, true/false, a number, or a short string."""
    if value is None or type(value) in (bool, int, float):
        return
    text(longest=200)(value, field)


def items(rule: Rule, most: int, least: int = 0) -> Rule:
    def check(value, field):
        if not isinstance(value, list) or not least <= len(value) <= most:
            raise Invalid(field, f"is {_short(value)}; it must be a list of {least} to {most:,} items")
        for i, item in enumerate(value):
            rule(item, f"{field}[{i}]")
    return check


def mapping(rule: Rule, most: int) -> Rule:
    """An object of any keys (strings of at most 200 characters), each value under `rule`."""
    def check(value, field):
        if not isinstance(value, dict) or len(value) > most:
            raise Invalid(field, f"is {_short(value)}; it must be an object of at most {most:,} entries")
        for key, item in value.items():
            if len(key) > 200:
                raise Invalid(field, f"has a key of {len(key):,} characters; at most 200")
            rule(item, f"{field}.{key}")
    return check


def record(fields: dict[str, Rule], required: tuple[str, ...] = ()) -> Rule:
    """An object of these keys only; the `required` ones must be there (others may be left out:
    an older checkpoint lacks the newer fields, which take their defaults)."""
    def check(value, field):
        if not isinstance(value, dict):
            raise Invalid(field, f"is {_short(value)}; it must be an object")
        unknown = sorted(set(value) - set(fields))
        missing = [k for k in required if k not in value]
        if unknown or missing:
            what = f"has unknown key(s) {', '.join(map(repr, unknown[:5]))}" if unknown else \
                f"is missing {', '.join(missing)}"
            raise Invalid(field, what)
        for key, item in value.items():
            fields[key](item, f"{field}.{key}" if field else key)
    return check


def state_tree(depth: int = 12, most: int = 10_000) -> Rule:
    """The optimiser state as classifiers.state.split_state writes it: {"dict": [[key, tree], ...]},
    {"list": [tree, ...]}, {"tensor": name} or {"value": scalar}, at most `depth` levels deep."""
    def check(value, field, level=0):
        if level > depth:
            raise Invalid(field, f"is nested more than {depth} levels deep")
        if not isinstance(value, dict) or len(value) != 1:
            raise Invalid(field, f"is {_short(value)}; it must be an object with one key")
        (kind, inner), = value.items()
        if kind == "tensor":
            return text(longest=200)(inner, f"{field}.tensor")
        if kind == "value":
            return scalar(inner, f"{field}.value")
        if kind not in ("dict", "list") or not isinstance(inner, list) or len(inner) > most:
            raise Invalid(field, f"holds {kind!r}; it must be one of dict, list, tensor, value")
        for i, item in enumerate(inner):
            if kind == "dict":
                if not isinstance(item, list) or len(item) != 2 or type(item[0]) not in (str, int):
                    raise Invalid(f"{field}.dict[{i}]", "must be a [key, value] pair")
                item = item[1]
            check(item, f"{field}.{kind}[{i}]", level + 1)
    return check


def _short(value) -> str:
    """The value as it reads in JSON, cut to 40 characters."""
    short = reprlib.Repr()  # Python 3.11's Repr takes no keyword arguments
    short.maxstring, short.maxother, short.maxlist, short.maxdict, short.maxlevel = 40, 40, 4, 3, 2
    shown = short.repr(value)
    return {"None": "null", "True": "true", "False": "false"}.get(shown, shown)


def config_rule(config_class) -> Rule:
    """The rule for a saved config of `config_class`: each field held to its own spec (store/spec.py),
    the same specs the config's construction checks; a key the class lacks is refused, and one it
    has but the file lacks (saved before the field existed) takes the field's default on load."""
    def field_rule(field_spec: spec.Spec) -> Rule:
        def rule(value, field):
            why = spec.problem(field_spec, value)
            if why is not None:
                raise Invalid(field, why)
        return rule
    return record({name: field_rule(s) for name, s in spec.specs(config_class).items()})


RECIPE = config_rule(CNNConfig)  # the recipe a cnn saved before it had one config stores beside it

# The `config` object, per method: built from each method's config dataclass.
CONFIGS = {"pixel": config_rule(PixelConfig), "linear": config_rule(LinearConfig),
           "simple_net": config_rule(SimpleNetConfig), "cnn": RECIPE, "resnet18": config_rule(ResNet18Config),
           "gate": config_rule(GateConfig),  # gate: the network that says digit, not a digit or several digits
           "pieces": config_rule(PieceConfig),  # pieces: the judge of the cutter's pieces (trust/pieces.py)
           "strips": config_rule(StripConfig)}  # strips: the reader of a group of ink (vision/strip_reading.py)

# A cnn saved before it had one config (classifiers/upgrade.py reads it): these settings under
# "config", and the recipe it trained with under "recipe".
OLD_CNN = record({"arch": text("fast", "resnet18"), "preset": text(longest=40),
                  "epochs": whole(1, 100_000, none=True), "lr": number(0, 1e6, none=True, above=True),
                  "batch_size": whole(1, 1 << 20, none=True), "seed": whole(0, spec.MAX_SEED)})

TOP = record({
    "format": text(longest=40),
    "digitlab_version": text(longest=40),
    "method": text(*CONFIGS),
    "classes": items(whole(0, 9), most=10, least=2),
    "config": lambda value, field: None,  # checked by its method's rule, once the method is known
    "normalisation": text(longest=500),
    "data": mapping(whole(0, 10**10), most=8),
    "accuracy": number(0, 1, none=True),
    "history": items(mapping(scalar, most=32), most=100_000),
    "training": record({"epoch": whole(-1, 100_000), "optimizer": state_tree()}),
    "recipe": RECIPE,  # only in a cnn saved before it had one config (OLD_CNN)
    # Classifier.calibrate's record; absent in a checkpoint never calibrated (T = 1).
    "calibration": record({"temperature": number(MIN_TEMPERATURE, MAX_TEMPERATURE),
                           "images": whole(1, 10**10), "ece_before": number(0, 1, none=True),
                           "ece_after": number(0, 1, none=True)}, required=("temperature",)),
    "tensors": mapping(record({"shape": items(whole(0, 1 << 31), most=8), "dtype": text(*DTYPES)},
                              required=("shape", "dtype")), most=10_000),
}, required=("format", "method", "classes", "config", "tensors"))


def check_config(config) -> None:
    """Raise Invalid naming the first field of a parsed config.json that breaks its rule."""
    TOP(config, "")
    method, settings = config["method"], config["config"]
    old_cnn = method == "cnn" and isinstance(settings, dict) and "arch" in settings
    (OLD_CNN if old_cnn else CONFIGS[method])(settings, "config")
    classes = config["classes"]
    if sorted(set(classes)) != classes:
        raise Invalid("classes", f"is {classes}; it must list distinct digits in increasing order")
