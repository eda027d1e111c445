"""The `compare` job: every classifier on every task, measured the same way, saved, and reported.

A task is one dataset's training and test images (3 vs 7 from MNIST_SAMPLE, the ten digits from
MNIST, or a folder). For each task and method the job fits on the training images less those held
out (heldout.split), calibrates the model's probabilities on the held-out ones, times
`predict_proba` on the test images, records accuracy, calibration error, the confusion matrix and
the worst-classified images, and saves the model under `out/<method>-<task>/` for `digitlab
evaluate` and `predict`.
Two datasets of the same digits get their dataset's name added, `out/linear-3v7-mix/` and "3 vs 7 (mix)",
so that neither overwrites the other.

The pieces: config.py (what each method trains with), tasks.py (the datasets as tasks), job.py (the
runs); service.py, beside this package, makes, loads and evaluates the models.
"""
