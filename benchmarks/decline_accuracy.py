"""How often digitlab declines, and what it answers: on the test non-digits (nondigits.py's test set,
by category) the share declined; on the stress set, the corruption set (as predict reads it) and
MNIST's test set (report only) the share of single digits still answered, and the accuracy of those
answered. Every shipped model, with the
shipped gate (or the one saved in the folder --gate names) and decline.UNSURE; nothing here chooses
anything.

    python benchmarks/decline_accuracy.py [--gate FOLDER]
"""

from __future__ import annotations

import argparse
import collections

import numpy as np
import torch

from digitlab import pretrained
from digitlab.data import corrupted, datasets, nondigits, stress
from digitlab.trust import decline, gate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gate", help="a gate's folder (gate.save), instead of the shipped gate")
    folder = parser.parse_args().gate
    chosen = gate.load(folder) if folder else None  # None: decline.screen takes the shipped gate
    test = datasets.load("nondigits", "valid", dtype=torch.float32)
    shaken = datasets.load("stress", "valid", dtype=torch.float32)
    mnist = datasets.load("mnist", "test", dtype=torch.float32)
    damaged = datasets.load("corrupted", "valid", dtype=torch.float32)  # as predict reads them
    screened = {name: decline.screen(d.images, chosen) for name, d in
                (("nondigits", test), ("stress", shaken), ("mnist", mnist), ("corrupted", damaged))}
    kinds = nondigits.category_of(test.index.numpy())
    print("| model | " + " | ".join(nondigits.CATEGORIES) + " | all non-digits | stress answered | "
          "stress accuracy of answered | MNIST test answered | MNIST accuracy of answered | corruption set "
          "answered | corruption set accuracy of answered |")
    print("|---" * (len(nondigits.CATEGORIES) + 8) + "|")
    for method in pretrained.RECIPES:
        clf = pretrained.load(method)
        cells = []
        why = decline.reasons(test.images, clf.predict_proba(test.images), method, screened=screened["nondigits"])
        declined = np.array([w is not None for w in why])
        for c in nondigits.CATEGORIES:
            cells.append(f"{declined[kinds == c].mean():.1%}")
        cells.append(f"{declined.mean():.1%}")
        reasons_seen = collections.Counter(w for w in why if w)
        for name, d in (("stress", shaken), ("mnist", mnist), ("corrupted", damaged)):
            proba = clf.predict_proba(d.images).float()
            answered = torch.tensor([w is None for w in decline.reasons(d.images, proba, method, screened=screened[name])])
            right = clf.classes_[proba.argmax(1)] == d.labels
            cells += [f"{answered.float().mean():.2%}", f"{right[answered].float().mean():.2%}"]
            if name == "stress":
                by = stress.category_of(d.index.numpy())
                per = {c: f"{answered[torch.from_numpy(by == c)].float().mean():.2%}" for c in stress.CATEGORIES}
            if name == "corrupted":
                kind = corrupted.kind_of(d.index.numpy())
                held = torch.from_numpy(np.isin(kind, list(corrupted.HELD_OUT_KINDS)))
                split = {"seen kinds": f"{answered[~held].float().mean():.2%}",
                         "held-out kinds": f"{answered[held].float().mean():.2%}"}
        print(f"| {method} | " + " | ".join(cells) + " |", flush=True)
        print(f"<!-- {method}: reasons on the non-digits {dict(reasons_seen)}; stress answered by category {per}; "
              f"corruption set answered {split} -->")


if __name__ == "__main__":
    main()
