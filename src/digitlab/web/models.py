"""Which models the demo server answers with: saved ones found in a folder, or quick ones trained once.

`digitlab compare` saves each model as `<out>/<method>-<task>/` (`cnn-0-9`, `linear-3v7`, ...). The
server shows one model per method, preferring the ten-digit task (a drawing can be any digit) and,
between two folders for the same method and task, the one saved last.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

from digitlab import data
from digitlab.checkpoint import CONFIG
from digitlab.console import console
from digitlab.errors import DigitlabError, warn

COMPARE_OUT = Path("digitlab-out")  # `digitlab compare --out`'s default, relative to where serve runs
CACHE_NAME = "serve-models"  # under data.home(): the quick models, trained on first start only


@dataclass(frozen=True)
class Served:
    """One loaded classifier and where it came from."""

    method: str
    clf: object  # a fitted digitlab.classifiers classifier
    folder: Path


@dataclass(frozen=True)
class QuickTraining:
    """The models `digitlab serve` trains when it finds none saved: all ten digits, small and fast.

    Epochs per method are `compare.CompareConfig`'s, so these are `digitlab compare` models on a
    seeded subset of MNIST. On an idle 2-core CPU the four took 4 s of training (the CNN 2.9 s) and
    scored 80.9 / 90.5 / 89.1 / 98.2 % on the test digits; that happens once, then they load from
    the cache.
    """

    train_images: int = 10_000  # of MNIST's 60,000 training digits
    test_images: int = 2_000  # of its 10,000 test digits, for the accuracy the log line reports
    seed: int = 0


def _say(message: str) -> None:
    """One log line on stderr, unwrapped so that it reads whole in a log file too."""
    console.print(f"digitlab serve: {message}", soft_wrap=True, highlight=False, markup=False)


def _checkpoint_folders(folder: Path) -> list[Path]:
    """`folder` itself when it is one saved model, else its sub-folders that are."""
    if (folder / CONFIG).is_file():
        return [folder]
    return sorted(p for p in folder.iterdir() if (p / CONFIG).is_file())


def find(folder: str | os.PathLike) -> dict[str, Served]:
    """{method: Served} for the saved models in `folder`, one per method, in classifiers.METHODS order.

    A damaged or foreign checkpoint is skipped with a warning, so one bad folder does not stop the
    server from showing the others.
    """
    from digitlab import classifiers

    folder = Path(folder)
    if not folder.is_dir():
        return {}
    best: dict[str, tuple[tuple[int, float], Served]] = {}
    for path in _checkpoint_folders(folder):
        try:
            clf = classifiers.load(path)
        except DigitlabError as err:
            warn(f"{path}: skipped, not a usable model ({err})")
            continue
        rank = (len(clf.classes_), (path / CONFIG).stat().st_mtime)  # ten digits first, then newest
        if clf.method not in best or rank > best[clf.method][0]:
            best[clf.method] = (rank, Served(clf.method, clf, path))
    return {m: best[m][1] for m in classifiers.METHODS if m in best}


def train_quick(folder: str | os.PathLike, methods: list[str], config: QuickTraining = QuickTraining()) -> None:
    """Train `methods` on a seeded subset of the ten MNIST digits and save each under `folder`."""
    from digitlab import compare

    folder = Path(folder)
    plans = dataclasses.replace(compare.CompareConfig(), quick_train=config.train_images, quick_test=config.test_images)
    task = compare.load_task("mnist", quick=True, seed=config.seed, config=plans)
    for method in methods:
        result = compare.run_one(method, task, plans.plan(method), folder, config.seed, device="cpu")
        _say(f"trained {method} in {result.train_seconds:.1f} s, "
                      f"accuracy {result.accuracy:.1%} on {result.test_count:,} test digits")


def resolve(models: str | os.PathLike | None, quick: QuickTraining = QuickTraining()) -> dict[str, Served]:
    """The models to serve: `--models DIR`, else the last compare's, else the cached quick ones.

    Missing quick models are trained (once) and cached under data.home() / "serve-models".
    """
    from digitlab.classifiers import METHODS

    if models is not None:
        found = find(models)
        if not found:
            raise DigitlabError(f"--models {models}: no saved digitlab models there; point it at the "
                                "folder `digitlab compare --out` wrote (or a model folder from `digitlab train`)")
        _say(f"using the models in {models}")
        return found
    if found := find(COMPARE_OUT):
        _say(f"using the models of the last compare, in ./{COMPARE_OUT}")
        return found
    cache = data.home() / CACHE_NAME
    found = find(cache)
    missing = [m for m in METHODS if m not in found]
    if missing:
        _say(f"no saved models found, so training quick ones ({', '.join(missing)}) "
                      f"on {quick.train_images:,} MNIST digits; first start only, cached in {cache}")
        train_quick(cache, missing, quick)
        found = find(cache)
    else:
        _say(f"using the quick models cached in {cache}")
    return found
