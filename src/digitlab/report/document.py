"""The self-contained HTML report of a compare run: its sections (`SECTIONS`), tables, the machine it
ran on (`environment`), `render` and `write` (atomic)."""

from __future__ import annotations

import html
import os
import platform
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from matplotlib.figure import Figure

from digitlab import __version__
from digitlab.compare.record import SMOKE, test_digits
from digitlab.report import captions
from digitlab.report.confusion import confusion_table
from digitlab.report.figures import (example_digits, learned_figure, learning_curves, mean_digits, png_uri,
                                     reliability_figure, top_losses_figure, why_wrong_figure)
from digitlab.store.files import atomic_write

if TYPE_CHECKING:
    from digitlab.compare.job import Result
    from digitlab.compare.tasks import Task


SECTIONS = {  # id -> heading, in page order; the tests check each one is there
    "summary": "Results",
    "examples": "Example digits",
    "means": "Mean digit per class",
    "curves": "Learning curves",
    "confusion": "Confusion matrices",
    "top-losses": "Top losses",
    "calibration": "Calibration",
    "learned": "What each model learned",
    "why-wrong": "Why the top losses went wrong",
    "timings": "Timings",
    "environment": "Environment",
}


def _cpu_name() -> str:
    """The processor's marketing name where the system tells it (Linux), else its architecture."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment(device) -> dict[str, str]:
    """The versions and hardware a run used, for the report and for anyone repeating it."""
    if str(device).startswith("cuda") and torch.cuda.is_available():
        hardware = torch.cuda.get_device_name(torch.device(device))
    else:
        hardware = _cpu_name()
    return {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "digitlab": __version__,
        "device": f"{device} ({hardware})",
        "torch threads": str(torch.get_num_threads()),
        "CPU cores": str(os.cpu_count()),
        "platform": platform.platform(),
    }


def _not_drawn(result: Result, why: str) -> str:
    """The visible line that stands, under the model's heading, where its picture cannot be drawn."""
    line = f'<p class="not-drawn">{html.escape(f"{result.method}, {result.task}")}: not drawn ({html.escape(why)}).</p>'
    return _block(f"{result.method}, {result.task}", line)


NO_MODEL = "this report was rendered from results without their fitted models; digitlab compare keeps them"


def _explained_sections(results: Sequence[Result]) -> tuple[str, str]:
    """What each model learned and why its top losses went wrong, drawn from the fitted models the
    results carry; where one is missing, a line saying so stands in its place."""
    learned, why = [], []
    for r in results:
        if r.model is None:
            learned.append(_not_drawn(r, NO_MODEL))
            why.append(_not_drawn(r, NO_MODEL))
            continue
        name = f"{r.method}, {r.task}"
        caption, key = captions.learned(r.method, getattr(r.model.config, "ideals", 1))
        learned.append(_block(name, _img(learned_figure(r.model), f"{name}: what it learned", caption, key)))
        if r.worst:
            figure, shown = why_wrong_figure(r.model, r)
            why.append(_block(name, _img(figure, f"{name}: why its top losses went wrong", captions.WHY[r.method],
                                         captions.why_key(shown))))
        else:
            why.append(_not_drawn(r, "no top losses were kept for it"))
    intro = ("<p>What each model keeps once trained, drawn from the fitted model itself; under each picture,"
             " what it shows and what its colours mean.</p>")
    why_intro = ("<p>Three of each model's top losses, each as the model saw it and then the maps that explain"
                 " its answer, the same maps as the web page's \"why?\" and <code>digitlab predict --explain</code>."
                 " Each row is titled with the true digit and the model's answer.</p>")
    return intro + "".join(learned), why_intro + "".join(why)


