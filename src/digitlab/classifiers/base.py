"""What every classifier shares: the constructor that stores a typed config, the checks of X and y,
`predict_proba` from each method's raw scores (`logits`) and the temperature `calibrate` fitted,
`predict` and `score` from it, the history, and `save`.

scikit-learn's convention: the constructor only stores its config; `fit` returns self and leaves
its learned state in attributes ending in `_` (`classes_`, `model_`, `history_`, ...); `save`
writes a checkpoint that `classifiers.load` turns back into the same classifier, training state
included, so that `fit(..., resume=True)` continues where the saved run stopped.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import torch

from digitlab import metrics
from digitlab.classifiers.inputs import NORMALISATION, as_images, as_labels, as_pixels
from digitlab.classifiers.state import split_state
from digitlab.errors import DataError, DigitlabError, ModelError
from digitlab.store import checkpoint
from digitlab.store.card import Card
from digitlab.train import clutter
from digitlab.trust import calibration
from digitlab.vision.deskew import deskewed
from digitlab.vision.input_cleaning import CHUNK as CLEANING_CHUNK, cleaned


def require(ok: bool, message: str) -> None:
    """A config's check: a setting out of range is the user's DigitlabError, naming it."""
    if not ok:
        raise DigitlabError(message)


class Classifier:
    method: str = ""
    Config: type = object
    # Learned by `calibrate` (and cleared by training): probabilities are softmax(logits / temperature_).
    # Until then, and for a checkpoint saved before calibration existed, the model's own (T = 1).
    temperature_: float = 1.0
    calibration_: dict | None = None  # {"temperature", "images", "ece_before", "ece_after"}

    def __init__(self, config=None, **options):
        self.config = config if config is not None else self.configure(**options)
        self._check_config()

    def _check_config(self) -> None:
        """The config's own checks again (store/spec.py: the same specs `load` holds a saved config to),
        for a config changed after it was made: a model that trains is a model that loads."""
        check = getattr(self.config, "__post_init__", None)
        if check is not None:
            check()

    @classmethod
    def options(cls) -> set[str]:
        """The names `make(method, **options)` takes: its config's fields."""
        return {f.name for f in dataclasses.fields(cls.Config)}

    @classmethod
    def configure(cls, **options):
        """The config `make(method, **options)` stores: the Config's defaults, with each option given
        in their place. The one way a setting is overridden (the `train` and `compare` commands and a
        resumed run's `compare.with_overrides` all go through it or `dataclasses.replace`)."""
        cls._refuse_unknown(options)
        return cls.Config(**options)

    @classmethod
    def _refuse_unknown(cls, options) -> None:
        unknown = sorted(set(options) - cls.options())
        require(not unknown, f"unknown option(s) {', '.join(unknown)} for {cls.method}; "
                             f"its options are {', '.join(sorted(cls.options()))}")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config})"

    # -- what every method shares -------------------------------------------------------------
    def _images(self, X) -> torch.Tensor:
        """(N, 28, 28) float in [0, 1] as this classifier sees them: cleaned (input_cleaning: noise
        removed, the background black), then deskewed (and stretched) when its config says so.

        Prepared CLEANING_CHUNK images at a time into the one float tensor returned: on the whole set at
        once, its float copy, its cleaned copy and deskewing's (N, 28, 28) temporaries were alive together,
        172 MB each for MNIST's 55,000 fit digits, and made `digitlab compare`'s peak (1,784 MB; about
        800 MB a chunk at a time: benchmarks/RESULTS.md, "Memory"). Every step reads one image at a time,
        so the chunks give the very same pixels (bit for bit on MNIST, the stress and corruption sets)."""
        X = as_pixels(X)
        deskew, stretch = getattr(self.config, "deskew", False), getattr(self.config, "stretch", False)
        out = torch.empty(X.shape, dtype=torch.float32, device=X.device)
        for start in range(0, len(X), CLEANING_CHUNK):
            part = cleaned(as_images(X[start:start + CLEANING_CHUNK]))  # (<= CLEANING_CHUNK, 28, 28)
            out[start:start + CLEANING_CHUNK] = deskewed(part, stretched=stretch) if deskew else part
        return out

    def _with_copies(self, X, y) -> tuple:
        """The fit digits, then the cluttered copies the config asks for (its `lines`, `smear`, `turn`,
        `outline` shares: clutter.with_copies, drawn with its `seed`), before cleaning and deskewing, as
        damage reaches a digit. linear, simple_net and pixel call it in fit; the cnn draws its clutter
        every epoch instead (augment.py). No share above 0: X and y as they came, untouched."""
        shares = self._copy_shares()
        if not any(shares.values()):
            return X, y
        X = as_images(X)  # (N, 28, 28) float in [0, 1], what the damage draws on
        return clutter.with_copies(X, as_labels(y, len(X)), shares, self.config.seed)

    def _copy_shares(self) -> dict[str, float]:
        """The config's share of each kind of cluttered copy (clutter.COPIES), 0 where it has none."""
        return {name: getattr(self.config, name, 0.0) for name in clutter.COPIES}

    def _start(self, X, y, valid, copies: int = 0) -> tuple[torch.Tensor, torch.Tensor, tuple | None]:
        """X, y and valid prepared, classes_ and data_ set. `copies`: how many of X's last images are
        the config's cluttered copies (_with_copies), counted apart in data_ so that a model card says
        "55,000 training images and 38,302 damaged copies", not "93,302 training images"."""
        self._check_config()  # again: a config can be replaced after construction (service.with_overrides)
        X = self._images(X)
        y = as_labels(y, len(X))
        classes = torch.unique(y)  # sorted
        if len(classes) < 2:
            raise DataError(f"the training labels hold {len(classes)} class(es); give at least two digits")
        self.classes_ = classes
        self.data_ = {"n_train": len(X) - copies, "n_valid": 0, **({"n_copies": copies} if copies else {})}
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

    def planned_epochs(self) -> int | None:
        """How many epochs fit trains in all (None for a method with nothing to train)."""
        return getattr(self.config, "epochs", None)

    def _fitted(self) -> None:
        if not hasattr(self, "classes_"):
            raise ModelError(f"this {self.method} classifier is not trained yet; call fit first")

    def logits(self, X) -> torch.Tensor:
        """(N, C) raw scores, one column per class in classes_ order, whose softmax is the model's
        own probabilities; (N, 1) for the book's one-output binary model (sigmoid: the first class)."""
        raise NotImplementedError

    def predict_proba(self, X) -> torch.Tensor:
        """(N, C) calibrated probabilities, columns in classes_ order: softmax(logits / temperature_)."""
        return calibration.probabilities(self.logits(X) / self.temperature_)

    def calibrate(self, X, y) -> Classifier:
        """Fit temperature_ on held-out images (never the test set) by their negative log-likelihood,
        and record it with the calibration error (ECE, metrics.ECE_BINS bins) before and after."""
        self._fitted()
        scores = self.logits(X).double()  # (N, C) or (N, 1)
        right = self._index(as_labels(y, len(scores)))  # (N,) column of each image's digit
        if len(right) == 0:
            raise DataError("calibrate got no images; give it held-out images of the trained digits")
        temperature = calibration.fit_temperature(scores, right)
        before = metrics.expected_calibration_error(calibration.probabilities(scores), right)
        after = metrics.expected_calibration_error(calibration.probabilities(scores / temperature), right)
        self.temperature_ = temperature
        self.calibration_ = {"temperature": temperature, "images": len(right), "ece_before": before,
                             "ece_after": after}
        return self

    def _uncalibrated(self) -> None:
        """Training changed the model: a temperature fitted before no longer fits it."""
        self.temperature_, self.calibration_ = 1.0, None

    def predict(self, X) -> torch.Tensor:
        # From the model's own probabilities (T = 1): a temperature never changes the order of a row's
        # scores, but rounding at a large T could tie two that differ by less than float32 resolves.
        best = calibration.probabilities(self.logits(X)).argmax(dim=1)  # (N, C) -> (N,) column index
        return self.classes_[best]

    def score(self, X, y) -> float:
        predicted = self.predict(X)
        return (predicted == as_labels(y, len(predicted))).float().mean().item()

    def _record(self, row: dict, epoch_end: Callable | None) -> None:
        self._uncalibrated()  # every fit and resumed fit records a row once its model has changed
        self.history_.append(row)
        if epoch_end is not None:
            epoch_end(self, row)

    # -- checkpoints --------------------------------------------------------------------------
    def _tensors(self) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def _restore(self, tensors: dict[str, torch.Tensor], saved: dict) -> None:
        raise NotImplementedError

    def save(self, directory, card: Card | None = None) -> None:
        """The checkpoint folder, its model card (README.md) written in the same save: `card` says what
        the model trained on and the figures measured (none given: a card of what the config holds)."""
        self._fitted()
        state = getattr(self, "state_", {"epoch": -1})
        json_state, state_tensors = split_state(state.get("optimizer", {}), "optimizer")
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
            **({"calibration": self.calibration_} if self.calibration_ is not None else {}),
        }, card=card or Card())
