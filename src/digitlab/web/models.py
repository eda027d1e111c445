"""Which models the demo server answers with: saved ones found in a folder, or those that ship with digitlab.

`digitlab compare` saves each model as `<out>/<method>-<task>/` (`cnn-0-9`, `linear-3v7`, ...). The
server shows one model per method, preferring the ten-digit task (a drawing can be any digit) and,
between two folders for the same method and task, the one saved last. A quick compare's smoke models
(compare/record.py) are never served: they read a clear 7 as 5.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from digitlab.console import console
from digitlab.errors import DigitlabError, warn
from digitlab.store.checkpoint import CONFIG

COMPARE_OUT = Path("digitlab-out")  # `digitlab compare --out`'s default, relative to where serve runs


@dataclass(frozen=True)
class Served:
    """One loaded classifier and where it came from."""

    method: str
    clf: object  # a fitted digitlab.classifiers classifier
    folder: Path


def _say(message: str) -> None:
    """One log line on stderr, unwrapped so that it reads whole in a log file too."""
    console.print(f"digitlab serve: {message}", soft_wrap=True, highlight=False, markup=False)


# Beside the shipped models lie networks that serve every model and are no classifiers: gate/ (declines
# non-digits, trust/gate.py), pieces/ (judges the pieces of a number, trust/pieces.py) and strips/
# (reads a group of ink, vision/strip_reading.py).
HELPER_NETWORKS = ("gate", "pieces", "strips")


def _checkpoint_folders(folder: Path) -> list[Path]:
    """`folder` itself when it is one saved model, else its sub-folders that are (not HELPER_NETWORKS)."""
    if (folder / CONFIG).is_file():
        return [folder]
    return sorted(p for p in folder.iterdir() if (p / CONFIG).is_file() and p.name not in HELPER_NETWORKS)


def smoke_runs(folder: str | os.PathLike) -> list[str]:
    """The names of the quick compare's smoke models in `folder` (or `folder` itself, if it is one)."""
    from digitlab.compare import record

    folder = Path(folder)
    return [p.name for p in _checkpoint_folders(folder) if record.is_smoke(p)] if folder.is_dir() else []


def find(folder: str | os.PathLike) -> dict[str, Served]:
    """{method: Served} for the saved models in `folder`, one per method, in classifiers.METHODS order.

    A damaged or foreign checkpoint is skipped with a warning, so one bad folder does not stop the
    server from showing the others; a quick compare's smoke models are left out (`smoke_runs` names them).
    """
    from digitlab import service
    from digitlab.classifiers import METHODS

    folder = Path(folder)
    if not folder.is_dir():
        return {}
    best: dict[str, tuple[tuple[int, float], Served]] = {}
    smoke = set(smoke_runs(folder))
    for path in _checkpoint_folders(folder):
        if path.name in smoke:
            continue
        try:
            clf = service.load(path)
        except DigitlabError as err:
            warn(f"{path}: skipped, not a usable model ({err})")
            continue
        rank = (len(clf.classes_), (path / CONFIG).stat().st_mtime)  # ten digits first, then newest
        if clf.method not in best or rank > best[clf.method][0]:
            best[clf.method] = (rank, Served(clf.method, clf, path))
    return {m: best[m][1] for m in METHODS if m in best}


def shipped() -> dict[str, Served]:
    """{method: Served} for the four models that ship inside the package (pretrained.py)."""
    from digitlab import pretrained
    from digitlab.classifiers import METHODS

    return {m: Served(m, pretrained.load(m), pretrained.path(m)) for m in METHODS}


def load(folders: dict[str, Path]) -> dict[str, Served]:
    """{method: Served} for the models saved in `folders` ({method: folder}), as `resolve` chose them."""
    from digitlab import service

    return {method: Served(method, service.load(folder), folder) for method, folder in folders.items()}


def resolve(models: str | os.PathLike | None) -> dict[str, Served]:
    """The models to serve: `--models DIR`, else the last compare's, else those that ship with digitlab."""
    if models is not None:
        found, smoke = find(models), smoke_runs(models)
        if not found and smoke:
            raise DigitlabError(f"--models {models}: its models are smoke runs of `digitlab compare --quick` "
                                "(1 epoch on a few hundred digits), never served; serve a full compare's folder, "
                                "or leave out --models for the models that ship with digitlab")
        if not found:
            raise DigitlabError(f"--models {models}: no saved digitlab models there; point it at the "
                                "folder `digitlab compare --out` wrote (or a model folder from `digitlab train`)")
        _say(f"using the models in {models}{_left_out(smoke)}")
        return found
    smoke = smoke_runs(COMPARE_OUT)
    if found := find(COMPARE_OUT):
        _say(f"using the models of the last compare, in ./{COMPARE_OUT}{_left_out(smoke)}")
        return found
    if smoke:
        _say(f"./{COMPARE_OUT} holds only smoke runs of `digitlab compare --quick` ({', '.join(smoke)}), never "
             "served: using the models that ship with digitlab (trained on all of MNIST; see `digitlab evaluate`)")
    else:
        _say("using the models that ship with digitlab (trained on all of MNIST; see `digitlab evaluate`)")
    return shipped()


def _left_out(smoke: list[str]) -> str:
    return f" (not {', '.join(smoke)}: smoke runs of `digitlab compare --quick`)" if smoke else ""


def accuracy(served: Served) -> tuple[float | None, str | None]:
    """The model's test accuracy and the digits it was measured on, in words: the shipped models'
    recorded figure on MNIST's test set, a compare's from its record, else the last epoch's in config.json
    (`digitlab train`'s, measured on the dataset's test images)."""
    from digitlab import pretrained
    from digitlab.compare import record

    if served.folder == pretrained.path(served.method):
        return pretrained.recorded()[served.method]["mnist_test"], "MNIST's 10,000 test digits"
    if "measured_on" in (entry := record.entry(served.folder)):
        return entry["accuracy"], entry["measured_on"]
    history = served.clf.history_
    last = history[-1].get("accuracy") if history else None
    count = getattr(served.clf, "data_", {}).get("n_valid")
    return last, (f"its {count:,} test digits" if count else "its test digits") if last is not None else None
