"""The page in a real browser: `digitlab serve` in its own process, Debian's Chromium driven by Playwright.

Screenshots go to test-artifacts/ (git-ignored) for a person to look at.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from digitlab.web.models import QuickTraining

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
QUICK = QuickTraining(train_images=600, test_images=200, seed=0)  # the same as test_web's
SERVER_START_SECONDS = 90  # importing torch and loading four models on a busy 2-core machine

pytestmark = pytest.mark.browser

if not shutil.which(CHROMIUM):
    pytest.skip(f"no Chromium at {CHROMIUM} (apt install chromium) for the browser test", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The base URL of `digitlab serve --port 0` on the quick models; stopped afterwards.

    The models are test_web's: cached in the session's DIGITLAB_HOME, trained here if it has not run.
    """
    from digitlab.web import models

    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp_path_factory.mktemp("cwd"))  # no ./digitlab-out here: the quick path runs
        folder = next(iter(models.resolve(None, QUICK).values())).folder.parent
    log_path = tmp_path_factory.mktemp("log") / "serve.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "digitlab", "serve", "--port", "0", "--models", str(folder)],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "NO_COLOR": "1"},
        )
    try:
        deadline = time.monotonic() + SERVER_START_SECONDS
        while not (found := re.search(r"open (http://127\.0\.0\.1:\d+/)", log_path.read_text())):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"digitlab serve did not start:\n{log_path.read_text()}")
            time.sleep(0.2)
        yield found.group(1)
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.fixture(scope="module")
def page(server):
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"],
        )
        page = browser.new_page(viewport={"width": 1100, "height": 820})
        page.goto(server)
        yield page
        browser.close()


def draw(page, points: list[tuple[float, float]]) -> None:
    """One mouse stroke through `points`, given as fractions of the pad's width and height."""
    box = page.locator("#pad").bounding_box()
    at = [(box["x"] + x * box["width"], box["y"] + y * box["height"]) for x, y in points]
    page.mouse.move(*at[0])
    page.mouse.down()
    for point in at[1:]:
        page.mouse.move(*point, steps=8)
    page.mouse.up()


def answers(page) -> dict[str, str]:
    return {card.get_attribute("data-method"): card.locator(".label").inner_text()
            for card in page.locator(".card").all()}


def seen_is_broken(page) -> bool:
    """Whether "what the models saw" shows as a broken image (no picture loaded)."""
    return page.evaluate("() => { const img = document.getElementById('seen');"
                         " return !img.complete || img.naturalWidth === 0; }")


def test_drawing_a_digit_shows_four_answers(page):
    sync_api.expect(page.locator(".card")).to_have_count(4)
    sync_api.expect(page.locator(".card.waiting")).to_have_count(4)
    sync_api.expect(page.locator("#hint")).to_be_visible()
    assert not seen_is_broken(page)  # an empty square, not a broken-image icon with its alt text
    draw(page, [(0.25, 0.22), (0.75, 0.22), (0.45, 0.85)])  # a seven: the bar, then the stem
    sync_api.expect(page.locator(".card.waiting")).to_have_count(0, timeout=15_000)
    assert set(answers(page)) == {"pixel", "linear", "simple_net", "cnn"}
    assert all(label.isdigit() for label in answers(page).values()), answers(page)
    sync_api.expect(page.locator("#hint")).to_be_hidden()
    assert page.locator("#seen").get_attribute("src").startswith("data:image/png;base64,")
    assert page.locator(".card .bars li.best").count() == 4  # each card marks its winning bar
    ARTIFACTS.mkdir(exist_ok=True)
    page.wait_for_timeout(300)  # let the bars finish their 0.15 s slide before the picture
    page.screenshot(path=str(ARTIFACTS / "web-drawing.png"), full_page=True)


def test_uploading_a_photo_answers_for_it(page, tmp_path, mnist_test):
    photo = tmp_path / "four.jpg"
    index = int((mnist_test.labels == 4).nonzero()[0])
    ink = 255 - mnist_test.images[index].numpy()  # dark ink on light paper, like a photo
    Image.fromarray(ink).resize((300, 300), Image.Resampling.BILINEAR).convert("RGB").save(photo, quality=90)
    page.set_input_files("#upload", str(photo))
    sync_api.expect(page.locator("#status")).to_contain_text("four.jpg", timeout=15_000)
    sync_api.expect(page.locator("#photo-figure")).to_be_visible()
    sync_api.expect(page.locator(".card.waiting")).to_have_count(0)
    ARTIFACTS.mkdir(exist_ok=True)
    page.wait_for_timeout(300)  # let the bars finish their 0.15 s slide before the picture
    page.screenshot(path=str(ARTIFACTS / "web-upload.png"), full_page=True)


def test_a_bad_upload_shows_the_servers_message(page, tmp_path):
    fake = tmp_path / "notes.png"
    fake.write_bytes(b"not an image at all")
    page.set_input_files("#upload", str(fake))
    sync_api.expect(page.locator("#status.error")).to_contain_text("PNG or JPEG", timeout=15_000)
    sync_api.expect(page.locator(".card.waiting")).to_have_count(4)


def test_clear_empties_the_pad(page):
    draw(page, [(0.5, 0.2), (0.5, 0.8)])
    sync_api.expect(page.locator(".card.waiting")).to_have_count(0, timeout=15_000)
    page.click("#clear")
    sync_api.expect(page.locator(".card.waiting")).to_have_count(4)
    brightest = page.evaluate("""() => {
        const pad = document.getElementById("pad");
        const rgba = pad.getContext("2d").getImageData(0, 0, pad.width, pad.height).data;
        return Math.max(...rgba.filter((_, i) => i % 4 === 0));
    }""")
    assert brightest == 0  # black again: no ink left
    page.wait_for_timeout(100)  # the blank picture is a data URI; let it decode
    assert not seen_is_broken(page)
