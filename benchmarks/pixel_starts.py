"""How many k-means starts does `digitlab compare`'s pixel similarity need? Chosen on held-out digits.

Compare's plan for pixel (CompareConfig.pixel: L2, deskewed, 15 ideal digits a class) runs k-means
from PixelConfig.kmeans_starts fresh first guesses per class and keeps the tightest grouping; the
starts are most of its fitting time on ten digits. For each count of starts and seed this fits the
plan on compare's own fit part of MNIST (compare.tasks.load_task: heldout.split) and prints the
accuracy on its held-out calibration digits and on the stress set, with the fit's seconds. MNIST's
test images are never read here.

    python benchmarks/pixel_starts.py [--starts 1,2,3,5] [--seeds 0,1,2]
"""

from __future__ import annotations

import argparse
import statistics
import time


def held_out_sets(method: str) -> tuple:
    """What a compare plan is chosen on, on one torch thread: compare's ten-digit task (its fit digits,
    and its held-out calibration digits to score), the stress set, and `method`'s plan as it is today."""
    import torch

    from digitlab.compare.config import CompareConfig
    from digitlab.compare.tasks import load_task
    from digitlab.data import datasets

    torch.set_num_threads(1)
    return load_task("mnist"), datasets.load("stress", "valid"), dict(CompareConfig().plan(method))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", default="1,2,3,5")
    parser.add_argument("--seeds", default="0,1,2")
    args = parser.parse_args()

    from digitlab import service

    task, shaken, plan = held_out_sets("pixel")
    rows = {}
    for starts in map(int, args.starts.split(",")):
        for seed in map(int, args.seeds.split(",")):
            clf = service.make("pixel", **{**plan, "kmeans_starts": starts}, seed=seed)
            begun = time.perf_counter()
            clf.fit(task.train_images, task.train_labels)
            seconds = time.perf_counter() - begun
            held = clf.score(task.calibration_images, task.calibration_labels)
            stress = clf.score(shaken.images, shaken.labels)
            rows.setdefault(starts, []).append((held, stress, seconds))
            print(f"starts {starts} seed {seed}: held out {held:.2%}, stress {stress:.2%}, fit {seconds:.1f} s",
                  flush=True)
    print("\n| k-means starts | held out (mean) | stress (mean) | fit seconds (mean) |\n| --- | --- | --- | --- |")
    for starts, found in rows.items():
        held, stress, seconds = (statistics.mean(column) for column in zip(*found))
        print(f"| {starts} | {held:.2%} | {stress:.2%} | {seconds:.1f} |")


if __name__ == "__main__":
    main()
