"""simple_net: the book's two-layer net (linear, ReLU, linear), trained as the linear model is."""

from __future__ import annotations

from torch import nn

from digitlab.classifiers import networks
from digitlab.classifiers.configs import SimpleNetConfig
from digitlab.classifiers.linear import BookNetwork


class SimpleNetClassifier(BookNetwork):
    method, Config = "simple_net", SimpleNetConfig

    def _hidden(self) -> int:
        if self.config.hidden is not None:
            return self.config.hidden
        return 30 if len(self.classes_) == 2 else 256

    def _build(self) -> nn.Module:
        return networks.simple_net(self._n_out(), self._hidden())
