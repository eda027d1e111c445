"""The digits: MNIST and its sample sets (datasets.py), folders of images, IDX and PNG files, the
held-out, stress, corrupted and non-digit sets, downloads and exports. The shipped MNIST files
live in mnist/.

`from digitlab import data; data.load("mnist")` is the users' way in: the names below are read
from datasets.py on first use, so that importing a light module here (digits.py, for the command
line) does not load torch.
"""

PUBLIC = ("load", "load_idx", "load_train_valid", "splits", "evaluation_split", "DATASETS", "DESCRIPTIONS",
          "TEST_ONLY", "mnist_arrays", "shipped_dir")


def __getattr__(name: str):
    if name in PUBLIC:
        from digitlab.data import datasets

        return getattr(datasets, name)
    raise AttributeError(f"module 'digitlab.data' has no attribute {name!r}")
