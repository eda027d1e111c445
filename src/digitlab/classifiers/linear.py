"""linear: the book's linear model (one weight per pixel and class, and a bias), and the training
it shares with simple_net: plain SGD through Learner.fit, in two forms (`trainer`): "loop", the
book's loop's arithmetic and figures (BasicOptim, the epoch's mean loss, validation in one batch;
tests/test_learner.py checks it against scratch.train_epoch), or "learner" (fastai's SGD, the
smoothed loss, its table).

Two classes make the book's binary task: one output trained with the sigmoid `mnist_loss`, the
first class (3 of 3-vs-7) being target 1. More classes: one output each, softmax cross-entropy.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch
from torch import nn

from digitlab.classifiers import networks
from digitlab.classifiers.configs import LinearConfig
from digitlab.classifiers.inputs import as_labels
from digitlab.classifiers.network_classifier import NetworkClassifier
from digitlab.metrics import accuracy
from digitlab.train import scratch
from digitlab.train.callbacks import DivergenceGuard, EpochEnd
from digitlab.train.recorders import MeanLossRecorder, ProgressCallback
from digitlab.train.learner import DataLoader, DataLoaders, Learner
from digitlab.train.optim import SGD, BasicOptim
from digitlab.train.seeding import seeded


class BookNetwork(NetworkClassifier):
    """Shared by linear and simple_net: a network, a loss chosen by the task, plain SGD through the
    Learner in the book loop's form or fastai's (`trainer`)."""

    def _n_out(self) -> int:
        return 1 if len(self.classes_) == 2 else len(self.classes_)

    def _targets(self, y: torch.Tensor) -> torch.Tensor:
        idx = self._index(y)
        # One output: the book's target 1 for the first class (3), 0 for the second (7).
        return (idx == 0).float().unsqueeze(1) if self._n_out() == 1 else idx  # (N, 1) or (N,)

    def _loss(self) -> Callable:
        return scratch.mnist_loss if self._n_out() == 1 else scratch.cross_entropy

    def fit(self, X, y, valid=None, epoch_end=None, resume=False, device="cpu", progress=True):
        cfg = self.config
        clean = len(X)
        X, y = self._with_copies(X, y)
        if resume:
            self._fitted()
            start_epoch = self.state_["epoch"] + 1
            X, y = self._images(X), as_labels(y, len(X))
            if valid is not None:
                valid = (self._images(valid[0]), as_labels(valid[1], len(valid[0])))
        else:
            # _start prepares the validation images once: prepared twice (deskewed and stretched again),
            # the history's accuracy was another figure than evaluate's on the same digits (94.1
            # against 95.93 % for compare's ten-digit linear model).
            X, y, valid = self._start(X, y, valid, copies=len(X) - clean)
            self.model_ = seeded(cfg.seed, self._build)
            self.history_, self.state_, start_epoch = [], {"epoch": -1}, 0
        self.model_.to(device)
        train = (X.to(device), self._targets(y).to(device))
        dl = DataLoader(train, cfg.batch_size, shuffle=cfg.shuffle, seed=cfg.seed)
        valid_t = (valid[0].to(device), self._targets(valid[1]).to(device)) if valid is not None else None
        self._fit_learner(dl, valid_t, start_epoch, self.state_.get("optimizer", {}), epoch_end, progress, device)
        self.model_.to("cpu").eval()
        return self

    def _fit_learner(self, dl, valid, start_epoch, opt_state, epoch_end, progress, device) -> None:
        book = self.config.trainer == "loop"
        empty = (dl.dataset[0][:0], dl.dataset[1][:0])
        valid = valid if valid is not None else empty
        # The book's loop scored the validation set in one batch; the Learner's table in 1024s.
        valid_dl = DataLoader(valid, max(1, len(valid[0])) if book else 1024)
        learn = Learner(DataLoaders(dl, valid_dl, device=device), self.model_, opt_func=BasicOptim if book else SGD,
                        loss_func=self._loss(), metrics=[accuracy],
                        progress=progress and (ProgressCallback(table=False) if book else True),
                        recorder=MeanLossRecorder() if book else None)
        on_epoch = partial(self._on_epoch, epoch_end=epoch_end)
        learn.fit(self.config.epochs, self.config.lr, start_epoch=start_epoch, opt_state=opt_state,
                  cbs=[DivergenceGuard(self.config.lr), EpochEnd(on_epoch)])

    @torch.no_grad()
    def logits(self, X) -> torch.Tensor:
        """(N, n_out) the network's outputs: (N, 1) for two classes (positive: the first), else (N, C)."""
        self._fitted()
        self.model_.eval()
        return self.model_(self._images(X))


class LinearClassifier(BookNetwork):
    method, Config = "linear", LinearConfig

    def _build(self) -> nn.Module:
        return networks.linear(self._n_out())
