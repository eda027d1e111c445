"""Checkpoints written before each method had one config, read into today's form on load.

Until then a cnn checkpoint stored `CNNSettings` under "config" (arch, preset, and epochs, lr and
batch_size where given, else None, and seed) and, for arch "fast", the recipe it trained with
under "recipe". The models shipped in src/digitlab/pretrained/ are of that form, and so is every
cnn saved before; tests/fixtures/cnn-saved-before-one-config is one.
"""

from __future__ import annotations

import dataclasses

from digitlab.classifiers.cnn import presets


def upgraded(saved: dict) -> dict:
    """A parsed config.json in today's form: a fast cnn's config is its recipe (the one it trained
    with, or for the oldest, which stored none, its preset as it is today); arch "resnet18" is the
    resnet18 method."""
    old = saved["config"]
    if saved["method"] != "cnn" or "arch" not in old:
        return saved
    given = {k: old[k] for k in ("epochs", "lr", "batch_size") if old.get(k) is not None}
    rest = {k: v for k, v in saved.items() if k != "recipe"}
    if old["arch"] == "resnet18":
        return {**rest, "method": "resnet18", "config": {"seed": old["seed"], **given}}
    if "recipe" in saved:
        config = {**saved["recipe"], "seed": old["seed"], **given}
    else:
        config = dataclasses.asdict(presets.preset(old["preset"], seed=old["seed"], **given))
    return {**rest, "config": config}
