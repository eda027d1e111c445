"""The cnn's one config, `CNNConfig`: every setting of its network, training and augmentation, checked
on construction; what its checkpoint stores."""

from __future__ import annotations

from dataclasses import dataclass

from digitlab.errors import DigitlabError


STEMS = ("pool", "stride", "unshuffle")  # ways the first stage halves 28 x 28 (see CNNConfig.stem)
HEADS = ("max", "flat")  # ways the last map becomes the head's input (see CNNConfig.head)


@dataclass
class CNNConfig:
    epochs: int = 2  # passes over the training images
    batch_size: int = 128  # images per step
    lr: float = 0.2  # peak learning rate of the one-cycle schedule (SGD, Nesterov momentum)
    momentum: float = 0.9  # the one-cycle schedule moves it 0.95 -> 0.85 -> 0.95 around this
    weight_decay: float = 5e-4  # L2 penalty added to the gradient, per unit of lr
    label_smoothing: float = 0.1  # share of the target spread evenly over all classes
    pct_start: float = 0.25  # share of the steps spent warming the lr up
    width: int = 16  # channels of the first stage; the next two have 2x and 4x
    stem: str = "stride"  # how stage 1 halves the side: "stride": a stride-2 3x3 conv; "pool": a 3x3
    #                       conv then a 2x2 max pool (4x the work); "unshuffle": 2x2 pixels -> 4 channels
    crop: int = 2  # pixels cut from each edge inside the net (MNIST's ink sits in the middle 20 x 20)
    last_width: int = 4  # channels of the third stage, as a multiple of width (2: as many as the second)
    head: str = "max"  # how the last map becomes the linear head's input: "max": each channel's largest
    #                    value, wherever it is; "flat": the whole (S/4 x S/4) map, so the head also sees
    #                    where each feature is
    blocks: int = 0  # residual blocks (two 3x3 convs each) after each of the last two stages
    augment: bool = False  # move (and with rotate/scale, turn and zoom) each training image anew each epoch
    shift: int = 2  # pixels, the largest shift when augmenting
    rotate: float = 0.0  # degrees, the largest rotation when augmenting (0: whole-pixel shifts only)
    scale: float = 0.0  # the largest zoom in or out when augmenting, as a fraction (0.1: 0.9x-1.1x)
    shear: float = 0.0  # the largest slant when augmenting: x moved by up to +-shear per pixel of y
    aspect: float = 0.0  # the largest widening or narrowing when augmenting, as a fraction of the width
    thicken: int = 0  # px: when augmenting, each image's strokes grown by 0 .. thicken px or thinned by 1
    #                   (a max or min filter), drawn per image: pens and fonts are not MNIST's width
    blur: float = 0.0  # when augmenting, this share of the images blurred (a Gaussian of 0.5-1.2 px)
    lowres: float = 0.0  # when augmenting, this share shrunk to 10-16 px a side and grown back, as a
    #                      small scan or a thumbnail comes out of the preprocessing
    lines: float = 0.0  # when augmenting, this share of the images crossed by a line or two (clutter.py)
    smear: float = 0.0  # when augmenting, this share smeared, as by a hand that moved
    tta: bool = False  # at prediction, also average the logits of the image shifted by 1 pixel
    ensemble: int = 1  # networks trained side by side on the same batches (each on its own augmentation
    #                    of them when augmenting); their logits averaged
    seed: int = 0  # seeds the initial weights (through the caller), the order and the shifts

    def __post_init__(self):
        checks = {
            "epochs": self.epochs >= 1, "batch_size": self.batch_size >= 1, "lr": self.lr > 0,
            "width": self.width >= 1, "last_width": self.last_width >= 1, "head": self.head in HEADS,
            "blocks": self.blocks >= 0, "ensemble": self.ensemble >= 1,
            "weight_decay": self.weight_decay >= 0, "shift": 0 <= self.shift <= 8,
            "rotate": 0 <= self.rotate <= 45, "scale": 0 <= self.scale <= 0.5,
            "shear": 0 <= self.shear <= 1, "aspect": 0 <= self.aspect <= 0.5, "thicken": 0 <= self.thicken <= 3,
            "blur": 0 <= self.blur <= 1, "lowres": 0 <= self.lowres <= 1, "lines": 0 <= self.lines <= 1,
            "smear": 0 <= self.smear <= 1,
            "label_smoothing": 0 <= self.label_smoothing < 1, "pct_start": 0 < self.pct_start < 1,
            "stem": self.stem in STEMS, "crop": 0 <= self.crop <= 4 and self.crop % 2 == 0,
        }
        for name, ok in checks.items():
            if not ok:
                raise DigitlabError(f"{name}={getattr(self, name)!r} is out of range for the cnn recipe; "
                                    "see CNNConfig in digitlab/classifiers/cnn/config.py for each option's meaning and range")
