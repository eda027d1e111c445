"""The plain CNN that digitlab's speed is measured beside: what a PyTorch user writes in a few minutes.

Three conv blocks of width 16 (conv, batch norm, ReLU, max pool), a linear head, two epochs of
one-cycle SGD at batch 128 on MNIST's 60,000 training digits held in memory as tensors, no
augmentation, scored on the 10,000 test digits. Run as its own process, so that its time (start-up,
data, training, scoring) compares with a whole digitlab command:

    python benchmarks/plain_cnn.py [--seed 0] [--epochs 2]     # beside `digitlab train`
    python benchmarks/plain_cnn.py --score                     # beside `digitlab evaluate`: the
                                                               # 10,000 test digits scored, no training
    python benchmarks/plain_cnn.py --files LIST                # beside `digitlab predict`: each file
                                                               # decoded, made 28 x 28 grey, scored

It prints one line: `plain cnn: test accuracy 99.xx % (seed S, T s of training)`. Without training
(--score, --files) the net's weights are its initial ones: those rows time the work, not accuracy.
"""

from __future__ import annotations

import argparse
import gzip
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

MNIST = Path(__file__).resolve().parents[1] / "src" / "digitlab" / "data" / "mnist"
WIDTH, BATCH, LR = 16, 128, 0.1


def idx(name: str) -> np.ndarray:
    """A gzipped IDX file as numpy: the shipped MNIST, read directly (no digitlab code)."""
    raw = gzip.decompress((MNIST / name).read_bytes())
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def block(ni: int, nf: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(ni, nf, 3, padding=1, bias=False), nn.BatchNorm2d(nf), nn.ReLU(), nn.MaxPool2d(2))


def network() -> nn.Sequential:
    return nn.Sequential(block(1, WIDTH), block(WIDTH, 2 * WIDTH), block(2 * WIDTH, 4 * WIDTH),  # 28 -> 14 -> 7 -> 3
                         nn.Flatten(), nn.Linear(4 * WIDTH * 9, 10))


def score_files(listing: Path) -> None:
    """Each listed image decoded, made grey, resized to 28 x 28 and scored, in batches of 256."""
    from PIL import Image

    model = network().eval()
    paths = listing.read_text().split()
    answers = []
    with torch.no_grad():
        for start in range(0, len(paths), 256):
            pixels = np.stack([np.asarray(Image.open(p).convert("L").resize((28, 28), Image.Resampling.BILINEAR))
                               for p in paths[start:start + 256]])
            answers.append(model(torch.from_numpy(pixels).float().div(255).unsqueeze(1)).argmax(1))
    print(f"plain cnn: {len(torch.cat(answers))} files scored (untrained weights)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--score", action="store_true", help="no training: the test digits scored")
    parser.add_argument("--files", type=Path, help="no training: these files (one path a line) scored")
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    if args.files:
        return score_files(args.files)
    model = network()
    seconds = 0.0
    if not args.score:
        seconds = train(model, args.epochs)
    xt = torch.from_numpy(idx("t10k-images-idx3-ubyte.gz").copy()).float().div(255).unsqueeze(1)  # (10000, 1, 28, 28)
    yt = torch.from_numpy(idx("t10k-labels-idx1-ubyte.gz").astype(np.int64))
    model.eval()
    with torch.no_grad():
        right = sum((model(part).argmax(1) == labels).sum().item() for part, labels in zip(xt.split(1000), yt.split(1000)))
    print(f"plain cnn: test accuracy {right / len(xt):.2%} (seed {args.seed}, {seconds:.1f} s of training)")


def train(model: nn.Module, epochs: int) -> float:
    """Seconds of `epochs` of one-cycle SGD on the 60,000 training digits, held in memory."""
    x = torch.from_numpy(idx("train-images-idx3-ubyte.gz").copy()).float().div(255).unsqueeze(1)  # (60000, 1, 28, 28)
    y = torch.from_numpy(idx("train-labels-idx1-ubyte.gz").astype(np.int64))
    steps = epochs * -(-len(x) // BATCH)
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=0.9, nesterov=True, weight_decay=5e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=LR, total_steps=steps)
    start = time.perf_counter()
    model.train()
    for _ in range(epochs):
        for batch in torch.randperm(len(x)).split(BATCH):
            loss = nn.functional.cross_entropy(model(x[batch]), y[batch])
            opt.zero_grad()
            loss.backward()
            opt.step()
            schedule.step()
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
