"""Latency of predicting one image, per classifier: train each quickly, then time `predict`.

    python benchmarks/predict_latency.py [--repeats 50] [--n-train 10000]

Each classifier is trained on the first --n-train MNIST training images (ten digits) with a short
schedule: the figure of interest is the time to answer for one 28 x 28 image, which is what the
web demo and `digitlab predict` pay per request. Median of --repeats calls after two warm-ups.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=50, help="timed predictions per method (default: 50)")
    parser.add_argument("--n-train", type=int, default=10_000, help="training images (default: 10,000)")
    args = parser.parse_args()

    import torch

    from digitlab import classifiers
    from digitlab.data import datasets

    train, test = datasets.load("mnist", "train"), datasets.load("mnist", "test")
    x, y = train.images[: args.n_train], train.labels[: args.n_train]
    one = test.images[:1]  # (1, 28, 28) uint8
    short = {"pixel": {}, "linear": {"epochs": 3}, "simple_net": {"epochs": 3}, "cnn": {"epochs": 1}}
    print(f"{os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"{'method':<12} {'median':>10} {'min':>10} {'accuracy (10k test)':>22}")
    for method in classifiers.METHODS:
        clf = classifiers.make(method, **short[method]).fit(x, y, progress=False)
        for _ in range(2):
            clf.predict(one)
        times = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            clf.predict(one)
            times.append(time.perf_counter() - started)
        accuracy = clf.score(test.images, test.labels)
        print(f"{method:<12} {1e3 * statistics.median(times):>8.2f} ms {1e3 * min(times):>8.2f} ms "
              f"{100 * accuracy:>20.2f} %", flush=True)


if __name__ == "__main__":
    main()
