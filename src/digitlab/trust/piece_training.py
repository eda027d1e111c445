"""How the piece judge is trained: the pieces the cutter weighs in numbers drawn from MNIST's training
digits below heldout.START (numbers.FIT), each labelled by how its box meets the true digits' boxes
(`label`), `fit` through Learner.fit, and `build`, which `python -m digitlab.pretrained --methods
pieces` runs. Nothing here looks at the number set's own parts: the weights with which reading.judge
mixes this judge with the gate and the cnn are chosen afterwards on its choose part."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from digitlab.train.callbacks import Callback
from digitlab.trust.pieces import ONE, PART, SEVERAL, PieceConfig, PieceJudge, save

CATEGORIES = ("handwritten", "pen", "photo")  # drawn in turn; typed numbers seldom touch
WHOLE = 0.8  # a piece whose box meets a digit's with this intersection over union is that digit, whole
COVERS = 0.6  # a piece holding this share of two digits' boxes or more is several digits
VALID_EVERY = 10  # every tenth training number's pieces are the fit's validation pieces
VERSION = "v1"  # bump when what a piece is, or its label, changes


def label(box: tuple[float, ...], digits: tuple[tuple[float, ...], ...]) -> int:
    """ONE when `box` (x0, y0, x1, y1) is one of `digits`' boxes nearly exactly, SEVERAL when it holds
    most of two of them or more, else PART (a fragment, or a fragment with a neighbour's)."""
    best, held = 0.0, 0
    for digit in digits:
        across = min(box[2], digit[2]) - max(box[0], digit[0])
        down = min(box[3], digit[3]) - max(box[1], digit[1])
        shared = max(across, 0) * max(down, 0)
        area = (digit[2] - digit[0]) * (digit[3] - digit[1])
        union = (box[2] - box[0]) * (box[3] - box[1]) + area - shared
        best = max(best, shared / union if union else 0.0)
        held += area > 0 and shared / area > COVERS
    return ONE if best >= WHOLE else SEVERAL if held >= 2 else PART


def number_pieces(number) -> tuple[np.ndarray, np.ndarray]:
    """(framed pieces (m, 28, 28) uint8, their labels (m,)) of one drawn number (numbers.Number)."""
    from digitlab.vision import splitting
    from digitlab.vision.mnist_style import cropped, from_ink
    from digitlab.vision.page import MIN_INK_PIXELS

    framed, labels = [], []
    for box, piece in splitting.weighed_pieces(number.image):
        if (piece > 0).sum() >= MIN_INK_PIXELS:  # as the cutter judges only inked pieces
            framed.append((from_ink(cropped(piece)) * 255).round().to(torch.uint8).numpy())
            labels.append(label(box, number.boxes))
    if not framed:
        return np.zeros((0, 28, 28), dtype=np.uint8), np.zeros(0, dtype=np.uint8)
    return np.stack(framed), np.asarray(labels, dtype=np.uint8)


def training_pieces(config: PieceConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pieces (n, 28, 28) uint8, labels (n,) uint8, the number each came from (n,)) of config.numbers
    training numbers, cached under home(): drawing them takes about 0.15 s a number."""
    from digitlab.data import numbers
    from digitlab.store import array_cache
    from digitlab.store.files import home
    from digitlab.vision.mnist_style import PREPROCESS_VERSION

    path = home() / "pieces" / (f"pieces-{VERSION}-numbers{numbers.VERSION}-prep{PREPROCESS_VERSION}"
                                f"-seed{config.numbers_seed}-{config.numbers}.npz")
    saved = array_cache.load(path, ("images", "labels", "numbers"), "piece judge's training pieces")
    if saved:
        return saved["images"], saved["labels"], saved["numbers"]
    images, labels, which = [], [], []
    for i in range(config.numbers):
        drawn = numbers.number(CATEGORIES[i % len(CATEGORIES)], i // len(CATEGORIES), numbers.FIT, config.numbers_seed)
        x, y = number_pieces(drawn)
        images.append(x), labels.append(y), which.append(np.full(len(y), i, dtype=np.int64))
    # the number's index as uint8 bytes: array_cache keeps uint8 arrays only
    arrays = {"images": np.concatenate(images), "labels": np.concatenate(labels),
              "numbers": np.concatenate(which).astype("<u4").view(np.uint8)}
    array_cache.save(path, **arrays)
    return arrays["images"], arrays["labels"], arrays["numbers"]


def _split(config: PieceConfig) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """(fit, validation) pieces as (N, 1, 28, 28) float in [0, 1] and (N,) labels: a number's pieces
    all on one side (pieces of one number look alike)."""
    images, labels, which = training_pieces(config)
    which = which.view("<u4")
    valid = torch.from_numpy(which % VALID_EVERY == VALID_EVERY - 1)
    x = torch.from_numpy(images).float().div(255).unsqueeze(1)
    y = torch.from_numpy(labels.astype(np.int64))
    return (x[~valid], y[~valid]), (x[valid], y[valid])


def fit(config: PieceConfig, progress: bool = True) -> tuple[PieceJudge, dict]:
    """Train a piece judge on the training pieces (each batch shifted by up to a pixel), through
    Learner.fit (AdamW, torch's one-cycle lr stepped after every batch); (the judge, its figures on
    the validation pieces)."""
    from digitlab.metrics import accuracy
    from digitlab.train.learner import DataLoader, DataLoaders, Learner
    from digitlab.trust.gate import GateNet
    from digitlab.trust.gate_training import TorchOneCycle

    torch.manual_seed(config.seed)
    train, valid = _split(config)
    dls = DataLoaders(DataLoader(train, config.batch_size, shuffle=True, seed=config.seed, drop_last=True),
                      DataLoader(valid, 1024))

    def adamw(params, lr: float) -> torch.optim.AdamW:
        return torch.optim.AdamW(params, lr=lr, weight_decay=config.weight_decay)

    net = GateNet(config.width)
    learn = Learner(dls, net, opt_func=adamw, lr=config.lr, metrics=accuracy, progress=progress)
    learn.fit(config.epochs, cbs=[_Shift(config.seed), TorchOneCycle(config.lr, config.epochs * len(dls.train))])
    judge = PieceJudge(net, config)
    return judge, scores(judge, *valid)


def scores(judge: PieceJudge, images: torch.Tensor, labels: torch.Tensor) -> dict:
    """How the judge does on labelled pieces: its accuracy, and how many whole digits it calls whole
    (recall) and how many it calls whole are (precision)."""
    said = judge.proba(images[:, 0]).argmax(1)
    whole, called = labels == ONE, said == ONE
    return {"valid_accuracy": float((said == labels).float().mean()),
            "valid_one_recall": float((called & whole).sum() / max(1, int(whole.sum()))),
            "valid_one_precision": float((called & whole).sum() / max(1, int(called.sum()))),
            "valid_pieces": float(len(labels)), "valid_share_one": float(whole.float().mean()),
            "valid_share_several": float((labels == SEVERAL).float().mean()),
            "valid_share_part": float((labels == PART).float().mean())}


class _Shift(Callback):
    """Each training batch moved by up to a pixel each way (one draw a batch): a piece's framing varies
    that much with where the cut runs."""

    def __init__(self, seed: int):
        self.generator = torch.Generator().manual_seed(seed)

    def before_batch(self, learn) -> None:
        if learn.training:
            dy, dx = (torch.randint(-1, 2, (2,), generator=self.generator)).tolist()
            learn.xb = torch.roll(learn.xb, (dy, dx), (2, 3))


def build(out: Path, config: PieceConfig | None = None) -> dict:
    """Train a piece judge and save it at `out`; its figures on the validation pieces."""
    judge, figures = fit(config or PieceConfig())
    save(judge, out, figures)
    print("piece judge: " + ", ".join(f"{k.removeprefix('valid_')} {v:.4g}" for k, v in figures.items()), flush=True)
    return figures


__all__ = ["CATEGORIES", "WHOLE", "COVERS", "label", "number_pieces", "training_pieces", "fit", "scores", "build"]
