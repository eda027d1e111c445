"""fastai's training names over digitlab's Learner: `Learner` (its `lr_find` and `recorder.plot_loss`
draw in the notebook), `ImageDataLoaders`, `vision_learner` (`cnn_learner`)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

from digitlab.book.missing import _not_in_book, _refuse_missing
from digitlab.classifiers.networks import resnet18
from digitlab.errors import DataError, DigitlabError
from digitlab.train.recorders import Recorder as _Recorder
from digitlab.train.learner import DataLoader, DataLoaders, Learner as _Learner, steepest_lr
from digitlab.train.optim import SGD


class SuggestedLRs(NamedTuple):
    """What the book's `lr_find` returns: `lr_min, lr_steep = learn.lr_find()`."""

    lr_min: float  # a tenth of the lr where the smoothed loss was lowest
    lr_steep: float  # the lr where the loss fell fastest


class Recorder(_Recorder):
    """The Recorder whose `plot_loss` draws in the notebook, as fastai's does."""

    def plot_loss(self, skip_start: int = 5, with_valid: bool = True) -> None:
        _, ax = plt.subplots(figsize=(6, 4))
        super().plot_loss(skip_start, with_valid, ax=ax)


class Learner(_Learner):
    """digitlab's Learner (`fit`, `fit_one_cycle`, `lr_find`, `recorder.values`), saying so when a
    tutorial asks for a fastai method it does not have."""

    recorder_type = Recorder

    def lr_find(self, start_lr: float = 1e-7, end_lr: float = 10.0, num_it: int = 100,
                show_plot: bool = True) -> SuggestedLRs:
        """The book's lr_find: the loss against growing lrs plotted, the two suggestions marked
        on the curve, and returned as `SuggestedLRs(lr_min, lr_steep)`. The weights are put back."""
        lr_min = super().lr_find(start_lr, end_lr, num_it)
        lrs, losses = self.recorder.lrs, self.recorder.losses
        found = SuggestedLRs(lr_min, steepest_lr(lrs, losses))
        if show_plot:
            _, ax = plt.subplots(figsize=(6, 4))
            self.recorder.plot_lr_find(ax=ax)
            for lr, style, label in ((found.lr_min, "ro", "lr_min"), (found.lr_steep, "go", "lr_steep")):
                ax.plot(lr, np.interp(np.log(lr), np.log(lrs), losses), style, label=f"{label} {lr:.2e}")
            ax.legend()
        return found

    def __getattr__(self, name: str):
        raise _refuse_missing("Learner", name)


class ImageDataLoaders(DataLoaders):
    """DataLoaders over a folder of `<split>/<digit>/*.png`, as fastai's `from_folder` builds them."""

    @classmethod
    def from_folder(cls, path: str | os.PathLike, train: str = "train", valid: str = "valid",
                    bs: int = 64, seed: int | None = None, device=None, **fastai_options) -> ImageDataLoaders:
        """Images as (N, 1, 28, 28) floats in [0, 1]; targets are indices into `vocab`, the sorted
        label folder names (3 -> 0 and 7 -> 1 for 3s and 7s). The training set is shuffled each
        epoch (from `seed` when given) and, as in fastai, drops its last incomplete batch."""
        if fastai_options:
            raise _not_in_book(f"ImageDataLoaders.from_folder option {', '.join(fastai_options)}")
        from digitlab.data.folders import load_folder

        root = Path(path)
        train_set, valid_set = load_folder(root / train), load_folder(root / valid)
        vocab = sorted(set(train_set.labels.tolist()))
        class_of = torch.full((10,), -1, dtype=torch.long)
        class_of[vocab] = torch.arange(len(vocab))

        def tensors(digits) -> tuple[torch.Tensor, torch.Tensor]:
            images = digits.images.unsqueeze(1).float() / 255  # (N, 28, 28) uint8 -> (N, 1, 28, 28)
            targets = class_of[digits.labels]  # (N,) digits -> (N,) class indices
            if (targets < 0).any():
                raise DataError(f"{root / valid}: has digits that {root / train} does not; they cannot be classes")
            return images, targets

        if device is None and torch.cuda.is_available():
            device = "cuda"  # as fastai, the GPU when there is one
        dls = cls(
            DataLoader(tensors(train_set), batch_size=bs, shuffle=True, seed=seed, drop_last=True),
            DataLoader(tensors(valid_set), batch_size=bs * 2),  # no gradients: twice the batch fits
            device=device,
        )
        dls.vocab, dls.c = [str(v) for v in vocab], len(vocab)
        return dls

    def __getattr__(self, name: str):
        raise _refuse_missing("DataLoaders", name)


def vision_learner(dls: DataLoaders, arch: Callable = resnet18, pretrained: bool = True,
                   loss_func: Callable | None = None, metrics=(), n_out: int | None = None,
                   lr: float = 1e-3, **fastai_options) -> Learner:
    """A Learner for `arch` (digitlab's `resnet18`, with fastai's head) on `dls`, from random weights.

    fastai trains with Adam by default; digitlab has SGD, so this uses SGD with momentum 0.9, which
    `fit_one_cycle` moves between 0.95 and 0.85 as fastai does.
    """
    if pretrained:
        raise DigitlabError(
            "vision_learner: no pretrained weights ship with digitlab, which works offline; pass "
            "pretrained=False to train from random weights"
        )
    if fastai_options:
        raise _not_in_book(f"vision_learner option {', '.join(fastai_options)}")
    n_out = n_out if n_out is not None else getattr(dls, "c", None)
    if n_out is None:
        raise DigitlabError("vision_learner: pass n_out (the number of classes) for these DataLoaders")
    return Learner(dls, arch(n_out), opt_func=_sgd_momentum, loss_func=loss_func or F.cross_entropy,
                   metrics=metrics, lr=lr)


def _sgd_momentum(params, lr: float) -> SGD:
    return SGD(params, lr, mom=0.9)


cnn_learner = vision_learner  # the book's older name for it
