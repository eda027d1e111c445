"""The gate: a small network that says whether a 28 x 28 MNIST-style image shows one digit, something
that is not a digit, or several digits, whatever model then reads it.

It learns from MNIST's training digits below heldout.START and from stress-style digits (fonts, pen
strokes, photos, small scans) drawn with a seed of its own (DRAWN_SEED; the stress set's is
stress.SEED), the MNIST digits under the cnn's ROBUST augmentation, and from MNIST digits below
heldout.START under the corruption set's seen damage kinds (DAMAGE_SEED: never the set's nor the
calibration digits' draws), and from MNIST digits below heldout.START scanned as a user's file
brings them (data/scanned.py, SCANNED_SEED), against the training generator's non-digits
(nondigits.py), each both as drawn and as the models read it (input_cleaning: what the gate judges
at prediction time). The
drawn digits are not augmented, so that a clean image is no sign of a non-digit; nor are the
non-digits: thickened and warped alike, they held out 74 % of the training non-digits against 98 %
unaugmented (3 epochs). Its threshold is chosen afterwards on held-out images only
(`choose_threshold`): MNIST's calibration digits (heldout.CALIBRATION), the stress set, damaged
and scanned calibration digits must pass, the training generator's held-out draws must not, all as the models
read them. It ships in the package (pretrained/gate: safetensors + config.json, loaded through
checkpoint.load's checks); `python -m digitlab.pretrained --methods gate` rebuilds it.

How it is trained and its threshold chosen: gate_training.py."""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import torch
from torch import nn

from digitlab.train.devices import for_inference
from digitlab.trust.gate_config import (DAMAGE_SEED, DRAWN_SEED, MUST_ANSWER, SCANNED_CALIBRATION_SEED, SCANNED_SEED,
                                        GateConfig)

__all__ = ["OUTPUTS", "DIGIT", "NOT_A_DIGIT", "SEVERAL", "DRAWN_SEED", "DAMAGE_SEED", "SCANNED_SEED",
           "SCANNED_CALIBRATION_SEED", "MUST_ANSWER", "GateConfig", "GateNet", "Gate", "save", "load", "load_net", "net_proba", "shipped_path",
           "shipped"]

OUTPUTS = ("digit", "not a digit", "several digits")  # the gate's three answers, in its outputs' order
DIGIT, NOT_A_DIGIT, SEVERAL = range(3)
# The settings (GateConfig) and the seeds and share they default to: gate_config.py.


class GateNet(nn.Module):
    """(B, 1, 28, 28) in [0, 1] -> (B, 3) logits: three conv stages, then a 3 x 3 map of what is where
    (the layout tells one wide digit from two narrow ones)."""

    def __init__(self, width: int = 16):
        super().__init__()
        w = width

        def stage(ni: int, nf: int) -> list[nn.Module]:
            return [nn.Conv2d(ni, nf, 3, padding=1, bias=False), nn.BatchNorm2d(nf), nn.ReLU()]

        self.body = nn.Sequential(
            *stage(1, w), nn.MaxPool2d(2),  # (B, w, 14, 14)
            *stage(w, 2 * w), nn.MaxPool2d(2),  # (B, 2w, 7, 7)
            *stage(2 * w, 4 * w), nn.AdaptiveAvgPool2d(3),  # (B, 4w, 3, 3)
            nn.Flatten(), nn.Linear(4 * w * 9, len(OUTPUTS)),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body((x - 0.13) / 0.31)  # MNIST's mean and spread, as inputs.NORMALISATION


class Gate:
    """A trained gate: `proba(images)` and `declines(images)`."""

    def __init__(self, net: GateNet, config: GateConfig):
        self.net, self.config = for_inference(net), config

    @torch.no_grad()
    def proba(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 28, 28) float in [0, 1] (or uint8) -> (N, 3) probabilities of OUTPUTS."""
        return net_proba(self.net, images)

    def verdicts(self, images: torch.Tensor) -> list[str | None]:
        """None where the gate lets an image through, else "not a digit" or "several digits"."""
        p = self.proba(images)
        stop = p[:, DIGIT] < self.config.threshold
        several = p[:, SEVERAL] > p[:, NOT_A_DIGIT]
        return [None if not s else OUTPUTS[SEVERAL] if v else OUTPUTS[NOT_A_DIGIT]
                for s, v in zip(stop.tolist(), several.tolist())]


@torch.no_grad()
def net_proba(net: GateNet, images: torch.Tensor) -> torch.Tensor:
    """(N, 28, 28) float in [0, 1] (or uint8) -> (N, 3) a GateNet's probabilities (the gate's, the piece
    judge's), in chunks that keep a large batch's memory bounded."""
    x = images.float() / 255 if images.dtype == torch.uint8 else images.float()
    out = [net(chunk.cpu().unsqueeze(1)).softmax(1) for chunk in x.split(4096)]
    return torch.cat(out) if out else torch.empty(0, len(OUTPUTS))


def save(gate: Gate, directory: str | Path, passed: dict | None = None) -> Path:
    from digitlab.store import checkpoint

    return checkpoint.save(directory, gate.net.state_dict(), {
        # classes: for the gate, the numbers of its OUTPUTS (digit, not a digit, several digits)
        "method": "gate", "classes": list(range(len(OUTPUTS))), "config": dataclasses.asdict(gate.config),
        "history": [{k: round(v, 6) for k, v in (passed or {}).items()}],
    })


def load(directory: str | Path) -> Gate:
    """A saved gate, through checkpoint.load's checks; a ModelError for anything else."""
    # a gate saved before scanned digits were a setting learnt none (GateConfig's default is the recipe's)
    return Gate(*load_net(directory, "gate", GateConfig, "gate", {"scanned_digits": 0}))


def load_net(directory: str | Path, method: str, config_class, what: str,
             defaults: dict | None = None) -> tuple[GateNet, object]:
    """A saved GateNet of `method` (the gate's, the piece judge's) and its config, through
    checkpoint.load's checks; a ModelError naming `what` for anything else. `defaults`: settings a
    folder saved before they existed takes."""
    from digitlab.errors import DigitlabError, ModelError
    from digitlab.store import checkpoint

    tensors, saved = checkpoint.load(directory)
    if saved["method"] != method:
        raise ModelError(f"{directory}: a {saved['method']} model, not a {what}; give the {what}'s folder")
    try:
        config = config_class(**{**(defaults or {}), **saved["config"]})
    except (TypeError, ValueError, DigitlabError) as err:
        raise ModelError(f"{directory}: the {what}'s config does not fit ({err}); rebuild it") from None
    net = GateNet(config.width)
    try:
        net.load_state_dict(tensors)
    except RuntimeError as err:
        raise ModelError(f"{directory}: the {what}'s weights do not fit its config "
                         f"({str(err).splitlines()[0]}); rebuild it") from None
    return net, config


def shipped_path() -> Path:
    """pretrained/gate inside the installed package (beside pretrained.py's four models)."""
    from importlib import resources

    return Path(str(resources.files("digitlab") / "pretrained" / "gate"))


@functools.cache
def shipped() -> Gate:
    """The gate that ships in the package, loaded once per process."""
    return load(shipped_path())
