"""resnet18: the book's network (fastai's vision_learner on resnet18, from random weights), trained
by `Learner.fit_one_cycle` as the book trains it: `make("resnet18")` is its
`learn.fit_one_cycle(1, 0.1)`. Not one of the four METHODS that `compare` runs (an epoch of MNIST
takes minutes on a CPU); examples/reproduce_book.py uses it.
"""

from __future__ import annotations

from functools import partial

import torch
from torch import nn

from digitlab.classifiers import networks
from digitlab.classifiers.configs import ResNet18Config
from digitlab.classifiers.inputs import as_images, as_labels
from digitlab.classifiers.network_classifier import NetworkClassifier
from digitlab.metrics import accuracy
from digitlab.train.callbacks import Callback, DivergenceGuard, EpochEnd
from digitlab.train.devices import batched
from digitlab.train.learner import DataLoader, DataLoaders, Learner
from digitlab.train.optim import SGD
from digitlab.train.seeding import seed_epoch, seeded


class _SeedEachEpoch(Callback):
    """Seeds torch's generator from (seed, epoch) so dropout in epoch e is the same on a resume."""

    order = -20

    def __init__(self, seed: int):
        self.seed = seed

    def before_epoch(self, learn) -> None:
        seed_epoch(self.seed, learn.epoch)


class ResNet18Classifier(NetworkClassifier):
    method, Config = "resnet18", ResNet18Config

    def _build(self) -> nn.Module:
        return networks.resnet18(len(self.classes_))

    def fit(self, X, y, valid=None, epoch_end=None, resume=False, device="cpu", progress=True):
        cfg = self.config
        if resume:
            self._fitted()
            X, y = as_images(X), as_labels(y, len(X))
            start_epoch, opt_state = self.state_["epoch"] + 1, self.state_.get("optimizer") or {}
        else:
            X, y, valid = self._start(X, y, valid)
            self.model_ = seeded(cfg.seed, self._build)
            self.history_, self.state_, start_epoch, opt_state = [], {"epoch": -1}, 0, {}
        train = (X, self._index(y))
        if valid is not None:
            Xv = as_images(valid[0])
            valid = (Xv, self._index(as_labels(valid[1], len(Xv))))
        dl = DataLoader(train, cfg.batch_size, shuffle=True, seed=cfg.seed, device=device)
        empty = (train[0][:0], train[1][:0])
        valid_dl = DataLoader(valid if valid is not None else empty, 512, device=device)
        learn = Learner(DataLoaders(dl, valid_dl), self.model_,
                        opt_func=partial(SGD, mom=cfg.momentum, wd=cfg.weight_decay),  # configs.ResNet18Config says why
                        loss_func=nn.functional.cross_entropy, metrics=[accuracy], progress=progress)
        on_epoch = partial(self._on_epoch, epoch_end=epoch_end)
        with torch.random.fork_rng(devices=[]):
            learn.fit_one_cycle(cfg.epochs, cfg.lr, start_epoch=start_epoch, opt_state=opt_state,
                                cbs=[_SeedEachEpoch(cfg.seed), DivergenceGuard(cfg.lr), EpochEnd(on_epoch)])
        self.model_.to("cpu").eval()
        return self

    @torch.no_grad()
    def logits(self, X, device="cpu") -> torch.Tensor:
        """(N, classes) raw scores."""
        self._fitted()
        self.model_.to(device).eval()
        out = batched(lambda xb: self.model_(xb).cpu(), as_images(X), 1024, device)
        self.model_.to("cpu")
        return out
