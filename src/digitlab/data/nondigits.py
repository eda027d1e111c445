"""Images that are not one digit: what the gate (gate.py) learns to refuse, and what measures it.

Two seeded generators, drawn from scratch as stress.py draws its digits (its pen strokes and font
rendering are reused), in six categories:

- letters: letters that no reader would take for a digit (LOOKALIKES are left out);
- symbols: punctuation, currency, maths, arrows, card suits;
- scribbles: pen strokes that spell nothing;
- shapes: polygons, stars, crosses, arrows, hearts (no ring: a ring is a 0);
- textures: noise, stripes, checks, dots, hatching, bricks;
- several: two or three digits side by side, apart, touching or overlapping.

The TRAINING generator (`kind="train"`) types in glyphs.FONT_FILES and draws random-point
scribbles, rectangles, triangles, stars, crosses, kites, cogs, chevrons, L blocks, strewn small
shapes, noise, stripes, checks, dots, graph paper, diamonds, mosaics, hay and plaid; its several
digits are MNIST training digits below heldout.START and pen or font digits. Its draws from
CHOICE_FROM on are never trained on: thresholds are chosen on them. The TEST set (`kind="test"`,
`data.load("nondigits", "valid")`, refused for training) shares no font, family or digit with it:
TeX's math italic and symbol fonts (cmmi10, cmsy10), STIX's non-Unicode Greek and relations,
DejaVu's display operators; spirals, zigzags, coils and waves; pentagons, hexagons, hearts, moons
and bolts; hatching, rings, bricks, blobs and wood grain; and several digits made of held-out MNIST
digits (heldout.CALIBRATION) and stress-style digits drawn with a seed of its own.

Every raw image goes through `mnist_style.to_mnist`, as a user's file would, so the sets measure what
`predict` sees; one it finds blank stays black (a declined "no digit").
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image

from digitlab.data import doodles, glyphs, heldout, unseen_doodles

CATEGORIES = ("letters", "symbols", "scribbles", "shapes", "textures", "several")
KINDS = ("train", "test")
PER_CATEGORY = 300  # test images per category: 1,800 in all
TRAIN_PER_CATEGORY = 1500  # training draws per category (indices 0 .. 1,499)
CHOICE_FROM = 1_000_000  # training-generator draws from here on are held out, for choosing thresholds
SEED = 0
VERSION = "v3"  # bump when what either generator draws changes (v3: the later shapes and textures)

# Glyphs a person could not tell from a digit, in some font or hand, so neither set has them:
# O o D Q and the Greek O's and thetas are 0; I l i | ! and the Greek iota are 1; Z z are 2; S s $ and
# the Greek zeta and final sigma are 5; b and the Greek delta and sigma are 6; T and J j are 7; B and
# beta and ampersand-like sharp S are 8; g q and the Greek rho variant are 9. Dots, commas, quotes, the
# degree sign and brackets become a blob, a ring or a bar that to_mnist blows up to a 0 or a 1.
LOOKALIKES = set("OoDQIl|i!ZzSs$BbGgqTJj.,:;'`\"()[]{}/\\°ß§") | set("ΟοΘθϑΙιΖζςσδβϱΣ∅⊤∫′")

TRAIN_LETTERS = "ABCEFHKLMNPRUVWXYadefhkmnprtuvwxy"
TRAIN_GREEK = "ΓΔΛΞΠΦΨΩαγεηκλμνπρτυφχψω"  # in the DejaVu and STIX fonts of the stress set
TRAIN_SYMBOLS = "#%*+<=>?@~^÷×±¶©®€£¥¢µ∞≈≠√∑πΩ♦♣♠♥★→←↑↓&∀∃∈∉∩∪⊂⊃⊕⊗∧∨≤≥≡∝∇∂⇒⇔♪☺⌘"

# The test set's glyphs, by font: codes as each font maps them (the TeX fonts put their glyphs on
# ASCII codes: cmmi10's "0"-"9" are digits and are not used; cmsy10's are symbols).
TEST_LETTERS = {
    "cmmi10.ttf": "AEFHKLMNPRUVWXYacdefhkmnprtuvwxy" + "\u0021\u0022\u0027\u00a1\u00a2\u00a4\u00a5\u00a6"
                  "\u00a8\u00a9\u00aa\u00ae\u00b0\u00b2\u00b4\u00b7\u00b8\u00b9\u00bc\u00c1\u00c2",
    "STIXNonUni.ttf": "".join(map(chr, (0xE17F, 0xE180, 0xE181, 0xE183, 0xE186, 0xE187, 0xE188, 0xE189, 0xE18A,
                                        0xE18C, 0xE18D, 0xE18F, 0xE191, 0xE192, 0xE193, 0xE194, 0xE195, 0xE196,
                                        0xE198, 0xE19A, 0xE19C, 0xE19F, 0xE1A0, 0xE1A1, 0xE1A2, 0xE1A5, 0xE1A6,
                                        0xE1A9, 0xE1AB, 0xE1AC, 0xE1AD, 0xE1AE, 0xE2FC, 0xE300, 0xE302, 0xE304,
                                        0xE30E, 0xE310, 0xE312, 0xE314, 0xE31A, 0xE31C, 0xE320, 0xE324, 0xE326))),
}
TEST_SYMBOLS = {
    "cmsy10.ttf": "!\"#$%&()*+,-.234@ABCEFHKLMNPRUVWXY[\\^_`{}~\u00a5\u00a8\u00a9\u00b3",
    "STIXNonUni.ttf": "".join(map(chr, (0xE00E, 0xE00F, 0xE016, 0xE018, 0xE023, 0xE026, 0xE02A, 0xE038, 0xE03B,
                                        0xE04C, 0xE06D, 0xE06F, 0xE075, 0xE07C, 0xE098, 0xE0BC, 0xE0C1, 0xE0D2,
                                        0xE0D3, 0xE0E8, 0xE0E9, 0xE0EA, 0xE0EB, 0xE0F3, 0xE0F6, 0xE0F7, 0xE112))),
    "DejaVuSansDisplay.ttf": "∏∐∑⋀⋁⋂⋃⨀⨁⨂",  # not the integrals: a long s is a 1, three of them 5s
    "DejaVuSerifDisplay.ttf": "∏∐∑",
}


@cache
def _held(font_file: str) -> frozenset[int]:
    """The code points `font_file` really holds a glyph for (a missing one would draw as a box: a 0)."""
    from fontTools.ttLib import TTFont

    return frozenset(TTFont(str(glyphs.font_dir() / font_file), lazy=True).getBestCmap())


def _rng(seed: int, kind: str, category: str, i: int) -> np.random.Generator:
    return np.random.default_rng([seed, 1 + KINDS.index(kind), CATEGORIES.index(category), i])


def _on_page(ink: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Ink placed off-centre on a larger page, and turned dark on light half the time."""
    w, h = ink.size
    page = Image.new("L", (int(w * rng.uniform(1.0, 1.5)), int(h * rng.uniform(1.0, 1.5))), 0)
    page.paste(ink, (int(rng.integers(0, page.width - w + 1)), int(rng.integers(0, page.height - h + 1))))
    return Image.eval(page, lambda v: 255 - v) if rng.random() < 0.5 else page


