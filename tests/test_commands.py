"""The `digitlab` commands end to end: a --quick smoke run of each, resume, Ctrl-C, and bad input."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw, ImageFont
from safetensors.torch import load_file

from digitlab import classifiers, cli
from digitlab.classifiers.cnn import presets
from digitlab.compare.config import DEFAULT_DATASETS
from digitlab.compare.tasks import load_tasks
from digitlab.data import datasets
from digitlab.vision import mnist_style

from cli_run import assert_one_line_error, digitlab

FONT_FOLDERS = [Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/truetype/liberation")]


@pytest.fixture(scope="module")
def compare_run(tmp_path_factory):
    """One `digitlab compare --quick` run: its folder and what it printed."""
    out = tmp_path_factory.mktemp("compare")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = cli.main(["compare", "--quick", "--device", "cpu", "--out", str(out)])
    assert code == 0
    return out, printed.getvalue()


@pytest.fixture(scope="module")
def compared(compare_run):
    """The quick run's folder; the other tests use its saved models."""
    return compare_run[0]


def test_compare_quick_prints_the_table_and_saves_models_and_report(compare_run):
    compared, printed = compare_run
    rows = {}  # (method, task) -> the accuracy printed, each saved model's own score
    for line in printed.splitlines():
        cells = [c.strip() for c in re.split(r"[│|]", line) if c.strip()]
        if len(cells) > 2 and cells[0] in classifiers.METHODS:
            rows[cells[0], cells[1]] = cells
    assert len(rows) == len(classifiers.METHODS) * 2, printed
    for task in load_tasks(DEFAULT_DATASETS, quick=True):  # the run's own seeded subsets
        for method in classifiers.METHODS:
            score = classifiers.load(compared / f"{method}-{task.slug}").score(task.test_images, task.test_labels)
            assert rows[method, task.name][2] == f"{score:.2%}", (method, task.name)
    for method in classifiers.METHODS:
        for task in ("3v7", "0-9"):
            config = json.loads((compared / f"{method}-{task}" / "config.json").read_text())
            assert config["method"] == method
    page = (compared / "report.html").read_text()
    for section in ("summary", "examples", "means", "curves", "confusion", "top-losses", "timings", "environment"):
        assert f'id="{section}"' in page
    assert page.count('src="data:image/png;base64,') >= 8 * 2 + 5  # confusion + top losses per run, and more
    assert not re.search(r'(src|href)="(https?:)?//', page) and "<script" not in page  # opens offline


def test_evaluate_reports_the_models_own_accuracy(compared, capsys):
    model = compared / "linear-3v7"
    code, out, _ = digitlab(capsys, "evaluate", model)
    assert code == 0
    valid = datasets.load("mnist_sample", "valid")
    expected = classifiers.load(model).score(valid.images, valid.labels)
    assert f"accuracy {expected:.2%} on 2,038 test images" in out
    assert "actual \\ predicted" in out


def test_predict_prints_json_and_shows_what_the_model_saw(compared, capsys, tmp_path, mnist_test):
    digit = tmp_path / "digit.png"
    Image.fromarray(255 - mnist_test.images[0].numpy()).resize((120, 120)).save(digit)  # a dark-on-light scan
    model = compared / "pixel-0-9"
    code, out, _ = digitlab(capsys, "predict", model, digit, "--json", "--show", tmp_path / "seen")
    assert code == 0
    answer = json.loads(out)
    seen = mnist_style.to_mnist(digit)
    assert answer["label"] == int(classifiers.load(model).predict(seen[None])[0])
    assert sum(answer["probabilities"].values()) == pytest.approx(1, abs=1e-4)
    shown = torch.from_numpy(np.asarray(Image.open(tmp_path / "seen" / "digit.png"))).float() / 255
    torch.testing.assert_close(shown, seen, atol=1 / 255, rtol=0)
    code, out, _ = digitlab(capsys, "predict", model, digit)
    assert code == 0 and out.startswith(f"{digit}: {answer['label']} (probability")


def test_data_info_and_export_smoke(capsys, tmp_path):
    code, out, _ = digitlab(capsys, "data", "info")
    assert code == 0 and "mnist_sample" in out
    code, out, _ = digitlab(capsys, "export", "mnist_tiny", tmp_path)
    assert code == 0
    assert len(list(tmp_path.rglob("*.png"))) == 709 + 699


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    return {k: v for k, v in load_file(folder / "model.safetensors").items() if k.startswith("model.")}


