"""IDX files: reading MNIST's own, writing and reading back, and load_idx."""

import gzip

import numpy as np
import pytest
import torch

from digitlab.data import datasets, idx, shipped_mnist
from digitlab.errors import DataError


@pytest.mark.parametrize("suffix", [".gz", ""])
def test_written_idx_reads_back_gzipped_or_not(tmp_path, mnist_test, suffix):
    images, labels = mnist_test.images[:50].numpy(), mnist_test.labels[:50].numpy().astype(np.uint8)
    idx.write(tmp_path / f"img{suffix}", images)
    idx.write(tmp_path / f"lab{suffix}", labels)
    assert ((tmp_path / f"img{suffix}").read_bytes()[:2] == idx.GZIP_MAGIC) == (suffix == ".gz")
    digits = datasets.load_idx(tmp_path / f"img{suffix}", tmp_path / f"lab{suffix}")
    assert torch.equal(digits.images, mnist_test.images[:50])
    assert torch.equal(digits.labels, mnist_test.labels[:50])
    assert digits.index.tolist() == list(range(50)) and digits.source == f"img{suffix}"


def test_load_idx_reads_the_shipped_originals(mnist_test):
    folder = shipped_mnist.shipped_dir()
    digits = datasets.load_idx(folder / "t10k-images-idx3-ubyte.gz", folder / "t10k-labels-idx1-ubyte.gz")
    assert torch.equal(digits.images, mnist_test.images)
    digits.images[0, 0, 0] = 1  # writable, not a view of a read-only buffer


def test_the_header_is_mnists_big_endian_layout():
    raw = idx.encode(np.zeros((2, 28, 28), np.uint8))
    assert raw[:4] == bytes.fromhex("00000803") and raw[4:16] == bytes.fromhex("000000020000001c0000001c")
    assert idx.encode(np.zeros(3, np.uint8))[:8] == bytes.fromhex("0000080100000003")


@pytest.mark.parametrize(
    "raw, message",
    [
        (b"\x00\x00", "too short to be an IDX file"),
        (b"\x00\x00\x08\x03\x00\x00", "truncated IDX header"),
        (idx.encode(np.zeros((3, 28, 28), np.uint8))[:-5], "promises 2352 values"),
        (idx.encode(np.zeros((3, 28, 28), np.uint8)) + b"\x00", "holds 2353"),
        (b"\x00\x00\x0d\x03" + bytes(12), "wrong IDX magic 0x00000d03"),
    ],
)
def test_damaged_headers_and_payloads_are_named(raw, message):
    with pytest.raises(DataError, match=message):
        idx.parse(raw, "some.idx")


def test_labels_must_be_digits(tmp_path):
    idx.write(tmp_path / "labels", np.array([1, 2, 12], np.uint8))
    with pytest.raises(DataError, match="labels must be digits 0-9, found 12"):
        idx.read_labels(tmp_path / "labels")


def test_truncated_gzip_and_missing_file(tmp_path):
    (tmp_path / "cut.gz").write_bytes(gzip.compress(idx.encode(np.zeros(100, np.uint8)))[:-10])
    with pytest.raises(DataError, match="cut.gz: damaged or truncated gzip"):
        idx.read_labels(tmp_path / "cut.gz")
    with pytest.raises(DataError, match="nothing.gz: no such file"):
        datasets.load_idx(tmp_path / "nothing.gz", tmp_path / "cut.gz")
