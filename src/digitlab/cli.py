"""The `digitlab` command: one argparse parser, one module per subcommand in `digitlab.commands`.

Each command module defines `add_parser(subparsers)` and `run(args) -> int`, and imports torch only
inside `run`, so that `digitlab --help` stays fast. A `DigitlabError` (a user's mistake) prints as
one line and exits 2; Ctrl-C exits 130, and SIGTERM, raised as `errors.Terminated` (a KeyboardInterrupt)
so that it takes Ctrl-C's path, 143; a reader that stops reading (`| head`) ends it quietly with
141 (an output that cannot be written, a full disk, is the command's DigitlabError); anything else is a
bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import codecs
import importlib
import io
import os
import signal
import sys
import threading

from digitlab import __version__

# Subcommands in the order `digitlab --help` lists them; each is digitlab.commands.<name> (`export-model`, `export-site`).
COMMANDS = ["compare", "train", "evaluate", "predict", "serve", "data", "export", "export_model", "export_site", "download"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="digitlab",
        description="Handwritten-digit classification from scratch, after fastai's chapter 4.",
    )
    parser.add_argument("--version", action="version", version=f"digitlab {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"digitlab.commands.{name}").add_parser(subparsers)
    return parser


def _escape_unprintable(err: UnicodeEncodeError) -> tuple[str, int]:
    """A file name's bytes that are not UTF-8 (which Python holds as surrogates, \\udcff for the
    byte 0xff) print as \\xff; any other character the stream cannot encode as a \\u escape."""
    bad = err.object[err.start : err.end]
    shown = "".join(f"\\x{ord(c) - 0xDC00:02x}" if 0xDC80 <= ord(c) <= 0xDCFF else
                    c.encode("ascii", "backslashreplace").decode("ascii") for c in bad)
    return shown, err.end


def safe_output() -> None:
    """Make stdout and stderr print any path: a non-UTF-8 file name on a strict UTF-8 (or ASCII)
    terminal ended in a UnicodeEncodeError traceback before. (JSON output escapes it itself.)"""
    codecs.register_error("digitlab-escape", _escape_unprintable)
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):  # a real text stream, not a test's capture
            stream.reconfigure(errors="digitlab-escape")


def _raise_terminated(signum, frame) -> None:
    from digitlab.errors import Terminated

    raise Terminated()


def _sigterm_as_interrupt(command: str | None) -> list:
    """Route SIGTERM to Ctrl-C's path for this command; [the handler it replaced] to put back after,
    or [] where none was set: for `serve`, which stops its server on SIGTERM itself, and off the
    main thread, where no handler can be set."""
    if command == "serve" or threading.current_thread() is not threading.main_thread():
        return []
    return [signal.signal(signal.SIGTERM, _raise_terminated) or signal.SIG_DFL]


def main(argv: list[str] | None = None) -> int:
    from digitlab.errors import DigitlabError, stopped, warn_on_one_line

    safe_output()
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 0
    warn_on_one_line()
    previous = _sigterm_as_interrupt(args.command)
    try:
        return int(args.run(args) or 0)
    except DigitlabError as err:
        print(f"digitlab: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as stop:  # Ctrl-C or SIGTERM
        said, code = stopped(stop)
        print(f"digitlab: {said}", file=sys.stderr)
        return code
    except BrokenPipeError:
        # The reader of the output went away (`digitlab predict ... | head -1`): stop quietly, as
        # Unix tools do, with the status a process stopped by SIGPIPE has.
        drop_stdout()
        return PIPE_CLOSED
    finally:
        for handler in previous:
            signal.signal(signal.SIGTERM, handler)


PIPE_CLOSED = 141  # 128 + SIGPIPE


def drop_stdout() -> None:
    """Point stdout at the null device, so that Python's own flush at exit has nothing left to fail on."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        pass  # not a real file (a test's capture): nothing flushes it at exit


if __name__ == "__main__":
    raise SystemExit(main())
