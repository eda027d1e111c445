"""Which settings should `digitlab compare` train each cheap method with? Chosen on held-out images.

Holds 5,000 of MNIST's 60,000 training images out (seeded), fits each candidate on the other 55,000
(or, with --task 3v7, holds 1,000 of MNIST_SAMPLE's training images out), and prints held-out
accuracy and training time after every epoch: the linear model and the net train at a constant lr
with a seeded order per epoch, so epoch k of a longer run is exactly a k-epoch run. MNIST's test images are never looked at: compare reports them once,
as the final figure, for the settings chosen here.

Run: python benchmarks/held_out_choice.py [--task 0-9|3v7] [--threads 2] [--only linear,simple_net]
"""

from __future__ import annotations

import argparse

CANDIDATES = {  # method -> settings to try (each a classifier option dict)
    "pixel": [{"distance": "l2"}, {"distance": "l1"}, {"distance": "l2", "deskew": True},
              {"distance": "l1", "deskew": True}],
    "linear": [{"epochs": 8}, {"epochs": 8, "deskew": True}],
    "simple_net": [{"epochs": 12, "lr": 0.5, "batch_size": 128, "deskew": True},
                   {"epochs": 10, "lr": 0.25, "batch_size": 128, "deskew": True},
                   {"epochs": 10, "lr": 0.1, "batch_size": 64, "deskew": True}],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=("0-9", "3v7"), default="0-9")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--only", help="comma list of methods (default: all three)")
    args = parser.parse_args()

    import torch

    from digitlab import classifiers
    from digitlab.data import datasets

    torch.set_num_threads(args.threads)
    train = datasets.load("mnist" if args.task == "0-9" else "mnist_sample", "train")
    held = 5000 if args.task == "0-9" else 1000
    order = torch.randperm(len(train.labels), generator=torch.Generator().manual_seed(0))
    fit_rows, held_rows = order[held:], order[:held]
    for method in (args.only.split(",") if args.only else CANDIDATES):
        for options in CANDIDATES[method]:
            clf = classifiers.make(method, **options)
            held_out = (train.images[held_rows], train.labels[held_rows])
            if method == "pixel":
                print(f"{args.task:<4} {method:<11} {clf.fit(train.images[fit_rows], train.labels[fit_rows]).score(*held_out):.2%}"
                      f" held out   {options}", flush=True)
                continue
            seconds = 0.0

            def show(clf, row):
                nonlocal seconds
                seconds += row["seconds"]
                print(f"{args.task:<4} {method:<11} epoch {row['epoch'] + 1:>2}  {row['accuracy']:.2%} held out  "
                      f"{seconds:5.1f} s   {options}", flush=True)

            clf.fit(train.images[fit_rows], train.labels[fit_rows], valid=held_out, epoch_end=show, progress=False)


if __name__ == "__main__":
    main()
