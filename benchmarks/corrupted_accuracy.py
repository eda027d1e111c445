"""Every shipped model's accuracy on the corruption set, kind by kind, on both of its views.

The corruption set (src/digitlab/data/corrupted.py) is the 1,000 held-out MNIST training digits of
heldout.CORRUPTION damaged 21 ways at three severities. `corrupted` is what `digitlab predict` makes
of each image saved as a PNG; `corrupted_raw` is the damaged 28 x 28 images as they are, as the
Python API feeds a model. The first run builds both views and says how long that took (then they are
cached under digitlab's home). The held-out kinds are reported apart: no choice may be tuned on them.

    python benchmarks/corrupted_accuracy.py                       # the four shipped models
    python benchmarks/corrupted_accuracy.py --models digitlab-out/cnn-0-9 digitlab-out/linear-0-9
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from digitlab import classifiers, pretrained
from digitlab.data import corrupted, datasets
from digitlab.data.digits import Digits

ONE_ANSWER = 0.3  # share of a kind's images given the same answer above which it is named: each digit is about 0.1


def timed_load(view: str) -> Digits:
    started = time.perf_counter()
    found = corrupted.cache_path(view).is_file()
    digits = datasets.load(view, "valid")
    how = "read from the cache" if found else "built"
    print(f"{view}: {len(digits.labels):,} images, {how} in {time.perf_counter() - started:.1f} s", flush=True)
    return digits


def one_answers(predicted: np.ndarray, index: np.ndarray) -> str:
    """The kinds where one answer is given for more than ONE_ANSWER of the images, with that answer."""
    found = []
    kinds = corrupted.kind_of(index)
    for kind in corrupted.NAMES:
        counts = np.bincount(predicted[kinds == kind], minlength=10)
        if counts.max() > ONE_ANSWER * counts.sum():
            found.append(f"{kind} '{counts.argmax()}' {counts.max() / counts.sum():.0%}")
    return ", ".join(found) or "none"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="*", metavar="DIR",
                        help="saved ten-digit model folders (default: the shipped pixel, linear, simple_net, cnn)")
    args = parser.parse_args()
    models = {name: classifiers.load(name) for name in args.models} if args.models else {
        method: pretrained.load(method) for method in classifiers.METHODS}
    views = {view: timed_load(view) for view in ("corrupted_raw", "corrupted")}
    for name, clf in models.items():
        for view, digits in views.items():
            started = time.perf_counter()
            predicted = clf.predict(digits.images)
            by_kind = corrupted.accuracy_by_kind(predicted, digits.labels, digits.index)
            print(f"\n{name} on {view}: mean {by_kind['all']:.2%} ({time.perf_counter() - started:.1f} s)")
            print(corrupted.describe(by_kind))
            print(f"one answer for over {ONE_ANSWER:.0%} of a kind: {one_answers(predicted.numpy(), digits.index.numpy())}",
                  flush=True)


if __name__ == "__main__":
    main()
