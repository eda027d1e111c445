"""`digitlab evaluate MODEL`: a saved model's accuracy and confusion matrix on a dataset's test images."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="accuracy and confusion matrix of a saved model",
        description="Score a saved model (a folder written by compare or train) on a dataset's test images.",
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
    from rich.console import Console

    from digitlab import service
    from digitlab.compare.tasks import task_name
    from digitlab.data import datasets
    from digitlab.metrics import ECE_BINS

    clf = service.load(args.model)
    classes = clf.classes_.tolist()
    dataset = args.dataset or ("mnist" if len(classes) == 10 else "mnist_sample")
    if dataset == "numbers":
        return read_numbers(clf, args.model)
    test = datasets.load(dataset, datasets.evaluation_split(dataset))
    service.check_task(clf, test.labels, args.model)
    scores = service.evaluate(clf, test.images, test.labels, model=args.model)
    title = f"{args.model} on {dataset} ({task_name(classes, dataset)}), test images"
    Console().print(confusion_table(scores["confusion"], classes, title))
    print(f"accuracy {scores['accuracy']:.2%} on {len(test.labels):,} test images of {dataset}")
    print(f"calibration error (ECE, {ECE_BINS} bins) {scores['ece']:.2%}" + _temperature(clf))
    if dataset == "stress":
        from digitlab.data import stress

        by_category = stress.accuracy_by_category(scores["predicted"], test.labels, test.index)
        print("by category: " + ", ".join(f"{c} {by_category[c]:.2%}" for c in stress.CATEGORIES))
    if dataset in ("corrupted", "corrupted_raw"):
        from digitlab.data import corrupted

        by_kind = corrupted.accuracy_by_kind(scores["predicted"], test.labels, test.index)
        print(corrupted.describe(by_kind))
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
