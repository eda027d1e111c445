"""Digits as a person draws them on the page's pad: seeded pen strokes from data/glyphs.py's skeletons,
jittered, turned, slanted and sized as hands differ. The static page's tests and its benchmark draw
these with the mouse (or paint them with pad.js) on both pages."""

from __future__ import annotations

import math
import time

import numpy as np

from digitlab.data.glyphs import SKELETONS, smooth

ASPECT = 2.5  # the pad's width over its height (pad.js's ASPECT)


def digit_strokes(digit: int, seed: int) -> list[list[tuple[float, float]]]:
    """One drawing of `digit`: its strokes, each a list of (x, y) points as shares of the pad's width
    and height (what a mouse moves through)."""
    rng = np.random.default_rng([seed, digit])
    variants = SKELETONS[digit]
    skeleton = variants[rng.integers(len(variants))]
    angle, slant = math.radians(rng.uniform(-10, 10)), rng.uniform(-0.2, 0.2)
    sx, sy = rng.uniform(0.75, 1.05), rng.uniform(0.85, 1.0)
    height = rng.uniform(0.5, 0.8)  # of the pad's height
    centre = (rng.uniform(0.35, 0.65) * ASPECT, rng.uniform(0.45, 0.55))  # in pad heights
    c, s = math.cos(angle), math.sin(angle)
    strokes = []
    for stroke in skeleton:
        pts = smooth(np.asarray(stroke) + rng.normal(0, 0.02, (len(stroke), 2)), per_segment=4) - 0.5
        x, y = pts[:, 0] * sx - slant * pts[:, 1], pts[:, 1] * sy
        turned = np.stack([c * x - s * y, s * x + c * y], 1) * height + centre  # (n, 2) in pad heights
        strokes.append([(float(px / ASPECT), float(py)) for px, py in turned])
    return strokes


def fifty() -> list[tuple[int, list[list[tuple[float, float]]]]]:
    """Fifty drawings, five of each digit: (digit, strokes)."""
    return [(k % 10, digit_strokes(k % 10, k // 10)) for k in range(50)]


def draw(page, strokes, selector: str = "#pad") -> None:
    """Draw `strokes` (shares of the pad's width and height) with the mouse, one stroke at a time."""
    box = page.locator(selector).bounding_box()
    for stroke in strokes:
        at = [(box["x"] + x * box["width"], box["y"] + y * box["height"]) for x, y in stroke]
        page.mouse.move(*at[0])
        page.mouse.down()
        for point in at[1:]:
            page.mouse.move(*point)
        page.mouse.up()


def wait_for(page, condition: str, seconds: float = 60) -> None:
    """Poll `condition` (a JavaScript expression) until it holds: the static page's Content-Security-
    Policy allows no eval, which Playwright's wait_for_function needs."""
    deadline = time.monotonic() + seconds
    while not page.evaluate(f"() => Boolean({condition})"):
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {seconds} s for {condition}")
        time.sleep(0.05)


class OffSite:
    """Every request a page makes to anywhere but `allowed` (URL beginnings) is stopped and recorded."""

    def __init__(self, page, *allowed: str):
        self.allowed = ("file://", "blob:", "data:", *allowed)
        self.requests: list[str] = []
        page.route("**/*", self._route)

    def _route(self, route) -> None:
        url = route.request.url
        if url.startswith(self.allowed):
            route.continue_()
        else:
            self.requests.append(url)
            route.abort()
