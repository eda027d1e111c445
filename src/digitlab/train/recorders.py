"""What a fit keeps and shows: three recorders and fastai's table.

`Recorder`: fastai's smoothed training loss per batch and the validation means per epoch (what the
plots and the book's `recorder.values` read); `MeanLossRecorder`: the book loop's plain mean loss an
epoch; `StepLossSum`: a fused step's loss summed on the device, one host sync an epoch (the cnn's).
`ProgressCallback`: one table row per epoch above a progress bar over the batches.
"""

from __future__ import annotations

import math
import time

import torch

from digitlab.console import console, progress_bar
from digitlab.train import distributed
from digitlab.train.callbacks import Callback, diverged


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
        if learn.training:
            self._train_batch(learn)
            return
        # Validation figures are means over items, so a small last batch weighs what it should.
        n = len(learn.yb)
        self._seen += n
        self._sums[0] += float(learn.loss) * n
        for i, metric in enumerate(learn.metrics, start=1):
            self._sums[i] += float(metric(learn.pred, learn.yb)) * n

    def _train_batch(self, learn) -> None:
        self._count += 1
        self._avg = self.beta * self._avg + (1 - self.beta) * float(learn.loss.detach())
        self.losses.append(self._avg / (1 - self.beta**self._count))
        self.lrs.append(learn.opt.lr)

    def _train_loss(self) -> float:
        return self.losses[-1] if self.losses else float("nan")

    def after_epoch(self, learn) -> None:
        valid = [s / self._seen for s in self._sums] if self._seen else [float("nan")] * len(self._sums)
        self.values.append([self._train_loss(), *valid])
        self.seconds = time.perf_counter() - self.start

    def plot_loss(self, skip_start: int = 5, with_valid: bool = True, ax=None):
        """Training loss per batch (and validation loss per epoch) on `ax` (default: a new Figure
        outside pyplot, which nothing shows unless asked); returns the Figure."""
        ax = ax if ax is not None else _new_axes()
        ax.plot(range(skip_start, len(self.losses)), self.losses[skip_start:], label="train")
        if with_valid and self.values:
            per_epoch = len(self.losses) / len(self.values)
            xs = [per_epoch * (i + 1) for i in range(len(self.values))]
            ax.plot(xs, [v[1] for v in self.values], marker="o", label="valid")  # a dot: one epoch is one point
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


class MeanLossRecorder(Recorder):
    """A Recorder whose epoch train_loss is the plain mean of the epoch's batch losses, as the book's
    loop (scratch.train_epoch) reports it; the losses stay tensors until the epoch ends, one host
    sync an epoch. No per-batch `losses`/`lrs` (no plots)."""

    def before_epoch(self, learn) -> None:
        super().before_epoch(learn)
        self._epoch_losses = []

    def _train_batch(self, learn) -> None:
        self._epoch_losses.append(learn.loss.detach())

    def _train_loss(self) -> float:
        losses = [float(loss) for loss in self._epoch_losses]
        return sum(losses) / len(losses) if losses else float("nan")


class StepLossSum(Callback):
    """The recorder for a fused step (`FusedStep`), which adds each batch's loss into `total`, a
    0-dim tensor on the device: read once an epoch (averaged over the processes under torchrun), so
    the device never waits for the host within an epoch. A mean that is not finite is a
    TrainingError naming --lr.

    values: one [train_loss, valid_loss, accuracy] per epoch; the last two None until a later
    callback scores the epoch (the cnn's); `tta` says whether that scoring used test-time shifts.
    """

    order = 50

    def __init__(self, total: torch.Tensor):
        self.total = total

    def before_fit(self, learn) -> None:
        self.values, self.metric_names, self.tta = [], ["accuracy"], False

    def before_epoch(self, learn) -> None:
        self.start = time.perf_counter()
        self.total.zero_()

    def after_epoch(self, learn) -> None:
        train_loss = distributed.all_reduce_mean(self.total).item() / len(learn.dls.train)  # one sync
        if not math.isfinite(train_loss):  # the same one-line error, naming --lr, as every method's
            raise diverged(f"the epoch's mean training loss became {train_loss}", learn.epoch, learn.lr)
        self.seconds = time.perf_counter() - self.start  # training only: the sum is the run's cost
        self.values.append([train_loss, None, None])


def _new_axes():
    from matplotlib.figure import Figure

    return Figure(figsize=(6, 4)).add_subplot()


def _mmss(seconds: float) -> str:
    return f"{int(seconds) // 60:02d}:{int(seconds) % 60:02d}"


class ProgressCallback(Callback):
    """fastai's table, one row per epoch, printed above a rich progress bar over the batches.

    table=False: the bar alone, transient, which leaves nothing in a log (how the classifiers that
    had no table before the one loop, linear's book form and the cnn, still show their training
    under a command's own lasting bar)."""

    order = 60

    def __init__(self, table: bool = True):
        self.table = table

    def before_fit(self, learn) -> None:
        self.names = ["epoch", "train_loss", "valid_loss", *learn.recorder.metric_names, "time"]
        self.bar = progress_bar()
        self.bar.start()
        self.task = self.bar.add_task("epoch", total=None)
        if self.table:
            console.print("  ".join(f"{n:>10}" for n in self.names))

    def before_epoch(self, learn) -> None:
        total = sum(len(dl) for dl in (learn.dls.train, learn.dls.valid) if dl is not None)
        self.bar.update(self.task, completed=0, total=total, description=f"epoch {learn.epoch}")

    def after_batch(self, learn) -> None:
        self.bar.advance(self.task)

    def after_epoch(self, learn) -> None:
        if not self.table:
            return
        values = ["" if v is None else f"{v:.6f}" for v in learn.recorder.values[-1]]
        row = [f"{learn.epoch:>10d}"] + [f"{v:>10}" for v in values]
        console.print("  ".join(row + [f"{_mmss(learn.recorder.seconds):>10}"]))

    def after_fit(self, learn) -> None:
        self.bar.stop()
