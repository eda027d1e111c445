"""The four classifiers, in scikit-learn's shape: `make(method, **config).fit(X, y).predict(X)`.

Every classifier: the constructor only stores a typed config dataclass; `fit` returns self and
leaves its learned state in attributes ending in `_` (`classes_`, `model_`, `history_`, ...);
`save` writes a checkpoint that `load` turns back into the same classifier, training state
included, so that `fit(..., resume=True)` continues where the saved run stopped.

Two classes make the book's binary task: linear and simple_net then have one output trained with
the sigmoid `mnist_loss`, the first class (3 of 3-vs-7) being target 1. More classes use softmax
cross-entropy. The CNNs always have one output per class, as the book's vision_learner does.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch
from torch import nn

from digitlab import checkpoint, models, scratch
from digitlab.callbacks import Callback, Divergence, DivergenceGuard
from digitlab.console import progress_bar
from digitlab.deskew import deskewed
from digitlab.errors import DataError, DigitlabError, ModelError
from digitlab.inputs import NORMALISATION, as_images, as_labels
from digitlab.learner import DataLoader, DataLoaders, Learner
from digitlab.metrics import accuracy
from digitlab.optim import SGD, BasicOptim
from digitlab.seeding import seed_epoch, seeded

METHODS = ("pixel", "linear", "simple_net", "cnn")


# ---------------------------------------------------------------------------------------------
# Configs: one dataclass per method, every field with its unit or meaning.
# ---------------------------------------------------------------------------------------------


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise DigitlabError(message)


@dataclass
class PixelConfig:
    distance: str = "l2"  # "l1": mean |x - ideal| (the book's 3-vs-7); "l2": root mean square
    deskew: bool = False  # shear each digit upright first (deskew.py), in fit and predict; the book does not
    temperature: float = 0.01  # predict_proba = softmax(-distance / temperature); distance in [0, 1]

    def __post_init__(self):
        _require(self.distance in ("l1", "l2"), f"distance={self.distance!r}: choose 'l1' or 'l2'")
        _require(self.temperature > 0, f"temperature={self.temperature}: must be > 0")


def _positive(x: float) -> bool:
    """> 0 and finite: lr=inf passed a plain `> 0` and only failed later, as a diverged run."""
    return math.isfinite(x) and x > 0


@dataclass
class LinearConfig:
    epochs: int = 10  # passes over the training images
    lr: float = 1.0  # learning rate of plain SGD (the book's lr=1 for the linear model)
    batch_size: int = 256  # images per step
    shuffle: bool = True  # a new seeded order each epoch (the book's loop did not shuffle)
    trainer: str = "loop"  # "loop": the book's hand loop (scratch.train_epoch + BasicOptim), fast;
    #                        "learner": the same SGD through Learner.fit, with its table
    deskew: bool = False  # shear each digit upright first (deskew.py), in fit and predict; the book does not
    seed: int = 0  # seeds the initial weights and every epoch's shuffle

    def __post_init__(self):
        _require(self.epochs >= 1, f"epochs={self.epochs}: must be at least 1")
        _require(_positive(self.lr), f"lr={self.lr}: the learning rate must be a number > 0")
        _require(self.batch_size >= 1, f"batch_size={self.batch_size}: must be at least 1")
        _require(self.trainer in ("loop", "learner"), f"trainer={self.trainer!r}: choose 'loop' or 'learner'")


@dataclass
class SimpleNetConfig(LinearConfig):
    epochs: int = 40  # the book trains its simple net for 40 epochs
    lr: float = 0.1  # the book's lr for the simple net
    hidden: int | None = None  # hidden units; None: the book's 30 for two classes, 256 for ten


@dataclass
class CNNSettings:
    arch: str = "fast"  # "fast": recipe.py's small 28x28 ResNet; "resnet18": the book's network
    preset: str = "fast"  # arch "fast" only: a recipe name from recipe.PRESETS ("fast", ... "best")
    epochs: int | None = None  # None: the recipe's default (fast), the book's 1 (resnet18)
    lr: float | None = None  # peak one-cycle lr; None: the recipe's default (fast), 0.1 (resnet18)
    batch_size: int | None = None  # None: the recipe's default (fast), fastai's 64 (resnet18)
    seed: int = 0  # seeds the initial weights and every epoch's randomness

    def __post_init__(self):
        _require(self.arch in ("fast", "resnet18"), f"arch={self.arch!r}: choose 'fast' or 'resnet18'")
        _require(self.epochs is None or self.epochs >= 1, f"epochs={self.epochs}: must be at least 1")
        _require(self.lr is None or _positive(self.lr), f"lr={self.lr}: the learning rate must be a number > 0")
        if self.arch == "fast":
            from digitlab import recipe

            recipe.preset(self.preset)  # an unknown name fails here, listing the known ones


# ---------------------------------------------------------------------------------------------
# The shared shape
# ---------------------------------------------------------------------------------------------


class Classifier:
    method: str = ""
    Config: type = object

    def __init__(self, config=None, **options):
        if config is None:
            names = {f.name for f in dataclasses.fields(self.Config)}
            unknown = sorted(set(options) - names)
            _require(not unknown, f"unknown option(s) {', '.join(unknown)} for {self.method}; "
                                  f"its options are {', '.join(sorted(names))}")
            config = self.Config(**options)
        self.config = config

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config})"

    # -- what every method shares -------------------------------------------------------------
    def _images(self, X) -> torch.Tensor:
        """(N, 28, 28) float in [0, 1] as this classifier sees them: deskewed when its config says so."""
        X = as_images(X)
        return deskewed(X) if getattr(self.config, "deskew", False) else X

    def _start(self, X, y, valid) -> tuple[torch.Tensor, torch.Tensor, tuple | None]:
        X = self._images(X)
        y = as_labels(y, len(X))
        classes = torch.unique(y)  # sorted
        if len(classes) < 2:
            raise DataError(f"the training labels hold {len(classes)} class(es); give at least two digits")
        self.classes_ = classes
        self.data_ = {"n_train": len(X), "n_valid": 0}
        if valid is not None:
            Xv = self._images(valid[0])
            valid = (Xv, as_labels(valid[1], len(Xv)))
            self.data_["n_valid"] = len(Xv)
        return X, y, valid

    def _index(self, y: torch.Tensor) -> torch.Tensor:
        """Digits -> positions in classes_ (3, 7 -> 0, 1)."""
        unknown = ~torch.isin(y, self.classes_)
        if unknown.any():
            raise DataError(f"labels {torch.unique(y[unknown]).tolist()} were not among the training "
                            f"classes {self.classes_.tolist()}")
        return torch.searchsorted(self.classes_, y.contiguous())

    def planned_epochs(self, device="cpu") -> int | None:
        """How many epochs fit trains in all on `device` (None for a method with nothing to train)."""
        return getattr(self.config, "epochs", None)

    def _fitted(self) -> None:
        if not hasattr(self, "classes_"):
            raise ModelError(f"this {self.method} classifier is not trained yet; call fit first")

    def predict_proba(self, X) -> torch.Tensor:
        raise NotImplementedError

    def predict(self, X) -> torch.Tensor:
        best = self.predict_proba(X).argmax(dim=1)  # (N, C) -> (N,) column index
        return self.classes_[best]

    def score(self, X, y) -> float:
        predicted = self.predict(X)
        return (predicted == as_labels(y, len(predicted))).float().mean().item()

    def _record(self, row: dict, epoch_end: Callable | None) -> None:
        self.history_.append(row)
        if epoch_end is not None:
            epoch_end(self, row)

    # -- checkpoints --------------------------------------------------------------------------
    def _tensors(self) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def _restore(self, tensors: dict[str, torch.Tensor], saved: dict) -> None:
        raise NotImplementedError

    def save(self, directory) -> None:
        self._fitted()
        state = getattr(self, "state_", {"epoch": -1})
        json_state, state_tensors = _split_state(state.get("optimizer", {}), "optimizer")
        last = self.history_[-1] if self.history_ else {}
        checkpoint.save(directory, {**self._tensors(), **state_tensors}, {
            "method": self.method,
            "classes": self.classes_.tolist(),
            "config": dataclasses.asdict(self.config),
            "normalisation": NORMALISATION,
            "data": self.data_,
            "accuracy": last.get("accuracy"),
            "history": self.history_,
            "training": {"epoch": state["epoch"], "optimizer": json_state},
            **self._more_config(),
        })

    def _more_config(self) -> dict:
        """Anything else a method needs to rebuild itself exactly; saved beside "config"."""
        return {}


def _split_state(obj, prefix: str):
    """Split nested dicts/lists holding tensors into (JSON-able tree, {key: tensor}).

    Dicts become {"dict": [[key, value], ...]} so that integer keys (as in torch optimisers' state)
    come back as integers.
    """
    tensors: dict[str, torch.Tensor] = {}

    def walk(o, path):
        if isinstance(o, torch.Tensor):
            tensors[path] = o
            return {"tensor": path}
        if isinstance(o, dict):
            return {"dict": [[k, walk(v, f"{path}.{k}")] for k, v in o.items()]}
        if isinstance(o, (list, tuple)):
            return {"list": [walk(v, f"{path}.{i}") for i, v in enumerate(o)]}
        return {"value": o}

    return walk(obj, prefix), tensors


def _join_state(tree, tensors: dict[str, torch.Tensor]):
    if "tensor" in tree:
        return tensors[tree["tensor"]]
    if "dict" in tree:
        return {k: _join_state(v, tensors) for k, v in tree["dict"]}
    if "list" in tree:
        return [_join_state(v, tensors) for v in tree["list"]]
    return tree["value"]


# ---------------------------------------------------------------------------------------------
# pixel: distance to each class's mean ("ideal") digit
# ---------------------------------------------------------------------------------------------


class PixelSimilarity(Classifier):
    method, Config = "pixel", PixelConfig

    def fit(self, X, y, valid=None, epoch_end=None, resume=False, device="cpu", progress=True):
        start = time.perf_counter()
        X, y, valid = self._start(X, y, valid)
        idx = self._index(y)
        # The book's ideal 3 is `stacked_threes.mean(0)`: the same mean, one class at a time.
        self.means_ = torch.stack([X[idx == c].mean(dim=0) for c in range(len(self.classes_))])
        self.history_, self.state_ = [], {"epoch": 0}
        self._record({"epoch": 0, "train_loss": None, "valid_loss": None,
                      "accuracy": self.score(*valid) if valid is not None else None,
                      "seconds": time.perf_counter() - start}, epoch_end)
        return self

    def distances(self, X) -> torch.Tensor:
        """(N, C) distance of each image to each class's ideal digit, in pixel units [0, 1]."""
        self._fitted()
        X = self._images(X).reshape(-1, 28 * 28)  # (N, 784)
        means = self.means_.reshape(-1, 28 * 28)  # (C, 784)
        if self.config.distance == "l2":
            # ||x - m||^2 = ||x||^2 - 2 x.m + ||m||^2: one (N, 784) @ (784, C) matmul for all pairs.
            sq = (X * X).sum(1, keepdim=True) - 2 * X @ means.T + (means * means).sum(1)  # (N, C)
            return (sq.clamp_min(0) / (28 * 28)).sqrt()
        # L1 has no matmul trick; cdist sums |x - m| without building the (N, C, 784) differences.
        return torch.cdist(X, means, p=1) / (28 * 28)

    def predict_proba(self, X) -> torch.Tensor:
        return torch.softmax(-self.distances(X) / self.config.temperature, dim=1)

    def predict(self, X) -> torch.Tensor:
        if self.config.distance == "l1":
            return super().predict(X)
        self._fitted()
        X = torch.as_tensor(X)
        if X.dtype == torch.uint8 and X.shape[1:] == (28, 28) and not self.config.deskew:
            x, scale = X.reshape(-1, 28 * 28).float(), 1 / 255  # folding /255 into the weights saves a pass
        else:
            x, scale = self._images(X).reshape(-1, 28 * 28), 1.0
        means = self.means_.reshape(-1, 28 * 28)  # (C, 784)
        # argmin_c ||x - m_c||^2 = argmax_c (2 x.m_c - ||m_c||^2): ||x||^2 is the same for every
        # class, so one (N, 784) @ (784, C) matmul plus a bias decides.
        scores = torch.addmm(-(means * means).sum(1), x, means.T * (2 * scale))  # (N, C)
        return self.classes_[scores.argmax(dim=1)]

    def _tensors(self) -> dict[str, torch.Tensor]:
        return {"means": self.means_}

    def _restore(self, tensors, saved) -> None:
        means = tensors.get("means")
        if means is None or tuple(means.shape) != (len(saved["classes"]), 28, 28):
            raise ModelError("pixel checkpoint: 'means' must be (classes, 28, 28); train it again")
        self.means_ = means


# ---------------------------------------------------------------------------------------------
# linear and simple_net: the book's networks, by its loop or by the Learner
# ---------------------------------------------------------------------------------------------


class _EpochEnd(Callback):
    """Hands each finished Learner epoch to the classifier (history, checkpoint hook)."""

    order = 70

    def __init__(self, on_epoch: Callable):
        self.on_epoch = on_epoch

    def after_epoch(self, learn) -> None:
        train_loss, valid_loss, *metrics = learn.recorder.values[-1]
        self.on_epoch(learn.epoch, train_loss, valid_loss, metrics[0] if metrics else None,
                      learn.recorder.seconds, learn.opt)


def _none_if_nan(value) -> float | None:
    return None if value is None or value != value else float(value)


class _NetClassifier(Classifier):
    """Shared by linear and simple_net: a network, a loss chosen by the task, plain SGD."""

    def _n_out(self) -> int:
        return 1 if len(self.classes_) == 2 else len(self.classes_)

    def _build(self) -> nn.Module:
        raise NotImplementedError

    def _targets(self, y: torch.Tensor) -> torch.Tensor:
        idx = self._index(y)
        # One output: the book's target 1 for the first class (3), 0 for the second (7).
        return (idx == 0).float().unsqueeze(1) if self._n_out() == 1 else idx  # (N, 1) or (N,)

    def _loss(self) -> Callable:
        return scratch.mnist_loss if self._n_out() == 1 else scratch.cross_entropy

    def fit(self, X, y, valid=None, epoch_end=None, resume=False, device="cpu", progress=True):
        cfg = self.config
        if resume:
            self._fitted()
            start_epoch = self.state_["epoch"] + 1
            X, y, valid = self._images(X), as_labels(y, len(X)), valid
        else:
            X, y, valid = self._start(X, y, valid)
            self.model_ = seeded(cfg.seed, self._build)
            self.history_, self.state_, start_epoch = [], {"epoch": -1}, 0
        if valid is not None:
            valid = (self._images(valid[0]), as_labels(valid[1], len(valid[0])))
        self.model_.to(device)
        train = (X.to(device), self._targets(y).to(device))
        dl = DataLoader(train, cfg.batch_size, shuffle=cfg.shuffle, seed=cfg.seed)
        valid_t = (valid[0].to(device), self._targets(valid[1]).to(device)) if valid is not None else None
        opt_state = self.state_.get("optimizer", {})
        if cfg.trainer == "learner":
            self._fit_learner(dl, valid_t, start_epoch, opt_state, epoch_end, progress)
        else:
            self._fit_loop(dl, valid_t, start_epoch, opt_state, epoch_end, progress)
        self.model_.to("cpu").eval()
        return self

    def _on_epoch(self, epoch, train_loss, valid_loss, acc, seconds, opt, epoch_end) -> None:
        self.state_ = {"epoch": epoch, "optimizer": opt.state_dict()}
        self._record({"epoch": epoch, "train_loss": _none_if_nan(train_loss),
                      "valid_loss": _none_if_nan(valid_loss), "accuracy": _none_if_nan(acc),
                      "seconds": seconds}, epoch_end)

    @torch.no_grad()
    def _validate(self, valid) -> tuple[float | None, float | None]:
        if valid is None:
            return None, None
        self.model_.eval()
        out = self.model_(valid[0])
        return float(self._loss()(out, valid[1])), float(accuracy(out, valid[1]))

    def _fit_loop(self, dl, valid, start_epoch, opt_state, epoch_end, progress) -> None:
        """The book's loop: scratch.train_epoch with BasicOptim, then validate, once per epoch."""
        opt = BasicOptim(self.model_.parameters(), self.config.lr)
        opt.load_state_dict(opt_state)
        watch = Divergence(self.config.lr)
        with progress_bar() as bar:
            task = bar.add_task(f"{self.method} epochs", total=self.config.epochs, completed=start_epoch,
                                visible=progress)
            for epoch in range(start_epoch, self.config.epochs):
                started = time.perf_counter()
                dl.set_epoch(epoch)
                self.model_.train()
                losses = scratch.train_epoch(self.model_, dl, opt, self._loss())
                for i, loss in enumerate(losses):
                    watch.loss(loss, epoch, i)
                watch.weights(self.model_.parameters(), epoch)  # before epoch_end saves them
                valid_loss, acc = self._validate(valid)
                self._on_epoch(epoch, sum(losses) / len(losses), valid_loss, acc,
                               time.perf_counter() - started, opt, epoch_end)
                bar.advance(task)

    def _fit_learner(self, dl, valid, start_epoch, opt_state, epoch_end, progress) -> None:
        empty = (dl.dataset[0][:0], dl.dataset[1][:0])
        valid_dl = DataLoader(valid if valid is not None else empty, 1024)
        learn = Learner(DataLoaders(dl, valid_dl), self.model_, opt_func=SGD, loss_func=self._loss(),
                        metrics=[accuracy], progress=progress)
        learn.opt = SGD(list(self.model_.parameters()), self.config.lr)
        learn.opt.load_state_dict(opt_state)
        on_epoch = partial(self._on_epoch, epoch_end=epoch_end)
        learn.fit(self.config.epochs, self.config.lr, cbs=[DivergenceGuard(self.config.lr), _EpochEnd(on_epoch)],
                  start_epoch=start_epoch)

    @torch.no_grad()
    def predict_proba(self, X) -> torch.Tensor:
        self._fitted()
        self.model_.eval()
        out = self.model_(self._images(X))  # (N, n_out)
        if self._n_out() == 1:
            p_first = torch.sigmoid(out[:, 0])
            return torch.stack([p_first, 1 - p_first], dim=1)  # columns in classes_ order
        return torch.softmax(out, dim=1)

    def _tensors(self) -> dict[str, torch.Tensor]:
        return {f"model.{k}": v for k, v in self.model_.state_dict().items()}

    def _restore(self, tensors, saved) -> None:
        weights = {k.removeprefix("model."): v for k, v in tensors.items() if k.startswith("model.")}
        with torch.device("meta"):  # shapes only: a config asking for a vast network allocates nothing
            wanted = {k: tuple(v.shape) for k, v in self._build().state_dict().items()}
        held = {k: tuple(v.shape) for k, v in weights.items()}
        if wanted != held:
            name = min(k for k in wanted.keys() | held.keys() if wanted.get(k) != held.get(k))
            raise ModelError(f"checkpoint weights do not fit the {self.method} network config.json "
                             f"describes ({name}: the network has {wanted.get(name, 'none')}, "
                             f"{checkpoint.WEIGHTS} holds {held.get(name, 'none')}); train it again")
        self.model_ = self._build()
        self.model_.load_state_dict(weights, strict=True)
        self.model_.eval()


class LinearClassifier(_NetClassifier):
    method, Config = "linear", LinearConfig

    def _build(self) -> nn.Module:
        return models.linear(self._n_out())


class SimpleNetClassifier(_NetClassifier):
    method, Config = "simple_net", SimpleNetConfig

    def _hidden(self) -> int:
        if self.config.hidden is not None:
            return self.config.hidden
        return 30 if len(self.classes_) == 2 else 256

    def _build(self) -> nn.Module:
        return models.simple_net(self._n_out(), self._hidden())


# ---------------------------------------------------------------------------------------------
# cnn: recipe.py's fast small ResNet, or the book's resnet18 through Learner.fit_one_cycle
# ---------------------------------------------------------------------------------------------


class _SeedEachEpoch(Callback):
    """Seeds torch's generator from (seed, epoch) so dropout in epoch e is the same on a resume."""

    order = -20

    def __init__(self, seed: int):
        self.seed = seed

    def before_epoch(self, learn) -> None:
        seed_epoch(self.seed, learn.epoch)


class CNNClassifier(Classifier):
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
                            cbs=[_SeedEachEpoch(seed), DivergenceGuard(self._setting("lr")), _EpochEnd(on_epoch)])

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
        _NetClassifier._restore(self, tensors, saved)

    _on_epoch = _NetClassifier._on_epoch
    _tensors = _NetClassifier._tensors


