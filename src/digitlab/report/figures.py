"""The report's pictures, each a matplotlib Figure drawn off-screen: digit grids, learning curves,
top losses, what each model learned and why it got its worst digits wrong,
reliability diagrams; `png_uri` makes one an inline image."""

from __future__ import annotations

import base64
import io
import math
import textwrap
from collections.abc import Sequence
from typing import TYPE_CHECKING

import matplotlib
import torch
from matplotlib.figure import Figure
from matplotlib.ticker import LogLocator, MaxNLocator, NullFormatter, PercentFormatter, StrMethodFormatter

from digitlab.report.captions import map_name

if TYPE_CHECKING:
    from digitlab.compare.job import Result
    from digitlab.compare.tasks import Task


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
    """Accuracy and losses on the test digits (compare's validation set) per epoch, one column per task,
    every trained method."""
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
        top.set_title(f"{task}: accuracy on its test digits")
        bottom.set_title(f"{task}: loss (each method's own)")
        bottom.set_xlabel("epoch")
        bottom.set_yscale("log")
        for ax in (top, bottom):
            ax.grid(alpha=0.3)
            if ax.lines:
                ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def top_losses_figure(result: Result) -> Figure:
    """The test images with the highest loss (least probability on the truth), as fastai shows them."""
    titles = [f"{w.actual} / {w.predicted} / {w.probability:.2f}" for w in result.worst]
    return digit_grid(torch.stack([w.image for w in result.worst]), titles, columns=min(9, len(titles)), inches=0.9)


TITLE_POINTS = 7  # the maps' titles' type size
TITLE_ABOVE = 2  # points between a title and its map


def signed_grid(maps: Sequence[torch.Tensor], titles: Sequence[str], columns: int, inches: float = 0.9,
                grey: Sequence[int] = ()) -> Figure:
    """(h, w) signed maps (weights, contributions) as one mosaic: red positive, blue negative, white
    at 0, each scaled by its own largest magnitude; the maps at positions `grey` are images in [0, 1],
    drawn white ink on black."""
    h, w = maps[0].shape
    rows = max(1, -(-len(maps) // columns))
    cell_w = w + max(3, w // 9)
    # Room above each map for its title, in mosaic pixels: a fixed 9 left a cnn's 3 x 3 filters under
    # 97 points of blank page (a mosaic pixel is 11 points there, 2 to 3 for a 28 x 28 map).
    points_per_pixel = 72 * inches / cell_w
    lines = max((title.count("\n") + 1 for title in titles), default=1)
    top_gap = math.ceil((lines * TITLE_POINTS * 1.25 + TITLE_ABOVE) / points_per_pixel)
    cell_h = h + top_gap
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
    for i, title in enumerate(titles):  # just above its map (whose top edge is at y - 0.5), whatever the scale
        ax.annotate(title, ((i % columns) * cell_w + (w - 1) / 2, (i // columns) * cell_h + top_gap - 0.5),
                    xytext=(0, TITLE_ABOVE), textcoords="offset points", ha="center", va="bottom",
                    fontsize=TITLE_POINTS)
    ax.axis("off")
    return fig


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
TITLE_CHARACTERS = 20  # a map's name wraps at this many characters: about a 1.3-inch cell's width at 7 pt


def why_wrong_figure(clf, result: Result) -> tuple[Figure, list[str]]:
    """For each of the first WHY_SHOWN top losses: what the model saw and its explanation's maps,
    each titled in the page's words (captions.map_name); and the first row's map keys, for the key."""
    from digitlab.explain import explanations, pictures

    maps, titles, grey, first = [], [], [], []
    for w in result.worst[:WHY_SHOWN]:
        e = explanations.explain(clf, w.image)
        grey.append(len(maps))
        maps.append(e.seen)
        titles.append(f"{w.actual} seen as {w.predicted}")
        shown = list(e.maps)[:3]  # simple_net's units after the first are left out
        first = first or shown
        maps += [pictures.strongest(e.maps[name]) if name.startswith("unit_") else e.maps[name] for name in shown]
        titles += [textwrap.fill(map_name(name), TITLE_CHARACTERS, break_on_hyphens=False) for name in shown]
    return signed_grid(maps, titles, columns=1 + len(shown), inches=1.3, grey=grey), first


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