def test_resume_ends_where_an_uninterrupted_run_ends(capsys, tmp_path):
    common = ["train", "simple_net", "--dataset", "mnist_tiny", "--seed", "3", "--device", "cpu"]
    assert digitlab(capsys, *common, "--epochs", "2", "--out", tmp_path / "straight")[0] == 0
    assert digitlab(capsys, *common, "--epochs", "1", "--out", tmp_path / "halves")[0] == 0
    halfway = _weights(tmp_path / "halves")
    assert digitlab(capsys, *common, "--epochs", "2", "--out", tmp_path / "halves", "--resume")[0] == 0
    straight, resumed = _weights(tmp_path / "straight"), _weights(tmp_path / "halves")
    assert straight.keys() == resumed.keys()
    for name in straight:
        torch.testing.assert_close(resumed[name], straight[name], rtol=0, atol=0)
    assert any(not torch.equal(halfway[k], resumed[k]) for k in halfway)  # the second epoch did train


def test_ctrl_c_keeps_the_last_checkpoint_and_says_how_to_resume(tmp_path):
    out = tmp_path / "model"
    command = [sys.executable, "-m", "digitlab", "train", "linear", "--dataset", "mnist_tiny",
               "--epochs", "100000", "--device", "cpu", "--out", str(out)]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "COLUMNS": "200"})
    deadline = time.monotonic() + 120
    while not (out / "config.json").exists() and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    child.send_signal(signal.SIGINT)
    try:
        _, err = child.communicate(timeout=60)
    finally:
        child.kill()  # never left training for 100,000 epochs when the Ctrl-C went unheard
    assert child.returncode == 130, err
    assert "Traceback" not in err
    line = next(line for line in err.splitlines() if "interrupted" in line)
    assert str(out) in line and "--resume" in line
    saved = json.loads((out / "config.json").read_text())["training"]["epoch"]
    assert f"after epoch {saved + 1} is in" in line  # counted from 1 for people, from 0 in the history
    resumed = subprocess.run(command[:8] + [str(saved + 2)] + command[9:] + ["--resume"],
                             capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads((out / "config.json").read_text())["training"]["epoch"] == saved + 1


def _fonts() -> list:
    files = sorted(p for folder in FONT_FOLDERS if folder.is_dir() for p in folder.glob("*.ttf"))
    if files:
        return [ImageFont.truetype(str(p), 170) for p in files[::3]]  # every third: a dozen styles
    return [ImageFont.load_default(size=170)]


def _photographed(digit: int, font, rng: np.random.Generator) -> Image.Image:
    """A digit printed thick in dark ink, off-centre on a large, unevenly lit, noisy page."""
    height, width = 300, 360
    ys, xs = np.mgrid[0:height, 0:width]
    page = Image.fromarray((190 + 50 * xs / width - 30 * ys / height).astype(np.uint8))
    where = (40 + int(rng.integers(0, 120)), 10 + int(rng.integers(0, 60)))
    ImageDraw.Draw(page).text(where, str(digit), font=font, fill=40, stroke_width=6, stroke_fill=40)
    noisy = np.asarray(page, dtype=np.float64) + rng.normal(0, 12, (height, width))
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)).convert("RGB")


def test_predict_reads_printed_digits_photographed_on_paper(capsys, tmp_path):
    # A model trained here on 3s and 7s has never seen a printed digit or a photo of paper; what it
    # gets right comes from to_mnist turning each photo into an MNIST-style input.
    model = tmp_path / "linear-3v7"
    assert digitlab(capsys, "train", "linear", "--dataset", "mnist_tiny", "--epochs", "3", "--device", "cpu",
                    "--out", model)[0] == 0
    rng = np.random.default_rng(0)
    paths, truth = [], []
    for i, font in enumerate(_fonts()):
        for digit in (3, 7):
            path = tmp_path / f"photo-{i}-{digit}.jpg"
            _photographed(digit, font, rng).save(path, quality=85)
            paths.append(path)
            truth.append(digit)
    code, out, _ = digitlab(capsys, "predict", model, *paths, "--json")
    assert code == 0
    predicted = [json.loads(line)["label"] for line in out.splitlines()]
    correct = sum(p == t for p, t in zip(predicted, truth))
    assert correct >= 0.9 * len(truth), list(zip(paths, predicted))
    # The same photos merely shrunk to 28 x 28 (dark ink on light paper) fool the same model.
    clf = classifiers.load(model)
    shrunk = torch.stack([torch.from_numpy(np.array(Image.open(p).convert("L").resize((28, 28)))) for p in paths])
    assert clf.score(shrunk, torch.tensor(truth)) <= 0.75


