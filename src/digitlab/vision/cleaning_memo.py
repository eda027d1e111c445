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
import threading
from collections import OrderedDict
from typing import Callable

import torch

MOST_BYTES = 64 * 2**20  # rows kept at most: 21,000 damaged digits, every row changed, are 66 MB
MOST_CHUNKS = 4096  # chunks remembered at most, changed or not: a server answering for days sees a new
#                     one every request (compare: about 200 of input_cleaning.CHUNK images)


class CleaningMemo:
    """chunk (n, 28, 28) float -> its cleaned form, computed once per distinct chunk of pixels."""

    def __init__(self, most_bytes: int = MOST_BYTES, most_chunks: int = MOST_CHUNKS):
        self.most_bytes, self.most_chunks, self.kept_bytes = most_bytes, most_chunks, 0
        self.entries: OrderedDict[bytes, tuple[torch.Tensor, torch.Tensor]] = OrderedDict()
        self.hits = self.misses = 0
        self.lock = threading.Lock()  # predict's reading threads and the server's may clean at once

    @staticmethod
    def key(x: torch.Tensor) -> bytes:
        """The chunk's pixels (and shape and type), hashed: equal chunks, equal keys."""
        pixels = x.detach().contiguous().cpu().numpy()
        head = f"{tuple(x.shape)} {x.dtype}".encode()
        # SHA-256 rather than BLAKE2: the CPU's SHA instructions make it twice as fast here (55,000
        # digits as floats, 172 MB: 0.54 s against 1.17 s at load 3), a tenth of what cleaning them costs.
        return hashlib.sha256(pixels.data).digest() + head

    def cleaned(self, x: torch.Tensor, clean: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        """clean(x), or the same tensor rebuilt from what an earlier equal chunk's cleaning changed."""
        if x.device.type != "cpu" or x.requires_grad or torch.compiler.is_exporting():
            return clean(x)  # remembered for plain CPU tensors only
        key = self.key(x)
        with self.lock:
            kept = self.entries.get(key)
            if kept is not None:
                self.hits += 1
                self.entries.move_to_end(key)
        if kept is not None:
            where, rows = kept
            out = x.clone()
            out[where] = rows
            return out
        with self.lock:
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
        with self.lock:
            self._store(key, where, rows, size)

    def _store(self, key: bytes, where: torch.Tensor, rows: torch.Tensor, size: int) -> None:
        if key in self.entries:  # another thread cleaned the same chunk meanwhile
            return
        self.entries[key] = (where, rows)
        self.kept_bytes += size
        while self.kept_bytes > self.most_bytes or len(self.entries) > self.most_chunks:
            _, (_, old) = self.entries.popitem(last=False)
            self.kept_bytes -= old.numel() * old.element_size()


def _differ(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Where a's and b's elements differ bit for bit (-0.0 from 0.0 too, unlike a != b)."""
    if a.dtype == torch.float32:
        return a.view(torch.int32) != b.view(torch.int32)
    return a != b
