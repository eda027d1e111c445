"""fastai's small helpers the chapter prints: `L` (fastai's list), `tensor`, `first`, and what fastai
adds to pathlib (`Path.ls`, a short repr under `Path.BASE_PATH`) and PIL (`.shape`): importing
digitlab.book, and nothing else in digitlab, makes those two patches."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from digitlab.book.missing import _refuse_missing
from digitlab.errors import DataError


class L(list):
    """fastai's list: shows its length and its first 20 items, `(#26) [(0, 'a'),(1, 'b'),...]`."""

    def __init__(self, items=None, *rest):
        if items is None:
            items = []
        elif isinstance(items, (str, bytes, dict)) or not isinstance(items, Iterable):
            items = [items]  # fastai keeps a string whole rather than listing its letters
        super().__init__([*items, *rest])

    def __repr__(self) -> str:
        shown = ",".join(repr(o) for o in self[:20])
        return f"(#{len(self)}) [{shown}{'...' if len(self) > 20 else ''}]"

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return L(super().__getitem__(idx))
        if isinstance(idx, (list, tuple, torch.Tensor, np.ndarray)):
            picks = list(idx.tolist() if hasattr(idx, "tolist") else idx)
            if picks and all(isinstance(p, bool) for p in picks):  # a mask
                return L(o for o, keep in zip(self, picks) if keep)
            return L(super(L, self).__getitem__(i) for i in picks)
        return super().__getitem__(idx)

    def itemgot(self, *idxs) -> L:
        """Item `idxs[0]` of each element, then item `idxs[1]` of that, and so on."""
        result = self
        for i in idxs:
            result = L(o[i] for o in result)
        return result

    def attrgot(self, name: str) -> L:
        return L(getattr(o, name) for o in self)

    def map(self, f: Callable, *args, **kwargs) -> L:
        return L(f(o, *args, **kwargs) for o in self)

    def filter(self, f: Callable) -> L:
        return L(o for o in self if f(o))

    def sorted(self, key=None, reverse: bool = False) -> L:
        return L(sorted(self, key=key, reverse=reverse))

    def __getattr__(self, name: str):
        raise _refuse_missing("L", name)


def _ls(self: Path, n_max: int | None = None, file_exts: Iterable[str] | None = None) -> L:
    """The folder's entries in the order the file system gives them, as fastai's `Path.ls`.

    That order is arbitrary: call `.sorted()` on the result when the order matters.
    """
    if not self.is_dir():
        raise DataError(f"{self}: not a folder, so it has nothing to list")
    exts = None if file_exts is None else set(file_exts)
    entries = (p for p in self.iterdir() if exts is None or p.suffix in exts)
    return L(entries)[:n_max] if n_max is not None else L(entries)


def _path_repr(self: Path) -> str:
    """`Path('train/3/10000.png')`: relative to `Path.BASE_PATH` when that is set, as fastai shows."""
    shown = self
    if getattr(Path, "BASE_PATH", None) is not None:
        try:
            shown = self.relative_to(Path.BASE_PATH)
        except ValueError:
            pass  # a path outside BASE_PATH keeps its full form
    return f"Path({shown.as_posix()!r})"


Path.ls = _ls
Path.__repr__ = _path_repr
Path.BASE_PATH = None
Image.Image.shape = property(lambda im: (im.size[1], im.size[0]))  # (rows, columns), as an array


def tensor(x, *rest, **kwargs) -> torch.Tensor:
    """fastai's `tensor`: a tensor from a list, an array, a PIL image, or several numbers."""
    if rest:
        x = (x, *rest)
    if isinstance(x, torch.Tensor):
        return x
    if isinstance(x, Image.Image):
        return torch.from_numpy(np.array(x))  # (rows, columns) uint8 for a grayscale image
    if isinstance(x, np.ndarray):
        return torch.from_numpy(x)
    return torch.tensor(x, **kwargs)


def first(items, f: Callable | None = None):
    """The first element of `items` (for which `f` is true), or None: `xb, yb = first(dl)`."""
    return next((o for o in items if f is None or f(o)), None)