def test_train_takes_a_cnn_recipe_by_name_and_refuses_it_elsewhere(capsys, tmp_path):
    out = tmp_path / "medium"
    code, _, err = digitlab(capsys, "train", "cnn", "--dataset", "mnist_tiny", "--recipe", "medium",
                            "--epochs", "1", "--device", "cpu", "--out", out)
    assert code == 0, err
    model = classifiers.load(out)
    assert model.config == presets.preset("medium", epochs=1)  # the preset, with --epochs in its place
    assert "1/1" in err  # the bar counts the epochs the command line asked for

    code, _, err = digitlab(capsys, "train", "cnn", "--recipe", "huge", "--out", tmp_path / "a")
    assert_one_line_error(code, err, "'huge'", "fast, medium, best")
    code, _, err = digitlab(capsys, "train", "linear", "--best", "--out", tmp_path / "b")
    assert_one_line_error(code, err, "--recipe best", "only the cnn")
    code, _, err = digitlab(capsys, "train", "cnn", "--best", "--resume", "--out", out)
    assert_one_line_error(code, err, "keeps the recipe")


def test_a_log_gets_the_lasting_bar_and_no_empty_lines(capsys, tmp_path):
    # Captured stderr is not a terminal, as a log file is not: the transient inner bars (the cnn's
    # steps) show nothing there, and used to leave an empty line each.
    code, _, err = digitlab(capsys, "train", "cnn", "--dataset", "mnist_tiny", "--epochs", "1", "--device", "cpu",
                            "--out", tmp_path / "m")
    assert code == 0, err
    lines = err.splitlines()
    assert lines and all(line.strip() for line in lines), repr(err)
    assert "1/1" in lines[0]  # the command's own bar, in its final state


def test_bad_input_is_one_line_and_exit_2(compared, capsys, tmp_path):
    code, _, err = digitlab(capsys, "evaluate", tmp_path / "nowhere")
    assert_one_line_error(code, err, "nowhere", "no such model folder")

    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / "config.json").write_text((compared / "linear-3v7" / "config.json").read_text())
    (damaged / "model.safetensors").write_bytes(b"\x00garbage" * 10)
    code, _, err = digitlab(capsys, "evaluate", damaged)
    assert_one_line_error(code, err, "damaged")

    code, _, err = digitlab(capsys, "evaluate", compared / "linear-3v7", "--dataset", "mnist")
    assert_one_line_error(code, err, "linear-3v7", "knows the digits [3, 7]")

    blank = tmp_path / "blank.png"
    Image.new("RGB", (300, 200), (240, 238, 230)).save(blank)
    code, out, err = digitlab(capsys, "predict", compared / "pixel-0-9", blank)
    assert code == 0 and out.startswith(f"{blank}: declined (no digit)"), err  # read fine: declined, not an error

    notes = tmp_path / "notes.jpg"
    notes.write_text("shopping list: milk, eggs")
    code, _, err = digitlab(capsys, "predict", compared / "pixel-0-9", notes)
    assert_one_line_error(code, err, "notes.jpg", "not a readable image")

    code, _, err = digitlab(capsys, "compare", "--methods", "linear,knn", "--out", tmp_path / "x")
    assert_one_line_error(code, err, "knn", "pixel, linear, simple_net, cnn")
    code, _, err = digitlab(capsys, "train", "forest", "--out", tmp_path / "y")
    assert_one_line_error(code, err, "forest", "pixel, linear, simple_net, cnn")


def test_an_output_place_that_cannot_be_written_is_one_line_before_any_training(capsys, tmp_path):
    afile = tmp_path / "afile.txt"
    afile.write_text("not a folder")
    code, _, err = digitlab(capsys, "train", "linear", "--dataset", "mnist_tiny", "--out", afile)
    assert_one_line_error(code, err, "afile.txt", "is a file, not a folder")
    assert "training" not in err  # refused up front, not after an epoch
    code, _, err = digitlab(capsys, "train", "linear", "--dataset", "mnist_tiny", "--out", afile / "sub")
    assert_one_line_error(code, err, "afile.txt is a file")
    code, _, err = digitlab(capsys, "data", "show", "mnist_tiny", "--out", afile / "x.png")
    assert_one_line_error(code, err, "x.png", "afile.txt is a file, not a folder")
    code, _, err = digitlab(capsys, "data", "show", "mnist_tiny", "--out", tmp_path)
    assert_one_line_error(code, err, str(tmp_path), "cannot write here")
    assert afile.read_text() == "not a folder"

    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "notes.md").write_text("mine")
    code, _, err = digitlab(capsys, "train", "linear", "--dataset", "mnist_tiny", "--out", notes)
    assert_one_line_error(code, err, "not empty", "notes.md")


