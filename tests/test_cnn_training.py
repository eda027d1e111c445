"""classifiers/cnn/training.py's pieces by value: the loss (label smoothing, an ensemble's sum), which
weights decay, the one-cycle schedule the config asks for, the validation row, and what a bad input
is called."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from digitlab.classifiers.cnn import network, training
from digitlab.classifiers.cnn.config import CNNConfig
from digitlab.errors import DataError
from digitlab.train.optim import one_cycle


def test_the_loss_smooths_the_labels_and_sums_an_ensembles_members():
    logits = torch.randn(3, 6, 10, generator=torch.Generator().manual_seed(0))  # (k, B, C)
    y = torch.tensor([0, 1, 2, 3, 4, 5])
    single = training._loss(logits[0], y, 0.1)
    assert single == pytest.approx(F.cross_entropy(logits[0], y, label_smoothing=0.1).item())
    assert single != pytest.approx(F.cross_entropy(logits[0], y).item())  # the smoothing counts
    members = sum(F.cross_entropy(logits[i], y, label_smoothing=0.1) for i in range(3))
    assert training._loss(logits, y, 0.1).item() == pytest.approx(members.item(), rel=1e-6)


def test_only_weights_of_two_or_more_dimensions_decay():
    config = CNNConfig(width=2, lr=0.3, momentum=0.8, weight_decay=0.01)
    model = network.build(config, 10)
    opt = training._optimizer(list(model.parameters()), config.lr, config)
    assert {id(p) for p in opt.decay} == {id(p) for p in model.parameters() if p.ndim > 1}  # convs, the head's matrix
    assert {id(p) for p in opt.no_decay} == {id(p) for p in model.parameters() if p.ndim <= 1}  # norms, biases
    assert len(opt.decay) + len(opt.no_decay) == len(list(model.parameters()))
    assert (float(opt.lr), float(opt.mom), float(opt.wd)) == pytest.approx((0.3, 0.8, 0.01))


def test_the_schedule_is_the_configs_one_cycle():
    config = CNNConfig(lr=0.4, div=10, div_final=100, pct_start=0.3, momentum=0.85, momentum_swing=0.1)
    schedule = training.one_cycle_schedule(config)
    for pos in (0.0, 0.15, 0.3, 0.6, 0.999):
        expected = one_cycle(pos, 0.4, div=10, div_final=100, pct_start=0.3, moms=(0.95, 0.75, 0.95))
        assert one_cycle(pos, schedule.lr_max, **schedule.kwargs) == pytest.approx(expected)
    start, peak = one_cycle(0.0, schedule.lr_max, **schedule.kwargs), one_cycle(0.3, schedule.lr_max, **schedule.kwargs)
    assert start == pytest.approx((0.04, 0.95)) and peak == pytest.approx((0.4, 0.75))


@pytest.fixture(scope="module")
def digits(mnist_train):
    return mnist_train.images[:96], mnist_train.labels[:96]


def test_a_validation_row_holds_the_loss_and_accuracy_of_the_model_as_it_stands(digits):
    x, y = digits
    config = CNNConfig(epochs=1, width=2, batch_size=32, crop=4, head="flat", last_width=1)
    torch.manual_seed(0)
    model = network.build(config, 10)
    rows = training.fit(model, config, x, y, valid=(x[:40], y[:40]), progress=False)
    logits = training.predict_logits(model, x[:40])
    assert rows[0]["valid_loss"] == pytest.approx(F.cross_entropy(logits, y[:40]).item(), rel=1e-5)
    assert rows[0]["accuracy"] == pytest.approx((logits.argmax(1) == y[:40]).float().mean().item())


def test_bad_inputs_are_named_training_or_validation_images(digits):
    x, y = digits
    config = CNNConfig(epochs=1, width=2)
    model = network.build(config, 10)
    with pytest.raises(DataError, match="training images"):
        training.fit(model, config, x[:, :20], y, progress=False)
    with pytest.raises(DataError, match="training images"):
        training.fit(model, config, x, y[:10], progress=False)
    with pytest.raises(DataError, match="validation images"):
        training.fit(model, config, x, y, valid=(x[:5, :20], y[:5]), progress=False)
    with pytest.raises(DataError, match="validation images"):
        training.fit(model, config, x, y, valid=(x[:5], y[:4]), progress=False)
    with pytest.raises(DataError, match="^no training images; give at least one$"):
        training.fit(model, config, x[:0], y[:0], progress=False)
    one = training.fit(model, config, x[:1], y[:1], progress=False)  # one image is enough to take a step
    assert len(one) == 1
