"""Shared fixtures. Every test gets its own DIGITLAB_HOME, so a user's cache is never touched and no
test sees what another left there."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from pathlib import Path

import pytest

# Set before any digitlab code reads it; the caches are rebuilt once per session from the shipped files.
# Always a fresh folder, never a DIGITLAB_HOME the user set: the suite's small models and caches
# must not land in a user's cache (where `digitlab serve` would find them).
# Module- and session-scoped fixtures run with this home; each test then gets its own (own_home).
# A suite started as a background job of a script inherits SIGINT ignored, and so would every
# program it starts: the Ctrl-C tests' children would then never see their Ctrl-C. A handler of our
# own (not "ignore") is reset to the default in each child, as a terminal would have it.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
# Under pytest-xdist (`-n 2`) each worker is a process of its own: one torch thread each, so that two
# workers on two cores do not wait on each other's threads at every op (set before torch is imported;
# the commands the tests start inherit it).
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["OMP_NUM_THREADS"] = "1"
SESSION_HOME = Path(tempfile.mkdtemp(prefix="digitlab-test-home-"))
os.environ["DIGITLAB_HOME"] = str(SESSION_HOME)
os.environ.setdefault("MPLBACKEND", "Agg")
# What a test's home shares with the session's: caches derived from the shipped files alone (MNIST
# decoded, the stress and corruption sets drawn, the book's exported mnist_tiny, data sets cleaned as the models
# read them), built once a session, not per test.
SHARED = ("mnist", "stress", "corrupted", "book", "cleaned")


def pytest_unconfigure(config) -> None:
    """The session's home goes with the session: its decoded caches are 50-450 MB, and a mutation
    testing run starts the suite thousands of times (left behind, they once filled the disk)."""
    shutil.rmtree(SESSION_HOME, ignore_errors=True)


@pytest.fixture(autouse=True)
def own_home(tmp_path_factory, monkeypatch) -> Path:
    """A fresh DIGITLAB_HOME for this test, the session's shared caches linked into it."""
    home = tmp_path_factory.mktemp("digitlab-test-home-")
    for name in SHARED:
        (SESSION_HOME / name).mkdir(exist_ok=True)
        (home / name).symlink_to(SESSION_HOME / name, target_is_directory=True)
    monkeypatch.setenv("DIGITLAB_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def mnist_train():
    from digitlab.data import datasets

    return datasets.load("mnist", "train")


@pytest.fixture(scope="session")
def mnist_test():
    from digitlab.data import datasets

    return datasets.load("mnist", "test")


@pytest.fixture(scope="session")
def linear_models(tmp_path_factory) -> Path:
    """A folder of saved models holding the shipped linear model alone."""
    from digitlab import pretrained

    models = tmp_path_factory.mktemp("models")
    shutil.copytree(pretrained.path("linear"), models / "linear-0-9")
    return models


@pytest.fixture(scope="session")
def linear_page(tmp_path_factory, linear_models) -> Path:
    """`digitlab export-site --models` of the shipped linear model alone, once a session: exporting a
    model to ONNX takes torch.export 8-20 s, the four shipped ones about a minute (tests/test_site*.py)."""
    pytest.importorskip("onnx", reason="export-site needs onnx (pip install 'digitlab[onnx]')")
    from digitlab.web.site import export_site

    return export_site(tmp_path_factory.mktemp("site") / "page", linear_models)
