"""Chapter 4 of the fastai book as one script on digitlab: from raw pixels to a ResNet, offline.

    python examples/chapter4.py [--out chapter4-output] [--seed 0] [--resnet-images 1500]

It prints what the book prints (shapes, distances, accuracies, the Learner's tables) and saves the
pictures the book shows as PNGs in --out. docs/book.md says which digitlab name does each step.
The ResNet trains on a random 1,500 of the 12,396 training images for two epochs, because the
whole set takes minutes per epoch on a CPU (`--resnet-images 0 --resnet-epochs 1` is the book's
run). docs/book.md gives the time measured.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, fields
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from digitlab.book import (
    URLs, DataLoader, DataLoaders, Image, ImageDataLoaders, L, Learner, SGD, accuracy, matplotlib,
    plot_function, plt, resnet18, show_images, tensor, untar_data, vision_learner,
)
from digitlab.train.scratch import batch_accuracy, init_params, mnist_loss


@dataclass
class WalkConfig:
    out: Path = Path("chapter4-output")  # folder for the PNGs
    seed: int = 0  # seeds every random draw: weights, shuffles, the ResNet's subset
    batch_size: int = 256  # items per SGD step, the book's
    hand_epochs: int = 20  # the hand-written loop
    linear_epochs: int = 10  # learn.fit(10, lr=1)
    linear_lr: float = 1.0
    net_epochs: int = 40  # the two-layer net: learn.fit(40, 0.1)
    net_lr: float = 0.1
    resnet_epochs: int = 2  # the book: fit_one_cycle(1, 0.1) on all 12,396 images
    resnet_lr: float = 0.1  # peak of the one-cycle schedule
    # Training images for the ResNet (0 = all 12,396). One epoch of all of them takes minutes on a
    # CPU; 1,500 for two epochs (46 steps) reached 0.9887 in 94 s here. One epoch of 1,500 (23
    # steps) is not enough: the batch-norm statistics are still far off and it scored 0.52.
    resnet_images: int = 1500
    # torch threads. One is fastest for these small matrices on a shared two-core machine: more
    # threads spend longer waiting for each other than computing (the 40-epoch net took 83 s with
    # the default threads and 8.5 s with one, measured under load).
    threads: int = 1


START = time.perf_counter()


def heading(title: str) -> None:
    print(f"\n== [{time.perf_counter() - START:5.0f} s] {title}", flush=True)


def save(fig, out: Path, name: str) -> None:
    """Save `fig` (None: the figure just drawn, as show_images and plot_function return nothing)."""
    fig = fig if fig is not None else plt.gcf()
    fig.savefig(out / name, bbox_inches="tight")
    plt.close(fig)
    print(f"   saved {out / name}")


def load_sample(out: Path) -> dict[str, torch.Tensor]:
    heading("The data: MNIST_SAMPLE, 3s and 7s, read from PNG files as the book does")
    path = untar_data(URLs.MNIST_SAMPLE)
    threes, sevens = (path / "train" / "3").ls().sorted(), (path / "train" / "7").ls().sorted()
    print(f"   {path.ls()}\n   {len(threes)} threes, {len(sevens)} sevens; threes[1] = {threes[1].name}")
    im3 = Image.open(threes[1])
    print(f"   tensor(im3)[4:10, 4:10] =\n{tensor(im3)[4:10, 4:10]}")

    def stack(files) -> torch.Tensor:
        return torch.stack([tensor(Image.open(o)) for o in files]).float() / 255  # (N, 28, 28)

    sets = {
        "threes": stack(threes), "sevens": stack(sevens),
        "valid_threes": stack((path / "valid" / "3").ls()), "valid_sevens": stack((path / "valid" / "7").ls()),
    }
    print(f"   stacked: {tuple(sets['threes'].shape)} and {tuple(sets['sevens'].shape)}")
    save(show_images([*sets["threes"][:4], *sets["sevens"][:4]], nrows=2, figsize=(6, 3)), out, "01_digits.png")
    return sets


def pixel_similarity(sets: dict[str, torch.Tensor], out: Path) -> None:
    heading("Pixel similarity: the ideal 3 and 7 are the mean images")
    mean3, mean7 = sets["threes"].mean(0), sets["sevens"].mean(0)  # (28, 28) each
    save(show_images([mean3, mean7], titles=["mean 3", "mean 7"], figsize=(4, 2)), out, "02_ideal_digits.png")
    a_3 = sets["threes"][1]
    print(f"   a 3 against the ideal 3: L1 {(a_3 - mean3).abs().mean():.4f}, RMSE {((a_3 - mean3) ** 2).mean().sqrt():.4f}")
    print(f"   a 3 against the ideal 7: L1 {(a_3 - mean7).abs().mean():.4f}, RMSE {((a_3 - mean7) ** 2).mean().sqrt():.4f}")

    def is_3(x: torch.Tensor) -> torch.Tensor:
        distance = lambda a, b: (a - b).abs().mean((-1, -2))  # (N, 28, 28) - (28, 28) -> (N,)
        return distance(x, mean3) < distance(x, mean7)

    acc3 = is_3(sets["valid_threes"]).float().mean()
    acc7 = 1 - is_3(sets["valid_sevens"]).float().mean()
    print(f"   validation accuracy: 3s {acc3:.4f}, 7s {acc7:.4f}, both {(acc3 + acc7) / 2:.4f}   (book: 0.9168 0.9854 0.9511)")


def sgd_on_a_quadratic(out: Path) -> None:
    heading("SGD in seven steps, on the book's roller-coaster speeds")
    save(plot_function(lambda x: x**2, "x", "x**2"), out, "03_quadratic.png")
    time_ = torch.arange(0, 20).float()  # (20,) seconds
    speed = torch.randn(20) * 3 + 0.75 * (time_ - 9.5) ** 2 + 1  # (20,) a noisy parabola
    params = torch.randn(3).requires_grad_()  # a, b, c of a*t**2 + b*t + c
    fig, axs = plt.subplots(1, 4, figsize=(12, 3))
    for step in range(40):
        preds = params[0] * time_**2 + params[1] * time_ + params[2]
        loss = ((preds - speed) ** 2).mean()  # mean squared error
        loss.backward()
        params.data -= 1e-5 * params.grad.data  # the book's lr
        params.grad = None
        if step % 10 == 0:
            ax = axs[step // 10]
            ax.scatter(time_, speed)
            ax.scatter(time_, preds.detach(), color="red")
            ax.set_title(f"step {step}: loss {loss.item():.0f}")
        if step % 10 == 9:
            print(f"   step {step + 1}: loss {loss.item():.2f}")
    save(fig, out, "04_sgd_steps.png")


def datasets(sets: dict[str, torch.Tensor]) -> tuple[tuple, tuple]:
    """(x (N, 784), y (N, 1)) for training and validation, 1 for a 3 and 0 for a 7, as the book."""
    def xy(threes, sevens):
        x = torch.cat([threes, sevens]).view(-1, 28 * 28)  # (N, 28, 28) -> (N, 784)
        y = torch.tensor([1] * len(threes) + [0] * len(sevens)).unsqueeze(1)  # (N, 1)
        return x, y

    return xy(sets["threes"], sets["sevens"]), xy(sets["valid_threes"], sets["valid_sevens"])


def linear_by_hand(cfg: WalkConfig, train, valid) -> None:
    heading(f"A linear model trained by hand: {cfg.hand_epochs} epochs, lr {cfg.linear_lr}")
    weights, bias = init_params((28 * 28, 1)), init_params(1)
    dl = DataLoader(train, batch_size=cfg.batch_size)
    valid_dl = DataLoader(valid, batch_size=cfg.batch_size)
    accuracies = []
    for _ in range(cfg.hand_epochs):
        for xb, yb in dl:
            mnist_loss(xb @ weights + bias, yb).backward()  # (B, 784) @ (784, 1) -> (B, 1)
            for p in (weights, bias):
                p.data -= p.grad * cfg.linear_lr
                p.grad.zero_()
        with torch.no_grad():
            accs = [batch_accuracy(xb @ weights + bias, yb) for xb, yb in valid_dl]
        accuracies.append(round(torch.stack(accs).mean().item(), 4))
    print("   " + " ".join(map(str, accuracies)))


def learners(cfg: WalkConfig, train, valid, out: Path) -> None:
    dls = DataLoaders(DataLoader(train, batch_size=cfg.batch_size), DataLoader(valid, batch_size=cfg.batch_size))
    heading(f"Learner with nn.Linear: fit({cfg.linear_epochs}, lr={cfg.linear_lr})   (book: 0.967125)")
    learn = Learner(dls, nn.Linear(28 * 28, 1), opt_func=SGD, loss_func=mnist_loss, metrics=batch_accuracy)
    learn.fit(cfg.linear_epochs, lr=cfg.linear_lr)

    heading(f"A two-layer net: fit({cfg.net_epochs}, {cfg.net_lr})   (book: 0.981845)")
    simple_net = nn.Sequential(nn.Linear(28 * 28, 30), nn.ReLU(), nn.Linear(30, 1))  # (B, 784) -> (B, 1)
    learn = Learner(dls, simple_net, opt_func=SGD, loss_func=mnist_loss, metrics=batch_accuracy)
    learn.fit(cfg.net_epochs, cfg.net_lr)
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.plot(L(learn.recorder.values).itemgot(2))
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation accuracy")
    save(fig, out, "05_simple_net_accuracy.png")


def resnet(cfg: WalkConfig) -> None:
    path = untar_data(URLs.MNIST_SAMPLE)
    dls = ImageDataLoaders.from_folder(path, seed=cfg.seed)
    images, targets = dls.train.dataset  # (12396, 1, 28, 28), (12396,)
    n = cfg.resnet_images or len(targets)
    heading(f"resnet18 from random weights: fit_one_cycle({cfg.resnet_epochs}, {cfg.resnet_lr}) on "
            f"{n:,} training images   (book, all 12,396: 0.996075)")
    keep = torch.randperm(len(targets), generator=torch.Generator().manual_seed(cfg.seed))[:n]
    subset = DataLoader((images[keep], targets[keep]), batch_size=64, shuffle=True, seed=cfg.seed, drop_last=True)
    learn = vision_learner(DataLoaders(subset, dls.valid), resnet18, pretrained=False, n_out=dls.c,
                           loss_func=F.cross_entropy, metrics=accuracy)
    learn.fit_one_cycle(cfg.resnet_epochs, cfg.resnet_lr)
    print(f"   validation accuracy {learn.recorder.values[-1][2]:.4f} on {len(dls.valid.dataset[1]):,} images")


def main(argv: list[str] | None = None) -> int:
    defaults = WalkConfig()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for f in fields(WalkConfig):
        parser.add_argument(f"--{f.name.replace('_', '-')}", type=type(getattr(defaults, f.name)),
                            default=getattr(defaults, f.name))
    cfg = WalkConfig(**vars(parser.parse_args(argv)))
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    matplotlib.rc("image", cmap="Greys")  # the book's ink: dark digits on white
    cfg.out.mkdir(parents=True, exist_ok=True)

    sets = load_sample(cfg.out)
    pixel_similarity(sets, cfg.out)
    sgd_on_a_quadratic(cfg.out)
    train, valid = datasets(sets)
    linear_by_hand(cfg, train, valid)
    learners(cfg, train, valid, cfg.out)
    resnet(cfg)
    print(f"\nThe whole chapter took {time.perf_counter() - START:.0f} s; pictures are in {cfg.out}/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
