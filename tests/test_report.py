"""The compare report: every section present, every picture embedded, and it renders in a browser.

The browser test screenshots the page at 1280 and 390 px wide to test-artifacts/report-1280.png and
report-390.png (git-ignored) for a person to look at.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import io
import re
import shutil
from pathlib import Path

import pytest
import torch
from PIL import Image
from torch.testing import assert_close

from digitlab.compare.job import Result, run_one
from digitlab.compare.tasks import Task, load_task
from digitlab.data import corrupted, shipped_mnist, stress
from digitlab.data.digits import Digits
from digitlab.explain import words
from digitlab.report import document, figures

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Real quick runs: pixel and linear on 3 vs 7 and on ten digits, the ten-digit models also scored
    on small slices of the stress and corruption sets; (results, tasks, their folder)."""
    out = tmp_path_factory.mktemp("report")
    tasks = [load_task(name, quick=True) for name in ("mnist_tiny", "mnist")]
    plans = {"pixel": {}, "linear": {"epochs": 2}}  # each only options its method has
    images, labels = stress.build(per_category=5, progress=False)
    shaken = Digits(torch.from_numpy(images), torch.from_numpy(labels).long(),
                    torch.arange(20) // 5 * stress.PER_CATEGORY, "stress")
    images, labels = corrupted.build_raw(shipped_mnist.mnist_arrays("train"), per_kind=3)
    kinds = len(corrupted.NAMES)
    damaged = Digits(torch.from_numpy(images), torch.from_numpy(labels).long(),
                     torch.arange(3 * kinds) // 3 * corrupted.PER_KIND, "corrupted_raw")
    results = [run_one(m, t, plans[m], out, seed=0, device="cpu", shaken=shaken, damaged=damaged)
               for t in tasks for m in ("pixel", "linear")]
    for result in results:  # the report draws from the models in memory, never back from their folders
        shutil.rmtree(result.model_dir)
    return results, tasks, out


@pytest.fixture(scope="module")
def page_path(runs):
    results, tasks, out = runs
    return document.write(out / "report.html", results, tasks, {"seed": 0}, document.environment("cpu"))


def _section(page: str, key: str) -> str:
    return page.split(f'<section id="{key}">')[1].split("</section>")[0]


def _blocks(section: str) -> dict[str, str]:
    """A section's pieces by their headings: {h3's text: what follows it, up to the next one}."""
    pieces = section.split('<div class="block"><h3>')[1:]
    return {html.unescape(p.split("</h3>", 1)[0]): p.split("</h3>", 1)[1] for p in pieces}


def _text(fragment: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", fragment))


def test_a_report_without_its_models_says_so_where_their_pictures_would_be(runs):
    results, tasks, _ = runs
    bare = [dataclasses.replace(r, model=None) for r in results]
    page = document.render(bare[:1] + results[1:], tasks, {"seed": 0}, document.environment("cpu"))
    for key in ("learned", "why-wrong"):
        blocks = _blocks(_section(page, key))
        assert blocks["pixel, 3 vs 7"].startswith('<p class="not-drawn">pixel, 3 vs 7: not drawn (this report was'
                                                  " rendered from results without their fitted models"), blocks
        assert "<img" not in blocks["pixel, 3 vs 7"] and sum(b.count("<img") for b in blocks.values()) == 3
        assert blocks["linear, 3 vs 7"].startswith('<figure class="map"><img')
    assert page.count('class="not-drawn"') == 2  # nothing else is missing


def test_every_section_is_there_and_every_picture_is_an_embedded_png(page_path):
    page = page_path.read_text()
    for key, heading in document.SECTIONS.items():
        assert f'<section id="{key}"><h2>{heading}</h2>' in page
    sources = re.findall(r'<img src="([^"]+)"', page)
    # examples and means per task, curves, then per run top losses, what the model learned and why
    # its top losses went wrong, and a reliability diagram per ten-digit run (confusion matrices are tables)
    assert len(sources) == 2 * 2 + 1 + 4 * 3 + 2
    calibrated = _section(page, "calibration")
    assert calibrated.count("<img") == 2 and 'alt="linear, 0-9: reliability"' in _blocks(calibrated)["linear, 0-9"]
    for row in ("pixel", "linear"):  # each model's temperature and its calibration errors
        assert re.search(rf"<td>{row}</td><td>0-9</td><td>[\d.]+</td><td>300</td>(<td>[\d.]+%</td>){{3}}</tr>",
                         calibrated), calibrated
    learned = _section(page, "learned")
    assert learned.count("<img") == 4 and 'alt="linear, 0-9: what it learned"' in _blocks(learned)["linear, 0-9"]
    assert _section(page, "why-wrong").count("<img") == 4 and 'class="not-drawn"' not in page
    for source in sources:
        prefix = "data:image/png;base64,"
        assert source.startswith(prefix)
        picture = Image.open(io.BytesIO(base64.b64decode(source[len(prefix):])))
        assert picture.format == "PNG" and min(picture.size) > 50
    for row in ("pixel", "linear"):
        assert f"<td>{row}</td><td>3 vs 7</td>" in page and f"<td>{row}</td><td>0-9</td>" in page
    # The stress set beside MNIST's test set, for the ten-digit models only, by category.
    for row in ("pixel", "linear"):
        assert re.search(rf"<td>{row}</td><td>3 vs 7</td><td>[\d.]+%</td><td>-</td>", page)
        cells = re.search(rf"<td>{row}</td><td>0-9</td>((?:<td>[\d.]+%</td>)+)", page.split("stress: small")[1])
        # MNIST test, the stress set, the calibration error on each, then the categories
        assert cells and cells.group(1).count("%") == 4 + len(stress.CATEGORIES), row
    # The corruption set in the summary (ten digits only) and kind by kind, a column per ten-digit model.
    for row in ("pixel", "linear"):
        assert re.search(rf"<td>{row}</td><td>3 vs 7</td><td>[\d.]+%</td><td>-</td><td>-</td>", page)
        assert re.search(rf"<td>{row}</td><td>0-9</td><td>[\d.]+%</td><td>[\d.]+%</td><td>[\d.]+%</td>", page)
    assert "<th>corruption set</th><th>pixel, 0-9</th><th>linear, 0-9</th></tr>" in page
    for name in ("all", "seen kinds", "held-out kinds", "fog", "zigzag (held out)", "ruled_lines (held out)"):
        assert re.search(rf"<tr><td>{re.escape(name)}</td><td>[\d.]+%</td><td>[\d.]+%</td></tr>", page), name
    for name in ("python", "torch", "digitlab", "device", "torch threads"):
        assert f"<td>{name}</td>" in page
    # Each run names its settings: the pixel method its distance, the trained ones epochs and lr.
    for task in ("3 vs 7", "0-9"):
        pixel = re.search(rf"<td>pixel</td><td>{task}</td>(?:<td>[^<]*</td>)*?<td>([^<]*distance=[^<]*)</td>", page)
        linear = re.search(rf"<td>linear</td><td>{task}</td>(?:<td>[^<]*</td>)*?<td>([^<]*epochs=2[^<]*)</td>", page)
        assert pixel and "distance=l2" in pixel.group(1) and linear and "lr=1.0" in linear.group(1), task


# The rendered height of each confusion-matrix number: the digits' ink, measured with the cell's own font.
DIGIT_HEIGHTS = """cells => { const pen = document.createElement("canvas").getContext("2d");
  return cells.map(cell => { const s = getComputedStyle(cell);
    pen.font = `${s.fontWeight} ${s.fontSize} ${s.fontFamily}`;
    const m = pen.measureText(cell.textContent);
    return m.actualBoundingBoxAscent + m.actualBoundingBoxDescent; }); }"""
# Each matrix cell's count and whether its background is white.
TINTS = """cells => cells.map(c => [Number(c.textContent), getComputedStyle(c).backgroundColor === "rgb(255, 255, 255)"])"""
WIDE, PHONE = 1280, 390  # px: a desktop window, and a phone held upright


@pytest.mark.browser
def test_report_renders_offline_in_headless_chromium_and_fits_a_phone(page_path):
    """At 1280 px and at 390 px: nothing fetched, every picture loaded, no sideways panning (wide
    tables scroll in their own boxes), and the confusion matrices' numbers at least 10 px tall with
    every count above 0 tinted. Screenshots of both go to test-artifacts/ for a person to look at."""
    if not shutil.which(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM} (apt install chromium) for the browser test")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    ARTIFACTS.mkdir(exist_ok=True)
    seen = {}
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        try:
            for width in (WIDE, PHONE):
                tab = browser.new_page(viewport={"width": width, "height": 900})
                fetched = []
                tab.on("request", lambda request: fetched.append(request.url))
                tab.goto(page_path.as_uri())
                tab.screenshot(path=str(ARTIFACTS / f"report-{width}.png"), full_page=True)
                seen[width] = {
                    "headings": tab.eval_on_selector_all("section > h2", "hs => hs.map(h => h.textContent)"),
                    "widths": tab.eval_on_selector_all("img", "imgs => imgs.map(i => i.complete ? i.naturalWidth : 0)"),
                    "page width": tab.evaluate("document.scrollingElement.scrollWidth"),
                    "digit heights": tab.eval_on_selector_all("table.matrix td", DIGIT_HEIGHTS),
                    "tints": tab.eval_on_selector_all("table.matrix td", TINTS),
                    "fetched": fetched,
                }
                tab.close()
        finally:
            browser.close()
    for width, page in seen.items():
        assert page["headings"] == list(document.SECTIONS.values())
        assert len(page["widths"]) == 19 and all(w > 0 for w in page["widths"]), page["widths"]
        assert all(url.startswith(("file:", "data:")) for url in page["fetched"]), page["fetched"]  # no network
        assert page["page width"] <= width, (width, page["page width"])  # no sideways panning
        # 2 x 2 cells for each 3-vs-7 model, 10 x 10 for each ten-digit one; white exactly where nothing was counted
        assert len(page["tints"]) == 2 * 4 + 2 * 100
        assert all(white == (count == 0) for count, white in page["tints"]), page["tints"]
    assert min(seen[WIDE]["digit heights"]) >= 10, seen[WIDE]["digit heights"]
    for width in (WIDE, PHONE):  # the whole page, not a blank viewport
        assert Image.open(ARTIFACTS / f"report-{width}.png").size[1] > 2000


def test_each_model_has_its_heading_in_what_each_model_learned_and_why_it_erred(page_path):
    page = page_path.read_text()
    names = [f"{m}, {t}" for t in ("3 vs 7", "0-9") for m in ("pixel", "linear")]
    for key in ("learned", "why-wrong", "confusion", "top-losses"):
        blocks = _blocks(_section(page, key))
        assert list(blocks) == names, (key, list(blocks))
        assert all("<figure" in block for block in blocks.values()), key


def test_every_map_has_a_colour_key_and_a_one_sentence_caption_that_is_not_its_title(page_path):
    """The example digits, the means, what each model learned, why its top losses went wrong and the
    confusion matrices: every picture there is a map with a colour key and one sentence of its own
    under it, which repeats neither its heading nor its section's."""
    page = page_path.read_text()
    maps = 0
    for key in ("examples", "means", "learned", "why-wrong", "confusion"):
        for title, block in _blocks(_section(page, key)).items():
            assert block.startswith('<figure class="map'), (key, title)
            figure = block.split("</figure>")[0]
            assert 'class="key"' in figure and "Colour key" in figure, (key, title)
            caption = _text(figure.split("<figcaption>")[1].split("</figcaption>")[0])
            assert re.fullmatch(r"[A-Z][^.!?]*[.!?]", caption), (key, title, caption)  # one sentence
            assert title not in caption and document.SECTIONS[key].lower() not in caption.lower(), (key, title, caption)
            alt = re.search(r'alt="([^"]*)"', figure)
            assert alt is None or html.unescape(alt.group(1)) != caption
            maps += 1
    assert maps == page.count('<figure class="map') == 2 + 2 + 4 + 4 + 4  # none elsewhere, none left out
    keys = {title: _text(block.split('class="key"')[1].split("</figure>")[0])
            for title, block in _blocks(_section(page, "why-wrong")).items()}
    # The runner-up's map says whose score its red raised: the page's "red pushed towards 7" was ambiguous there.
    runner_up = "weight × pixel, for the runner-up: blue, lowered the runner-up's score; red, raised the runner-up's"
    assert runner_up in keys["linear, 0-9"]
    assert "the digit minus the nearest ideal digit: blue, ink the answer's ideal has and this digit lacks" in keys["pixel, 0-9"]


def test_the_report_names_the_maps_in_the_pages_words(runs):
    """One vocabulary: the report's names for explain's maps are explain/words.py's, the words the web
    page gets with each explanation (app.js names none of its own), in the pictures' titles as on the
    page; explain.py's own keys never show."""
    results, _, _ = runs
    app = (Path(document.__file__).parents[1] / "web" / "static" / "app.js").read_text()
    assert not any(name in app for name in words.MAP_NAMES.values())
    for result, names in ((results[2], ("minus_nearest_mean", "minus_runner_up_mean", "evidence")),
                          (results[3], ("contribution", "runner_up_contribution"))):
        figure, shown = figures.why_wrong_figure(result.model, result)
        titles = [t.get_text().replace("\n", " ") for t in figure.axes[0].texts]
        assert shown == list(names) and [words.MAP_NAMES[n] for n in names] == titles[1:1 + len(names)]
    page = document.render(results, runs[1], {"seed": 0}, document.environment("cpu"))
    assert "nearest mean" not in page and "minus_nearest" not in page


def test_a_single_epoch_curve_has_whole_epochs_and_stops_at_100_percent():
    row = {"epoch": 0, "train_loss": 0.3, "valid_loss": 0.2, "accuracy": 0.99}
    result = Result("linear", "3 vs 7", 0.99, 0.1, 1e-6, 785, 4000, [row], [3, 7],
                            torch.zeros(2, 2, dtype=torch.int64), [], 100, "x", {})
    top, bottom = figures.learning_curves([result]).axes
    for ax in (top, bottom):
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert ticks == [1.0], ticks  # not 0.945 .. 1.05 around the one point
    assert top.get_ylim()[1] <= 1.001  # matplotlib's padding would reach 104 %


def test_the_mean_digits_are_drawn_upright_each_over_its_own_class():
    """Each class's mean image lands in its own cell the right way up: a picture transposed or taken
    from the wrong class differs from the means computed here."""
    images = torch.zeros(4, 28, 28, dtype=torch.uint8)
    images[0, 2:5, :] = 200  # a 3: a bar across the top
    images[1, 2:5, 4:] = 100
    images[2:, :, 20:23] = 255  # two 7s: a bar down the right
    labels = torch.tensor([3, 3, 7, 7])
    task = Task("3 vs 7", "made", images, labels, images, labels)
    mosaic = figures.mean_digits(task).axes[0].images[0].get_array()  # (37, 62): two cells of 28 + 9 by 28 + 3
    for column, digit in enumerate([3, 7]):
        mean = images[labels == digit].float().mean(0)
        shown = torch.as_tensor(mosaic[9:37, column * 31:column * 31 + 28].filled(float("nan")))
        assert_close(shown, mean / mean.max(), check_dtype=False)
