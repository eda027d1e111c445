"""Declining to answer: a letter, a scribble, a blank and two digits side by side are declined with
their reasons, in the Python API, `digitlab predict` and its JSON; an ordinary digit is answered; a
3-vs-7 model names its classes; the gate loads through the checkpoint's checks."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw, ImageFont

import digitlab
from digitlab import classifiers
from digitlab.data import datasets, glyphs, heldout
from digitlab.data.shipped_mnist import mnist_arrays
from digitlab.errors import ModelError
from digitlab.store import checkpoint
from digitlab.trust import decline, gate
from digitlab.vision import mnist_style

from cli_run import digitlab as run_digitlab


def _letter(char: str = "A") -> Image.Image:
    """A typed letter, dark on white, as a photo of a page would bring it."""
    page = Image.new("L", (200, 200), 255)
    font = ImageFont.truetype(str(glyphs.font_dir() / "DejaVuSans.ttf"), 120)
    ImageDraw.Draw(page).text((100, 100), char, fill=0, font=font, anchor="mm")
    return page


def _scribble() -> Image.Image:
    """A spiral of three turns, drawn with the page's pen: no digit has its path."""
    canvas = Image.new("L", (280, 280), 0)
    t = np.linspace(0, 1, 200)
    r, a = 15 + 110 * t, 2 * math.pi * 3 * t
    glyphs.pen_stroke(ImageDraw.Draw(canvas), list(zip(140 + r * np.cos(a), 140 + r * np.sin(a))), 14)
    return canvas


def _held_out(digit: int, nth: int = 0) -> np.ndarray:
    """The nth MNIST digit `digit` among the held-out training digits, which no shipped model or gate trains on."""
    mnist, labels = mnist_arrays("train")
    where = heldout.CALIBRATION.start + np.flatnonzero(labels[heldout.CALIBRATION.start:heldout.CALIBRATION.stop] == digit)
    return mnist[where[nth]]


