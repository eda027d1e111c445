"""The strip reader's settings, `StripConfig`: each a `setting` with its type, range, unit and help
(store/spec.py), checked on construction and saved with the reader. Torch-free, so that the checkpoint
schema reads it without building a network."""

from __future__ import annotations

from dataclasses import dataclass

from digitlab.store.spec import BATCH_SIZE, EPOCHS, LR, SEED, check, setting

NUMBERS_SEED = 7  # the training numbers' draws (the number set's own: numbers.SEED = 0; the piece judge's: 5)


@dataclass
class StripConfig:
    # The reader that ships is these settings as they stand, trained by `python -m digitlab.pretrained
    # --methods strips` (strip_training.build, one thread, ~26 min; 2026-12-07, "F"): the strips kept back
    # read right 96.7 %, those of several digits 85.1 %, those of none 84.2 %. Chosen among eight readers
    # once the reader's digits answered (reading.STRIP_DIGITS): the choose part 85.18 -> 86.25 % whole,
    # the non-digit choice draws declined as before; a fresh held-out draw (seed 3) 80.14 -> 82.21 %
    # (RESULTS.md, reading numbers). Twice the numbers of the reader before (12,000), each strip with no
    # digits weighing 8 times a digit strip's in the loss so that non-digits' groups stay read as nothing.
    epochs: int = setting(10, EPOCHS)
    batch_size: int = setting(64, BATCH_SIZE, help="strips per step, of like widths")
    lr: float = setting(3e-3, LR, help="AdamW's peak learning rate (one cycle)")
    weight_decay: float = setting(1e-4, range=(0, 1), unit="per step, in units of lr", help="AdamW's decoupled decay")
    width: int = setting(32, range=(1, 256), unit="channels", help="channels of the first conv; the next two have 2x")
    hidden: int = setting(128, range=(1, 1024), unit="channels", help="channels of the 1-D convs along the columns")
    numbers: int = setting(24_000, range=(4, 1_000_000), unit="numbers",
                           help="training numbers drawn (the four categories in turn), whose groups of ink it learns from")
    nondigits: int = setting(400, range=(0, 100_000), unit="images a category",
                             help="non-digit training draws a category (letters, symbols, scribbles, shapes, "
                             "textures) whose groups it learns to read as no digits")
    nondigit_weight: float = setting(8.0, range=(0, 100), unit="times a digit strip's",
                                     help="how much each strip with no digits weighs in a batch's mean CTC loss "
                                     "(a small share of the strips: more draws alone did not teach them, strip32d; "
                                     "1, 4, 8 and 12 with 24,000 numbers measured: RESULTS.md, reading numbers)")
    numbers_seed: int = setting(NUMBERS_SEED, SEED, help="seeds the training numbers' draws")
    seed: int = setting(0, SEED, help="seeds the initial weights, the shifts and each epoch's order")

    def __post_init__(self):
        check(self, "strip reader")
