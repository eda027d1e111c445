"""Hostile images, datasets, options, full disks, odd file names and signals: one line naming the
file or option, the documented exit code, no traceback, nothing half-written or left behind."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

from digitlab import cli

from cli_run import digitlab
from hostile import leftovers, png, png_header, refused
from hostile import run_child as _run


@pytest.fixture(scope="module")
def kit(tmp_path_factory):
    """A trained 3-vs-7 linear model and a readable digit."""
    from digitlab import classifiers
    from digitlab.data import datasets

    root = tmp_path_factory.mktemp("kit")
    train = datasets.load("mnist_tiny", "train")
    classifiers.make("linear", epochs=1).fit(train.images, train.labels, progress=False).save(root / "model")
    (root / "digit.png").write_bytes(png(255 - datasets.load("mnist_tiny", "valid").images[0].numpy()))
    return root


def _digits_folder(root, kit, bad: dict):
    """root/3/, root/7/ of readable digits, plus the files `bad` {relative name: bytes}."""
    for digit in (3, 7):
        (root / str(digit)).mkdir(parents=True)
        for i in range(3):
            shutil.copy(kit / "digit.png", root / str(digit) / f"{i}.png")
    for name, content in bad.items():
        (root / name).write_bytes(content)
    return root


BLANK = png(np.full((64, 64), 255, np.uint8))
IMAGE_CASES = [
    ("not an image", b"hello", "not a readable image"),
    ("empty file", b"", "not a readable image"),
    ("truncated PNG", png(np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8))[:300],
     "not a readable image"),
    ("10,000 x 10,000 colour header", png_header(10_000, 10_000), "too large to read (10,000 x 10,000 pixels"),
    ("a bomb past Pillow's own limit", png_header(100_000, 100_000), "too large to read"),
]


@pytest.mark.parametrize("declining", [[], ["--no-decline"]], ids=["declining", "not declining"])
def test_a_blank_page_is_read_and_has_no_digit(kit, tmp_path, capsys, declining):
    # A blank page is read fine (as digitlab.read reads it): no digit to give, declining or not; never unreadable.
    (tmp_path / "blank.png").write_bytes(BLANK)
    code, out, err = digitlab(capsys, "predict", kit / "model", tmp_path / "blank.png", *declining, "--json")
    assert (code, err) == (0, "")
    assert (json.loads(out)["label"], json.loads(out)["declined"]) == (None, "no digit")


@pytest.mark.parametrize("declining", [[], ["--no-decline"]], ids=["declining", "not declining"])
def test_the_counts_count_what_they_say(kit, tmp_path, capsys, declining):
    """Blank images were read (no digit in them); only the junk could not be."""
    files = [tmp_path / name for name in ("blank1.png", "blank2.png", "digit.png", "junk.png", "missing.png")]
    files[0].write_bytes(BLANK)
    files[1].write_bytes(BLANK)
    shutil.copy(kit / "digit.png", files[2])
    files[3].write_bytes(b"junk")
    code, out, err = digitlab(capsys, "predict", kit / "model", *files, *declining)
    assert code == 1, err  # some could not be read
    assert [line.split(": ")[0] for line in out.splitlines()] == [str(f) for f in files[:3]]
    assert out.count("declined (no digit)") == 2
    assert err.splitlines() == [
        f"digitlab: warning: skipped {files[3]}: not a readable image (not PNG, JPEG, BMP, GIF or WEBP); "
        "give a PNG or JPEG of one digit",
        f"digitlab: warning: skipped {files[4]}: no such image file; check the path",
        "digitlab: 2 of 5 images could not be read (named above); 3 read and answered"]


@pytest.mark.parametrize("content, names", [c[1:] for c in IMAGE_CASES], ids=[c[0] for c in IMAGE_CASES])
def test_one_bad_image_is_one_line_naming_it(kit, tmp_path, capsys, content, names):
    (tmp_path / "bad.png").write_bytes(content)
    err = refused(capsys, tmp_path, "predict", kit / "model", tmp_path / "bad.png", names=(f"{tmp_path / 'bad.png'}: ", names))
    assert len(err.splitlines()) == 1, err  # the error alone: not also a warning that it was skipped


def test_a_missing_image_is_one_line(kit, tmp_path, capsys):
    err = refused(capsys, tmp_path, "predict", kit / "model", tmp_path / "gone.png",
                  names=(f"{tmp_path / 'gone.png'}: no such image file",))
    assert len(err.splitlines()) == 1, err


def test_predict_names_the_bad_images_predicts_the_rest_and_exits_1(kit, tmp_path, capsys):
    folder = tmp_path / "mixed"
    folder.mkdir()
    for i in range(2):
        shutil.copy(kit / "digit.png", folder / f"good{i}.png")
    for i in range(7):
        (folder / f"bad{i}.png").write_bytes(b"junk")
    code, out, err = digitlab(capsys, "predict", "--json", kit / "model", folder)
    assert code == 1 and "Traceback" not in err, err
    assert [json.loads(line)["image"] for line in out.splitlines()] == [str(folder / f"good{i}.png") for i in range(2)]
    assert sum("skipped" in line and "bad" in line for line in err.splitlines()) == 5  # the first five named
    assert "skipped 2 more images" in err and "7 of 9 images could not be read (named above); 2 read and answered" in err


def test_predict_with_no_readable_image_is_one_line(kit, tmp_path, capsys):
    for i in range(3):
        (tmp_path / f"bad{i}.png").write_bytes(b"junk")
    err = refused(capsys, tmp_path, "predict", kit / "model", *sorted(tmp_path.glob("*.png")),
                  names="none of the 3 images could be read (named above)")
    assert [sum(f"bad{i}.png" in line for line in err.splitlines()) for i in range(3)] == [1, 1, 1]  # each once
    assert len(err.splitlines()) == 4, err  # three named, then the error


DATASET_CASES = [
    ("one broken image", {"3/bad.png": b"junk"}, "skipped 1 image file that could not be read: 3/bad.png"),
    ("seven broken images", {f"7/bad{i}.png": b"junk" for i in range(7)}, "7/bad4.png and 2 more"),
    ("an image too large to decode", {"3/huge.png": png_header(30_000, 30_000)}, "3/huge.png (the first: too large"),
]


@pytest.mark.parametrize("bad, names", [c[1:] for c in DATASET_CASES], ids=[c[0] for c in DATASET_CASES])
def test_evaluate_skips_what_it_cannot_read_and_says_so(kit, tmp_path, capsys, bad, names):
    folder = _digits_folder(tmp_path / "digits", kit, bad)
    code, out, err = digitlab(capsys, "evaluate", kit / "model", "--dataset", folder)
    assert code == 0 and "Traceback" not in err, err
    assert names in err and "on 6 test images" in out


def test_a_dataset_with_nothing_readable_is_one_line(kit, tmp_path, capsys):
    folder = tmp_path / "digits"
    for digit in (3, 7):
        (folder / str(digit)).mkdir(parents=True)
        (folder / str(digit) / "x.png").write_bytes(b"junk")
    refused(capsys, tmp_path, "evaluate", kit / "model", "--dataset", folder, names="none of its 2 image files could be read")


OPTION_CASES = [
    ("linear lr 1e6", ["linear", "--dataset", "mnist_tiny", "--lr", "1e6"], "training diverged"),
    ("simple_net lr 1e6", ["simple_net", "--dataset", "mnist_tiny", "--lr", "1e6", "--epochs", "2"], "training diverged"),
    ("ten digits lr 1e6", ["linear", "--dataset", "mnist", "--lr", "1e6", "--epochs", "1"], "training loss grew"),
    ("cnn lr 1e6", ["cnn", "--dataset", "mnist_tiny", "--lr", "1e6"], "training diverged"),
    ("unknown dataset", ["linear", "--dataset", "mnist_huge"], "mnist_huge"),
]


@pytest.mark.parametrize("argv, names", [c[1:] for c in OPTION_CASES], ids=[c[0] for c in OPTION_CASES])
def test_a_bad_option_or_a_diverging_run_saves_nothing(tmp_path, capsys, argv, names):
    err = refused(capsys, tmp_path, "train", *argv, "--out", tmp_path / "out", names=names)
    if "diverged" in err:
        assert "--lr" in err and "nothing saved" in err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.mark.parametrize("option, value", [("--lr", "nan"), ("--lr", "0"), ("--epochs", "0"), ("--lr", "1e12"),
                                           ("--batch-size", "0"), ("--seed", "-1")])
def test_an_option_outside_its_spec_is_one_argparse_line_before_anything_runs(tmp_path, capsys, option, value):
    # The options' types are the settings' specs (store/spec.py): refused as the command line is read.
    with pytest.raises(SystemExit) as exit_:
        cli.main(["train", "linear", "--dataset", "mnist_tiny", option, value, "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert exit_.value.code == 2 and "Traceback" not in err and len(errors) == 1, err
    assert f"argument {option}: '{value}': give a " in errors[0]
    assert not (tmp_path / "out").exists()


def test_a_diverging_resume_keeps_the_last_good_checkpoint(kit, tmp_path, capsys):
    shutil.copytree(kit / "model", tmp_path / "out")
    before = {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()}
    refused(capsys, tmp_path, "train", "linear", "--dataset", "mnist_tiny", "--out", tmp_path / "out", "--resume",
            "--epochs", "3", "--lr", "1e6", names=("--lr", "the checkpoint after epoch 1"))
    assert {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()} == before


# -- a real process: file-size limits, encodings, signals ----------------------------------------

LIMIT = "import resource; resource.setrlimit(resource.RLIMIT_FSIZE, ({0}, {0}))"  # bytes a file may hold
DISK_CASES = [  # (case, argv, the file-size limit: under what the command writes, what the line names)
    ("a new model", ["train", "linear", "--dataset", "mnist_tiny", "--out", "new"], 2000, "new: cannot write"),
    ("resumed, over a good checkpoint", ["train", "linear", "--dataset", "mnist_tiny", "--out", "old", "--resume",
                                         "--epochs", "2"], 2000, "old: cannot write"),
    ("pixel", ["train", "pixel", "--dataset", "mnist_tiny", "--out", "new"], 2000, "new: cannot write"),
    ("cnn", ["train", "cnn", "--dataset", "mnist_tiny", "--out", "new"], 20_000, "new: cannot write"),
    ("a picture", ["data", "show", "mnist_tiny", "--out", "p.png"], 2000, "p.png: cannot write"),
    ("predict --show", ["predict", "old", "digit.png", "--show", "seen"], 100, "seen/digit.png: cannot write"),
    ("an export", ["export", "mnist_tiny", "exp"], 100, "exp/mnist_tiny: cannot write"),
]


@pytest.mark.parametrize("argv, limit, names", [c[1:] for c in DISK_CASES], ids=[c[0] for c in DISK_CASES])
def test_a_full_disk_is_one_line_and_loses_nothing(kit, tmp_path, argv, limit, names):
    shutil.copytree(kit / "model", tmp_path / "old")
    shutil.copy(kit / "digit.png", tmp_path / "digit.png")
    before = {p.name: p.read_bytes() for p in (tmp_path / "old").iterdir()}
    done = _run(tmp_path, argv, LIMIT.format(limit), text=True)
    errors = [line for line in done.stderr.splitlines() if line.startswith("digitlab: error:")]
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert len(errors) == 1 and names in errors[0] and "file-size limit" in errors[0], done.stderr
    assert {p.name: p.read_bytes() for p in (tmp_path / "old").iterdir()} == before
    assert not (tmp_path / "new").exists() and not (tmp_path / "p.png").exists() and leftovers(tmp_path) == []


@pytest.mark.parametrize("env", [{"PYTHONIOENCODING": "utf-8:strict"}, {"LC_ALL": "C", "PYTHONIOENCODING": ""}],
                         ids=["strict utf-8", "C locale"])
def test_file_names_that_are_not_utf8_print_in_text_and_json(kit, tmp_path, env):
    folder = os.fsdecode(bytes(tmp_path) + b"/d\xff")
    os.mkdir(folder)
    shutil.copy(kit / "digit.png", os.path.join(folder, os.fsdecode(b"thr\xfee.png")))
    (tmp_path / "bad.png").write_bytes(b"junk")
    text = _run(tmp_path, ["predict", kit / "model", folder, "bad.png"], env=env)
    assert text.returncode == 1 and b"Traceback" not in text.stderr, text.stderr
    assert b"d\\xff/thr\\xfee.png: " in text.stdout
    as_json = _run(tmp_path, ["predict", "--json", kit / "model", folder], env=env)
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout)["image"] == os.path.join(folder, os.fsdecode(b"thr\xfee.png"))
    missing = _run(tmp_path, ["predict", os.fsdecode(b"nowhere\xff"), "bad.png"], env=env)
    assert missing.returncode == 2 and missing.stderr.count(b"digitlab: error:") == 1, missing.stderr
    assert b"nowhere\\xff" in missing.stderr and b"Traceback" not in missing.stderr


# The train command run in a child that sends itself signals at fixed points: no sleeps, no timing.
SECOND_SAVE = """
import os, signal
from digitlab.store import checkpoint
real_save, saves = checkpoint.save, []
def save(*args, **kwargs):
    saves.append(1)
    if len(saves) == 2:
        {action}
    return real_save(*args, **kwargs)
