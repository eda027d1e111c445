"""simple_net: the book's two-layer net (linear, ReLU, linear), trained as the linear model is."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from digitlab.classifiers import networks
from digitlab.classifiers.linear import BookNetwork, LinearConfig


@dataclass
class SimpleNetConfig(LinearConfig):
    epochs: int = 40  # the book trains its simple net for 40 epochs
    lr: float = 0.1  # the book's lr for the simple net
    hidden: int | None = None  # hidden units; None: the book's 30 for two classes, 256 for ten


class SimpleNetClassifier(BookNetwork):
    method, Config = "simple_net", SimpleNetConfig

    def _hidden(self) -> int:
        if self.config.hidden is not None:
            return self.config.hidden
        return 30 if len(self.classes_) == 2 else 256

    def _build(self) -> nn.Module:
        return networks.simple_net(self._n_out(), self._hidden())
