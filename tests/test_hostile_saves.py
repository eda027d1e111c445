"""Saves that nothing can lose or mix (issue 33): a save stopped at each of its steps, by an interrupt
or by death, leaves the old or the new checkpoint; SIGTERM takes Ctrl-C's path in the long commands
(exit 143); one run at a time writes --out; --out a link is written through; a full or read-only
DIGITLAB_HOME is one line, or a warning where the cache is optional."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
import warnings

import pytest
import torch

from digitlab.errors import DigitlabWarning, OutputError
from digitlab.store import checkpoint, files

import faults
from cli_run import assert_one_line_error, digitlab
from hostile import leftovers, png, run_child

CONFIG = {"method": "linear", "classes": [3, 7], "config": {"lr": 1.0}}
OLD = {"model.weight": torch.zeros(1, 784), "model.bias": torch.zeros(1)}
NEW = {"model.weight": torch.ones(1, 784), "model.bias": torch.ones(1)}
TRAIN = ["train", "linear", "--dataset", "mnist_tiny", "--device", "cpu"]


def _which(folder) -> str:
    """"old" or "new": which of the two checkpoints `folder` holds, by its weights."""
    tensors, _ = checkpoint.load(folder)
    for name, weights in (("old", OLD), ("new", NEW)):
        if all(torch.equal(tensors[k], weights[k]) for k in weights):
            return name
    raise AssertionError(f"{folder} holds neither checkpoint")


def _saving(folder, tensors):
    return lambda: checkpoint.save(folder, tensors, CONFIG)


def _next_start(kind: str, folder) -> str:
    """What the next start finds in `folder`: a load (as predict or --resume does) or a save over it."""
    if kind == "save":
        newer = {k: t + 2 for k, t in NEW.items()}
        checkpoint.save(folder, newer, CONFIG)
        assert torch.equal(checkpoint.load(folder)[0]["model.bias"], newer["model.bias"])
        return "saved over"
    return _which(folder)


# -- a save stopped at every step --------------------------------------------------------------------

# A save over a checkpoint, step by step: 1 the parent made (there already), 2 the new folder made,
# 3-4 weights and config written, 5 the old folder renamed aside, 6 the new one renamed in, 7-9 the
# old one removed (two files, then the folder).
STEPS, OLD_ASIDE, NEW_IN = 9, 5, 6


def test_the_fault_helper_counts_every_step_of_a_save(tmp_path):
    checkpoint.save(tmp_path / "m", OLD, CONFIG)
    assert faults.steps(_saving(tmp_path / "m", NEW)) == STEPS
    assert _which(tmp_path / "m") == "new" and leftovers(tmp_path) == []


@pytest.mark.parametrize("after", [False, True], ids=["before the step", "after the step"])
def test_a_save_interrupted_at_any_step_leaves_the_old_or_the_new_and_nothing_else(tmp_path, after):
    seen = []
    for step in range(1, STEPS + 1):
        folder = tmp_path / str(step) / "m"
        checkpoint.save(folder, OLD, CONFIG)
        assert faults.interrupted_at(step, _saving(folder, NEW), after), f"step {step} was not reached"
        assert leftovers(tmp_path / str(step)) == [], f"interrupted at step {step}"  # cleaned up on the spot
        seen.append(_which(folder))
    # Stopped before the new folder is renamed in, the old stays; once it is in, the new: never a
    # mixture, never neither.
    renamed_in = NEW_IN - 1 if after else NEW_IN
    assert seen == ["old"] * renamed_in + ["new"] * (STEPS - renamed_in), seen


@pytest.mark.parametrize("next_start", ["load", "save"])
def test_a_save_killed_at_any_step_is_recovered_on_the_next_start(tmp_path, next_start):
    seen = []
    for step in range(1, STEPS + 1):
        folder = tmp_path / str(step) / "m"
        checkpoint.save(folder, OLD, CONFIG)
        assert faults.killed_at(step, _saving(folder, NEW)), f"step {step} was not reached"
        left = leftovers(tmp_path / str(step))
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always")
            seen.append(_next_start(next_start, folder))
        assert leftovers(tmp_path / str(step)) == [], f"killed at step {step}"
        warned = [str(w.message) for w in said if issubclass(w.category, DigitlabWarning)]
        assert len(warned) == (1 if left else 0), (step, left, warned)
        assert all("a save was cut short" in w for w in warned)
    if next_start == "load":
        # Killed between the renames (the old aside, the new whole), the save is finished.
        assert seen == ["old"] * OLD_ASIDE + ["new"] * (STEPS - OLD_ASIDE), seen


def test_a_first_save_killed_at_any_step_leaves_a_whole_model_or_none(tmp_path):
    total = faults.steps(_saving(tmp_path / "count" / "m", NEW))
    for step in range(1, total + 1):
        folder = tmp_path / str(step) / "m"
        folder.parent.mkdir()
        assert faults.killed_at(step, _saving(folder, NEW))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                assert _which(folder) == "new"
            except checkpoint.ModelError:
                assert not folder.exists() and step < total, step  # only before the new one is whole
        assert leftovers(tmp_path / str(step)) == [], step


def test_an_interrupt_just_as_a_temporary_file_is_made_leaves_none(tmp_path, monkeypatch):
    real_open = os.open

    def made_then_interrupted(*args, **kwargs):
        os.close(real_open(*args, **kwargs))
        raise KeyboardInterrupt  # a signal landing as the file has been made, before its name is handed back

    with monkeypatch.context() as patched, pytest.raises(KeyboardInterrupt):
        patched.setattr(files.os, "open", made_then_interrupted)
        with files.atomic_write(tmp_path / "a.npy"):
            pass
    assert list(tmp_path.iterdir()) == []


def test_recovery_leaves_a_live_processs_save_alone(tmp_path):
    """A folder another running process is building is not a leftover: a load must not take it."""
    checkpoint.save(tmp_path / "m", OLD, CONFIG)
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        building = tmp_path / f".m.new-{alive.pid}.tmp"
        building.mkdir()
        assert _which(tmp_path / "m") == "old" and building.is_dir()
    finally:
        alive.kill()
        alive.wait()
    with pytest.warns(DigitlabWarning, match="removed what it left"):
        assert _which(tmp_path / "m") == "old"
    assert not building.exists()


# -- SIGTERM, as docker stop, systemd and CI send it ---------------------------------------------------

BETWEEN_RENAMES = """
import os, signal
from digitlab.store import swap
real_swap_in, swaps = swap.swap_in, []
def swap_in(new, directory):
    swaps.append(new)
    if len(swaps) == {save}:  # SIGTERM between this save's two renames: the old folder is aside
        real_replace = os.replace
        def replace(src, dst):
            if src == new:
                os.kill(os.getpid(), signal.SIGTERM)
            return real_replace(src, dst)
        os.replace = replace
    return real_swap_in(new, directory)
