import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from digitlab.data import datasets, idx, shipped_mnist
from digitlab.errors import DataError
from digitlab.store.files import home

TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
IMAGE_10000_CORNER = [
    [0, 0, 0, 0, 0, 0],
    [0, 0, 0, 0, 0, 29],
    [0, 0, 0, 48, 166, 224],
    [0, 93, 244, 249, 253, 187],
    [0, 107, 253, 253, 230, 48],
    [0, 3, 20, 20, 15, 0],
]


def test_mnist_has_the_real_sizes_and_label_counts(mnist_train, mnist_test):
    assert mnist_train.images.shape == (60000, 28, 28) and mnist_train.images.dtype == torch.uint8
    assert mnist_test.images.shape == (10000, 28, 28)
    assert mnist_train.labels.dtype == torch.int64
    assert np.bincount(mnist_train.labels.numpy()).tolist() == TRAIN_COUNTS
    assert np.bincount(mnist_test.labels.numpy()).tolist() == TEST_COUNTS


def test_training_image_10000_is_the_books_three(mnist_train):
    assert mnist_train.labels[10000] == 3
    assert mnist_train.images[10000, 4:10, 4:10].tolist() == IMAGE_10000_CORNER


@pytest.mark.parametrize(
    "name, split, counts",
    [
        ("mnist_sample", "train", {3: 6131, 7: 6265}),
        ("mnist_sample", "valid", {3: 1010, 7: 1028}),
        ("mnist_tiny", "train", {3: 346, 7: 363}),
        ("mnist_tiny", "valid", {3: 346, 7: 353}),
    ],
)
def test_fastai_subsets_have_fastais_sizes(name, split, counts):
    digits = datasets.load(name, split)
    found = dict(zip(*np.unique(digits.labels.numpy(), return_counts=True)))
    assert {int(k): int(v) for k, v in found.items()} == counts
    source = datasets.load("mnist", digits.source)
    assert torch.equal(source.images[digits.index], digits.images)
    assert torch.equal(source.labels[digits.index], digits.labels)


# Every mnist_tiny file name the book, the write-ups and fastai's tests print (issue 22).
FASTAI_TINY_NAMES = {
    ("train", 3): [7030, 7263, 7288, 7422, 8188, 9612, 9932],
    ("train", 7): [723, 7446, 8566],
    ("valid", 7): [825, 946, 9294, 9608],
}


def test_mnist_tiny_has_every_known_fastai_file_name_and_sorts_as_the_book():
    for split, source in (("train", "train"), ("valid", "test")):
        tiny = datasets.load("mnist_tiny", split)
        assert tiny.source == source
        for digit in (3, 7):
            names = set(tiny.index[tiny.labels == digit].tolist())
            assert set(FASTAI_TINY_NAMES.get((split, digit), [])) <= names, (split, digit)
            assert max(names) < 10_000  # all from the first 10,000 images of their file
    threes = sorted(f"{i}.png" for i in datasets.load("mnist_tiny", "train").index[:346].tolist())
    assert threes[:2] == ["7.png", "7030.png"]  # the book's threes[1] is train/3/7030.png


def test_float_images_are_scaled_to_unit_range(mnist_test):
    digits = datasets.load("mnist", "test", dtype=torch.float32)
    assert digits.images.dtype == torch.float32
    assert digits.images.min() == 0 and digits.images.max() == 1
    torch.testing.assert_close(digits.images * 255, mnist_test.images.float())


def test_valid_is_the_test_split_for_mnist(mnist_test):
    assert torch.equal(datasets.load("mnist", "valid").images, mnist_test.images)


def test_unknown_names_are_user_errors():
    with pytest.raises(DataError, match="unknown dataset 'fashion'"):
        datasets.load("fashion")
    for name in datasets.DATASETS:  # every dataset names its splits alike
        with pytest.raises(DataError, match="unknown split 'holdout'; choose 'train' or 'valid'"):
            datasets.load(name, "holdout")


def test_a_damaged_cache_is_rebuilt(tmp_path, monkeypatch):
    from digitlab.errors import DigitlabWarning

    monkeypatch.setenv("DIGITLAB_HOME", str(tmp_path))
    first = datasets.load("mnist", "test")
    images_cache, _ = shipped_mnist._cache_paths("test")
    images_cache.write_bytes(b"not a numpy file")
    with pytest.warns(DigitlabWarning, match="damaged"):
        again = datasets.load("mnist", "test")
    assert torch.equal(first.images, again.images)
    assert np.load(images_cache).shape == (10000, 28, 28)


