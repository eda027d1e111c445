"""Stopping a save at each of its steps: every call it makes that changes the disk (a folder made, a
file written, a mode set, a rename, a removal) is a step, counted, and the save is stopped at step k.

Two ways to stop it:
- `interrupted_at(k, save, after)`: a KeyboardInterrupt raised at step k in this process (just
  before it, or just after it), as Ctrl-C or SIGTERM (errors.Terminated) lands; the save's own
  clean-up runs.
- `killed_at(k, save)`: the process dies at step k (a forked child leaves with os._exit, as kill -9
  or a power cut would stop it): no clean-up runs, and what is on disk is what the next start finds.
  A write is cut half way, as a torn write leaves it.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import traceback

KILLED = 77  # the child's exit status when it died at its step
# What a save changes the disk with: os's calls (mkdtemp makes its folder with os.mkdir; rmtree removes
# with os.unlink and os.rmdir) and pathlib's whole-file writes.
OS_STEPS = ("mkdir", "chmod", "replace", "rename", "unlink", "rmdir")
WRITES = ("write_bytes", "write_text")


class Stop:
    """Counts steps; at step `at` calls `stop(write)` where `write` is the half-write to make first
    (None for a step that writes nothing)."""

    def __init__(self, at: int, stop):
        self.at, self.stop, self.count = at, stop, 0

    def step(self, half_write=None) -> None:
        self.count += 1
        if self.count == self.at:
            if half_write is not None:
                half_write()
            self.stop()


@contextlib.contextmanager
def _counted(stopper: Stop, after: bool = False):
    """Every OS_STEPS call and pathlib write passes through `stopper` while the block runs: before
    the call is made, or with `after` once it is done (as a signal landing just after it would)."""
    saved = [(os, name, getattr(os, name)) for name in OS_STEPS]
    saved += [(pathlib.Path, name, getattr(pathlib.Path, name)) for name in WRITES]

    def os_step(real):
        def counted(*args, **kwargs):
            if after:
                try:
                    return real(*args, **kwargs)
                finally:  # counted even when the call fails (mkdir of a folder that is there)
                    stopper.step()
            stopper.step()
            return real(*args, **kwargs)
        return counted

    def write_step(real):
        def counted(path, data, *args, **kwargs):
            if after:
                try:
                    return real(path, data, *args, **kwargs)
                finally:
                    stopper.step()
            stopper.step(half_write=lambda: real(path, data[: len(data) // 2], *args, **kwargs))
            return real(path, data, *args, **kwargs)
        return counted

    for owner, name, real in saved:
        setattr(owner, name, (write_step if name in WRITES else os_step)(real))
    try:
        yield
    finally:
        for owner, name, real in saved:
            setattr(owner, name, real)


def steps(save) -> int:
    """How many steps `save()` takes when nothing stops it (it runs, and counts)."""
    counter = Stop(at=0, stop=lambda: None)
    with _counted(counter):
        save()
    return counter.count


def interrupted_at(at: int, save, after: bool = False) -> bool:
    """Run `save()` with a KeyboardInterrupt at step `at` (before it, or `after`); whether the
    interrupt happened."""
    def interrupt():
        raise KeyboardInterrupt

    with _counted(Stop(at, interrupt), after):
        try:
            save()
        except KeyboardInterrupt:
            return True
    return False


def killed_at(at: int, save) -> bool:
    """Run `save()` in a forked child that dies at step `at`; whether it died there (else it finished)."""
    pid = os.fork()
    if pid == 0:  # the child: never returns into the test run
        status = 1
        try:
            with _counted(Stop(at, lambda: os._exit(KILLED))):
                save()
            status = 0
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(status)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    assert code in (0, KILLED), f"the save failed in the child (exit {code}), not at its step"
    return code == KILLED
