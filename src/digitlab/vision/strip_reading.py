"""The strip reader: a small network that reads a group of ink the splitter finds (splitting.py) as a
strip, left to right, and says which digits it holds, for digits that touch or overlap.

The cutter (cutting.py) tries cuts through a group and keeps those whose pieces a judge scores best;
where two digits lean into each other the judge often takes half of one for a digit. The strip reader
reads the group uncut: a CNN over the strip, 28 px high, gives every pair of columns the
log-probabilities of the ten digits and a blank, and CTC (connectionist temporal classification)
trains it to spell the group's digits without being told where each one is. The cutter then keeps
only cuts that leave as many pieces as it read digits, each piece scored too by how likely the cnn
finds the digit read there, and each such piece answers the digit it read there (reading.STRIP_DIGITS;
off, a piece it vouches for is answered though the gate declines it). It learns from non-digits' groups
read as nothing, so that a scribble is cut as before.

It ships in the package (pretrained/strips: safetensors + config.json, loaded through checkpoint.load's
checks); `python -m digitlab.pretrained --methods strips` rebuilds it (strip_training.py)."""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from digitlab.train.devices import for_inference
from digitlab.vision.strip_config import StripConfig

__all__ = ["HEIGHT", "BLANK", "StripConfig", "StripNet", "StripRead", "StripReader", "strip", "batch",
           "greedy", "read_probabilities", "save", "load", "shipped_path", "shipped"]

HEIGHT = 28  # px: a strip's height ...
INNER = 24  # ... its ink this high, centred
SIDE = 2  # px of background left and right of the ink
BLANK = 10  # CTC's blank, after the ten digits


def strip(own: np.ndarray) -> np.ndarray:
    """(h, w) a group's ink in [0, 1] -> (HEIGHT, w') float32 in [0, 1]: cut to its ink, INNER px high
    and as wide as its aspect keeps it, SIDE px of background either side."""
    rows, cols = np.flatnonzero(own.any(1)), np.flatnonzero(own.any(0))
    ink = own[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1].astype(np.float32)
    width = max(1, round(ink.shape[1] * INNER / ink.shape[0]))
    small = np.asarray(Image.fromarray(ink).resize((width, INNER), Image.Resampling.BILINEAR))
    top = (HEIGHT - INNER) // 2
    return np.pad(np.clip(small, 0, 1), ((top, HEIGHT - INNER - top), (SIDE, SIDE)))


def _conv(a: int, b: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(a, b, 3, padding=1, bias=False), nn.BatchNorm2d(b), nn.ReLU())


