"""`digitlab train METHOD`: train one classifier, checkpointing after every epoch; Ctrl-C or SIGTERM keeps it.

It fits on the dataset's training images less those held out (heldout.split), then calibrates the
model's probabilities on the held-out ones and saves it once more with its temperature.

One run at a time writes --out (store/lock.py: a second is refused, naming the first's process id);
a link given as --out is followed into its folder.

The checkpoint written after epoch e holds the weights and the training state (optimiser, schedule
position), so `--resume` goes on from epoch e + 1 and ends exactly where an uninterrupted run would.
"""

from __future__ import annotations

import argparse

from digitlab.commands import arguments


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train one method, checkpointing every epoch (Ctrl-C keeps the last checkpoint)",
        description="Train one classifier on a dataset, saving a checkpoint after every epoch. "
        "Ctrl-C stops it; --resume goes on from the last checkpoint.",
    )
    parser.add_argument("method", metavar="METHOD", help="pixel, linear, simple_net or cnn")
    parser.add_argument("--dataset", default="mnist_sample", metavar="NAME|DIR",
                        help="mnist_sample (default), mnist, mnist_tiny, or a folder of images")
    arguments.add_training_settings(parser)
    parser.add_argument("--out", metavar="DIR", help="the model folder (default: digitlab-out/<method>-<task>)")
    parser.add_argument("--recipe", metavar="NAME",
                        help="cnn only: fast (default; two epochs of turned, slanted and restroked digits, ~99.4 %% "
                        "on MNIST and ~97 %% on other people's digits in ~11 s on 2 CPU cores), medium (~99.5 %%, "
                        "~27 s) or best (~99.7 %%, about 11 minutes); on an H100 GPU ~99.3 %%, "
                        "~99.55 %% and ~99.7 %% in 0.3 s, 0.5 s and 10 s of training; benchmarks/RESULTS.md")
    parser.add_argument("--best", action="store_const", const="best", dest="recipe",
                        help="cnn only: the same as --recipe best")
    arguments.add_seed(parser)
    parser.add_argument("--device", default="auto", help="cpu, cuda or auto (default: auto)")
    parser.add_argument("--resume", action="store_true", help="go on from the checkpoint in --out")
    parser.set_defaults(run=run)


def resume_hint(args: argparse.Namespace, out) -> str:
    return f"digitlab train {args.method} --dataset {args.dataset} --out {out} --resume"


def _card(args: argparse.Namespace):
    """The model card train writes with each save: the dataset, and the accuracy fit measured; the
    figures that cost a pass over other sets are left to `digitlab evaluate OUT --card`, so
    that training stays as fast as it was."""
    from digitlab.store.card import Card, training_data_name

    return Card(training_data=training_data_name(args.dataset))


def _saved_epoch(out, fallback: int | None) -> int | None:
    """The last epoch the checkpoint on disk holds: Ctrl-C may land just after a save finished."""
    from digitlab import service
    from digitlab.errors import DigitlabError

    try:
        return service.load(out).state_["epoch"]
    except DigitlabError:
        return fallback


def _check_recipe(args: argparse.Namespace) -> None:
    """--recipe is for a new cnn only (the cnn's settings check the name itself)."""
    if args.recipe is None:
        return
    from digitlab.errors import DigitlabError

    if args.method != "cnn":
        raise DigitlabError(f"--recipe {args.recipe}: only the cnn method has recipes, not {args.method}")
    if args.resume:
        raise DigitlabError("--recipe: a resumed model keeps the recipe it was trained with; leave it out")


def _check_options(args: argparse.Namespace) -> None:
    """--epochs, --lr and --batch-size given to a method without them (pixel similarity) would be
    silently dropped; a resumed model keeps its batch size (its schedule counts its steps)."""
    from digitlab import service
    from digitlab.errors import DigitlabError

    for option in ("epochs", "lr", "batch_size"):
        flag = "--" + option.replace("_", "-")
        if getattr(args, option) is not None and option not in service.options_of(args.method):
            raise DigitlabError(f"{flag}: the {args.method} method has no {option} (it is not trained "
                                "by steps); leave it out")
    if args.resume and args.batch_size is not None:
        raise DigitlabError("--batch-size: a resumed model keeps the batch size it was trained with; leave it out")


