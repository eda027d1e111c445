"""The `compare` job's report: one self-contained HTML page with its pictures embedded as PNG.

Nothing is fetched when the page opens (no scripts, fonts or style sheets from elsewhere), so it can be
mailed, archived, or opened from disk on a machine with no network. Pictures are drawn with
matplotlib's Agg renderer on `Figure` objects directly, never through pyplot's global state.
"""

from __future__ import annotations

import base64
import html
import io
import os
import platform
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib
import torch
from matplotlib.figure import Figure
from matplotlib.ticker import LogLocator, MaxNLocator, NullFormatter, PercentFormatter, StrMethodFormatter

from digitlab import __version__
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


def png_uri(fig: Figure, dpi: int = 100) -> str:
    """A figure as a `data:` URI, so the page needs no files beside it."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def digit_grid(images: torch.Tensor, titles: Sequence[str], columns: int, inches: float = 0.9) -> Figure:
    """(N, 28, 28) images as one mosaic, white ink on black like MNIST, each titled above.

    One image on one Axes, not an Axes per digit: matplotlib spends its time per Axes.
    """
    rows = max(1, -(-len(images) // columns))
    cell_h, cell_w = 28 + 9, 28 + 3  # px: room above each digit for its title, and a gap beside
    mosaic = torch.full((rows * cell_h, columns * cell_w), float("nan"))  # nan: the page, white
    for i, image in enumerate(images):
        top, left = (i // columns) * cell_h + 9, (i % columns) * cell_w
        image = image.float().cpu()
        mosaic[top : top + 28, left : left + 28] = image / (float(image.max()) or 1)
    fig = Figure(figsize=(columns * inches, rows * inches * cell_h / cell_w))
    ax = fig.add_axes((0, 0, 1, 1))
    cmap = matplotlib.colormaps["gray"].with_extremes(bad="white")
    ax.imshow(mosaic.numpy(), cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
    for i, title in enumerate(titles):
        ax.text((i % columns) * cell_w + 14, (i // columns) * cell_h + 8, title, ha="center", va="bottom",
                fontsize=7)
    ax.axis("off")
    return fig


def example_digits(task: Task, per_class: int = 6) -> Figure:
    """The first few training images of each class, one row per class."""
    images, titles = [], []
    for digit in task.classes:
        chosen = task.train_images[task.train_labels == digit][:per_class]
        images.extend(chosen)
        titles.extend([str(digit)] * len(chosen))
    return digit_grid(torch.stack(images), titles, columns=per_class, inches=0.6)


def mean_digits(task: Task) -> Figure:
    """The book's "ideal" digits: each class's mean training image, which the pixel method uses."""
    means = torch.stack([task.train_images[task.train_labels == d].float().mean(0) for d in task.classes])
    return digit_grid(means, [f"mean {d}" for d in task.classes], columns=len(task.classes), inches=0.9)


def learning_curves(results: Sequence[Result]) -> Figure:
    """Validation accuracy and losses per epoch, one column per task, every trained method."""
    tasks = list(dict.fromkeys(r.task for r in results))
    fig = Figure(figsize=(5.5 * len(tasks), 6.5))
    for column, task in enumerate(tasks):
        top = fig.add_subplot(2, len(tasks), column + 1)
        bottom = fig.add_subplot(2, len(tasks), len(tasks) + column + 1)
        for result in (r for r in results if r.task == task):
            rows = [row for row in result.history if row.get("valid_loss") is not None]
            if not rows:
                continue  # pixel similarity has nothing to train
            epochs = [row["epoch"] + 1 for row in rows]  # history counts from 0; people from 1
            top.plot(epochs, [row["accuracy"] for row in rows], marker="o", label=result.method)
            line = bottom.plot(epochs, [row["valid_loss"] for row in rows], marker="o", label=f"{result.method} valid")
            if all(row.get("train_loss") is not None for row in rows):
                bottom.plot(epochs, [row["train_loss"] for row in rows], ls="--", marker="x", color=line[0].get_color(),
                            label=f"{result.method} train")
        last = max((len(r.history) for r in results if r.task == task), default=1)
        for ax in (top, bottom):  # whole epochs only, and room around a single one (else 0.945 .. 1.05)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
            ax.set_xlim(0.5, max(last, 1) + 0.5)
        # A single epoch is a single point, around which matplotlib pads the axis by 5 % each way,
        # up to "105 %"; accuracy reads as a percentage and stops at 100.
        top.yaxis.set_major_formatter(PercentFormatter(1.0))
        top.set_ylim(top=min(top.get_ylim()[1], 1.0 + 1e-3))
        top.set_title(f"{task}: validation accuracy")
        bottom.set_title(f"{task}: loss (each method's own)")
        bottom.set_xlabel("epoch")
        bottom.set_yscale("log")
        for ax in (top, bottom):
            ax.grid(alpha=0.3)
            if ax.lines:
                ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def confusion_figure(result: Result) -> Figure:
    """Counts of (actual, predicted) on the test images; the diagonal is what was right."""
    counts = result.confusion.cpu()
    size = 1.6 + 0.28 * len(result.classes)
    fig = Figure(figsize=(size, size))
    ax = fig.add_subplot()
    ax.imshow(counts, cmap="Blues")
    labels = [str(c) for c in result.classes]
    ax.set_xticks(range(len(labels)), labels)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    ax.set_title(f"{result.method}, {result.task}", fontsize=9)
    brightest = float(counts.max())
    for i in range(len(labels)):
        for j in range(len(labels)):
            value = int(counts[i, j])
            ax.text(j, i, str(value), ha="center", va="center", fontsize=6 if len(labels) > 2 else 10,
                    color="white" if value > brightest / 2 else "black")
    fig.tight_layout()
    return fig


def top_losses_figure(result: Result) -> Figure:
    """The test images with the highest loss (least probability on the truth), as fastai shows them."""
    titles = [f"{w.actual} / {w.predicted} / {w.probability:.2f}" for w in result.worst]
    return digit_grid(torch.stack([w.image for w in result.worst]), titles, columns=min(9, len(titles)), inches=0.9)


def signed_grid(maps: Sequence[torch.Tensor], titles: Sequence[str], columns: int, inches: float = 0.9,
                grey: Sequence[int] = ()) -> Figure:
    """(h, w) signed maps (weights, contributions) as one mosaic: red positive, blue negative, white
    at 0, each scaled by its own largest magnitude; the maps at positions `grey` are images in [0, 1],
    drawn white ink on black."""
    h, w = maps[0].shape
    rows = max(1, -(-len(maps) // columns))
    top_gap = max(9, h // 3)
    cell_h, cell_w = h + top_gap, w + max(3, w // 9)
    mosaic = torch.ones(rows * cell_h, columns * cell_w, 4)  # RGBA, white page
    red_blue, black_white = matplotlib.colormaps["bwr"], matplotlib.colormaps["gray"]
    for i, m in enumerate(maps):
        top, left = (i // columns) * cell_h + top_gap, (i % columns) * cell_w
        m = m.float().cpu()
        colours = black_white(m.numpy()) if i in grey else red_blue((m / (float(m.abs().max()) or 1) + 1).numpy() / 2)
        mosaic[top : top + h, left : left + w] = torch.from_numpy(colours).float()  # (h, w, 4)
    fig = Figure(figsize=(columns * inches, rows * inches * cell_h / cell_w))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.imshow(mosaic.numpy(), interpolation="nearest")
    for i, title in enumerate(titles):
        ax.text((i % columns) * cell_w + w / 2, (i // columns) * cell_h + top_gap - 1, title, ha="center",
                va="bottom", fontsize=7)
    ax.axis("off")
    return fig


def _model(result: Result):
    """The result's saved classifier, or None when its folder is gone (a report rendered later)."""
    from digitlab.classifiers import load
    from digitlab.errors import DigitlabError

    try:
        return load(result.model_dir)
    except (DigitlabError, OSError):
        return None


