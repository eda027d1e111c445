"""Reading MNIST-sized greyscale PNGs in batches, without Pillow.

Pillow spends about 35 us of Python on each file it opens (plugin detection, chunk parsing, the
image object), several times the work of the pixels in a 28 x 28 PNG. Here a file is read whole,
its chunks are checked and inflated with zlib, and the rows of a whole batch are unfiltered at once
with numpy. Only 8-bit greyscale, non-interlaced, 28 x 28 files take this path; `read` returns None
for anything else (or anything odd), and the caller decodes that file with Pillow, which also says
what is wrong with a damaged one. See benchmarks/RESULTS.md ("Folders") for the figures.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

SIGNATURE = b"\x89PNG\r\n\x1a\n"
SIDE = 28  # px: the only size read here; fastai's mnist_png and `digitlab export` write it
ROW_BYTES = SIDE + 1  # each row starts with its filter type
# width, height, bit depth 8, colour type 0 (grey), compression 0, filter method 0, no interlace
IHDR = struct.pack(">IIBBBBB", SIDE, SIDE, 8, 0, 0, 0, 0)


def read(data: bytes) -> bytes | None:
    """The filtered rows ((28 x 29) bytes) of a 28 x 28 8-bit greyscale PNG, else None.

    Every chunk's CRC is checked as Pillow checks it, so a damaged file goes to Pillow for its
    error rather than being read here."""
    if data[:8] != SIGNATURE or data[8:16] != b"\x00\x00\x00\x0dIHDR" or data[16:29] != IHDR:
        return None
    pos, idat = 8, []
    while pos + 12 <= len(data):
        (length,) = struct.unpack_from(">I", data, pos)
        kind, end = data[pos + 4 : pos + 8], pos + 8 + length
        if end + 4 > len(data) or zlib.crc32(data[pos + 4 : end]) != struct.unpack_from(">I", data, end)[0]:
            return None
        if kind == b"IDAT":
            idat.append(data[pos + 8 : end])
        elif kind == b"IEND":
            try:
                rows = zlib.decompress(b"".join(idat))
            except zlib.error:
                return None
            return rows if len(rows) == SIDE * ROW_BYTES else None
        elif kind == b"PLTE" or not kind[:1].islower() and kind not in (b"IHDR", b"IDAT"):
            return None  # a critical chunk this reader does not know: Pillow's turn
        pos = end + 4
    return None


def unfilter(rows: np.ndarray) -> np.ndarray:
    """(B, 28, 29) filtered rows -> (B, 28, 28) uint8 pixels (PNG's five row filters).

    None, Sub and Up are whole-row numpy operations; Average and Paeth depend on the pixel to the
    left, so they step along the row, still over every image of the batch at once. Pillow writes
    greyscale with no filter at all, so the common case is one comparison a row.
    """
    kinds, lines = rows[:, :, 0], rows[:, :, 1:].astype(np.int16)  # (B, 28), (B, 28, 28)
    out = np.zeros((len(rows), SIDE, SIDE), dtype=np.int16)
    for r in range(SIDE):
        up = out[:, r - 1] if r else np.zeros((len(rows), SIDE), dtype=np.int16)  # (B, 28)
        for kind in np.unique(kinds[:, r]):
            at = np.flatnonzero(kinds[:, r] == kind)
            line, above = lines[at, r], up[at]  # (b, 28)
            if kind == 0:
                out[at, r] = line
            elif kind == 1:
                out[at, r] = np.cumsum(line, axis=1) & 255
            elif kind == 2:
                out[at, r] = (line + above) & 255
            elif kind in (3, 4):
                out[at, r] = _stepwise(line, above, kind)
            else:
                raise ValueError(f"PNG row filter {kind}")
    return out.astype(np.uint8)


def _stepwise(line: np.ndarray, above: np.ndarray, kind: int) -> np.ndarray:
    """Average (3) or Paeth (4) unfiltering of (b, 28) rows, one column at a time."""
    done = np.zeros_like(line)
    left, corner = np.zeros(len(line), dtype=np.int16), np.zeros(len(line), dtype=np.int16)  # (b,)
    for c in range(SIDE):
        b = above[:, c]
        if kind == 3:
            guess = (left + b) >> 1
        else:  # Paeth: whichever of left, above and corner is nearest left + above - corner
            pa, pb, pc = np.abs(b - corner), np.abs(left - corner), np.abs(left + b - 2 * corner)
            guess = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, b, corner))
        done[:, c] = (line[:, c] + guess) & 255
        left, corner = done[:, c], b
    return done
