"""cnn: recipe.py's fast small ResNet, or the book's resnet18 through Learner.fit_one_cycle. Always one
output per class, as the book's vision_learner has."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import partial

import torch
from torch import nn

from digitlab import models
from digitlab.callbacks import Callback, Divergence, DivergenceGuard
from digitlab.classifiers.base import positive, require
from digitlab.classifiers.network import EpochEnd, NetworkClassifier
from digitlab.errors import DigitlabError, ModelError
from digitlab.inputs import as_images, as_labels
from digitlab.learner import DataLoader, DataLoaders, Learner
from digitlab.metrics import accuracy
from digitlab.optim import SGD
from digitlab.seeding import seed_epoch, seeded


@dataclass
class CNNSettings:
    arch: str = "fast"  # "fast": recipe.py's small 28x28 ResNet; "resnet18": the book's network
    preset: str = "fast"  # arch "fast" only: a recipe name from recipe.PRESETS ("fast", ... "best")
    epochs: int | None = None  # None: the recipe's default (fast), the book's 1 (resnet18)
    lr: float | None = None  # peak one-cycle lr; None: the recipe's default (fast), 0.1 (resnet18)
    batch_size: int | None = None  # None: the recipe's default (fast), fastai's 64 (resnet18)
    seed: int = 0  # seeds the initial weights and every epoch's randomness

    def __post_init__(self):
        require(self.arch in ("fast", "resnet18"), f"arch={self.arch!r}: choose 'fast' or 'resnet18'")
        require(self.epochs is None or self.epochs >= 1, f"epochs={self.epochs}: must be at least 1")
        require(self.lr is None or positive(self.lr), f"lr={self.lr}: the learning rate must be a number > 0")
        if self.arch == "fast":
            from digitlab import recipe

            recipe.preset(self.preset)  # an unknown name fails here, listing the known ones


class _SeedEachEpoch(Callback):
    """Seeds torch's generator from (seed, epoch) so dropout in epoch e is the same on a resume."""

    order = -20

    def __init__(self, seed: int):
        self.seed = seed

    def before_epoch(self, learn) -> None:
        seed_epoch(self.seed, learn.epoch)


