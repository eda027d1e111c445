"""Loading a folder tree of images: layouts, splits, formats, resizing, order."""

import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from digitlab.cli import main
from digitlab.data import datasets, folders
from digitlab.data.digits import Digits
from digitlab.data.folders import folder_splits, load_folder
from digitlab.errors import DataError, DigitlabWarning


@pytest.fixture(scope="module")
def tiny():
    return datasets.load("mnist_tiny", "valid")


def save(path, pixels, **kwargs):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, **kwargs)


def write_digits(root, digits, count):
    """The first `count` images of `digits` as root/<digit>/<index>.png."""
    for image, label, index in zip(digits.images[:count], digits.labels[:count], digits.index[:count]):
        save(root / str(int(label)) / f"{int(index)}.png", image.numpy())
    return root


def test_flat_folder_loads_in_digit_then_numeric_order(tmp_path, tiny):
    sevens = (tiny.labels == 7).nonzero().squeeze(1)[:3]
    write_digits(tmp_path, Digits(tiny.images[sevens], tiny.labels[sevens], tiny.index[sevens], "test"), 3)
    write_digits(tmp_path, tiny, 12)  # 3s; file 10.png must come after 9.png, not after 1.png
    digits = load_folder(tmp_path)
    assert digits.labels.tolist() == [3] * 12 + [7] * 3
    assert torch.equal(digits.images, torch.cat([tiny.images[:12], tiny.images[sevens]]))
    assert digits.index.tolist() == list(range(15)) and digits.source == "all"
    assert digits.images.dtype == torch.uint8 and digits.labels.dtype == torch.int64


@pytest.mark.parametrize("train_name, valid_name", [("train", "valid"), ("training", "testing")])
def test_split_folders_are_picked_by_split(tmp_path, tiny, train_name, valid_name):
    write_digits(tmp_path / train_name, tiny, 4)
    write_digits(tmp_path / valid_name, tiny, 6)
    assert folder_splits(tmp_path) == ["train", "valid"]
    assert len(load_folder(tmp_path, "train").labels) == 4
    valid = datasets.load(str(tmp_path), "valid", dtype=torch.float32)
    assert len(valid.labels) == 6 and valid.source == "valid" and valid.images.max() <= 1
    assert len(datasets.load(str(tmp_path), "test").labels) == 6
    with pytest.raises(DataError, match=rf"has split folders \({', '.join(sorted([train_name, valid_name]))}\)"):
        load_folder(tmp_path)


def test_valid_is_not_confused_with_an_unlabelled_test_folder(tmp_path, tiny):
    write_digits(tmp_path / "train", tiny, 2)
    write_digits(tmp_path / "valid", tiny, 3)
    save(tmp_path / "test" / "0001.png", tiny.images[0].numpy())  # fastai's mnist_tiny has one
    assert len(load_folder(tmp_path, "valid").labels) == 3


def test_a_flat_folder_has_no_named_splits(tmp_path, tiny):
    write_digits(tmp_path, tiny, 2)
    assert folder_splits(tmp_path) == [None]
    with pytest.raises(DataError, match="has no split folders, so no 'valid' split"):
        load_folder(tmp_path, "valid")


def test_every_format_colour_and_size_becomes_28x28_gray_with_one_resize_warning(tmp_path, tiny):
    gray = tiny.images[0].numpy()
    save(tmp_path / "3" / "a.png", gray)
    save(tmp_path / "3" / "b.bmp", gray)
    save(tmp_path / "3" / "c.gif", gray)
    save(tmp_path / "3" / "d.jpg", np.stack([gray] * 3, axis=-1), quality=100)  # RGB
    big = np.asarray(Image.fromarray(gray).resize((56, 56), Image.Resampling.NEAREST))
    save(tmp_path / "7" / "e.PNG", big)
    save(tmp_path / "7" / "f.jpeg", big)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        digits = load_folder(tmp_path)
    messages = [str(w.message) for w in caught if issubclass(w.category, DigitlabWarning)]
    assert messages == [f"{tmp_path}: resized 2 images that were not 28 x 28 to 28 x 28"]
    assert digits.images.shape == (6, 28, 28) and digits.labels.tolist() == [3, 3, 3, 3, 7, 7]
    for i in range(3):  # lossless formats keep the pixels exactly
        assert torch.equal(digits.images[i], tiny.images[0])
    error = (digits.images[3:].float() - tiny.images[0].float()).abs().mean(dim=(1, 2))
    assert (error < 8).all()  # JPEG and the downsizing change pixels a little, not the digit


def test_one_thread_and_two_decode_the_same(tmp_path, tiny, monkeypatch):
    monkeypatch.setattr(folders, "CHUNK", 7)  # several chunks, finishing out of order
    write_digits(tmp_path, tiny, 60)
    one, two = load_folder(tmp_path, workers=1), load_folder(tmp_path, workers=2)
    assert torch.equal(one.images, two.images) and torch.equal(one.labels, two.labels)


