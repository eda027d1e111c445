"""The page in a real browser: `digitlab serve` in its own process, Debian's Chromium driven by Playwright.

Screenshots go to test-artifacts/ (git-ignored) for a person to look at. The accessibility check
is axe-core, from the copy in tests/vendor (never a CDN).
"""

from __future__ import annotations

import io
import json
import os
import re
import statistics
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import numpy as np
from PIL import Image


CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
SERVER_START_SECONDS = 90  # importing torch and loading four models on a busy 2-core machine
AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
STALL_MS = 600  # pen-up to answer: the 1 s toBlob stall this guards against; the 50 ms target is a benchmark's
# The server runs the digitlab this test imported, whatever the cwd: a relative PYTHONPATH=src
# would otherwise resolve in the server's own folder and serve another copy.
SOURCES = os.pathsep.join([str(Path(__import__("digitlab").__file__).resolve().parents[1]),
                           *filter(None, [os.environ.get("PYTHONPATH")])])
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 3, "is_mobile": True, "has_touch": True}

pytestmark = pytest.mark.browser

if not shutil.which(CHROMIUM):
    pytest.skip(f"no Chromium at {CHROMIUM} (apt install chromium) for the browser test", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The base URL of `digitlab serve --port 0` as a fresh install starts it (no saved models: the
    shipped ones); stopped afterwards."""
    log_path = tmp_path_factory.mktemp("log") / "serve.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "digitlab", "serve", "--port", "0"], cwd=tmp_path_factory.mktemp("cwd"),
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "NO_COLOR": "1", "PYTHONPATH": SOURCES},
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
def browser():
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"],
        )
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def failed_loads():
    """Every response of 400 and above the pages got, and every script error: the page's own faults."""
    return []


def open_page(browser, server, failed_loads, **options):
    page = browser.new_page(**options)
    page.on("response", lambda r: r.status >= 400 and "/api/predict" not in r.url and failed_loads.append(f"{r.status} {r.url}"))
    page.on("pageerror", lambda error: failed_loads.append(f"script error: {error}"))
    page.goto(server)
    sync_api.expect(page.locator(".card")).to_have_count(4)
    return page


@pytest.fixture(scope="module")
def page(browser, server, failed_loads):
    page = open_page(browser, server, failed_loads, viewport={"width": 1100, "height": 820})
    yield page
    page.close()


@pytest.fixture(scope="module")
def phone(browser, server, failed_loads):
    phone = open_page(browser, server, failed_loads, **PHONE)
    yield phone
    phone.close()


# Points are shares of the pad's width and height; the pad is 2.5 times wider than tall (a number's room).
SEVEN = [(0.40, 0.22), (0.60, 0.22), (0.48, 0.85)]  # the bar, then the stem: a digit's shape, not a wide one
FOUR = [[(0.31, 0.15), (0.21, 0.60), (0.38, 0.60)], [(0.33, 0.35), (0.33, 0.88)]]  # the corner, then the stem
TWO = [[(0.56, 0.30), (0.60, 0.17), (0.66, 0.15), (0.71, 0.22), (0.71, 0.35), (0.57, 0.82)],  # the hook
       [(0.57, 0.82), (0.75, 0.82)]]  # then the base


def pad_box(page) -> dict:
    """Where the pad is on the screen, with the page scrolled to its top first ("why?" scrolls the pad away).

    At the top, nothing can move the pad while a stroke is drawn: scrolled down, an answer that arrives
    mid-stroke and shortens the cards below (a number's card has no bars) makes the browser scroll back,
    the pad slides down under the mouse and the rest of the stroke lands higher on it (a CI run under load
    drew the 2 of "42" with its end 25 px up, apart from its base: declined as not a digit)."""
    page.evaluate("() => window.scrollTo(0, 0)")
    page.locator("#pad").scroll_into_view_if_needed()
    return page.locator("#pad").bounding_box()


def draw(page, points: list[tuple[float, float]], up: bool = True) -> None:
    """One mouse stroke through `points`, given as fractions of the pad's width and height."""
    box = pad_box(page)
    at = [(box["x"] + x * box["width"], box["y"] + y * box["height"]) for x, y in points]
    page.mouse.move(*at[0])
    page.mouse.down()
    for point in at[1:]:
        page.mouse.move(*point, steps=8)
    if up:
        page.mouse.up()


def test_the_pad_stays_under_the_pen_when_the_answers_below_shorten_mid_stroke(page):
    """Scrolled down, then the cards shorten while the pen is down (as when the answer to the strokes so
    far arrives and is a number, whose card has no bars): the stroke still lies where the mouse went.
    Without DigitPad.hold the browser scrolls back as the page shortens and the stroke's end lands far up."""
    page.click("#clear")
    draw(page, SEVEN)  # the cards get their bars: the page at its tallest
    sync_api.expect(page.locator(".card.waiting")).to_have_count(0, timeout=15_000)
    # As far down as the page goes with the pad's top still in view.
    page.evaluate("""() => window.scrollTo(0, Math.min(document.documentElement.scrollHeight - innerHeight,
                                                     document.getElementById("pad").getBoundingClientRect().top + scrollY - 8))""")
    box = page.locator("#pad").bounding_box()
    assert box["y"] >= 0 and page.evaluate("window.scrollY") > 0, box  # scrolled, and the pad in view
    x = box["x"] + 0.2 * box["width"]
    page.mouse.move(x, box["y"] + 0.3 * box["height"])
    page.mouse.down()
    page.mouse.move(x, box["y"] + 0.4 * box["height"], steps=4)
    page.evaluate("() => document.querySelectorAll('.card .bars').forEach(b => b.style.display = 'none')")
    page.mouse.move(x, box["y"] + 0.5 * box["height"], steps=4)
    page.mouse.up()
    page.evaluate("() => document.querySelectorAll('.card .bars').forEach(b => b.style.display = '')")
    stroke = page.evaluate("() => strokes[strokes.length - 1]")  # [x, y] in pad heights
    ys = [y for _, y in stroke]
    assert abs(ys[0] - 0.3) < 0.02 and abs(ys[-1] - 0.5) < 0.02, ys  # without the hold: ends near -0.24
    assert all(b - a > -1e-6 for a, b in zip(ys, ys[1:])), ys  # straight down, never back up
    page.click("#clear")
    assert page.evaluate("document.querySelector('main').style.minHeight") == ""  # Clear lets the page shorten


def watch_pen_up(page) -> None:
    """Record in the page, for each pen-up on the pad, the ms until the live region gives the answer."""
    page.evaluate("""() => {
        window.penUpToAnswer = [];
        let up = null;
        // Capturing on window runs before the page's own listener on the pad.
        window.addEventListener("pointerup", (e) => { if (e.target.id === "pad") up = performance.now(); }, true);
        const status = document.getElementById("status");
        new MutationObserver(() => {
            if (up !== null && status.textContent.startsWith("Your drawing")) {
                window.penUpToAnswer.push(performance.now() - up);
                up = null;
            }
        }).observe(document.getElementById("status"), { childList: true, characterData: true, subtree: true });
    }""")


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
    draw(page, SEVEN)
    sync_api.expect(page.locator(".card.waiting")).to_have_count(0, timeout=15_000)
    assert set(answers(page)) == {"pixel", "linear", "simple_net", "cnn"}
    # An answer to the stroke half drawn may still be on the cards (a busy machine): wait for the last.
    for label in page.locator(".card .label").all():
        sync_api.expect(label).to_have_text(re.compile(r"^\s*\d\s*$"), timeout=15_000)
    sync_api.expect(page.locator("#hint")).to_be_hidden()
    assert page.locator("#seen").get_attribute("src").startswith("data:image/png;base64,")
    assert page.locator(".card .bars li.best").count() == 4  # each card marks its winning bar
    ARTIFACTS.mkdir(exist_ok=True)
    page.wait_for_timeout(300)  # let the bars finish their 0.15 s slide before the picture
    page.screenshot(path=str(ARTIFACTS / "web-drawing.png"), full_page=True)


def test_why_shows_each_cards_explanation_and_a_new_answer_hides_it(page):
    sync_api.expect(page.locator(".card.waiting")).to_have_count(0, timeout=15_000)  # the seven drawn above
    for method in ("pixel", "linear", "simple_net", "cnn"):
        card = page.locator(f".card[data-method={method}]")
        card.locator(".why").click()
        sync_api.expect(card.locator(".why-view img").first).to_be_visible(timeout=15_000)
        label = card.locator(".label").inner_text().strip()
        scores = card.locator(".why-view p").inner_text()  # the scores in words, with the bar's probability
        assert re.search(rf"(leans to each digit|nearest ideal).* \d+(\.\d)?% for {label},", scores), (method, scores)
        assert page.evaluate(f"() => [...document.querySelectorAll('.card[data-method={method}] .why-view img')]"
                             ".every(img => img.complete && img.naturalWidth === 224)"), method
        # Each map captioned in a sentence about this answer, with its colour key: the ramp and both colours' words.
        for figure in card.locator(".why-view figure").all():
            assert label in figure.locator(".caption").inner_text(), method
            key = figure.locator(".key").inner_text()
            assert "blue:" in key and "red:" in key and figure.locator(".key .ramp").is_visible(), (method, key)
        if method == "simple_net":  # what a hidden unit is, once, before the units' pictures
            assert "A hidden unit adds up the ink" in card.locator(".why-view .units").inner_text()
        ARTIFACTS.mkdir(exist_ok=True)
        card.screenshot(path=str(ARTIFACTS / f"web-why-{method}.png"))
    page.screenshot(path=str(ARTIFACTS / "web-why.png"), full_page=True)
    page.click("#clear")
    sync_api.expect(page.locator(".why-view:visible")).to_have_count(0)


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


def test_a_letter_is_declined_as_plainly_as_a_digit_is_answered(page, tmp_path):
    from PIL import ImageDraw, ImageFont

    from digitlab.data import glyphs

    photo = tmp_path / "letter.png"
    sheet = Image.new("RGB", (300, 300), (245, 242, 235))
    font = ImageFont.truetype(str(glyphs.font_dir() / "DejaVuSans.ttf"), 180)
    ImageDraw.Draw(sheet).text((150, 150), "A", fill=(30, 30, 30), font=font, anchor="mm")
    sheet.save(photo)
    page.set_input_files("#upload", str(photo))
    sync_api.expect(page.locator("#status")).to_contain_text("declined, not a digit", timeout=15_000)
    sync_api.expect(page.locator(".card.declined")).to_have_count(4)
    assert page.locator(".card .label").all_inner_texts() == ["not a digit"] * 4
    assert page.locator(".card .confidence").all_inner_texts() == ["declined"] * 4
    assert page.locator(".card .bars li.best").count() == 0  # no bar marked as the answer
    ARTIFACTS.mkdir(exist_ok=True)
    page.wait_for_timeout(300)
    page.screenshot(path=str(ARTIFACTS / "web-declined.png"), full_page=True)


def test_a_file_that_is_not_an_image_is_refused_in_one_line(page, tmp_path):
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
        let brightest = 0;  // a loop: the wide pad has too many pixels to spread into Math.max
        for (let i = 0; i < rgba.length; i += 4) brightest = Math.max(brightest, rgba[i]);
        return brightest;
    }""")
    assert brightest == 0  # black again: no ink left
    page.wait_for_timeout(100)  # the blank picture is a data URI; let it decode
    assert not seen_is_broken(page)


def test_pen_up_to_answer_is_immediate(page):
    """The answer follows the pen's lifting at once (it took ~1 s behind canvas.toBlob's idle wait).

    The latency is printed; the test fails only above STALL_MS, so a busy machine does not fail it.
    benchmarks/load_server.py and RESULTS.md hold the 50 ms target.
    """
    watch_pen_up(page)
    for _ in range(8):
        page.click("#clear")
        draw(page, SEVEN)
        sync_api.expect(page.locator("#status")).to_contain_text("Your drawing:", timeout=15_000)
    latencies = sorted(page.evaluate("window.penUpToAnswer"))
    assert len(latencies) == 8, latencies
    p95 = latencies[min(len(latencies) - 1, round(0.95 * len(latencies)))]
    print(f"\npen-up to answer in the browser: median {statistics.median(latencies):.0f} ms, p95 {p95:.0f} ms, "
          f"max {latencies[-1]:.0f} ms over {len(latencies)} drawings")
    assert statistics.median(latencies) < STALL_MS, latencies


def test_answers_come_while_the_pen_is_still_down(page):
    page.click("#clear")
    asked = []
    page.on("request", lambda r: "/api/predict" in r.url and asked.append(r))
    box = pad_box(page)
    page.mouse.move(box["x"] + 0.5 * box["width"], box["y"] + 0.15 * box["height"])
    page.mouse.down()
    for step in range(1, 13):  # a slow downward stroke, 0.6 s or more
        page.mouse.move(box["x"] + 0.5 * box["width"], box["y"] + (0.15 + 0.06 * step) * box["height"])
        page.wait_for_timeout(50)
    sync_api.expect(page.locator(".card.waiting")).to_have_count(0, timeout=15_000)  # answered, pen still down
    page.mouse.up()
    print(f"\n{len(asked)} questions asked during a stroke of 12 moves 50 ms apart")
    assert len(asked) >= 3, len(asked)  # live answers, not only the one at pen-up


def test_a_dot_gets_no_digit(page):
    page.click("#clear")
    box = pad_box(page)
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    sync_api.expect(page.locator("#status")).to_contain_text("not a digit")
    sync_api.expect(page.locator(".card.waiting")).to_have_count(4)
    assert page.locator(".card .confidence").all_inner_texts() == ["no digit"] * 4


def test_clear_during_a_slow_request_leaves_the_cards_empty(page):
    """A late answer must not refill the cards over a blank pad: Clear aborts the request in flight."""
    page.click("#clear")
    page.evaluate("""() => {  // every request now waits 800 ms before it leaves the page
        const fetchNow = window.fetch;
        window.fetch = (...args) => new Promise((ok) => setTimeout(ok, 800)).then(() => fetchNow(...args));
    }""")
    try:
        draw(page, SEVEN)
        page.click("#clear")
        page.wait_for_timeout(1500)  # past the answer's arrival, had it been let through
        sync_api.expect(page.locator(".card.waiting")).to_have_count(4)
        assert page.locator("#seen").get_attribute("src").startswith("data:image/gif")
    finally:
        page.reload()
        sync_api.expect(page.locator(".card")).to_have_count(4)


def photo_of(mnist_test, digit: int, size: tuple[int, int]) -> Image.Image:
    """A large, noisy photo-like picture of an MNIST digit: dark ink on uneven light paper."""
    index = int((mnist_test.labels == digit).nonzero()[0][0])
    ink = Image.fromarray(255 - mnist_test.images[index].numpy()).resize((min(size),) * 2, Image.Resampling.BILINEAR)
    paper = Image.new("L", size, 235)
    paper.paste(ink, ((size[0] - ink.width) // 2, (size[1] - ink.height) // 2))
    noise = np.random.default_rng(0).normal(0, 12, (size[1], size[0]))
    return Image.fromarray(np.clip(np.asarray(paper) + noise, 0, 255).astype(np.uint8)).convert("RGB")


def test_a_12_megapixel_phone_photo_is_scaled_down_and_turned_upright(page, tmp_path, mnist_test):
    """A 4000 x 3000 JPEG over the server's 2 MB limit, stored on its side with EXIF orientation 6
    (turn 90 degrees clockwise to show): the page must send it upright and small."""
    upright = photo_of(mnist_test, 7, (3000, 4000))  # portrait, as the phone held it
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # 4000 x 3000, as the sensor wrote it
    exif = Image.Exif()
    exif[0x0112] = 6
    photo = tmp_path / "IMG_0001.jpg"
    stored.save(photo, quality=95, exif=exif)
    assert photo.stat().st_size > 2 * 1024 * 1024  # the server alone would refuse it
    from digitlab.vision import decoding, mnist_style

    width, height = decoding.open_image(photo.read_bytes()).size
    assert height > width  # the EXIF tag says what we mean: shown upright, the photo is portrait
    page.click("#clear")
    page.set_input_files("#upload", str(photo))
    sync_api.expect(page.locator("#status")).to_contain_text("IMG_0001.jpg", timeout=30_000)
    sync_api.expect(page.locator(".card.waiting")).to_have_count(0)
    seen_b64 = page.locator("#seen").get_attribute("src").split(",", 1)[1]
    import base64

    seen = np.asarray(Image.open(io.BytesIO(base64.b64decode(seen_b64))), dtype=np.float32)  # (28, 28)
    small = io.BytesIO()
    upright.resize((384, 512)).save(small, format="PNG")
    expected = mnist_style.to_mnist(small.getvalue()).numpy() * 255
    sideways = mnist_style.to_mnist(upright.resize((384, 512)).transpose(Image.Transpose.ROTATE_90)).numpy() * 255
    # Upright, the models' picture is the digit itself; on its side it would be nearer the rotated one.
    assert np.abs(seen - expected).mean() < np.abs(seen - sideways).mean() / 2


def test_the_phone_layout_shows_the_pad_and_every_answer_at_once(phone):
    draw(phone, SEVEN)
    sync_api.expect(phone.locator(".card.waiting")).to_have_count(0, timeout=15_000)
    assert phone.evaluate("window.scrollY") == 0
    height = PHONE["viewport"]["height"]
    shown = [phone.locator("#pad"), *phone.locator(".card .label").all()]
    for element in shown:
        box = element.bounding_box()
        assert box["y"] >= 0 and box["y"] + box["height"] <= height, (element, box)
    sizes = phone.evaluate("(() => { const p = document.getElementById('pad');"
                           " return [p.width, p.getBoundingClientRect().width]; })()")
    assert sizes[0] == round(sizes[1] * PHONE["device_scale_factor"])  # sharp: a canvas pixel per screen pixel
    ARTIFACTS.mkdir(exist_ok=True)
    phone.wait_for_timeout(300)
    phone.screenshot(path=str(ARTIFACTS / "web-phone.png"))


def number_on(page) -> dict[str, str]:
    """Each card's number as shown: its digits' large figures, "?" for one declined."""
    return {card.get_attribute("data-method"): "".join(card.locator(".label .place .d").all_inner_texts())
            for card in page.locator(".card").all()}


def draw_42(page) -> None:
    """A 4 and a 2 side by side, two strokes each, as a person writes them; then the final answer."""
    page.click("#clear")
    for stroke in FOUR + TWO:
        draw(page, stroke)
    sync_api.expect(page.locator("#status")).to_contain_text("Your drawing:", timeout=15_000)
    # The cards may still show an answer to the strokes before the last (the 4 alone, or the 4 and half
    # the 2, on a busy machine): wait for the final one. 45 s: in a fresh clone's run beside a whole
    # `digitlab compare` (load 5) the first number took over 15. Whatever is shown then, the test's
    # assertion reports it (the status, each card's number) with a screenshot: a CI run once saw the
    # status answered and no number on the cnn's card for 30 s, and could not say what it showed.
    deadline = time.monotonic() + 45
    while number_on(page).get("cnn") != "42" and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    sync_api.expect(page.locator(".card.waiting")).to_have_count(0)


def number_shown(page, where: str) -> str:
    """The cnn's number on the page; when it is not 42, a screenshot is kept beside the others and the
    returned text says everything the page shows, for the assertion's message."""
    shown = number_on(page)
    if shown.get("cnn") == "42":
        return "42"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"web-number-{where}-failed.png"), full_page=True)
    return f"{shown} {answers(page)} status: {page.locator('#status').inner_text()!r}"


