"""Seconds of training to 99.0 % and 99.5 % MNIST test accuracy: digitlab's recipe, plain PyTorch, fastai.

    python benchmarks/time_to_accuracy.py [--device cpu|cuda|auto] [--seeds 3] [--quick]
    python benchmarks/time_to_accuracy.py --end-to-end      # the whole `digitlab train cnn` command

Side by side, in one run, on the full MNIST (60,000 training images, 10,000 test images):
- digitlab: `training.fit` with a preset (fast by default; on CUDA its GPU form), data kept on the device;
- baseline: what tutorials write: a two-conv net with dropout and Adam, fed by a per-sample
  `torch.utils.data.DataLoader` over a `Dataset`;
- fastai, where it is installed: the chapter's resnet18 from scratch, fit_one_cycle at lr 0.1, on
  fastai's MNIST folder of PNG files (written once from the shipped MNIST); --skip-fastai leaves it out.
On CUDA a short untimed fit runs first and its seconds are printed: the process's one-time
start-up (cuDNN, kernel loading), which would otherwise land on whichever run came first.
Each is scored on the test images at every epoch end; "to 99.0 %" is the training time (scoring
excluded) up to the first epoch end at or above it. A preset with test-time shifts (medium, best)
is scored with them only after its last epoch (training._scorer), so its earlier figures are a
little low. Means are over the seeds. The machine may be
shared: wall-clock figures are noisy, so read them with the load average printed beside them.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGETS = (0.990, 0.995)


def _load_mnist():
    from digitlab.data import datasets

    train, test = datasets.load("mnist", "train"), datasets.load("mnist", "test")
    return train.images, train.labels, test.images, test.labels


def _first_reaching(rows: list[dict], target: float) -> float | None:
    """Training seconds up to the first epoch end at or above `target`, or None."""
    spent = 0.0
    for row in rows:
        spent += row["seconds"]
        if row["accuracy"] >= target:
            return spent
    return None


# ---------------------------------------------------------------------------------------------
# digitlab
# ---------------------------------------------------------------------------------------------


def run_digitlab(seed: int, device: str, preset: str, epochs: int | None, n_train: int,
                 cuda_graph: bool = True) -> list[dict]:
    import torch

    from digitlab.classifiers.cnn import presets, network, training
    from digitlab.train import devices

    xs, ys, xv, yv = _load_mnist()
    device = devices.resolve_device(device)
    changes = {"seed": seed} | ({"epochs": epochs} if epochs else {})
    config = presets.preset(preset, device, **changes)  # on CUDA, the preset's GPU form
    torch.manual_seed(seed)
    model = network.build(config, 10)
    return training.fit(model, config, xs[:n_train], ys[:n_train], valid=(xv, yv), device=device, progress=False,
                      cuda_graph=cuda_graph)


def cuda_start_up(device: str) -> float:
    """Seconds of a short fit in a process that has not used the GPU yet: loading cuDNN and the
    kernels, the first graph. Paid once per process; run first so that no method's figure holds it."""
    import torch

    from digitlab.classifiers.cnn import presets, network, training

    xs, ys, _, _ = _load_mnist()
    config = presets.preset("fast", device, epochs=1)
    started = time.perf_counter()
    training.fit(network.build(config, 10), config, xs[:4096], ys[:4096], device=device, progress=False)
    torch.cuda.synchronize()
    return time.perf_counter() - started


# ---------------------------------------------------------------------------------------------
# The plain-PyTorch baseline, as tutorials write it
# ---------------------------------------------------------------------------------------------


