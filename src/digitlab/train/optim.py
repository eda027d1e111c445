"""Optimisers in the book's shape: `BasicOptim` as chapter 4 writes it, and fastai's `SGD`; and the
CNN recipe's `NesterovSGD`.

Each holds plain attributes (`lr`, and `mom`/`wd` for SGD) that a schedule sets between steps
through `schedule(lr, mom)`, and each gives its state as a dict of tensors so that a checkpoint can store it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch


class BasicOptim:
    """The chapter's optimiser: p <- p - lr * grad."""

    def __init__(self, params: Iterable[torch.Tensor], lr: float):
        self.params, self.lr = list(params), lr

    def schedule(self, lr: float, mom: float) -> None:
        """Set the next step's lr (a schedule's momentum has nothing to move here)."""
        self.lr = lr

    def step(self, *args, **kwargs) -> None:
        for p in self.params:
            p.data -= p.grad.data * self.lr

    def zero_grad(self, *args, **kwargs) -> None:
        for p in self.params:
            p.grad = None

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {}  # nothing but the learning rate, which the config holds

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        pass


class SGD(BasicOptim):
    """fastai's SGD: optional momentum and decoupled ("true") weight decay.

    With mom > 0 each step uses the running sum grad_avg <- mom * grad_avg + grad (no dampening,
    as fastai and torch.optim.SGD do). Weight decay shrinks the weights directly, p <- p * (1 - lr*wd),
    instead of adding wd * p to the gradient: that is what fastai does by default.
    """

    def __init__(self, params: Iterable[torch.Tensor], lr: float, mom: float = 0.0, wd: float = 0.0):
        super().__init__(params, lr)
        self.mom, self.wd = mom, wd
        self.use_momentum = mom != 0  # like fastai: a schedule may move `mom`, but only if it was on
        self.grad_avg: list[torch.Tensor | None] = [None] * len(self.params)

    def schedule(self, lr: float, mom: float) -> None:
        """Set the next step's lr and momentum."""
        self.lr, self.mom = lr, mom

    @torch.no_grad()
    def step(self, *args, **kwargs) -> None:
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            if self.wd:
                p.mul_(1 - self.lr * self.wd)
            grad = p.grad
            if self.use_momentum:
                if self.grad_avg[i] is None:
                    self.grad_avg[i] = grad.clone()  # torch.optim.SGD starts the buffer at the gradient
                else:
                    self.grad_avg[i].mul_(self.mom).add_(grad)
                grad = self.grad_avg[i]
            p.sub_(grad * self.lr)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {f"grad_avg.{i}": g.detach().cpu() for i, g in enumerate(self.grad_avg) if g is not None}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        for i, p in enumerate(self.params):
            if (saved := state.get(f"grad_avg.{i}")) is not None:
                self.grad_avg[i] = saved.to(p.device, p.dtype).clone()


class NesterovSGD:
    """SGD with Nesterov momentum and L2 weight decay, the same arithmetic as
    `torch.optim.SGD(nesterov=True)`, for the CNN recipe.

    Why not torch.optim.SGD: constructing any torch.optim optimiser imports torch._dynamo, which
    costs about 2 s, a fifth of the recipe's whole 10 s budget. This one does each step with a few
    fused `torch._foreach_*` calls over all parameters.

    `decay` parameters get weight decay and `no_decay` ones (batch-norm scales, biases) do not;
    `lr` and `mom` are what `schedule(lr, mom)` last set: plain numbers, or after `hold_on(device)`
    0-dim tensors on the device, which a step recorded as a CUDA graph reads at each replay.
    """

    def __init__(self, decay: Iterable[torch.Tensor], no_decay: Iterable[torch.Tensor],
                 lr: float, mom: float, wd: float):
        self.decay, self.no_decay = list(decay), list(no_decay)
        self.params = self.decay + self.no_decay
        self.lr, self.mom, self.wd = lr, mom, wd
        self.bufs: list[torch.Tensor] | None = None  # momentum buffers, made at the first step

    def hold_on(self, device: torch.device) -> None:
        """Keep lr and momentum in 0-dim float32 tensors on `device` from now on."""
        self.lr = torch.tensor(float(self.lr), device=device)
        self.mom = torch.tensor(float(self.mom), device=device)

    def schedule(self, lr: float, mom: float) -> None:
        """Set the next step's lr and momentum (into the held tensors: no host sync, no new tensor)."""
        if isinstance(self.lr, torch.Tensor):
            self.lr.fill_(lr)
            self.mom.fill_(mom)
        else:
            self.lr, self.mom = lr, mom

    @torch.no_grad()
    def step(self) -> None:
        if any(p.grad is None for p in self.params):
            raise RuntimeError("NesterovSGD: every parameter needs a gradient at each step")
        # Nothing here writes into a .grad: each is left as backward computed it. Every line is one
        # fused call over all parameters, a kernel launch or so on CUDA whatever their number.
        grads = [p.grad for p in self.params]
        if self.wd and self.decay:
            n = len(self.decay)  # grad + wd * p on the decayed ones
            grads = list(torch._foreach_add(grads[:n], self.decay, alpha=self.wd)) + grads[n:]
        if self.bufs is None:
            self.bufs = [g.clone() for g in grads]  # torch.optim.SGD starts the buffer at the gradient
        else:
            torch._foreach_mul_(self.bufs, self.mom)
            torch._foreach_add_(self.bufs, grads)
        if isinstance(self.lr, torch.Tensor):  # alpha= takes numbers only: multiply by the tensors
            step = torch._foreach_mul(self.bufs, self.mom)
            torch._foreach_add_(step, grads)  # Nesterov: look ahead along the buffer
            torch._foreach_mul_(step, self.lr)
            torch._foreach_sub_(self.params, step)
        else:
            step = torch._foreach_add(grads, self.bufs, alpha=self.mom)  # Nesterov: look ahead along the buffer
            torch._foreach_add_(self.params, step, alpha=-self.lr)

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {} if self.bufs is None else {f"momentum.{i}": b.detach().cpu() for i, b in enumerate(self.bufs)}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        if not state:
            return
        missing = [i for i in range(len(self.params)) if f"momentum.{i}" not in state]
        if missing:
            raise ValueError(f"optimizer state lacks the momentum of parameters {missing}")
        self.bufs = [state[f"momentum.{i}"].to(p.device, p.dtype).clone() for i, p in enumerate(self.params)]


def sched_cos(start: float, end: float, pos: float) -> float:
    """Cosine from `start` (pos 0) to `end` (pos 1)."""
    return start + (1 + math.cos(math.pi * (1 - pos))) * (end - start) / 2


def one_cycle(
    pos: float,
    lr_max: float,
    div: float = 25.0,
    div_final: float = 1e5,
    pct_start: float = 0.25,
    moms: tuple[float, float, float] = (0.95, 0.85, 0.95),
) -> tuple[float, float]:
    """(lr, momentum) at fraction `pos` of training, fastai's one-cycle defaults.

    The lr warms up from lr_max/div to lr_max over the first `pct_start` of training, then anneals
    to lr_max/div_final; momentum moves the opposite way, so that a large lr meets a small momentum.
    """
    if pos < pct_start:
        p = pos / pct_start
        return sched_cos(lr_max / div, lr_max, p), sched_cos(moms[0], moms[1], p)
    p = (pos - pct_start) / (1 - pct_start)
    return sched_cos(lr_max, lr_max / div_final, p), sched_cos(moms[1], moms[2], p)