def _pair(left: np.ndarray, right: np.ndarray, gap: int = 2) -> Image.Image:
    """Two white-on-black ink images of one height in a row, `gap` px apart, on a page 160 px tall."""
    crop = [a[:, np.flatnonzero(a.max(0))] for a in (left, right)]
    row = np.hstack([crop[0], np.zeros((len(left), gap), np.uint8), crop[1]])
    page = Image.fromarray(np.pad(row, len(row) // 4))
    return page.resize((page.width * 160 // page.height, 160), Image.Resampling.BILINEAR)


def _drawn_pair() -> Image.Image:
    rng = np.random.default_rng(3)
    inks = [np.asarray(glyphs.pen_ink(d, rng, variant=0, width=20).resize((96, 96))) for d in (3, 8)]
    return _pair(*inks, gap=8)


@pytest.fixture(scope="module")
def cnn():
    from digitlab import pretrained

    return pretrained.load("cnn")


def test_a_letter_a_scribble_and_a_blank_are_declined_with_their_reason(cnn):
    assert digitlab.read(_letter("A"), cnn).declined == "not a digit"
    assert digitlab.read(_letter("A"), cnn).label is None
    assert digitlab.read(_scribble(), cnn).declined == "not a digit"
    blank = digitlab.read(Image.new("L", (100, 100), 255), cnn)
    assert (blank.label, blank.declined) == (None, "no digit")
    # a raw tensor with almost no ink is blank too, whatever the model would make of it
    speck = torch.zeros(28, 28)
    speck[14, 14] = 1.0
    assert digitlab.read(speck, cnn).declined == "no digit"


@pytest.mark.parametrize("pair", ["mnist", "drawn"])
def test_3_and_8_side_by_side_is_never_one_digit(cnn, pair):
    image = _pair(_held_out(3), _held_out(8)) if pair == "mnist" else _drawn_pair()
    for method_clf in (cnn, _pixel()):
        answer = digitlab.read(image, method_clf)
        assert answer.label is None, answer
        assert answer.declined == "several digits"


def test_ordinary_digits_are_answered_and_right(cnn):
    shown = [torch.from_numpy(_held_out(d, n)).float() / 255 for d in range(10) for n in range(2)]
    answers = [digitlab.read(x, cnn) for x in shown]
    assert [a.declined for a in answers] == [None] * 20
    assert [a.label for a in answers] == [d for d in range(10) for _ in range(2)]
    photo = Image.fromarray(255 - _held_out(7)).resize((120, 120))  # dark on light, through to_mnist
    assert digitlab.read(photo, cnn).label == 7


def test_no_decline_gives_the_models_own_answer(cnn):
    letter = digitlab.read(_letter("A"), cnn, decline=False)
    assert letter.declined is None and letter.label in range(10)
    proba = cnn.predict_proba(mnist_style.to_mnist(_letter("A"))[None])[0]
    assert letter.label == int(proba.argmax()) and letter.probability == pytest.approx(float(proba.max()))


def test_unsure_is_the_top_probability_under_the_methods_threshold(monkeypatch):
    x = torch.from_numpy(_held_out(5)).float()[None] / 255
    proba = torch.tensor([[0.3, 0.25, 0.45]])
    monkeypatch.setitem(decline.UNSURE, "cnn", 0.5)
    assert decline.reasons(x, proba, "cnn") == ["unsure"]
    monkeypatch.setitem(decline.UNSURE, "cnn", 0.4)
    assert decline.reasons(x, proba, "cnn") == [None]


def _pixel(classes=None):
    mnist, labels = mnist_arrays("train")
    keep = np.flatnonzero(np.isin(labels[:2000], classes if classes else range(10)))
    return classifiers.make("pixel").fit(torch.from_numpy(mnist[keep]), torch.from_numpy(labels[keep].astype(np.int64)))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("images")
    _letter("A").save(folder / "letter.png")
    Image.new("RGB", (300, 200), (240, 238, 230)).save(folder / "blank.png")
    Image.fromarray(255 - _held_out(7)).resize((120, 120)).save(folder / "seven.png")
    _pair(_held_out(3), _held_out(8)).save(folder / "three-eight.png")
    model = tmp_path_factory.mktemp("model") / "pixel-3v7"
    _pixel([3, 7]).save(model)
    return folder, model


def test_predict_json_says_declined_and_keeps_the_probabilities(capsys, files):
    folder, _ = files
    code, out, err = run_digitlab(capsys, "predict", *(folder / n for n in ("letter.png", "blank.png", "seven.png",
                                                                          "three-eight.png")), "--json")
    assert code == 0, err  # a blank image is read fine: declined, not unreadable
    lines = [json.loads(line) for line in out.splitlines()]
    assert [(a["label"], a.get("declined"), a["number"]) for a in lines] == [
        (None, "not a digit", None), (None, "no digit", None), (7, None, "7"), (None, None, "38")]
    assert [d["label"] for d in lines[3]["digits"]] == [3, 8]  # "3 8" is read as a number, never as one digit
    for a in lines[:3]:
        assert sorted(a["probabilities"]) == [str(d) for d in range(10)]
        assert "classes" not in a  # ten digits: nothing to say
    code, out, _ = run_digitlab(capsys, "predict", folder / "three-eight.png", "--json", "--single")
    assert (json.loads(out)["label"], json.loads(out)["declined"]) == (None, "several digits")  # or declined
    code, out, _ = run_digitlab(capsys, "predict", folder / "letter.png", folder / "blank.png")
    assert [line.split("  [")[0] for line in out.splitlines()] == [f"{folder / 'letter.png'}: declined (not a digit)",
                                                                   f"{folder / 'blank.png'}: declined (no digit)"]


def test_no_decline_gives_the_old_answers(capsys, files):
    folder, _ = files
    code, out, err = run_digitlab(capsys, "predict", folder / "letter.png", folder / "seven.png", "--json", "--no-decline")
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert all("declined" not in a for a in lines)
    assert lines[0]["label"] in range(10) and lines[1]["label"] == 7
    code, out, err = run_digitlab(capsys, "predict", folder / "blank.png", "--no-decline")
    assert code == 0 and out.startswith(f"{folder / 'blank.png'}: declined (no digit)")  # read: no digit to give


def test_a_3_vs_7_model_names_its_classes(capsys, files):
    folder, model = files
    code, out, err = run_digitlab(capsys, "predict", model, folder / "seven.png", folder / "letter.png", "--json")
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert [a["classes"] for a in lines] == [[3, 7], [3, 7]]
    assert (lines[0]["label"], lines[1]["declined"]) == (7, "not a digit")
    code, out, _ = run_digitlab(capsys, "predict", model, folder / "seven.png")
    assert out.rstrip().endswith("(this model knows only 3 and 7)")
    assert digitlab.read(folder / "seven.png", model).note == "this model knows only 3 and 7"


def test_the_gate_loads_through_the_checkpoint_checks(tmp_path):
    tensors, config = checkpoint.load(gate.shipped_path())
    assert config["method"] == "gate" and 0 < config["config"]["threshold"] < 1
    assert gate.load(gate.shipped_path()).proba(torch.zeros(2, 28, 28)).shape == (2, 3)
    damaged = tmp_path / "gate"
    shutil.copytree(gate.shipped_path(), damaged)
    weights = checkpoint.load(damaged)[0]
    weights["body.0.weight"].view(-1)[0] = float("nan")
    from safetensors.torch import save_file

    save_file(weights, str(damaged / checkpoint.WEIGHTS))
    with pytest.raises(ModelError, match="NaN"):
        gate.load(damaged)


def test_the_test_non_digits_are_test_only():
    from digitlab.errors import DataError

    with pytest.raises(DataError, match="testing only"):
        datasets.load("nondigits", "train")


def test_read_answers_a_file_as_predict_does(capsys, files, tmp_path):
    """digitlab.read(path) routes a file as predict does (mnist_style.prepare): a 28 x 28 digit on a dark
    page, struck through by a line and on a grey page, cleaned as a tensor; a photo through to_mnist."""
    folder, _ = files
    digit = _held_out(4).astype(np.float32)
    digit[12:14, :] = 170  # a line across the frame
    struck = tmp_path / "struck.png"
    Image.fromarray(np.maximum(digit, 60).astype(np.uint8)).save(struck)  # and a grey page
    paths = [struck, folder / "seven.png", folder / "blank.png"]
    code, out, err = run_digitlab(capsys, "predict", *paths, "--json")
    assert code == 0, err
    for path, line in zip(paths, out.splitlines()):
        answer, printed = digitlab.read(path), json.loads(line)
        assert (answer.label, answer.declined) == (printed["label"], printed["declined"]), path
        if printed["label"] is not None:
            assert answer.probability == pytest.approx(printed["probability"], abs=1e-5)
    assert digitlab.read(struck).label == 4