def calibration_section(results: Sequence[Result]) -> str:
    """Each model's temperature and calibration error, and a reliability diagram per ten-digit model."""
    rows = [[r.method, r.task, f"{r.calibration['temperature']:.3f}" if r.calibration else "1 (not calibrated)",
             f"{r.calibration['images']:,}" if r.calibration else "-",
             f"{r.calibration['ece_before']:.2%}" if r.calibration else "-",
             f"{r.ece:.2%}" if r.ece is not None else "-",
             f"{r.stress_ece:.2%}" if r.stress_ece is not None else "-"] for r in results]
    intro = ("<p>Each model's probabilities are softmax(scores / T), T fitted on training images held out of"
             " the fit (MNIST's 55,000-58,999, each as it is and once damaged; a folder's seeded 10 %). The"
             " calibration error (ECE) is the mean gap between accuracy and confidence over 15 equal-width"
             " confidence bins, weighted by the images in each: 1 % means that a model's \"90 % sure\" is"
             " right about 89-91 % of the time. A model never calibrated has T = 1.</p>")
    table = _table(["method", "task", "temperature T", "held-out images", "ECE held out, T = 1",
                    "ECE test", "ECE stress set"], rows)
    figures = "".join(_block(f"{r.method}, {r.task}", _img(reliability_figure(r), f"{r.method}, {r.task}: reliability",
                                                           RELIABILITY))
                      for r in results if r.reliability and r.classes == list(range(10)))
    return intro + table + figures


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    # In a box of its own that scrolls sideways where the page is narrower, never the page itself.
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _img(fig: Figure, alt: str, caption: str, key: str = "") -> str:
    """A picture with its one-sentence caption; a map (`key` given) also says what its colours mean."""
    kind = ' class="map"' if key else ""
    return (f'<figure{kind}><img src="{png_uri(fig)}" alt="{html.escape(alt)}">{key}'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def _block(title: str, inner: str) -> str:
    """One model's (or task's) piece of a section under its own heading."""
    return f'<div class="block"><h3>{html.escape(title)}</h3>{inner}</div>'


def summary_rows(results: Sequence[Result]) -> list[list[str]]:
    """One row per (method, task): what the report's table and the command's table both show."""
    return [
        [
            r.method,
            r.task,
            f"{r.accuracy:.2%}",
            f"{r.stress['all']:.2%}" if r.stress else "-",
            f"{r.corrupted['all']:.2%}" if r.corrupted else "-",
            f"{r.ece:.2%}" if r.ece is not None else "-",
            f"{r.stress_ece:.2%}" if r.stress_ece is not None else "-",
            f"{r.train_seconds:.2f} s",
            f"{r.predict_seconds_per_image * 1e6:.1f} µs",
            f"{r.parameters:,}",
            f"{r.size_bytes / 1024:,.1f} KiB",
        ]
        for r in results
    ]


def stress_table(results: Sequence[Result]) -> str:
    """Each ten-digit model's MNIST test accuracy beside its stress-set accuracy, by category."""
    from digitlab.data.stress import CATEGORIES

    rows = [[r.method, r.task, f"{r.accuracy:.2%}", f"{r.stress['all']:.2%}",
             f"{r.ece:.2%}" if r.ece is not None else "-", f"{r.stress_ece:.2%}" if r.stress_ece is not None else "-",
             *(f"{r.stress[c]:.2%}" for c in CATEGORIES)] for r in results if r.stress]
    if not rows:
        return ""
    return _table(["method", "task", "MNIST test", "stress set", "ECE MNIST test", "ECE stress set",
                   *(f"stress: {c}" for c in CATEGORIES)], rows)


def corruption_table(results: Sequence[Result]) -> str:
    """Each ten-digit model's accuracy on the corruption set (as predict reads it): overall, on the
    kinds anyone may tune on and on the held-out ones, then kind by kind; a column per model."""
    from digitlab.data.corrupted import HELD_OUT_KINDS, NAMES

    scored = [r for r in results if r.corrupted]
    if not scored:
        return ""
    rows = [[name, *(f"{r.corrupted[name]:.2%}" for r in scored)] for name in ("all", "seen kinds", "held-out kinds")]
    rows += [[f"{kind} (held out)" if kind in HELD_OUT_KINDS else kind, *(f"{r.corrupted[kind]:.2%}" for r in scored)]
             for kind in NAMES]
    return _table(["corruption set", *(f"{r.method}, {r.task}" for r in scored)], rows)


RELIABILITY = ("How often the model was right against how sure it said it was, bin by bin (a calibrated model"
               " keeps to the dashed line); the bars below count the test digits in each bin.")
TOP_LOSSES = "The test digits the model was most wrong about, the worst first."
CURVES = ("Each trained model's accuracy and loss after every epoch, measured on the test digits; pixel"
          " similarity trains nothing and has no line.")

SUMMARY_HEADER = ["method", "task", "test accuracy", "stress set", "corruption set", "ECE test", "ECE stress", "train time", "predict time / image", "parameters", "size on disk"]

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 4px 10px; text-align: right; white-space: nowrap; }
td:last-child { white-space: normal; } th:first-child, th:last-child { text-align: left; }
th { background: #f2f2f2; } td:first-child, td:nth-child(2), td:last-child { text-align: left; }
figure { display: inline-block; margin: 0.5em 1em 0.5em 0; vertical-align: top; max-width: 100%; }
figcaption { font-size: 0.85em; color: #444; max-width: 60em; }
img { max-width: 100%; }
.scroll { overflow-x: auto; max-width: 100%; }
.block { display: inline-block; vertical-align: top; max-width: 100%; box-sizing: border-box; padding-right: 1.5em; }
.block > figure { margin-right: 0; }
h3 { font-size: 1em; margin: 1em 0 0.3em; }
.key { font-size: 0.8em; color: #333; max-width: 60em; margin: 0.3em 0; }
.key ul { margin: 0.2em 0; padding-left: 1.5em; }
.ramp { display: inline-block; width: 5em; height: 0.9em; border: 1px solid #888; vertical-align: middle; }
.swatch { display: inline-block; width: 1em; height: 1em; border: 1px solid #888; vertical-align: middle; }
figure.confusion { width: min-content; min-width: min(20em, 100%); }
table.matrix th, table.matrix td { text-align: center; padding: 3px 6px; font-size: 16px; min-width: 1.6em;
  font-variant-numeric: tabular-nums; }
table.matrix .corner { font-size: 12px; font-weight: normal; white-space: normal; max-width: 5em; }
@media (max-width: 600px) { table.matrix th, table.matrix td { padding: 2px 3px; font-size: 14px; }
  body { padding: 0 0.5em; } .block { display: block; padding-right: 0; } }
section { border-top: 1px solid #ddd; margin-top: 1.5em; }
.not-drawn { color: #a40; font-style: italic; }
.smoke { background: #fff3cd; border: 1px solid #d9a400; padding: 0.5em 0.8em; }
"""


def _smoke_banner(quick: bool) -> str:
    """The line that stands at the top of a quick run's report and over its results."""
    return f'<p class="smoke"><strong>{html.escape(SMOKE[0].upper() + SMOKE[1:])}.</strong></p>' if quick else ""


def render(results: Sequence[Result], tasks: Sequence[Task], settings: dict, env: dict[str, str],
           quick: bool = False) -> str:
    """The whole page as one HTML string; a `quick` run's figures marked as smoke figures."""
    parts = {
        "summary": _smoke_banner(quick) + _table(SUMMARY_HEADER, summary_rows(results))
        + "<p>Test accuracy: on each task's test images ("
        + html.escape("; ".join(f"{t.name}: {test_digits(t)}" for t in tasks)) + "), never used to"
        " choose anything; the same figure as each model's config.json, <code>digitlab evaluate</code> on"
        " those digits and the web page. (The held-out training digits calibrate, below.) The stress set is 5,000"
        " digits that are not MNIST's (fonts, pen strokes, photos, small scans), scored for the ten-digit"
        " models; below, by category. The corruption set is 1,000 held-out MNIST training digits damaged"
        " 21 ways (noise, blur, turns, grey backgrounds, lines, blocks...), as digitlab predict reads them;"
        " its held-out kinds are ones no choice was tuned on. Predict time is per image in one batch; size"
        " on disk is the saved model folder.</p>" + stress_table(results) + corruption_table(results),
        "examples": "".join(_block(t.name, _img(example_digits(t), f"{t.name}: training images, one row per class",
                                                *captions.EXAMPLES)) for t in tasks),
        "means": "".join(_block(t.name, _img(mean_digits(t), f"{t.name}: the mean training image of each class",
                                             *captions.MEANS)) for t in tasks),
        "curves": _img(learning_curves(results), "accuracy and loss on the test digits after each epoch", CURVES),
        "confusion": "<p>How each model read the test digits: a row for each true digit, a column for each"
        " answer, so the diagonal counts the digits read right.</p>"
        + "".join(_block(f"{r.method}, {r.task}", confusion_table(r)) for r in results),
        "top-losses": "<p>Each test image is titled actual / predicted / the model's probability for its"
        " prediction, highest loss first.</p>"
        + "".join(_block(f"{r.method}, {r.task}", _img(top_losses_figure(r), f"{r.method}, {r.task}: top losses",
                                                       TOP_LOSSES)) for r in results if r.worst),
        "calibration": calibration_section(results),
        **dict(zip(("learned", "why-wrong"), _explained_sections(results))),
        "timings": _table(
            ["method", "task", "epochs", "train time", "predict time, whole test set", "test images", "settings"],
            [
                [r.method, r.task, sum(row.get("train_loss") is not None for row in r.history),
                 f"{r.train_seconds:.2f} s", f"{r.predict_seconds_per_image * r.test_count:.3f} s",
                 f"{r.test_count:,}", ", ".join(f"{k}={v}" for k, v in r.config.items())]
                for r in results
            ],
        )
        + _table(["setting", "value"], sorted(settings.items())),
        "environment": _table(["", "value"], list(env.items())),
    }
    body = "".join(
        f'<section id="{key}"><h2>{html.escape(title)}</h2>{parts[key]}</section>' for key, title in SECTIONS.items()
    )
    title = "digitlab compare, quick run" if quick else "digitlab compare"
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title}</title><style>{STYLE}</style></head><body>"
        f"<h1>{title}</h1>{_smoke_banner(quick)}<p>Every method on every task, trained and tested by digitlab"
        f" {__version__}.</p>{body}</body></html>"
    )


def write(path: str | os.PathLike, results: Sequence[Result], tasks: Sequence[Task], settings: dict,
          env: dict[str, str], quick: bool = False) -> Path:
    """Render the page and write it atomically; returns its path."""
    path = Path(path)
    page = render(results, tasks, settings, env, quick)
    with atomic_write(path, "w") as f:
        f.write(page)
    return path
