"""MNIST's training digits that no model digitlab trains on MNIST ever sees.

The last HELD_OUT digits of MNIST's training file are kept out of training by `compare`, `train`
and the shipped models, so that the choices made after training (a model's temperature, the
thresholds for declining to answer) and the corruption set have digits of their own, and MNIST's
test set only ever reports (the brief's first rule).

- CALIBRATION: probabilities calibrated, thresholds chosen;
- CORRUPTION: the digits the corruption set (corrupted.py) damages, test only.

`split(train, dataset)` cuts any training `Digits` into the part a model fits and the part it is
calibrated on: by these indices for MNIST's own datasets, by a seeded draw for a user's folder.
"""

from __future__ import annotations

import numpy as np
import torch

from digitlab.data.digits import Digits
from digitlab.errors import warn

HELD_OUT = 5_000  # digits at the end of MNIST's 60,000 training images
START = 60_000 - HELD_OUT  # MNIST training index from which digits are held out
CALIBRATION = range(START, 59_000)  # 4,000 digits
CORRUPTION = range(59_000, 60_000)  # 1,000 digits

# The datasets whose "train" split is MNIST's training file, each digit's `index` its place there.
# A folder of images or IDX files may call its split "train" too, but its indices are its own.
MNIST_TRAINING = ("mnist", "mnist_sample", "mnist_tiny")

# A folder's calibration part: this share of each digit's images, drawn with this seed (fixed, as
# data.SPLIT_SEED is, so that models trained with different seeds calibrate on the same images).
FOLDER_FRACTION = 0.1
FOLDER_SEED = 42
FOLDER_LEAST = 10  # images of a digit below which a folder is not calibrated (10 % would be none)


def split(train: Digits, dataset: str) -> tuple[Digits, Digits | None]:
    """(fit part, calibration part) of a training split; the calibration part is None when the data
    holds no held-out digit (mnist_tiny) or is too small to spare any (a warning then says so).

    MNIST's own datasets: every digit from START on is held out; those in CALIBRATION calibrate (as
    they are, and every DAMAGED_EVERY-th one damaged too: with_damage), and those in CORRUPTION are in neither part (the
    corruption set damages them, for testing only).
    Any other data: a seeded FOLDER_FRACTION of each digit's images calibrate, the rest fit.
    """
    if dataset in MNIST_TRAINING and train.source == "train":
        fit = train.index < START
        calibrate = (train.index >= CALIBRATION.start) & (train.index < CALIBRATION.stop)
        if not calibrate.any():  # mnist_tiny: its files are all from MNIST's first 10,000 (train says so)
            return _part(train, fit), None
        return _part(train, fit), with_damage(_part(train, calibrate))
    calibrate = _drawn(train.labels, dataset)
    if calibrate is None:
        return train, None
    return _part(train, ~calibrate), _part(train, calibrate)


# Every fourth calibration digit is also calibrated on damaged: a fifth of them damaged (4,000 clean,
# 1,000 damaged). Chosen on held-out digits only (benchmarks/calibration_levers.py; RESULTS.md,
# "Calibration"): 20 seeded halvings of the calibration digits, T fitted on one half (clean plus a
# share damaged) and measured on the other half's clean and damaged digits, the stress set and the
# corruption set's seen kinds; the share whose worst figure, over the four methods, is furthest under
# its target (2 % clean, 3 % the rest). The linear model binds, its worst figure / target: none 1.35
# (seen kinds 4.04 %), 1/8 0.95, 1/5 0.81 (clean 1.57, damaged 2.07, stress 1.28, seen kinds 2.42 %),
# 1/4 0.86, a third 1.00 (clean 2.00 %), a half 1.27. The other three stay at 0.29-0.81 for every
# share (at a fifth 0.34-0.59, a third 0.33-0.54).
DAMAGED_EVERY = 4


def with_damage(held: Digits) -> Digits:
    """The held-out digits and, after them, every DAMAGED_EVERY-th again under one of the corruption
    set's seen kinds (damage.damaged_copies), so that a temperature fitted on them says how sure a
    model should be of other people's digits too. One temperature cannot fit both: the damaged
    digits want a softer model than the clean ones (the linear model's own T: clean 0.97, damaged
    1.40, the corruption set's seen kinds 1.53), and at the same confidence a clean digit is right
    more often than a damaged one, so no map of the scores alone serves both (RESULTS.md,
    "Calibration"). Calibrated on clean digits alone, the shipped linear model's calibration error
    on the corruption set was 5.6 %, simple_net's 3.5 % (MNIST test 0.6 and 0.2 %); on one clean and
    one damaged copy of each digit 2.0 and 1.1 % (2.4 and 1.1 %). MNIST's datasets only (their
    calibration digits are no corruption set digit)."""
    from digitlab.data.damage import damaged_copies

    again = held.images[::DAMAGED_EVERY]
    damaged = torch.from_numpy(damaged_copies(again.numpy()))
    return held._replace(images=torch.cat([held.images, damaged]),
                         labels=torch.cat([held.labels, held.labels[::DAMAGED_EVERY]]),
                         index=torch.cat([held.index, held.index[::DAMAGED_EVERY]]))


def _drawn(labels: torch.Tensor, dataset: str) -> torch.Tensor | None:
    """(N,) bool: FOLDER_FRACTION of each digit's images, drawn with FOLDER_SEED; None when a digit
    has fewer than FOLDER_LEAST images."""
    labels = labels.numpy()
    digits, counts = np.unique(labels, return_counts=True)
    if len(digits) and counts.min() < FOLDER_LEAST:
        few = digits[counts.argmin()]
        warn(f"{dataset}: digit {few} has only {counts.min()} training image(s), fewer than {FOLDER_LEAST}, "
             f"so none is held out to calibrate the model's probabilities; they stay uncalibrated")
        return None
    rng = np.random.default_rng(FOLDER_SEED)
    chosen = np.zeros(len(labels), dtype=bool)
    for digit, count in zip(digits, counts):  # digit by digit, so that every digit calibrates
        chosen[rng.choice(np.flatnonzero(labels == digit), int(count * FOLDER_FRACTION), replace=False)] = True
    return torch.from_numpy(chosen)


def _part(digits: Digits, keep: torch.Tensor) -> Digits:
    return digits._replace(images=digits.images[keep], labels=digits.labels[keep], index=digits.index[keep])
