"""Hostile streams and arguments for `digitlab predict` (issue 33): a reader that stops reading, an
output that cannot be written, stdin that is not UTF-8 or has no line ends, a named pipe given as an
image, a mistyped model folder, and a model saved by a newer digitlab. One line, the documented exit
code, never a traceback or a hang."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from cli_run import digitlab
from hostile import png


@pytest.fixture(scope="module")
def digit(tmp_path_factory):
    """A 28 x 28 MNIST digit as a grey PNG (read the fast way, thousands a second)."""
    from digitlab.data import datasets

    path = tmp_path_factory.mktemp("digit") / "digit.png"
    path.write_bytes(png(datasets.load("mnist_tiny", "valid").images[0].numpy()))
    return path


def _process(argv, tmp_path, **kwargs) -> subprocess.Popen:
    import digitlab as package

    source = os.path.dirname(os.path.dirname(package.__file__))  # this checkout's digitlab
    return subprocess.Popen([sys.executable, "-m", "digitlab", *map(str, argv)], cwd=tmp_path,
                            env={**os.environ, "PYTHONPATH": source, "OMP_NUM_THREADS": "1"}, **kwargs)


def test_a_reader_that_stops_reading_ends_predict_quietly_with_141(digit, tmp_path):
    listing = tmp_path / "list.txt"
    listing.write_text(f"{digit}\n" * 6000)  # ~1 MB of answers: far more than a pipe holds
    run = _process(["predict", "--from", listing, "--json"], tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = run.stdout.readline()
    run.stdout.close()  # as `| head -1` does
    err = run.stderr.read().decode()
    assert run.wait(timeout=300) == 141, err
    assert json.loads(first)["number"] is not None
    assert "Traceback" not in err and "Exception ignored" not in err, err


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full on this system")
def test_an_output_that_cannot_be_written_is_one_line_and_exit_2(digit, tmp_path):
    with open("/dev/full", "w") as full:
        run = _process(["predict", digit, "--json"], tmp_path, stdout=full, stderr=subprocess.PIPE)
        err = run.communicate(timeout=300)[1].decode()
    assert run.returncode == 2, err
    assert err.strip().count("\n") == 0 and "cannot write the answers (No space left on device)" in err, err


def test_stdin_paths_are_read_as_bytes_and_a_line_with_no_end_is_refused(digit, tmp_path):
    run = _process(["predict", "--from", "-"], tmp_path, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                   stderr=subprocess.PIPE)
    out, err = run.communicate(str(digit).encode() + b"\n" + str(tmp_path).encode() + b"/\xff\xfe.png\n", timeout=300)
    assert run.returncode == 1, err  # one read, one missing (named with its bytes shown)
    assert str(digit) in out.decode() and "\\xff\\xfe.png: no such image file" in err.decode()
    assert b"Traceback" not in err
    endless = subprocess.Popen([sys.executable, "-c", "import sys\nwhile True: sys.stdout.buffer.write(b'a' * 65536)"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)  # one line that never ends
    try:
        run = _process(["predict", "--from", "-"], tmp_path, stdin=endless.stdout, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
        out, err = run.communicate(timeout=120)  # refused after 4 KB: not read for ever into memory
    finally:
        endless.kill()
    assert run.returncode == 2 and b"longer than 4,096 bytes" in err and b"Traceback" not in err, err


def test_a_named_pipe_is_refused_without_waiting_for_a_writer(digit, tmp_path, capsys):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no named pipes on this system")
    pipe = tmp_path / "pipe.png"
    os.mkfifo(pipe)
    run = _process(["predict", pipe, digit], tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = run.communicate(timeout=120)  # before: open() waited for a writer for ever
    assert run.returncode == 1 and b"pipe.png: not a regular file" in err, err
    assert str(digit).encode() in out


def test_a_mistyped_model_folder_is_an_error_not_a_missing_image(digit, tmp_path, capsys):
    code, out, err = digitlab(capsys, "predict", tmp_path / "no-such-model", digit)
    assert code == 2 and "no-such-model: no such folder" in err and not out
    (tmp_path / "empty").mkdir()
    code, out, err = digitlab(capsys, "predict", tmp_path / "empty", digit)
    assert code == 2 and "no model in it" in err and not out
    code, out, _ = digitlab(capsys, "predict", tmp_path / "missing.png", digit)  # an image's name: skipped
    assert code == 1 and str(digit) in out


def test_a_model_saved_by_a_newer_digitlab_says_upgrade_not_damaged(tmp_path):
    from digitlab import __version__, pretrained, service
    from digitlab.errors import ModelError

    model = tmp_path / "newer"
    shutil.copytree(pretrained.path("linear"), model)
    config = json.loads((model / "config.json").read_text())
    config["config"]["a_setting_from_the_future"] = 1
    (model / "config.json").write_text(json.dumps({**config, "digitlab_version": "99.0.0"}))
    with pytest.raises(ModelError, match=f"saved by digitlab 99.0.0, newer than this one \\({__version__}\\).*upgrade"):
        service.load(model)
    (model / "config.json").write_text(json.dumps({**config, "digitlab_version": __version__}))
    with pytest.raises(ModelError, match="train the model again|damaged"):  # this version's own: damaged
        service.load(model)
