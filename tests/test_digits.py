"""digits.py: the one table of split names that every loader reads."""

import pytest

from digitlab.data.digits import SPLIT_FOLDERS, part_of, split_name
from digitlab.errors import DataError


def test_every_name_of_a_split_means_one_split():
    assert [split_name(s) for s in ("train", "training", "valid", "validation", "test", "testing", None)] == \
        ["train", "train", "valid", "valid", "test", "test", None]
    assert [part_of(s) for s in ("training", "valid", "test", "testing")] == ["train", "valid", "valid", "valid"]
    assert all(name in SPLIT_FOLDERS[split_name(name)] for name in ("train", "training", "valid", "testing"))


@pytest.mark.parametrize("split", ["holdout", "Train", ""])
def test_other_names_are_refused(split):
    with pytest.raises(DataError, match=f"unknown split {split!r}; choose 'train' or 'valid'"):
        split_name(split)
    with pytest.raises(DataError, match="unknown split"):
        part_of(split)