def test_options_a_run_cannot_use_are_refused_not_dropped(capsys, tmp_path):
    for seed in ("99999999999999999999", "-1"):
        with pytest.raises(SystemExit) as exit_:  # argparse's own one-line error
            cli.main(["train", "linear", "--dataset", "mnist_tiny", "--seed", seed])
        assert exit_.value.code == 2 and "give a whole number from 0 to" in capsys.readouterr().err
    for option, value in (("--lr", "inf"), ("--lr", "0"), ("--epochs", "0"), ("--batch-size", "1.5")):
        with pytest.raises(SystemExit) as exit_:  # the spec's range, before anything runs
            cli.main(["train", "linear", "--dataset", "mnist_tiny", option, value, "--out", str(tmp_path / "x")])
        err = capsys.readouterr().err
        assert exit_.value.code == 2 and f"argument {option}: '{value}': give a" in err and "Traceback" not in err
    code, _, err = digitlab(capsys, "train", "pixel", "--dataset", "mnist_tiny", "--epochs", "3",
                            "--out", tmp_path / "px")
    assert_one_line_error(code, err, "--epochs", "pixel")


def test_resume_keeps_to_the_saved_method_and_says_when_nothing_is_left(capsys, tmp_path):
    out = tmp_path / "lin"
    code, first, _ = digitlab(capsys, "train", "linear", "--dataset", "mnist_tiny", "--epochs", "1", "--out", out)
    assert code == 0
    code, _, err = digitlab(capsys, "train", "cnn", "--dataset", "mnist_tiny", "--out", out, "--resume")
    assert_one_line_error(code, err, "holds a linear model, not cnn", "digitlab train linear")
    code, again, err = digitlab(capsys, "train", "linear", "--dataset", "mnist_tiny", "--out", out, "--resume")
    assert code == 0 and "already holds all 1 epochs; nothing left to train" in err
    assert "0/1" not in err and again == first  # no empty bar; the same model and accuracy


def test_saved_files_get_the_umask_permissions_not_a_temporary_files(capsys, tmp_path):
    old = os.umask(0o022)
    try:
        out = tmp_path / "px"
        assert digitlab(capsys, "train", "pixel", "--dataset", "mnist_tiny", "--out", out)[0] == 0
        assert digitlab(capsys, "data", "show", "mnist_tiny", "--out", tmp_path / "seen.png")[0] == 0
    finally:
        os.umask(old)
    modes = {p.name: p.stat().st_mode & 0o777 for p in (out, out / "model.safetensors", out / "config.json",
                                                      tmp_path / "seen.png")}
    assert modes == {"px": 0o755, "model.safetensors": 0o644, "config.json": 0o644, "seen.png": 0o644}


def test_compare_refuses_a_bad_out_and_seed_before_training(capsys, tmp_path):
    afile = tmp_path / "afile.txt"
    afile.write_text("not a folder")
    code, out, err = digitlab(capsys, "compare", "--quick", "--methods", "linear", "--out", afile / "x")
    assert_one_line_error(code, err, "afile.txt is a file")
    assert "linear" not in out  # no table: nothing was trained
    with pytest.raises(SystemExit):
        cli.main(["compare", "--quick", "--seed", "99999999999999999999"])
    assert "give a whole number from 0 to" in capsys.readouterr().err


def test_batch_size_reaches_the_model_and_is_refused_where_it_cannot_apply(capsys, tmp_path):
    out = tmp_path / "lin"
    code, _, err = digitlab(capsys, "train", "linear", "--dataset", "mnist_tiny", "--epochs", "1",
                            "--batch-size", "32", "--out", out)
    assert code == 0, err
    assert json.loads((out / "config.json").read_text())["config"]["batch_size"] == 32
    code, _, err = digitlab(capsys, "train", "pixel", "--dataset", "mnist_tiny", "--batch-size", "32",
                            "--out", tmp_path / "px")
    assert_one_line_error(code, err, "--batch-size", "pixel")
    code, _, err = digitlab(capsys, "train", "linear", "--dataset", "mnist_tiny", "--batch-size", "64",
                            "--out", out, "--resume")
    assert_one_line_error(code, err, "--batch-size", "keeps the batch size")
