"""Shared fixtures. Every test session gets its own DIGITLAB_HOME so a user's cache is never touched."""

from __future__ import annotations

import os
import tempfile

import pytest

# Set before any digitlab code reads it; the cache is rebuilt once per session from the shipped files.
os.environ.setdefault("DIGITLAB_HOME", tempfile.mkdtemp(prefix="digitlab-test-home-"))
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def mnist_train():
    from digitlab import data

    return data.load("mnist", "train")


@pytest.fixture(scope="session")
def mnist_test():
    from digitlab import data

    return data.load("mnist", "test")
