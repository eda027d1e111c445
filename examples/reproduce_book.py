"""Reproduce chapter 4's numbers with digitlab, and print them beside the book's.

The 3-vs-7 rows run on mnist_sample (12,396 training and 2,038 validation images, as in the book);
the ten-digit rows train on MNIST's 60,000 training images and score its 10,000 test images.
Each step is a function returning its accuracy, so tests/test_reproduce.py runs the same code.

    python examples/reproduce_book.py            # everything (the resnet18 and CNN rows take minutes on a CPU)
    python examples/reproduce_book.py --quick    # skip the CNN rows
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

from digitlab import data
from digitlab.classifiers import make
from digitlab.train.learner import DataLoader, DataLoaders, Learner
from digitlab.train.optim import SGD, BasicOptim
from digitlab.train.scratch import batch_accuracy, init_params, linear1, mnist_loss, train_epoch

# The ten-digit settings: plain SGD with constant lr, a little more than the book's 3-vs-7 runs.
TEN_DIGITS = {
    "pixel": {"distance": "l2"},
    "linear": {"epochs": 20, "lr": 0.25},
    "simple_net": {"epochs": 20, "lr": 0.5},  # 256 hidden units for ten classes
    "cnn": {"preset": "medium"},  # classifiers/cnn/presets.py: wider, shifted digits, 4 epochs, test-time shifts (its "fast" preset is ~99.1 %)
}


def book_tensors(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The book's x (N, 784) float in [0, 1] and y (N, 1): 1 for a 3, 0 for a 7."""
    digits = data.load("mnist_sample", split, torch.float32)
    return digits.images.view(-1, 28 * 28), (digits.labels == 3).float().unsqueeze(1)


def pixel_l1_3s_7s() -> tuple[float, float]:
    """The "ideal" 3 and 7 and the mean absolute distance: accuracy on the 3s and on the 7s."""
    train, valid = data.load("mnist_sample", "train"), data.load("mnist_sample", "valid")
    predicted = make("pixel", distance="l1").fit(train.images, train.labels).predict(valid.images)
    return tuple((predicted[valid.labels == d] == d).float().mean().item() for d in (3, 7))


def hand_sgd_linear(epochs: int = 20, lr: float = 1.0, seed: int = 0) -> float:
    """The book's loop, literally: init_params, linear1, mnist_loss, BasicOptim, batches of 256."""
    torch.manual_seed(seed)
    (x, y), (xv, yv) = book_tensors("train"), book_tensors("valid")
    weights, bias = init_params((28 * 28, 1)), init_params(1)
    dl = DataLoader(list(zip(x, y)), batch_size=256)
    opt = BasicOptim([weights, bias], lr)
    for _ in range(epochs):
        train_epoch(lambda xb: linear1(xb, weights, bias), dl, opt, mnist_loss)
    with torch.no_grad():
        return batch_accuracy(linear1(xv, weights, bias), yv).item()


def book_learner(model: nn.Module, epochs: int, lr: float) -> float:
    """Learner(dls, model, opt_func=SGD, loss_func=mnist_loss, metrics=batch_accuracy).fit(epochs, lr)."""
    (x, y), (xv, yv) = book_tensors("train"), book_tensors("valid")
    dls = DataLoaders(DataLoader(list(zip(x, y)), 256), DataLoader(list(zip(xv, yv)), 256))
    learn = Learner(dls, model, opt_func=SGD, loss_func=mnist_loss, metrics=batch_accuracy)
    learn.fit(epochs, lr)
    return learn.recorder.values[-1][2]


def learner_linear(epochs: int = 10, lr: float = 1.0, seed: int = 0) -> float:
    torch.manual_seed(seed)
    return book_learner(nn.Linear(28 * 28, 1), epochs, lr)


def learner_simple_net(epochs: int = 40, lr: float = 0.1, seed: int = 0) -> float:
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(28 * 28, 30), nn.ReLU(), nn.Linear(30, 1))
    return book_learner(net, epochs, lr)


def resnet18_one_cycle(seed: int = 0, device: str = "cpu") -> float:
    """vision_learner(dls, resnet18).fit_one_cycle(1, 0.1): digitlab's resnet18 through the Learner."""
    train, valid = data.load("mnist_sample", "train"), data.load("mnist_sample", "valid")
    clf = make("resnet18", epochs=1, lr=0.1, seed=seed)
    clf.fit(train.images, train.labels, valid=(valid.images, valid.labels), device=device)
    return clf.score(valid.images, valid.labels)


def ten_digits(method: str, seed: int = 0, device: str = "cpu") -> float:
    """Train on MNIST's 60,000 training images; accuracy on its 10,000 test images."""
    train, test = data.load("mnist", "train"), data.load("mnist", "test")
    options = dict(TEN_DIGITS[method], **({} if method == "pixel" else {"seed": seed}))  # pixel has no randomness
    if method == "cnn":
        options["device"] = device  # the preset's form for the device (wider, larger batches on CUDA)
    clf = make(method, **options)
    clf.fit(train.images, train.labels, device=device)
    return clf.score(test.images, test.labels)


def main() -> None:
    parser = argparse.ArgumentParser(description="Reproduce the book's chapter 4 accuracies.")
    parser.add_argument("--quick", action="store_true", help="skip the resnet18 and ten-digit CNN rows")
    parser.add_argument("--device", default="cpu", help="torch device for the CNN rows (cpu, cuda)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rows = [
        ("3 vs 7: pixel similarity L1, the 3s", "0.9168", lambda: pixel_l1_3s_7s()[0]),
        ("3 vs 7: pixel similarity L1, the 7s", "0.9854", lambda: pixel_l1_3s_7s()[1]),
        ("3 vs 7: linear, hand SGD, 20 epochs lr 1", "0.97-0.98", lambda: hand_sgd_linear(seed=args.seed)),
        ("3 vs 7: linear, Learner.fit(10, 1)", "0.9671", lambda: learner_linear(seed=args.seed)),
        ("3 vs 7: simple net, Learner.fit(40, 0.1)", "0.9818", lambda: learner_simple_net(seed=args.seed)),
        ("3 vs 7: resnet18, fit_one_cycle(1, 0.1)", "0.9961",
         lambda: resnet18_one_cycle(args.seed, args.device)),
        ("10 digits: pixel similarity L2", ">= 0.82", lambda: ten_digits("pixel")),
        ("10 digits: linear", ">= 0.92", lambda: ten_digits("linear", args.seed)),
        ("10 digits: simple net", ">= 0.975", lambda: ten_digits("simple_net", args.seed)),
        ("10 digits: CNN (cnn/presets.py, medium)", ">= 0.993", lambda: ten_digits("cnn", args.seed, args.device)),
    ]
    lines = [f"{'experiment':<44} {'book':>10} {'digitlab':>9} {'seconds':>8}"]
    for name, book, run in rows:
        if args.quick and ("resnet18" in name or "CNN" in name):
            continue
        start = time.perf_counter()
        value = run()
        lines.append(f"{name:<44} {book:>10} {value:>9.4f} {time.perf_counter() - start:>8.1f}")
        print(lines[-1], flush=True)  # as each row finishes; the whole table again at the end
    print("\n" + "\n".join(lines))


if __name__ == "__main__":
    main()
