"""Do cluttered copies of the training digits (LinearConfig's and PixelConfig's lines, smear, turn,
outline) help the linear model, simple_net and pixel read damaged digits, and more ideal digits pixel?
Chosen without MNIST's test set or the corruption set's own digits.

Each candidate is the recipe shipped before these were chosen (BEFORE) plus options, trained on
MNIST's training digits 0-54,999 as the shipped models are (heldout.split), and scored on the 4,000
held-out calibration digits (heldout.CALIBRATION, undamaged), on the stress set, and on the
corruption set's seen kinds applied to the first `--per-kind` calibration digits with the tuning
seed (corrupted.tuning_set), as raw tensors. The corruption set's held-out kinds are never looked
at.

    OMP_NUM_THREADS=1 python benchmarks/template_clutter.py --method linear --only base,lines
    OMP_NUM_THREADS=1 python benchmarks/template_clutter.py --method pixel --only "ideals 120,120 turn 0.1"
"""

from __future__ import annotations

import argparse

import choice_sets  # benchmarks/choice_sets.py, beside this script

# pretrained.RECIPES as they were when this was first run (2026-12-06), so that "base" stays the baseline.
BEFORE = {
    "pixel": {"deskew": True, "ideals": 15, "seed": 0},
    "linear": {"epochs": 20, "deskew": True, "stretch": True, "seed": 0},
    "simple_net": {"epochs": 20, "lr": 0.25, "batch_size": 128, "deskew": True, "seed": 0},
}

CANDIDATES = {  # name -> options added to the recipe
    "base": {},
    "lines": {"lines": 0.3},
    "lines+smear": {"lines": 0.3, "smear": 0.1},
    "turn": {"turn": 0.3},
    "outline": {"outline": 0.1},
    "all": {"lines": 0.3, "smear": 0.1, "turn": 0.3, "outline": 0.1},
    "lines 0.1": {"lines": 0.1},
    "turn 0.1": {"turn": 0.1},
    "outline 0.05": {"outline": 0.05},
    "turn+outline": {"turn": 0.1, "outline": 0.05},
    "lines+turn+outline": {"lines": 0.3, "turn": 0.3, "outline": 0.1},
    "lines+outline": {"lines": 0.3, "outline": 0.1},
    "lines+turn 0.15+outline": {"lines": 0.3, "turn": 0.15, "outline": 0.1},
    "turn+outline 30 epochs": {"turn": 0.1, "outline": 0.05, "epochs": 30},
    "outline 0.02": {"outline": 0.02},
    "ideals 30": {"ideals": 30},  # pixel only
    "ideals 60": {"ideals": 60},  # pixel only
    "ideals 120": {"ideals": 120},  # pixel only
    "ideals 240": {"ideals": 240},  # pixel only
    # pixel's shipped recipe since 2026-12-06 20:05 UTC is BEFORE's with 120 ideals ("ideals 120"); with
    # cluttered copies (PixelConfig's shares, 2026-12-07):
    "120 turn 0.1": {"ideals": 120, "turn": 0.1},
    "120 turn 0.3": {"ideals": 120, "turn": 0.3},
    "120 outline 0.05": {"ideals": 120, "outline": 0.05},
    "120 outline 0.1": {"ideals": 120, "outline": 0.1},
    "120 lines 0.1": {"ideals": 120, "lines": 0.1},
    "120 lines 0.3": {"ideals": 120, "lines": 0.3},
    "120 lines+turn+outline small": {"ideals": 120, "lines": 0.1, "turn": 0.1, "outline": 0.05},
    "120 lines+turn+outline": {"ideals": 120, "lines": 0.3, "turn": 0.3, "outline": 0.1},  # simple_net's mix
    "240 lines+turn+outline": {"ideals": 240, "lines": 0.3, "turn": 0.3, "outline": 0.1},  # room for the copies' groups
    # The copies with ideal digits of their own (PixelConfig.copy_ideals), the 120 clean ones kept as they are:
    "120 + 15 of small mix": {"ideals": 120, "lines": 0.1, "turn": 0.1, "outline": 0.05, "copy_ideals": 15},
    "120 + 30 of small mix": {"ideals": 120, "lines": 0.1, "turn": 0.1, "outline": 0.05, "copy_ideals": 30},
    "120 + 30 of simple_net's mix": {"ideals": 120, "lines": 0.3, "turn": 0.3, "outline": 0.1, "copy_ideals": 30},
    "120 + 60 of simple_net's mix": {"ideals": 120, "lines": 0.3, "turn": 0.3, "outline": 0.1, "copy_ideals": 60},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", choices=("pixel", "linear", "simple_net"), default="linear")
    choice_sets.add_arguments(parser, per_kind=200)
    args = parser.parse_args()
    choice_sets.score_candidates(args.method, BEFORE[args.method], CANDIDATES, args)


if __name__ == "__main__":
    main()