def test_data_show_draws_the_first_images_of_a_folder(tmp_path, tiny, capsys):
    write_digits(tmp_path / "digits" / "train", tiny, 12)
    out = tmp_path / "first.png"
    assert main(["data", "show", str(tmp_path / "digits"), "--count", "12", "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    with Image.open(out) as picture:
        assert picture.format == "PNG" and picture.width > 300


def write_each(root, digits, per_digit):
    """`per_digit[d]` images of each digit d, as root/<d>/<index>.png."""
    for digit, count in per_digit.items():
        keep = (digits.labels == digit).nonzero().squeeze(1)[:count]
        write_digits(root, Digits(digits.images[keep], digits.labels[keep], digits.index[keep], "test"), count)
    return root


def our_warnings(caught):
    return [str(w.message) for w in caught if issubclass(w.category, DigitlabWarning)]


def test_a_flat_folder_is_split_at_random_80_20_for_train_and_valid(tmp_path, tiny):
    root = write_each(tmp_path / "e4", tiny, {3: 10, 7: 6})
    whole = datasets.load(str(root), None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train, valid = datasets.load(str(root), "train"), datasets.load(str(root), "valid")
    notes = our_warnings(caught)
    assert len(notes) == 1 and "random 80 %" in notes[0] and str(root) in notes[0]  # said once, by "train"
    assert np.bincount(train.labels.numpy()).tolist()[3:] == [8, 0, 0, 0, 5]
    assert np.bincount(valid.labels.numpy()).tolist()[3:] == [2, 0, 0, 0, 1]  # every digit in both parts
    assert sorted(train.index.tolist() + valid.index.tolist()) == whole.index.tolist()
    assert torch.equal(train.images, whole.images[train.index])  # index points into the whole folder
    assert train.index[:8].tolist() != list(range(8))  # drawn at random, not the first 80 %
    with pytest.warns(DigitlabWarning, match="random 80 %"):
        again = datasets.load(str(root), "train")
    assert torch.equal(again.index, train.index)  # and the same every time


def test_train_and_valid_of_a_flat_folder_decode_it_once(tmp_path, tiny, monkeypatch):
    root = str(write_each(tmp_path / "e4", tiny, {3: 10, 7: 6}))
    with pytest.warns(DigitlabWarning, match="random 80 %"):
        expected = datasets.load(root, "train"), datasets.load(root, "valid")
    reads = []
    real = folders.load_folder
    monkeypatch.setattr(folders, "load_folder", lambda *a, **k: reads.append(a) or real(*a, **k))
    with pytest.warns(DigitlabWarning, match="random 80 %"):
        train, valid = datasets.load_train_valid(root)
    assert len(reads) == 1  # the whole folder, decoded once and split in memory
    for got, want in zip((train, valid), expected):
        assert torch.equal(got.index, want.index) and torch.equal(got.images, want.images)


def test_a_digit_too_rare_to_split_is_named(tmp_path, tiny):
    root = write_each(tmp_path, tiny, {3: 5, 7: 1})
    with pytest.raises(DataError, match="digit 7 has only one image"):
        datasets.load(str(root), "train")
    assert len(datasets.load(str(root), None).labels) == 6  # as a whole it still loads


def test_train_compare_and_evaluate_take_a_folder_without_splits(tmp_path, tiny, capsys):
    root = write_each(tmp_path / "e4", tiny, {3: 25, 7: 25})
    model = tmp_path / "linear-3v7"
    argv = ["train", "linear", "--dataset", root, "--epochs", "1", "--device", "cpu", "--out", model]
    assert main([str(a) for a in argv]) == 0
    assert capsys.readouterr().err.count("random 80 %") == 1
    assert main(["evaluate", str(model), "--dataset", str(root)]) == 0
    assert "on 50 test images" in capsys.readouterr().out  # the whole folder is the user's test set
    argv = ["compare", "--quick", "--methods", "pixel", "--dataset", root, "--device", "cpu", "--out", tmp_path / "c"]
    assert main([str(a) for a in argv]) == 0
    assert (tmp_path / "c" / "pixel-3v7" / "config.json").exists()


def test_nested_folders_are_skipped_with_a_warning_naming_them(tmp_path, tiny):
    root = write_each(tmp_path, tiny, {3: 2, 7: 2})
    save(root / "3" / "more" / "x.png", tiny.images[0].numpy())
    (root / "7" / ".cache").mkdir()  # hidden, like .ipynb_checkpoints: not the user's images
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        digits = load_folder(root)
    assert len(digits.labels) == 4
    messages = our_warnings(caught)
    assert len(messages) == 1 and "skipped 1 sub-folder" in messages[0] and "3/more" in messages[0]


def test_data_show_writes_the_format_its_suffix_names(tmp_path, capsys):
    for suffix, name in ((".jpg", "JPEG"), (".webp", "WEBP")):
        out = tmp_path / f"first{suffix}"
        assert main(["data", "show", "mnist_tiny", "--count", "3", "--out", str(out)]) == 0
        with Image.open(out) as picture:
            assert picture.format == name
