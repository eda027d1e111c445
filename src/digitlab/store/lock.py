"""One run at a time writes a folder: a lock file beside it (`.NAME.lock`), held for the whole run.

The lock is the operating system's (flock), so it goes with the process that holds it however that
process ends, kill -9 included: a lock file left by a process that is gone is simply taken over.
The holder's process id is written in the file, for the message a second run gets. Where there is
no flock (Windows), runs are not kept apart.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from digitlab.errors import OutputError
from digitlab.store.files import cannot_write

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None


def lock_path(folder: Path) -> Path:
    folder = Path(os.path.abspath(folder))
    return folder.with_name(f".{folder.name}.lock")


@contextlib.contextmanager
def holding(folder: str | os.PathLike, option: str = "--out") -> Iterator[None]:
    """Hold `folder`'s lock while the block runs; another run holding it is refused in one line
    that names its process id and `option`."""
    folder = Path(folder)
    path = lock_path(folder)
    fd = _take(path, folder, option) if fcntl is not None else None
    try:
        yield
    finally:
        if fd is not None:
            _release(path, fd)


def _take(path: Path, folder: Path, option: str) -> int | None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise cannot_write(folder, err, option) from err
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as err:
            raise cannot_write(folder, err, option) from err
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise OutputError(f"{option} {folder}: another digitlab run (process {holder}) is writing there; "
                              f"wait for it to end, or choose another {option}") from None
        except OSError:  # a file system without locks (some network mounts): go on unlocked
            os.close(fd)
            return None
        if _still_there(fd, path):
            break
        os.close(fd)  # its holder removed the file as this run locked it: lock the new one
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def _holder(fd: int) -> str:
    """The process id the holder wrote, as text ("unknown" while it has not written it yet)."""
    text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    return text if text.isdigit() else "unknown"


def _still_there(fd: int, path: Path) -> bool:
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False


def _release(path: Path, fd: int) -> None:
    """Remove the lock file (while still holding it, so no run can lock the removed one), then unlock."""
    with contextlib.suppress(OSError):
        if _still_there(fd, path):
            os.unlink(path)
    os.close(fd)