@pytest.mark.parametrize("where", ["desktop", "phone"])
def test_a_number_drawn_is_read_by_every_method_with_its_digits_boxed(where, request):
    page = request.getfixturevalue({"desktop": "page", "phone": "phone"}[where])
    draw_42(page)
    shown = number_shown(page, where)
    assert shown == "42", shown
    assert page.locator(".card.number").count() == 4  # every method's answer is a number: no bars
    pad = page.locator("#pad").bounding_box()
    boxes = [b.bounding_box() for b in page.locator("#boxes .box").all()]
    assert len(boxes) == 2, boxes
    assert boxes[0]["x"] + boxes[0]["width"] <= boxes[1]["x"], boxes  # left to right, apart
    for box, (left, right) in zip(boxes, [(0.21, 0.38), (0.56, 0.75)]):  # each over its own digit's ink
        assert pad["x"] + (left - 0.04) * pad["width"] <= box["x"] < pad["x"] + left * pad["width"], (box, pad)
        assert pad["x"] + right * pad["width"] < box["x"] + box["width"] <= pad["x"] + (right + 0.04) * pad["width"]
    assert page.locator("#boxes .box").evaluate_all("bs => bs.map(b => b.dataset.n)") == ["1", "2"]
    assert page.locator(".card[data-method=cnn] .place .p").count() == 2  # each digit's probability under it
    assert not page.locator(".card[data-method=cnn] .why").is_enabled()  # "why?" explains one digit
    assert not (serious := serious_violations(page)), serious  # the number's cells and boxes, checked as the digit's card is
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"web-number-{where}.png"), full_page=where == "desktop")
    page.click("#clear")
    sync_api.expect(page.locator("#boxes .box")).to_have_count(0)  # Clear takes the boxes away with the ink


