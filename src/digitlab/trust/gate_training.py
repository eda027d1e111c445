"""How the gate is trained: its training set (stress-style drawn digits, damaged digits, scanned
MNIST digits and the training non-digits, as drawn and as read), `fit`, the threshold chosen on
held-out images (`choose_threshold`), and `build`, which `python -m digitlab.pretrained --methods gate` runs."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch

from digitlab.train.callbacks import Callback
from digitlab.trust.gate import (DAMAGE_SEED, DIGIT, DRAWN_SEED, NOT_A_DIGIT, SCANNED_CALIBRATION_SEED, SCANNED_SEED,
                                 SEVERAL, Gate, GateConfig, GateNet, save)


def drawn_digits(count: int, seed: int = DRAWN_SEED) -> np.ndarray:
    """(count, 28, 28) uint8 stress-style digits (count / 4 a category) through to_mnist, cached."""
    from digitlab.data import stress
    from digitlab.store import array_cache
    from digitlab.store.files import home
    from digitlab.vision.mnist_style import PREPROCESS_VERSION

    path = home() / "nondigits" / f"drawn-{stress.VERSION}-prep{PREPROCESS_VERSION}-seed{seed}-{count}.npz"
    saved = array_cache.load(path, ("images",), "gate's drawn digits")
    if saved:
        return saved["images"]
    images, _ = stress.build(seed, per_category=count // len(stress.CATEGORIES))
    array_cache.save(path, images=images)
    return images


def as_read(images: np.ndarray) -> np.ndarray:
    """(n, 28, 28) uint8 -> the same as the models read them (input_cleaning.cleaned), uint8."""
    from digitlab.vision.input_cleaning import cleaned

    return (cleaned(torch.from_numpy(images).float() / 255) * 255).round().to(torch.uint8).numpy()


def damaged_digits(mnist: np.ndarray, count: int, seed: int = DAMAGE_SEED) -> np.ndarray:
    """(count, 28, 28) uint8: MNIST training digits below heldout.START, spread evenly over them,
    each under one of the corruption set's seen kinds in turn (damage.damaged_copies, seed `seed`),
    then cleaned as the models read them (input_cleaning), which is how the gate meets them."""
    from digitlab.data import damage, heldout

    if count <= 0:
        return np.zeros((0, 28, 28), dtype=np.uint8)
    picks = np.linspace(0, heldout.START - 1, count).round().astype(int)
    return as_read(damage.damaged_copies(mnist[picks], seed))


def scanned_digits(mnist: np.ndarray, count: int, seed: int = SCANNED_SEED) -> np.ndarray:
    """(count, 28, 28) uint8: MNIST training digits below heldout.START, spread evenly over them, each
    scanned (data/scanned.py: cut to its ink, enlarged 2-5x, on a page, through to_mnist; cached) and
    cleaned as the models read them."""
    from digitlab.data import heldout, scanned

    if count <= 0:
        return np.zeros((0, 28, 28), dtype=np.uint8)
    return as_read(scanned.cached(mnist, range(heldout.START), count, seed))


def training_set(config: GateConfig) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(MNIST digits (55,000, 28, 28) uint8, other images (M, 28, 28) uint8, their labels (M,)): the
    drawn digits, the damaged ones and the scanned ones (DIGIT) and the training non-digits
    (NOT_A_DIGIT, SEVERAL), blank ones left out."""
    from digitlab.data import heldout, nondigits
    from digitlab.data.shipped_mnist import mnist_arrays

    mnist, _ = mnist_arrays("train")
    drawn = np.concatenate([drawn_digits(config.drawn_digits, config.drawn_seed),
                            damaged_digits(mnist, config.damaged_digits, config.damage_seed),
                            scanned_digits(mnist, config.scanned_digits, config.scanned_seed)])
    others = nondigits.cached("train", "train", range(nondigits.TRAIN_PER_CATEGORY), mnist)
    kinds = np.repeat(np.asarray(nondigits.CATEGORIES), nondigits.TRAIN_PER_CATEGORY)
    labels = np.where(kinds == "several", SEVERAL, NOT_A_DIGIT)
    if config.cleaned_copies:
        others = np.concatenate([others, as_read(others)])
        labels = np.concatenate([labels, labels])
    images = np.concatenate([drawn, others])
    labels = np.concatenate([np.full(len(drawn), DIGIT), labels])
    inked = images.reshape(len(images), -1).max(1) > 0
    return (torch.from_numpy(mnist[:heldout.START].copy()), torch.from_numpy(images[inked]),
            torch.from_numpy(labels[inked]).long())


def fit(config: GateConfig, progress: bool = True) -> Gate:
    """Train a gate on training_set(config) under ROBUST augmentation, through Learner.fit (AdamW,
    torch's one-cycle lr stepped after every batch); its threshold stays config's until
    choose_threshold."""
    from digitlab.classifiers.cnn import presets
    from digitlab.classifiers.cnn.config import CNNConfig
    from digitlab.train.learner import DataLoaders, IndexLoader, Learner
    from digitlab.train.recorders import ProgressCallback

    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    mnist, others, other_labels = training_set(config)
    # crop 0: the whole 28 x 28 warped; lines and smears as the shipped cnn learns them (clutter.py), so
    # that a digit with a line through it is still a digit (without them the gate declined 61 % of the
    # corruption set's ruled-line digits as not a digit)
    robust = dataclasses.replace(CNNConfig(), crop=0, lines=0.1, smear=0.1, **presets.ROBUST)
    net = GateNet(config.width)
    steps_per_epoch = (config.mnist_digits + len(others)) // config.batch_size  # the last, partial batch dropped
    loader = IndexLoader(steps_per_epoch * config.batch_size, config.batch_size)

    def adamw(params, lr: float) -> torch.optim.AdamW:
        return torch.optim.AdamW(params, lr=lr, weight_decay=config.weight_decay)

    learn = Learner(DataLoaders(loader, None), net, opt_func=adamw, lr=config.lr,
                    progress=progress and ProgressCallback(table=False))
    learn.fit(config.epochs, cbs=[_EpochDraw(config, mnist, others, other_labels, robust, generator),
                                  TorchOneCycle(config.lr, config.epochs * steps_per_epoch)])
    return Gate(net, config)


