"""`digitlab compare`: train and test every method on 3 vs 7 and on all ten digits, then report."""

from __future__ import annotations

import argparse

from digitlab.commands import arguments
from digitlab.store import spec


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "compare",
        help="train and test every method on 3 vs 7 and on ten digits; write a report (the main job)",
        description="Train and test pixel similarity, linear, simple_net and cnn on MNIST_SAMPLE (3 vs 7) "
        "and MNIST (ten digits); print one table, save the models and write report.html into --out.",
    )
    parser.add_argument("--dataset", action="append", metavar="NAME|DIR",
                        help="mnist_sample, mnist, mnist_tiny, or a folder of images; repeat for several "
                        "(default: mnist_sample and mnist); two of the same digits get the dataset's name "
                        "in their rows and folders, e.g. linear-3v7-mnist_tiny")
    parser.add_argument("--methods", metavar="LIST", help="comma list of methods (default: all four)")
    arguments.add_setting(parser, "--epochs", spec.EPOCHS, metavar="N", help="epochs for every trained method",
                          default_text="each its own")
    parser.add_argument("--device", default="auto", help="cpu, cuda or auto (default: auto)")
    parser.add_argument("--quick", action="store_true",
                        help="a seconds-long smoke run: small subsets, 1 epoch each; its figures are not the "
                        "models' accuracy, and its models go to ./digitlab-quick, which serve never picks")
    parser.add_argument("--out", metavar="DIR",
                        help="where models and report go (default: ./digitlab-out; with --quick ./digitlab-quick; "
                        "a quick run never writes over a full compare's models)")
    arguments.add_seed(parser)
    parser.set_defaults(run=run)


def _table(results, quick: bool):
    from rich.table import Table

    from digitlab.compare.record import SMOKE
    from digitlab.report.document import SUMMARY_HEADER, summary_rows

    # A quick run's figures come from a few hundred digits and one epoch: said in the title and under
    # the table, so that nobody takes them for what the methods can do.
    table = Table(title="digitlab compare, quick run" if quick else "digitlab compare",
                  caption=SMOKE if quick else None)
    for i, name in enumerate(SUMMARY_HEADER):
        table.add_column(name, justify="left" if i < 2 else "right")
    for row in summary_rows(results):
        table.add_row(*row)
    return table


def _count(labels) -> str:
    return f"{len(labels):,}" if labels is not None else "none"


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from digitlab import service
    from digitlab.compare.config import DEFAULT_OUT, QUICK_OUT, CompareConfig
    from digitlab.store import lock
    from digitlab.store.files import check_output_folder, through_link
    from digitlab.train.devices import resolve_device

    device = resolve_device(args.device)
    methods = service.parse_methods(args.methods)
    config = CompareConfig()
    epochs = config.quick_epochs if args.quick and args.epochs is None else args.epochs
    named = args.out or (QUICK_OUT if args.quick else DEFAULT_OUT)
    out = through_link(Path(named), "--out")  # a link is followed: the models go into its folder
    check_output_folder(out, "--out")  # before any training, not when the first model is saved
    with lock.holding(out):  # one compare at a time writes out (a second is refused, naming the first)
        if args.quick:
            _refuse_to_replace_full_models(named, out)
        return _compare(args, out, methods, device, config, epochs)


def _refuse_to_replace_full_models(named: str, out) -> None:
    """A quick run never writes into a folder holding a full compare's (or any unmarked) models."""
    from digitlab.compare.record import full_models
    from digitlab.errors import DigitlabError

    if full := full_models(out):
        raise DigitlabError(f"--out {named}: it holds full models ({', '.join(full)}) that a quick run's smoke "
                            "models would replace; leave out --out (a quick run writes to ./digitlab-quick) "
                            "or name another folder")


def _compare(args: argparse.Namespace, out, methods, device, config, epochs) -> int:
    from rich.console import Console

    from digitlab.compare import record
    from digitlab.compare.config import DEFAULT_DATASETS
    from digitlab.compare.job import folder_name, run_all
    from digitlab.compare.tasks import load_tasks
    from digitlab.console import console
    from digitlab.report import document

    names = args.dataset or DEFAULT_DATASETS
    tasks = load_tasks(names, args.quick, args.seed, config)  # refuses a dataset given twice
    # --quick skips the stress and corruption sets: building them the first time takes longer than the
    # whole smoke run.
    # Marked before any model is saved: a run killed halfway leaves no unmarked smoke model behind.
    record.mark(out, [folder_name(m, t) for t in tasks for m in methods], args.quick)
    results = run_all(tasks, methods, out, args.seed, device, epochs, config, test_sets=not args.quick,
                      note=record.SMOKE if args.quick else None)  # each smoke model's card says so
    settings = {
        "datasets": ", ".join(t.dataset for t in tasks),
        "quick": str(args.quick),
        "seed": str(args.seed),
        **{f"{t.name} images (train / calibrate / test)":
           f"{len(t.train_labels):,} / {_count(t.calibration_labels)} / {len(t.test_labels):,}" for t in tasks},
    }
    # Each result carries its fitted model (Result.model): the report draws what the models learned and
    # why they erred from those, never from the folders just written.
    with console.status("drawing the report"):
        page = document.write(out / "report.html", results, tasks, settings, document.environment(device),
                              quick=args.quick)
    record.add_results(out, results, tasks)
    Console(width=max(Console().width, 170)).print(_table(results, args.quick))
    print(f"models: {out}/<method>-<task>/   report: {page}")
    if args.quick:
        print(f"{record.SMOKE}; these smoke models are never served: run without --quick for real ones")
    return 0