class CNNClassifier(NetworkClassifier):
    method, Config = "cnn", CNNSettings
    RESNET18_DEFAULTS = {"epochs": 1, "lr": 0.1, "batch_size": 64}  # the book's fit_one_cycle(1, 0.1)

    def _setting(self, name: str):
        value = getattr(self.config, name)
        return value if value is not None else self.RESNET18_DEFAULTS[name]

    def planned_epochs(self, device="cpu") -> int:
        return self._recipe_config(device).epochs if self.config.arch == "fast" else self._setting("epochs")

    def _recipe_config(self, device="cpu"):
        """The recipe this model trains with: the one it was first trained with (recipe_, which the
        checkpoint stores, so a preset changed later cannot change a saved model), else its preset
        for `device`; with the epochs, lr or batch size its config sets (a resumed run may ask for
        more epochs)."""
        from digitlab import recipe

        given = {k: getattr(self.config, k) for k in ("epochs", "lr", "batch_size")}
        changes = {k: v for k, v in given.items() if v is not None}
        if getattr(self, "recipe_", None) is not None:
            return dataclasses.replace(self.recipe_, seed=self.config.seed, **changes)
        return recipe.preset(self.config.preset, device, seed=self.config.seed, **changes)

    def _more_config(self) -> dict:
        return {"recipe": dataclasses.asdict(self._recipe_config())} if self.config.arch == "fast" else {}

    def _build(self) -> nn.Module:
        if self.config.arch == "fast":
            from digitlab import recipe

            return recipe.build(self._recipe_config(), len(self.classes_))
        return models.resnet18(len(self.classes_))

    def fit(self, X, y, valid=None, epoch_end=None, resume=False, device="cpu", progress=True):
        if resume:
            self._fitted()
            X, y = as_images(X), as_labels(y, len(X))
            start_epoch, opt_state = self.state_["epoch"] + 1, self.state_.get("optimizer") or None
        else:
            X, y, valid = self._start(X, y, valid)
            self.recipe_ = None
            if self.config.arch == "fast":
                self.recipe_ = self._recipe_config(device)  # the preset as it is now, kept with the model
            self.model_ = seeded(self.config.seed, self._build)
            self.history_, self.state_, start_epoch, opt_state = [], {"epoch": -1}, 0, None
        if valid is not None:
            Xv = as_images(valid[0])
            valid = (Xv, self._index(as_labels(valid[1], len(Xv))))
        train = (X, self._index(y))
        with torch.random.fork_rng(devices=[]):
            if self.config.arch == "fast":
                self._fit_recipe(train, valid, start_epoch, opt_state, epoch_end, device, progress)
            else:
                self._fit_resnet18(train, valid, start_epoch, opt_state, epoch_end, device, progress)
        self.model_.to("cpu").eval()
        return self

    def _fit_recipe(self, train, valid, start_epoch, opt_state, epoch_end, device, progress) -> None:
        from digitlab import recipe

        watch = Divergence(self._recipe_config().lr)

        def on_epoch(epoch: int, row: dict, state: dict) -> None:
            watch.weights(self.model_.parameters(), epoch)  # before epoch_end saves them
            self.state_ = {"epoch": epoch, "optimizer": state}
            row = {"epoch": epoch, "train_loss": None, "valid_loss": None, "accuracy": None,
                   "seconds": None, **row}
            self._record(row, epoch_end)

        recipe.fit(self.model_, self._recipe_config(), *train, valid=valid, device=device,
                   start_epoch=start_epoch, state=opt_state, epoch_end=on_epoch, progress=progress)

    def _fit_resnet18(self, train, valid, start_epoch, opt_state, epoch_end, device, progress) -> None:
        seed = self.config.seed
        dl = DataLoader(train, self._setting("batch_size"), shuffle=True, seed=seed, device=device)
        empty = (train[0][:0], train[1][:0])
        valid_dl = DataLoader(valid if valid is not None else empty, 512, device=device)
        # SGD with momentum (which the one-cycle schedule moves between 0.95 and 0.85) and fastai's
        # default decoupled weight decay of 0.01.
        opt_func = partial(SGD, mom=0.9, wd=0.01)
        learn = Learner(DataLoaders(dl, valid_dl), self.model_, opt_func=opt_func,
                        loss_func=nn.functional.cross_entropy, metrics=[accuracy], progress=progress)
        learn.opt = opt_func(list(self.model_.parameters()), self._setting("lr"))
        learn.opt.load_state_dict(opt_state or {})
        on_epoch = partial(self._on_epoch, epoch_end=epoch_end)
        learn.fit_one_cycle(self._setting("epochs"), self._setting("lr"), start_epoch=start_epoch,
                            cbs=[_SeedEachEpoch(seed), DivergenceGuard(self._setting("lr")), EpochEnd(on_epoch)])

    @torch.no_grad()
    def logits(self, X, device="cpu") -> torch.Tensor:
        """(N, classes) raw scores."""
        self._fitted()
        X = as_images(X)
        if self.config.arch == "fast":
            from digitlab import recipe

            return recipe.predict_logits(self.model_, X, device=device).cpu()
        self.model_.to(device).eval()
        out = torch.cat([self.model_(chunk.to(device)).cpu() for chunk in X.split(1024)])
        self.model_.to("cpu")
        return out

    def predict_proba(self, X) -> torch.Tensor:
        return torch.softmax(self.logits(X), dim=1)

    def _restore(self, tensors, saved) -> None:
        self.recipe_ = None
        if self.config.arch == "fast" and "recipe" in saved:  # an older checkpoint lacks it: it follows its preset
            from digitlab import recipe

            try:
                self.recipe_ = recipe.CNNConfig(**saved["recipe"])
            except (TypeError, DigitlabError) as err:
                raise ModelError(f"the recipe in config.json is damaged ({err}); train the model again") from None
        super()._restore(tensors, saved)