def run_baseline(seed: int, device: str, epochs: int, n_train: int) -> list[dict]:
    import torch
    from torch import nn
    from torch.utils.data import DataLoader, Dataset

    from digitlab.train import devices

    class Digits(Dataset):
        def __init__(self, images, labels):
            self.images, self.labels = images, labels

        def __len__(self):
            return len(self.labels)

        def __getitem__(self, i):
            x = (self.images[i].float() / 255 - 0.1307) / 0.3081  # (28, 28), standardised
            return x.unsqueeze(0), self.labels[i]  # (1, 28, 28), label

    class Net(nn.Module):  # the shape of PyTorch's own MNIST example
        def __init__(self):
            super().__init__()
            self.conv1, self.conv2 = nn.Conv2d(1, 32, 3), nn.Conv2d(32, 64, 3)
            self.fc1, self.fc2 = nn.Linear(9216, 128), nn.Linear(128, 10)
            self.drop1, self.drop2 = nn.Dropout(0.25), nn.Dropout(0.5)

        def forward(self, x):
            x = torch.relu(self.conv2(torch.relu(self.conv1(x))))  # (B, 64, 24, 24)
            x = self.drop1(torch.max_pool2d(x, 2)).flatten(1)  # (B, 9216)
            return self.fc2(self.drop2(torch.relu(self.fc1(x))))  # (B, 10)

    torch.manual_seed(seed)
    xs, ys, xv, yv = _load_mnist()
    device = devices.resolve_device(device)
    model = Net().to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = DataLoader(Digits(xs[:n_train], ys[:n_train]), batch_size=64, shuffle=True)
    test_loader = DataLoader(Digits(xv, yv), batch_size=1000)
    rows = []
    for epoch in range(epochs):
        started = time.perf_counter()
        model.train()
        for xb, yb in loader:
            xb, yb = xb.to(device), yb.to(device)
            loss = nn.functional.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
        seconds = time.perf_counter() - started
        model.eval()
        correct = 0
        with torch.no_grad():
            for xb, yb in test_loader:
                correct += (model(xb.to(device)).argmax(dim=1).cpu() == yb).sum().item()
        rows.append({"epoch": epoch, "accuracy": correct / len(yv), "seconds": seconds})
    return rows


# ---------------------------------------------------------------------------------------------
# The same chapter done with fastai, where it is installed
# ---------------------------------------------------------------------------------------------


def fastai_version() -> str | None:
    try:
        import fastai
    except ImportError:
        return None
    return fastai.__version__


def run_fastai(seed: int, device: str, epochs: int, n_train: int, lr: float) -> list[dict]:
    """The chapter's CNN the fastai way: resnet18 from scratch on fastai's MNIST folder (PNG files
    read and turned into 3-channel tensors one by one, as fastai does), fit_one_cycle at the
    chapter's lr. The folder is written once from the shipped MNIST; n_train < 60,000 takes a seeded
    random subset of the training files. Seconds are the training phases only, as for the others."""
    import random

    import torch
    from fastai.vision.all import (Callback, CategoryBlock, DataBlock, ImageBlock, IndexSplitter, accuracy,
                                   get_image_files, parent_label, resnet18, set_seed, vision_learner)

    from digitlab.data.export import export_layout
    from digitlab.store.files import home
    from digitlab.train import devices

    device_ = devices.resolve_device(device)

    class TrainClock(Callback):
        """Seconds of each epoch's training phase, validation left out."""

        def __init__(self):
            self.seconds = []

        def before_train(self):
            self.started = time.perf_counter()

        def after_train(self):
            if device_.type == "cuda":
                torch.cuda.synchronize()  # the GPU's queue is part of the epoch
            self.seconds.append(time.perf_counter() - self.started)

    root = export_layout("mnist_png", home() / "book")  # where digitlab.book's untar_data puts it
    train_files = sorted(get_image_files(root / "training"))
    if n_train < len(train_files):
        train_files = random.Random(seed).sample(train_files, n_train)
    valid_files = sorted(get_image_files(root / "testing"))
    items = train_files + valid_files
    block = DataBlock(blocks=(ImageBlock, CategoryBlock), get_y=parent_label,
                      splitter=IndexSplitter(range(len(train_files), len(items))))
    set_seed(seed, reproducible=True)
    dls = block.dataloaders(items, bs=64, device=device_)
    learn = vision_learner(dls, resnet18, pretrained=False, metrics=accuracy)
    clock = TrainClock()
    with learn.no_bar(), learn.no_logging():
        learn.fit_one_cycle(epochs, lr, cbs=[clock])
    return [{"epoch": epoch, "accuracy": float(values[2]), "seconds": seconds}
            for epoch, (values, seconds) in enumerate(zip(learn.recorder.values, clock.seconds, strict=True))]


