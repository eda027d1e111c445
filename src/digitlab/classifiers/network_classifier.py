"""What the networks share (linear, simple_net, the cnn, resnet18): weights saved as `model.*`
tensors and checked against the network config.json describes before loading, and one history
row per epoch from the Learner's numbers.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from digitlab.classifiers.base import Classifier
from digitlab.errors import ModelError
from digitlab.store import checkpoint
from digitlab.train.callbacks import Callback


class EpochEnd(Callback):
    """Hands each finished Learner epoch to the classifier (history, checkpoint hook)."""

    order = 70

    def __init__(self, on_epoch: Callable):
        self.on_epoch = on_epoch

    def after_epoch(self, learn) -> None:
        train_loss, valid_loss, *metrics = learn.recorder.values[-1]
        self.on_epoch(learn.epoch, train_loss, valid_loss, metrics[0] if metrics else None,
                      learn.recorder.seconds, learn.opt)


def none_if_nan(value) -> float | None:
    return None if value is None or value != value else float(value)


class NetworkClassifier(Classifier):
    """A classifier whose learned state is one torch network, `model_`, built by `_build`."""

    def _build(self) -> nn.Module:
        raise NotImplementedError

    def _on_epoch(self, epoch, train_loss, valid_loss, acc, seconds, opt, epoch_end) -> None:
        self.state_ = {"epoch": epoch, "optimizer": opt.state_dict()}
        self._record({"epoch": epoch, "train_loss": none_if_nan(train_loss),
                      "valid_loss": none_if_nan(valid_loss), "accuracy": none_if_nan(acc),
                      "seconds": seconds}, epoch_end)

    def _tensors(self) -> dict[str, torch.Tensor]:
        return {f"model.{k}": v for k, v in self.model_.state_dict().items()}

    def _restore(self, tensors, saved) -> None:
        weights = {k.removeprefix("model."): v for k, v in tensors.items() if k.startswith("model.")}
        with torch.device("meta"):  # shapes only: a config asking for a vast network allocates nothing
            built = self._build().state_dict()
        wanted = {k: tuple(v.shape) for k, v in built.items()}
        held = {k: tuple(v.shape) for k, v in weights.items()}
        if wanted != held:
            name = min(k for k in wanted.keys() | held.keys() if wanted.get(k) != held.get(k))
            raise ModelError(f"checkpoint weights do not fit the {self.method} network config.json "
                             f"describes ({name}: the network has {wanted.get(name, 'none')}, "
                             f"{checkpoint.WEIGHTS} holds {held.get(name, 'none')}); train it again")
        # load_state_dict would cast quietly: a float64 or integer weight means a file not saved by digitlab.
        retyped = sorted(k for k, v in weights.items() if v.dtype != built[k].dtype)
        if retyped:
            name = retyped[0]
            raise ModelError(f"checkpoint weight {name} is {weights[name].dtype}, but the {self.method} network "
                             f"keeps it as {built[name].dtype}; the checkpoint is damaged, train it again")
        self.model_ = self._build()
        self.model_.load_state_dict(weights, strict=True)
        self.model_.eval()
