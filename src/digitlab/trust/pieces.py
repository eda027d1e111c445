"""The piece judge: a small network that says whether a piece cut from a group of ink is one whole
digit, a part of one (or parts of two), or several digits, so that the cutter (vision/cutting.py)
keeps the cuts that leave whole digits.

The gate (gate.py) answers a different question: whether a user's image shows a digit at all. It
never saw half a 0 or a 3 with the left edge of an 8, and to it, and to the cnn, such a piece often
looks like a digit, so the cuts went through digits. This network learns from the pieces the cutter
itself weighs in numbers drawn from MNIST's training digits below heldout.START (piece_training.py),
each labelled by how its box meets the true digits' boxes.

It ships in the package (pretrained/pieces: safetensors + config.json, loaded through
checkpoint.load's checks); `python -m digitlab.pretrained --methods pieces` rebuilds it."""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import torch

from digitlab.train.devices import for_inference
from digitlab.trust.gate import GateNet, load_net, net_proba
from digitlab.trust.piece_config import PieceConfig

__all__ = ["OUTPUTS", "ONE", "PART", "SEVERAL", "PieceConfig", "PieceJudge", "save", "load", "shipped_path", "shipped"]

OUTPUTS = ("one digit", "part of a digit", "several digits")  # the judge's answers, in its outputs' order
ONE, PART, SEVERAL = range(3)


class PieceJudge:
    """A trained piece judge: `proba(pieces)`, `log_one(pieces)`."""

    def __init__(self, net: GateNet, config: PieceConfig):
        self.net, self.config = for_inference(net), config

    @torch.no_grad()
    def proba(self, pieces: torch.Tensor) -> torch.Tensor:
        """(N, 28, 28) float in [0, 1] (or uint8), each piece framed as a digit is (mnist_style.from_ink)
        -> (N, 3) probabilities of OUTPUTS."""
        return net_proba(self.net, pieces)

    def log_one(self, pieces: torch.Tensor) -> torch.Tensor:
        """(N,) log-probability that each piece is one whole digit."""
        return self.proba(pieces)[:, ONE].clamp_min(1e-6).log()


def save(judge: PieceJudge, directory: str | Path, scores: dict | None = None) -> Path:
    from digitlab.store import checkpoint

    return checkpoint.save(directory, judge.net.state_dict(), {
        # classes: the numbers of its OUTPUTS (one digit, part of a digit, several digits)
        "method": "pieces", "classes": list(range(len(OUTPUTS))), "config": dataclasses.asdict(judge.config),
        "history": [{k: round(v, 6) for k, v in (scores or {}).items()}],
    })


def load(directory: str | Path) -> PieceJudge:
    """A saved piece judge, through checkpoint.load's checks; a ModelError for anything else."""
    return PieceJudge(*load_net(directory, "pieces", PieceConfig, "piece judge"))


def shipped_path() -> Path:
    """pretrained/pieces inside the installed package."""
    from importlib import resources

    return Path(str(resources.files("digitlab") / "pretrained" / "pieces"))


@functools.cache
def shipped() -> PieceJudge:
    """The piece judge that ships in the package, loaded once per process."""
    return load(shipped_path())