# ---------------------------------------------------------------------------------------------
# The whole command, start-up included
# ---------------------------------------------------------------------------------------------


def run_command(seed: int, device: str, preset: str, epochs: int | None) -> dict:
    """Wall seconds of `digitlab train cnn --dataset mnist --recipe PRESET` in a fresh process, and its accuracy."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "model"
        command = [sys.executable, "-m", "digitlab", "train", "cnn", "--dataset", "mnist", "--device", device,
                   "--recipe", preset, "--seed", str(seed), "--out", str(out)]
        command += ["--epochs", str(epochs)] if epochs else []
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True)
        wall = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"digitlab train failed ({done.returncode}):\n{done.stderr[-2000:]}")
        saved = json.loads((out / "config.json").read_text())
    return {"wall": wall, "accuracy": saved["accuracy"], "epochs": len(saved["history"])}


# ---------------------------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------------------------


def _mean(values: list[float | None]) -> str:
    if not values or any(v is None for v in values):
        reached = sum(v is not None for v in values)
        return f"not reached ({reached}/{len(values)} seeds)" if values else "-"
    return f"{statistics.mean(values):.1f} s" + (f" ± {statistics.stdev(values):.1f}" if len(values) > 1 else "")


def run_seeds(who: str, name: str, seeds: int, run, first: int = 0) -> dict:
    """`run(seed)` for seeds first..first+seeds-1, each run's epochs printed as it ends; their summary."""
    runs = []
    for seed in range(first, first + seeds):
        runs.append(run(seed))
        print(f"{who} seed {seed}: " + ", ".join(f"{100 * r['accuracy']:.2f} % @ {r['seconds']:.1f} s"
                                                 for r in runs[-1]), flush=True)
    return summarise(name, runs)


def summarise(name: str, runs: list[list[dict]]) -> dict:
    finals = [rows[-1]["accuracy"] for rows in runs]
    return {
        "name": name,
        "to": {t: [_first_reaching(rows, t) for rows in runs] for t in TARGETS},
        "final": finals,
        "epochs": len(runs[0]),
        "train_seconds": [sum(r["seconds"] for r in rows) for rows in runs],
    }


def print_table(results: list[dict]) -> None:
    print(f"\n{'method':<34} {'to 99.0 %':>20} {'to 99.5 %':>24} {'final accuracy':>20} {'epochs':>6}")
    for r in results:
        final = f"{100 * statistics.mean(r['final']):.2f} %" + (
            f" ± {100 * statistics.stdev(r['final']):.2f}" if len(r["final"]) > 1 else "")
        print(f"{r['name']:<34} {_mean(r['to'][0.990]):>20} {_mean(r['to'][0.995]):>24} {final:>20} "
              f"{r['epochs']:>6}")
    mine = results[0]
    for other in results[1:]:
        who = other["name"].split(" (")[0]  # "baseline", "fastai"
        for target in TARGETS:
            a, b = mine["to"][target], other["to"][target]
            if all(v is not None for v in a + b):
                print(f"{who} / digitlab, seconds to {100 * target:.1f} %: {statistics.mean(b) / statistics.mean(a):.1f}x")
            else:
                print(f"{who} / digitlab, seconds to {100 * target:.1f} %: n/a (not reached by every seed)")
        per_epoch = [statistics.mean(r["train_seconds"]) / r["epochs"] for r in (other, mine)]
        print(f"{who} / digitlab, training seconds per epoch: {per_epoch[0] / per_epoch[1]:.1f}x")


