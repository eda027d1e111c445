"""Do turned and outlined digits in the shipped cnn's per-epoch clutter (CNNConfig's turn, outline)
help it read rotated digits and edge images, as they helped simple_net? Chosen without MNIST's test
set or the corruption set's own digits.

Each candidate is the shipped cnn's recipe as it was when this was first run (BEFORE) plus options,
trained on MNIST's training digits 0-54,999 as pretrained.build trains it (heldout.split), and scored
on the 4,000 held-out calibration digits (heldout.CALIBRATION, undamaged), on the stress set, and on
the corruption set's seen kinds applied to the first `--per-kind` calibration digits with the tuning
seed (corrupted.tuning_set), as raw tensors, kind by kind. The corruption set's held-out kinds are
never looked at. The rule it chose by (benchmarks/RESULTS.md, "Robust models"): held-out not lower
than base by more than 0.1 point, stress not lower by more than 0.2, the seen kinds' mean up the most.

    OMP_NUM_THREADS=1 python benchmarks/cnn_clutter.py --only base,turn
"""

from __future__ import annotations


import choice_sets  # benchmarks/choice_sets.py, beside this script

# pretrained.RECIPES["cnn"] as it was when this was first run (2026-12-07), so that "base" stays the baseline.
BEFORE = {"preset": "medium", "epochs": 6, "lines": 0.1, "smear": 0.1, "seed": 0}

CANDIDATES = {  # name -> options added to the recipe (shares of each epoch's digits, clutter.py)
    "base": {},
    "turn": {"turn": 0.1},
    "outline": {"outline": 0.05},
    "turn+outline": {"turn": 0.1, "outline": 0.05},
    "turn 0.2+outline 0.1": {"turn": 0.2, "outline": 0.1},
    "outline 0.1": {"outline": 0.1},
    "turn+outline 0.1": {"turn": 0.1, "outline": 0.1},
    "turn 0.2": {"turn": 0.2},
}


def main() -> None:
    choice_sets.cnn_main(__doc__, BEFORE, CANDIDATES)


if __name__ == "__main__":
    main()
