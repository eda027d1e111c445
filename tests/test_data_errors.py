"""Every kind of bad input gives one `DataError` line naming the file, through the API and the CLI."""

import gzip
import io
import shutil
import warnings

import numpy as np
import pytest
from PIL import Image

from digitlab.cli import main
from digitlab.data import datasets, idx, shipped_mnist
from digitlab.errors import ChecksumError, DataError, DigitlabWarning

from cli_run import assert_one_line_error


def png_bytes(size=(28, 28)) -> bytes:
    """A PNG of noise, so that its compressed pixel data is long enough to cut in half."""
    pixels = np.random.default_rng(0).integers(0, 256, size[::-1], dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def write(path, content: bytes):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def idx_folder(root, images, labels, gz=True):
    suffix = ".gz" if gz else ""
    idx.write(root / f"train-images-idx3-ubyte{suffix}", images)
    idx.write(root / f"train-labels-idx1-ubyte{suffix}", labels)
    return root


def images_folder(root):
    for digit in (3, 7):
        write(root / str(digit) / "1.png", png_bytes())
    return root


def truncated_gzip(root):
    idx_folder(root, np.zeros((5, 28, 28), np.uint8), np.zeros(5, np.uint8))
    path = root / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:30])
    return root


def wrong_magic(root):
    idx_folder(root, np.zeros((5, 28, 28), np.uint8), np.zeros(5, np.uint8), gz=False)
    path = root / "train-images-idx3-ubyte"
    path.write_bytes(b"\x00\x00\x09\x03" + path.read_bytes()[4:])
    return root


# (case, how to make the bad input in a folder, split, what the message must say)
CASES = [
    ("missing path", lambda root: root / "nowhere", None, "nowhere: no such folder"),
    ("empty folder", lambda root: root, None, "the folder is empty"),
    ("no label folders", lambda root: write(root / "a.png", png_bytes()).parent, None, "no label folders"),
    ("label folders not digits", lambda root: write(root / "cats" / "a.png", png_bytes()).parents[1], None,
     "label folders must be the digits 0-9, found cats"),
    ("no images", lambda root: (root / "3").mkdir() or root, None, "hold no images"),
    # A damaged image among readable ones is skipped with a warning (tests/test_hostile_data.py);
    # only a folder with none readable is an error.
    ("corrupt image", lambda root: write(root / "7" / "2.png", b"not a png").parents[1],
     None, "none of its 1 image files could be read: 7/2.png (not a readable image"),
    ("truncated image", lambda root: write(root / "3" / "2.png", png_bytes()[:400]).parents[1],
     None, "none of its 1 image files could be read: 3/2.png (not a readable image"),
    ("split not chosen", lambda root: images_folder(root / "train").parent and images_folder(root / "valid").parent,
     None, "has split folders (train, valid)"),
    ("truncated gzip", truncated_gzip, "train", "train-images-idx3-ubyte.gz: damaged or truncated gzip"),
    ("wrong IDX magic", wrong_magic, "train", "train-images-idx3-ubyte: wrong IDX magic 0x00000903"),
    ("wrong IDX dimensions", lambda root: idx_folder(root, np.zeros((5, 28, 27), np.uint8), np.zeros(5, np.uint8)),
     "train", "expected IDX images of shape (N, 28, 28), found (5, 28, 27)"),
    ("counts disagree", lambda root: idx_folder(root, np.zeros((5, 28, 28), np.uint8), np.zeros(4, np.uint8)),
     "train", "holds 5 images but"),
]