swap.swap_in = swap_in
"""


def _stopped_in_one_line(done, *fragments) -> str:
    lines = [line for line in done.stderr.splitlines() if line.startswith("digitlab:")]
    assert done.returncode == 143, done.stderr
    assert "Traceback" not in done.stderr and len(lines) == 1, done.stderr
    assert "terminated (SIGTERM)" in lines[0], lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def test_sigterm_between_the_renames_of_a_save_keeps_the_last_checkpoint(tmp_path):
    from digitlab import classifiers

    done = run_child(tmp_path, [*TRAIN, "--epochs", "3", "--out", "m"], BETWEEN_RENAMES.format(save=2), text=True)
    _stopped_in_one_line(done, "the checkpoint after epoch 1 is in m", "--resume")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]  # no leftovers; the lock file went with the run
    assert classifiers.load(tmp_path / "m").state_["epoch"] == 0


def test_predict_and_resume_find_a_checkpoint_a_killed_save_left_half_swapped(tmp_path, digits, capsys):
    assert digitlab(capsys, *TRAIN, "--epochs", "1", "--out", tmp_path / "m")[0] == 0
    os.rename(tmp_path / "m", tmp_path / ".m.old-999999999")  # killed between the renames, the new folder lost
    code, _, err = digitlab(capsys, "predict", tmp_path / "m", digits / "3" / "0.png")
    assert code == 0 and "rolled it back" in err and sorted(p.name for p in tmp_path.iterdir()) == ["m"], err
    os.rename(tmp_path / "m", tmp_path / ".m.old-999999999")
    code, _, err = digitlab(capsys, *TRAIN, "--epochs", "2", "--out", tmp_path / "m", "--resume")
    assert code == 0 and "rolled it back" in err and checkpoint.load(tmp_path / "m")[1]["training"]["epoch"] == 1, err


def test_compare_stopped_by_sigterm_mid_save_leaves_nothing_half_done(tmp_path):
    done = run_child(tmp_path, ["compare", "--quick", "--methods", "pixel,linear", "--dataset", "mnist_tiny",
                                "--device", "cpu", "--out", "out"], BETWEEN_RENAMES.format(save=2), text=True)
    _stopped_in_one_line(done)
    assert _which_method(tmp_path / "out" / "pixel-3v7") == "pixel"  # the first model, whole
    assert not (tmp_path / "out" / "linear-3v7").exists() and not (tmp_path / "out" / "report.html").exists()
    assert leftovers(tmp_path) == [] and not list(tmp_path.rglob("*.lock"))


def _which_method(folder) -> str:
    return checkpoint.load(folder)[1]["method"]


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """A folder of twelve 3s and 7s, written an hour ago (a folder changed in the last seconds is not cached)."""
    from digitlab.data import datasets

    root = tmp_path_factory.mktemp("digits")
    tiny = datasets.load("mnist_tiny", "valid")
    an_hour_ago = time.time() - 3600
    for digit in (3, 7):
        (root / str(digit)).mkdir(parents=True)
        picks = (tiny.labels == digit).nonzero().flatten()[:6]
        for i, k in enumerate(picks):
            (root / str(digit) / f"{i}.png").write_bytes(png(tiny.images[k].numpy()))
            os.utime(root / str(digit) / f"{i}.png", (an_hour_ago, an_hour_ago))
    return root


MID_CACHE_WRITE = """
import os, signal
from digitlab.store import files
real_atomic_write = files.atomic_write
import contextlib
@contextlib.contextmanager
def atomic_write(path, mode="wb"):
    with real_atomic_write(path, mode) as f:
        f.write(b"half")
        os.kill(os.getpid(), signal.SIGTERM)  # lands part-way through the cache's write
        yield f
