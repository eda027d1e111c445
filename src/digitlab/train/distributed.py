"""Training across processes and machines with PyTorch's own engine (torch.distributed + DDP).

`torchrun` starts one process per CPU or GPU and tells each who it is through environment variables
(RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT). A training loop needs only a few calls,
and every one of them does nothing when the process was not started by torchrun:

    with distributed.session():                  # joins the process group, or does nothing
        net = distributed.wrap(model)            # DDP: gradients averaged across processes
        order = distributed.shard(permutation)   # this process's share of the epoch
        loss = distributed.all_reduce_mean(loss) # the same number on every process
        if distributed.is_main(): save(...)      # one writer

Every process draws the epoch's permutation from the same seed and keeps every WORLD_SIZE-th
index, so each global batch of B images is split into WORLD_SIZE disjoint batches of B / WORLD_SIZE
taken from the very same B. With plain SGD, DDP's average of those gradients is the one-process
gradient of the whole batch, so a run on N processes follows the one-process run.

A process that dies or stops answering makes the others fail within `timeout_s` with a
`TrainingError`, instead of waiting forever on a collective that will never complete.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import os
import re
from collections.abc import Callable, Iterator
from typing import TypeVar

import torch
import torch.distributed as dist
from torch import nn

from digitlab import console
from digitlab.errors import TrainingError, warn

T = TypeVar("T")

# Long enough for a slow epoch's evaluation or checkpoint on one process while the others wait at
# the next collective; short enough that a dead machine is noticed in minutes, not hours.
DEFAULT_TIMEOUT_S = 300.0
TIMEOUT_ENV = "DIGITLAB_DIST_TIMEOUT"  # seconds; overrides DEFAULT_TIMEOUT_S
LAUNCH_HINT = "start digitlab through torchrun (torchrun --nproc_per_node N -m digitlab ...)"


def launched() -> bool:
    """True when torchrun (or anything that sets its variables) started this process."""
    return "WORLD_SIZE" in os.environ


def _env_int(name: str, default: int | None = None) -> int:
    value = os.environ.get(name)
    if value is None:
        if default is None:
            raise TrainingError(f"WORLD_SIZE is set but {name} is not; {LAUNCH_HINT}")
        return default
    try:
        return int(value)
    except ValueError:
        raise TrainingError(f"{name}={value!r} is not a whole number; {LAUNCH_HINT}") from None


def _timeout_s(timeout_s: float | None) -> float:
    if timeout_s is not None:
        return timeout_s
    value = os.environ.get(TIMEOUT_ENV, str(DEFAULT_TIMEOUT_S))
    try:
        seconds = float(value)
    except ValueError:
        seconds = 0.0
    if seconds <= 0:
        raise TrainingError(f"{TIMEOUT_ENV}={value!r}: give a positive number of seconds, e.g. 300")
    return seconds


def init_from_env(backend: str | None = None, timeout_s: float | None = None) -> bool:
    """Join the process group that torchrun described in the environment; False when there is none.

    backend: None picks gloo for CPU tensors, plus NCCL for CUDA tensors where CUDA is available.
    timeout_s: how long to wait for the other processes, at the start and at every collective;
    None reads $DIGITLAB_DIST_TIMEOUT, else DEFAULT_TIMEOUT_S.
    """
    if dist.is_available() and dist.is_initialized():
        return True
    if not launched():
        return False
    if not dist.is_available():
        raise TrainingError("this PyTorch build has no torch.distributed; run without torchrun")
    world, rank = _env_int("WORLD_SIZE"), _env_int("RANK")
    local_rank = _env_int("LOCAL_RANK", default=rank)
    for name in ("MASTER_ADDR", "MASTER_PORT"):
        if name not in os.environ:
            raise TrainingError(f"WORLD_SIZE is set but {name} is not; {LAUNCH_HINT}")
    if not 0 <= rank < world:
        raise TrainingError(f"RANK={rank} is outside 0..{world - 1} (WORLD_SIZE={world}); {LAUNCH_HINT}")
    if backend is None:
        backend = "cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo"
    if torch.cuda.is_available() and "nccl" in backend:
        # One GPU per process on each machine: a bare "cuda" then means this process's GPU.
        torch.cuda.set_device(local_rank % torch.cuda.device_count())
    seconds = _timeout_s(timeout_s)
    try:
        dist.init_process_group(backend, rank=rank, world_size=world,
                                timeout=datetime.timedelta(seconds=seconds))
    except (dist.DistError, RuntimeError, ValueError) as err:
        where = f"{os.environ['MASTER_ADDR']}:{os.environ['MASTER_PORT']}"
        raise TrainingError(
            f"process {rank} of {world} could not meet the others at {where} within {seconds:g} s "
            f"({_reason(err)}); check that every process was started with the same "
            f"rendezvous address and that it is reachable, or raise {TIMEOUT_ENV}"
        ) from err
    if rank != 0:
        console.console.quiet = True  # only the first process draws progress bars and tables
    return True


def cleanup() -> None:
    """Leave the process group (after an error too, so the process exits cleanly)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
        console.console.quiet = False


def _reason(err: BaseException) -> str:
    """The first line of a gloo/NCCL/c10d error, without its C++ source location and advice."""
    lines = str(err).strip().splitlines()
    text = re.sub(r"^\[[^\]]*\]\s*", "", lines[0]) if lines else ""  # "[.../pair.cc:553] ..."
    return re.split(r"\.? This is typically", text)[0] or type(err).__name__


