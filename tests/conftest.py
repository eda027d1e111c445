"""Shared fixtures. Every test session gets its own DIGITLAB_HOME so a user's cache is never touched."""

from __future__ import annotations

import os
import tempfile

import pytest

# Set before any digitlab code reads it; the cache is rebuilt once per session from the shipped files.
# Always a fresh folder, never a DIGITLAB_HOME the user set: the suite's small models and caches
# must not land in a user's cache (where `digitlab serve` would find them).
os.environ["DIGITLAB_HOME"] = tempfile.mkdtemp(prefix="digitlab-test-home-")
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def mnist_train():
    from digitlab import data

    return data.load("mnist", "train")


@pytest.fixture(scope="session")
def mnist_test():
    from digitlab import data

    return data.load("mnist", "test")
