"""The static page of `digitlab export-site` in Debian's Chromium: opened from file:// and from a plain
static HTTP server, it answers drawn digits with nothing fetched from elsewhere, and its answers are the
Python models' own. The fifty-digit agreement with `digitlab serve` is marked slow.

Every request to anywhere but the page's own folder (or local server) is stopped and recorded (OffSite);
a copy of the page that asks a CDN for a script shows that the guard catches it."""

from __future__ import annotations

import functools
import http.server
import shutil
import statistics
import re
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from digitlab import service
from digitlab.classifiers import METHODS
from digitlab.web import models as web_models
from digitlab.web.site import export_site

from drawings import OffSite, digit_strokes, draw, fifty, wait_for

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
VIEW = {"viewport": {"width": 1100, "height": 820}}  # the server page's test size: the same pad on both pages

pytestmark = pytest.mark.browser

if not shutil.which(CHROMIUM):
    pytest.skip(f"no Chromium at {CHROMIUM} (apt install chromium) for the browser test", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
pytest.importorskip("onnx", reason="export-site needs onnx (pip install 'digitlab[onnx]')")


@pytest.fixture(scope="module")
def page_dir(linear_page) -> Path:
    return linear_page  # conftest.py: the shipped linear model's page (an export takes 8-20 s a model)


@pytest.fixture(scope="module")
def shipped_page(tmp_path_factory) -> Path:
    """The page with the four shipped models (about a minute to export)."""
    return export_site(tmp_path_factory.mktemp("site") / "page")


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"])
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def local_server(page_dir):
    """http://127.0.0.1:PORT/ serving the page's folder as any static host would."""
    handler = functools.partial(QuietHandler, directory=str(page_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def opened(browser, url: str, *allowed: str):
    """A new page at `url`, its off-site requests stopped and recorded, once its models are ready."""
    page = browser.new_page(**VIEW)
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    guard = OffSite(page, *allowed)
    page.goto(url)
    wait_for(page, "window.digitlab && (window.digitlab.ready || document.querySelector('#status.error'))")
    assert not errors and page.evaluate("() => window.digitlab.ready"), (errors, page.text_content("#status"))
    return page, guard


def answer_drawing(page, strokes) -> dict:
    """Draw `strokes`, wait for the pen-up answer; {method: {label, probabilities}}, and "seen" (28 x 28)."""
    page.click("#clear")
    draw(page, strokes)
    wait_for(page, "window.digitlab.settled()", 30)
    return page.evaluate("() => ({ ...window.digitlab.answer, seen: window.digitlab.seen, ms: window.digitlab.penUpMs.at(-1) })")


@pytest.fixture(scope="module")
def on_page(linear_models):
    """{method: web.models.Served}: the models on the page, as Python loads them."""
    return web_models.find(linear_models)


def agrees_with_python(answer: dict, on_page) -> None:
    """The page's probabilities are the Python model's for the digit the page read (ONNX in the browser
    against torch): the same digit, within float32's rounding."""
    seen = torch.tensor(answer["seen"], dtype=torch.float32).reshape(1, 28, 28)
    for method, served in on_page.items():
        said = service.predict(served.clf, seen)
        python, page = said.proba[0].numpy(), np.asarray(answer[method]["probabilities"])
        assert answer[method]["label"] == said.digits[0], method
        assert np.abs(page - python).max() < 1e-4, (method, page, python)


def test_the_page_answers_from_file_with_nothing_from_elsewhere(browser, page_dir, on_page):
    page, guard = opened(browser, (page_dir / "index.html").as_uri())
    for digit in (0, 4, 7):  # drawings every method reads right (a flagged 1 can pass for a 7)
        answer = answer_drawing(page, digit_strokes(digit, 0))
        assert answer["linear"]["label"] == digit, (digit, answer["linear"])
        agrees_with_python(answer, on_page)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "site-file.png"), full_page=True)
    assert guard.requests == []
    assert page.locator(".card").count() == len(on_page)
    page.close()


def test_the_page_answers_from_a_static_server(browser, local_server, on_page):
    page, guard = opened(browser, local_server, local_server)
    answer = answer_drawing(page, digit_strokes(3, 1))
    assert answer["linear"]["label"] == 3
    agrees_with_python(answer, on_page)
    assert guard.requests == []
    page.close()


def test_a_request_to_a_cdn_is_caught(browser, page_dir, tmp_path):
    """The guard the tests above rely on: a page that asks a CDN for a script is seen doing it. (The
    page's own Content-Security-Policy would refuse the script before any request: the copy drops it.)"""
    copy = tmp_path / "page"
    shutil.copytree(page_dir, copy)
    html = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", (copy / "index.html").read_text())
    html = html.replace(
        '<script src="site.js" defer></script>',
        '<script src="https://cdn.example.com/onnxruntime-web/ort.min.js"></script>\n  <script src="site.js" defer></script>')
    (copy / "index.html").write_text(html)
    page, guard = opened(browser, (copy / "index.html").as_uri())
    assert guard.requests == ["https://cdn.example.com/onnxruntime-web/ort.min.js"]
    page.close()


@pytest.mark.slow
def test_fifty_drawn_digits_agree_with_serve(browser, shipped_page, tmp_path):
    """Fifty digits drawn with the mouse on both pages (the same pad, the same strokes): each method's
    digit on the static page is serve's (its likeliest, declined or not) for at least 49 of 50 drawings,
    every method at once. Pen-up to answer on the static page is written to test-artifacts/."""
    from server_process import serving

    with serving(tmp_path) as server:
        served = browser.new_page(**VIEW)
        served.add_init_script(RECORD_ANSWERS)
        served.goto(f"http://127.0.0.1:{server.port}/")
        sync_api.expect(served.locator(".card")).to_have_count(4)
        static, guard = opened(browser, (shipped_page / "index.html").as_uri())
        agree, rows, times = 0, [], []  # times: ms from each drawing's last pen-up to its answers
        for digit, strokes in fifty():
            mine = answer_drawing(static, strokes)
            times.append(mine.pop("ms"))
            theirs = serve_answer(served, strokes)
            same = theirs is not None and all(mine[m]["label"] == theirs[m] for m in theirs)
            agree += same
            rows.append(f"drawn {digit}: static {[mine[m]['label'] for m in METHODS]}, "
                        f"serve {theirs and [theirs[m] for m in METHODS]} ({', '.join(METHODS)})")
        assert guard.requests == []
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "site-agreement.txt").write_text(
        f"{agree} of 50 agree; pen-up to answer median {statistics.median(times):.1f} ms "
        f"(min {min(times):.1f}, max {max(times):.1f})\n" + "\n".join(rows) + "\n")
    assert agree >= 49, "\n".join(rows)


# The server page's answers as they come, numbered by request: the last one asked is the pen-up's.
RECORD_ANSWERS = """
window.served = { asked: 0, answers: {} };
const ownFetch = window.fetch;
window.fetch = async (url, options) => {
  const k = String(url).includes("/api/predict") ? ++window.served.asked : 0;
  const response = await ownFetch(url, options);
  if (k) response.clone().json().then((answer) => { window.served.answers[k] = answer; });
  return response;
};
"""


def serve_answer(page, strokes) -> dict | None:
    """Draw `strokes` on the server's page; {method: its likeliest digit} of the pen-up's answer, or
    None where serve found several digits (a number, not one digit)."""
    page.click("#clear")
    draw(page, strokes)
    wait_for(page, "document.getElementById('status').textContent.startsWith('Your drawing')", 30)
    wait_for(page, "window.served.answers[window.served.asked]", 30)
    answer = page.evaluate("() => window.served.answers[window.served.asked]")
    if len(answer["digits"]) != 1:
        return None
    return {p["method"]: p["classes"][int(np.argmax(p["probabilities"]))] for p in answer["predictions"]}
