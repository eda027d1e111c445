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
