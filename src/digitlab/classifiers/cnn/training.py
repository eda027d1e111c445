"""How the cnn trains and predicts: `fit` and `predict_logits`, the fast recipe.

`fit` trains through the one loop, Learner.fit, with the cnn's pieces as callbacks: an IndexLoader
over the device-resident images, `_EpochDraw` (the epoch's order, then its augmentation, from one
generator), the one-cycle schedule, `FusedStep` (the step as one callable, on CUDA replayed from a
graph), `StepLossSum` (the loss summed on the device, one sync an epoch), `_Score` (validation) and
`EpochEnd` (history row and resume state).

What makes it fast (each lever measured; see benchmarks/RESULTS.md):
- the whole training set lives in one tensor on the device: a batch is one index into it;
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

from collections.abc import Callable
from functools import partial

import torch
from torch import nn

from digitlab.classifiers.cnn.augment import augmented, to_unit
from digitlab.classifiers.cnn.config import CNNConfig
from digitlab.classifiers.cnn.network import ShiftAverage
from digitlab.classifiers.inputs import as_labels, as_pixels
from digitlab.errors import DataError
from digitlab.train import distributed
from digitlab.train.callbacks import Callback, EpochEnd, FusedStep, OneCycle
from digitlab.train.cuda_graphs import GraphedStep
from digitlab.train.devices import batched, for_inference, resolve_device
from digitlab.train.learner import DataLoaders, IndexLoader, Learner
from digitlab.train.optim import NesterovSGD
from digitlab.train.recorders import ProgressCallback, StepLossSum
from digitlab.train.seeding import recipe_generator


def _loss(logits: torch.Tensor, y: torch.Tensor, smoothing: float) -> torch.Tensor:
    """Cross-entropy; an ensemble's (k, B, C) logits give the sum of its members' losses."""
    if logits.ndim == 3:
        k = logits.shape[0]
        return nn.functional.cross_entropy(logits.flatten(0, 1), y.repeat(k), label_smoothing=smoothing) * k
    return nn.functional.cross_entropy(logits, y, label_smoothing=smoothing)


def _optimizer(params: list[torch.Tensor], lr: float, config: CNNConfig) -> NesterovSGD:
    # No weight decay on batch-norm scales and biases: decaying them only fights the normalisation.
    decay = [p for p in params if p.ndim > 1]
    rest = [p for p in params if p.ndim <= 1]
    return NesterovSGD(decay, rest, lr=lr, mom=config.momentum, wd=config.weight_decay)


def one_cycle_schedule(config: CNNConfig) -> OneCycle:
    """fastai's one-cycle: the lr up over pct_start of the steps and down again (from lr / div to lr,
    then to lr / div_final), momentum swinging against it (config.moms())."""
    return OneCycle(config.lr, div=config.div, div_final=config.div_final, pct_start=config.pct_start,
                    moms=config.moms())


def fit(model: nn.Module, config: CNNConfig, x, y, valid=None, *, device="cpu", start_epoch: int = 0,
        state: dict | None = None, epoch_end: Callable | None = None, progress: bool = True,
        cuda_graph: bool = True, ones: torch.Tensor | None = None) -> list[dict]:
    """Train `model` for epochs start_epoch .. config.epochs-1 through Learner.fit; return one
    history row per epoch.

    x: (N, 28, 28) uint8 or float in [0, 1]; y: (N,) int64 class ids; valid: (xv, yv) or None;
    ones: (N,) bool, which images are the digit 1 (what config.flags draws a flag on).
    `epoch_end(epoch, row, state)` runs after each epoch; `state` is what `fit(...,
    start_epoch=epoch + 1, state=state)` needs to go on exactly as if never stopped.
    On one CUDA device the steps are replayed from a CUDA graph unless cuda_graph=False (cuda_graphs.py).
    """
    device = resolve_device(device)
    x = as_pixels(x, "training images")
    y = as_labels(y, len(x), "training images")
    if len(x) == 0:
        raise DataError("no training images; give at least one")
    model.to(device)
    model.to(memory_format=torch.channels_last)  # faster on CPU (oneDNN) and CUDA alike: RESULTS.md
    x, y = x.to(device), y.to(device)  # the whole training set, once
    if valid is not None:
        xv = as_pixels(valid[0], "validation images")
        valid = (xv.to(device), as_labels(valid[1], len(xv), "validation images").to(device))

    net = distributed.wrap(model)  # under torchrun: DDP, gradients averaged over the processes
    # Under torchrun each process takes every world_size-th image of the epoch's order, in batches
    # of batch_size / world_size: together, the one-process batches.
    batch_size = distributed.per_process_batch(config.batch_size)
    # What a step reads stays where it is for the whole run (a CUDA graph replays addresses): each
    # epoch's augmented images are copied into `views`, the loss is summed into `loss_sum`.
    views = [torch.empty_like(x) for _ in range(config.ensemble)] if config.augment else [x]
    loss_sum = torch.zeros((), device=device)
    graphed = device.type == "cuda" and cuda_graph and distributed.world_size() == 1

    def make_step(opt: NesterovSGD) -> Callable[[torch.Tensor], None]:
        step = _training_step(net, opt, views, y, config.label_smoothing, loss_sum, device.type == "cuda")
        if graphed:
            opt.hold_on(device)
            step = GraphedStep(step, batch_size, device)
        return step

    history = []

    def on_epoch(epoch: int, row: dict, saved: dict) -> None:
        history.append(row)
        if epoch_end is not None:
            epoch_end(epoch, row, saved)

    loader = IndexLoader(len(x) // distributed.world_size(), batch_size, device)
    learn = Learner(DataLoaders(loader, None), net, opt_func=partial(_optimizer, config=config),
                    recorder=StepLossSum(loss_sum), progress=progress and ProgressCallback(table=False))
    learn.fit(config.epochs, config.lr, start_epoch=start_epoch, opt_state=state and state["optimizer"],
              cbs=[FusedStep(make_step), _EpochDraw(config, x, views, ones), one_cycle_schedule(config),
                   _Score(model, valid, device), EpochEnd(on_epoch)])
    return history


class _EpochDraw(Callback):
    """Epoch e's order, then its augmented images (into the step's `views`), from one generator,
    recipe_generator(seed, e): a resumed run draws what the uninterrupted one drew."""

    order = 55  # after the recorder has started the epoch's clock: the draw is part of its cost

    def __init__(self, config: CNNConfig, x: torch.Tensor, views: list[torch.Tensor], ones: torch.Tensor | None):
        self.config, self.x, self.views = config, x, views
        self.ones = None if ones is None else ones.to(x.device)  # (N,) bool: which images are 1s (config.flags)

    def before_epoch(self, learn) -> None:
        generator = recipe_generator(self.config.seed, learn.epoch)
        order = distributed.shard(torch.randperm(len(self.x), generator=generator))  # (N / world,)
        learn.dls.train.order = order.to(self.x.device)
        if self.config.augment:  # each member of an ensemble gets its own augmentation of the images
            for view in self.views:
                augmented(self.x, self.config, generator, out=view, ones=self.ones)


class _Score(Callback):
    """Scores the validation set after each epoch into the recorder's row; every process holds
    process 0's model by then, so each scores alike."""

    order = 52  # after the recorder's row exists, before the table prints it

    def __init__(self, model: nn.Module, valid, device: torch.device):
        self.model, self.valid, self.device = model, valid, device

    def after_epoch(self, learn) -> None:
        distributed.broadcast_buffers(self.model)
        if self.valid is None:
            return
        scorer = _scorer(self.model, last=learn.epoch == learn.n_epoch - 1)
        logits = predict_logits(scorer, self.valid[0], device=self.device)
        valid_loss = nn.functional.cross_entropy(logits, self.valid[1]).item()
        accuracy = (logits.argmax(dim=1) == self.valid[1]).float().mean().item()
        learn.recorder.values[-1][1:] = [valid_loss, accuracy]
        learn.recorder.tta = isinstance(scorer, ShiftAverage)


