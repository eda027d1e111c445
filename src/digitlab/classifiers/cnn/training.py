"""How the cnn trains and predicts: `fit` and `predict_logits`, the fast recipe.

What makes it fast (each lever measured; see benchmarks/RESULTS.md):
- the whole training set lives in one tensor on the device: a batch is one index, no loader;
- a small convolutional net sized for MNIST: it looks only at the middle pixels (where the ink
  is: 20 x 20 in the fast preset) and halves them with a stride-2 convolution rather than a
  convolution and a max pool; its head reads the whole last 5 x 5 map (where a stroke is says
  as much as whether it is there), which let the third stage be half as wide;
- one epoch in the fast preset, at batch 128;
- channels-last memory, which oneDNN's convolutions and pooling run fastest in;
- SGD with Nesterov momentum under fastai's one-cycle schedule, with label smoothing;
- for the longer presets, new random shifts (medium) or turns, zooms and shifts (best) every epoch,
  and test-time shifts (the mean of the image's and its 1-pixel shifts' logits);
- on CUDA: each step replayed from a CUDA graph (one launch for the step's hundreds of kernels),
  channels-last memory, bfloat16 autocast, and presets of larger batches and wider nets
  (presets.PRESETS, GPU forms: there a step costs its kernels, whatever their arithmetic).

Everything random in epoch `e` (the order, the shifts) draws from a generator seeded from
(seed, e), and the learning rate is a function of the global step, so a run resumed after epoch
`e` ends with exactly the weights of an uninterrupted one."""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable

import torch
from torch import nn

from digitlab.classifiers.cnn.augment import _to_unit, augmented
from digitlab.classifiers.cnn.config import CNNConfig
from digitlab.classifiers.cnn.network import ShiftAverage
from digitlab.classifiers.inputs import as_labels, as_pixels
from digitlab.console import progress_bar
from digitlab.errors import DataError
from digitlab.train import distributed
from digitlab.train.callbacks import diverged
from digitlab.train.cuda_graphs import GraphedStep
from digitlab.train.devices import batched, resolve_device
from digitlab.train.optim import NesterovSGD, one_cycle
from digitlab.train.seeding import recipe_generator


def _loss(logits: torch.Tensor, y: torch.Tensor, smoothing: float) -> torch.Tensor:
    """Cross-entropy; an ensemble's (k, B, C) logits give the sum of its members' losses."""
    if logits.ndim == 3:
        k = logits.shape[0]
        return nn.functional.cross_entropy(logits.flatten(0, 1), y.repeat(k), label_smoothing=smoothing) * k
    return nn.functional.cross_entropy(logits, y, label_smoothing=smoothing)


def _optimizer(model: nn.Module, config: CNNConfig) -> NesterovSGD:
    # No weight decay on batch-norm scales and biases: decaying them only fights the normalisation.
    decay = [p for p in model.parameters() if p.ndim > 1]
    rest = [p for p in model.parameters() if p.ndim <= 1]
    return NesterovSGD(decay, rest, lr=config.lr, mom=config.momentum, wd=config.weight_decay)


def _cpu_copy(state):
    """A detached CPU copy, so later steps cannot change what the caller was handed."""
    return copy.deepcopy(state) if not isinstance(state, dict) else {
        k: (v.detach().to("cpu", copy=True) if isinstance(v, torch.Tensor) else _cpu_copy(v))
        for k, v in state.items()}


