"""digitlab: handwritten-digit classification from scratch, after fastai's chapter 4.

Importing the package is cheap (no torch); each module imports what it needs.
"""

import os

# Idle OpenMP threads sleep rather than spin. On a machine whose cores are busy with other work,
# spinning threads wait on each other at every op: an epoch of the fast CNN took 497 s with
# spinning and 32 s with sleeping threads at a load average of 5 on two cores (benchmarks/RESULTS.md).
# It must be set before torch loads OpenMP, hence here; a value the user set is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"


def read(image, model=None, decline: bool = True):
    """One image of one digit answered, or declined with a reason: see decline.read (imported on the
    first call, so that importing digitlab stays cheap)."""
    from digitlab.trust.decline import read as read_one

    return read_one(image, model, decline)


def read_number(image, model=None, decline: bool = True):
    """The digits of a number in one image, each answered or declined, with its box: see
    reading.read_number."""
    from digitlab.reading import read_number as read_digits

    return read_digits(image, model, decline)
