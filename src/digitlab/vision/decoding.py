"""Opening a user's image file, bytes or PIL image, within bounds: EXIF rotation, Pillow's JPEG draft,
a budget of decoded pixels, a large image shrunk at once (`open_image`, `decode`, `reduced`)."""

from __future__ import annotations

import io
import os
import re
import threading
import warnings
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from digitlab.errors import DataError, NotAnImage


WORK_SIDE = 128  # px: the longer side the image is reduced to before cleaning; far above 20


# The one set of limits for every image digitlab decodes: predict, folders and the web page's uploads.
DECODE_SIDE = 4 * WORK_SIDE  # px: a file is decoded (or shrunk at once) to about this, longer side
FORMATS = ("PNG", "JPEG", "BMP", "GIF", "WEBP")  # the only decoders Pillow may try on a user's bytes
# Where predict and the web page disagreed (a 160 MB budget here, 4096 px a side there), the rule is
# the budget, on the pixels as decoded (a JPEG after its draft): it bounds memory, which a side limit
# only stands in for. Its size is the web's old worst case, a 4096 x 4096 colour image (64 MB), so a
# server's decoding threads need no more than before; a grey image may be 8192 x 8192.
MAX_DECODE_BYTES = 64 << 20  # one image's decoded pixels
BYTES_PER_PIXEL = {"1": 1, "L": 1, "I;16": 2, "I;16B": 2, "I;16L": 2}  # Pillow's storage; 4 for the rest
HINT = "give a PNG or JPEG of one digit"
SCALE = "digitlab_scale"  # the decoded image's info: its width over the file's
# warnings.catch_warnings swaps the process's one list of filters in and out: two threads opening files
# at once (predict reads photos on both cores) could restore each other's list and let Pillow's
# DecompressionBombWarning through. Opening reads the header only, so one at a time costs nothing.
_OPENING = threading.Lock()


def open_image(source: str | os.PathLike | bytes | Image.Image, name: str = "image") -> Image.Image:
    """A PIL image from a path, raw bytes or a PIL image, upright per its EXIF orientation.

    Decoding is bounded (see `decode`): a file is at most DECODE_SIDE on its longer side here.
    """
    if isinstance(source, Image.Image):
        image = source
    else:
        if isinstance(source, (bytes, bytearray)):
            stream = io.BytesIO(source)
        else:
            path = Path(source)
            if not path.is_file():
                if path.exists() and not path.is_dir():  # never opened: a pipe with no writer would hang
                    raise DataError(f"{path}: not a regular file (a pipe, a socket or a device); {HINT}")
                raise DataError(f"{path}: no such image file; check the path")
            stream, name = path, str(path)
        image = decode(stream, name, DECODE_SIDE)
    try:
        return ImageOps.exif_transpose(image)
    except (OSError, ValueError, SyntaxError):
        return image  # a damaged EXIF block: keep the pixels as stored


def decode(stream, name: str, side: int) -> Image.Image:
    """Open and decode one image file with bounded memory, shrunk to at most `side` pixels a side.

    Raises NotAnImage for bytes none of FORMATS reads, DataError for a damaged or too large one.
    A JPEG decodes straight at 1/2..1/8 scale (its draft mode). Other formats cannot, so a file
    whose pixels would take more than MAX_DECODE_BYTES is refused from its header, before decoding,
    and a large one is box-averaged down to `side` at once, so what follows works on a small image.
    """
    try:
        with _OPENING, warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the budget below decides
            image = Image.open(stream, formats=FORMATS)  # reads the header only
    except Image.DecompressionBombError as err:  # Pillow's own limit (178 million pixels)
        raise _too_large(name, _pixels_in(err)) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise NotAnImage(f"{name}: not a readable image (not {', '.join(FORMATS[:-1])} or {FORMATS[-1]}); "
                         f"{HINT}") from None
    try:
        stored = image.width
        image.draft(image.mode, (side, side))
        need = image.width * image.height * BYTES_PER_PIXEL.get(image.mode, 4)
        if need > MAX_DECODE_BYTES:
            raise _too_large(name, f"{image.width:,} x {image.height:,} pixels")
        image.load()  # decode now, so a truncated file fails here rather than later
        image = reduced(image, side)
        # How far the draft and the shrinking scaled it (both keep its aspect): a box found in these
        # pixels is given in the file's own (splitting.find_digits).
        image.info[SCALE] = image.width / stored
        return image
    except Image.DecompressionBombError as err:
        raise _too_large(name, _pixels_in(err)) from None
    except (OSError, SyntaxError, ValueError) as err:
        raise DataError(f"{name}: not a readable image ({_damage(image, err)}); {HINT}") from None


# Pillow's own words are for programmers: "broken PNG file (chunk b'\x00\x00\x00\x00')", "tile cannot
# extend outside image", "codec configuration error", and, from its opener, "cannot identify image
# file <_io.BytesIO object at 0x7f...>". A person is told the format and whether the file was cut short.
def _damage(image: Image.Image, err: Exception) -> str:
    """What is wrong with a file whose header opened but whose pixels did not decode, in plain words."""
    kind = f"a damaged {image.format} file" if image.format else "a damaged file"
    return f"{kind}, cut short" if "truncated" in str(err) else kind


def _pixels_in(err: Exception) -> str:
    """The pixel count Pillow's DecompressionBombError names, as digitlab writes numbers."""
    found = re.search(r"\((\d+) pixels\)", str(err))
    return f"{int(found.group(1)):,} pixels" if found else f"over {2 * Image.MAX_IMAGE_PIXELS:,} pixels"


def _too_large(name: str, size: str) -> DataError:
    return DataError(f"{name}: too large to read ({size}, over {MAX_DECODE_BYTES >> 20} MB decoded); "
                     "give a smaller image of one digit")


def reduced(image: Image.Image, side: int) -> Image.Image:
    """A decoded image larger than `side` box-averaged down by a whole factor (to at least `side`),
    in a mode whose values average (not palette indices or bits); smaller ones as they are."""
    factor = max(image.size) // side
    if factor < 2:
        return image
    if image.mode not in ("L", "LA", "RGB", "RGBA", "I", "F"):
        image = image.convert("RGBA" if "transparency" in image.info or "A" in image.mode else
                              "I" if image.mode.startswith("I;16") else "RGB" if image.mode != "1" else "L")
    return image.reduce(factor)