def _check_new_out(out) -> None:
    """A new model needs an empty or new folder: never mix it with what is there."""
    from digitlab.errors import DigitlabError
    from digitlab.store import checkpoint
    from digitlab.store.files import check_output_folder

    check_output_folder(out, "--out")
    if not out.is_dir() or not any(out.iterdir()):
        return
    if (out / checkpoint.CONFIG).exists():
        raise DigitlabError(f"--out {out}: already holds a model; add --resume to go on training it, "
                            "or choose another --out")
    raise DigitlabError(f"--out {out}: is not empty ({next(out.iterdir()).name} is there); "
                        "choose a new or empty folder")


def _last_accuracy(clf) -> float | None:
    """The test accuracy fit measured after the last epoch (the test set is its validation set)."""
    history = getattr(clf, "history_", None) or [{}]
    return history[-1].get("accuracy")


def run(args: argparse.Namespace) -> int:
    from digitlab.train import distributed

    with distributed.session():  # under torchrun: one process of several; else nothing changes
        return _train(args)


def _train(args: argparse.Namespace) -> int:
    import contextlib
    from pathlib import Path

    from digitlab import classifiers, service
    from digitlab.compare.config import DEFAULT_OUT
    from digitlab.compare.tasks import load_task
    from digitlab.errors import DigitlabError
    from digitlab.store import checkpoint, lock
    from digitlab.store.files import through_link
    from digitlab.train import distributed
    from digitlab.train.devices import resolve_device

    method = service.parse_methods(args.method, option="METHOD")
    if len(method) != 1:
        raise DigitlabError(f"train takes one METHOD, not {args.method!r}; "
                            f"choose from {', '.join(classifiers.METHODS)}")
    _check_recipe(args)
    _check_options(args)
    device = resolve_device(args.device)
    task = load_task(args.dataset)
    # A link is followed here, once, so that the lock, the checks and every save name the same folder.
    out = through_link(Path(args.out or Path(DEFAULT_OUT) / f"{args.method}-{task.slug}"), "--out")
    with lock.holding(out) if distributed.is_main() else contextlib.nullcontext():
        checkpoint.recover(out)  # a save a killed run cut short: finished or rolled back before anything reads out
        return _train_into(args, task, out, device)


def _train_into(args: argparse.Namespace, task, out, device) -> int:
    """Train into `out`, which this run holds the lock of."""
    import sys

    from digitlab.compare.tasks import calibrate
    from digitlab.train import distributed

    clf = _resumed(args, task, out) if args.resume else _new(args, out, device)
    distributed.barrier()  # every process has checked --out before the main one writes there

    total = clf.planned_epochs()
    if args.resume and total is None:
        print(f"{out}: a {args.method} model has no epochs, so nothing to resume", file=sys.stderr)
        return _report(args, clf, task, out)
    if args.resume and _epochs_done(clf) >= total:
        print(f"{out} already holds all {total} epochs; nothing left to train "
              f"(give --epochs N, more than {total}, to train on)", file=sys.stderr)
        return _report(args, clf, task, out)
    interrupted = _fit(args, clf, task, out, device, total)
    if interrupted is not None:
        return interrupted
    if not distributed.is_main():
        return 0
    calibrate(clf, task)
    clf.save(out, _card(args))  # with its temperature; also covers a method with nothing to train, which has no epochs to end
    return _report(args, clf, task, out)


def _new(args: argparse.Namespace, out, device):
    from digitlab import service

    _check_new_out(out)
    return service.make(args.method, seed=args.seed, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
                        preset=args.recipe, **service.device_option(args.method, device))


def _resumed(args: argparse.Namespace, task, out):
    """The model in `out`, checked against METHOD and the dataset, with --epochs and --lr applied."""
    from digitlab import service
    from digitlab.errors import ModelError

    if not out.is_dir():
        raise ModelError(f"--resume: {out} holds no checkpoint; train without --resume first (or give its --out)")
    clf = service.load(out)
    if clf.method != args.method:
        raise ModelError(f"--resume: {out} holds a {clf.method} model, not {args.method}; "
                         f"resume it with: digitlab train {clf.method} --dataset {args.dataset} --out {out} --resume")
    service.check_task(clf, task.train_labels, str(out))
    return service.with_overrides(clf, epochs=args.epochs, lr=args.lr)


