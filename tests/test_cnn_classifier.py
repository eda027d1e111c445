"""The cnn as a classifier, small and fast: its validation rows, an exact resume from a checkpoint, and
the config's cross-field checks (a crop the net can halve twice, momentum kept within 0..1 by its swing)."""

from __future__ import annotations

import pytest
import torch

from digitlab import service
from digitlab.classifiers.cnn.config import CNNConfig
from digitlab.data import datasets
from digitlab.errors import DigitlabError

SMALL = {"epochs": 2, "batch_size": 32, "lr": 0.05, "width": 4, "seed": 0, "tta": False}


@pytest.fixture(scope="module")
def tiny():
    train, valid = datasets.load("mnist_tiny", "train"), datasets.load("mnist_tiny", "valid")
    keep = torch.randperm(len(train.labels), generator=torch.Generator().manual_seed(0))[:160]
    return (train.images[keep], train.labels[keep]), (valid.images[:100], valid.labels[:100])


def test_each_epoch_is_scored_on_the_validation_images_given(tiny):
    (x, y), (xv, yv) = tiny
    clf = service.make("cnn", **SMALL).fit(x, y, valid=(xv, yv), progress=False)
    assert [row["epoch"] for row in clf.history_] == [0, 1]
    assert all(row["accuracy"] is not None and row["valid_loss"] is not None for row in clf.history_)
    assert clf.history_[-1]["accuracy"] == pytest.approx(clf.score(xv, yv))  # the model as it predicts
    assert clf.data_ == {"n_train": 160, "n_valid": 100}
    alone = service.make("cnn", **SMALL).fit(x, y, progress=False)
    assert all(row["accuracy"] is None for row in alone.history_)
    for p, q in zip(clf.model_.state_dict().values(), alone.model_.state_dict().values()):
        assert torch.equal(p, q)  # scoring never changes what is learned


def test_a_resumed_cnn_ends_with_the_uninterrupted_weights_and_rows(tiny, tmp_path):
    (x, y), _ = tiny
    whole = service.make("cnn", **SMALL).fit(x, y, progress=False)

    def stop_after_epoch_0(clf, row):
        if row["epoch"] == 0:
            clf.save(tmp_path / "half")
            raise InterruptedError

    with pytest.raises(InterruptedError):
        service.make("cnn", **SMALL).fit(x, y, epoch_end=stop_after_epoch_0, progress=False)
    half = service.load(tmp_path / "half")
    assert half.state_["epoch"] == 0 and half.state_["optimizer"]
    resumed = half.fit(x, y, resume=True, progress=False)
    assert [row["epoch"] for row in resumed.history_] == [0, 1]
    assert resumed.history_[1]["train_loss"] == whole.history_[1]["train_loss"]
    for p, q in zip(whole.model_.state_dict().values(), resumed.model_.state_dict().values()):
        assert torch.equal(p, q)


@pytest.mark.parametrize("changes, words", [
    ({"crop": 3}, "crop is 3; it must be even"),
    ({"crop": 1}, "crop is 1; it must be even"),
    ({"momentum": 0.97}, "momentum 0.97 with momentum_swing 0.05 leaves 0 .. 1"),
    ({"momentum": 0.04}, "momentum 0.04 with momentum_swing 0.05 leaves 0 .. 1"),
    ({"momentum": 0.3, "momentum_swing": 0.4}, "momentum 0.3 with momentum_swing 0.4 leaves 0 .. 1"),
])
def test_cross_field_rules_refuse_in_one_line_naming_the_cnn(changes, words):
    with pytest.raises(DigitlabError) as caught:
        CNNConfig(**changes)
    assert str(caught.value).startswith("cnn: ") and words in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize("changes", [{"crop": 0}, {"crop": 4}, {"momentum": 0.95, "momentum_swing": 0.05},
                                     {"momentum": 0.25, "momentum_swing": 0.25},
                                     {"momentum": 0.5, "momentum_swing": 0.5}])
def test_settings_at_the_edges_of_the_rules_are_accepted(changes):
    config = CNNConfig(**changes)
    m, swing = config.momentum, config.momentum_swing
    assert config.moms() == pytest.approx((m + swing, m - swing, m + swing))  # with the lr, then against it


def test_every_shipped_model_answers_no_images_with_no_rows():
    from digitlab import pretrained

    for method in ("pixel", "linear", "simple_net", "cnn"):
        clf = pretrained.load(method)
        assert clf.predict_proba(torch.zeros(0, 28, 28, dtype=torch.uint8)).shape == (0, 10), method
        assert clf.predict(torch.zeros(0, 28, 28)).shape == (0,), method
