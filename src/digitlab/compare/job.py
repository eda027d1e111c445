"""The compare job's runs: each method fitted on each task, calibrated, measured (the test images,
the stress and corruption sets) and saved with its model card of those figures (`run_one`,
`run_all`, one `Result` each)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from digitlab.compare.config import CompareConfig, MethodPlan
from digitlab.compare.tasks import Task, calibrate
from digitlab.console import progress_bar
from digitlab.data import datasets
from digitlab.data.digits import Digits
from digitlab.service import Worst, count_parameters, device_option, evaluate, figures, folder_bytes, make
from digitlab.store.card import TEN, Card, training_data_name


@dataclass
class Result:
    method: str
    task: str
    accuracy: float  # on the task's test images
    train_seconds: float
    predict_seconds_per_image: float
    parameters: int  # numbers the model learned or stored (pixel similarity: its mean images)
    size_bytes: int  # the saved model folder
    history: list[dict]  # the classifier's history_, one row per epoch
    classes: list[int]
    confusion: torch.Tensor  # (K, K) int64: row = actual class, column = predicted
    worst: list[Worst]
    test_count: int
    model_dir: str
    config: dict  # the classifier's hyperparameters, as its checkpoint stores them
    stress: dict | None = None  # ten-digit models: accuracy on the stress set, by category and "all"
    ece: float | None = None  # calibration error (metrics.ECE_BINS bins) on the test images
    stress_ece: float | None = None  # the same on the stress set (ten-digit models)
    calibration: dict | None = None  # the classifier's calibration_ (temperature, images, ECE before and after)
    reliability: dict | None = None  # {"test": ..., "stress": ...}: metrics.reliability's bins, as lists
    # ten-digit models: accuracy on the corruption set as predict reads it, by kind, "all", "seen kinds"
    # and "held-out kinds" (corrupted.accuracy_by_kind)
    corrupted: dict | None = None
    # The fitted classifier itself, kept in memory for the report's pictures of what it learned and why
    # it erred; never saved with the result (its folder, model_dir, is the saved form). None: not kept.
    model: object | None = field(default=None, repr=False, compare=False)


def set_figures(clf, digits: Digits | None, name: str) -> dict | None:
    """A ten-digit model's figures on the stress set or the corruption set (`digits`, as
    datasets.load(name, "valid") gives it), from one pass: service.figures' record (accuracy, ECE,
    the set's categories or kinds) with its "reliability" bins; None for a model of other digits, or
    when no set is given."""
    if digits is None or clf.classes_.tolist() != TEN:
        return None
    scores = evaluate(clf, digits.images, digits.labels, worst=0)
    return {**figures(scores, digits, name, TEN), "reliability": scores["reliability"]}


def options(method: str, plan: MethodPlan, seed: int, device: str) -> dict:
    """What `make` gets for one run: the plan's settings that are set, the seed, and the device only
    where the method takes one (the cnn: it picks its preset's GPU form there)."""
    chosen = {k: v for k, v in plan.items() if v is not None}
    return {**chosen, "seed": seed, **device_option(method, device)}


def folder_name(method: str, task: Task) -> str:
    """Where a run's model is saved under `--out`: "linear-0-9", "pixel-3v7-mix"."""
    return f"{method}-{task.slug}"


def run_one(method: str, task: Task, plan: MethodPlan, out: Path, seed: int, device: str,
            worst: int = 9, shaken: Digits | None = None, damaged: Digits | None = None, note: str | None = None) -> Result:
    """Fit one method on one task, calibrate it on the held-out images, measure it (on the stress set
    `shaken` and the corruption set `damaged` too, where given and the task is the ten digits), save
    it under `out`."""
    clf = make(method, **options(method, plan, seed, device))
    start = time.perf_counter()
    clf.fit(task.train_images, task.train_labels, valid=(task.test_images, task.test_labels), device=device)
    train_seconds = time.perf_counter() - start  # the fit alone, comparable with earlier runs' figures
    calibrate(clf, task)
    scores = evaluate(clf, task.test_images, task.test_labels, worst)
    test = Digits(task.test_images, task.test_labels, torch.arange(len(task.test_labels)), "test")
    on_stress, on_damage = set_figures(clf, shaken, "stress"), set_figures(clf, damaged, "corrupted")
    named = training_data_name(task.dataset)
    measured = {"test": figures(scores, test, named, task.classes), "stress": on_stress, "corrupted": on_damage}
    model_dir = out / folder_name(method, task)
    clf.save(model_dir, Card(named, {k: v for k, v in measured.items() if v}, note))
    return Result(
        method=method,
        task=task.name,
        accuracy=scores["accuracy"],
        train_seconds=train_seconds,
        predict_seconds_per_image=scores["seconds_per_image"],
        parameters=count_parameters(clf),
        size_bytes=folder_bytes(model_dir),
        history=list(clf.history_),  # every fitted classifier has one (pixel similarity: empty)
        classes=task.classes,
        confusion=scores["confusion"],
        worst=scores["worst"],
        test_count=len(task.test_labels),
        model_dir=str(model_dir),
        config=dataclasses.asdict(clf.config),
        stress=on_stress["by_category"] if on_stress else None,
        ece=scores["ece"],
        stress_ece=on_stress["ece"] if on_stress else None,
        calibration=clf.calibration_,
        reliability={"test": scores["reliability"], **({"stress": on_stress["reliability"]} if on_stress else {})},
        corrupted=on_damage["by_kind"] if on_damage else None,
        model=clf,
    )


def run_all(tasks: Sequence[Task], methods: Sequence[str], out: Path, seed: int = 0, device: str = "cpu",
            epochs: int | None = None, config: CompareConfig = CompareConfig(), test_sets: bool = True,
            note: str | None = None) -> list[Result]:
    """Every method on every task, with a progress bar over the runs; models saved under `out` and kept
    in each Result's `model` for the report.
    With `test_sets`, every ten-digit model is also scored on the stress set and on the corruption set
    as predict reads it (each built once, then cached)."""
    ten = any(task.classes == list(range(10)) for task in tasks)
    shaken = datasets.load("stress", "valid") if test_sets and ten else None
    damaged = datasets.load("corrupted", "valid") if test_sets and ten else None
    results = []
    with progress_bar(transient=False) as bar:
        job = bar.add_task("compare", total=len(tasks) * len(methods))
        for task in tasks:
            for method in methods:
                bar.update(job, description=f"{method} on {task.name}")
                results.append(run_one(method, task, config.plan(method, epochs, device), out, seed, device,
                                      config.worst, shaken, damaged, note))
                bar.advance(job)
        bar.update(job, description="compared")
    return results
