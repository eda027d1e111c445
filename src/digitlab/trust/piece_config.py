"""The piece judge's settings, `PieceConfig`: each a `setting` with its type, range, unit and help
(store/spec.py), checked on construction and saved with the judge. Torch-free, so that the checkpoint
schema reads it without building a network."""

from __future__ import annotations

from dataclasses import dataclass

from digitlab.store.spec import BATCH_SIZE, EPOCHS, LR, SEED, check, setting

NUMBERS_SEED = 5  # the training numbers' draws: the number set's own parts are drawn with numbers.SEED = 0


@dataclass
class PieceConfig:
    # Trained on 1,200 numbers' 76,657 pieces (8.2 % whole digits), judged on a tenth of the numbers kept
    # back: width 16, 6 epochs: 87.3 % classed right, whole digits found 57.8 % (precision 72.0 %);
    # width 24, 12 epochs: 87.7 %, 63.2 % (72.8 %). As the cutter's judge with the gate (reading.py),
    # the number set's choose part (1,200 numbers) read 79.4 % and 79.7 % right, against 78.2 % with
    # the gate and the cnn alone (2026-12-07, RESULTS.md, reading numbers); not used by default yet
    # (reading.PIECE_WEIGHT): it takes some pieces of scribbles for digits.
    epochs: int = setting(12, EPOCHS)
    batch_size: int = setting(128, BATCH_SIZE)
    lr: float = setting(3e-3, LR, help="AdamW's peak learning rate (one cycle)")
    weight_decay: float = setting(1e-4, range=(0, 1), unit="per step, in units of lr", help="AdamW's decoupled decay")
    width: int = setting(24, range=(1, 256), unit="channels", help="channels of the first conv; the next two have 2x and 4x")
    numbers: int = setting(1_200, range=(3, 100_000), unit="numbers",
                           help="training numbers drawn (handwritten, pen and photographed in turn), whose "
                           "wide groups' candidate pieces the judge learns from")
    numbers_seed: int = setting(NUMBERS_SEED, SEED, help="seeds the training numbers' draws")
    seed: int = setting(0, SEED, help="seeds the initial weights, the shifts and each epoch's order")

    def __post_init__(self):
        check(self, "piece judge")
