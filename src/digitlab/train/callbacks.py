"""Callbacks: small objects the Learner calls at fixed points of its loop.

A callback has an `order` (lower runs first) and any of `before_fit`, `before_epoch`,
`before_batch`, `after_loss`, `after_batch`, `after_epoch`, `after_fit`, each taking the learner.
Raising one of the Cancel exceptions skips the rest of that batch, epoch, or fit.
"""

from __future__ import annotations

import math
import time

import torch

from digitlab.console import console, progress_bar
from digitlab.errors import TrainingError
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


def diverged(what: str, epoch: int, lr: float) -> TrainingError:
    return TrainingError(f"training diverged in epoch {epoch}: {what}; try a lower learning rate "
                         f"(--lr, now {lr:g}; for example {lr / 10:g})")


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


class Recorder(Callback):
    """Keeps what the table and the plots need.

    values: one [train_loss, valid_loss, *metrics] list per epoch. train_loss is fastai's smoothed
    loss (exponential moving average, beta 0.98, debiased), so the first epoch is not dominated by
    the large losses of the random start. losses / lrs: one entry per training batch.
    """

    order = 50
    beta = 0.98

    def before_fit(self, learn) -> None:
        self.values, self.losses, self.lrs = [], [], []
        self.metric_names = [m.__name__ for m in learn.metrics]
        self._avg, self._count = 0.0, 0

    def before_epoch(self, learn) -> None:
        self._sums = [0.0] * (1 + len(learn.metrics))  # valid loss, then each metric
        self._seen = 0
        self.start = time.perf_counter()

    def after_batch(self, learn) -> None:
        n = len(learn.yb)
        if learn.training:
            self._count += 1
            self._avg = self.beta * self._avg + (1 - self.beta) * float(learn.loss.detach())
            self.losses.append(self._avg / (1 - self.beta**self._count))
            self.lrs.append(learn.opt.lr)
            return
        # Validation figures are means over items, so a small last batch weighs what it should.
        self._seen += n
        self._sums[0] += float(learn.loss) * n
        for i, metric in enumerate(learn.metrics, start=1):
            self._sums[i] += float(metric(learn.pred, learn.yb)) * n

    def after_epoch(self, learn) -> None:
        train_loss = self.losses[-1] if self.losses else float("nan")
        valid = [s / self._seen for s in self._sums] if self._seen else [float("nan")] * len(self._sums)
        self.values.append([train_loss, *valid])
        self.seconds = time.perf_counter() - self.start

    def plot_loss(self, skip_start: int = 5, with_valid: bool = True, ax=None):
        """Training loss per batch (and validation loss per epoch) on `ax` (default: a new Figure
        outside pyplot, which nothing shows unless asked); returns the Figure."""
        ax = ax if ax is not None else _new_axes()
        ax.plot(range(skip_start, len(self.losses)), self.losses[skip_start:], label="train")
        if with_valid and self.values:
            per_epoch = len(self.losses) / len(self.values)
            xs = [per_epoch * (i + 1) for i in range(len(self.values))]
            ax.plot(xs, [v[1] for v in self.values], label="valid")
        ax.set_xlabel("batch")
        ax.set_ylabel("loss")
        ax.legend()
        return ax.figure

    def plot_lr_find(self, skip_end: int = 5, ax=None):
        """Loss against learning rate, log scale, after `Learner.lr_find`, on `ax` (default: a new
        Figure outside pyplot); returns the Figure."""
        ax = ax if ax is not None else _new_axes()
        end = max(1, len(self.lrs) - skip_end)
        ax.plot(self.lrs[:end], self.losses[:end])
        ax.set_xscale("log")
        ax.set_xlabel("learning rate (log scale)")
        ax.set_ylabel("loss")
        return ax.figure


def _new_axes():
    from matplotlib.figure import Figure

    return Figure(figsize=(6, 4)).add_subplot()


def _mmss(seconds: float) -> str:
    return f"{int(seconds) // 60:02d}:{int(seconds) % 60:02d}"


class ProgressCallback(Callback):
    """fastai's table, one row per epoch, printed above a rich progress bar over the batches."""

    order = 60

    def before_fit(self, learn) -> None:
        self.names = ["epoch", "train_loss", "valid_loss", *learn.recorder.metric_names, "time"]
        self.bar = progress_bar()
        self.bar.start()
        self.task = self.bar.add_task("epoch", total=None)
        console.print("  ".join(f"{n:>10}" for n in self.names))

    def before_epoch(self, learn) -> None:
        total = len(learn.dls.train) + len(learn.dls.valid)
        self.bar.update(self.task, completed=0, total=total, description=f"epoch {learn.epoch}")

    def after_batch(self, learn) -> None:
        self.bar.advance(self.task)

    def after_epoch(self, learn) -> None:
        row = [f"{learn.epoch:>10d}"] + [f"{v:>10.6f}" for v in learn.recorder.values[-1]]
        console.print("  ".join(row + [f"{_mmss(learn.recorder.seconds):>10}"]))

    def after_fit(self, learn) -> None:
        self.bar.stop()


class OneCycle(Callback):
    """Sets lr (and momentum, where the optimiser has one) before every training batch."""

    order = 10

    def __init__(self, lr_max: float, **kwargs):
        self.lr_max, self.kwargs = lr_max, kwargs

    def before_batch(self, learn) -> None:
        if not learn.training:
            return
        total = learn.n_epoch * len(learn.dls.train)
        pos = (learn.epoch * len(learn.dls.train) + learn.iter) / total
        lr, mom = one_cycle(pos, self.lr_max, **self.kwargs)
        learn.opt.lr = lr
        if hasattr(learn.opt, "mom"):
            learn.opt.mom = mom


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
