"""How fast pixel similarity classifies MNIST's 10,000 test images (target: 50 ms on a CPU).

Prints the median of several timed runs for each distance, the accuracy, and the ratio to the
target. Timings on a shared machine are noisy: read them as rough figures.

    python benchmarks/pixel_similarity.py [--repeats 7] [--threads N]
"""

from __future__ import annotations

import argparse
import statistics
import time

TARGET_SECONDS = 0.050


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per distance (median reported)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()

    import torch

    from digitlab.classifiers import make
    from digitlab.data import datasets

    if args.threads:
        torch.set_num_threads(args.threads)
    train, test = datasets.load("mnist", "train"), datasets.load("mnist", "test")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {len(test.labels):,} test images, "
          f"10 classes; target {TARGET_SECONDS * 1000:.0f} ms")
    print(f"{'distance':>8}  {'median ms':>9}  {'min ms':>7}  {'vs target':>9}  {'accuracy':>8}")
    for distance in ("l2", "l1"):
        clf = make("pixel", distance=distance).fit(train.images, train.labels)
        clf.predict(test.images)  # warm-up: first calls allocate
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            predicted = clf.predict(test.images)
            times.append(time.perf_counter() - start)
        accuracy = (predicted == test.labels).float().mean().item()
        median = statistics.median(times)
        print(f"{distance:>8}  {median * 1000:>9.1f}  {min(times) * 1000:>7.1f}  "
              f"{median / TARGET_SECONDS:>8.2f}x  {accuracy:>8.4f}")


if __name__ == "__main__":
    main()
