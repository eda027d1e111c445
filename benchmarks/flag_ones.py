"""Do 1s drawn with a flag in the cnn's training (CNNConfig.flags, train/flags.py) stop it reading a
flagged 1 as a 7? Chosen without MNIST's test set or the corruption set's own digits: each candidate is
the shipped cnn's recipe (pretrained.RECIPES["cnn"]) plus options, trained on MNIST 0-54,999, scored on
the 4,000 held-out calibration digits, the stress set (by category, and how many of its 1s it reads
as 7) and the corruption set's seen kinds on calibration digits (choice_sets.py).

    OMP_NUM_THREADS=1 python benchmarks/flag_ones.py --only base,flags
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import choice_sets  # benchmarks/choice_sets.py, beside this script

CANDIDATES = {"base": {}, "flags": {"flags": 0.3}, "flags 0.15": {"flags": 0.15}}


def main() -> None:
    import torch

    from digitlab import classifiers, pretrained
    from digitlab.data import stress

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    choice_sets.add_arguments(parser, per_kind=300)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sets = choice_sets.load(args.per_kind)
    fit, clean, shaken = sets["fit"], sets["clean"], sets["stress"]
    kinds_right = lambda clf: clf.predict(torch.from_numpy(sets["images"])).numpy() == sets["labels"]  # noqa: E731
    for name in (args.only.split(",") if args.only else CANDIDATES):
        options = {**pretrained.RECIPES["cnn"], **CANDIDATES[name]}
        options = options if args.seed is None else {**options, "seed": args.seed}
        started = time.perf_counter()
        clf = classifiers.make("cnn", **options).fit(fit.images, fit.labels, progress=False)
        seconds = time.perf_counter() - started
        said = clf.predict(shaken.images).numpy()
        truth = shaken.labels.numpy()
        by = stress.accuracy_by_category(torch.from_numpy(said), shaken.labels, shaken.index)
        category = stress.category_of(np.arange(len(truth)))
        ones_as_7 = {c: int(((truth == 1) & (said == 7) & (category == c)).sum()) for c in stress.CATEGORIES}
        sevens_as_1 = int(((truth == 7) & (said == 1)).sum())
        print(f"cnn {name:<12} seed {options.get('seed', 0)} {seconds:6.1f} s  held-out {clf.score(*clean):.2%}  "
              f"stress {by['all']:.2%} ({', '.join(f'{c} {by[c]:.2%}' for c in stress.CATEGORIES)})  "
              f"tuning kinds {kinds_right(clf).mean():.2%}  stress 1s read as 7: {ones_as_7}, 7s read as 1: "
              f"{sevens_as_1}", flush=True)


if __name__ == "__main__":
    main()
