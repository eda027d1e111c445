"""A training step recorded once as a CUDA graph and replayed: one launch where there were hundreds.

Why: on a GPU the recipe's small nets cost their kernel launches, not their arithmetic. A step of
the fast net is several hundred kernels, each launched from Python through PyTorch's dispatcher,
and the GPU finishes each long before the next arrives. A CUDA graph records the kernels of one
step and launches them all again with one call (benchmarks/RESULTS.md has the figures).

What a graph asks of the step it records:
- every tensor it reads or writes stays at one address: the batch is chosen through `self.index`,
  a buffer the caller's indices are copied into; the learning rate and momentum are 0-dim tensors
  that the schedule fills (`NesterovSGD.hold_on`); the images and the loss sum are allocated once;
- one shape: an epoch's last, smaller batch runs as plain PyTorch;
- no host sync and no random numbers inside it (the recipe draws its randomness per epoch);
- a few plain steps first, on a side stream, so that cuDNN, cuBLAS and the allocator have settled
  and the optimiser's buffers exist before the recording. These are real steps of the schedule.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


class GraphedStep:
    """Calls `step(batch)` for (B,) index tensors on a CUDA device: plainly for the first `warmup`
    full batches and for any batch of another size, then through a graph recorded from it."""

    def __init__(self, step: Callable[[torch.Tensor], None], batch_size: int, device: torch.device,
                 warmup: int = 3):
        self.step, self.batch_size, self.warmup = step, batch_size, warmup
        self.index = torch.zeros(batch_size, dtype=torch.long, device=device)  # (B,) the graph's batch
        self.graph: torch.cuda.CUDAGraph | None = None
        self.side = torch.cuda.Stream(device)

    def __call__(self, batch: torch.Tensor) -> None:
        if len(batch) != self.batch_size:
            self.step(batch)  # the epoch's ragged last batch
        elif self.graph is None and self.warmup > 0:
            self._on_side_stream(batch)
            self.warmup -= 1
        else:
            if self.graph is None:
                self._record()
            self.index.copy_(batch)
            self.graph.replay()

    def _on_side_stream(self, batch: torch.Tensor) -> None:
        self.side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(self.side):
            self.step(batch)
        torch.cuda.current_stream().wait_stream(self.side)

    def _record(self) -> None:
        """Record one step over `self.index`; recording runs nothing, so the weights are untouched."""
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self.step(self.index)
        self.graph = graph