def learned_figure(clf) -> Figure:
    """explanations.learned's pictures: the mean digits in grey, weights and filters in red and blue."""
    from digitlab.explain import explanations

    pictures = explanations.learned(clf)
    titles, images = [t for t, _ in pictures], [p for _, p in pictures]
    if clf.method == "pixel":
        per_row = min(clf.config.ideals, 10) if clf.config.ideals > 1 else 10  # explanations.learned: 10 a class at most
        return digit_grid(torch.stack(images), titles, columns=min(per_row, len(images)))
    return signed_grid(images, titles, columns=min(12 if clf.method == "cnn" else 10, len(images)))


WHY_SHOWN = 3  # top losses explained per model


def why_wrong_figure(clf, result: Result) -> Figure:
    """For each of the first WHY_SHOWN top losses: what the model saw and its explanation's maps."""
    from digitlab.explain import explanations

    maps, titles, grey = [], [], []
    for w in result.worst[:WHY_SHOWN]:
        e = explanations.explain(clf, w.image)
        grey.append(len(maps))
        maps.append(e.seen)
        titles.append(f"{w.actual} seen as {w.predicted}")
        shown = list(e.maps.items())[:3]  # simple_net's units after its two contributions are left out
        maps += [m for _, m in shown]
        titles += [name.replace("_", " ")[:22] for name, _ in shown]
    return signed_grid(maps, titles, columns=1 + len(shown), inches=1.3, grey=grey)


def _explained_sections(results: Sequence[Result]) -> tuple[str, str]:
    learned, why = [], []
    for r in results:
        clf = _model(r)
        if clf is None:
            continue
        learned.append(_img(learned_figure(clf), f"{r.method}, {r.task}"))
        if r.worst:
            why.append(_img(why_wrong_figure(clf, r), f"{r.method}, {r.task}"))
    intro = ("<p>Computed by explain.py from the saved models. pixel: each class's ideal digits, a row a class"
             " (the class's mean, or the means of its groups of alike digits, the commonest first); linear: each"
             " class's weight per pixel; simple_net: the first layer's units with the largest outgoing weights;"
             " cnn: the first convolution's filters. Red is positive, blue negative.</p>")
    why_intro = ("<p>Each top loss as the model saw it, then its explanation (red pushed towards the wrong"
                 " answer, blue away; see <code>digitlab predict --explain</code>).</p>")
    return intro + "".join(learned), why_intro + "".join(why)


