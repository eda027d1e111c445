"""The held-out sets the clutter benchmarks (template_clutter.py, cnn_clutter.py) choose on: MNIST's
fit digits, the undamaged calibration digits, the stress set, and the corruption set's seen kinds
applied to calibration digits (the tuning seed), never its held-out kinds nor MNIST's test set."""

from __future__ import annotations


def load(per_kind: int) -> dict:
    """{"fit", "clean", "stress", "images", "labels", "names"}: the fit part, (images, labels) of the
    undamaged calibration digits, the stress set, and per_kind damaged calibration digits a seen kind
    with each one's kind, and the seen kinds in order."""
    import numpy as np

    from digitlab.data import corrupted, datasets, heldout, shipped_mnist

    fit, held = heldout.split(datasets.load("mnist", "train"), "mnist")
    clean = held.images[:len(heldout.CALIBRATION)], held.labels[:len(heldout.CALIBRATION)]  # the undamaged half
    images, labels = corrupted.tuning_set(shipped_mnist.mnist_arrays("train"), per_kind=per_kind)
    kinds = [k for k in corrupted.NAMES if k not in corrupted.HELD_OUT_KINDS]
    return {"fit": fit, "clean": clean, "stress": datasets.load("stress", "valid"), "images": images,
            "labels": labels, "names": np.repeat(kinds, per_kind), "kinds": kinds}
