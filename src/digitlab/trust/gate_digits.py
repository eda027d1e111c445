"""Damaged digits as `digitlab predict` reads them, for the gate to learn as digits and its threshold
to let through.

The corruption set is measured as predict reads it (each image saved as a PNG, then
mnist_style.prepare: most go through to_mnist, which takes a line or a blot across the frame for part
of the digit and rescales the whole box). The gate learnt its damaged digits, and had its threshold
chosen on them, as tensors (input_cleaning alone), so what predict makes of them was new to it. Here
each damaged digit goes the way predict takes it: damaged, saved as a PNG, read by `prepare`, then
cleaned as the models read it (what decline.screen shows the gate).

Three kinds of damage, each from a seed of its own:

- `seen`: the corruption set's kinds anyone may tune on (damage.damaged_copies, never HELD_OUT_KINDS);
- `own`: digitlab's own kinds (own_damage.py: hairlines, blots, graph paper, specks, defocus);
- `clutter`: what the cnn trains through (train/clutter.py: lines across, solid or dotted, and smears).
"""

from __future__ import annotations

import numpy as np
import torch

KINDS = ("seen", "own", "clutter")
OWN_VERSION = "own1"  # bump when own_damage.py or clutter.py draws otherwise: the caches are keyed on it


def damaged(images: np.ndarray, kind: str, seed: int) -> np.ndarray:
    """(n, 28, 28) uint8 digits -> each under damage of `kind` (KINDS), uint8, as drawn."""
    from digitlab.data import damage, own_damage
    from digitlab.train import clutter

    if kind == "seen":
        return damage.damaged_copies(images, seed)
    if kind == "own":
        return own_damage.damaged_copies(images, seed)
    if kind == "clutter":  # every image crossed (one or two lines) or smeared, half each, in turn
        generator = torch.Generator().manual_seed(seed)
        x = torch.from_numpy(images).float() / 255
        half = torch.arange(len(x)) % 2 == 0
        x[half] = clutter.crossed(x[half], 1.0, generator)
        x[~half] = clutter.smeared(x[~half], 1.0, generator)
        return (x * 255).round().to(torch.uint8).numpy()
    raise ValueError(f"no damage kind {kind!r}; choose one of {KINDS}")


def as_read(images: np.ndarray) -> np.ndarray:
    """(n, 28, 28) uint8 -> the same as the models read them (input_cleaning.cleaned), uint8."""
    from digitlab.vision.input_cleaning import cleaned

    return (cleaned(torch.from_numpy(images).float() / 255) * 255).round().to(torch.uint8).numpy()


def as_predict_reads(raw: np.ndarray) -> np.ndarray:
    """(n, 28, 28) uint8 images -> what the gate judges of each saved as a PNG and given to predict:
    mnist_style.prepare (corrupted.cleaned), then input_cleaning (decline.screen's), uint8. One that
    to_mnist refuses stays black (the gate never sees it: it is "no digit")."""
    from digitlab.data import corrupted

    return as_read(corrupted.cleaned(raw)) if len(raw) else raw.copy()


def read_damaged(mnist: np.ndarray, picks: np.ndarray, kind: str, seed: int) -> np.ndarray:
    """mnist[picks] damaged (`kind`, `seed`) and read as predict reads them, kept in home()'s cache
    keyed on the versions of the damage and the preprocessing, the kind, the seed and the picks."""
    import hashlib

    from digitlab.data import corrupted
    from digitlab.store import array_cache
    from digitlab.store.files import home
    from digitlab.vision.mnist_style import PREPROCESS_VERSION

    key = hashlib.sha256(np.asarray(picks, dtype=np.int64).tobytes()).hexdigest()[:12]
    path = home() / "nondigits" / f"read-{kind}-{corrupted.VERSION}-{OWN_VERSION}-prep{PREPROCESS_VERSION}-seed{seed}-{key}.npz"
    saved = array_cache.load(path, ("images",), "the gate's damaged digits")
    if saved and saved["images"].shape == (len(picks), 28, 28):
        return saved["images"]
    images = as_predict_reads(damaged(mnist[np.asarray(picks)], kind, seed))
    array_cache.save(path, images=images)
    return images