def reliability_figure(result: Result) -> Figure:
    """The reliability diagram of one model: in each confidence bin, how often it was right against
    how sure it said it was (on the diagonal when calibrated), on the test images and the stress set;
    the bars below count the test images in each bin."""
    fig = Figure(figsize=(4.2, 4.6))
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": (3, 1)})
    top.plot([0, 1], [0, 1], color="#999", lw=1, ls="--", label="calibrated")
    for (name, bins), marker in zip(result.reliability.items(), "os"):
        shown = [i for i, n in enumerate(bins["count"]) if n > 0]
        ece = result.ece if name == "test" else result.stress_ece
        top.plot([bins["confidence"][i] for i in shown], [bins["accuracy"][i] for i in shown], marker=marker,
                 label=f"{'MNIST test' if name == 'test' else 'stress set'}, ECE {ece:.2%}")
    test = result.reliability["test"]
    width = 1 / len(test["count"])
    bottom.bar([(i + 0.5) * width for i in range(len(test["count"]))], test["count"], width=width * 0.9, color="#8ab")
    bottom.set_yscale("log")  # a good model puts most images in the last bin, a few in each other
    bottom.yaxis.set_major_locator(LogLocator(base=10, numticks=5))
    bottom.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    bottom.yaxis.set_minor_formatter(NullFormatter())
    bottom.set_xlabel("confidence (the largest probability)")
    bottom.set_ylabel("test images")
    top.set_ylabel("accuracy")
    top.set_xlim(0, 1.0)
    top.set_ylim(0, 1.02)
    top.set_title(f"{result.method}, {result.task}", fontsize=9)
    top.legend(fontsize=7, loc="upper left")
    top.grid(alpha=0.3)
    fig.tight_layout()
    return fig


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
    figures = "".join(_img(reliability_figure(r), f"{r.method}, {r.task}: reliability")
                      for r in results if r.reliability and r.classes == list(range(10)))
    return intro + table + figures


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _img(fig: Figure, alt: str) -> str:
    alt = html.escape(alt)
    return f'<figure><img src="{png_uri(fig)}" alt="{alt}"><figcaption>{alt}</figcaption></figure>'


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


SUMMARY_HEADER = ["method", "task", "test accuracy", "stress set", "corruption set", "ECE test", "ECE stress", "train time", "predict time / image", "parameters", "size on disk"]

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 4px 10px; text-align: right; white-space: nowrap; }
td:last-child { white-space: normal; } th:first-child, th:last-child { text-align: left; }
th { background: #f2f2f2; } td:first-child, td:nth-child(2), td:last-child { text-align: left; }
figure { display: inline-block; margin: 0.5em 1em 0.5em 0; vertical-align: top; }
figcaption { font-size: 0.8em; color: #555; }
img { max-width: 100%; }
section { border-top: 1px solid #ddd; margin-top: 1.5em; }
"""


def render(results: Sequence[Result], tasks: Sequence[Task], settings: dict, env: dict[str, str]) -> str:
    """The whole page as one HTML string."""
    parts = {
        "summary": _table(SUMMARY_HEADER, summary_rows(results))
        + "<p>Test accuracy on each task's held-out images (MNIST's test set). The stress set is 5,000"
        " digits that are not MNIST's (fonts, pen strokes, photos, small scans), scored for the ten-digit"
        " models; below, by category. The corruption set is 1,000 held-out MNIST training digits damaged"
        " 21 ways (noise, blur, turns, grey backgrounds, lines, blocks...), as digitlab predict reads them;"
        " its held-out kinds are ones no choice was tuned on. Predict time is per image in one batch; size"
        " on disk is the saved model folder.</p>" + stress_table(results) + corruption_table(results),
        "examples": "".join(_img(example_digits(t), f"{t.name}: training images, one row per class") for t in tasks),
        "means": "".join(_img(mean_digits(t), f"{t.name}: the mean training image of each class") for t in tasks),
        "curves": _img(learning_curves(results), "validation accuracy and loss after each epoch"),
        "confusion": "".join(_img(confusion_figure(r), f"{r.method}, {r.task}") for r in results),
        "top-losses": "<p>Each test image is titled actual / predicted / the model's probability for its"
        " prediction, highest loss first.</p>"
        + "".join(_img(top_losses_figure(r), f"{r.method}, {r.task}") for r in results if r.worst),
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
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>digitlab compare</title><style>{STYLE}</style></head><body>"
        f"<h1>digitlab compare</h1><p>Every method on every task, trained and tested by digitlab {__version__}.</p>"
        f"{body}</body></html>"
    )


def write(path: str | os.PathLike, results: Sequence[Result], tasks: Sequence[Task], settings: dict,
          env: dict[str, str]) -> Path:
    """Render the page and write it atomically; returns its path."""
    path = Path(path)
    page = render(results, tasks, settings, env)
    with atomic_write(path, "w") as f:
        f.write(page)
    return path
