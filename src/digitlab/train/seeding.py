"""Seeds: how one `seed` setting becomes every random draw of a run, the same on a resume.

A run's initial weights come from `seeded(seed, build)`; everything random in epoch `e` (the
order, augmentation, dropout) from a generator made for (seed, e) alone, so a run stopped after
epoch e and resumed draws exactly what the uninterrupted run drew, without replaying epochs 0..e.

Two streams, kept apart because every seeded figure recorded so far (benchmarks/RESULTS.md, the
shipped models' builds) was drawn from them: the Learner's loader and the book's resnet18 draw from
`epoch_seed`, the cnn recipe from `recipe_generator`, which mixes (seed, epoch) through numpy's
SeedSequence. Use `epoch_generator` for anything new.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

SEED_SPAN = 2**64  # torch's generators take seeds 0 .. 2**64 - 1


def seeded(seed: int, build: Callable[[], torch.nn.Module]) -> torch.nn.Module:
    """Build a module with its initial weights drawn from `seed`, leaving torch's global RNG alone."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of epoch `epoch` in a run seeded with `seed`: distinct for every (seed, epoch) a run
    can reach, and within torch's range for every --seed (0 .. 2**63 - 1)."""
    return (seed * 1_000_003 + epoch) % SEED_SPAN


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """A generator for everything random in epoch `epoch` of a run seeded with `seed`."""
    return torch.Generator().manual_seed(epoch_seed(seed, epoch))


def seed_epoch(seed: int, epoch: int) -> None:
    """Seed torch's global generator for epoch `epoch`: for draws that only it can make (dropout
    inside a network)."""
    torch.manual_seed(epoch_seed(seed, epoch))


def recipe_generator(seed: int, epoch: int) -> torch.Generator:
    """The cnn recipe's generator for epoch `epoch` (its order, shifts, turns, stroke widths)."""
    state = np.random.SeedSequence([seed, epoch]).generate_state(1)[0]
    return torch.Generator().manual_seed(int(state))
