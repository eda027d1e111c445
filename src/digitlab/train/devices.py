"""Which device a run uses: the one reading of `--device` (cpu, cuda, cuda:N or auto).

Every command, the cnn recipe and the benchmarks resolve a device here, so that a missing GPU is
the same one-line error everywhere.
"""

from __future__ import annotations

import torch

from digitlab.errors import DigitlabError


def resolve_device(device: str | torch.device) -> torch.device:
    """"auto" picks CUDA when PyTorch sees a GPU, else the CPU; asking for a missing GPU, or for
    a kind of device digitlab does not run on, is the user's mistake."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    kind = str(device).split(":")[0]
    if kind not in ("cpu", "cuda"):
        raise DigitlabError(f"--device {device}: choose cpu, cuda or auto")
    try:
        device = torch.device(device)
    except RuntimeError:  # "cuda:x", "cpu:-1"
        raise DigitlabError(f"--device {device}: choose cpu, cuda, cuda:N or auto") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DigitlabError(f"--device {device}: PyTorch sees no GPU here; use --device cpu or auto")
    return device


def device_kind(device: str | torch.device) -> str:
    """"cpu" or "cuda": what `device` names, or for "auto" what is here. Naming "cuda" needs no GPU,
    so a plan for one (a preset, an epoch count) can be read anywhere; training on it checks."""
    if str(device) == "auto":
        return resolve_device(device).type
    kind = str(device).split(":")[0]
    if kind not in ("cpu", "cuda"):
        raise DigitlabError(f"--device {device}: choose cpu, cuda or auto")
    return kind
