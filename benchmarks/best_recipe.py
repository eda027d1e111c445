"""The `best` recipe once through: test accuracy of the ensemble with and without shifted copies.

    python benchmarks/best_recipe.py [--seed 0] [--threads 1] [--epochs N]

Trains presets.preset("best") on the 60,000 MNIST training images and scores the 10,000 test
images: each member alone, the members' mean, and the mean over the members and the 1-pixel
shifts (the preset's test-time augmentation). Prints the time it took.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's choice)")
    parser.add_argument("--epochs", type=int, help="override the preset's epochs")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    import torch

    from digitlab.classifiers.cnn import presets, network, training
    from digitlab.data import datasets

    if args.threads:
        torch.set_num_threads(args.threads)
    train, test = datasets.load("mnist", "train"), datasets.load("mnist", "test")
    config = presets.preset("best", seed=args.seed, **({"epochs": args.epochs} if args.epochs else {}))
    print(f"{os.cpu_count()} cores, {torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.1f}")
    print(dataclasses.asdict(config), flush=True)
    torch.manual_seed(config.seed)
    model = network.build(config, 10)
    started = time.perf_counter()

    def report(epoch, row, state):
        print(f"epoch {epoch}: train loss {row['train_loss']:.4f}, {row['seconds']:.0f} s, "
              f"{time.perf_counter() - started:.0f} s so far", flush=True)

    training.fit(model, config, train.images, train.labels, device=args.device, epoch_end=report, progress=False)
    trained = time.perf_counter() - started

    def accuracy(net) -> float:
        logits = training.predict_logits(net, test.images, device=args.device)
        return (logits.argmax(dim=1).cpu() == test.labels).float().mean().item()

    plain = model.net if config.tta else model  # the ensemble without shifted copies
    members = plain.members if config.ensemble > 1 else [plain]
    for i, member in enumerate(members):
        print(f"member {i}: {100 * accuracy(member):.2f} %")
    print(f"mean of {len(members)} members: {100 * accuracy(plain):.2f} %")
    if config.tta:
        print(f"with 1-pixel shifts (TTA): {100 * accuracy(model):.2f} %")
    print(f"training took {trained:.0f} s wall, scoring {time.perf_counter() - started - trained:.0f} s; "
          f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
