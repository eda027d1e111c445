"""Which reason declines damaged held-out digits, and how many of the training generator's held-out
non-digits a gate declines: what gate levers are chosen on (issue 30, part 4). Never the corruption
set, its held-out kinds, MNIST test or the test non-digits.

Each set is MNIST calibration digits (heldout.CALIBRATION) damaged and read as `digitlab predict`
reads them (trust/gate_digits.py), but "seen, as tensors", the corruption set's seen kinds as the gate's
threshold was chosen on them until 2026-12-07 (corrupted.tuning_set, input_cleaning only). For each
gate: the share the gate declines ("not a digit", "several digits"), then the share each shipped model
calls "unsure" (decline.UNSURE), and by kind for the seen and own kinds.

    python benchmarks/gate_damage.py [--gate FOLDER ...] [--methods cnn linear]
"""

from __future__ import annotations

import argparse
import collections

import numpy as np
import torch

from digitlab import pretrained
from digitlab.data import corrupted, damage, nondigits, own_damage
from digitlab.data.shipped_mnist import mnist_arrays
from digitlab.trust import decline, gate, gate_digits, gate_training


def choice_sets() -> dict[str, tuple[torch.Tensor, np.ndarray]]:
    """{name: ((n, 28, 28) float images as the gate judges them, (n,) kind names)}."""
    from digitlab.trust.gate_config import CHOICE_PICKS

    mnist, labels = mnist_arrays("train")
    raw, _ = corrupted.tuning_set((mnist, labels))
    seen = [k for k in damage.NAMES if k not in damage.HELD_OUT_KINDS]
    sets = {"seen, as tensors": (gate_training.as_read(raw), np.repeat(seen, 100))}
    for kind, (picks, seed) in CHOICE_PICKS.items():
        images = gate_digits.read_damaged(mnist, picks, kind, seed)
        names = {"seen": np.resize(seen, len(picks)), "own": np.resize(own_damage.NAMES, len(picks))}
        sets[f"{kind}, as read"] = (images, names.get(kind, np.full(len(picks), kind)))
    choice = range(nondigits.CHOICE_FROM, nondigits.CHOICE_FROM + nondigits.PER_CATEGORY)
    draws = gate_training.as_read(nondigits.cached("choice", "train", choice, mnist))
    sets["held-out draws"] = (draws, np.repeat(nondigits.CATEGORIES, nondigits.PER_CATEGORY))
    return {name: (torch.from_numpy(x).float() / 255, kinds) for name, (x, kinds) in sets.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gate", nargs="*", default=[], help="gates' folders; the shipped gate when none")
    parser.add_argument("--methods", nargs="*", default=list(pretrained.RECIPES))
    args = parser.parse_args()
    sets = choice_sets()
    models = {m: pretrained.load(m) for m in args.methods}
    for folder in args.gate or [None]:
        chosen = gate.load(folder) if folder else gate.shipped()
        print(f"\n## gate {folder or 'shipped'}: threshold {chosen.config.threshold:.4f}")
        for name, (x, kinds) in sets.items():
            screened = decline.screen(x, chosen)
            stopped = np.array([s is not None for s in screened])
            counts = collections.Counter(s for s in screened if s)
            line = f"{name} ({len(x):,}): gate declines {stopped.mean():.2%} {dict(counts)}"
            if name != "held-out draws":
                for method, clf in models.items():
                    why = decline.reasons(x, clf.predict_proba(x), method, screened=screened)
                    unsure = np.array([w == decline.UNSURE_REASON for w in why])
                    line += f"; {method} unsure {unsure.mean():.2%}, answered {1 - stopped.mean() - unsure.mean():.2%}"
            print(line)
            if name in ("seen, as read", "own, as read", "held-out draws"):
                print("   by kind, gate declines: " + ", ".join(
                    f"{k} {stopped[kinds == k].mean():.1%}" for k in dict.fromkeys(kinds)), flush=True)


if __name__ == "__main__":
    main()
