"""Replacing a folder by a complete new one, and finishing or undoing a replacement a crash cut short.

A folder cannot replace a folder in one rename, so a save builds the new folder under a temporary
name (`.NAME.new-PID.tmp`), moves the old one aside (`.NAME.old-PID`), renames the new one in and
removes the old one. Ctrl-C or SIGTERM at any point is undone on the spot (`swap_in`); a process
killed outright (kill -9, a power cut, a second signal during the undoing) leaves those names
behind, and `recover`, run before the next load or save of NAME, finishes the swap or rolls it back
with a one-line warning, so that NAME always ends up holding either the old or the new folder.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

from digitlab.errors import warn


def new_folder(directory: Path) -> Path:
    """The name to build `directory`'s replacement under, beside it and named for this process (any
    such folder of its own is a leftover: recover removes it first)."""
    return directory.with_name(f".{directory.name}.new-{os.getpid()}.tmp")


def swap_in(new: Path, directory: Path) -> None:
    """Put the complete folder `new` at `directory`; if anything (Ctrl-C, SIGTERM) stops the second
    rename, the old folder goes back; if it stops the removal of the old one (or lands just after
    the second rename), the removal is finished."""
    old = None
    try:
        if directory.exists():
            old = directory.with_name(f".{directory.name}.old-{os.getpid()}")
            os.replace(directory, old)
        os.replace(new, directory)
    except BaseException:
        if old is not None and not directory.exists():
            os.replace(old, directory)
        elif old is not None:  # `directory` is the new folder (or the old never moved): what is aside goes
            remove(old)
        remove(new)
        raise
    if old is not None:
        remove(old)


def remove(folder: Path) -> None:
    """Remove `folder`; a Ctrl-C or SIGTERM part-way is let through only once it is all gone."""
    try:
        shutil.rmtree(folder, ignore_errors=True)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def _owner(path: Path, directory: Path) -> int | None:
    """The process id in a leftover's name (`.NAME.old-PID`, `.NAME.new-PID.tmp`)."""
    found = re.fullmatch(rf"\.{re.escape(directory.name)}\.(?:old-(\d+)|new-(\d+)\.tmp)", path.name)
    return int(found[1] or found[2]) if found else None


def _gone(pid: int) -> bool:
    """Whether the process that left a name has ended. This process's own leftovers count as gone:
    its saves run one at a time, so one that left them has ended."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # there, but another user's
        return False
    return False


def leftovers(directory: Path) -> tuple[list[Path], list[Path]]:
    """(old folders, new folders), the newest first, that ended processes' saves of `directory` left beside it."""
    found = []
    with contextlib.suppress(OSError):
        for path in directory.parent.glob(f".{glob.escape(directory.name)}.*"):
            pid = _owner(path, directory)
            if pid is not None and _gone(pid):
                with contextlib.suppress(OSError):
                    found.append((path.lstat().st_mtime_ns, path))
    found = [path for _, path in sorted(found, reverse=True)]
    olds = [path for path in found if path.name.startswith(f".{directory.name}.old-")]
    return olds, [path for path in found if path not in olds]


def recover(directory: Path, complete: Callable[[Path], bool]) -> None:
    """Finish or roll back a save of `directory` that a killed process left half done.

    `directory` missing: the newest new folder that is `complete` goes in (the save is finished),
    else the old one goes back (rolled back). Then whatever else is left is removed. Nothing to do
    (the usual case) costs one listing of the parent folder.
    """
    olds, news = leftovers(directory)
    if not olds and not news:
        return
    said = "removed what it left behind"
    try:
        if not directory.exists():
            finished = next((new for new in news if complete(new)), None)
            if finished is not None:
                os.replace(finished, directory)
                news.remove(finished)
                said = "finished it: the new checkpoint is in place"
            elif olds:
                os.replace(olds[0], directory)
                olds.pop(0)
                said = "rolled it back: the checkpoint before it is in place"
        for path in olds + news:
            shutil.rmtree(path)
    except OSError as err:
        warn(f"{directory}: a save was cut short, and what it left ({', '.join(p.name for p in olds + news)}) "
             f"cannot be put right ({err.strerror or err}); move it back by hand")
        return
    warn(f"{directory}: a save was cut short (the process was stopped); {said}")
