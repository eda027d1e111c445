"""The held-out sets the clutter benchmarks (template_clutter.py, cnn_clutter.py) choose on: MNIST's
fit digits, the undamaged calibration digits, the stress set, and the corruption set's seen kinds
applied to calibration digits (the tuning seed), never its held-out kinds nor MNIST's test set; and
the loop both run: each candidate recipe trained on the fit digits and scored on those sets."""

from __future__ import annotations

import argparse
import time


def add_arguments(parser: argparse.ArgumentParser, per_kind: int) -> None:
    parser.add_argument("--only", help="comma list of candidate names (default: all)")
    parser.add_argument("--per-kind", type=int, default=per_kind, help="calibration digits per seen kind")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, help="instead of the recipe's seed (weights, order, damage drawn)")


def cnn_main(doc: str, base: dict, candidates: dict) -> None:
    """A cnn candidates script's command line (cnn_clutter.py, cnn_levers.py): --only, --per-kind 300,
    --threads, --seed; then each candidate scored."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    add_arguments(parser, per_kind=300)
    score_candidates("cnn", base, candidates, parser.parse_args())


def score_candidates(method: str, base: dict, candidates: dict, args: argparse.Namespace) -> None:
    """Each candidate (options added to `base`) trained and printed: seconds, held-out, stress (and its
    typed digits), the seen kinds' mean and each kind."""
    import torch

    from digitlab import classifiers
    from digitlab.data import stress

    torch.set_num_threads(args.threads)
    sets = load(args.per_kind)
    fit, clean, shaken = sets["fit"], sets["clean"], sets["stress"]
    images, labels, names = sets["images"], sets["labels"], sets["names"]
    for name in (args.only.split(",") if args.only else candidates):
        options = {**base, **candidates[name]}
        options = options if args.seed is None else {**options, "seed": args.seed}
        started = time.perf_counter()
        clf = classifiers.make(method, **options).fit(fit.images, fit.labels, progress=False)
        seconds = time.perf_counter() - started
        on_stress = stress.accuracy_by_category(clf.predict(shaken.images), shaken.labels, shaken.index)
        right = (clf.predict(torch.from_numpy(images)).numpy() == labels)
        shown = ", ".join(f"{k} {right[names == k].mean():.1%}" for k in sets["kinds"])
        print(f"{method} {name:<20} seed {options.get('seed', 0)} {seconds:6.1f} s  held-out {clf.score(*clean):.2%}  "
              f"stress {on_stress['all']:.2%} (fonts {on_stress['fonts']:.2%})  tuning kinds {right.mean():.2%}\n  {shown}",
              flush=True)


def load(per_kind: int) -> dict:
    """{"fit", "clean", "stress", "images", "labels", "names"}: the fit part, (images, labels) of the
    undamaged calibration digits, the stress set, and per_kind damaged calibration digits a seen kind
    with each one's kind, and the seen kinds in order."""
    import numpy as np

    from digitlab.data import corrupted, datasets, heldout, shipped_mnist

    fit, held = heldout.split(datasets.load("mnist", "train"), "mnist")
    clean = held.images[:len(heldout.CALIBRATION)], held.labels[:len(heldout.CALIBRATION)]  # the undamaged half
    images, labels = corrupted.tuning_set(shipped_mnist.mnist_arrays("train"), per_kind=per_kind)
    kinds = [k for k in corrupted.NAMES if k not in corrupted.HELD_OUT_KINDS]
    return {"fit": fit, "clean": clean, "stress": datasets.load("stress", "valid"), "images": images,
            "labels": labels, "names": np.repeat(kinds, per_kind), "kinds": kinds}
