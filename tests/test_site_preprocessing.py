"""The static page's JavaScript port of to_mnist (web/site/mnist_style.js) against Python's own, in
headless Chromium: the same pad drawings (pad.js paints them, as both pages do), read by each.

The port must give to_mnist's 28 x 28 digit to within a grey level or two, and the same digit as a
model reads it."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import digitlab.vision.decoding as decoding
import digitlab.vision.input_cleaning as input_cleaning
import digitlab.vision.mnist_style as mnist_style
import digitlab.vision.page as page_module
from digitlab.errors import BlankImage
from digitlab.vision.mnist_style import to_mnist

from drawings import ASPECT, digit_strokes

CHROMIUM = "/usr/bin/chromium"
WEB = Path(__file__).resolve().parents[1] / "src" / "digitlab" / "web"
SCRIPTS = (WEB / "static" / "pad.js", WEB / "site" / "mnist_style.js")

pytestmark = pytest.mark.browser

if not shutil.which(CHROMIUM):
    pytest.skip(f"no Chromium at {CHROMIUM} (apt install chromium) for the browser test", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")


@pytest.fixture(scope="module")
def page():
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page()
        page.set_content("<!doctype html><meta charset='utf-8'><title>port</title>")
        for script in SCRIPTS:
            page.add_script_tag(path=str(script))
        yield page
        browser.close()


READ = """(drawings) => drawings.map((strokes) => {
    const canvas = document.createElement("canvas");
    const [context, width] = DigitPad.cut(canvas, strokes);
    const grey = MnistStyle.greyOf(context, width, DigitPad.SEND_HEIGHT);
    const digit = MnistStyle.toMnist(grey);
    return { width, grey: Array.from(grey.v), digit: digit && Array.from(digit) };
})"""


def read_both(page, drawings):
    """Each drawing (strokes in pad heights) -> (JS's 28 x 28, Python's to_mnist of the same pixels)."""
    out = []
    for got in page.evaluate(READ, drawings):
        grey = np.asarray(got["grey"], dtype=np.uint8).reshape(-1, got["width"])
        python = to_mnist(Image.fromarray(grey, mode="L")).numpy()
        out.append((np.asarray(got["digit"], dtype=np.float32).reshape(28, 28), python))
    return out


def in_pad_heights(strokes):
    return [[(x * ASPECT, y) for x, y in stroke] for stroke in strokes]


# Ten digits drawn as people draw them, and drawings that take the port's other paths: a wide digit
# (its cut wider than WORK_SIDE: shrunk with Pillow's BOX), a thick heavy one (strokes thinned), a
# slanted one (sheared upright), one drawn to the pad's top edge (ink on the frame), a 5 whose flag
# is a part of its own and a 4 in two strokes (several parts: the second, narrower look).
ODD = {
    "wide": [[(0.3, 0.45), (1.25, 0.5), (2.2, 0.55)], [(1.2, 0.2), (1.25, 0.8)]],
    "slanted": [[(1.0, 0.8), (1.4, 0.1)], [(1.3, 0.1), (1.6, 0.12)]],
    "to the edge": [[(1.0, 0.0), (1.2, 0.5), (1.0, 0.99)]],
    "small": [[(1.2, 0.4), (1.3, 0.4), (1.24, 0.55)]],
    "dot and line": [[(1.0, 0.2), (1.0, 0.8)], [(1.3, 0.5), (1.31, 0.5)]],
}


def test_the_port_reads_pen_strokes_as_to_mnist_does(page):
    drawings = [in_pad_heights(digit_strokes(d, seed)) for seed in (0, 1) for d in range(10)] + list(ODD.values())
    for k, (js, python) in enumerate(read_both(page, drawings)):
        gap = np.abs(js - python)
        assert gap.max() <= 2 / 255 + 1e-6, f"drawing {k}: {gap.max() * 255:.1f} grey levels apart at {np.unravel_index(gap.argmax(), gap.shape)}"
        assert gap.mean() <= 0.5 / 255, f"drawing {k}: mean {gap.mean() * 255:.2f} grey levels apart"


def test_the_port_says_blank_as_to_mnist_does(page):
    got = page.evaluate("""() => {
        const grey = MnistStyle.image(90, 128);
        grey.v[64 * 90 + 45] = 255; // one lit pixel: a speck, no digit
        return MnistStyle.toMnist(grey);
    }""")
    assert got is None
    speck = np.zeros((128, 90), dtype=np.uint8)
    speck[64, 45] = 255
    with pytest.raises(BlankImage):
        to_mnist(Image.fromarray(speck, mode="L"))


def test_the_ports_settings_are_pythons(page):
    """The JS names the Python settings it copies; each must be the value Python has now."""
    js = page.evaluate("() => MnistStyle.SETTINGS")
    python = {"WORK_SIDE": decoding.WORK_SIDE, "BOX_SIDE": input_cleaning.BOX_SIDE,
              "FRAME_SIDE": input_cleaning.FRAME_SIDE, "MNIST_SLANT": list(mnist_style.MNIST_SLANT),
              "MNIST_WIDTH": list(mnist_style.MNIST_WIDTH)}
    python |= {name: getattr(page_module, name) for name in ("MIN_CONTRAST", "GRAIN_RATIO", "NOISE_SIGMAS",
                                                             "INK_PERCENTILE", "STROKE_WINDOWS", "SPECK_SHARE",
                                                             "MIN_INK_PIXELS")}
    assert js == python
    assert page.evaluate("() => DigitPad.SEND_HEIGHT") == decoding.WORK_SIDE
