"""Calibration error (ECE, 15 bins) of each model before and after temperature scaling, on MNIST's
test set and the stress set.

The temperature is fitted on held-out training digits only (heldout.CALIBRATION), never on the test
set, the stress set or heldout.CORRUPTION; "+ augmented" adds the same held-out digits once more
under the cnn recipe's own training augmentation (augment.augmented, the medium preset's, seeded), a
stand-in for other people's digits.

    python benchmarks/calibration.py                  # the four shipped models
    python benchmarks/calibration.py --fresh cnn      # a fast cnn trained here on the fit part (seed 0)
    python benchmarks/calibration.py --fresh linear,simple_net,pixel,cnn

The shipped models trained on all 60,000 training digits, the held-out ones included: their figures
are provisional until `python -m digitlab.pretrained` rebuilds them on the fit part.
"""

from __future__ import annotations

import argparse
import time

import torch

from digitlab import classifiers, metrics, pretrained, service
from digitlab.classifiers.cnn import presets, augment
from digitlab.compare.config import CompareConfig
from digitlab.data import datasets, heldout
from digitlab.trust import calibration


def held_out_sets(seed: int = 0) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """The calibration digits as they are, and the same digits under the cnn's augmentation."""
    train = datasets.load("mnist", "train", dtype=torch.float32)
    _, held = heldout.split(train, "mnist")
    generator = torch.Generator().manual_seed(seed)
    warped = augment.augmented(held.images, presets.preset("medium"), generator)
    return {"held-out": (held.images, held.labels),
            "held-out + augmented": (torch.cat([held.images, warped]), torch.cat([held.labels, held.labels]))}


def errors(clf, scores: dict, labels: dict, temperature: float) -> dict[str, float]:
    out = {}
    for name in ("test", "stress"):
        right = torch.searchsorted(clf.classes_, labels[name])
        out[name] = metrics.expected_calibration_error(calibration.probabilities(scores[name] / temperature), right)
    return out


def measure(name: str, clf, sets: dict, test, shaken) -> None:
    start = time.perf_counter()
    scores = {"test": clf.logits(test.images).double(), "stress": clf.logits(shaken.images).double()}
    labels = {"test": test.labels, "stress": shaken.labels}
    before = errors(clf, scores, labels, 1.0)
    print(f"{name:<22} T = 1 (as trained)           ECE test {before['test']:6.2%}  stress {before['stress']:6.2%}")
    for kind, (x, y) in sets.items():
        held_scores = clf.logits(x).double()
        t = calibration.fit_temperature(held_scores, torch.searchsorted(clf.classes_, y))
        after = errors(clf, scores, labels, t)
        print(f"{'':<22} {kind:<21} T = {t:5.3f}  ECE test {after['test']:6.2%}  stress {after['stress']:6.2%}")
    print(f"{'':<22} ({time.perf_counter() - start:.0f} s)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fresh", help="train these methods on the fit part here instead of the shipped models")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    test, shaken = datasets.load("mnist", "test"), datasets.load("stress", "valid")
    sets = held_out_sets(args.seed)
    if not args.fresh:
        for method in pretrained.RECIPES:
            measure(f"shipped {method}", pretrained.load(method), sets, test, shaken)
        return
    fit, _ = heldout.split(datasets.load("mnist", "train"), "mnist")
    plans = CompareConfig()
    for method in args.fresh.split(","):
        start = time.perf_counter()
        clf = service.make(method, seed=args.seed, **plans.plan(method))  # the cnn's plan names its preset
        clf.fit(fit.images, fit.labels, progress=False)
        print(f"{method}: trained on {len(fit.labels):,} fit digits in {time.perf_counter() - start:.0f} s, "
              f"MNIST test {clf.score(test.images, test.labels):.2%}")
        measure(f"fresh {method}", clf, sets, test, shaken)


if __name__ == "__main__":
    main()
