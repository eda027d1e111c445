"""How many epochs does `digitlab compare`'s simple_net need? Chosen on held-out digits.

Compare's plan for simple_net (CompareConfig.simple_net) trains at a constant lr with a seeded order
each epoch, so epoch k of its run is exactly a k-epoch run. For each seed this trains the plan on
compare's own fit part of MNIST (compare.tasks.load_task: heldout.split) and prints, after every epoch,
the accuracy on its held-out calibration digits and on the stress set, and the training seconds so far.
MNIST's test images are never read here.

    python benchmarks/simple_net_epochs.py [--seeds 0,1,2] [--epochs 10]
"""

from __future__ import annotations

import argparse
import statistics

from pixel_starts import held_out_sets  # the same sets and plan as the pixel choice


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=int, default=10, help="the longest run (each shorter one is read on the way)")
    args = parser.parse_args()

    from digitlab import service

    task, shaken, plan = held_out_sets("simple_net")
    rows: dict[int, list[tuple[float, float, float]]] = {}
    for seed in map(int, args.seeds.split(",")):
        seconds = 0.0

        def after_epoch(clf, row, seed=seed):
            nonlocal seconds
            seconds += row["seconds"]
            held = clf.score(task.calibration_images, task.calibration_labels)
            stress = clf.score(shaken.images, shaken.labels)
            rows.setdefault(row["epoch"] + 1, []).append((held, stress, seconds))
            print(f"seed {seed} epoch {row['epoch'] + 1:>2}: held out {held:.2%}, stress {stress:.2%}, "
                  f"{seconds:.1f} s of training", flush=True)

        service.make("simple_net", **{**plan, "epochs": args.epochs}, seed=seed).fit(task.train_images, task.train_labels,
                                                         epoch_end=after_epoch, progress=False)
    print("\n| epochs | held out (mean) | stress (mean) | training seconds (mean) |\n| --- | --- | --- | --- |")
    for epochs, found in sorted(rows.items()):
        held, stress, seconds = (statistics.mean(column) for column in zip(*found))
        print(f"| {epochs} | {held:.2%} | {stress:.2%} | {seconds:.1f} |")


if __name__ == "__main__":
    main()