def _typed(fonts: dict[str, str], rng: np.random.Generator) -> Image.Image:
    """One glyph of `fonts` ({font file: its characters}) that the font really holds."""
    names = sorted(fonts)
    font = names[rng.integers(len(names))]
    chars = [c for c in fonts[font] if ord(c) in _held(font) and c not in LOOKALIKES]
    return glyphs.glyph_ink(chars[rng.integers(len(chars))], glyphs.font_dir() / font, rng,
                            side=int(rng.choice([96, 160, 256])))


def _stress_fonts(chars: str, unicode_only: bool = False) -> dict[str, str]:
    """The stress set's fonts, each with `chars`; with unicode_only, not the TeX fonts (cm*), whose
    symbols sit on other codes (their "<" is an inverted exclamation mark: a 1)."""
    return {f: chars for f in glyphs.FONT_FILES if not (unicode_only and f.startswith("cm"))}


# ---------------------------------------------------------------------------------------------
# Several digits side by side
# ---------------------------------------------------------------------------------------------


def _side_by_side(glyphs: list[np.ndarray], gaps: list[float]) -> Image.Image:
    """Ink images (each white on black, cropped to its ink, of one height) in a row, each `gaps[k]`
    px after the last (negative: overlapping), the brighter pixel kept where they meet."""
    height = max(g.shape[0] for g in glyphs)
    xs = [0]
    for g, gap in zip(glyphs[:-1], gaps):
        xs.append(xs[-1] + g.shape[1] + int(round(gap)))
    left = min(xs)
    width = max(x + g.shape[1] for x, g in zip(xs, glyphs)) - left
    row = np.zeros((height, width), dtype=np.uint8)
    for x, g in zip(xs, glyphs):
        top = (height - g.shape[0]) // 2
        spot = row[top:top + g.shape[0], x - left:x - left + g.shape[1]]
        np.maximum(spot, g, out=spot)
    return Image.fromarray(np.pad(row, height // 4))


def _cropped(ink: Image.Image, height: int) -> np.ndarray:
    box = ink.getbbox() or (0, 0, ink.width, ink.height)
    part = ink.crop(box)
    scale = height / part.height
    return np.asarray(part.resize((max(1, round(part.width * scale)), height), Image.Resampling.BILINEAR))


def _several(rng: np.random.Generator, mnist: np.ndarray, mnist_range: range) -> Image.Image:
    """Two or three digits in a row: MNIST training digits (`mnist`, (60,000, 28, 28) uint8) of
    `mnist_range`, or pen and font digits; apart, touching or overlapping by up to a fifth."""
    count = 2 + int(rng.random() < 0.3)
    height = int(rng.choice([56, 112, 160]))
    if rng.random() < 0.5:
        picks = rng.integers(mnist_range.start, mnist_range.stop, count)
        inks = [_cropped(Image.fromarray(mnist[k]).resize((112, 112), Image.Resampling.BILINEAR), height)
                for k in picks]
    else:
        inks = [_cropped(glyphs.pen_ink(int(d), rng) if rng.random() < 0.5 else glyphs.font_ink(int(d), rng), height)
                for d in rng.integers(0, 10, count)]
    gaps = [height * rng.uniform(-0.2, 0.5) for _ in range(count - 1)]
    row = _side_by_side(inks, gaps)
    return Image.eval(row, lambda v: 255 - v) if rng.random() < 0.5 else row


TRAIN_DIGITS = range(0, heldout.START)  # the several-digit images' MNIST digits, training
TEST_DIGITS = heldout.CALIBRATION  # and the test set's: never trained on by the gate or the models

MAKERS = {
    "train": {
        "letters": lambda rng: _on_page(_typed(_stress_fonts(TRAIN_LETTERS) if rng.random() < 0.6 else
                                               _stress_fonts(TRAIN_GREEK, unicode_only=True), rng), rng),
        "symbols": lambda rng: _on_page(_typed(_stress_fonts(TRAIN_SYMBOLS, unicode_only=True), rng), rng),
        "scribbles": lambda rng: _on_page(doodles.training_scribble(rng), rng),
        "shapes": lambda rng: _on_page(doodles.training_shape(rng), rng),
        "textures": lambda rng: _on_page(doodles.training_texture(rng), rng),
        "several": lambda rng, mnist: _several(rng, mnist, TRAIN_DIGITS),
    },
    "test": {
        "letters": lambda rng: _on_page(_typed(TEST_LETTERS, rng), rng),
        "symbols": lambda rng: _on_page(_typed(TEST_SYMBOLS, rng), rng),
        "scribbles": lambda rng: _on_page(unseen_doodles.unseen_scribble(rng), rng),
        "shapes": lambda rng: _on_page(unseen_doodles.unseen_shape(rng), rng),
        "textures": lambda rng: _on_page(unseen_doodles.unseen_texture(rng), rng),
        "several": lambda rng, mnist: _several(rng, mnist, TEST_DIGITS),
    },
}


def raw_image(category: str, i: int, kind: str = "test", seed: int = SEED, mnist: np.ndarray | None = None) -> Image.Image:
    """Image i of `category` from the `kind` generator, as a user would bring it; "several" needs
    MNIST's training images (`mnist`, data.mnist_arrays("train")[0])."""
    rng = _rng(seed, kind, category, i)
    return MAKERS[kind][category](rng, mnist) if category == "several" else MAKERS[kind][category](rng)


# ---------------------------------------------------------------------------------------------
# Through to_mnist, cached
# ---------------------------------------------------------------------------------------------


def build(kind: str, indices: range, mnist: np.ndarray, seed: int = SEED, progress: bool = True) -> np.ndarray:
    """(len(CATEGORIES) * len(indices), 28, 28) uint8, category by category: each raw image as
    mnist_style.to_mnist makes it, black where it found no ink."""
    from digitlab.console import track
    from digitlab.errors import DataError
    from digitlab.vision.mnist_style import to_mnist

    jobs = [(c, i) for c in CATEGORIES for i in indices]
    out = np.zeros((len(jobs), 28, 28), dtype=np.uint8)
    steps = track(enumerate(jobs), f"drawing non-digits ({kind})", total=len(jobs)) if progress else enumerate(jobs)
    for k, (category, i) in steps:
        try:
            out[k] = (to_mnist(raw_image(category, i, kind, seed, mnist)).numpy() * 255).round().astype(np.uint8)
        except DataError:
            pass  # blank to to_mnist: "no digit"
    return out


def cache_path(name: str) -> Path:
    from digitlab.store.files import home
    from digitlab.vision.mnist_style import PREPROCESS_VERSION

    return home() / "nondigits" / f"{VERSION}-prep{PREPROCESS_VERSION}-{name}.npz"


def cached(name: str, kind: str, indices: range, mnist: np.ndarray) -> np.ndarray:
    """build(kind, indices, mnist), from home()'s cache when it is there, else drawn and cached."""
    from digitlab.store import array_cache

    path = cache_path(f"{name}-{indices.start}-{indices.stop}")
    saved = array_cache.load(path, ("images",), "non-digit set")
    if saved and saved["images"].shape[0] == len(CATEGORIES) * len(indices):
        return saved["images"]
    images = build(kind, indices, mnist)
    array_cache.save(path, images=images)
    return images


def arrays(mnist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The test set: (images (N, 28, 28) uint8, labels (N,) int64, all -1: no digit), category by
    category; `mnist` is MNIST's training images (its held-out digits make the several-digit images)."""
    images = cached("test", "test", range(PER_CATEGORY), mnist)
    return images, np.full(len(images), -1, dtype=np.int64)


def category_of(index, per_category: int = PER_CATEGORY):
    """The category name(s) of image index(es) of a set laid out category by category."""
    return np.asarray(CATEGORIES)[np.asarray(index) // per_category]
