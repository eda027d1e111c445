"""Fetching MNIST's four canonical .gz files from the public mirrors, with checksums.

digitlab ships these files already; downloading them is for checking a copy against the world or
for a machine that wants the originals. Each mirror gzips the files its own way, so the check is
on the DECOMPRESSED bytes, against `mnist/SHA256SUMS.idx`: the same for every faithful copy.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections.abc import Sequence
from pathlib import Path

from digitlab.console import console, progress_bar
from digitlab.data import idx
from digitlab.data.shipped_mnist import MNIST_FILES, shipped_dir
from digitlab.errors import ChecksumError, DataError
from digitlab.store.files import atomic_write, cannot_write, home, read_sums

# Tried in this order; the first is the one torchvision uses, the last is the original home.
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
FILES = (*MNIST_FILES["train"], *MNIST_FILES["test"])
# Whatever goes wrong with one mirror (HTTPError and URLError are OSErrors; ValueError is a
# malformed URL; DataError a truncated gzip or a checksum mismatch) sends us to the next.
FETCH_ERRORS = (OSError, http.client.HTTPException, zlib.error, ValueError, DataError)
TIMEOUT_S = 30.0  # seconds a connection may stay silent before the next mirror is tried
READ_BYTES = 1 << 16


def default_dest() -> Path:
    return home() / "download" / "mnist"


def expected_sums() -> dict[str, str]:
    """{file name without .gz: SHA-256 of its decompressed bytes}, as shipped."""
    return read_sums(shipped_dir() / "SHA256SUMS.idx")


def download(
    dest: str | os.PathLike | None = None,
    mirrors: Sequence[str] = MIRRORS,
    timeout: float = TIMEOUT_S,
) -> Path:
    """Fetch the four MNIST files into `dest` (default: under `data.home()`) and return it.

    Each file comes from the first mirror that serves it whole with the right checksum; a file
    already in `dest` with the right checksum is kept. Raises `DataError` when every mirror fails.
    """
    dest = Path(dest).expanduser() if dest is not None else default_dest()
    if not mirrors:
        raise DataError("no mirrors to download from; pass --mirror URL")
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise cannot_write(dest, err, "--dest") from err
    sums = expected_sums()
    with progress_bar() as bar:
        for name in FILES:
            target, expected = dest / name, sums[name.removesuffix(".gz")]
            if target.is_file() and _idx_sha256(target) == expected:
                console.print(f"{target}: already there, checksum good")
                continue
            failures = []
            for mirror in mirrors:
                url = mirror.rstrip("/") + "/" + name
                host = urllib.parse.urlsplit(url).netloc or mirror
                task = bar.add_task(f"{name} from {host}", total=None)
                try:
                    _fetch(url, target, expected, timeout, bar, task)
                    break
                except FETCH_ERRORS as err:
                    failures.append(f"{url} ({_reason(err)})")
                finally:
                    bar.remove_task(task)
            else:
                raise DataError(
                    f"{name}: every mirror failed: {'; '.join(failures)}; check the network "
                    "connection or pass another --mirror URL"
                )
    return dest


def _fetch(url: str, target: Path, expected: str, timeout: float, bar, task) -> None:
    """Stream `url` into `target` atomically, hashing the decompressed bytes on the way."""
    unzip = zlib.decompressobj(wbits=zlib.MAX_WBITS | 16)  # 16: expect a gzip header
    digest = hashlib.sha256()
    with urllib.request.urlopen(url, timeout=timeout) as response, atomic_write(target) as f:
        bar.update(task, total=int(response.headers.get("Content-Length") or 0) or None)
        while chunk := response.read(READ_BYTES):
            f.write(chunk)
            digest.update(unzip.decompress(chunk))
            bar.advance(task, len(chunk))
        if not unzip.eof:
            raise DataError(f"{url}: truncated gzip")
        if digest.hexdigest() != expected:
            raise ChecksumError(f"{url}: checksum mismatch")  # atomic_write leaves nothing behind


def _idx_sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(idx.read_bytes(path)).hexdigest()
    except DataError:
        return None


def _reason(err: Exception) -> str:
    if isinstance(err, urllib.error.HTTPError):
        return f"HTTP {err.code}"
    if isinstance(err, urllib.error.URLError):
        return str(err.reason)
    if isinstance(err, ChecksumError):
        return "checksum mismatch"
    if isinstance(err, zlib.error):
        return "not a gzip file"
    if isinstance(err, DataError):
        return str(err).rsplit(": ", 1)[-1]
    return str(err) or type(err).__name__
