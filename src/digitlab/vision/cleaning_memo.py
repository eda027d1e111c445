"""The images input_cleaning has already cleaned in this process, remembered by their pixels.

One `digitlab compare` cleans MNIST's 55,000 fit digits once for each of its four methods, then its
3s and 7s four times more, and `decline.screen` cleans again the images a model has just cleaned to
read. Cleaning is a pure function of the pixels, so a chunk seen before is answered from here. MNIST's
digits almost all pass unchanged, so what is kept is only what cleaning changed: the rows that differ
from the input and where they are (for MNIST's 55,000, a few dozen rows; for a set of damaged digits,
most of it, hence a bound on the bytes kept, the oldest forgotten first).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Callable

import torch

MOST_BYTES = 64 * 2**20  # rows kept at most: 21,000 damaged digits, every row changed, are 66 MB


class CleaningMemo:
    """chunk (n, 28, 28) float -> its cleaned form, computed once per distinct chunk of pixels."""

    def __init__(self, most_bytes: int = MOST_BYTES):
        self.most_bytes, self.kept_bytes = most_bytes, 0
        self.entries: OrderedDict[bytes, tuple[torch.Tensor, torch.Tensor]] = OrderedDict()
        self.hits = self.misses = 0

    @staticmethod
    def key(x: torch.Tensor) -> bytes:
        """The chunk's pixels (and shape and type), hashed: equal chunks, equal keys."""
        pixels = x.detach().contiguous().cpu().numpy()
        head = f"{tuple(x.shape)} {x.dtype}".encode()
        return hashlib.blake2b(pixels.data, digest_size=20, person=b"digitlab-clean").digest() + head

    def cleaned(self, x: torch.Tensor, clean: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        """clean(x), or the same tensor rebuilt from what an earlier equal chunk's cleaning changed."""
        if x.device.type != "cpu" or x.requires_grad or torch.compiler.is_exporting():
            return clean(x)  # remembered for plain CPU tensors only
        key = self.key(x)
        if key in self.entries:
            self.hits += 1
            self.entries.move_to_end(key)
            where, rows = self.entries[key]
            out = x.clone()
            out[where] = rows
            return out
        self.misses += 1
        out = clean(x)
        if out.shape == x.shape and out.dtype == x.dtype:
            where = torch.nonzero(_differ(out, x).flatten(1).any(1)).flatten()
            self._keep(key, where, out[where].clone())
        return out

    def _keep(self, key: bytes, where: torch.Tensor, rows: torch.Tensor) -> None:
        size = rows.numel() * rows.element_size()
        if size > self.most_bytes:
            return
        self.entries[key] = (where, rows)
        self.kept_bytes += size
        while self.kept_bytes > self.most_bytes:
            _, (_, old) = self.entries.popitem(last=False)
            self.kept_bytes -= old.numel() * old.element_size()


def _differ(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Where a's and b's elements differ bit for bit (-0.0 from 0.0 too, unlike a != b)."""
    if a.dtype == torch.float32:
        return a.view(torch.int32) != b.view(torch.int32)
    return a != b