# ---------------------------------------------------------------------------------------------
# By name
# ---------------------------------------------------------------------------------------------

CLASSES = {c.method: c for c in (PixelSimilarity, LinearClassifier, SimpleNetClassifier, CNNClassifier)}


def make(method: str, **options) -> Classifier:
    """A new, untrained classifier: make("linear", epochs=10, lr=1.0, seed=0)."""
    if method not in CLASSES:
        raise DigitlabError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    return CLASSES[method](**options)


def load(directory) -> Classifier:
    """Any classifier that `save` wrote, rebuilt from its config, weights and training state."""
    tensors, saved = checkpoint.load(directory)
    method = saved["method"]
    if method not in CLASSES:
        raise ModelError(f"{directory}: unknown method {method!r} in config.json; it was not saved by "
                         "this version of digitlab")
    cls = CLASSES[method]
    try:
        clf = cls(cls.Config(**saved["config"]))
        clf.classes_ = torch.tensor(saved["classes"], dtype=torch.int64)
    except (TypeError, ValueError, DigitlabError) as err:
        raise ModelError(f"{directory}: invalid config.json ({err}); train the model again") from None
    if len(clf.classes_) < 2:
        raise ModelError(f"{directory}: config.json lists fewer than two classes; train the model again")
    training = saved.get("training") or {}
    state_tensors = {k: v for k, v in tensors.items() if k.startswith("optimizer")}
    try:
        optimizer = _join_state(training.get("optimizer", {"dict": []}), state_tensors)
    except (KeyError, TypeError) as err:
        raise ModelError(f"{directory}: the training state in config.json is damaged ({err})") from None
    clf.state_ = {"epoch": int(training.get("epoch", -1)), "optimizer": optimizer}
    clf.history_ = list(saved.get("history") or [])
    clf.data_ = dict(saved.get("data") or {})
    try:
        clf._restore({k: v for k, v in tensors.items() if not k.startswith("optimizer")}, saved)
    except ModelError as err:
        raise ModelError(f"{directory}: {err}") from None
    return clf
