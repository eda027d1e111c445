"""The drawn sets' cache (store/array_cache.py): what was saved loads back; damage on disk is a miss
with a warning; an older cache without a checksum is a quiet miss."""

import warnings

import numpy as np
import pytest

from digitlab.errors import DigitlabWarning
from digitlab.store import array_cache


@pytest.fixture
def saved(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (50, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, 50, dtype=np.uint8)
    path = tmp_path / "set.npz"
    array_cache.save(path, images=images, labels=labels)
    return path, images, labels


def _rewrite(path, **arrays):
    with np.load(path) as f:
        members = {name: f[name] for name in f.files}
    np.savez(path, **{**members, **arrays})


def test_what_was_saved_loads_back_without_a_word(saved):
    path, images, labels = saved
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = array_cache.load(path, ("images", "labels"), "test set")
    assert np.array_equal(got["images"], images) and np.array_equal(got["labels"], labels)


@pytest.mark.parametrize("damage", ["zeroed images", "shifted labels", "rewritten as float"])
def test_damage_on_disk_is_a_miss_with_a_warning(saved, damage):
    path, images, labels = saved
    if damage == "zeroed images":
        _rewrite(path, images=np.where(np.arange(50)[:, None, None] < 10, 0, images).astype(np.uint8))
    elif damage == "shifted labels":
        _rewrite(path, labels=np.roll(labels, 3))
    else:  # with a digest that matches the new array: the type still says no
        floats = images.astype(np.float64)
        _rewrite(path, images=floats, sha256=array_cache._digest({"images": floats, "labels": labels}))
    with pytest.warns(DigitlabWarning, match="cached test set is damaged"):
        assert array_cache.load(path, ("images", "labels"), "test set") is None


def test_a_cache_without_a_checksum_or_missing_is_a_quiet_miss(tmp_path, saved):
    path, images, labels = saved
    np.savez(path, images=images, labels=labels)  # an older layout
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert array_cache.load(path, ("images", "labels"), "test set") is None
        assert array_cache.load(tmp_path / "none.npz", ("images",), "test set") is None


def test_a_damaged_drawn_set_is_drawn_again(tmp_path, monkeypatch):
    from digitlab.data import scanned
    from digitlab.data.shipped_mnist import mnist_arrays

    monkeypatch.setenv("DIGITLAB_HOME", str(tmp_path))
    mnist, _ = mnist_arrays("train")
    first = scanned.cached(mnist, range(0, 100), 6, seed=5)
    [path] = (tmp_path / "nondigits").glob("scanned-*.npz")
    _rewrite(path, images=np.zeros_like(first))
    with pytest.warns(DigitlabWarning, match="cached scanned digits is damaged"):
        again = scanned.cached(mnist, range(0, 100), 6, seed=5)
    assert np.array_equal(again, first)