class _SaveEachEpoch:
    """fit's epoch_end: saves the model (on the main process only), moves the bar, and remembers
    the last epoch it saw end, for the message after a Ctrl-C."""

    def __init__(self, out, bar, job: int, label: str, card):
        self.out, self.bar, self.job, self.label, self.card = out, bar, job, label, card
        self.last_epoch: int | None = None  # counted from 0, as history_ counts

    def __call__(self, model, row: dict) -> None:
        from digitlab.train import distributed

        if distributed.is_main():
            model.save(self.out, self.card)
        self.last_epoch = row.get("epoch")
        accuracy = row.get("accuracy")
        shown = f"  valid accuracy {accuracy:.2%}" if accuracy is not None else ""
        self.bar.update(self.job, completed=self.last_epoch + 1, description=f"{self.label}{shown}")


def _fit(args: argparse.Namespace, clf, task, out, device, total: int | None) -> int | None:
    """Train `clf`, saved after every epoch; None when it ran to the end, else the exit code (130 after
    Ctrl-C, 143 after SIGTERM, with the checkpoint to resume from named)."""
    import sys

    from digitlab.commands import lr_advice
    from digitlab.console import progress_bar
    from digitlab.errors import Diverged, TrainingError, stopped
    from digitlab.train import distributed

    with progress_bar(transient=False) as bar:
        job = bar.add_task(f"training {args.method} on {task.name}", total=total)
        save = _SaveEachEpoch(out, bar, job, f"{args.method} on {task.name}", _card(args))
        try:
            clf.fit(task.train_images, task.train_labels, valid=(task.test_images, task.test_labels),
                    epoch_end=save, resume=args.resume, device=device)
        except TrainingError as err:  # diverged: the epochs before it are saved, this one is not
            bar.stop()
            kept = _saved_epoch(out, None)
            where = f"the checkpoint after epoch {kept + 1} in {out} is kept" if kept is not None else "nothing saved"
            if isinstance(err, Diverged) and not distributed.is_distributed():  # one process: short checks
                where = f"{lr_advice.suggestion(args.method, clf.config, task, device)}; {where}"
            raise TrainingError(f"{err}: {where}" if isinstance(err, Diverged) else f"{err}; {where}") from None
        except KeyboardInterrupt as stop:  # Ctrl-C, or SIGTERM (errors.Terminated)
            bar.stop()
            said, code = stopped(stop)
            kept = _saved_epoch(out, save.last_epoch)  # the signal may land just after a save finished
            if kept is None:
                print(f"digitlab: {said} before an epoch ended; nothing saved in {out}", file=sys.stderr)
            else:  # history counts epochs from 0; people count from 1
                print(f"digitlab: {said}; the checkpoint after epoch {kept + 1} is in {out}; "
                      f"resume with: {resume_hint(args, out)}", file=sys.stderr)
            return code
    return None


def _epochs_done(clf) -> int:
    """How many epochs a loaded checkpoint has trained (its state counts them from 0)."""
    state = getattr(clf, "state_", None) or {}
    return state.get("epoch", -1) + 1


def _report(args: argparse.Namespace, clf, task, out) -> int:
    accuracy = _last_accuracy(clf)
    if accuracy is None:  # nothing was trained, so nothing was scored yet
        accuracy = clf.score(task.test_images, task.test_labels)
    print(f"{args.method} on {task.name}: test accuracy {accuracy:.2%}; model saved in {out}")
    if clf.calibration_ is None:
        print(f"probabilities not calibrated (temperature 1): {args.dataset} has no held-out training images")
    else:
        from digitlab.metrics import ECE_BINS

        c = clf.calibration_
        print(f"probabilities calibrated on {c['images']:,} held-out images: temperature {c['temperature']:.3f}, "
              f"calibration error (ECE, {ECE_BINS} bins) {c['ece_before']:.2%} -> {c['ece_after']:.2%}")
    return 0
