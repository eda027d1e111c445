"""What a compare wrote into its `--out`: `compare.json`, one entry a model folder, saying whether the
model is a quick run's smoke model and what its test accuracy was measured on.

A smoke model (`digitlab compare --quick`: 600 training digits, 1 epoch) reads a clear 7 as 5; its
figures say the job runs, not how well a method reads digits. The record is written before any model
is trained, so a run killed halfway leaves its folders marked; `digitlab serve` skips smoke models and
`compare --quick` refuses to write over a full compare's (`full_models`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from digitlab.store.checkpoint import CONFIG
from digitlab.store.files import atomic_write

if TYPE_CHECKING:
    from digitlab.compare.job import Result
    from digitlab.compare.tasks import Task

RECORD = "compare.json"
SMOKE = "quick run: smoke figures (a few hundred digits, 1 epoch), not a model's accuracy"


def read(out: str | os.PathLike) -> dict[str, dict]:
    """{model folder name: its entry} from `out`'s record; {} where there is none or it cannot be read."""
    try:
        entries = json.loads((Path(out) / RECORD).read_text()).get("models", {})
    except (OSError, ValueError, AttributeError):
        return {}
    return entries if isinstance(entries, dict) else {}


def _write(out: Path, entries: dict[str, dict]) -> None:
    with atomic_write(out / RECORD, "w") as f:
        f.write(json.dumps({"models": entries}, indent=1, sort_keys=True) + "\n")


def mark(out: Path, folders: Iterable[str], quick: bool) -> None:
    """Before training: each of `folders` (names under `out`) marked a quick run's or a full one's;
    other folders' entries kept."""
    entries = read(out)
    for name in folders:
        entries[name] = {"quick": quick}
    out.mkdir(parents=True, exist_ok=True)
    _write(out, entries)


def test_digits(task: Task) -> str:
    """The digits a task's test accuracy is measured on, in words: "mnist's 10,000 test digits"."""
    return f"{task.dataset}'s {len(task.test_labels):,} test digits"


def add_results(out: Path, results: Sequence[Result], tasks: Sequence[Task]) -> None:
    """After training: each result's test accuracy and the digits it was measured on."""
    entries = read(out)
    measured_on = {task.name: test_digits(task) for task in tasks}
    for r in results:
        name = Path(r.model_dir).name
        entries[name] = {**entries.get(name, {}), "accuracy": r.accuracy, "measured_on": measured_on[r.task]}
    _write(out, entries)


def entry(model_folder: str | os.PathLike) -> dict:
    """The record's entry for one saved model folder (in its parent's compare.json); {} if none."""
    folder = Path(model_folder)
    return read(folder.parent).get(folder.name, {})


def is_smoke(model_folder: str | os.PathLike) -> bool:
    """Whether a saved model is a quick compare's smoke model."""
    return entry(model_folder).get("quick") is True


def full_models(out: str | os.PathLike) -> list[str]:
    """The model folders in `out` that are not marked smoke runs (a full compare's, or a model saved
    by hand): what a quick run must not replace."""
    out = Path(out)
    if not out.is_dir():
        return []
    return sorted(p.name for p in out.iterdir() if (p / CONFIG).is_file() and not is_smoke(p))