def serious_violations(page) -> str:
    """axe-core's serious and critical findings on the page as it stands, as JSON ("" when none)."""
    # The local copy, evaluated by the test (the page's policy rightly refuses an inline script tag).
    page.evaluate("() => {\n" + AXE.read_text() + "\n}")
    result = page.evaluate("axe.run(document, { resultTypes: ['violations'] })")
    serious = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
               for v in result["violations"] if v["impact"] in ("serious", "critical")]
    return json.dumps(serious, indent=1) if serious else ""


def test_no_serious_accessibility_violations_and_focus_is_visible(page, failed_loads):
    """axe-core's rules over the page with answers on it, then Tab through every control."""
    page.click("#clear")
    draw(page, SEVEN)
    sync_api.expect(page.locator(".card.waiting")).to_have_count(0, timeout=15_000)
    serious = serious_violations(page)
    assert not serious, serious
    page.click("h1")  # focus starts on the page, not on a control
    for control in ("#clear", "#choose-photo"):
        page.keyboard.press("Tab")
        focused = page.evaluate("document.activeElement.id")
        assert f"#{focused}" == control, focused
        outline = page.eval_on_selector(control, "e => getComputedStyle(e).outlineStyle + ' ' + getComputedStyle(e).outlineWidth")
        assert not outline.startswith("none"), (control, outline)
    assert not failed_loads, failed_loads  # no favicon 404, no script errors, on either page


