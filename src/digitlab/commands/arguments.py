"""Argument types that more than one command shares; argparse turns their errors into one line."""

from __future__ import annotations

import argparse

SEED_MAX = 2**63 - 1  # torch.manual_seed and numpy's SeedSequence both take 0 .. 2**63 - 1


def seed(text: str) -> int:
    """--seed: a whole number from 0 to 2**63 - 1 (larger ones overflow inside torch)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 0 <= value <= SEED_MAX:
        raise argparse.ArgumentTypeError(f"{text}: give a seed from 0 to {SEED_MAX}")
    return value