@pytest.mark.parametrize("make, split, message", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_data_error_line(tmp_path, make, split, message):
    path = make(_fresh(tmp_path))
    with pytest.raises(DataError) as err:
        datasets.load(str(path), split)
    assert message in str(err.value) and "\n" not in str(err.value)


# The CLI's `data info` lists every split a folder has, so "split not chosen" cannot happen there.
CLI_CASES = [case for case in CASES if case[0] != "split not chosen"]


@pytest.mark.parametrize("make, split, message", [c[1:] for c in CLI_CASES], ids=[c[0] for c in CLI_CASES])
def test_bad_input_through_the_cli_exits_2_without_a_traceback(tmp_path, capsys, make, split, message):
    path = make(_fresh(tmp_path))
    before = sorted(tmp_path.rglob("*"))
    argv = ["data", "info", "--dataset", str(path)] + (["--split", split] if split else [])
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("digitlab: error: ") and message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert sorted(tmp_path.rglob("*")) == before  # nothing written beside the bad input


def _fresh(tmp_path):
    root = tmp_path / "bad"
    root.mkdir()
    return root


def test_non_image_files_are_skipped_with_one_warning(tmp_path, capsys):
    root = images_folder(tmp_path / "digits")
    write(root / "3" / "notes.txt", b"hello")
    write(root / "7" / "Thumbs.db", b"\x00")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        digits = datasets.load(str(root), None)
    assert len(digits.labels) == 2
    ours = [w for w in caught if issubclass(w.category, DigitlabWarning)]
    assert len(ours) == 1 and "skipped 2 files that are not images" in str(ours[0].message)
    assert "3/notes.txt" in str(ours[0].message) and "7/Thumbs.db" in str(ours[0].message)
    assert main(["data", "info", "--dataset", str(root)]) == 0
    err = capsys.readouterr().err
    assert err.count("digitlab: warning:") == 1 and "skipped 2 files" in err


def test_a_tampered_shipped_file_fails_its_checksum_and_caches_nothing(tmp_path, monkeypatch, capsys):
    shipped = tmp_path / "shipped"
    shutil.copytree(shipped_mnist.shipped_dir(), shipped)
    labels = shipped / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress(labels.read_bytes()))
    raw[100] = (raw[100] + 1) % 10  # one label changed: still a valid IDX file
    labels.write_bytes(gzip.compress(bytes(raw)))
    monkeypatch.setattr(shipped_mnist, "shipped_dir", lambda: shipped)
    monkeypatch.setenv("DIGITLAB_HOME", str(tmp_path / "home"))
    with pytest.raises(ChecksumError, match="t10k-labels-idx1-ubyte.gz: checksum mismatch"):
        datasets.load("mnist", "test")
    assert main(["data", "info", "--dataset", "mnist", "--split", "valid"]) == 2
    err = capsys.readouterr().err
    assert "digitlab: error:" in err and "checksum mismatch" in err and "Traceback" not in err
    assert not list((tmp_path / "home").rglob("*.npy"))


def test_unknown_dataset_name_mentions_folders(capsys):
    assert main(["data", "info", "--dataset", "fashion"]) == 2
    assert "unknown dataset 'fashion'" in capsys.readouterr().err


def test_many_skipped_files_are_named_up_to_five(tmp_path):
    root = images_folder(tmp_path / "digits")
    for i in range(7):
        write(root / "3" / f"note{i}.txt", b"hello")
    with pytest.warns(DigitlabWarning) as caught:
        datasets.load(str(root), None)
    message = str(caught[0].message)
    assert "skipped 7 files" in message and "3/note4.txt" in message and "and 2 more" in message
    assert "3/note5.txt" not in message


@pytest.mark.parametrize("split", ["holdout", "test"])
def test_data_commands_take_split_train_or_valid(tmp_path, capsys, split):
    assert main(["data", "info", "--split", split]) == 2
    assert_one_line_error(2, capsys.readouterr().err, f"--split {split}", "choose train or valid")
    out = tmp_path / "s.png"
    assert main(["data", "show", "mnist_tiny", "--split", split, "--out", str(out)]) == 2
    assert_one_line_error(2, capsys.readouterr().err, f"--split {split}", "choose train or valid")
    assert not out.exists()


def _table_cells(out: str) -> list[list[str]]:
    return [[cell.strip() for cell in line.split("│")[1:-1]] for line in out.splitlines() if "│" in line]


def test_data_info_calls_the_valid_split_valid_for_every_dataset(capsys):
    assert main(["data", "info", "--split", "valid"]) == 0
    rows = {cells[0]: cells[1] for cells in _table_cells(capsys.readouterr().out) if cells[0]}
    assert rows == {"mnist": "valid", "mnist_sample": "valid", "mnist_tiny": "valid"}


def test_data_show_count_has_a_ceiling(tmp_path, capsys):
    out = tmp_path / "s.png"
    for count in ("0", "201", "100000"):
        code = main(["data", "show", "mnist_tiny", "--count", count, "--out", str(out)])
        assert_one_line_error(code, capsys.readouterr().err, f"--count {count}", "from 1 to 200")
    assert not out.exists()
    with pytest.raises(SystemExit):
        main(["data", "show", "--help"])
    assert "at most 200" in capsys.readouterr().out


@pytest.mark.parametrize("name", ["s.txt", "s.doc", "s"])
def test_data_show_refuses_a_suffix_it_cannot_write(tmp_path, capsys, name):
    code = main(["data", "show", "mnist_tiny", "--count", "2", "--out", str(tmp_path / name)])
    assert_one_line_error(code, capsys.readouterr().err, name, ".png")
    assert not list(tmp_path.iterdir())