def test_an_unreadable_upload_leaves_no_broken_picture_and_no_old_timing(page, tmp_path):
    page.click("#clear")
    draw(page, SEVEN)
    sync_api.expect(page.locator("#timing")).to_contain_text("Answered in", timeout=15_000)
    fake = tmp_path / "notes.png"
    fake.write_bytes(b"a text file, named as a picture")
    page.set_input_files("#upload", str(fake))
    sync_api.expect(page.locator("#status.error")).to_contain_text("notes.png", timeout=15_000)
    sync_api.expect(page.locator("#photo-figure")).to_be_hidden()  # no broken-image icon under the error
    sync_api.expect(page.locator("#timing")).to_have_text("")  # nor the last drawing's "Answered in 35 ms"
    sync_api.expect(page.locator(".card.waiting")).to_have_count(4)


@pytest.mark.parametrize("key", ["Enter", " "])
def test_enter_and_space_on_the_upload_button_open_the_file_chooser(browser, server, failed_loads, key):
    page = open_page(browser, server, failed_loads)  # a page of its own: one chooser a page at a time
    try:
        # Listening before anything is pressed: Playwright turns on catching the chooser when the first
        # listener comes, and a chooser opened before that is lost (listening late, it failed now and then on a busy machine).
        choosers = []
        page.on("filechooser", lambda chooser: choosers.append(chooser))
        page.click("h1")
        page.keyboard.press("Tab")  # Clear
        page.keyboard.press("Tab")  # Upload a photo
        assert page.evaluate("document.activeElement.id") == "choose-photo"
        page.keyboard.press(key)
        for _ in range(100):
            if choosers:
                break
            page.wait_for_timeout(100)
        assert len(choosers) == 1 and not choosers[0].is_multiple(), choosers
    finally:
        page.close()


