"""Safe file writing and hashing, shared by every module that writes or checks a file."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from digitlab.errors import ChecksumError, OutputError


def default_mode(folder: bool = False) -> int:
    """The permissions a plain open() or mkdir() would give under the process's umask.

    tempfile makes its files 0600 and folders 0700, which would leave a report or a model that
    only its writer can read; files written through a temporary name get these modes instead.
    """
    umask = os.umask(0)  # reading the umask means setting it; put it straight back
    os.umask(umask)
    return (0o777 if folder else 0o666) & ~umask


# What a write fails with when there is no room: said in words, and never a traceback.
NO_ROOM = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is used up",
           errno.EFBIG: "the file is too large for this system's file-size limit"}
# numpy's words for a full disk, which carry no errno (np.save to a file, tofile, its allocation)
NUMPY_NO_ROOM = r"not enough free space to write|^\d+ requested and \d+ written$"


def room_error(err: BaseException) -> int | None:
    """The NO_ROOM errno a failed write stands for, else None. numpy's own writers (`tofile`, under
    np.save to a real file; its file allocation) say "N requested and M written" or "Not enough free
    space to write N bytes" with no errno at all: those are a full disk too."""
    if not isinstance(err, OSError):
        return None
    if err.errno in NO_ROOM:
        return err.errno
    if err.errno is None and re.search(NUMPY_NO_ROOM, str(err), re.IGNORECASE):
        return errno.ENOSPC
    return None


def cannot_write(path: str | os.PathLike, err: OSError, option: str | None = None) -> OutputError:
    """The one-line error for a path that could not be written; names a file standing in the way,
    and the option (e.g. "--dest") that chose the path, where one did."""
    blocker = next((p for p in Path(path).parents if p.exists() and not p.is_dir()), None)
    full = room_error(err)
    why = f"{blocker} is a file, not a folder" if blocker else (NO_ROOM.get(full) or err.strerror or str(err))
    fix = {errno.EFBIG: "raise the limit (ulimit -f) or "}.get(full, "free some space or " if full else "")
    return OutputError(f"{path}: cannot write here ({why}); {fix}choose another {option or 'place'}")


def check_output_folder(path: str | os.PathLike, option: str) -> None:
    """Refuse, before any work, a folder that cannot be made or written: a file in its place or
    above it, or a parent without write permission. (Saving checks again: this only saves the wait.)"""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError(f"{option} {path}: is a file, not a folder; choose another {option}")
    parent = path
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise OutputError(f"{option} {path}: {parent} is a file, so no folder can be made in it")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"{option} {path}: no permission to write in {parent}; choose another {option}")


def through_link(path: Path, option: str | None = None) -> Path:
    """Where a folder path leads: a symbolic link is followed, so that a save writes into its target
    and never renames the link aside; a link that leads nowhere is refused before anything moves."""
    if not path.is_symlink():
        return path
    try:
        target = path.resolve(strict=True)
    except (OSError, RuntimeError):  # leads nowhere, or round in a loop
        named = f"{option} {path}" if option else str(path)
        raise OutputError(f"{named}: is a link to {os.readlink(path)}, which does not exist; create that "
                          f"folder or choose another {option or 'place'}") from None
    return target


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Write to a temporary file beside `path`, then rename it into place.

    A crash or Ctrl-C part-way leaves the old file (or none), never a half-written one. A path
    that cannot be written (a folder in its place, a file above it, no permission) raises an
    OutputError naming `path`, not the temporary file.
    """
    path = Path(path)
    # Named before it is made (this process's and thread's own name), so that a Ctrl-C or SIGTERM
    # landing as it is made still knows what to remove.
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_native_id()}.tmp")
    try:
        if path.is_dir():
            raise IsADirectoryError(21, "a folder of that name is there")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0), 0o666)
    except OSError as err:
        raise cannot_write(path, err) from err
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    finished = False  # the caller's own work is done; what fails after it is the writing
    try:
        with os.fdopen(fd, mode) as f:  # closing flushes what is left: it can find the disk full too
            yield f
            finished = True
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        # An OSError the caller's own work raises (a network read, say) passes as it is, unless it
        # is its writes to f that found no room.
        if isinstance(err, OSError) and (finished or room_error(err)):
            raise cannot_write(path, err) from err
        raise


def sha256_file(path: str | os.PathLike, chunk_bytes: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def read_sums(path: str | os.PathLike) -> dict[str, str]:
    """Parse a `sha256sum`-style file into {file name: hex digest}."""
    sums = {}
    for line in Path(path).read_text().splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            sums[name.strip().lstrip("*")] = digest
    return sums


def verify_sha256(path: str | os.PathLike, expected: str) -> None:
    actual = sha256_file(path)
    if actual != expected:
        raise ChecksumError(
            f"{path}: checksum mismatch (sha256 {actual[:12]}..., expected {expected[:12]}...); "
            "the file is damaged or not the original: delete it and fetch it again"
        )


def home() -> Path:
    """Where digitlab keeps its cache: $DIGITLAB_HOME, else the platform's cache folder."""
    if env := os.environ.get("DIGITLAB_HOME"):
        return Path(env).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "digitlab"