def test_dtype_may_be_named_and_a_wrong_one_is_a_data_error():
    assert datasets.load("mnist_tiny", "valid", dtype="float32").images.dtype == torch.float32
    assert datasets.load("mnist_tiny", "valid", dtype="uint8").images.dtype == torch.uint8
    for wrong in ("int32", "tensor", torch.int64):
        with pytest.raises(DataError, match="dtype must be"):
            datasets.load("mnist_tiny", "valid", dtype=wrong)


def test_an_idx_folder_of_one_split_is_split_at_random_80_20(tmp_path):
    tiny = datasets.load("mnist_tiny", "valid")
    keep = torch.cat([(tiny.labels == d).nonzero().squeeze(1)[:20] for d in (3, 7)])
    idx.write(tmp_path / "train-images-idx3-ubyte.gz", tiny.images[keep].numpy())
    idx.write(tmp_path / "train-labels-idx1-ubyte.gz", tiny.labels[keep].numpy().astype(np.uint8))
    assert datasets.splits(str(tmp_path)) == [None]
    whole = datasets.load(str(tmp_path), None)
    assert torch.equal(whole.images, tiny.images[keep]) and whole.source == "train"
    with pytest.warns(UserWarning, match="random 80 %"):
        train = datasets.load(str(tmp_path), "train")
    valid = datasets.load(str(tmp_path), "valid")
    assert len(train.labels) == 32 and len(valid.labels) == 8
    assert sorted(train.index.tolist() + valid.index.tolist()) == list(range(40))


def test_the_suite_never_writes_into_the_users_cache():
    # conftest gives every session a fresh home, even when the user has set DIGITLAB_HOME (run the
    # suite with DIGITLAB_HOME=~/somewhere: with os.environ.setdefault this failed).

    assert home().name.startswith("digitlab-test-home-"), home()


def test_a_test_may_leave_files_in_its_home():

    (home() / "left-behind").write_text("by the test before")


def test_and_the_next_test_gets_a_home_of_its_own():

    assert not (home() / "left-behind").exists()  # conftest.own_home: a fresh home per test
    assert (home() / "mnist").is_symlink()  # the decoded MNIST shared, decoded once a session


def test_a_test_session_takes_its_home_away_when_it_ends(tmp_path):
    # conftest's session home holds decoded copies of MNIST; thousands of runs once filled the disk.
    import subprocess
    import sys

    env = {**os.environ, "TMPDIR": str(tmp_path)}
    tests = Path(__file__).parent
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tests / "test_digits.py")],
                         cwd=tests.parent, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-2000:]
    assert list(tmp_path.glob("digitlab-test-home-*")) == []


@pytest.mark.parametrize("damage", ["zeroed pixels", "shifted labels", "rewritten as float", "no checksum"])
def test_a_cache_damaged_on_disk_is_decoded_again_with_a_warning(tmp_path, monkeypatch, damage):
    from digitlab.errors import DigitlabWarning

    monkeypatch.setenv("DIGITLAB_HOME", str(tmp_path))
    first = shipped_mnist.mnist_arrays("test")
    images_cache, labels_cache = shipped_mnist._cache_paths("test")
    if damage == "zeroed pixels":  # 1.5 MB of pixels zeroed after the header: still a valid .npy
        data = bytearray(images_cache.read_bytes())
        data[200:1_500_200] = bytes(1_500_000)
        images_cache.write_bytes(bytes(data))
    elif damage == "shifted labels":
        np.save(labels_cache, np.roll(first[1], 2000))
    elif damage == "rewritten as float":  # with a checksum that matches it: the dtype still says no
        np.save(images_cache, first[0].astype(np.float64))
        digest = shipped_mnist.hashlib.sha256(images_cache.read_bytes()).hexdigest()
        shipped_mnist._digest_path(images_cache).write_text(digest + "\n")
    else:
        shipped_mnist._digest_path(images_cache).unlink()
    with pytest.warns(DigitlabWarning, match="cached MNIST test arrays are damaged"):
        images, labels = shipped_mnist.mnist_arrays("test")
    assert np.array_equal(images, first[0]) and np.array_equal(labels, first[1])
    assert images.dtype == np.uint8 and float(datasets.load("mnist", "test").images.float().mean()) > 30
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # rebuilt: read again without a word
        assert np.array_equal(shipped_mnist.mnist_arrays("test")[0], first[0])
