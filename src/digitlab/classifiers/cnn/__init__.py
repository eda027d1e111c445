"""The cnn: a small ResNet for 28 x 28 digits (network.py), its config (config.py) and presets
(presets.py), trained by training.py; classifier.py ties them together as `CNNClassifier`.

Nothing is imported here: the checkpoint schema reads config.py without building the classifier."""
