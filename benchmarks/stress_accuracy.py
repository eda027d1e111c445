"""Each method's accuracy on digits that are not MNIST's (the stress set), beside MNIST's own.

Recipes are chosen on the held-out validation split (the last VALID_SIZE of MNIST's training images,
never trained on here) and on the stress set; MNIST's test set is printed last, as the final figure
only. Seeds are averaged.

    python benchmarks/stress_accuracy.py                          # every method, 3 seeds
    python benchmarks/stress_accuracy.py --methods cnn --recipe medium --seeds 1
    python benchmarks/stress_accuracy.py --per-category 250      # a quick, freshly drawn slice
    python benchmarks/stress_accuracy.py --cnn augment=True thicken=1   # any CNNConfig field
    python benchmarks/stress_accuracy.py --methods pixel,linear --deskew --set ideals=15 stretch=True
"""

from __future__ import annotations

import argparse
import ast
import statistics
import time

import numpy as np
import torch

from digitlab import classifiers
from digitlab.data import datasets, stress

VALID_SIZE = 10_000  # held out of MNIST's 60,000 training images for choosing recipes


def stress_set(per_category: int | None):
    if per_category is None:
        images, labels = stress.arrays()
        per_category = stress.PER_CATEGORY
    else:
        images, labels = stress.build(per_category=per_category)
    return torch.from_numpy(images), torch.from_numpy(labels.astype(np.int64)), per_category


def augmented_copies(x, y, copies: int, fields: list[str]):
    """The images followed by `copies` augmented views of them (augment.augmented, seeded), and their labels."""
    if not copies:
        return x, y
    from digitlab.classifiers.cnn import presets, augment
    from digitlab.train import seeding

    config = presets.preset("fast", **{k: ast.literal_eval(v) for k, v in (f.split("=", 1) for f in fields)})
    views = [augment.augmented(x, config, seeding.recipe_generator(1234, k)) for k in range(copies)]
    return torch.cat([x, *views]), y.repeat(copies + 1)


def make(method: str, seed: int, recipe_name: str, cnn_changes: dict, epochs: int | None, deskew: bool = False,
         changes: dict | None = None):
    """The method's classifier for one seed; `changes` are set where the method has such a field."""
    known = classifiers.CLASSES[method].options()
    options = {"seed": seed}
    if deskew and method != "cnn":
        options["deskew"] = True
    if epochs is not None and method != "pixel":
        options["epochs"] = epochs
    options.update({k: v for k, v in (changes or {}).items() if k in known})
    if method == "cnn":
        options.update(preset=recipe_name, **cnn_changes)  # the preset, with this run's changes in place
    return classifiers.make(method, **options)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", default=",".join(classifiers.METHODS))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--recipe", default="fast", help="the cnn's preset")
    parser.add_argument("--epochs", type=int, help="every trained method's epochs (default: its own)")
    parser.add_argument("--per-category", type=int, help="a freshly drawn slice of the stress set")
    parser.add_argument("--cnn", nargs="*", default=[], metavar="FIELD=VALUE", help="CNNConfig changes")
    parser.add_argument("--deskew", action="store_true", help="pixel, linear, simple_net: deskew first (deskew.py)")
    parser.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE",
                        help="pixel, linear, simple_net: config changes, each where the method has the field")
    parser.add_argument("--copies", type=int, default=0,
                        help="pixel, linear, simple_net: train on the images plus this many augmented copies")
    parser.add_argument("--aug", nargs="*", default=["augment=True", "rotate=10", "scale=0.1", "shear=0.3",
                                                      "aspect=0.15", "thicken=1"], metavar="FIELD=VALUE",
                        help="the CNNConfig augmentation the copies are drawn with")
    parser.add_argument("--save", metavar="DIR", help="keep each trained model as DIR/<method>-<seed>")
    parser.add_argument("--full-train", action="store_true",
                        help="train on all 60,000 (the shipped models' way) rather than holding out a validation split")
    args = parser.parse_args()
    cnn_changes = {k: ast.literal_eval(v) for k, v in (item.split("=", 1) for item in args.cnn)}
    changes = {k: ast.literal_eval(v) for k, v in (item.split("=", 1) for item in args.set)}

    train, test = datasets.load("mnist", "train"), datasets.load("mnist", "test")
    fit_x, fit_y = train.images, train.labels
    if not args.full_train:
        fit_x, fit_y = train.images[:-VALID_SIZE], train.labels[:-VALID_SIZE]
    held_x, held_y = train.images[-VALID_SIZE:], train.labels[-VALID_SIZE:]
    copies_x, copies_y = augmented_copies(fit_x, fit_y, args.copies, args.aug)
    started = time.perf_counter()
    sx, sy, per_category = stress_set(args.per_category)
    print(f"stress set: {len(sy):,} images ({time.perf_counter() - started:.1f} s to load or draw)")
    index = np.arange(len(sy))
    for method in args.methods.split(","):
        rows = []
        for seed in range(args.seeds):
            clf = make(method, seed, args.recipe, cnn_changes, args.epochs, args.deskew, changes)
            t0 = time.perf_counter()
            if method == "cnn":
                clf.fit(fit_x, fit_y, progress=False)
            else:
                clf.fit(copies_x, copies_y, progress=False)
            seconds = time.perf_counter() - t0
            if args.save:
                clf.save(f"{args.save}/{method}-{seed}")
            scores = stress.accuracy_by_category(clf.predict(sx), sy, index // per_category * stress.PER_CATEGORY)
            rows.append({"train_s": seconds, "held": clf.score(held_x, held_y), **scores,
                         "test": clf.score(test.images, test.labels)})
        mean = {k: statistics.mean(r[k] for r in rows) for k in rows[0]}
        per_seed = ", ".join(f"{100 * r['all']:.1f}" for r in rows)
        for seed, r in enumerate(rows):
            print(f"  seed {seed}: held-out {100 * r['held']:.2f}  stress {100 * r['all']:.2f} ("
                  + "  ".join(f"{c} {100 * r[c]:.2f}" for c in stress.CATEGORIES) + f")  train {r['train_s']:.1f} s")
        cats = "  ".join(f"{c} {100 * mean[c]:.2f}" for c in stress.CATEGORIES)
        print(f"{method:10s} train {mean['train_s']:.1f} s  held-out {100 * mean['held']:.2f}  "
              f"stress {100 * mean['all']:.2f} ({cats})  | MNIST test {100 * mean['test']:.2f}"
              f"  [{args.seeds} seeds; stress per seed: {per_seed}]",
              flush=True)


if __name__ == "__main__":
    main()
