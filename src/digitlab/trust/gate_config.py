"""The gate's settings, `GateConfig`: each a `setting` with its type, range, unit and help
(store/spec.py), checked on construction and saved with the gate. Torch-free, so that the checkpoint
schema reads it without building a network."""

from __future__ import annotations

from dataclasses import dataclass

from digitlab.store.spec import BATCH_SIZE, EPOCHS, LR, SEED, check, setting

DRAWN_SEED = 1  # the stress-style training digits' seed: the stress set itself is drawn with stress.SEED = 0
DAMAGE_SEED = 2  # the damaged training digits' draws: neither the corruption set's (damage.SEED = 0) nor
#                  the calibration digits' (damage.TUNING_SEED = 1)
SCANNED_SEED = 3  # the scanned training digits' pages (data/scanned.py) ...
SCANNED_CALIBRATION_SEED = 4  # ... and the scanned calibration digits' pages, which the threshold must let through
MUST_ANSWER = 0.995  # share of held-out digits (MNIST's, the stress set's, damaged and scanned ones) let through, each


@dataclass
class GateConfig:
    # 8 epochs of 12,000 MNIST digits at width 24: the training generator's held-out draws 98.4 %
    # declined at 99.5 % of held-out digits let through; the same at width 16: 94.2 %; 6 epochs of
    # 8,000 at width 16: 87.1 % (benchmarks/RESULTS.md, declining to answer). Once the gate also
    # learnt digits crossed by lines and smeared, and had to let 99.5 % of damaged digits through
    # too, 8 epochs of 12,000 declined 93.3 % of those draws; 12 epochs of 20,000: 97.7 % (all these
    # on the draws as drawn).
    # Judged as the models read them (input_cleaning, as decline.screen does), that gate declined only
    # 90.9 % of the draws (v3, with the later shapes and textures): textures 72 %, shapes 85 %. With
    # 6,000 damaged fit digits and the later families: 92.9 % (shapes 97 %, textures 71 %); with the
    # non-digits also trained as read (cleaned_copies): 97.9 % (textures 99.3 %), at a threshold of
    # 0.4731 that passes held-out MNIST 99.92 %, the stress set 99.50 %, damaged digits 99.50 %.
    epochs: int = setting(12, EPOCHS)
    batch_size: int = setting(128, BATCH_SIZE)
    lr: float = setting(3e-3, LR, help="AdamW's peak learning rate (one cycle)")
    weight_decay: float = setting(1e-4, range=(0, 1), unit="per step, in units of lr", help="AdamW's decoupled decay")
    width: int = setting(24, range=(1, 256), unit="channels", help="channels of the first conv; the next two have 2x and 4x")
    mnist_digits: int = setting(20_000, range=(1, 60_000), unit="images",
                                help="MNIST training digits drawn anew each epoch (of the 55,000)")
    drawn_digits: int = setting(4_000, range=(0, 1 << 20), unit="images",
                                help="stress-style digits drawn once (1,000 a category), seed drawn_seed")
    damaged_digits: int = setting(6_000, range=(0, 60_000), unit="images",
                                  help="MNIST training digits under the seen damage kinds, seed damage_seed")
    # MNIST digits as a user's scan brings them (cut to the ink, enlarged, on a page, through to_mnist):
    # without them the gate declined 5.2 % of held-out digits scanned 4x (0.0 % of the same as tensors);
    # with 4,000: 0.75 %, but the scanned calibration digits set the threshold (0.319) and 2.78 % of the
    # training generator's held-out draws passed (1.44 % before); with 8,000: 0.75 %, threshold 0.588
    # (set by the stress and damaged digits again), 2.28 % of the draws passed (RESULTS.md, declining).
    scanned_digits: int = setting(8_000, range=(0, 55_000), unit="images",
                                  help="MNIST training digits scanned and read through to_mnist, seed scanned_seed")
    cleaned_copies: bool = setting(True, help="the training non-digits twice: as drawn, and as the models read them")
    seed: int = setting(0, SEED, help="seeds the initial weights and each epoch's draw of MNIST digits")
    threshold: float = setting(0.5, range=(0, 1), help="the digit probability under which the gate declines: "
                               "chosen on held-out images")
    drawn_seed: int = setting(DRAWN_SEED, SEED, help="seeds the stress-style training digits")
    damage_seed: int = setting(DAMAGE_SEED, SEED, help="seeds the damaged training digits' draws")
    scanned_seed: int = setting(SCANNED_SEED, SEED, help="seeds the scanned training digits' pages")
    must_answer: float = setting(MUST_ANSWER, range=(0, 1), unit="share of each held-out set",
                                 help="the threshold is the highest that lets this share through")

    def __post_init__(self):
        check(self, "gate")
