"""Callbacks: small objects the Learner calls at fixed points of its loop.

A callback has an `order` (lower runs first) and any of `before_fit`, `before_epoch`,
`before_batch`, `after_loss`, `after_batch`, `after_epoch`, `after_fit`, each taking the learner.
Raising one of the Cancel exceptions skips the rest of that batch, epoch, or fit.

Here: divergence (`NanGuard`, `DivergenceGuard`), `OneCycle`, `FusedStep` (the step replaced, e.g.
by a CUDA graph's replay), `EpochEnd` (the per-epoch hand-off: history row and resume state),
`LRFinder` and `ShortEpochCallback`; the recorders and the table are in recorders.py.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

import torch

from digitlab.errors import Diverged
from digitlab.train.optim import one_cycle


class CancelBatchException(Exception):
    """Skip the rest of this batch (no step)."""


class CancelEpochException(Exception):
    """Skip the rest of this epoch's pass over the current DataLoader."""


class CancelFitException(Exception):
    """Stop training; `after_fit` still runs."""


class Callback:
    order = 0


LOSS_GROWTH = 10  # a training loss this many times the run's first has diverged
WEIGHT_LIMIT = 1e4  # |weight| past which a run has diverged: the pixels are in [0, 1], so such a weight
#                     alone moves an output by thousands, where float32's sigmoid and softmax are flat
#                     and learning has stopped. Default runs stay under 1 (linear at --lr 100: 10).


def diverged(what: str, epoch: int, lr: float) -> Diverged:
    # No lr guessed here: lr / 10 often diverged too, or trained badly (`digitlab train` checks which
    # lr trains before it suggests one: commands/lr_advice.py).
    return Diverged(f"training diverged in epoch {epoch}: {what}; try a lower learning rate (--lr, now {lr:g})")


def check_finite(loss: torch.Tensor | float, epoch: int, batch: int, lr: float) -> None:
    """Stop with a TrainingError when a loss is NaN or infinite: training has diverged."""
    loss = float(loss.detach()) if isinstance(loss, torch.Tensor) else float(loss)
    if not math.isfinite(loss):
        raise diverged(f"the training loss became {loss} at batch {batch}", epoch, lr)


class Divergence:
    """Watches one run: a loss that is not finite or has grown LOSS_GROWTH times past the run's
    first, or weights that are not finite or past WEIGHT_LIMIT, is a TrainingError naming --lr.

    A loss can diverge without ever reaching NaN: with lr=1e12 the book's linear model jumps to
    weights of 1e11, its sigmoid saturates, the bounded mnist_loss even falls, and 92 % passed as a
    result. So the weights are checked too, once an epoch (before its checkpoint is saved).
    """

    def __init__(self, lr: float):
        self.lr, self.first = lr, None

    def loss(self, loss: float, epoch: int, batch: int) -> None:
        check_finite(loss, epoch, batch, self.lr)
        if self.first is None:
            self.first = max(float(loss), 1e-3)
        elif loss > LOSS_GROWTH * self.first:
            raise diverged(f"the training loss grew from {self.first:.3g} to {loss:.3g} at batch {batch}",
                            epoch, self.lr)

    def weights(self, parameters, epoch: int) -> None:
        for p in parameters:
            largest = float(p.detach().abs().max()) if p.numel() else 0.0
            if not math.isfinite(largest) or largest > WEIGHT_LIMIT:
                raise diverged(f"the weights reached {largest:.3g}", epoch, self.lr)


class NanGuard(Callback):
    """Turns a diverging loss into a TrainingError instead of a model full of NaN."""

    order = -10

    def after_loss(self, learn) -> None:
        if learn.training:
            check_finite(learn.loss, learn.epoch, learn.iter, learn.opt.lr)


class DivergenceGuard(Callback):
    """`Divergence` for a Learner's fit: each training loss, and the weights after each epoch (before
    a later callback, such as the classifiers' checkpointing, sees the epoch)."""

    order = -10

    def __init__(self, lr: float):
        self.watch = Divergence(lr)

    def after_loss(self, learn) -> None:
        if learn.training:
            self.watch.loss(float(learn.loss.detach()), learn.epoch, learn.iter)

    def after_epoch(self, learn) -> None:
        self.watch.weights(learn.model.parameters(), learn.epoch)