def _training_step(net: nn.Module, opt: NesterovSGD, views: list[torch.Tensor], y: torch.Tensor, smoothing: float,
                   loss_sum: torch.Tensor, on_cuda: bool) -> Callable[[torch.Tensor], None]:
    """One SGD step on the images `batch` ((B,) indices) picks from each view, its loss added to loss_sum."""

    def step(batch: torch.Tensor) -> None:
        xb = [to_unit(v[batch]).unsqueeze(1).contiguous(memory_format=torch.channels_last)
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


@torch.no_grad()
def predict_logits(model: nn.Module, x, *, device="cpu", batch_size: int = 1024) -> torch.Tensor:
    """(N, 28, 28) uint8 or float in [0, 1] -> (N, n_classes) float32 logits, on `device`."""
    device = resolve_device(device)
    x = as_pixels(x)
    if next(model.parameters()).device != device:  # (moving it walks every module, even to where it is)
        model.to(device)
    for_inference(model)  # eval, channels-last (a loaded model is not)
    on_cuda = device.type == "cuda"

    def scores(chunk: torch.Tensor) -> torch.Tensor:
        xb = to_unit(chunk).unsqueeze(1).contiguous(memory_format=torch.channels_last)  # (b, 1, 28, 28)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=on_cuda):
            return model(xb).float()

    return batched(scores, x, batch_size, device)
