"""`digitlab evaluate MODEL`: a saved model's accuracy, calibration error and confusion matrix on a
dataset's test images (service.measure); `--card` measures every figure of its model card and writes
the card (store/card.py) again from them."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="accuracy, calibration error and confusion matrix of a saved model; --card writes its model card",
        description="Score a saved model (a folder written by compare or train) on a dataset's test images; "
        "with --card, measure every figure of its model card (README.md) and write the card again.",
    )
    parser.add_argument("model", metavar="MODEL", help="the model folder, e.g. digitlab-out/linear-3v7")
    parser.add_argument("--dataset", metavar="NAME|DIR",
                        help="mnist_sample, mnist, mnist_tiny, stress (digits that are not MNIST's), corrupted "
                        "(held-out MNIST digits damaged 21 ways, as predict reads them), corrupted_raw (the same "
                        "images as they are), numbers (2-8 digit numbers, read as predict reads them: whole-number "
                        "and per-digit accuracy, its choose and held-out parts apart; minutes) or a folder of images; "
                        "scores its valid "
                        "split, or all of a folder without split folders "
                        "(default: mnist_sample for a 3-vs-7 model, mnist for a ten-digit one)")
    parser.add_argument("--card", action="store_true",
                        help="measure every figure of the model card (the test images; for a ten-digit model "
                        "the stress and corruption sets too) and write the card, README.md in MODEL, again")
    parser.set_defaults(run=run)


def confusion_table(counts, classes, title: str):
    """A rich table of (actual, predicted) counts, the diagonal in bold."""
    from rich.table import Table

    table = Table(title=title)
    table.add_column("actual \\ predicted")
    for digit in classes:
        table.add_column(str(digit), justify="right")
    for i, digit in enumerate(classes):
        cells = [f"[bold]{int(v)}[/bold]" if i == j else str(int(v)) for j, v in enumerate(counts[i])]
        table.add_row(str(digit), *cells)
    return table


def _temperature(clf) -> str:
    """How the model's probabilities were calibrated, for the ECE line."""
    if clf.calibration_ is None:
        return " (probabilities not calibrated: temperature 1)"
    return f" (temperature {clf.temperature_:.3f}, fitted on {clf.calibration_['images']:,} held-out images)"


def run(args: argparse.Namespace) -> int:
    from digitlab import service

    clf = service.load(args.model)
    dataset = args.dataset or ("mnist" if clf.classes_.tolist() == list(range(10)) else "mnist_sample")
    if args.card:
        return write_card(clf, args.model, dataset)
    if dataset == "numbers":
        return read_numbers(clf, args.model)
    show(measured(clf, dataset, args.model), clf, args.model)
    return 0


def measured(clf, dataset: str, model: str) -> dict:
    """service.measure on `dataset`'s test images: what evaluate prints and a card records."""
    from digitlab import service
    from digitlab.data import datasets

    return service.measure(clf, datasets.load(dataset, datasets.evaluation_split(dataset)), dataset, model)


def show(figures: dict, clf, model: str) -> None:
    """One set's figures as evaluate prints them: the confusion matrix, accuracy, calibration error,
    and the stress set's categories or the corruption set's kinds."""
    from rich.console import Console

    from digitlab.compare.tasks import task_name
    from digitlab.metrics import ECE_BINS
    from digitlab.store.card import percent

    classes, dataset = clf.classes_.tolist(), figures["dataset"]
    title = f"{model} on {dataset} ({task_name(classes, dataset)}), test images"
    Console().print(confusion_table(figures["confusion"], classes, title))
    print(f"accuracy {percent(figures['accuracy'])} on {figures['images']:,} test images of {dataset}")
    print(f"calibration error (ECE, {ECE_BINS} bins) {percent(figures['ece'])}" + _temperature(clf))
    if "by_category" in figures:
        from digitlab.data import stress

        print("by category: " + ", ".join(f"{c} {percent(figures['by_category'][c])}" for c in stress.CATEGORIES))
    if "by_kind" in figures:
        from digitlab.data import corrupted

        print(corrupted.describe(figures["by_kind"]))


def write_card(clf, model: str, dataset: str) -> int:
    """--card: every figure a card carries measured (the test images of `dataset`; for a ten-digit
    model the stress and corruption sets too), printed as evaluate prints them, and the model card
    written again from them; the weights and config.json are not touched."""
    from pathlib import Path

    from digitlab.errors import DigitlabError
    from digitlab.store import card, checkpoint, lock
    from digitlab.store.files import through_link

    if dataset in ("numbers", "stress", "corrupted", "corrupted_raw"):
        raise DigitlabError(f"--dataset {dataset}: with --card, give the test images the card names (mnist, "
                            "mnist_sample, mnist_tiny or a folder); it measures the stress and corruption sets itself")
    folder = through_link(Path(model))
    sets = {"test": dataset, **({"stress": "stress", "corrupted": "corrupted"} if clf.classes_.tolist() == card.TEN else {})}
    with lock.holding(folder, option="MODEL"):  # no train run saves into it meanwhile
        figures = {}
        for name, named in sets.items():
            figures[name] = measured(clf, named, model)
            show(figures[name], clf, model)
        written = card.text(checkpoint.read_config(folder), card.Card(card.training_data(folder), figures))
        card.write(folder, written)
    print(f"model card written: {folder / card.README}")
    return 0


def read_numbers(clf, model: str) -> int:
    """The number set read as `digitlab predict` reads an image (reading.read_number), each part apart:
    the choose part (where the reader's settings were chosen) and the held-out part (never looked at
    while choosing)."""
    import dataclasses

    import torch

    from digitlab import reading, service
    from digitlab.data import numbers

    service.check_task(clf, torch.arange(10), model)  # a number may hold any digit
    for part in numbers.PARTS:
        count = numbers.PER_CATEGORY[part] * len(numbers.CATEGORIES)
        print(f"reading the {count:,} numbers of the number set's {part} part ...", flush=True)
        read, kept = [], []
        for number in numbers.each(part):
            read.append(reading.read_number(number.image, clf).text or "")  # declined as a whole: nothing read
            kept.append(dataclasses.replace(number, image=None))
        print(numbers.describe(numbers.accuracy(read, kept)))
    return 0
