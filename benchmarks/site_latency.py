"""Pen-up to answer on the static page of `digitlab export-site`, in headless Chromium.

    python benchmarks/site_latency.py [--rounds 1] [--out DIR]

Exports the page with the shipped models (or reuses --out's), opens it from file://, draws the
fifty digits of tests/drawings.py with the mouse and reads the page's own measure of each: from the
pointerup event to the four answers on the cards (performance.now(), site.js), which holds reading
the drawing as to_mnist does and running the four ONNX models one after the other on one thread.
Prints the median, the 90th percentile and the range, and the time the page took to be ready.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from drawings import draw, fifty, wait_for  # noqa: E402  (the same drawings as the agreement test)

CHROMIUM = "/usr/bin/chromium"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=1, help="times to draw the fifty digits (default: 1)")
    parser.add_argument("--out", type=Path, help="the page's folder (default: a temporary one, exported anew)")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    from digitlab.web.site import MARK, export_site

    with tempfile.TemporaryDirectory() as work:
        out = args.out or Path(work) / "page"
        if not (out / MARK).is_file():
            started = time.perf_counter()
            export_site(out)
            print(f"exported in {time.perf_counter() - started:.1f} s: {out}")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1100, "height": 820})
            started = time.perf_counter()
            page.goto((out / "index.html").as_uri())
            wait_for(page, "window.digitlab && window.digitlab.ready")
            ready = time.perf_counter() - started
            print(f"Chromium {browser.version}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; "
                  f"page ready {ready:.1f} s after opening")
            times = []  # ms from each drawing's last pen-up to its answers
            for _ in range(args.rounds):
                for _, strokes in fifty():
                    page.click("#clear")
                    draw(page, strokes)
                    wait_for(page, "window.digitlab.settled()", 30)
                    times.append(page.evaluate("() => window.digitlab.penUpMs.at(-1)"))  # the last stroke's
            browser.close()
    deciles = statistics.quantiles(times, n=10)
    print(f"pen-up to answer over {len(times)} drawings: median {statistics.median(times):.1f} ms, "
          f"90th percentile {deciles[-1]:.1f} ms, range {min(times):.1f}-{max(times):.1f} ms; "
          f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
