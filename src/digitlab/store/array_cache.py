"""Drawn sets kept under `home()` (the stress set, the corruption set, the non-digits, the gate's drawn
and scanned digits): named arrays in one .npz with the SHA-256 of their bytes beside them, checked
whenever they are read, so that a cache damaged on disk (pixels zeroed, labels shifted, an array
rewritten as another type) is drawn again, with a warning, rather than measured as the set.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

DIGEST = "sha256"  # the .npz member holding the digest, beside the arrays


def _digest(arrays: dict[str, np.ndarray]) -> np.ndarray:
    """SHA-256 of each array's name, type, shape and bytes, in name order, as a uint8 array."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        h.update(f"{name}:{array.dtype.str}:{array.shape};".encode())
        h.update(array.tobytes())
    return np.frombuffer(h.digest(), dtype=np.uint8)


def save(path: Path, compress: bool = False, **arrays: np.ndarray) -> None:
    """The arrays, and their digest, written atomically to `path` (an .npz; `compress`: deflated, for
    a set that ships). A home that cannot take them (full, read-only) costs a warning: the caller has
    the arrays, and draws them again next time."""
    from digitlab.errors import OutputError, warn
    from digitlab.store.files import atomic_write

    try:
        with atomic_write(path) as f:
            (np.savez_compressed if compress else np.savez)(f, **arrays, **{DIGEST: _digest(arrays)})
    except OutputError as err:
        warn(f"drawn, but not cached ({err})")


def load(path: Path, names: tuple[str, ...], what: str) -> dict[str, np.ndarray] | None:
    """The uint8 arrays `names` saved at `path`, or None when there is no such cache (or one of an
    older layout, without a digest) or it is damaged: then `what` ("the stress set") is named in a
    warning, and the caller draws it again."""
    from digitlab.errors import warn

    try:
        with np.load(path, allow_pickle=False) as saved:
            arrays = {name: saved[name] for name in names}
            stored = saved[DIGEST] if DIGEST in saved.files else None
    except (OSError, ValueError, KeyError, EOFError):
        return None
    if stored is None:
        return None
    if not np.array_equal(stored, _digest(arrays)) or any(a.dtype != np.uint8 for a in arrays.values()):
        warn(f"{path}: the cached {what} is damaged (it does not match its checksum); drawing it again")
        return None
    return arrays