DESKTOP = {"width": 1280, "height": 800}  # a common laptop screen


def test_at_1280_by_800_each_why_is_on_the_first_screen_named_for_its_answer_and_disabled_looks_so(
        browser, server, failed_loads):
    page = open_page(browser, server, failed_loads, viewport=DESKTOP)
    try:
        why = page.locator(".card .why")
        style = "b => { const s = getComputedStyle(b); return [s.borderStyle, s.color, s.backgroundColor, s.cursor]; }"
        disabled_look = why.first.evaluate(style)
        names = why.evaluate_all("bs => bs.map(b => b.getAttribute('aria-label'))")
        assert len(set(names)) == 4 and all("no answer" in n for n in names), names
        draw(page, SEVEN)
        sync_api.expect(page.locator("#status")).to_contain_text("Your drawing:", timeout=15_000)  # the final answer
        sync_api.expect(why.first).to_be_enabled()
        page.evaluate("window.scrollTo(0, 0)")
        for button in why.all():  # the whole button within the window, unscrolled
            box = button.bounding_box()
            assert 0 <= box["y"] and box["y"] + box["height"] <= DESKTOP["height"], box
        labels = answers(page)
        names = why.evaluate_all("bs => bs.map(b => b.getAttribute('aria-label'))")
        said = {m: f"said {label}" if label.isdigit() else f"declined: {label}" for m, label in labels.items()}
        assert names == [f"why {shown} {said[method]}" for shown, method in
                         [("Pixel similarity", "pixel"), ("Linear model", "linear"), ("Simple net", "simple_net"),
                          ("CNN", "cnn")]], (names, labels)
        enabled_look = why.first.evaluate(style)
        # Disabled: dashed, grey text on grey, a not-allowed pointer; enabled: a solid blue outline on white.
        assert disabled_look[0] == "dashed" and enabled_look[0] == "solid", (disabled_look, enabled_look)
        assert disabled_look[1:] != enabled_look[1:] and disabled_look[3] == "not-allowed", (disabled_look, enabled_look)
        ARTIFACTS.mkdir(exist_ok=True)
        page.wait_for_timeout(300)
        page.screenshot(path=str(ARTIFACTS / "web-1280x800.png"))
    finally:
        page.close()