class _EpochDraw(Callback):
    """The gate's epoch, all from the run's one generator, in this order: which MNIST digits
    (mnist_digits of them, anew), their augmentation, then the order of those and the other images."""

    def __init__(self, config: GateConfig, mnist, others, other_labels, robust, generator: torch.Generator):
        self.config, self.mnist, self.others, self.other_labels = config, mnist, others, other_labels
        self.robust, self.generator = robust, generator

    def before_epoch(self, learn) -> None:
        from digitlab.classifiers.cnn import augment

        picks = torch.randperm(len(self.mnist), generator=self.generator)[:self.config.mnist_digits]
        moved = augment.augmented(self.mnist[picks].float() / 255, self.robust, self.generator)  # (m, 28, 28)
        x = torch.cat([moved, self.others.float() / 255])  # (n, 28, 28)
        y = torch.cat([torch.full((len(picks),), DIGIT), self.other_labels])
        learn.dls.train.data = (x.unsqueeze(1), y)  # (n, 1, 28, 28), (n,)
        learn.dls.train.order = torch.randperm(len(x), generator=self.generator)


class TorchOneCycle(Callback):
    """torch's OneCycleLR over the fit's AdamW, stepped after every training batch."""

    def __init__(self, lr_max: float, total_steps: int):
        self.lr_max, self.total_steps = lr_max, total_steps

    def before_fit(self, learn) -> None:
        self.schedule = torch.optim.lr_scheduler.OneCycleLR(learn.opt, self.lr_max, total_steps=self.total_steps)

    def after_batch(self, learn) -> None:
        if learn.training:
            self.schedule.step()


MUST_PASS = ("mnist", "stress", "damaged", "scanned")  # held_out_images' sets the threshold lets through


def held_out_images() -> dict[str, torch.Tensor]:
    """The images the threshold is chosen on, each as the models read them (input_cleaning), which is
    how the gate judges at prediction time (decline.screen): {"mnist": MNIST's calibration digits,
    "stress": the stress set, "damaged": calibration digits under the corruption set's seen kinds,
    "scanned": calibration digits scanned (data/scanned.py, SCANNED_CALIBRATION_SEED; all four must
    pass), "nondigits": the training generator's held-out draws (must not)}."""
    from digitlab.data import corrupted, datasets, heldout, nondigits, scanned
    from digitlab.data.shipped_mnist import mnist_arrays
    from digitlab.vision.input_cleaning import cleaned

    mnist, labels = mnist_arrays("train")
    choice = range(nondigits.CHOICE_FROM, nondigits.CHOICE_FROM + nondigits.PER_CATEGORY)
    damaged = torch.from_numpy(corrupted.tuning_set((mnist, labels))[0]).float() / 255
    calibration = torch.from_numpy(mnist[heldout.CALIBRATION.start:heldout.CALIBRATION.stop].copy()).float() / 255
    drawn = torch.from_numpy(nondigits.cached("choice", "train", choice, mnist)).float() / 255
    scans = scanned.cached(mnist, heldout.CALIBRATION, len(heldout.CALIBRATION), SCANNED_CALIBRATION_SEED)
    return {"mnist": cleaned(calibration), "stress": cleaned(datasets.load("stress", "valid", dtype=torch.float32).images),
            "damaged": cleaned(damaged), "scanned": cleaned(torch.from_numpy(scans).float() / 255),
            "nondigits": cleaned(drawn)}


def choose_threshold(gate: Gate, held: dict[str, torch.Tensor] | None = None) -> tuple[float, dict]:
    """The highest threshold that still lets the config's must_answer share of each MUST_PASS set
    through (the held-out MNIST digits, the stress set, the damaged and the scanned calibration
    digits), and what it does there: (threshold, {set: share let through})."""
    held = held or held_out_images()
    p = {name: gate.proba(images)[:, DIGIT] for name, images in held.items()}
    share = gate.config.must_answer  # MUST_ANSWER unless the config says otherwise
    threshold = min(float(torch.quantile(p[name].double(), 1 - share)) for name in MUST_PASS)
    passed = {name: float((v >= threshold).float().mean()) for name, v in p.items()}
    return threshold, passed


def build(out: Path, config: GateConfig | None = None) -> dict:
    """Train a gate, choose its threshold on held-out images, save it at `out`; what it let through."""
    gate = fit(config or GateConfig())
    threshold, passed = choose_threshold(gate)
    gate.config = dataclasses.replace(gate.config, threshold=round(threshold, 6))
    passed = {f"passed_{k}": v for k, v in passed.items()}
    save(gate, out, passed)
    print(f"gate: threshold {gate.config.threshold:.4f}; let through: "
          + ", ".join(f"{k.removeprefix('passed_')} {v:.2%}" for k, v in passed.items()), flush=True)
    return passed
