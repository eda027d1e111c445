"""Which device a run uses: the one reading of `--device` (cpu, cuda, cuda:N or auto), and
`batched`, the one way a model is run over many images on it.

Every command, the cnn recipe and the benchmarks resolve a device here, so that a missing GPU is
the same one-line error everywhere.
"""

from __future__ import annotations

from collections.abc import Callable

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


def for_inference(net: torch.nn.Module) -> torch.nn.Module:
    """`net` in eval mode with its weights channels-last, as training keeps them (cnn/training.fit).

    A network loaded from its file had its weights as PyTorch lays them out (NCHW), so oneDNN ran its
    convs and, slower still, its max pooling in that layout: torch's CPU max_pool2d on NCHW maps took
    4-9x as long as on channels-last ones. Weights channels-last make each conv's output so, and the
    pooling after it. Shipped gate on 1,000 digits, one thread: 654 -> 311 ms; shipped cnn 114 -> 53 ms
    (benchmarks/RESULTS.md, issue 35). The sums run in another order: logits move by ~1e-5, and no
    answer or decline of the shipped models moved on the sets RESULTS.md names. A network already so
    is left as it is: walking its modules again cost a web request 0.5 ms a model."""
    convs = [p for p in net.parameters() if p.dim() == 4]
    if net.training or not all(p.is_contiguous(memory_format=torch.channels_last) for p in convs):
        net.eval().to(memory_format=torch.channels_last)
    return net


@torch.no_grad()
def batched(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, batch_size: int,
            device: str | torch.device) -> torch.Tensor:
    """fn over x in batches of `batch_size` along its first dimension, each batch moved to `device`
    just before its pass (never the whole of x at once), the outputs joined in order where fn leaves
    them (fn may move each to the CPU). No autograd graph is kept; putting the model on `device`
    and in eval mode is the caller's, as is what fn does to a batch before the model sees it."""
    return torch.cat([fn(chunk.to(device)) for chunk in x.split(batch_size)])
