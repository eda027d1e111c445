"""Shared pieces of the hostile-input suites: what every refusal must look like, and no leftovers."""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import textwrap
import zlib

from PIL import Image

from cli_run import assert_one_line_error, digitlab

LEFTOVERS = ("*.tmp", "*.partial", ".*.old-*")  # what atomic writes leave only when they fail to clean up


def leftovers(root) -> list:
    return sorted(str(p) for pattern in LEFTOVERS for p in root.rglob(pattern))


def refused(capsys, root, *argv, names: str | tuple = ()) -> str:
    """Run `digitlab ARGV`: exit 2, one error line holding each of `names`, no traceback, no leftovers."""
    exit_code, _, err = digitlab(capsys, *argv)
    assert_one_line_error(exit_code, err, *((names,) if isinstance(names, str) else names))
    assert leftovers(root) == []
    return err


def png(pixels) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def png_header(width: int, height: int, colour: int = 2) -> bytes:
    """A PNG that claims `width` x `height` pixels but holds almost nothing (a decompression bomb's
    header): the size is all a bounded decoder may read before refusing it."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, colour, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def at_and_past_the_budget() -> list[tuple[str, bytes, str]]:
    """(case, PNG header, words) exactly at decoding's pixel budget (read, then found truncated) and
    one row past it (refused from its header): grey, 1 byte a pixel, and RGB, which Pillow keeps in 4.
    The sides are the rule written down (64 MB: 8192 x 8192 grey, 4096 x 4096 colour), not read
    from decoding.py, so a moved limit fails here."""
    cases = []
    for colour, kind, side in ((0, "grey", 8192), (2, "colour", 4096)):
        cases.append((f"{kind} at the budget", png_header(side, side, colour), "not a readable image"))
        cases.append((f"{kind} past the budget", png_header(side, side + 1, colour),
                      f"too large to read ({side:,} x {side + 1:,} pixels"))
    return cases


def run_child(tmp_path, argv, prelude="", env=None, **kwargs) -> subprocess.CompletedProcess:
    """`digitlab ARGV` in a fresh interpreter in `tmp_path`, after the Python `prelude` (limits, patches)."""
    import digitlab as package

    code = textwrap.dedent(prelude) + "\nfrom digitlab.cli import main\nraise SystemExit(main(sys.argv[1:]))\n"
    source = os.path.dirname(os.path.dirname(package.__file__))  # this checkout's digitlab, from any folder
    return subprocess.run([sys.executable, "-c", "import sys\n" + code, *map(str, argv)], capture_output=True,
                          env={**os.environ, "PYTHONPATH": source, **(env or {})}, cwd=tmp_path, timeout=300,
                          **kwargs)
