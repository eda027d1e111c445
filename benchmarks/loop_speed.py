"""Does the one training loop (Learner.fit) cost the cnn or linear anything? Timed in the same run
against the loops it replaced, alternating, on CPU.

    OMP_NUM_THREADS=1 nice python benchmarks/loop_speed.py [--cnn-images 50000] [--linear-images 20000] [--pairs 3]

- cnn: the fast preset (its form for the CPU: two epochs of ROBUST augmentation, batch 128) on the
  first --cnn-images MNIST training digits, through `training.fit` (now Learner.fit) against
  `reference_cnn_fit` below, a copy of the recipe loop as it was before issue 31 (its CPU path).
- linear: the default (trainer "loop", 10 epochs, batch 256) on the first --linear-images digits,
  `LinearClassifier.fit` (now Learner.fit with BasicOptim and the mean-loss recorder) against the
  same classifier with the old loop, `scratch.train_epoch` + BasicOptim (`ReferenceLinear`).

Each pair runs old then new (or new then old: the order alternates) from the same seed; the script
also checks that the two give torch.equal weights. It prints each run's wall and CPU seconds, the
medians and their ratios new / old (the target for the cnn: <= 1.05). On a shared machine the CPU
seconds of this one-thread process are the steadier figure: wall time also counts the time the
process waited for a core that another program held.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import torch
from torch import nn

from digitlab.classifiers import make
from digitlab.classifiers.cnn import network, presets, training
from digitlab.classifiers.cnn.augment import augmented
from digitlab.classifiers.inputs import as_labels, as_pixels
from digitlab.classifiers.linear import LinearClassifier
from digitlab.data import datasets
from digitlab.train import scratch
from digitlab.train.callbacks import Divergence, diverged
from digitlab.train.optim import BasicOptim, one_cycle
from digitlab.train.seeding import recipe_generator, seeded


# -- THE REFERENCE: the loops as they were before the one loop (issue 31); benchmark use only ------
def reference_cnn_fit(model: nn.Module, config, x, y) -> list[float]:
    """The old recipe loop, CPU path (no CUDA graph, one process), no validation set: per epoch
    draw the order then the augmentation from recipe_generator(seed, epoch), then one step per
    batch under the one-cycle schedule, the loss summed in a tensor and read once an epoch."""
    x, y = as_pixels(x), as_labels(y, len(x))
    model.to(memory_format=torch.channels_last)
    opt = training._optimizer(list(model.parameters()), config.lr, config)
    steps_per_epoch = -(-len(x) // config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    views = [torch.empty_like(x) for _ in range(config.ensemble)] if config.augment else [x]
    loss_sum = torch.zeros(())
    step = training._training_step(model, opt, views, y, config.label_smoothing, loss_sum, False)
    losses = []
    for epoch in range(config.epochs):
        generator = recipe_generator(config.seed, epoch)
        order = torch.randperm(len(x), generator=generator)
        if config.augment:
            for view in views:
                view.copy_(augmented(x, config, generator))
        model.train()
        loss_sum.zero_()
        for i in range(steps_per_epoch):
            opt.schedule(*one_cycle((epoch * steps_per_epoch + i) / total_steps, config.lr,
                                    pct_start=config.pct_start,
                                    moms=(config.momentum + 0.05, config.momentum - 0.05, config.momentum + 0.05)))
            step(order[i * config.batch_size:(i + 1) * config.batch_size])
        train_loss = loss_sum.item() / steps_per_epoch
        if not math.isfinite(train_loss):
            raise diverged(f"the epoch's mean training loss became {train_loss}", epoch, config.lr)
        losses.append(train_loss)
    return losses


class ReferenceLinear(LinearClassifier):
    """LinearClassifier trained by the old book loop (BookNetwork._fit_loop before issue 31)."""

    def _fit_learner(self, dl, valid, start_epoch, opt_state, epoch_end, progress, device) -> None:
        opt = BasicOptim(self.model_.parameters(), self.config.lr)
        opt.load_state_dict(opt_state)
        watch = Divergence(self.config.lr)
        for epoch in range(start_epoch, self.config.epochs):
            started = time.perf_counter()
            dl.set_epoch(epoch)
            self.model_.train()
            losses = scratch.train_epoch(self.model_, dl, opt, self._loss())
            for i, loss in enumerate(losses):
                watch.loss(loss, epoch, i)
            watch.weights(self.model_.parameters(), epoch)
            self._on_epoch(epoch, {"epoch": epoch, "train_loss": sum(losses) / len(losses), "valid_loss": None,
                                   "accuracy": None, "seconds": time.perf_counter() - started},
                           {"optimizer": opt.state_dict()}, epoch_end)
# -- end of the reference -----------------------------------------------------------------------


def timed_pair(name: str, runs: dict, new_first: bool) -> dict:
    """Run runs["old"] and runs["new"] (each returning the trained model's state_dict) one after the
    other; {which: (wall s, cpu s)}, and whether they trained the same weights."""
    seconds, weights = {}, {}
    for which in (("new", "old") if new_first else ("old", "new")):
        wall, cpu = time.perf_counter(), time.process_time()
        with torch.random.fork_rng(devices=[]):
            weights[which] = runs[which]()
        seconds[which] = (time.perf_counter() - wall, time.process_time() - cpu)
    same = all(torch.equal(weights["old"][k], weights["new"][k]) for k in weights["old"])
    first = "new first" if new_first else "old first"
    print(f"  {name:6s} ({first}) old {seconds['old'][0]:6.2f} s wall {seconds['old'][1]:6.2f} s cpu   "
          f"new {seconds['new'][0]:6.2f} s wall {seconds['new'][1]:6.2f} s cpu   weights equal: {same}", flush=True)
    return seconds


def cnn_pair(x, y, new_first: bool) -> dict:
    config = presets.preset("fast", "cpu")

    def run(fit):
        model = seeded(config.seed, lambda: network.build(config, 10))
        fit(model)
        return model.state_dict()

    return timed_pair("cnn", {"new": lambda: run(lambda m: training.fit(m, config, x, y, progress=False)),
                              "old": lambda: run(lambda m: reference_cnn_fit(m, config, x, y))}, new_first)


def linear_pair(x, y, new_first: bool) -> dict:
    return timed_pair("linear", {"new": lambda: make("linear").fit(x, y, progress=False).model_.state_dict(),
                                 "old": lambda: ReferenceLinear().fit(x, y, progress=False).model_.state_dict()},
                      new_first)


def report(name: str, pairs: list[dict]) -> None:
    for i, kind in enumerate(("wall", "cpu")):
        old = statistics.median(p["old"][i] for p in pairs)
        new = statistics.median(p["new"][i] for p in pairs)
        pairwise = ", ".join(f"{p['new'][i] / p['old'][i]:.3f}" for p in pairs)
        print(f"{name}, {kind}: median old {old:.2f} s, new {new:.2f} s, ratio new/old {new / old:.3f} "
              f"(pairwise: {pairwise})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cnn-images", type=int, default=50000)
    parser.add_argument("--linear-images", type=int, default=20000)
    parser.add_argument("--pairs", type=int, default=3)
    args = parser.parse_args()
    train = datasets.load("mnist", "train")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    print("warm-up (oneDNN's first kernels, lazy imports), not counted:")
    cnn_pair(train.images[:512], train.labels[:512], False)
    linear_pair(train.images[:512], train.labels[:512], False)
    cnn = [cnn_pair(train.images[:args.cnn_images], train.labels[:args.cnn_images], i % 2 == 1)
           for i in range(args.pairs)]
    report(f"cnn fast preset, {args.cnn_images} digits", cnn)
    lin = [linear_pair(train.images[:args.linear_images], train.labels[:args.linear_images], i % 2 == 1)
           for i in range(args.pairs)]
    report(f"linear default, {args.linear_images} digits", lin)


if __name__ == "__main__":
    main()