checkpoint.save = save
"""
TWO_CTRL_C = """
from digitlab.commands import train
real_saved_epoch = train._saved_epoch
def saved_epoch(*args):
    os.kill(os.getpid(), signal.SIGINT)  # a second Ctrl-C while the first is being handled
    return real_saved_epoch(*args)
train._saved_epoch = saved_epoch
"""
SIGNAL_CASES = [
    ("Ctrl-C mid-save", SECOND_SAVE.format(action="os.kill(os.getpid(), signal.SIGINT)"), 130),
    ("a second Ctrl-C", SECOND_SAVE.format(action="os.kill(os.getpid(), signal.SIGINT)") + TWO_CTRL_C, 130),
    ("kill -9 mid-save", SECOND_SAVE.format(action="os.kill(os.getpid(), signal.SIGKILL)"), -9),
]


@pytest.mark.parametrize("prelude, code", [c[1:] for c in SIGNAL_CASES], ids=[c[0] for c in SIGNAL_CASES])
def test_a_signal_mid_save_keeps_the_last_checkpoint(tmp_path, prelude, code):
    from digitlab import classifiers

    done = _run(tmp_path, ["train", "linear", "--dataset", "mnist_tiny", "--epochs", "3", "--out", "m"], prelude,
                text=True)
    assert done.returncode == code and "Traceback" not in done.stderr, done.stderr
    if code == 130:  # a second Ctrl-C cuts the message short, never into a traceback
        said = "interrupted; the checkpoint after epoch 1 is in m" if "second" not in prelude else "digitlab: interrupted"
        assert said in done.stderr and leftovers(tmp_path) == []
    assert classifiers.load(tmp_path / "m").state_["epoch"] == 0  # the first epoch's checkpoint, whole
