"""MNIST's training digits that no model digitlab trains on MNIST ever sees.

The last HELD_OUT digits of MNIST's training file are kept out of training by `compare`, `train`
and the shipped models, so that the choices made after training (a model's temperature, the
thresholds for declining to answer) and the corruption set have digits of their own, and MNIST's
test set only ever reports (the brief's first rule).

- CALIBRATION: probabilities calibrated, thresholds chosen;
- CORRUPTION: the digits the corruption set (corrupted.py) damages, test only.
"""

from __future__ import annotations

HELD_OUT = 5_000  # digits at the end of MNIST's 60,000 training images
START = 60_000 - HELD_OUT  # MNIST training index from which digits are held out
CALIBRATION = range(START, 59_000)  # 4,000 digits
CORRUPTION = range(59_000, 60_000)  # 1,000 digits
