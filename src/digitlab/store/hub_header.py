"""The YAML header a model card opens with, in the form model hubs read (Hugging Face's model cards):
license, tags, the training datasets and `model-index`, each measured set's accuracy and calibration
error as a result.

Written by a small emitter of mappings, lists and scalars, so digitlab needs no YAML library:
strings are JSON-quoted (YAML reads a JSON string as the same string) and numbers positional
(YAML 1.1 readers such as PyYAML take `9e-05` for a string, `0.00009` for a number), each with the
shortest digits that read back as the same float, so a hub reads exactly the figure measured.
"""

from __future__ import annotations

import json
from decimal import Decimal

MNIST_DATASETS = ("mnist", "mnist_sample", "mnist_tiny")  # MNIST and fastai's subsets of it: MNIST's licence
MNIST_LICENCE = "cc-by-sa-3.0"  # the hub's identifier for CC BY-SA 3.0 (card.py's Licence says why the weights carry it)
TASK = {"type": "image-classification", "name": "Image classification"}
ECE_NAME = "Calibration error (ECE, 15 bins)"
TRAINING_DATA = "training_data"  # the header's key for the dataset the model trained on
DATASETS = {  # each set a card can carry as the hub names it: type, name, split
    "mnist": ("mnist", "MNIST", "test"),
    "mnist_sample": ("mnist", "MNIST_SAMPLE (MNIST's 3s and 7s)", "test"),
    "mnist_tiny": ("mnist", "MNIST_TINY (a few of MNIST's 3s and 7s)", "test"),
    "stress": ("digitlab-stress", "digitlab stress set (digits that are not MNIST's)", "test"),
    "corrupted": ("digitlab-corrupted", "digitlab corruption set (MNIST digits damaged 21 ways)", "test"),
}


def front_matter(config: dict, training_data: str | None, figures: dict[str, dict]) -> str:
    """The header, between its two `---` lines, for a checkpoint's config and the figures by set."""
    mnist = training_data in MNIST_DATASETS
    header = {"license": MNIST_LICENCE if mnist else "other", "library_name": "digitlab",
              "pipeline_tag": "image-classification",
              "tags": ["digitlab", config["method"], "handwritten-digits", "image-classification", "safetensors"],
              **({"datasets": ["mnist"]} if mnist else {}),
              "metrics": ["accuracy"],
              TRAINING_DATA: training_data,  # what a card written again reads back (card.training_data)
              # a hub reads a model-index only with results: none measured, none written
              **({"model-index": [{"name": _model_name(config), "results": _results(figures)}]} if figures else {})}
    return "---\n" + "\n".join(lines(header)) + "\n---\n\n"


def _model_name(config: dict) -> str:
    classes = config["classes"]
    task = "0-9" if classes == list(range(10)) else "v".join(map(str, classes))
    return f"digitlab-{config['method']}-{task}"


def _results(figures: dict[str, dict]) -> list[dict]:
    results = []
    for name, figure in figures.items():
        key = name if name in ("stress", "corrupted") else figure["dataset"]
        kind, words, split = DATASETS[key] if key in DATASETS else ("imagefolder", f"{key} (a folder of images)", "test")
        metrics = [{"type": "accuracy", "value": figure["accuracy"], "name": "Accuracy"}]
        if figure.get("ece") is not None:
            metrics.append({"type": "ece", "value": figure["ece"], "name": ECE_NAME})
        results.append({"task": dict(TASK), "dataset": {"type": kind, "name": words, "split": split},
                        "metrics": metrics})
    return results


def lines(value, indent: int = 0) -> list[str]:
    """A mapping or list as YAML block lines, `indent` spaces in."""
    pad = " " * indent
    out = []
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, (dict, list)) and item:
                out += [f"{pad}{key}:", *lines(item, indent + 2)]
            else:
                out.append(f"{pad}{key}: {scalar(item)}")
        return out
    for item in value:
        if isinstance(item, (dict, list)) and item:
            inner = lines(item, indent + 2)
            out += [f"{pad}- {inner[0].lstrip()}", *inner[1:]]
        else:
            out.append(f"{pad}- {scalar(item)}")
    return out


def scalar(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format(Decimal(repr(value)), "f")  # the shortest digits that read back as this float, no exponent
    if isinstance(value, (dict, list)):
        return "{}" if isinstance(value, dict) else "[]"
    return json.dumps(str(value))
