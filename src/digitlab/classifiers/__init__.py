"""The four classifiers, in scikit-learn's shape: `make(method, **config).fit(X, y).predict(X)`.

One module per method (pixel.py, linear.py, simple_net.py, cnn.py), each with its typed config,
the one its checkpoint stores; resnet18.py, the book's network, beside them (not in METHODS: the
`compare` job does not run it). What they share: base.py (every classifier), network.py (the
networks); state.py, the training state a checkpoint keeps; upgrade.py, checkpoints of older
versions. `make` builds one by name, `load` any that `save` wrote.
"""

from __future__ import annotations

import torch

from digitlab.classifiers.base import Classifier
from digitlab.classifiers.cnn.classifier import CNNClassifier
from digitlab.classifiers.inputs import NORMALISATION, as_images
from digitlab.classifiers.linear import LinearClassifier, LinearConfig
from digitlab.classifiers.pixel import PixelConfig, PixelSimilarity
from digitlab.classifiers.resnet18 import ResNet18Classifier, ResNet18Config
from digitlab.classifiers.simple_net import SimpleNetClassifier, SimpleNetConfig
from digitlab.classifiers.state import join_state
from digitlab.classifiers.upgrade import upgraded
from digitlab.errors import DigitlabError, ModelError
from digitlab.store import checkpoint

__all__ = ["METHODS", "CLASSES", "make", "load", "as_images", "NORMALISATION", "Classifier",
           "PixelConfig", "PixelSimilarity", "LinearConfig", "LinearClassifier", "SimpleNetConfig",
           "SimpleNetClassifier", "CNNClassifier", "ResNet18Config", "ResNet18Classifier"]

METHODS = ("pixel", "linear", "simple_net", "cnn")
CLASSES = {c.method: c for c in (PixelSimilarity, LinearClassifier, SimpleNetClassifier, CNNClassifier,
                                 ResNet18Classifier)}


def make(method: str, **options) -> Classifier:
    """A new, untrained classifier: make("linear", epochs=10, lr=1.0, seed=0); its config's defaults
    with each option given in their place (the cnn's defaults: a recipe preset, `preset="fast"`)."""
    if method not in CLASSES:
        raise DigitlabError(f"unknown method {method!r}; choose one of {', '.join(CLASSES)}")
    return CLASSES[method](**options)


def load(directory) -> Classifier:
    """Any classifier that `save` wrote, rebuilt from its config, weights and training state."""
    tensors, saved = checkpoint.load(directory)
    if saved["method"] not in CLASSES:
        raise ModelError(f"{directory}: unknown method {saved['method']!r} in config.json; it was not saved by "
                         "this version of digitlab")
    try:
        saved = upgraded(saved)
        cls = CLASSES[saved["method"]]
        clf = cls(cls.Config(**saved["config"]))
        clf.classes_ = torch.tensor(saved["classes"], dtype=torch.int64)
    except (TypeError, ValueError, DigitlabError) as err:
        raise ModelError(f"{directory}: invalid config.json ({err}); train the model again") from None
    if len(clf.classes_) < 2:
        raise ModelError(f"{directory}: config.json lists fewer than two classes; train the model again")
    training = saved.get("training") or {}
    state_tensors = {k: v for k, v in tensors.items() if k.startswith("optimizer")}
    try:
        optimizer = join_state(training.get("optimizer", {"dict": []}), state_tensors)
    except (KeyError, TypeError) as err:
        raise ModelError(f"{directory}: the training state in config.json is damaged ({err})") from None
    clf.state_ = {"epoch": int(training.get("epoch", -1)), "optimizer": optimizer}
    clf.history_ = list(saved.get("history") or [])
    clf.data_ = dict(saved.get("data") or {})
    if saved.get("calibration") is not None:  # absent before calibration existed: the model's own, T = 1
        clf.calibration_ = dict(saved["calibration"])
        clf.temperature_ = float(clf.calibration_["temperature"])
    try:
        clf._restore({k: v for k, v in tensors.items() if not k.startswith("optimizer")}, saved)
    except ModelError as err:
        raise ModelError(f"{directory}: {err}") from None
    return clf
