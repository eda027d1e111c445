"""The errors and warnings digitlab raises for a user's mistakes.

A `DigitlabError` means the input was wrong, not digitlab: its message names the file or option and
says what to do. The command line prints it in one line and exits non-zero; anything else that
escapes is a bug and keeps its traceback.
"""

from __future__ import annotations

import sys
import warnings


class DigitlabError(Exception):
    """A user-facing problem: bad data, a missing file, a wrong option."""


class DataError(DigitlabError):
    """Data that cannot be read: missing, empty, corrupt, or of the wrong shape."""


class BlankImage(DataError):
    """An image read fine that shows no ink: `predict` and `read` answer it as declined, "no digit"."""


class NotAnImage(DataError):
    """Bytes that none of the decoders digitlab allows recognises (the web page answers it 415)."""


class ChecksumError(DataError):
    """A file whose SHA-256 is not the one expected."""


class ModelError(DigitlabError):
    """A checkpoint that is missing, damaged, or used on the wrong task."""


class OutputError(DigitlabError):
    """A place digitlab cannot write to: a file where a folder should be, no permission, a full disk."""


class TrainingError(DigitlabError):
    """Training that cannot go on, such as a loss that became NaN."""


class Diverged(TrainingError):
    """Training that diverged (train.callbacks.Divergence): `train` then checks which lr trains."""


class Terminated(KeyboardInterrupt):
    """SIGTERM (what docker stop, systemd and a CI's cancel send), raised where the signal lands so
    that it takes Ctrl-C's path: a checkpoint kept or rolled back, nothing half-written left."""


def stopped(stop: KeyboardInterrupt) -> tuple[str, int]:
    """(what to say, the exit code) for a command stopped by Ctrl-C (130) or SIGTERM (143): 128 + the
    signal's number, as a shell reports a process the signal killed."""
    return ("terminated (SIGTERM)", 143) if isinstance(stop, Terminated) else ("interrupted", 130)


class DigitlabWarning(UserWarning):
    """Something skipped or adjusted that the user should know about."""


def warn(message: str) -> None:
    warnings.warn(message, DigitlabWarning, stacklevel=2)


def one_line_warnings(message, category, filename, lineno, file=None, line=None) -> None:
    """`warnings.showwarning` for the command line: "digitlab: warning: ..." on stderr, one line."""
    print(f"digitlab: warning: {message}", file=sys.stderr)


def warn_on_one_line() -> None:
    """Warnings as the command line shows them (its process, and any it starts to do its work): each
    DigitlabWarning every time, one line on stderr."""
    warnings.showwarning = one_line_warnings
    warnings.simplefilter("always", DigitlabWarning)
