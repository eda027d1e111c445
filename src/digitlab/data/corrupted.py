"""The corruption set: MNIST digits no model saw, damaged in the ways real images are.

The 1,000 digits of `heldout.CORRUPTION` (MNIST training indices 59,000-59,999, kept out of every
model's training; never the test set) each go through every kind of damage below, at severity 1
(mild), 2 or 3 (strong, still readable by a person), cycling 1, 2, 3 by image. Every kind is a small
function written here from its description: (28, 28) float32 in [0, 1], light ink on black, a
severity and a generator -> the damaged (28, 28) float32 in [0, 1].

The set is laid out kind by kind (`index // PER_KIND` is the kind). Image i of a kind draws from a
generator seeded from (seed, kind, i): the same seed gives the same bytes, and any slice of the set
can be made alone. Two views, both test only (`data.TEST_ONLY`):

- `corrupted_raw`: the damaged 28 x 28 images as they are, as the Python API feeds them to a model;
- `corrupted`: what `digitlab predict` makes of each, saved as a 28 x 28 PNG (`mnist_style.prepare`:
  MNIST-style images go as they are, the rest through `mnist_style.to_mnist`). It ships with the
  package (`ship`), as the stress set does: it is the view `compare` reads.
"""


from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from digitlab.data.damage import HELD_OUT_KINDS, KINDS, NAMES, SEED, SEVERITIES, TUNING_SEED, damaged, severity_of
from digitlab.data.damage_drawing import SIDE

__all__ = ["HELD_OUT_KINDS", "KINDS", "NAMES", "SEED", "SEVERITIES", "TUNING_SEED", "damaged", "severity_of"]

VERSION = "v2"  # bump when what any kind draws changes: the caches are keyed on it (v2: milder glass_blur)

# ---------------------------------------------------------------------------------------------
# The set: every kind over every held-out digit, kind by kind
# ---------------------------------------------------------------------------------------------

PER_KIND = 1000  # images per kind: heldout.CORRUPTION's digits, each once


