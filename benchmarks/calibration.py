"""Calibration error (ECE, 15 bins) of each model before and after temperature scaling, on MNIST's
test set, the stress set and the corruption set (as predict reads it: all of it, its seen kinds, its
held-out kinds).

The temperature is fitted on held-out training digits only (heldout.CALIBRATION), never on the test
set, the stress set or heldout.CORRUPTION: "as shipped" is the one in the model's checkpoint; "held-out
(as calibrate)" fits it again on what `calibrate` is given (heldout.split: the clean digits and every
heldout.DAMAGED_EVERY-th damaged); "clean + augmented" on the clean ones plus the same digits once
more under the cnn recipe's own training augmentation (augment.augmented, the medium preset's,
seeded), a stand-in for other people's digits. Nothing is chosen here: the choice of the damaged
share is benchmarks/calibration_levers.py's, on held-out digits.

    python benchmarks/calibration.py                  # the four shipped models, as shipped and refitted
    python benchmarks/calibration.py --fresh cnn      # a fast cnn trained here on the fit part (seed 0)
    python benchmarks/calibration.py --fresh linear,simple_net,pixel,cnn

The shipped models trained on MNIST's first 55,000 training digits (pretrained.build).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from digitlab import metrics, pretrained, service
from digitlab.classifiers.cnn import presets, augment
from digitlab.compare.config import CompareConfig
from digitlab.data import corrupted, datasets, heldout
from digitlab.trust import calibration


def held_out_sets(seed: int = 0) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """The calibration digits as they are, and the same digits under the cnn's augmentation."""
    _, held = heldout.split(datasets.load("mnist", "train"), "mnist")  # uint8, as calibrate is given them
    clean = held.images[:len(heldout.CALIBRATION)].float() / 255  # the augmentation takes floats
    generator = torch.Generator().manual_seed(seed)
    warped = augment.augmented(clean, presets.preset("medium"), generator)
    labels = held.labels[:len(heldout.CALIBRATION)]
    return {"held-out (as calibrate)": (held.images, held.labels),
            "clean + augmented": (torch.cat([clean, warped]), torch.cat([labels, labels]))}


def measured_sets() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """MNIST test, the stress set and the corruption set, whole and by its seen and held-out kinds."""
    test, shaken, wrecked = (datasets.load("mnist", "test"), datasets.load("stress", "valid"),
                             datasets.load("corrupted", "valid"))
    held_out = torch.from_numpy(np.isin(corrupted.kind_of(wrecked.index.numpy()), list(corrupted.HELD_OUT_KINDS)))
    return {"test": (test.images, test.labels), "stress": (shaken.images, shaken.labels),
            "corruption": (wrecked.images, wrecked.labels),
            "seen kinds": (wrecked.images[~held_out], wrecked.labels[~held_out]),
            "held-out kinds": (wrecked.images[held_out], wrecked.labels[held_out])}


def errors(clf, scores: dict, labels: dict, temperature: float) -> str:
    out = []
    for name in scores:
        right = torch.searchsorted(clf.classes_, labels[name])
        ece = metrics.expected_calibration_error(calibration.probabilities(scores[name] / temperature), right)
        out.append(f"{name} {ece:6.2%}")
    return "ECE " + "  ".join(out)


def measure(name: str, clf, sets: dict, measured: dict) -> None:
    start = time.perf_counter()
    with torch.no_grad():
        scores = {k: clf.logits(x).double() for k, (x, _) in measured.items()}
        labels = {k: y for k, (_, y) in measured.items()}
        print(f"{name:<22} {'T = 1 (as trained)':<34} {errors(clf, scores, labels, 1.0)}")
        print(f"{'':<22} {'as shipped':<23} T = {clf.temperature_:5.3f}  {errors(clf, scores, labels, clf.temperature_)}")
        for kind, (x, y) in sets.items():
            t = calibration.fit_temperature(clf.logits(x).double(), torch.searchsorted(clf.classes_, y))
            print(f"{'':<22} {kind:<23} T = {t:5.3f}  {errors(clf, scores, labels, t)}")
    print(f"{'':<22} ({time.perf_counter() - start:.0f} s)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fresh", help="train these methods on the fit part here instead of the shipped models")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    measured = measured_sets()
    sets = held_out_sets(args.seed)
    if not args.fresh:
        for method in pretrained.RECIPES:
            measure(f"shipped {method}", pretrained.load(method), sets, measured)
        return
    fit, _ = heldout.split(datasets.load("mnist", "train"), "mnist")
    plans = CompareConfig()
    for method in args.fresh.split(","):
        start = time.perf_counter()
        clf = service.make(method, seed=args.seed, **plans.plan(method))  # the cnn's plan names its preset
        clf.fit(fit.images, fit.labels, progress=False)
        clf.calibrate(*sets["held-out (as calibrate)"])
        print(f"{method}: trained on {len(fit.labels):,} fit digits in {time.perf_counter() - start:.0f} s, "
              f"MNIST test {clf.score(*measured['test']):.2%}")
        measure(f"fresh {method}", clf, sets, measured)


if __name__ == "__main__":
    main()
