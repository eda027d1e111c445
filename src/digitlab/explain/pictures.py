"""An explanation's maps as pictures: each map in blue and red (`heat`), a hidden unit as its
strongest inputs over the digit (`unit_picture`), and for `predict --explain` each map captioned,
with its colour key, in one PNG (`captioned`, `save_pictures`). The words are words.py's.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import os
import textwrap
from pathlib import Path

import torch

from digitlab.explain import words
from digitlab.explain.explanations import Explanation

PICTURE_SCALE = 8  # a 28 x 28 map drawn as 224 x 224
UNIT_SHADE = 0.4  # how dark this digit's ink is drawn under a unit's picture: light grey, under the colours
WIDTH = 480  # px: a captioned picture's width (the map 224, the text beside nothing: all below it)
MARGIN = 12  # px around and between the parts
FONT_PX = 14  # caption text; the title is bold and 16 px
KEY_HEIGHT = 14  # px: the colour key's strip


def picture(e: Explanation, key: str):
    """Map `key` of explanation `e` as a PIL image: a hidden unit's over the digit, any other map as `heat`."""
    if key.startswith("unit_"):
        return unit_picture(e.maps[key], e.seen)
    return heat(e.maps[key])


def _rgb(red: torch.Tensor, green: torch.Tensor, blue: torch.Tensor, scale: int):
    """Three (h, w) channels in [0, 1] as a PIL image, each pixel a scale x scale square."""
    import numpy as np
    from PIL import Image

    pixels = (torch.stack([red, green, blue], dim=-1).clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    h, w = red.shape
    return Image.fromarray(np.ascontiguousarray(pixels), "RGB").resize((w * scale, h * scale), Image.NEAREST)


def _signed(map_: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(positive, negative) parts of a map in [0, 1], scaled by its largest magnitude."""
    m = map_.float()
    top = m.abs().max().clamp_min(1e-12)
    return (m / top).clamp_min(0), (-m / top).clamp_min(0)


def heat(map_: torch.Tensor, scale: int = PICTURE_SCALE):
    """A signed map: red where positive, blue where negative, white at 0, scaled by its largest magnitude."""
    pos, neg = _signed(map_)
    return _rgb(1 - neg, 1 - pos - neg, 1 - pos, scale)


def strongest(weights: torch.Tensor) -> torch.Tensor:
    """A hidden unit's weights with all but its STRONGEST_INPUTS largest (in size) set to 0."""
    w = weights.float()
    keep = round(words.STRONGEST_INPUTS * w.numel())
    return w * (w.abs() >= w.abs().flatten().topk(keep).values[-1])


def unit_picture(weights: torch.Tensor, seen: torch.Tensor, scale: int = PICTURE_SCALE):
    """A hidden unit's (28, 28) weights as what excites it: its strongest weights in red (positive) and
    blue, on white, and the digit `seen` in light grey where the weights are weak, so that a reader sees
    which of the digit's strokes the unit looks for. All 784 weights drawn read as noise."""
    w = strongest(weights)
    strong = w != 0
    pos, neg = _signed(w)
    paper = 1 - UNIT_SHADE * seen.float().clamp(0, 1) * ~strong  # (28, 28): white, grey under the digit's ink
    return _rgb(paper * (1 - neg), paper * (1 - pos - neg), paper * (1 - pos), scale)


def grey(image: torch.Tensor, scale: int = PICTURE_SCALE):
    """A (h, w) image in [0, 1] as a greyscale PIL image, scale x larger."""
    from PIL import Image

    pixels = (image.clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    return Image.fromarray(pixels, "L").resize((image.shape[1] * scale, image.shape[0] * scale), Image.NEAREST)


@functools.cache
def _fonts():
    """matplotlib's DejaVu Sans (the same file wherever digitlab is installed): regular and bold, read once."""
    from PIL import ImageFont

    from digitlab.data.glyphs import font_dir

    return (ImageFont.truetype(str(font_dir() / "DejaVuSans.ttf"), FONT_PX),
            ImageFont.truetype(str(font_dir() / "DejaVuSans-Bold.ttf"), FONT_PX + 2))


def _lines(text: str, font, width: int) -> list[str]:
    """`text` broken into lines no wider than `width` px in `font`."""
    lines: list[str] = []
    for word in text.split():
        if lines and font.getlength(f"{lines[-1]} {word}") <= width:
            lines[-1] += f" {word}"
        else:
            lines.append(word)
    return lines


def captioned(map_picture, said: words.MapWords, signed: bool = True):
    """One PNG's picture: the title, the map, its colour key (a strip from blue through white to red,
    each end named) and the caption below. `signed=False`: a grey picture, its key black to white."""
    from PIL import Image, ImageDraw

    regular, bold = _fonts()
    inner = WIDTH - 2 * MARGIN
    key = _key(said, signed)
    key_lines = [line for item in key for line in _lines(item, regular, inner)]
    caption = _lines(said.caption, regular, inner)
    step = FONT_PX + 4  # px a line
    height = (MARGIN + step + 4 + map_picture.height + MARGIN + KEY_HEIGHT + 4 + step * len(key_lines) + MARGIN
              + step * len(caption) + MARGIN)
    page = Image.new("RGB", (WIDTH, height), "white")
    draw = ImageDraw.Draw(page)
    y = MARGIN
    draw.text((MARGIN, y), textwrap.shorten(said.title, 60), fill="black", font=bold)
    y += step + 4
    page.paste(map_picture.convert("RGB"), ((WIDTH - map_picture.width) // 2, y))
    draw.rectangle([(WIDTH - map_picture.width) // 2 - 1, y - 1, (WIDTH + map_picture.width) // 2, y + map_picture.height],
                   outline=(150, 150, 150))
    y += map_picture.height + MARGIN
    page.paste(_strip(inner, signed), (MARGIN, y))
    y += KEY_HEIGHT + 4
    for line in key_lines:
        draw.text((MARGIN, y), line, fill="black", font=regular)
        y += step
    y += MARGIN
    for line in caption:
        draw.text((MARGIN, y), line, fill=(60, 60, 60), font=regular)
        y += step
    return page


def _key(said: words.MapWords, signed: bool) -> list[str]:
    """The colour key's lines: words.MapWords.key's, or for a grey picture black (`said.blue`) and white (`said.red`)."""
    return said.key() if signed else [f"black: {said.blue}", f"white: {said.red}"]


def _strip(width: int, signed: bool):
    """The colour key's strip: blue to white to red as heat draws them (or black to white)."""
    ramp = torch.linspace(-1, 1, width).expand(KEY_HEIGHT, width)  # (KEY_HEIGHT, width)
    if not signed:
        return grey((ramp + 1) / 2, scale=1).convert("RGB")
    return heat(ramp, scale=1)


def png(picture, said: words.MapWords | None = None, signed: bool = True) -> bytes:
    """A picture as PNG bytes; with words, its title, caption and colour key in the file's text (PNG's
    Title and Description), where a screen reader or an image viewer finds them."""
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    if said is not None:
        info.add_itxt("Title", said.title)
        info.add_itxt("Description", f"{said.caption} Colour key: {'; '.join(_key(said, signed))}.")
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def save_pictures(explanation: Explanation, folder: str | os.PathLike, stem: str) -> list[Path]:
    """DIR/<stem>-seen.png and DIR/<stem>-<map>.png for each map, each captioned with its colour key,
    written atomically; their paths. About 50 ms a picture on one busy core (2026-12-07: a simple net's
    seven, 0.3 s; a third of it PNG encoding, a fifth the text, a fifth the atomic writes' syncs)."""
    from digitlab.errors import OutputError
    from digitlab.store.files import atomic_write

    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(f"{folder}: cannot make the explanations' folder ({err.strerror}); "
                          "give --explain a folder you can write to") from None
    seen = words.MapWords("the digit as the model saw it", words.SEEN, "the paper", "the pen's ink")
    pages = {"seen": png(captioned(grey(explanation.seen), seen, signed=False), seen, signed=False)}
    for key in explanation.maps:
        said = words.for_map(explanation, key)
        if key.startswith("unit_"):  # a picture on its own: it says what a unit is too
            said = dataclasses.replace(said, caption=f"{said.caption} {words.UNITS}")
        pages[key] = png(captioned(picture(explanation, key), said), said)
    written = []
    for name, data in pages.items():
        path = folder / f"{stem}-{name}.png"
        with atomic_write(path) as f:
            f.write(data)
        written.append(path)
    return written