def digits(mnist_train: tuple[np.ndarray, np.ndarray], per_kind: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(images (n, 28, 28) uint8, labels (n,) uint8): the first `per_kind` (all when None) of the
    held-out digits the set damages, out of `mnist_train`, MNIST's training file as
    `data.mnist_arrays("train")` gives it (passed in, so that data.py may load this module)."""
    from digitlab.data.heldout import CORRUPTION

    images, labels = mnist_train
    keep = np.asarray(CORRUPTION)[:per_kind or PER_KIND]
    return images[keep], labels[keep]


def build_raw(mnist_train: tuple[np.ndarray, np.ndarray], seed: int = SEED, per_kind: int | None = None,
              kinds=NAMES) -> tuple[np.ndarray, np.ndarray]:
    """(images (N, 28, 28) uint8, labels (N,) uint8), N = len(kinds) * per_kind, kind by kind: the
    damaged digits as they are (`mnist_train` as `digits` takes it)."""
    clean, labels = digits(mnist_train, per_kind)
    images = np.stack([damaged(kind, i, clean[i], seed) for kind in kinds for i in range(len(clean))])
    return images, np.tile(labels, len(kinds))


def tuning_set(mnist_train: tuple[np.ndarray, np.ndarray], per_kind: int = 100,
               seed: int = TUNING_SEED) -> tuple[np.ndarray, np.ndarray]:
    """(images (n, 28, 28) uint8, labels (n,)): the kinds anyone may tune on (not HELD_OUT_KINDS),
    each applied to the first `per_kind` of heldout.CALIBRATION's digits with another seed: damage
    to choose thresholds on, from digits and draws that are not the set's own."""
    from digitlab.data.heldout import CALIBRATION

    images, labels = mnist_train
    keep = np.asarray(CALIBRATION)[:per_kind]
    kinds = [kind for kind in NAMES if kind not in HELD_OUT_KINDS]
    damaged_images = np.stack([damaged(kind, i, images[keep[i]], seed) for kind in kinds for i in range(per_kind)])
    return damaged_images, np.tile(labels[keep], len(kinds))


def kind_of(index: np.ndarray | int):
    """The kind name(s) of corruption-set image index(es): the set is laid out kind by kind."""
    return np.asarray(NAMES)[np.asarray(index) // PER_KIND]


def accuracy_by_kind(predicted, labels, index) -> dict[str, float]:
    """{"shot_noise": 0.97, ..., "all": 0.95, "seen kinds": 0.96, "held-out kinds": 0.93}: accuracy
    per kind, over the whole set, over the kinds anyone may tune on, and over HELD_OUT_KINDS."""
    predicted, labels = np.asarray(predicted), np.asarray(labels)
    right = predicted == labels
    names = kind_of(np.asarray(index))
    scores = {k: float(right[names == k].mean()) for k in NAMES if (names == k).any()}
    held_out = np.isin(names, list(HELD_OUT_KINDS))
    groups = {"all": right, "seen kinds": right[~held_out], "held-out kinds": right[held_out]}
    return {**scores, **{name: float(part.mean()) for name, part in groups.items() if len(part)}}


def describe(by_kind: dict[str, float]) -> str:
    """accuracy_by_kind's dict as two lines: the seen and held-out kinds and the worst kind, then
    every kind (held-out ones starred)."""
    kinds = [k for k in NAMES if k in by_kind]
    worst = min(kinds, key=by_kind.__getitem__)
    groups = ", ".join(f"{g} {by_kind[g]:.2%}" for g in ("seen kinds", "held-out kinds") if g in by_kind)
    every = ", ".join(f"{k}{'*' if k in HELD_OUT_KINDS else ''} {by_kind[k]:.2%}" for k in kinds)
    return f"{groups}, worst kind {worst} {by_kind[worst]:.2%}\nby kind (* held out): {every}"


def _png(image: np.ndarray) -> bytes:
    """(28, 28) uint8 -> the bytes of it saved as a grey PNG, as a user would save it for predict."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def cleaned(raw: np.ndarray, progress: bool = False) -> np.ndarray:
    """(n, 28, 28) uint8 damaged images -> (n, 28, 28) uint8: what `digitlab predict` gives a model
    for each one saved as a 28 x 28 PNG (`mnist_style.prepare`, the routing predict itself calls), rounded
    to 0-255 as a dataset stores it. An image to_mnist refuses (it found no digit) stays a black
    square, so every model gets it wrong, as a user would see it refused; none is dropped."""
    from digitlab.console import track
    from digitlab.vision.mnist_style import prepare

    out = np.zeros_like(raw)
    chunks = range(0, len(raw), PER_KIND)
    for start in track(chunks, "cleaning the corruption set as predict does") if progress else chunks:
        part = raw[start:start + PER_KIND]
        names = [f"corrupted image {start + k}" for k in range(len(part))]
        inputs, _ = prepare(part, range(len(part)), [_png(image) for image in part], names, skipped=lambda err: None)
        out[start:start + PER_KIND] = (inputs.numpy() * 255).round().astype(np.uint8)
    return out


VIEWS = ("corrupted_raw", "corrupted")  # data.load's names: the images as they are, and as predict reads them
SHIPPED = Path(__file__).resolve().parent / "drawn"  # the cleaned view as built for the package (see ship)


def _name(view: str, seed: int) -> str:
    from digitlab.vision.mnist_style import PREPROCESS_VERSION

    if view not in VIEWS:
        raise ValueError(f"no view {view!r} of the corruption set; choose one of {VIEWS}")
    if view == "corrupted_raw":
        return f"{VERSION}-seed{seed}-{PER_KIND}-raw.npz"
    # What predict makes of the images depends on the preprocessing too: a change to either rebuilds it.
    return f"{VERSION}-prep{PREPROCESS_VERSION}-seed{seed}-{PER_KIND}.npz"


def cache_path(view: str, seed: int = SEED) -> Path:
    from digitlab.store.files import home

    return home() / "corrupted" / _name(view, seed)


def shipped_path(seed: int = SEED) -> Path:
    return SHIPPED / f"corrupted-{_name('corrupted', seed)}"


def _cached(path: Path) -> tuple[np.ndarray, np.ndarray] | None:
    """The cached view at `path`, None when not built yet or damaged (array_cache checks it)."""
    from digitlab.store import array_cache

    saved = array_cache.load(path, ("images", "labels"), "corruption set")
    whole = saved and saved["images"].shape == (len(NAMES) * PER_KIND, SIDE, SIDE)
    if whole and len(saved["labels"]) == len(saved["images"]):
        return saved["images"], saved["labels"]
    return None


def _save(path: Path, images: np.ndarray, labels: np.ndarray) -> None:
    from digitlab.store import array_cache

    array_cache.save(path, images=images, labels=labels)


def arrays(mnist_train, view: str = "corrupted", seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """One view of the set as (images (N, 28, 28) uint8, labels (N,) uint8), from the cache when it is
    there, else built from `mnist_train` (a function giving MNIST's training file as `digits` takes it,
    called only then) and cached: the raw view in about 6 s, the cleaned one (every image through
    predict's routing) in 1-2 minutes more on two busy cores (benchmarks/RESULTS.md, "The corruption set").
    The cleaned view of the shipped seed is read from the package when it holds this version's (see ship)."""
    shipped = _cached(shipped_path(seed)) if view == "corrupted" else None
    found = shipped or _cached(cache_path(view, seed))
    if found is not None:
        return found
    raw = _cached(cache_path("corrupted_raw", seed))
    if raw is None:
        raw = build_raw(mnist_train(), seed)
        _save(cache_path("corrupted_raw", seed), *raw)
    if view == "corrupted_raw":
        return raw
    images, labels = cleaned(raw[0], progress=True), raw[1]
    _save(cache_path(view, seed), images, labels)
    return images, labels


def ship(seed: int = SEED) -> Path:
    """Build the cleaned view afresh (never from a cache) and write it into the package, compressed
    (4.1 MB), in place of any other version: a fresh install's first `compare` then reads it rather than
    damaging and cleaning 21,000 digits (8 + 8 s on two cores). tests/test_corrupted.py builds a sample
    again and checks it against this file, so the shipped set is always the one this code builds."""
    from digitlab.data.shipped_mnist import mnist_arrays
    from digitlab.store import array_cache

    raw, labels = build_raw(mnist_arrays("train"), seed)
    images = cleaned(raw, progress=True)
    for old in SHIPPED.glob(f"corrupted-*-seed{seed}-*.npz"):
        old.unlink()
    array_cache.save(shipped_path(seed), compress=True, images=images, labels=labels)
    return shipped_path(seed)


if __name__ == "__main__":  # python -m digitlab.data.corrupted: the shipped view built again (see ship)
    print(f"wrote {ship()}")
