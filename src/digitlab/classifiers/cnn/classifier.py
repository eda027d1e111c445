"""cnn: network.py's small ResNet for 28 x 28 digits, one output per class (as the book's
vision_learner has), trained by `training.fit`.

Its one config is `CNNConfig` (config.py), and the checkpoint stores exactly that: a saved model
never follows a preset changed later. `make("cnn", preset="medium", device="cuda", epochs=6)` starts
from a named preset (presets.PRESETS; on CUDA its GPU form) with any field changed.
"""

from __future__ import annotations

import torch
from torch import nn

from digitlab.classifiers.cnn import presets, network, training
from digitlab.classifiers.cnn.config import CNNConfig
from digitlab.classifiers.inputs import as_labels
from digitlab.classifiers.network_classifier import NetworkClassifier
from digitlab.train.callbacks import Divergence
from digitlab.train.seeding import seeded


class CNNClassifier(NetworkClassifier):
    method, Config = "cnn", CNNConfig

    @classmethod
    def options(cls) -> set[str]:
        return super().options() | {"preset", "device"}

    @classmethod
    def configure(cls, preset: str = "fast", device: str | torch.device = "cpu", **changes) -> CNNConfig:
        """The preset named (for `device`: a GPU has its own forms), with `changes` in its place."""
        cls._refuse_unknown(changes)
        return presets.preset(preset, device, **changes)  # an unknown name fails here, listing the known ones

    def _build(self) -> nn.Module:
        return network.build(self.config, len(self.classes_))

    def fit(self, X, y, valid=None, epoch_end=None, resume=False, device="cpu", progress=True):
        if resume:
            self._fitted()
            X, y = self._images(X), as_labels(y, len(X))
            if valid is not None:
                valid = (self._images(valid[0]), as_labels(valid[1], len(valid[0])))
            start_epoch, opt_state = self.state_["epoch"] + 1, self.state_.get("optimizer") or None
        else:
            X, y, valid = self._start(X, y, valid)  # the validation images prepared once, as predict prepares them
            self.model_ = seeded(self.config.seed, self._build)
            self.history_, self.state_, start_epoch, opt_state = [], {"epoch": -1}, 0, None
        if valid is not None:
            valid = (valid[0], self._index(valid[1]))
        watch = Divergence(self.config.lr)

        def on_epoch(epoch: int, row: dict, state: dict) -> None:
            watch.weights(self.model_.parameters(), epoch)  # before epoch_end saves them
            self.state_ = {"epoch": epoch, "optimizer": state}
            self._record({"epoch": epoch, "train_loss": None, "valid_loss": None, "accuracy": None,
                          "seconds": None, **row}, epoch_end)

        with torch.random.fork_rng(devices=[]):
            training.fit(self.model_, self.config, X, self._index(y), valid=valid, device=device,
                       start_epoch=start_epoch, state=opt_state, epoch_end=on_epoch, progress=progress,
                       ones=torch.as_tensor(y) == 1)  # the digit 1, for config.flags
        self.model_.to("cpu").eval()
        return self

    @torch.no_grad()
    def logits(self, X, device="cpu") -> torch.Tensor:
        """(N, classes) raw scores."""
        self._fitted()
        return training.predict_logits(self.model_, self._images(X), device=device).cpu()