def _is_peer_failure(err: BaseException) -> bool:
    """Whether an error came from the communication layer rather than from digitlab's own code."""
    if isinstance(err, dist.DistError):
        return True
    text = str(err)
    return isinstance(err, RuntimeError) and any(
        marker in text for marker in ("gloo", "NCCL", "Connection closed", "Connection reset")
    )


@contextlib.contextmanager
def session(backend: str | None = None, timeout_s: float | None = None) -> Iterator[bool]:
    """`init_from_env` on entry, `cleanup` on exit; yields whether the run is distributed.

    Inside it, a failure of the communication layer (another process died, or stopped answering
    for longer than the timeout) becomes a one-line TrainingError instead of a gloo/NCCL traceback.
    A session inside another leaves the process group to the outer one.
    """
    outer = is_distributed()
    started = init_from_env(backend, timeout_s)
    try:
        yield started
    except Exception as err:
        if started and not outer and _is_peer_failure(err):
            raise TrainingError(
                f"process {rank()} of {world_size()}: another process of this run stopped or stopped "
                f"answering ({_reason(err)}); read that process's own error above, fix it and "
                "start the run again (the last checkpoint is kept)"
            ) from err
        raise
    finally:
        if not outer:
            cleanup()


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    """This process's number, 0..world_size() - 1; 0 when not distributed."""
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    """How many processes train together; 1 when not distributed."""
    return dist.get_world_size() if is_distributed() else 1


def is_main() -> bool:
    """True on the one process that prints progress, writes checkpoints and reports."""
    return rank() == 0


def main_only(fn: Callable[..., T]) -> Callable[..., T | None]:
    """`fn` run on the main process only; elsewhere the call does nothing and returns None.

    For hooks that write: `epoch_end=distributed.main_only(save_checkpoint)`.
    """

    @functools.wraps(fn)
    def guarded(*args, **kwargs):
        return fn(*args, **kwargs) if is_main() else None

    return guarded


def wrap(model: nn.Module) -> nn.Module:
    """`model` in DistributedDataParallel when distributed (it copies process 0's weights to all
    and averages gradients in backward), else `model` itself. Keep `model` for saving: the
    wrapper's state_dict names every weight `module.<name>`."""
    if not is_distributed():
        return model
    from torch.nn.parallel import DistributedDataParallel

    on_gpu = next(model.parameters()).is_cuda
    return DistributedDataParallel(model, device_ids=[torch.cuda.current_device()] if on_gpu else None)


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside a DDP wrapper; any other model unchanged."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def broadcast_buffers(model: nn.Module) -> None:
    """Copy process 0's buffers (BatchNorm's running statistics) to every process.

    DDP copies them at the start of each training forward, but then every process updates its
    copy from its own batch; after the last step they differ a little. Call this before evaluating
    or saving, so that every process holds the very model that process 0 saves.
    """
    if is_distributed():
        for buffer in unwrap(model).buffers():
            dist.broadcast(buffer, src=0)


def per_process_batch(batch_size: int) -> int:
    """The share of a global batch of `batch_size` that each process trains on per step.

    A batch that does not split evenly is rounded down (with a warning): every process must take
    batches of the same size for DDP's average to be the whole batch's gradient.
    """
    world = world_size()
    share = max(1, batch_size // world)
    if share * world != batch_size and is_main():
        warn(f"a batch of {batch_size} does not split evenly over {world} processes; each takes "
             f"{share}, so a global batch is {share * world}")
    return share


def shard(order: torch.Tensor, drop_remainder: bool = True) -> torch.Tensor:
    """This process's share of an epoch's order: every world_size()-th index, starting at rank().

    Every process must pass the same `order` (drawn from the same seed). Interleaving, rather than
    cutting `order` into blocks, puts the first global batch's indices into every process's first
    batch. drop_remainder drops the last len(order) % world_size() indices, so that every process
    runs the same number of steps (DDP needs that); keep them for evaluation, whose sums are
    all-reduced.
    """
    world = world_size()
    if world == 1:
        return order
    if drop_remainder:
        order = order[: len(order) - len(order) % world]  # (N,) -> (N - N % world,)
    return order[rank()::world]  # (N,) -> (about N / world,)


def all_reduce_sum(value: torch.Tensor | float) -> torch.Tensor | float:
    """The sum of `value` over all processes (a float for a number, a new tensor for a tensor)."""
    if not is_distributed():
        return value
    tensor = torch.as_tensor(value, dtype=torch.float64) if not torch.is_tensor(value) else value
    total = tensor.detach().clone()  # all_reduce works in place; the caller's tensor stays as it was
    dist.all_reduce(total, op=dist.ReduceOp.SUM)
    return total if torch.is_tensor(value) else total.item()


def all_reduce_mean(value: torch.Tensor | float) -> torch.Tensor | float:
    """The mean of `value` over all processes; for per-process means of equal-sized shards."""
    if not is_distributed():
        return value
    if torch.is_tensor(value) and not value.is_floating_point():
        value = value.double()
    return all_reduce_sum(value) / world_size()


def barrier() -> None:
    """Wait until every process gets here (e.g. until the main one has written a checkpoint)."""
    if is_distributed():
        dist.barrier()
