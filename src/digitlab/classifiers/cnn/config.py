"""The cnn's one config, `CNNConfig`: every setting of its network, training and augmentation, each
with its type, range, unit and help (store/spec.py), checked on construction; what its checkpoint
stores. Widths and counts are bounded so that no field alone asks for more than a few hundred MB."""

from __future__ import annotations

from dataclasses import dataclass

from digitlab.store.spec import BATCH_SIZE, EPOCHS, LR, SEED, SHARE, check, require, setting


STEMS = ("pool", "stride", "unshuffle")  # ways the first stage halves 28 x 28 (see CNNConfig.stem)
HEADS = ("max", "flat")  # ways the last map becomes the head's input (see CNNConfig.head)


@dataclass
class CNNConfig:
    epochs: int = setting(2, EPOCHS)
    batch_size: int = setting(128, BATCH_SIZE)
    lr: float = setting(0.2, LR, help="peak learning rate of the one-cycle schedule (SGD, Nesterov momentum)")
    momentum: float = setting(0.9, range=(0, 1), help="SGD's momentum, the middle of the one-cycle swing")
    weight_decay: float = setting(5e-4, range=(0, 1), unit="per unit of lr", help="L2 penalty added to the gradient")
    label_smoothing: float = setting(0.1, range=(0, 1), below=True,
                                     help="share of the target spread evenly over all classes")
    pct_start: float = setting(0.25, range=(0, 1), above=True, below=True,
                               help="share of the steps spent warming the lr up")
    width: int = setting(16, range=(1, 256), unit="channels", help="channels of the first stage; the next two have 2x "
                         "and last_width x")
    # stride: a stride-2 3x3 conv; pool: a 3x3 conv then a 2x2 max pool (4x the work); unshuffle: 2x2 pixels -> 4 channels
    stem: str = setting("stride", choices=STEMS, help="how stage 1 halves the side")
    crop: int = setting(2, range=(0, 4), unit="pixels", help="cut from each edge inside the net, an even number "
                        "(MNIST's ink sits in the middle 20 x 20)")
    last_width: int = setting(4, range=(1, 8), unit="x width",
                              help="channels of the third stage, as a multiple of width (2: as many as the second)")
    # max: each channel's largest value, wherever it is; flat: the whole (S/4 x S/4) map, so the head
    # also sees where each feature is
    head: str = setting("max", choices=HEADS, help="how the last map becomes the linear head's input")
    blocks: int = setting(0, range=(0, 8), help="residual blocks (two 3x3 convs each) after each of the last two stages")
    augment: bool = setting(False, help="move (and with rotate/scale, turn and zoom) each training image anew each epoch")
    shift: int = setting(2, range=(0, 8), unit="pixels", help="the largest shift when augmenting")
    rotate: float = setting(0.0, range=(0, 45), unit="degrees",
                            help="the largest rotation when augmenting (0: whole-pixel shifts only)")
    scale: float = setting(0.0, range=(0, 0.5), unit="fraction",
                           help="the largest zoom in or out when augmenting (0.1: 0.9x-1.1x)")
    shear: float = setting(0.0, range=(0, 1), unit="pixels of x per pixel of y",
                           help="the largest slant when augmenting")
    aspect: float = setting(0.0, range=(0, 0.5), unit="fraction of the width",
                            help="the largest widening or narrowing when augmenting")
    # drawn per image: pens and fonts are not MNIST's width
    thicken: int = setting(0, range=(0, 3), unit="pixels", help="when augmenting, each image's strokes grown by "
                           "0 .. thicken px or thinned by 1 (a max or min filter)")
    elastic: float = setting(0.0, SHARE, help="when augmenting, this share's strokes bent by a smooth random field "
                             "(augment.bent: up to 2 px)")
    blur: float = setting(0.0, SHARE, help="when augmenting, this share of the images blurred (a Gaussian of 0.5-1.2 px)")
    # as a small scan or a thumbnail comes out of the preprocessing
    lowres: float = setting(0.0, SHARE, help="when augmenting, this share shrunk to 10-16 px a side and grown back")
    lines: float = setting(0.0, SHARE, help="when augmenting, this share crossed by a line or two (clutter.py)")
    smear: float = setting(0.0, SHARE, help="when augmenting, this share smeared, as by a hand that moved")
    turn: float = setting(0.0, SHARE, help="when augmenting, this share turned again, by up to clutter.TURN_DEGREES")
    outline: float = setting(0.0, SHARE, help="when augmenting, this share drawn as the outline of its strokes")
    flags: float = setting(0.0, SHARE, help="when augmenting, this share of the 1s given a flag from the top, "
                           "down to the left, as many people write a 1 (train/flags.py)")
    tta: bool = setting(False, help="at prediction, also average the logits of the image shifted by 1 pixel")
    ensemble: int = setting(1, range=(1, 8), unit="networks", help="networks trained side by side on the same "
                            "batches (each on its own augmentation of them when augmenting), their logits averaged")
    seed: int = setting(0, SEED, help="seeds the initial weights (through the caller), the order and the shifts")
    # The one-cycle schedule's shape (optim.one_cycle, fastai's defaults): the lr warms from lr/div to
    # lr and anneals to lr/div_final; momentum swings the other way, momentum + swing -> momentum - swing
    # -> momentum + swing, so that a large lr meets a small momentum.
    momentum_swing: float = setting(0.05, range=(0, 0.5), help="how far the schedule moves momentum either way")
    div: float = setting(25.0, range=(1, 1e6), help="the lr starts at lr / div")
    div_final: float = setting(1e5, range=(1, 1e12), help="the lr ends at lr / div_final")

    def __post_init__(self):
        check(self, "cnn")
        require(self.crop % 2 == 0, "cnn", f"crop is {self.crop}; it must be even (0, 2 or 4): the net halves "
                "the cropped side twice")
        require(0 <= self.momentum - self.momentum_swing and self.momentum + self.momentum_swing <= 1, "cnn",
                f"momentum {self.momentum} with momentum_swing {self.momentum_swing} leaves 0 .. 1; "
                "the schedule moves momentum by the swing either way")

    def moms(self) -> tuple[float, float, float]:
        """The one-cycle schedule's momentum at its start, peak lr and end (optim.one_cycle's `moms`)."""
        m, swing = self.momentum, self.momentum_swing
        return m + swing, m - swing, m + swing
