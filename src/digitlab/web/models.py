"""Which models the demo server answers with: saved ones found in a folder, or those that ship with digitlab.

`digitlab compare` saves each model as `<out>/<method>-<task>/` (`cnn-0-9`, `linear-3v7`, ...). The
server shows one model per method, preferring the ten-digit task (a drawing can be any digit) and,
between two folders for the same method and task, the one saved last.
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


def _checkpoint_folders(folder: Path) -> list[Path]:
    """`folder` itself when it is one saved model, else its sub-folders that are (not the shipped
    models' gate/, which declines non-digits for every model and is no classifier: gate.py)."""
    if (folder / CONFIG).is_file():
        return [folder]
    return sorted(p for p in folder.iterdir() if (p / CONFIG).is_file() and p.name != "gate")


def find(folder: str | os.PathLike) -> dict[str, Served]:
    """{method: Served} for the saved models in `folder`, one per method, in classifiers.METHODS order.

    A damaged or foreign checkpoint is skipped with a warning, so one bad folder does not stop the
    server from showing the others.
    """
    from digitlab import service
    from digitlab.classifiers import METHODS

    folder = Path(folder)
    if not folder.is_dir():
        return {}
    best: dict[str, tuple[tuple[int, float], Served]] = {}
    for path in _checkpoint_folders(folder):
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
        found = find(models)
        if not found:
            raise DigitlabError(f"--models {models}: no saved digitlab models there; point it at the "
                                "folder `digitlab compare --out` wrote (or a model folder from `digitlab train`)")
        _say(f"using the models in {models}")
        return found
    if found := find(COMPARE_OUT):
        _say(f"using the models of the last compare, in ./{COMPARE_OUT}")
        return found
    _say("using the models that ship with digitlab (trained on all of MNIST; see `digitlab evaluate`)")
    return shipped()
