"""The cnn: a small ResNet for 28 x 28 digits, its config and presets, trained by its recipe."""

from digitlab.classifiers.cnn.classifier import CNNClassifier

__all__ = ["CNNClassifier"]
