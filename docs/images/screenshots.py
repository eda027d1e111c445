"""Retake the README's two pictures: the web page with a digit drawn, and a compare report.

    python docs/images/screenshots.py --report path/to/report.html [--chromium /usr/bin/chromium]

Starts `digitlab serve --port 0` in an empty folder (so the four shipped models answer), draws a 7
on the pad with the mouse, waits for every method's answer and saves docs/images/serve.png; then
opens the report file (when given) and saves parts of it as docs/images/report.png. Needs Playwright for Python and a Chromium.
Both pictures are stored as 256-colour PNGs to stay small (under 150 KB each).
"""

from __future__ import annotations

import argparse
import io
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

import digitlab

HERE = Path(__file__).resolve().parent
START_SECONDS = 120  # importing torch and loading four models, on a busy 2-core machine
SEVEN = [(0.42, 0.22), (0.60, 0.22), (0.49, 0.85)]  # shares of the pad's width and height: the bar, then the stem
DESKTOP = {"width": 1100, "height": 1010}
REPORT = {"width": 1500, "height": 900}  # wide enough for the first table's every column


def start_server(folder: Path) -> tuple[subprocess.Popen, str, float]:
    """`digitlab serve` in `folder`, its URL, and the seconds until it said "open"."""
    log = folder / "serve.log"
    started = time.monotonic()
    # The server runs the digitlab this script imports, whatever its cwd (a relative PYTHONPATH would not).
    sources = os.pathsep.join([str(Path(digitlab.__file__).resolve().parents[1]),
                               *filter(None, [os.environ.get("PYTHONPATH")])])
    process = subprocess.Popen([sys.executable, "-m", "digitlab", "serve", "--port", "0"], cwd=folder,
                               stdout=log.open("w"), stderr=subprocess.STDOUT,
                               env={**os.environ, "NO_COLOR": "1", "PYTHONPATH": sources})
    while not (found := re.search(r"open (http://127\.0\.0\.1:\d+/)", log.read_text())):
        if process.poll() is not None or time.monotonic() - started > START_SECONDS:
            process.kill()
            sys.exit(f"digitlab serve did not start:\n{log.read_text()}")
        time.sleep(0.05)
    return process, found.group(1), time.monotonic() - started


def draw(page, points: list[tuple[float, float]]) -> None:
    """One mouse stroke through `points` (shares of the pad's width and height)."""
    box = page.locator("#pad").bounding_box()
    at = [(box["x"] + x * box["width"], box["y"] + y * box["height"]) for x, y in points]
    page.mouse.move(*at[0])
    page.mouse.down()
    for point in at[1:]:
        page.mouse.move(*point, steps=12)
    page.mouse.up()


def report_parts(page) -> list[dict]:
    """Parts of the report: its first table (every method on every task), and the confusion matrices'
    heading and the first two ten-digit models' matrices (the 3-vs-7 ones between are left out)."""
    tops = page.evaluate("""() => {
        const top = e => e.getBoundingClientRect().top + window.scrollY;
        const headings = [...document.querySelectorAll('h2, h3')];
        const named = text => headings.find(h => h.textContent.trim() === text);
        const matrices = named('Confusion matrices');
        const after = headings.slice(headings.indexOf(matrices) + 1);
        const intro = matrices.nextElementSibling;
        return [top(document.querySelector('table')) + document.querySelector('table').offsetHeight,
                top(matrices), top(intro) + intro.offsetHeight, top(after.find(h => h.textContent.includes('0-9'))),
                top(after.filter(h => h.textContent.includes('0-9'))[2])];
    }""")
    width = REPORT["width"]
    return [{"x": 0, "y": 0, "width": width, "height": tops[0] + 16},
            {"x": 0, "y": tops[1] - 8, "width": width, "height": tops[2] - tops[1] + 16},
            {"x": 0, "y": tops[3] - 8, "width": width, "height": tops[4] - tops[3] + 4}]


def stacked(pngs: list[bytes]) -> bytes:
    """Pictures one under another, a grey rule between them (they are parts of one long page)."""
    images = [Image.open(io.BytesIO(png)).convert("RGB") for png in pngs]
    rule = 6
    out = Image.new("RGB", (max(i.width for i in images), sum(i.height for i in images) + rule * (len(images) - 1)),
                    (200, 200, 200))
    y = 0
    for image in images:
        out.paste(image, (0, y))
        y += image.height + rule
    buffer = io.BytesIO()
    out.save(buffer, format="PNG")
    return buffer.getvalue()


def save_small(png: bytes, path: Path, width: int) -> None:
    """Scale to `width` pixels and keep 256 colours: a page's flat colours lose nothing visible."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    image = image.resize((width, round(image.height * width / image.width)), Image.LANCZOS)
    image.quantize(colors=256, method=Image.MEDIANCUT).save(path, optimize=True)
    print(f"{path.name}: {image.width} x {image.height}, {path.stat().st_size / 1024:.0f} KB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", type=Path, help="a report.html written by digitlab compare")
    parser.add_argument("--chromium", default="/usr/bin/chromium", help="the Chromium to drive")
    args = parser.parse_args()
    from playwright.sync_api import expect, sync_playwright

    with tempfile.TemporaryDirectory() as folder, sync_playwright() as playwright:
        server, url, seconds = start_server(Path(folder))
        print(f"digitlab serve said 'open' after {seconds:.1f} s")
        try:
            browser = playwright.chromium.launch(executable_path=args.chromium)
            page = browser.new_page(viewport=DESKTOP)
            page.goto(url)
            draw(page, SEVEN)
            expect(page.locator("#status")).to_contain_text("Your drawing:", timeout=30_000)
            expect(page.locator(".card.waiting")).to_have_count(0, timeout=30_000)
            page.wait_for_timeout(500)
            save_small(page.screenshot(), HERE / "serve.png", 880)

            if args.report is not None:
                report = browser.new_page(viewport=REPORT)
                report.goto(args.report.resolve().as_uri())
                save_small(stacked([report.screenshot(clip=clip, full_page=True) for clip in report_parts(report)]),
                           HERE / "report.png", 880)
            browser.close()
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
