"""The images input_cleaning has already cleaned in this process, remembered by their pixels.

One `digitlab compare` cleans MNIST's 55,000 fit digits once for each of its four methods, then its
3s and 7s four times more, and `decline.screen` cleans again the images a model has just cleaned to
read. Cleaning is a pure function of the pixels, so a chunk seen before is answered from here. MNIST's
digits almost all pass unchanged, so what is kept is only what cleaning changed: the rows that differ
from the input and where they are (for MNIST's 55,000, a few dozen rows; for a set of damaged digits,
most of it, hence a bound on the bytes kept, the oldest forgotten first).

A chunk of a data set (SHELF_FROM images or more) that cleaning leaves almost alone is also put on a
shelf on disk (`Shelf`: home()/cleaned/<version>, one small file a chunk), so that the next command
that cleans the same digits (`digitlab train` again, `compare` after its first run) reads them back
rather than cleaning them: MNIST's 55,000 fit digits take 1.1-1.6 s to clean, 0.2 s to read back.
The version names the cleaning's own source and torch's, so a changed cleaning never reads an old shelf.
"""

from __future__ import annotations

import hashlib
import shutil
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Callable

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

MOST_BYTES = 64 * 2**20  # rows kept at most: 21,000 damaged digits, every row changed, are 66 MB
MOST_CHUNKS = 4096  # chunks remembered at most, changed or not: a server answering for days sees a new
#                     one every request (compare: about 200 of input_cleaning.CHUNK images)
SHELF_FROM = 256  # images: a chunk at least this big is a data set's, worth a file (a request's is not)
SHELF_MOST = 2048  # files on the shelf at most, the oldest removed first: MNIST's 55,000 fit digits are 54 (264 KB)
SHELF_CHANGED = 1 / 8  # a chunk is shelved only where cleaning changed at most this share of its images:
#                        MNIST's, a few bytes a chunk (a damaged set, changed almost whole, is not)


class CleaningMemo:
    """chunk (n, 28, 28) float -> its cleaned form, computed once per distinct chunk of pixels."""

    def __init__(self, most_bytes: int = MOST_BYTES, most_chunks: int = MOST_CHUNKS,
                 shelf: Callable[[], Shelf | None] = lambda: None):
        self.most_bytes, self.most_chunks, self.kept_bytes = most_bytes, most_chunks, 0
        self.shelf = shelf  # asked each time: the home can change between calls (tests, a server's workers)
        self.entries: OrderedDict[bytes, tuple[torch.Tensor, torch.Tensor]] = OrderedDict()
        self.hits = self.misses = self.shelved = 0
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
            return _rebuilt(x, *kept)
        shelf = self.shelf() if len(x) >= SHELF_FROM else None
        shelved = shelf.get(key, x) if shelf else None
        if shelved is not None:  # not kept in memory too: small tensors kept between a data set's chunks
            # (3 MB each, freed) fragmented the heap: compare's peak 0.89 -> 1.44 GB (read again: 0.1 ms)
            with self.lock:
                self.shelved += 1
            return _rebuilt(x, *shelved)
        with self.lock:
            self.misses += 1
        out = clean(x)
        if out.shape == x.shape and out.dtype == x.dtype:
            where = torch.nonzero(_differ(out, x).flatten(1).any(1)).flatten()
            changed = out[where]  # (k, 28, 28), a copy: indexing by a tensor copies
            self._keep(key, where, changed)
            if shelf and len(where) <= SHELF_CHANGED * len(x):
                shelf.put(key, where, changed)
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


class Shelf:
    """Cleaned chunks on disk, in `directory`: one safetensors file a chunk, named by its key, holding
    what cleaning changed (`where`, `rows`). A file that cannot be read or written is as if absent."""

    warned: set[Path] = set()  # homes already said to be unwritable in this process: one line, not one a chunk

    def __init__(self, directory: Path):
        self.directory = directory

    def _path(self, key: bytes) -> Path:
        return self.directory / f"{hashlib.sha256(key).hexdigest()[:32]}.safetensors"

    def get(self, key: bytes, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
        """(where, rows) of the chunk `key` (whose pixels are `x`), or None where none is shelved."""
        path = self._path(key)
        if not path.exists():
            return None
        try:
            kept = load_file(path)
            where, rows = kept["where"], kept["rows"]
        except (OSError, SafetensorError, KeyError):  # cut short, or written by something else: clean again
            return None
        if where.ndim != 1 or rows.shape != (len(where), *x.shape[1:]) or rows.dtype != x.dtype or \
                (len(where) and int(where.max()) >= len(x)):
            return None
        return where, rows

    def put(self, key: bytes, where: torch.Tensor, rows: torch.Tensor) -> None:
        """Shelve a chunk's changes (store.files.atomic_write: a reader never meets half a file)."""
        from digitlab.errors import OutputError, warn
        from digitlab.store.files import atomic_write

        try:
            if not self.directory.exists():
                self._forget_other_versions()
            with atomic_write(self._path(key)) as f:
                f.write(save({"where": where.contiguous(), "rows": rows.contiguous()}))
            self._bound()
        except (OSError, OutputError) as err:  # a home that cannot be written (read-only, full, not a folder)
            if self.directory not in Shelf.warned:  # the shelf is a convenience: say so once, and go on
                Shelf.warned.add(self.directory)
                warn(f"cleaned digits not kept on disk ({err}); they are cleaned again each run")

    def _bound(self) -> None:
        """At most SHELF_MOST files: a predict of many folders shelves a file for each big chunk."""
        files = list(self.directory.glob("*.safetensors"))
        if len(files) > SHELF_MOST:
            files.sort(key=lambda f: f.stat().st_mtime)
            for old in files[:len(files) - SHELF_MOST]:
                old.unlink(missing_ok=True)

    def _forget_other_versions(self) -> None:
        """Shelves of an earlier cleaning (its sources or torch since changed) will never be read again."""
        if self.directory.parent.is_dir():
            for old in self.directory.parent.iterdir():
                if old.is_dir() and old.name != self.directory.name:
                    shutil.rmtree(old, ignore_errors=True)


def home_shelf(*sources: Path) -> Callable[[], Shelf | None]:
    """A memo's shelf: home()/cleaned/<the version of `sources`>, asked each time (the home can change);
    None where the sources cannot be read to name the version (no shelf, never a stale one)."""
    named: list[str] = []

    def shelf() -> Shelf | None:
        from digitlab.store.files import home

        if not named:
            try:
                named.append(version(*sources))
            except OSError:
                named.append("")
        return Shelf(home() / "cleaned" / named[0]) if named[0] else None

    return shelf


def version(*sources: Path) -> str:
    """A name for the cleaning as it is: its sources' bytes and torch's version, hashed."""
    digest = hashlib.sha256(torch.__version__.encode())
    for source in sources:
        digest.update(source.read_bytes())
    return digest.hexdigest()[:16]


def _rebuilt(x: torch.Tensor, where: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """x with the rows cleaning changed (`rows`, at `where`) put back: what clean(x) gave."""
    out = x.clone()
    out[where] = rows
    return out


def _differ(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Where a's and b's elements differ bit for bit (-0.0 from 0.0 too, unlike a != b)."""
    if a.dtype == torch.float32:
        return a.view(torch.int32) != b.view(torch.int32)
    return a != b