class FusedStep(Callback):
    """Replaces the Learner's training step (forward, loss, after_loss, backward, step) by one
    callable on the batch's inputs, `make(opt)`, made for the fit's optimiser at its start: what a
    CUDA graph records and replays (cuda_graphs.GraphedStep). The step keeps its loss itself (for
    `StepLossSum`), and no `after_loss` runs."""

    order = -50

    def __init__(self, make: Callable):
        self.make = make

    def before_fit(self, learn) -> None:
        learn.fused_step = self.make(learn.opt)

    def after_fit(self, learn) -> None:
        learn.fused_step = None


def none_if_nan(value) -> float | None:
    return None if value is None or value != value else float(value)


def cpu_copy(state):
    """A detached CPU copy of a state dict, so later steps cannot change what was handed on."""
    return copy.deepcopy(state) if not isinstance(state, dict) else {
        k: (v.detach().to("cpu", copy=True) if isinstance(v, torch.Tensor) else cpu_copy(v))
        for k, v in state.items()}


class EpochEnd(Callback):
    """The per-epoch hand-off: `on_epoch(epoch, row, state)` after each epoch, once the recorder,
    the scoring and the divergence checks have seen it. row is the history row (epoch,
    train_loss, valid_loss, accuracy, seconds; None where not measured, plus `tta` where the
    recorder has it); state is what a resumed fit needs: {"optimizer": a CPU copy of its state}."""

    order = 70

    def __init__(self, on_epoch: Callable):
        self.on_epoch = on_epoch

    def after_epoch(self, learn) -> None:
        train_loss, valid_loss, *metrics = learn.recorder.values[-1]
        row = {"epoch": learn.epoch, "train_loss": none_if_nan(train_loss), "valid_loss": none_if_nan(valid_loss),
               "accuracy": none_if_nan(metrics[0] if metrics else None)}
        if hasattr(learn.recorder, "tta"):
            row["tta"] = learn.recorder.tta
        row["seconds"] = learn.recorder.seconds
        self.on_epoch(learn.epoch, row, {"optimizer": cpu_copy(learn.opt.state_dict())})


class OneCycle(Callback):
    """Sets lr and momentum (`opt.schedule`) before every training batch, from the position in the
    whole run, so a resumed run follows the uninterrupted one; `kwargs` are optim.one_cycle's."""

    order = 10

    def __init__(self, lr_max: float, **kwargs):
        self.lr_max, self.kwargs = lr_max, kwargs

    def before_batch(self, learn) -> None:
        if not learn.training:
            return
        total = learn.n_epoch * len(learn.dls.train)
        pos = (learn.epoch * len(learn.dls.train) + learn.iter) / total
        learn.opt.schedule(*one_cycle(pos, self.lr_max, **self.kwargs))


class LRFinder(Callback):
    """Raises the lr exponentially each batch; stops when the loss explodes (4x the best)."""

    order = 55  # after the Recorder, whose smoothed loss it reads

    def __init__(self, start_lr: float = 1e-7, end_lr: float = 10.0, num_it: int = 100):
        self.start_lr, self.end_lr, self.num_it = start_lr, end_lr, num_it
        self.step, self.best = 0, math.inf

    def before_batch(self, learn) -> None:
        if not learn.training:
            raise CancelEpochException()  # lr_find never validates
        learn.opt.lr = self.start_lr * (self.end_lr / self.start_lr) ** (self.step / self.num_it)

    def after_batch(self, learn) -> None:
        if not learn.training:
            return
        self.step += 1
        loss = learn.recorder.losses[-1]  # smoothed, so one noisy batch does not end the search
        if not math.isfinite(loss) or loss > 4 * self.best or self.step >= self.num_it:
            raise CancelFitException()
        self.best = min(self.best, loss)


class ShortEpochCallback(Callback):
    """fastai's: each epoch trains on only its first `pct` of the batches (at least one), and with
    `short_valid` validates on as few; for a quick check that a long run's code works."""

    order = 90  # last, so every other callback has seen the batch that ends the epoch

    def __init__(self, pct: float = 0.01, short_valid: bool = True):
        self.pct, self.short_valid = pct, short_valid

    def after_batch(self, learn) -> None:
        if (learn.training or self.short_valid) and learn.iter + 1 >= max(1, self.pct * len(learn.dl)):
            raise CancelEpochException()