files.atomic_write = atomic_write
{patch}
"""


@pytest.mark.parametrize("argv, patch", [
    (["evaluate", "{model}", "--dataset", "digits"], "from digitlab.data import folder_cache; folder_cache.atomic_write = atomic_write"),
    (["data", "info", "--dataset", "mnist", "--split", "valid"], "from digitlab.data import shipped_mnist; shipped_mnist.atomic_write = atomic_write"),
], ids=["evaluate a folder", "data info"])
def test_sigterm_while_a_cache_is_written_is_one_line_143_and_no_temporary_file(tmp_path, digits, argv, patch):
    from digitlab import pretrained

    home = tmp_path / "home"  # empty: the cache is written, not read
    argv = [{"{model}": str(pretrained.path("linear")), "digits": str(digits)}.get(a, a) for a in argv]
    done = run_child(tmp_path, argv, MID_CACHE_WRITE.format(patch=patch), env={"DIGITLAB_HOME": str(home)}, text=True)
    _stopped_in_one_line(done)
    assert leftovers(tmp_path) == [] and list(home.rglob("*.npy")) + list(home.rglob("*.entry")) == []


def _spawn(argv, tmp_path) -> subprocess.Popen:
    import digitlab as package

    source = os.path.dirname(os.path.dirname(package.__file__))
    return subprocess.Popen([sys.executable, "-m", "digitlab", *map(str, argv)], cwd=tmp_path, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": source, "OMP_NUM_THREADS": "1", "COLUMNS": "200"})


def test_a_second_run_is_refused_while_the_first_trains_and_sigterm_then_stops_the_first(tmp_path, capsys):
    out = tmp_path / "m"
    first = _spawn([*TRAIN, "--epochs", "100000", "--out", out], tmp_path)
    try:
        deadline = time.monotonic() + 120
        while not (out / "config.json").exists() and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        code, _, err = digitlab(capsys, *TRAIN, "--epochs", "1", "--out", out)
        assert_one_line_error(code, err, f"--out {out}", f"another digitlab run (process {first.pid})")
        code, _, err = digitlab(capsys, "compare", "--quick", "--methods", "pixel", "--out", out)
        assert_one_line_error(code, err, f"process {first.pid}")
        first.send_signal(signal.SIGTERM)
        _, err = first.communicate(timeout=60)
    finally:
        first.kill()  # never left training for 100,000 epochs when SIGTERM went unheard
    done = subprocess.CompletedProcess(first.args, first.returncode, "", err)
    line = _stopped_in_one_line(done, f"is in {out}", "--resume")
    assert leftovers(tmp_path) == [] and not list(tmp_path.rglob("*.lock"))
    saved = checkpoint.load(out)[1]["training"]["epoch"]
    assert f"after epoch {saved + 1} is in" in line
    code, _, err = digitlab(capsys, *TRAIN, "--epochs", str(saved + 2), "--out", out, "--resume")
    assert code == 0, err  # the lock went with the first run


def test_a_lock_left_by_a_process_that_is_gone_is_taken_over(tmp_path, capsys):
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (tmp_path / ".m.lock").write_text(gone.stdout)
    code, out, err = digitlab(capsys, *TRAIN, "--epochs", "1", "--out", tmp_path / "m")
    assert code == 0 and "model saved in" in out, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_a_held_lock_refuses_even_in_this_process(tmp_path, capsys):
    from digitlab.store import lock

    with lock.holding(tmp_path / "m"):
        code, _, err = digitlab(capsys, *TRAIN, "--epochs", "1", "--out", tmp_path / "m")
    assert_one_line_error(code, err, f"process {os.getpid()}")
    assert not (tmp_path / "m").exists() and sorted(p.name for p in tmp_path.iterdir()) == []


# -- --out a link -------------------------------------------------------------------------------------

def test_out_a_link_to_a_folder_is_written_through(tmp_path, capsys):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real", target_is_directory=True)
    code, _, err = digitlab(capsys, *TRAIN, "--epochs", "2", "--out", tmp_path / "link")
    assert code == 0, err
    assert (tmp_path / "link").is_symlink() and os.readlink(tmp_path / "link") == str(tmp_path / "real")
    assert checkpoint.load(tmp_path / "real")[1]["training"]["epoch"] == 1  # both epochs' saves went there
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "real"] and leftovers(tmp_path) == []
    code, _, err = digitlab(capsys, *TRAIN, "--epochs", "3", "--out", tmp_path / "link", "--resume")
    assert code == 0 and checkpoint.load(tmp_path / "real")[1]["training"]["epoch"] == 2, err


def test_out_a_link_that_leads_nowhere_is_refused_before_anything_moves(tmp_path, capsys):
    (tmp_path / "link").symlink_to(tmp_path / "nowhere", target_is_directory=True)
    code, _, err = digitlab(capsys, *TRAIN, "--epochs", "1", "--out", tmp_path / "link")
    assert_one_line_error(code, err, f"--out {tmp_path / 'link'}: is a link to {tmp_path / 'nowhere'}, which does not exist")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link"] and (tmp_path / "link").is_symlink()
    with pytest.raises(OutputError, match="which does not exist"):  # the store refuses it too
        checkpoint.save(tmp_path / "link", NEW, CONFIG)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link"]


# -- a full or read-only DIGITLAB_HOME ------------------------------------------------------------------

class _FullFile:
    """A file whose writes fail as `error` says, as a full disk's do."""

    def __init__(self, f, error):
        self.f, self.error = f, error

    def write(self, data):
        raise self.error

    def __getattr__(self, name):
        return getattr(self.f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()


FULL = {
    "ENOSPC": OSError(errno.ENOSPC, "No space left on device"),
    "numpy, no errno": OSError("Not enough free space to write 47040000 bytes after offset 128"),
    "numpy's short write": OSError("47040000 requested and 4096 written"),
}


def _refused_under(root, real):
    """`real` (os.mkdir, os.open) as on a read-only file system under `root`, as it is elsewhere."""
    def call(path, *args, **kwargs):
        if str(path).startswith(str(root)):
            raise OSError(errno.EROFS, "Read-only file system")
        return real(path, *args, **kwargs)
    return call


@pytest.fixture(params=list(FULL) + ["read-only"])
def bad_home(request, tmp_path, monkeypatch):
    """An empty DIGITLAB_HOME whose writes fail: full (each way it says so) or read-only."""
    monkeypatch.setenv("DIGITLAB_HOME", str(tmp_path / "home"))
    if request.param == "read-only":  # the suite may run as root, whom chmod does not stop
        for name in ("mkdir", "open"):
            monkeypatch.setattr(files.os, name, _refused_under(tmp_path / "home", getattr(os, name)))
        return "Read-only file system"
    real_fdopen = os.fdopen
    monkeypatch.setattr(files.os, "fdopen", lambda fd, mode="r", *a, **k: _FullFile(real_fdopen(fd, mode, *a, **k),
                                                                                      FULL[request.param]))
    return "the disk is full"


def _one_warning(err: str, *fragments) -> None:
    lines = [line for line in err.splitlines() if line.startswith("digitlab:")]
    assert "Traceback" not in err and len(lines) == 1 and lines[0].startswith("digitlab: warning:"), err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_mnist_on_a_bad_home_is_decoded_with_a_warning(bad_home, tmp_path, capsys):
    code, out, err = digitlab(capsys, "data", "info", "--dataset", "mnist", "--split", "valid")
    assert code == 0 and "10,000" in out, err
    _one_warning(err, "MNIST test: decoded, but not cached", bad_home)
    assert leftovers(tmp_path) == []


def test_evaluating_a_folder_on_a_bad_home_goes_on_loaded_but_not_cached(digits, bad_home, tmp_path, capsys):
    from digitlab import pretrained

    code, out, err = digitlab(capsys, "evaluate", pretrained.path("linear"), "--dataset", digits)
    assert code == 0 and "accuracy" in out, err
    _one_warning(err, "loaded, but not cached", bad_home)
    assert leftovers(tmp_path) == []


def test_a_full_disk_in_numpys_words_is_the_one_line_full_disk_error(tmp_path):
    for error in FULL.values():
        with pytest.raises(OutputError, match=r"\(the disk is full\); free some space"):
            with files.atomic_write(tmp_path / "a.npy") as f:
                raise error
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(OSError, match="^reading$"):  # the caller's own OSError passes as it is
        with files.atomic_write(tmp_path / "a.npy"):
            raise OSError("reading")


def test_clearing_the_cache_on_a_read_only_home_is_one_line(tmp_path, capsys, monkeypatch):
    from digitlab.data import folder_cache

    folder_cache.cache_dir().mkdir(parents=True)
    for name in ("a", "b"):
        (folder_cache.cache_dir() / f"{name}{folder_cache.SUFFIX}").write_bytes(b"x")
    real_unlink = type(tmp_path).unlink

    def read_only(path, *args, **kwargs):
        if path.parent == folder_cache.cache_dir():
            raise OSError(errno.EROFS, "Read-only file system")
        return real_unlink(path, *args, **kwargs)

    with monkeypatch.context() as patched:
        patched.setattr(type(tmp_path), "unlink", read_only)
        code, _, err = digitlab(capsys, "data", "cache", "--clear")
    assert_one_line_error(code, err, str(folder_cache.cache_dir()), "cannot remove 2 cached folder(s)",
                          "Read-only file system")
    code, out, _ = digitlab(capsys, "data", "cache", "--clear")
    assert code == 0 and "removed 2 decoded folders" in out