def fit(model: nn.Module, config: CNNConfig, x, y, valid=None, *, device="cpu", start_epoch: int = 0,
        state: dict | None = None, epoch_end: Callable | None = None, progress: bool = True,
        cuda_graph: bool = True) -> list[dict]:
    """Train `model` for epochs start_epoch .. config.epochs-1; return one history row per epoch.

    x: (N, 28, 28) uint8 or float in [0, 1]; y: (N,) int64 class ids; valid: (xv, yv) or None.
    `epoch_end(epoch, row, state)` runs after each epoch; `state` is what `fit(...,
    start_epoch=epoch + 1, state=state)` needs to go on exactly as if never stopped.
    On one CUDA device the steps are replayed from a CUDA graph unless cuda_graph=False (graphs.py).
    """
    device = resolve_device(device)
    x = as_pixels(x, "training images")
    y = as_labels(y, len(x), "training images")
    if len(x) == 0:
        raise DataError("no training images; give at least one")
    model.to(device)
    on_cuda = device.type == "cuda"
    model.to(memory_format=torch.channels_last)  # faster on CPU (oneDNN) and CUDA alike: RESULTS.md
    x, y = x.to(device), y.to(device)  # the whole training set, once
    if valid is not None:
        xv = as_pixels(valid[0], "validation images")
        valid = (xv.to(device), as_labels(valid[1], len(xv), "validation images").to(device))

    net = distributed.wrap(model)  # under torchrun: DDP, gradients averaged over the processes
    opt = _optimizer(model, config)
    if state:
        opt.load_state_dict(state["optimizer"])
    # Under torchrun each process takes every world_size-th image of the epoch's order, in batches
    # of batch_size / world_size: together, the one-process batches.
    batch_size = distributed.per_process_batch(config.batch_size)
    steps_per_epoch = -(-(len(x) // distributed.world_size()) // batch_size)
    total_steps = steps_per_epoch * config.epochs
    # What a step reads stays where it is for the whole run (a CUDA graph replays addresses): each
    # epoch's augmented images are copied into `views`, the loss is summed into `loss_sum`.
    views = [torch.empty_like(x) for _ in range(config.ensemble)] if config.augment else [x]
    loss_sum = torch.zeros((), device=device)
    step = _training_step(net, opt, views, y, config.label_smoothing, loss_sum, on_cuda)
    if on_cuda and cuda_graph and distributed.world_size() == 1:
        opt.hold_on(device)
        step = GraphedStep(step, batch_size, device)
    history = []
    with progress_bar() if progress else _Silent() as bar:
        task = bar.add_task("training cnn", total=steps_per_epoch * (config.epochs - start_epoch))
        for epoch in range(start_epoch, config.epochs):
            started = time.perf_counter()
            generator = recipe_generator(config.seed, epoch)
            order = distributed.shard(torch.randperm(len(x), generator=generator)).to(device)  # (N / world,)
            if config.augment:  # each member of an ensemble gets its own augmentation of the images
                for view in views:
                    view.copy_(augmented(x, config, generator))
            model.train()
            loss_sum.zero_()
            for i in range(steps_per_epoch):
                opt.schedule(*one_cycle((epoch * steps_per_epoch + i) / total_steps, config.lr,
                                        config.div, config.div_final, config.pct_start, config.moms()))
                step(order[i * batch_size:(i + 1) * batch_size])  # (B,) indices
                bar.advance(task)
            train_loss = distributed.all_reduce_mean(loss_sum).item() / steps_per_epoch  # one sync per epoch
            if not math.isfinite(train_loss):  # the same one-line error, naming --lr, as every method's
                raise diverged(f"the epoch's mean training loss became {train_loss}", epoch, config.lr)
            row = {"epoch": epoch, "train_loss": train_loss, "valid_loss": None, "accuracy": None, "tta": False,
                   "seconds": time.perf_counter() - started}  # training only: the sum is the run's cost
            # Every process now holds process 0's model, so each scores the validation set alike.
            distributed.broadcast_buffers(model)
            if valid is not None:
                scorer = _scorer(model, last=epoch == config.epochs - 1)
                row["tta"] = isinstance(scorer, ShiftAverage)
                logits = predict_logits(scorer, valid[0], device=device)
                row["valid_loss"] = nn.functional.cross_entropy(logits, valid[1]).item()
                row["accuracy"] = (logits.argmax(dim=1) == valid[1]).float().mean().item()
            history.append(row)
            if epoch_end is not None:
                epoch_end(epoch, row, {"optimizer": _cpu_copy(opt.state_dict())})
    return history


def _training_step(net: nn.Module, opt: NesterovSGD, views: list[torch.Tensor], y: torch.Tensor, smoothing: float,
                   loss_sum: torch.Tensor, on_cuda: bool) -> Callable[[torch.Tensor], None]:
    """One SGD step on the images `batch` ((B,) indices) picks from each view, its loss added to loss_sum."""

    def step(batch: torch.Tensor) -> None:
        xb = [_to_unit(v[batch]).unsqueeze(1).contiguous(memory_format=torch.channels_last)
              for v in views]  # one (B, 1, 28, 28) per view
        # No autocast cache: a graph must not keep casts from its recording, and training uses each weight once.
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=on_cuda, cache_enabled=False):
            loss = _loss(net(xb[0] if len(xb) == 1 else xb), y[batch], smoothing)
        opt.zero_grad()
        loss.backward()
        opt.step()
        loss_sum.add_(loss.detach())

    return step


def _scorer(model: nn.Module, last: bool) -> nn.Module:
    """What scores the validation set after an epoch: the model as it predicts after the last
    epoch, but without its test-time shifts before then. The shifts cost 5x the scoring (2.4 s of
    every epoch for the medium preset's 10,000 test images) for a figure that only the last epoch
    needs; a history row's "tta" says which kind its accuracy is."""
    return model.net if isinstance(model, ShiftAverage) and not last else model


class _Silent:
    """A stand-in for the progress bar when progress=False."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def add_task(self, *args, **kwargs) -> int:
        return 0

    def advance(self, *args, **kwargs) -> None:
        pass


@torch.no_grad()
def predict_logits(model: nn.Module, x, *, device="cpu", batch_size: int = 1024) -> torch.Tensor:
    """(N, 28, 28) uint8 or float in [0, 1] -> (N, n_classes) float32 logits, on `device`."""
    device = resolve_device(device)
    x = as_pixels(x)
    model.to(device).eval()
    on_cuda = device.type == "cuda"

    def scores(chunk: torch.Tensor) -> torch.Tensor:
        xb = _to_unit(chunk).unsqueeze(1).contiguous(memory_format=torch.channels_last)  # (b, 1, 28, 28)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=on_cuda):
            return model(xb).float()

    return batched(scores, x, batch_size, device)
