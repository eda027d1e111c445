"""The one training loop, in fastai's shape: DataLoader, IndexLoader, DataLoaders, and a Learner
with callbacks. Every trained method runs through `Learner.fit`: linear and simple_net (both
trainers), the cnn, resnet18 and the book's Learner.

Read `Learner.fit` top to bottom: for each epoch, a pass over the training batches (forward, loss,
backward, step) and one over the validation batches (forward, loss), with callbacks around each
step. Everything else (the table, the recorders, schedules, divergence, the per-epoch hand-off,
the cnn's per-epoch draw and its CUDA-graph step) is a callback. A callback may replace the
training step by one callable (`fused_step`: forward, loss, backward and optimiser step together),
which is what a CUDA graph replays.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator, Sequence

import torch
from torch import nn

from digitlab.train.callbacks import (
    Callback,
    CancelBatchException,
    CancelEpochException,
    CancelFitException,
    LRFinder,
    NanGuard,
    OneCycle,
)
from digitlab.train.recorders import ProgressCallback, Recorder
from digitlab.train.optim import SGD
from digitlab.train.seeding import epoch_generator


def collate(items: Sequence):
    """Batch a list of items the way the tutorials show: tensors stacked, numbers made a tensor,
    tuples collated field by field, anything else (strings) gathered into a tuple."""
    first = items[0]
    if isinstance(first, torch.Tensor):
        return torch.stack(list(items))
    if isinstance(first, (bool, int, float)):
        return torch.tensor(items)
    if isinstance(first, (tuple, list)):
        return tuple(collate(field) for field in zip(*items))
    return tuple(items)


def _is_tensor_tuple(dataset) -> bool:
    return (
        isinstance(dataset, tuple)
        and len(dataset) > 0
        and all(isinstance(t, torch.Tensor) and t.ndim > 0 for t in dataset)
        and len({len(t) for t in dataset}) == 1
    )


class DataLoader:
    """Mini-batches over a dataset: a tensor, a range, a list of (x, y) items, or (x, y) tensors.

    A tuple of equal-length tensors, such as `(images, labels)`, takes the fast path: each batch
    is one indexing with a slice of a permutation, with no Python loop over items.
    shuffle with `seed`: epoch e's order comes from `epoch_generator(seed, e)`; without a seed it
    comes from torch's global generator, like torch's own DataLoader.
    """

    def __init__(self, dataset, batch_size: int = 64, shuffle: bool = False, seed: int | None = None,
                 drop_last: bool = False, device: torch.device | str | None = None):
        self.dataset, self.batch_size, self.shuffle = dataset, batch_size, shuffle
        self.seed, self.drop_last, self.device = seed, drop_last, device
        self.fast = _is_tensor_tuple(dataset)
        self.n = len(dataset[0]) if self.fast else len(dataset)
        self.epoch = 0  # which epoch's order the next pass uses; the Learner sets it

    def __len__(self) -> int:
        return self.n // self.batch_size if self.drop_last else -(-self.n // self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _order(self) -> torch.Tensor:
        if not self.shuffle:
            return torch.arange(self.n)
        generator = epoch_generator(self.seed, self.epoch) if self.seed is not None else None
        return torch.randperm(self.n, generator=generator)

    def _to_device(self, batch):
        if self.device is None:
            return batch
        if isinstance(batch, torch.Tensor):
            return batch.to(self.device, non_blocking=True)
        return tuple(self._to_device(b) for b in batch) if isinstance(batch, tuple) else batch

    def __iter__(self) -> Iterator:
        order = self._order()
        self.epoch += 1
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            idx = order[start : start + self.batch_size]
            if self.fast:
                batch = tuple(t[idx.to(t.device)] for t in self.dataset)  # one gather per tensor
            else:
                batch = collate([self.dataset[i] for i in idx.tolist()])
            yield self._to_device(batch)


class IndexLoader:
    """Batches of indices, (B,) int64, into tensors that stay on the device for the whole run (the
    cnn's images and labels): the step picks its batch with them, so no batch is ever copied.

    The epoch's order (`n` items of a permutation) is set before each pass by whoever draws it
    (the cnn's draw callback, from the generator that then draws the epoch's augmentation); a
    batch is a slice of it. It yields (indices, None), and the step reads the labels with the same
    indices; or, where `data` is set (the gate's epoch's images and labels), the rows of each.
    """

    def __init__(self, n: int, batch_size: int, device: torch.device | str | None = None):
        self.n, self.batch_size, self.device = n, batch_size, device
        self.order: torch.Tensor | None = None
        self.data: tuple[torch.Tensor, ...] | None = None

    def __len__(self) -> int:
        return -(-self.n // self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        pass  # the order comes from outside

    def __iter__(self) -> Iterator:
        for i in range(len(self)):
            idx = self.order[i * self.batch_size : (i + 1) * self.batch_size]  # (B,) indices
            yield (idx, None) if self.data is None else tuple(t[idx] for t in self.data)


class DataLoaders:
    """A training and a validation loader, and the device their batches go to. valid may be None:
    no validation pass (the cnn scores its validation set in a callback)."""

    def __init__(self, train, valid, device: torch.device | str | None = None):
        self.train, self.valid = train, valid
        if device is not None:
            for dl in (train, valid):
                if dl is not None:
                    dl.device = device

    @property
    def device(self) -> torch.device:
        return torch.device(self.train.device or "cpu")

    def __getitem__(self, i: int) -> DataLoader:
        return (self.train, self.valid)[i]


class Learner:
    """A model, its data, a loss, an optimiser and callbacks; `fit` trains.

    opt_func is called as opt_func(params, lr) at the first fit, as fastai does; the optimiser then
    lives on (momentum buffers included) across fits; `fit(..., opt_state=...)` loads a saved state
    into it. recorder keeps the losses: by default a `Recorder` (fastai's smoothed loss, the plots);
    the book loop's form and the cnn pass theirs (recorders.py). progress: the table and bar
    (True), nothing (False), or a ProgressCallback of one's own (the bar alone: table=False).
    """

    recorder_type: type[Recorder] = Recorder  # digitlab.book's draws its plots in a notebook

    def __init__(self, dls: DataLoaders, model: nn.Module, opt_func: Callable = SGD,
                 loss_func: Callable | None = None, metrics=(), cbs=(), lr: float = 0.1,
                 progress: bool | ProgressCallback = True, recorder: Callback | None = None):
        self.dls, self.model, self.opt_func, self.lr = dls, model.to(dls.device), opt_func, lr
        self.loss_func = loss_func or nn.functional.cross_entropy
        self.metrics = list(metrics) if isinstance(metrics, (list, tuple)) else [metrics]
        self.recorder = recorder if recorder is not None else self.recorder_type()
        if progress is True:
            progress = ProgressCallback()
        self.cbs = [NanGuard(), self.recorder, *cbs] + ([progress] if progress else [])
        self.opt = None
        self.fused_step: Callable | None = None  # set by a FusedStep callback for its fit
        self.epoch = 0

    def create_opt(self, opt_state: dict | None = None):
        """The optimiser: made by opt_func at the first call, then kept; `opt_state` (what a
        checkpoint saved of it: a resumed run's momentum) loaded into it when given."""
        if self.opt is None:
            self.opt = self.opt_func(list(self.model.parameters()), self.lr)
        if opt_state:
            self.opt.load_state_dict(opt_state)
        return self.opt

    # -- the loop ------------------------------------------------------------------------------
    def _callback(self, name: str, cbs: list) -> None:
        for cb in cbs:  # sorted by order once, in fit
            if (method := getattr(cb, name, None)) is not None:
                method(self)

    def _one_batch(self, cbs: list) -> None:
        self._callback("before_batch", cbs)
        if self.training and self.fused_step is not None:
            self.fused_step(self.xb)  # forward, loss, backward, step in one call; it keeps its own loss
            return
        self.pred = self.model(self.xb)
        self.loss = self.loss_func(self.pred, self.yb)
        self._callback("after_loss", cbs)
        if self.training:
            self.loss.backward()
            self.opt.step()
            self.opt.zero_grad()

    def _one_pass(self, dl: DataLoader, training: bool, cbs: list) -> None:
        self.training, self.dl = training, dl
        self.model.train(training)
        dl.set_epoch(self.epoch)
        try:
            with torch.set_grad_enabled(training):
                for self.iter, (self.xb, self.yb) in enumerate(dl):
                    try:
                        self._one_batch(cbs)
                    except CancelBatchException:
                        pass
                    self._callback("after_batch", cbs)
        except CancelEpochException:
            pass

    def fit(self, n_epoch: int, lr: float | None = None, cbs=(), start_epoch: int = 0,
            opt_state: dict | None = None) -> None:
        """Train for epochs start_epoch .. n_epoch-1. A run resumes with start_epoch > 0 and
        `opt_state`, the optimiser state its checkpoint saved."""
        if lr is not None:
            self.lr = lr
        self.create_opt(opt_state)
        self.opt.lr = self.lr
        self.n_epoch = n_epoch
        cbs = sorted(self.cbs + list(cbs), key=lambda c: c.order)
        try:
            self._callback("before_fit", cbs)
            for self.epoch in range(start_epoch, n_epoch):
                self._callback("before_epoch", cbs)
                self._one_pass(self.dls.train, True, cbs)
                if self.dls.valid is not None:
                    self._one_pass(self.dls.valid, False, cbs)
                self._callback("after_epoch", cbs)
        except CancelFitException:
            pass
        finally:
            self._callback("after_fit", cbs)

    def fit_one_cycle(self, n_epoch: int, lr_max: float | None = None, cbs=(), start_epoch: int = 0,
                      opt_state: dict | None = None, **schedule) -> None:
        """fit with fastai's one-cycle schedule: cosine warm-up then annealing of the lr (and the
        opposite for momentum); `schedule` takes optim.one_cycle's div, div_final, pct_start, moms."""
        lr_max = lr_max if lr_max is not None else self.lr
        self.fit(n_epoch, lr_max, cbs=[OneCycle(lr_max, **schedule), *cbs], start_epoch=start_epoch,
                 opt_state=opt_state)

    def lr_find(self, start_lr: float = 1e-7, end_lr: float = 10.0, num_it: int = 100) -> float:
        """Try exponentially growing lrs on a copy of the weights; return a suggested lr.

        The suggestion is a tenth of the lr at the lowest smoothed loss (see `suggest_lr`).
        The weights and optimiser are put back afterwards; `recorder.plot_lr_find()` draws the curve.
        """
        saved_model, saved_opt = copy.deepcopy(self.model.state_dict()), self.opt
        self.opt = None
        n_epoch = -(-num_it // len(self.dls.train))
        cbs = [cb for cb in self.cbs if not isinstance(cb, (NanGuard, ProgressCallback))]
        finder = LRFinder(start_lr, end_lr, num_it)
        saved_cbs, self.cbs = self.cbs, cbs
        try:
            self.fit(n_epoch, start_lr, cbs=[finder])
        finally:
            self.cbs = saved_cbs
            self.model.load_state_dict(saved_model)
            self.opt = saved_opt
        return suggest_lr(self.recorder.lrs, self.recorder.losses)


def suggest_lr(lrs: Sequence[float], losses: Sequence[float]) -> float:
    """fastai's classic rule: a tenth of the lr where the smoothed loss was lowest.

    At the minimum the lr is already about to make training diverge; a tenth of it still learns
    fast with room to spare.
    """
    finite = [(loss, lr) for lr, loss in zip(lrs, losses) if math.isfinite(loss)]
    if not finite:
        raise ValueError("lr_find recorded no finite loss")
    return min(finite)[1] / 10


def steepest_lr(lrs: Sequence[float], losses: Sequence[float]) -> float:
    """fastai's other suggestion: the lr where the smoothed loss falls fastest.

    The first tenth of the points (the smoothing still warming up) and the last five (divergence)
    are left out, as fastai leaves them out.
    """
    start, end = len(lrs) // 10, max(len(lrs) // 10 + 2, len(lrs) - 5)
    pairs = [(lr, loss) for lr, loss in zip(lrs[start:end], losses[start:end]) if math.isfinite(loss)]
    if len(pairs) < 2:
        raise ValueError("lr_find recorded too few finite losses to find the steepest one")
    slope = torch.gradient(torch.tensor([loss for _, loss in pairs]))[0]  # (n,) loss change per step
    return pairs[int(slope.argmin())][0]
