"""How the strip reader (strip_reading.py) is trained: the groups of ink the splitter finds, uncut, in
numbers drawn from MNIST's training digits below heldout.START (numbers.FIT), each labelled by the
digits whose box centres it holds, and the groups of the non-digit training generator's draws (below
nondigits.CHOICE_FROM) labelled with no digits; `fit` through Learner.fit with CTC's loss, and
`build`, which `python -m digitlab.pretrained --methods strips` runs. Nothing here looks at the
number set's own parts or the non-digit test set."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch

from digitlab.train.callbacks import Callback
from digitlab.vision.strip_reading import BLANK, StripConfig, StripNet, StripReader, batch, save, strip

# Every gap kind in turn, touching and overlapping twice: what the cutter cannot part is what it must read
GAPS = ("wide", "normal", "touching", "overlapping", "touching", "overlapping")
NEAR_LINE = 2  # work px: a digit's centre this far above or below a group still counts as in it
VALID_EVERY = 10  # every tenth training number's strips (and non-digit's) are the fit's validation strips
VERSION = "v1"  # bump when what a strip is, or its label, changes


def labelled_strips(number) -> list[tuple[np.ndarray, str]]:
    """Each group the splitter finds in a drawn number (numbers.Number), uncut, as a strip, with the
    digits whose box centres it holds; none when some digit falls in no group or in two."""
    from digitlab.vision import splitting

    groups, scale = splitting.group_inks(number.image)
    centres = [((x0 + x1) / 2 / scale, (y0 + y1) / 2 / scale) for x0, y0, x1, y1 in number.boxes]
    out, used = [], []
    for (x0, y0, x1, y1), own in groups:
        inside = [k for k, (x, y) in enumerate(centres) if x0 <= x < x1 and y0 - NEAR_LINE <= y < y1 + NEAR_LINE]
        if inside:
            used += inside
            out.append((strip(own), "".join(number.text[k] for k in inside)))
    return out if sorted(used) == list(range(len(centres))) else []


def nondigit_strips(image) -> list[np.ndarray]:
    """The strips of every group of a non-digit image tall enough to be cut (splitting.MIN_CUT_HEIGHT)."""
    from digitlab.errors import BlankImage
    from digitlab.vision import splitting

    try:
        groups, _ = splitting.group_inks(image, "non-digit")
    except BlankImage:
        return []
    return [strip(own) for _, own in groups if own.shape[0] >= splitting.MIN_CUT_HEIGHT]


def training_strips(config: StripConfig) -> tuple[list[np.ndarray], list[str], np.ndarray]:
    """(strips as uint8, their digits, the number or non-digit each came from, non-digits numbered on
    from config.numbers): drawing them takes about 0.03 s a number on one core."""
    from digitlab.data import nondigits, numbers

    strips, texts, which = [], [], []
    for n in range(config.numbers):
        category = numbers.CATEGORIES[n % len(numbers.CATEGORIES)]
        drawn = numbers.number(category, n // len(numbers.CATEGORIES), numbers.FIT, config.numbers_seed, GAPS)
        for s, text in labelled_strips(drawn):
            strips.append((s * 255).round().astype(np.uint8)), texts.append(text), which.append(n)
    k = config.numbers
    for category in nondigits.CATEGORIES[:-1]:  # not "several": those are digits
        for i in range(config.nondigits):
            for s in nondigit_strips(nondigits.raw_image(category, i, "train")):
                strips.append((s * 255).round().astype(np.uint8)), texts.append(""), which.append(k)
            k += 1
    return strips, texts, np.asarray(which)


class StripLoader:
    """Batches of strips of like widths (sorted by width, cut into batches, the batches shuffled each
    epoch): (x (B, 1, 28, W), y (B, 2 + S)): each strip's time steps, its digits' count, its digits
    padded to the batch's longest, S, as CTC's loss takes them)."""

    def __init__(self, strips: list[np.ndarray], texts: list[str], batch_size: int, shuffle: bool, seed: int):
        order = np.argsort([s.shape[1] for s in strips], kind="stable")
        self.chunks = [order[k:k + batch_size] for k in range(0, len(order), batch_size)]
        self.strips, self.texts, self.shuffle, self.seed, self.epoch = strips, texts, shuffle, seed, 0
        self.device = None

    def __len__(self) -> int:
        return len(self.chunks)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        from digitlab.train.seeding import epoch_generator

        order = (torch.randperm(len(self.chunks), generator=epoch_generator(self.seed, self.epoch))
                 if self.shuffle else torch.arange(len(self.chunks)))
        for k in order.tolist():
            idx = self.chunks[k]
            x, steps = batch([self.strips[i] for i in idx])
            longest = max(1, max(len(self.texts[i]) for i in idx))
            y = torch.full((len(idx), 2 + longest), BLANK, dtype=torch.long)
            y[:, 0] = steps
            for row, i in enumerate(idx):
                y[row, 1] = len(self.texts[i])
                y[row, 2:2 + len(self.texts[i])] = torch.tensor([int(c) for c in self.texts[i]], dtype=torch.long)
            yield x, y


def ctc_loss(logp: torch.Tensor, y: torch.Tensor, nondigit_weight: float = 1.0) -> torch.Tensor:
    """(T, B, 11) log-probabilities, y as StripLoader packs it -> CTC's loss of each strip over its
    digits' count (at least 1), as torch's "mean" takes it, then a mean over the batch in which a strip
    with no digits weighs `nondigit_weight` (1: torch's "mean" exactly, bit for bit). A strip too short
    for its digits adds nothing rather than infinity."""
    counts = y[:, 1]  # (B,) digits a strip
    each = torch.nn.functional.ctc_loss(logp, y[:, 2:], y[:, 0], counts, blank=BLANK, reduction="none",
                                        zero_infinity=True) / counts.clamp(min=1)  # (B,)
    weights = torch.ones_like(each)
    weights[counts == 0] = nondigit_weight
    # sum(w * each) / sum(w) written as a plain mean of each scaled by w / mean(w): with every w 1 the
    # scale is exactly 1, so the loss and its gradients are torch's "mean" reduction's to the bit
    return (each * (weights / weights.mean())).mean()


def loss_for(config: StripConfig):
    """The loss `fit` trains `config`'s reader with: CTC's, its no-digit strips weighted as config says."""
    return functools.partial(ctc_loss, nondigit_weight=config.nondigit_weight)


class _Shift(Callback):
    """Half the training batches moved a pixel up or down (one draw a batch): where a group's ink sits
    in its strip varies that much with its height."""

    def __init__(self, seed: int):
        self.generator = torch.Generator().manual_seed(seed)

    def before_batch(self, learn) -> None:
        if learn.training and torch.rand(1, generator=self.generator) < 0.5:
            step = 1 if torch.rand(1, generator=self.generator) < 0.5 else -1
            learn.xb = torch.roll(learn.xb, step, 2)


def fit(config: StripConfig, progress: bool = True) -> tuple[StripReader, dict]:
    """Train a strip reader on the training strips (a tenth of the numbers' and non-digits' kept back)
    through Learner.fit (AdamW, torch's one-cycle lr stepped after every batch); (the reader, its
    figures on the strips kept back)."""
    from digitlab.train.learner import DataLoaders, Learner
    from digitlab.trust.gate_training import TorchOneCycle

    torch.manual_seed(config.seed)
    strips, texts, which = training_strips(config)
    valid = which % VALID_EVERY == VALID_EVERY - 1  # a number's strips all on one side
    train_i, valid_i = np.flatnonzero(~valid), np.flatnonzero(valid)
    pick = lambda idx: ([strips[i] for i in idx], [texts[i] for i in idx])  # noqa: E731
    dls = DataLoaders(StripLoader(*pick(train_i), config.batch_size, True, config.seed),
                      StripLoader(*pick(valid_i), 256, False, config.seed))

    def adamw(params, lr: float) -> torch.optim.AdamW:
        return torch.optim.AdamW(params, lr=lr, weight_decay=config.weight_decay)

    net = StripNet(config.width, config.hidden)
    learn = Learner(dls, net, opt_func=adamw, loss_func=loss_for(config), lr=config.lr, progress=progress)
    learn.fit(config.epochs, cbs=[_Shift(config.seed), TorchOneCycle(config.lr, config.epochs * len(dls.train))])
    reader = StripReader(net, config)
    return reader, scores(reader, *pick(valid_i))


def scores(reader: StripReader, strips: list[np.ndarray], texts: list[str]) -> dict:
    """The share of strips read right: all, those of several digits, those of none (non-digits'), and
    of counts right."""
    said = [r.text for r in reader.read_strips(strips)]
    right = np.array([s == t for s, t in zip(said, texts)])
    several = np.array([len(t) > 1 for t in texts])
    none = np.array([not t for t in texts])
    return {"valid_right": float(right.mean()), "valid_several_right": float(right[several].mean()),
            "valid_none_right": float(right[none].mean()) if none.any() else 0.0,
            "valid_count_right": float(np.mean([len(s) == len(t) for s, t in zip(said, texts)])),
            "valid_strips": float(len(texts))}


def build(out: Path, config: StripConfig | None = None) -> dict:
    """Train a strip reader and save it at `out`; its figures on the strips kept back."""
    reader, figures = fit(config or StripConfig())
    save(reader, out, figures)
    print("strip reader: " + ", ".join(f"{k.removeprefix('valid_')} {v:.4g}" for k, v in figures.items()), flush=True)
    return figures


__all__ = ["GAPS", "labelled_strips", "nondigit_strips", "training_strips", "StripLoader", "ctc_loss", "loss_for",
           "fit", "scores", "build"]
