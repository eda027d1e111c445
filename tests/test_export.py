"""fastai's folder layouts, written from the shipped MNIST: names, counts, pixels, labels.csv."""

import csv
import io
import os

import numpy as np
import pytest
import torch
from PIL import Image

from digitlab.cli import main
from digitlab.data import datasets, export
from digitlab.data.folders import load_folder
from digitlab.errors import DataError


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    dest = tmp_path_factory.mktemp("export")
    return {name: export.export_layout(name, dest) for name in ("mnist_tiny", "mnist_sample")}


def png_counts(root):
    return {
        f"{split.name}/{digit.name}": len(list(digit.glob("*.png")))
        for split in sorted(root.iterdir()) if split.is_dir()
        for digit in sorted(split.iterdir())
    }


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


def test_sample_file_10000_is_training_image_10000_pixel_for_pixel(exported, mnist_train):
    with Image.open(exported["mnist_sample"] / "train" / "3" / "10000.png") as image:
        assert image.mode == "L" and image.size == (28, 28) and image.format == "PNG"
        assert np.array_equal(np.asarray(image), mnist_train.images[10000].numpy())


def test_valid_files_are_named_by_their_test_file_index(exported, mnist_test):
    valid = exported["mnist_sample"] / "valid"
    for path in sorted((valid / "7").glob("*.png"))[:20]:
        index = int(path.stem)
        assert mnist_test.labels[index] == 7
        assert np.array_equal(np.asarray(Image.open(path)), mnist_test.images[index].numpy())


def test_file_counts_are_fastais(exported):
    assert png_counts(exported["mnist_sample"]) == {
        "train/3": 6131, "train/7": 6265, "valid/3": 1010, "valid/7": 1028
    }
    assert png_counts(exported["mnist_tiny"]) == {
        "train/3": 346, "train/7": 363, "valid/3": 346, "valid/7": 353
    }
    assert sorted(os.listdir(exported["mnist_sample"])) == ["labels.csv", "train", "valid"]


def test_sample_labels_csv_lists_the_train_files_with_3_as_0_and_7_as_1(exported):
    rows = read_csv(exported["mnist_sample"] / "labels.csv")
    assert rows[0] == ["name", "label"] and len(rows) == 1 + 6131 + 6265
    assert ["train/3/10000.png", "0"] in rows
    labels = {name.split("/")[1]: set() for name, _ in rows[1:]}
    for name, label in rows[1:]:
        labels[name.split("/")[1]].add(label)
    assert labels == {"3": {"0"}, "7": {"1"}}
    assert all((exported["mnist_sample"] / name).is_file() for name, _ in rows[1:])


def test_tiny_labels_csv_lists_every_file_with_its_digit(exported):
    rows = read_csv(exported["mnist_tiny"] / "labels.csv")
    assert rows[0] == ["name", "label"] and len(rows) == 1 + 709 + 699
    assert ["train/3/7030.png", "3"] in rows
    assert all(name.split("/")[1] == label for name, label in rows[1:])
    files = {str(p.relative_to(exported["mnist_tiny"])) for p in exported["mnist_tiny"].rglob("*.png")}
    assert {name for name, _ in rows[1:]} == files


@pytest.mark.parametrize("name, split", [("mnist_tiny", "train"), ("mnist_sample", "valid")])
def test_an_exported_layout_loads_back_as_the_same_digits(exported, name, split):
    back = load_folder(exported[name], split)  # mnist_sample's 2,038 go through the progress bar
    original = datasets.load(name, split)
    assert torch.equal(back.images, original.images)
    assert torch.equal(back.labels, original.labels)


def test_one_worker_writes_the_same_files_as_two(exported, tmp_path):
    one = export.export_layout("mnist_tiny", tmp_path, workers=1)
    for path in one.rglob("*"):
        if path.is_file():
            assert path.read_bytes() == (exported["mnist_tiny"] / path.relative_to(one)).read_bytes()


def test_a_complete_export_is_reused_and_says_so(exported, capsys):
    before = (exported["mnist_tiny"] / "train" / "3" / "7030.png").stat().st_mtime_ns
    assert main(["export", "mnist_tiny", str(exported["mnist_tiny"].parent)]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == str(exported["mnist_tiny"]) and "reusing it" in err
    assert (exported["mnist_tiny"] / "train" / "3" / "7030.png").stat().st_mtime_ns == before


def test_an_interrupted_export_leaves_nothing_behind(tmp_path, monkeypatch):
    written, write_pngs = [], export._write_pngs

    def fail_half_way(root, jobs):
        if written:
            raise KeyboardInterrupt
        written.append(write_pngs(root, jobs))
        return written[-1]

    monkeypatch.setattr(export, "_write_pngs", fail_half_way)
    with pytest.raises(KeyboardInterrupt):
        export.export_layout("mnist_tiny", tmp_path, workers=1)
    assert written and list(tmp_path.iterdir()) == []


def test_an_incomplete_folder_is_not_taken_for_an_export(tmp_path, capsys):
    (tmp_path / "mnist_tiny" / "train" / "3").mkdir(parents=True)
    (tmp_path / "mnist_tiny" / "train" / "3" / "7030.png").write_bytes(b"")
    with pytest.raises(DataError, match="mnist_tiny: already exists but is not a complete"):
        export.export_layout("mnist_tiny", tmp_path)
    assert main(["export", "mnist_tiny", str(tmp_path / "mnist_tiny" / "train" / "3" / "7030.png")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("digitlab: error:") and "cannot write here" in err and "Traceback" not in err
    assert "choose another DIR" in err


def test_unknown_layout_is_a_user_error():
    with pytest.raises(DataError, match="unknown layout 'mnist_big'"):
        export.export_layout("mnist_big", ".")


@pytest.mark.slow
def test_mnist_png_has_all_70000_images_named_by_index(tmp_path, mnist_train, mnist_test):
    root = export.export_layout("mnist_png", tmp_path)
    counts = png_counts(root)
    assert [counts[f"training/{d}"] for d in range(10)] == np.bincount(mnist_train.labels).tolist()
    assert [counts[f"testing/{d}"] for d in range(10)] == np.bincount(mnist_test.labels).tolist()
    with Image.open(root / "testing" / "7" / "0.png") as image:
        assert np.array_equal(np.asarray(image), mnist_test.images[0].numpy())
    assert torch.equal(load_folder(root, "valid").images.sum(0), mnist_test.images.sum(0, dtype=torch.int64))


def test_hand_written_png_decodes_to_the_same_pixels_in_pillow():
    pixels = np.random.default_rng(0).integers(0, 256, (28, 30), dtype=np.uint8)
    with Image.open(io.BytesIO(export.encode_png(pixels))) as image:
        assert image.mode == "L" and image.size == (30, 28)
        assert np.array_equal(np.asarray(image), pixels)
