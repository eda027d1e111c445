"""The report's confusion matrices as HTML tables: real text (legible at any width, read by screen
readers), the right answers tinted blue, the misreadings orange so that even a single one shows,
and the commonest misreadings named in a sentence under each."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from digitlab.metrics import largest_confusions

if TYPE_CHECKING:
    import torch

    from digitlab.compare.job import Result

RIGHT = (33, 102, 172)  # the diagonal's full tint, a dark blue
WRONG = (179, 60, 0)  # a misreading's full tint, a dark orange
# A single misreading among hundreds of right answers is what a learner looks for, so any count
# above 0 starts this far from white: at 0.3 a 1 is (243, 209, 179), plainly peach beside white.
FLOOR = 0.3
NAMED = 3  # misreadings named in the sentence under each table


def confusions_sentence(confusion, classes: Sequence[int]) -> str:
    """"Most often: 4 read as 9 (12 times), 7 as 2 (8), 5 as 3 (6)." from the matrix itself."""
    largest = largest_confusions(confusion, classes, NAMED)
    if not largest:
        return "No test digit was misread."
    (actual, predicted, count), rest = largest[0], largest[1:]
    said = [f"{actual} read as {predicted} ({count} time{'s' if count != 1 else ''})"]
    said += [f"{a} as {p} ({n})" for a, p, n in rest]
    return "Most often: " + ", ".join(said) + "."


def tint(count: int, diagonal: bool, top: int) -> tuple[tuple[int, int, int], float]:
    """A cell's background and how far it is from white (0 to 1): 0 is white; otherwise FLOOR plus
    the rest on a log scale up to `top`, the largest count of its kind (right or wrong)."""
    if count <= 0:
        return (255, 255, 255), 0.0
    share = FLOOR + (1 - FLOOR) * (math.log1p(count) / math.log1p(max(top, count)))
    full = RIGHT if diagonal else WRONG
    return tuple(round(255 + share * (c - 255)) for c in full), share


def _luminance(rgb: Sequence[int]) -> float:
    """WCAG's relative luminance of an sRGB colour, 0 (black) to 1 (white)."""
    linear = [c / 255 / 12.92 if c <= 10 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def ink(rgb: Sequence[int]) -> str:
    """White or black, whichever stands out more from the background: past a luminance of 0.179 black
    does; either way the contrast is at least 4.58:1 (WCAG asks 4.5 for text)."""
    return "#fff" if _luminance(rgb) < 0.179 else "#000"


def _cell(count: int, diagonal: bool, top: int) -> str:
    (r, g, b), _ = tint(count, diagonal, top)
    return f'<td style="background:rgb({r},{g},{b});color:{ink((r, g, b))}">{count}</td>'


def confusion_table(result: Result) -> str:
    """One model's matrix as a table (rows actual, columns predicted) in a box that scrolls on its own
    where the page is narrower, its colour key, and the sentence naming its commonest misreadings."""
    rows = [[int(c) for c in row] for row in result.confusion.tolist()]
    classes = list(result.classes)
    n = len(classes)
    top_right = max(rows[i][i] for i in range(n))
    top_wrong = max([rows[i][j] for i in range(n) for j in range(n) if i != j] or [0])
    head = "".join(f'<th scope="col">{c}</th>' for c in classes)
    body = "".join(
        f'<tr><th scope="row">{classes[i]}</th>'
        + "".join(_cell(rows[i][j], i == j, top_right if i == j else top_wrong) for j in range(n)) + "</tr>"
        for i in range(n))
    return (f'<figure class="map confusion"><div class="scroll"><table class="matrix"><thead><tr>'
            f'<th class="corner">actual \\ predicted</th>{head}</tr></thead><tbody>{body}</tbody></table></div>'
            f"{key(top_right, top_wrong)}<figcaption>{html.escape(confusions_sentence(rows, classes))}</figcaption>"
            "</figure>")


def _swatch(count: int, diagonal: bool, top: int) -> str:
    (r, g, b), _ = tint(count, diagonal, top)
    return f'<span class="swatch" style="background:rgb({r},{g},{b})"></span>'


def key(top_right: int, top_wrong: int) -> str:
    """What blue, orange and white mean in one matrix, with swatches of its own scale."""
    shown = sorted({1, min(5, top_wrong), top_wrong}) if top_wrong else []
    wrong = ("".join(_swatch(c, False, top_wrong) for c in shown)
             + f" orange: misread, darker the more often ({', '.join(map(str, shown))}); " if shown else "")
    return (f'<p class="key">Colour key: {_swatch(top_right, True, top_right)} blue, on the diagonal: read right;'
            f" {wrong}{_swatch(0, False, 1)} white: never.</p>")
