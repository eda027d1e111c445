"""The digits: MNIST shipped in the package and its sample sets (shipped_mnist.py), every dataset by
name or path (datasets.py), folders of images, IDX and PNG files, the held-out, stress, corrupted
and non-digit sets, downloads and exports. The shipped MNIST files live in mnist/.

`from digitlab import data; data.load("mnist")` is the users' way in: the names below are read
from datasets.py and shipped_mnist.py on first use, so that importing a light module here
(digits.py, for the command line) does not load torch.
"""

FROM_DATASETS = ("load", "load_idx", "load_train_valid", "splits", "evaluation_split", "DATASETS", "DESCRIPTIONS",
                 "TEST_ONLY")
FROM_SHIPPED_MNIST = ("mnist_arrays", "shipped_dir")


def __getattr__(name: str):
    if name in FROM_DATASETS:
        from digitlab.data import datasets

        return getattr(datasets, name)
    if name in FROM_SHIPPED_MNIST:
        from digitlab.data import shipped_mnist

        return getattr(shipped_mnist, name)
    raise AttributeError(f"module 'digitlab.data' has no attribute {name!r}")
