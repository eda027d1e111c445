"""What the networks share (linear, simple_net, the cnn, resnet18): weights saved as `model.*`
tensors and checked against the network config.json describes before loading, and `_on_epoch`,
what each epoch the Learner's `EpochEnd` hands over becomes (a history row, the resume state).
"""

from __future__ import annotations

import torch
from torch import nn

from digitlab.classifiers.base import Classifier
from digitlab.errors import ModelError
from digitlab.store import checkpoint


class NetworkClassifier(Classifier):
    """A classifier whose learned state is one torch network, `model_`, built by `_build`."""

    def _build(self) -> nn.Module:
        raise NotImplementedError

    def _on_epoch(self, epoch: int, row: dict, state: dict, epoch_end=None) -> None:
        """An epoch done (callbacks.EpochEnd): its row into the history, its state kept for a resume,
        then the caller's epoch_end (which may save a checkpoint)."""
        self.state_ = {"epoch": epoch, "optimizer": state["optimizer"]}
        self._record(row, epoch_end)

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
