"""Choose decline.UNSURE again: for each shipped model, the top probability under which its answer is
"unsure", on held-out digits only (MNIST's calibration digits, heldout.CALIBRATION, the stress set, and
the calibration digits under the corruption set's seen kinds, corrupted.tuning_set).

For each method and each of the three sets, the MUST_ANSWER quantile of the model's top probability
over the digits the gate lets through; the lowest is the threshold, so that each set keeps
at least that share answered by this rule (the gate's own threshold, gate.MUST_ANSWER, is chosen by
`python -m digitlab.pretrained --methods gate`). MNIST's test set is never read here.

Run it again whenever a model's probabilities change (a new shipped model, calibration), and paste
the table it prints into decline.py:

    python benchmarks/decline_thresholds.py
    python benchmarks/decline_thresholds.py --folder digitlab-out/built --methods cnn   # a build not yet shipped
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import torch

from digitlab import pretrained, service
from digitlab.data import corrupted, datasets, heldout
from digitlab.data.shipped_mnist import mnist_arrays
from digitlab.trust import decline, gate

MUST_ANSWER = 0.995  # share of each held-out set that the unsure rule alone lets through


def held_out_digits() -> dict[str, torch.Tensor]:
    mnist, labels = mnist_arrays("train")
    calibration = mnist[heldout.CALIBRATION.start:heldout.CALIBRATION.stop]
    damaged = corrupted.tuning_set((mnist, labels))[0]  # seen kinds on calibration digits, not the set's own
    return {"mnist held-out": torch.from_numpy(calibration.copy()).float() / 255,
            "stress": datasets.load("stress", "valid", dtype=torch.float32).images,
            "damaged held-out": torch.from_numpy(damaged).float() / 255}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, help="read the models from this build's folder (pretrained.build's "
                        "out) rather than the package's")
    parser.add_argument("--methods", default=",".join(pretrained.RECIPES), help="which (default: all four)")
    args = parser.parse_args()
    sets = held_out_digits()
    passed = {name: torch.tensor([s is None for s in decline.screen(x)]) for name, x in sets.items()}
    for name, ok in passed.items():
        print(f"the gate lets through {ok.float().mean():.2%} of {name} ({len(ok):,})")
    chosen = {}
    for method in args.methods.split(","):
        clf = service.load(args.folder / method) if args.folder else pretrained.load(method)
        lows = {}
        for name, x in sets.items():
            top = clf.predict_proba(x).float().max(1).values[passed[name]]
            lows[name] = float(np.quantile(top.double().numpy(), 1 - MUST_ANSWER))
        chosen[method] = math.floor(min(lows.values()) * 1000) / 1000  # rounded down: never declines more
        print(f"{method}: " + ", ".join(f"{n} {v:.3f}" for n, v in lows.items()) + f" -> {chosen[method]}")
    print("\nUNSURE = {" + ", ".join(f'"{m}": {v}' for m, v in chosen.items()) + "}")
    print(f"(the gate: {gate.shipped().config.threshold:.4f}, decline.UNSURE now: {decline.UNSURE})")


if __name__ == "__main__":
    main()