class StripNet(nn.Module):
    """(B, 1, 28, W) strips -> (W // 2, B, 11) log-probabilities for each pair of columns: the ten
    digits, then BLANK. Three 3 x 3 convs take the height to 7 rows; 1-D convs along the columns then
    see about a digit's width either side (two of kernel 5 at half the columns: ~20 px)."""

    def __init__(self, width: int = 32, hidden: int = 128):
        super().__init__()
        self.features = nn.Sequential(_conv(1, width), nn.MaxPool2d(2),  # (B, c, 14, W/2)
                                      _conv(width, 2 * width), nn.MaxPool2d((2, 1)),  # (B, 2c, 7, W/2)
                                      _conv(2 * width, 2 * width))
        self.columns = nn.Sequential(nn.Conv1d(2 * width * 7, hidden, 1), nn.ReLU(),
                                     nn.Conv1d(hidden, hidden, 5, padding=2), nn.ReLU(),
                                     nn.Conv1d(hidden, hidden, 5, padding=2), nn.ReLU(),
                                     nn.Conv1d(hidden, BLANK + 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.features(x).flatten(1, 2)  # (B, 2c, 7, T) -> (B, 2c * 7, T)
        return self.columns(f).permute(2, 0, 1).log_softmax(2)  # (T, B, 11)


def batch(strips: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Strips (float in [0, 1] or uint8) -> ((B, 1, 28, W) padded with background on the right to an
    even width, (B,) each strip's time steps)."""
    width = max(s.shape[1] for s in strips)
    width += width % 2
    x = torch.zeros(len(strips), 1, HEIGHT, width)
    for k, s in enumerate(strips):
        scale = 255 if s.dtype == np.uint8 else 1
        x[k, 0, :, :s.shape[1]] = torch.from_numpy(np.asarray(s, dtype=np.float32) / scale)
    return x, torch.tensor([max(1, s.shape[1] // 2) for s in strips])


def greedy(logp: torch.Tensor, steps: torch.Tensor) -> list[tuple[str, float]]:
    """(T, B, 11) -> for each strip (its digits, its best path's log-probability): the likeliest label
    at every step, repeats merged and blanks dropped (CTC's greedy reading)."""
    best = logp.max(2)
    out = []
    for b in range(logp.shape[1]):
        labels = best.indices[:steps[b], b].tolist()
        text, previous = "", BLANK
        for label in labels:
            if label != BLANK and label != previous:
                text += str(label)
            previous = label
        out.append((text, float(best.values[:steps[b], b].sum())))
    return out


def read_probabilities(logp: torch.Tensor, steps: torch.Tensor, texts: list[str]) -> list[float]:
    """(T, B, 11) log-probabilities, (B,) steps, each strip's read -> the probability of each read
    itself: CTC's sum over every path that spells it (its digits with blanks and repeats between). The
    best path's probability is a product over the steps and falls with a strip's length; this does not:
    it is >= 0.8 for 72 % of touching strips of several digits against 19 % (RESULTS.md, reading numbers)."""
    longest = max(1, max(len(t) for t in texts))
    targets = torch.zeros(len(texts), longest, dtype=torch.long)  # (B, S) each read's digits, padded
    for b, text in enumerate(texts):
        targets[b, :len(text)] = torch.tensor([int(c) for c in text], dtype=torch.long)
    lengths = torch.tensor([len(t) for t in texts])
    loss = torch.nn.functional.ctc_loss(logp, targets, steps, lengths, blank=BLANK, reduction="none")  # (B,)
    return torch.exp(-loss).tolist()


@dataclass(frozen=True)
class StripRead:
    """What the strip reader reads in a group: its digits ("" for none) and how likely that read is
    (read_probabilities: summed over every path that spells it)."""

    text: str
    probability: float


class StripReader:
    """A trained strip reader: `read(own)` for one group's ink, `read_strips(strips)` for many."""

    def __init__(self, net: StripNet, config: StripConfig):
        self.net, self.config = for_inference(net), config

    @torch.no_grad()
    def read_strips(self, strips: list[np.ndarray]) -> list[StripRead]:
        """Strips (strip()'s) -> what each holds, read in batches of like widths."""
        order = np.argsort([s.shape[1] for s in strips], kind="stable")
        said: list[StripRead | None] = [None] * len(strips)
        for k in range(0, len(order), 256):
            idx = order[k:k + 256]
            x, steps = batch([strips[i] for i in idx])
            logp = self.net(x)  # (T, B, 11)
            texts = [text for text, _ in greedy(logp, steps)]
            for i, text, p in zip(idx, texts, read_probabilities(logp, steps, texts)):
                said[i] = StripRead(text, p)
        return said

    def read(self, own: np.ndarray) -> StripRead:
        """(h, w) a group's ink in [0, 1] -> its digits, left to right."""
        return self.read_strips([strip(own)])[0]


def save(reader: StripReader, directory: str | Path, scores: dict | None = None) -> Path:
    from digitlab.store import checkpoint

    return checkpoint.save(directory, reader.net.state_dict(), {
        # classes: the digits it reads (its last output, BLANK, is CTC's blank, no class)
        "method": "strips", "classes": list(range(BLANK)), "config": dataclasses.asdict(reader.config),
        "history": [{k: round(v, 6) for k, v in (scores or {}).items()}],
    })


def load(directory: str | Path) -> StripReader:
    """A saved strip reader, through checkpoint.load's checks; a ModelError for anything else."""
    from digitlab.errors import DigitlabError, ModelError
    from digitlab.store import checkpoint

    what = "strip reader"
    tensors, saved = checkpoint.load(directory)
    if saved["method"] != "strips":
        raise ModelError(f"{directory}: a {saved['method']} model, not a {what}; give the {what}'s folder")
    try:
        config = StripConfig(**saved["config"])
    except (TypeError, ValueError, DigitlabError) as err:
        raise ModelError(f"{directory}: the {what}'s config does not fit ({err}); rebuild it") from None
    net = StripNet(config.width, config.hidden)
    try:
        net.load_state_dict(tensors)
    except RuntimeError as err:
        raise ModelError(f"{directory}: the {what}'s weights do not fit its config "
                         f"({str(err).splitlines()[0]}); rebuild it") from None
    return StripReader(net, config)


def shipped_path() -> Path:
    """pretrained/strips inside the installed package."""
    from importlib import resources

    return Path(str(resources.files("digitlab") / "pretrained" / "strips"))


@functools.cache
def shipped() -> StripReader:
    """The strip reader that ships in the package, loaded once per process."""
    return load(shipped_path())
