"""A model card: the README.md in every saved model folder, what a person reads and a model hub parses.

Built from two things only: the checkpoint's config (what the model is, every setting it trained
with, its calibration, the accuracy fit measured) and the figures measured on test digits
(`service.figures`: the test set, the stress set, the corruption set; what `digitlab evaluate`
prints). Nothing in it is written by hand about a model: "known to misread" names the commonest
confusions, the worst stress category and the worst kinds of damage measured. A figure not measured
yet is said to be missing, with the command that measures it (`digitlab evaluate FOLDER --card`).

The card opens with the YAML header model hubs read (store/hub_header.py). `checkpoint.save` writes
it inside the same save as the weights, so a folder never holds a card of other weights.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from digitlab.store import hub_header
from digitlab.store.files import atomic_write

README = "README.md"
SETS = ("test", "stress", "corrupted")  # the figures a card can carry, in the order it shows them
TEN = list(range(10))
WORST_KINDS = 3  # kinds of damage named under "known to misread"
FILL = "`digitlab evaluate FOLDER --card`"  # what measures every missing figure and writes the card again

WHAT = {  # each method in one sentence
    "pixel": "pixel similarity (an image is read as the digit whose ideal images, the class's mean or the "
             "means of groups of alike digits, it is closest to by root-mean-square distance)",
    "linear": "a linear model (one weight a pixel for each digit and a bias), trained by stochastic gradient descent",
    "simple_net": "the book's simple net (two linear layers with a ReLU between them), trained by stochastic "
                  "gradient descent",
    "cnn": "a small residual convolutional network (digitlab's cnn), trained on augmented digits",
    "resnet18": "the book's ResNet-18, trained with the one-cycle schedule",
}
SET_WORDS = {
    "stress": "the stress set: 5,000 digits that are not MNIST's (typed in fonts, drawn with a pen, "
              "photographed, scanned small)",
    "corrupted": "the corruption set: 1,000 MNIST training digits no model trains on (59,000-59,999), "
                 "each damaged 21 ways (noise, blur, warps, light, lines, occlusion...), as predict reads them",
}


@dataclass(frozen=True)
class Card:
    """What a card says beyond the config: the dataset the model trained on (a name digitlab knows, or
    a folder's name; None: not known), the figures measured, by set (SETS: service.figures' records),
    and a note shown under the title (a quick compare's: smoke figures)."""

    training_data: str | None = None
    figures: dict[str, dict] = field(default_factory=dict)
    note: str | None = None


def training_data_name(dataset: str) -> str:
    """A `--dataset` as a card names it: a dataset digitlab knows as it is, a folder by its own name
    only (a card is shared; the path is the trainer's machine's)."""
    return dataset if "/" not in dataset and "\\" not in dataset else Path(dataset).name or dataset


def text(config: dict, card: Card) -> str:
    """The whole README.md: the hub's header, then the card, from a checkpoint's config (as
    config.json holds it) and `card`. The card names its own folder FOLDER: it travels."""
    figures = _with_fit_figure(config, card)
    body = [*_about(config, card), *_training(config, card), *_figures(config, figures),
            *_misreadings(figures), *_licence(card), *_files()]
    return hub_header.front_matter(config, card.training_data, figures) + "\n".join(body) + "\n"


def write(folder: Path, written: str) -> None:
    """The card alone written again into `folder` (atomically: the folder always holds a whole card)."""
    with atomic_write(Path(folder) / README) as f:
        f.write(written.encode())


HEADER_BYTES = 64 << 10  # where a card's header must end: a digitlab header is under 4 KB, and a model folder is untrusted


def training_data(folder: Path) -> str | None:
    """The training data a card already in `folder` names (None: no card, or no plain name in its header)."""
    path = Path(folder) / README
    if not path.is_file():
        return None
    with open(path, "rb") as f:
        head = f.read(HEADER_BYTES).decode(errors="replace")
    for line in head.splitlines():
        if line.startswith(f"{hub_header.TRAINING_DATA}: "):
            try:
                named = json.loads(line.split(": ", 1)[1])
            except json.JSONDecodeError:
                return None
            plain = isinstance(named, str) and 0 < len(named) <= 200 and named.isprintable() and "`" not in named
            return named if plain else None
    return None


def _with_fit_figure(config: dict, card: Card) -> dict[str, dict]:
    """The card's figures, and where the test set was not measured, the accuracy fit measured after
    its last epoch on the images it validated on (train: the dataset's test images)."""
    figures = dict(card.figures)
    if "test" not in figures and config.get("accuracy") is not None and card.training_data:
        figures["test"] = {"dataset": card.training_data, "images": (config.get("data") or {}).get("n_valid"),
                           "accuracy": config["accuracy"], "by_fit": True}
    return figures


def task_words(classes: list[int]) -> str:
    return "the ten digits" if classes == TEN else " vs ".join(map(str, classes))


def percent(value: float) -> str:
    """A fraction as `digitlab evaluate` prints it: 0.9623 -> "96.23%"."""
    return f"{value:.2%}"


def _about(config: dict, card: Card) -> list[str]:
    method, classes = config["method"], config["classes"]
    weights = sum(_count(spec["shape"]) for name, spec in config.get("tensors", {}).items()
                  if not name.startswith("optimizer"))
    calibrated = "calibrated (softmax of the scores over a temperature)" if config.get("calibration") else \
        "the model's own (not calibrated)"
    return [f"# digitlab {method}: {task_words(classes)}", "",
            "It reads a 28 x 28 image of one handwritten digit and says which digit it shows. "
            f"Method: {WHAT.get(method, method)}. Trained and saved by digitlab {config.get('digitlab_version', '?')}.", "",
            *([f"**Note: {card.note}.**", ""] if card.note else []),
            "| | |", "| --- | --- |",
            f"| method | `{method}` |", f"| digits it knows | {', '.join(map(str, classes))} |",
            f"| numbers in its weights | {weights:,} |", f"| input | {config.get('normalisation', '?')} |",
            f"| output | a probability for each digit it knows, {calibrated} |", ""]


def _count(shape: list[int]) -> int:
    total = 1
    for n in shape:
        total *= n
    return total


def _training(config: dict, card: Card) -> list[str]:
    data, history = config.get("data") or {}, config.get("history") or []
    source = f"`{card.training_data}`" if card.training_data else "a dataset this card was not told"
    calibration = config.get("calibration")
    lines = ["## How it was trained", "",
             f"- Data: {source}, {data.get('n_train', 0):,} training images{_copies(config)}.",
             _epochs(config["config"], history)]
    if calibration:
        lines.append(f"- Calibration: temperature {calibration['temperature']:.3f}, fitted on "
                     f"{calibration.get('images', 0):,} held-out images; their calibration error (ECE) "
                     + (f"{percent(calibration['ece_before'])} before, {percent(calibration['ece_after'])} after."
                        if calibration.get("ece_before") is not None else "not recorded."))
    else:
        lines.append("- Calibration: none (temperature 1): the dataset had no held-out images to fit one on.")
    lines += ["", "Every setting it trained with (config.json's `config`; `digitlab train --help` and the "
              "method's config class say what each means):", "", "| setting | value |", "| --- | --- |"]
    lines += [f"| `{name}` | {json.dumps(value)} |" for name, value in config["config"].items()]
    return lines + [""]


# Each kind of damaged copy (train/clutter.py's COPIES, in its order) as a card says it
COPY_WORDS = {"lines": "crossed by lines", "smear": "smeared", "turn": "turned", "outline": "outlined"}


def _copies(config: dict) -> str:
    """", and N damaged copies of some of them (...)" where the model also trained on cluttered copies
    (the config's shares of its digits, each added once more, damaged)."""
    count = (config.get("data") or {}).get("n_copies")
    if not count:
        return ""
    settings = config["config"]
    kinds = ", ".join(f"{settings[name]:.0%} {words}" for name, words in COPY_WORDS.items() if settings.get(name))
    return f", and {count:,} damaged copies of some of them ({kinds})"


def _epochs(settings: dict, history: list[dict]) -> str:
    if "epochs" not in settings:
        return "- Fitted in one pass over the training images (the method has no epochs)."
    loss = history[-1].get("train_loss") if history else None
    return f"- Epochs trained: {len(history)}" + (f"; the last one's training loss {loss:.4f}." if loss is not None else ".")


def _set_name(name: str, figure: dict) -> str:
    if name in ("stress", "corrupted"):
        return {"stress": "stress set", "corrupted": "corruption set"}[name]
    return f"`{figure['dataset']}` test images"


def _figures(config: dict, figures: dict[str, dict]) -> list[str]:
    lines = ["## How well it reads", "", "| digits | images | accuracy | calibration error (ECE, 15 bins) |",
             "| --- | --- | --- | --- |"]
    for name in SETS:
        if name in figures:
            f = figures[name]
            ece = percent(f["ece"]) if f.get("ece") is not None else "not measured yet"
            count = f"{f['images']:,}" if f.get("images") is not None else "?"
            lines.append(f"| {_set_name(name, f)} | {count} | {percent(f['accuracy'])} | {ece} |")
    lines.append("")
    if figures.get("test", {}).get("by_fit"):
        lines += ["The test accuracy is the one training measured after its last epoch.", ""]
    for name in ("stress", "corrupted"):
        if name in figures:
            parts = figures[name].get("by_category") or figures[name].get("by_kind") or {}
            lines += [f"On {SET_WORDS[name]}: " + ", ".join(f"{k} {percent(v)}" for k, v in parts.items()) + ".", ""]
    missing = [name for name in SETS if name not in figures or figures[name].get("ece") is None]
    if config["classes"] != TEN:
        missing = [name for name in missing if name == "test"]
        lines += ["The stress and corruption sets hold all ten digits: a model of fewer is not scored on them.", ""]
    if missing:
        said = {"test": "the test set's calibration error and misreadings", "stress": "the stress set",
                "corrupted": "the corruption set"}
        lines += [f"Not measured yet: {', '.join(said[n] for n in missing)}. {FILL} measures "
                  "them and writes this card again.", ""]
    return lines


def _misreadings(figures: dict[str, dict]) -> list[str]:
    lines = ["## What it is known to misread", ""]
    test = figures.get("test", {})
    for actual, predicted, count in test.get("confusions", []):
        lines.append(f"- It reads {actual} as {predicted} in {count:,} of the {test['images']:,} "
                     f"`{test['dataset']}` test images.")
    if "confusions" in test and not test["confusions"]:
        lines.append(f"- It misread none of the {test['images']:,} `{test['dataset']}` test images.")
    stress = figures.get("stress", {}).get("by_category", {})
    categories = {k: v for k, v in stress.items() if k != "all"}
    if categories:
        worst = min(categories, key=categories.get)
        lines.append(f"- Of the stress set's categories, it reads {worst} worst: {percent(categories[worst])} right.")
    kinds = {k: v for k, v in figures.get("corrupted", {}).get("by_kind", {}).items()
             if k not in ("all", "seen kinds", "held-out kinds")}
    if kinds:
        worst_kinds = sorted(kinds, key=kinds.get)[:WORST_KINDS]
        lines.append("- The damage it reads worst: " + ", ".join(f"{k} ({percent(kinds[k])} right)" for k in worst_kinds) + ".")
    if len(lines) == 2:
        lines.append("- Nothing measured yet (see above).")
    return lines + [""]


def _licence(card: Card) -> list[str]:
    if card.training_data in hub_header.MNIST_DATASETS:
        return ["## Licence", "",
                "The weights were learned from MNIST (Yann LeCun, Corinna Cortes and Christopher J. C. Burges), "
                "which its authors distribute under CC BY-SA 3.0. Whether trained weights are a work adapted "
                "from their data is not settled; digitlab takes the careful reading and offers them under the "
                "same licence, CC BY-SA 3.0, with that attribution (the header's `license`). digitlab itself, "
                "the code that trained them and reads them, is licensed Apache-2.0.", ""]
    return ["## Licence", "",
            "The weights were learned from images digitlab did not ship, so their licence follows those "
            "images' own, which this card cannot know (the header says `other`). digitlab itself, the code "
            "that trained them and reads them, is licensed Apache-2.0.", ""]


def _files() -> list[str]:
    return ["## Files and loading", "",
            "- `model.safetensors`: the weights, as safetensors (tensors only: no pickle anywhere in this folder).",
            "- `config.json`: what rebuilds the model (method, digits, every setting, calibration, history) and "
            "each tensor's shape.",
            "- `README.md`: this card.", "",
            "`digitlab predict FOLDER photo.png` reads an image with it; in Python "
            "`digitlab.service.load(\"FOLDER\")`, or the bare tensors with "
            "`safetensors.torch.load_file(\"FOLDER/model.safetensors\")`."]