def describe_machine(device: str) -> str:
    import platform

    import torch

    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else platform.processor()
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "none"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{os.cpu_count()} cores, {model}; GPU {gpu}; torch {torch.__version__}, {torch.get_num_threads()} "
            f"threads; python {platform.python_version()}; load average {load:.1f}; device {device}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto (default: cpu)")
    parser.add_argument("--seeds", type=int, default=3, help="runs per method, seeds S..S+N-1 (default: 3)")
    parser.add_argument("--first-seed", type=int, default=0, help="S, the first seed (default: 0)")
    parser.add_argument("--preset", default="fast", help="digitlab's recipe: fast (default), medium or best")
    parser.add_argument("--epochs", type=int, help="digitlab's epochs (default: the preset's)")
    parser.add_argument("--baseline-epochs", type=int, default=3, help="baseline epochs (default: 3)")
    parser.add_argument("--baseline-seeds", type=int, help="baseline runs (default: --seeds)")
    parser.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's choice)")
    parser.add_argument("--no-graph", action="store_true",
                        help="on CUDA, digitlab's steps run plainly rather than replayed from a CUDA graph")
    parser.add_argument("--skip-baseline", action="store_true", help="no plain-PyTorch baseline")
    parser.add_argument("--skip-fastai", action="store_true", help="no fastai run, even where it is installed")
    parser.add_argument("--fastai-epochs", type=int, default=2, help="fastai's epochs (default: 2)")
    parser.add_argument("--fastai-seeds", type=int, help="fastai runs (default: --seeds)")
    parser.add_argument("--fastai-lr", type=float, default=0.1, help="fastai's peak lr (default: the chapter's 0.1)")
    parser.add_argument("--end-to-end", action="store_true",
                        help="time the whole `digitlab train cnn --dataset mnist` command instead")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: one seed, 5,000 training images, one baseline epoch")
    parser.add_argument("--json", metavar="FILE", help="also write the results here")
    args = parser.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.quick:
        args.seeds, args.baseline_seeds, args.baseline_epochs, args.fastai_seeds, args.fastai_epochs = 1, 1, 1, 1, 1
    n_train = 5_000 if args.quick else 60_000
    print(describe_machine(args.device), flush=True)

    if args.end_to_end:
        runs = []
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            runs.append(run_command(seed, args.device, args.preset, args.epochs))
            print(f"seed {seed}: {runs[-1]['wall']:.1f} s wall, accuracy {100 * runs[-1]['accuracy']:.2f} % "
                  f"after {runs[-1]['epochs']} epochs", flush=True)
        walls = sorted(r["wall"] for r in runs)
        print(f"digitlab train cnn --dataset mnist --recipe {args.preset}: median {statistics.median(walls):.1f} s wall "
              f"(min {walls[0]:.1f}, max {walls[-1]:.1f}), mean accuracy "
              f"{100 * statistics.mean(r['accuracy'] for r in runs):.2f} %")
        return

    from digitlab.train import devices

    if devices.resolve_device(args.device).type == "cuda":
        print(f"CUDA start-up in this process, before any timed run: {cuda_start_up(args.device):.2f} s "
              "(a short fit; --end-to-end includes it)", flush=True)
    name = f"digitlab recipe ({args.preset}" + (", no graph)" if args.no_graph else ")")
    results = [run_seeds("digitlab", name, args.seeds,
                         lambda seed: run_digitlab(seed, args.device, args.preset, args.epochs, n_train,
                                                   not args.no_graph), args.first_seed)]
    if not args.skip_baseline:
        results.append(run_seeds("baseline", "baseline (DataLoader, Adam)", args.baseline_seeds or args.seeds,
                                 lambda seed: run_baseline(seed, args.device, args.baseline_epochs, n_train),
                                 args.first_seed))
    version = fastai_version()
    if version is None:
        print("fastai: not installed, skipped")
    elif not args.skip_fastai:
        results.append(run_seeds("fastai", f"fastai {version} (resnet18)", args.fastai_seeds or args.seeds,
                                 lambda seed: run_fastai(seed, args.device, args.fastai_epochs, n_train,
                                                         args.fastai_lr), args.first_seed))
    print_table(results)
    print(describe_machine(args.device))
    if args.json:
        from digitlab.classifiers.cnn import presets
        from digitlab.store.files import atomic_write
        from digitlab.train import devices

        config = dataclasses.asdict(presets.preset(args.preset, devices.resolve_device(args.device)))
        with atomic_write(args.json, "w") as f:
            json.dump({"machine": describe_machine(args.device), "config": config, "results": results}, f,
                      indent=1, default=str)


if __name__ == "__main__":
    main()
