"""The fast CNN recipe: shapes, the pieces checked against PyTorch, resume, and a seeded accuracy run."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close

from digitlab import pretrained, service
from digitlab.classifiers.cnn import presets, network, augment, training
from digitlab.classifiers.cnn.config import CNNConfig
from digitlab.errors import DataError, DigitlabError


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread: on a busy two-core machine, two threads wait on each other at every op
    (measured: the accuracy run took 21 s with one thread, 216 s with two, load average 13)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _seeded_model(config: CNNConfig, n_classes: int = 10) -> torch.nn.Module:
    torch.manual_seed(config.seed)
    return network.build(config, n_classes)


@pytest.mark.parametrize("changes", [{}, {"blocks": 1, "width": 4}, {"ensemble": 3, "width": 4},
                                     {"tta": True, "width": 4}, {"head": "flat", "last_width": 2, "crop": 4},
                                     {"head": "flat", "crop": 0, "width": 4}])
@pytest.mark.parametrize("n_classes", [2, 10])
def test_build_maps_images_to_logits(changes, n_classes):
    model = _seeded_model(CNNConfig(**changes), n_classes).eval()
    assert model(torch.rand(5, 28, 28)).shape == (5, n_classes)
    assert model(torch.rand(5, 1, 28, 28)).shape == (5, n_classes)


@pytest.mark.parametrize("head", ["max", "flat"])
def test_channels_last_memory_gives_the_same_logits(head):
    # fit trains in channels-last memory; the flat head must read the map in the same (C, H, W)
    # order whichever memory format the model was moved to.
    model = _seeded_model(CNNConfig(head=head, width=4, crop=4)).eval()
    x = torch.rand(3, 1, 28, 28)
    plain = model(x)
    model.to(memory_format=torch.channels_last)
    assert_close(model(x.contiguous(memory_format=torch.channels_last)), plain)


def test_the_flat_head_reads_every_position_of_the_last_map():
    model = _seeded_model(CNNConfig(head="flat", width=4, crop=4, last_width=2))
    assert model.head.in_features == 8 * 5 * 5  # 2 x 4 channels on the 5 x 5 map of a 20 x 20 crop
    assert _seeded_model(CNNConfig(width=4)).head.in_features == 16  # max: 4 x 4 channels


def test_normalisation_travels_in_the_state_dict():
    state = _seeded_model(CNNConfig()).state_dict()
    assert state["mean"].item() == pytest.approx(network.MNIST_MEAN)
    assert state["std"].item() == pytest.approx(network.MNIST_STD)


def test_ensemble_trains_each_member_on_its_own_loss():
    model = _seeded_model(CNNConfig(ensemble=3, width=4)).train()
    x, y = torch.rand(6, 1, 28, 28), torch.randint(0, 10, (6,))
    logits = model(x)  # (3, 6, 10)
    assert logits.shape == (3, 6, 10)
    expected = sum(torch.nn.functional.cross_entropy(member, y, label_smoothing=0.1) for member in logits)
    assert_close(training._loss(logits, y, 0.1), expected)
    model.eval()
    assert_close(model(x), torch.stack([m(x) for m in model.members]).mean(dim=0))


def test_each_ensemble_member_trains_on_its_own_view():
    model = _seeded_model(CNNConfig(ensemble=3, width=4)).train()
    views = [torch.rand(6, 1, 28, 28) for _ in range(3)]
    logits = model(views)  # (3, 6, 10): member i on view i
    for member, view, got in zip(model.members, views, logits):
        assert_close(got, member(view))
    with pytest.raises(ValueError):
        model(views[:2])  # a view short: refused, not silently dropped


def test_tta_averages_the_image_and_its_one_pixel_shifts(mnist_test):
    model = _seeded_model(CNNConfig(tta=True, width=4)).eval()
    x = mnist_test.images[:8].float().div(255)  # (8, 28, 28), ink well inside the border
    # MNIST's border is blank, so rolling by one pixel is the same as shifting in a zero.
    views = [torch.roll(x, shifts=(dy, dx), dims=(1, 2)) for dy, dx in network.ShiftAverage.SHIFTS]
    expected = torch.stack([model.net(v) for v in views]).mean(dim=0)
    assert_close(model.averaged(x.unsqueeze(1)), expected)
    assert_close(model(x), expected)  # gradients on: every image averaged, as explanations need


def test_tta_shifts_only_the_digits_the_plain_view_is_unsure_of(mnist_test):
    model = pretrained.load("cnn").model_.eval()
    digits = mnist_test.images[:200].float().div(255).unsqueeze(1)  # (200, 1, 28, 28)
    torch.manual_seed(0)
    x = torch.cat([digits, digits[:20] * 0.5 + torch.rand(20, 1, 28, 28) * 0.5])  # (220, ...): 20 doubtful ones
    with torch.no_grad():
        plain, averaged, got = model.net(x), model.averaged(x), model(x)
    top = plain.topk(2, dim=1).values
    sure = top[:, 0] - top[:, 1] >= network.ShiftAverage.SURE_GAP  # (220,)
    assert 0 < (~sure).sum() < len(x) // 2, "both kinds of image must be present for this test to mean anything"
    assert_close(got[sure], plain[sure])  # sure: the plain view's logits as they are
    assert_close(got[~sure], averaged[~sure])  # unsure: the mean of all five views
    assert not torch.allclose(averaged[~sure], plain[~sure])  # ... which differs from the plain view


def test_only_the_last_epoch_is_scored_with_tta(mnist_train, mnist_test):
    config = CNNConfig(epochs=2, batch_size=128, width=4, tta=True)
    model = _seeded_model(config)
    valid = (mnist_test.images[:300], mnist_test.labels[:300])
    rows = training.fit(model, config, mnist_train.images[:256], mnist_train.labels[:256], valid=valid, progress=False)
    assert [row["tta"] for row in rows] == [False, True]
    predicted = training.predict_logits(model, valid[0]).argmax(dim=1)  # the model as it predicts: with TTA
    assert rows[-1]["accuracy"] == pytest.approx((predicted == valid[1]).float().mean().item())


def test_shifted_moves_every_digit_without_losing_ink(mnist_train):
    x = mnist_train.images[:300]  # (300, 28, 28) uint8
    inner = torch.zeros(28, 28, dtype=torch.bool)
    inner[2:26, 2:26] = True
    x = x[(x * ~inner).flatten(1).amax(dim=1) == 0]  # the digits with no ink within 2 pixels of the edge
    assert len(x) > 200
    out = augment.shifted(x, 2, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and out.dtype == x.dtype
    assert torch.equal(out.sum(dim=(1, 2), dtype=torch.int64), x.sum(dim=(1, 2), dtype=torch.int64))
    rolled = torch.stack([torch.roll(x, (dy, dx), (1, 2)) for dy in range(-2, 3) for dx in range(-2, 3)])
    matches = (rolled == out).flatten(2).all(dim=2)  # (25, N): which shift each image got
    assert matches.any(dim=0).all()
    assert (matches.float().argmax(dim=0) != 12).any()  # not all left in place (12 = no shift)
    assert torch.equal(augment.shifted(x, 0, torch.Generator().manual_seed(0)), x)


class _Stop(Exception):
    pass


def test_resume_continues_exactly_as_an_uninterrupted_run(mnist_train):
    x, y = mnist_train.images[:384], mnist_train.labels[:384]
    config = CNNConfig(epochs=3, batch_size=128, width=4, augment=True, seed=3)

    straight = _seeded_model(config)
    rows = training.fit(straight, config, x, y, progress=False)

    saved = {}

    def stop_after_first(epoch, row, state):
        saved.update(weights={k: v.clone() for k, v in interrupted.state_dict().items()}, state=state)
        raise _Stop

    interrupted = _seeded_model(config)
    with pytest.raises(_Stop):
        training.fit(interrupted, config, x, y, epoch_end=stop_after_first, progress=False)
    resumed = network.build(config, 10)  # fresh weights, replaced by the saved ones
    resumed.load_state_dict(saved["weights"])
    rest = training.fit(resumed, config, x, y, start_epoch=1, state=saved["state"], progress=False)

    assert [r["epoch"] for r in rest] == [1, 2]
    assert [r["train_loss"] for r in rest] == [r["train_loss"] for r in rows[1:]]
    for name, value in straight.state_dict().items():
        assert_close(resumed.state_dict()[name], value, rtol=0, atol=0, msg=name)


def test_same_seed_same_model_other_seed_other_model(mnist_train):
    x, y = mnist_train.images[:256], mnist_train.labels[:256]
    config = CNNConfig(epochs=1, batch_size=64, width=4)
    runs = []
    for seed in (0, 0, 1):
        cfg = dataclasses.replace(config, seed=seed)
        model = _seeded_model(cfg)
        training.fit(model, cfg, x, y, progress=False)
        runs.append(model.head.weight.detach().clone())
    assert torch.equal(runs[0], runs[1])
    assert not torch.equal(runs[0], runs[2])


def test_seeded_short_run_reaches_97_percent(mnist_train, mnist_test):
    # 10,000 training images, one epoch of the fast net: a few seconds on two cores. So short a run
    # takes smaller steps than the preset's (313 batches of 32 at lr 0.05); it reaches 97.85 %.
    config = presets.preset("fast", epochs=1, batch_size=32, lr=0.05, seed=0)
    model = _seeded_model(config)
    rows = []
    history = training.fit(model, config, mnist_train.images[:10_000], mnist_train.labels[:10_000],
                         valid=(mnist_test.images, mnist_test.labels), progress=False,
                         epoch_end=lambda epoch, row, state: rows.append((epoch, row, state)))
    assert len(history) == 1 and rows[0][0] == 0 and "optimizer" in rows[0][2]
    assert set(history[0]) == {"epoch", "train_loss", "valid_loss", "accuracy", "tta", "seconds"}
    assert history[0]["accuracy"] >= 0.97, history
    logits = training.predict_logits(model, mnist_test.images)
    assert logits.shape == (10_000, 10)
    accuracy = (logits.argmax(dim=1) == mnist_test.labels).float().mean().item()
    assert accuracy == pytest.approx(history[0]["accuracy"])


def _centre_of_mass(x: torch.Tensor) -> torch.Tensor:
    """(N, 28, 28) -> (N, 2) rows and columns of the ink's centre."""
    w = x.float()
    coords = torch.arange(28.0)
    total = w.sum(dim=(1, 2))
    return torch.stack([(w.sum(2) * coords).sum(1) / total, (w.sum(1) * coords).sum(1) / total], dim=1)


def test_warped_moves_turns_and_zooms_within_its_bounds(mnist_train):
    x = mnist_train.images[:200]
    assert torch.equal(augment.warped(x, 0, 0, 0, torch.Generator().manual_seed(0)), x)  # nothing drawn, nothing moved
    moved = augment.warped(x, 2, 0, 0, torch.Generator().manual_seed(0))
    again = augment.warped(x, 2, 0, 0, torch.Generator().manual_seed(0))
    assert moved.dtype == torch.uint8 and torch.equal(moved, again)  # the generator decides everything
    step = _centre_of_mass(moved) - _centre_of_mass(x)  # (N, 2) pixels
    assert step.abs().max() <= 2.5 and step.abs().mean() > 0.5  # moved, but never more than 2 pixels
    ink = x.float().sum(dim=(1, 2))
    assert ((moved.float().sum(dim=(1, 2)) - ink).abs() / ink).max() < 0.1  # a move keeps the ink

    bar = torch.zeros(1, 28, 28, dtype=torch.uint8)
    bar[0, 13:15, 4:24] = 255  # a horizontal stroke through the centre
    turned = augment.warped(bar.expand(500, 28, 28), 0, 30, 0, torch.Generator().manual_seed(1)).float()
    rows = torch.arange(28.0).view(1, 28, 1)
    spread = ((rows - 13.5) ** 2 * turned).sum(dim=(1, 2)) / turned.sum(dim=(1, 2))  # vertical variance
    flat = ((rows - 13.5) ** 2 * bar.float()).sum() / bar.float().sum()
    assert spread.max() > 10 * flat  # some strokes turned far from horizontal...
    # ...but none past 30 degrees: a 20-pixel stroke at angle a has a vertical variance of
    # sin(a)^2 * 20^2 / 12, 8.3 at 30 degrees and 16.7 at 45, plus its width's 0.25
    assert spread.max() < 9.5
    zoomed = augment.warped(x, 0, 0, 0.2, torch.Generator().manual_seed(2))
    ratio = zoomed.float().sum(dim=(1, 2)) / ink  # ink scales with the area: 0.8^2 to 1.2^2
    assert ratio.min() > 0.55 and ratio.max() < 1.55 and ratio.std() > 0.05


def test_degraded_blurs_and_lowers_the_resolution_of_the_share_asked_for(mnist_train):
    x = mnist_train.images[:400]
    assert torch.equal(augment.degraded(x, 0, 0, torch.Generator().manual_seed(0)), x)  # nothing asked, nothing done
    for blur, lowres in ((1.0, 0.0), (0.0, 1.0), (0.5, 0.0)):
        out = augment.degraded(x, blur, lowres, torch.Generator().manual_seed(1))
        changed = (out != x).flatten(1).any(1)
        assert out.dtype == torch.uint8 and (out[changed].amax(dim=(1, 2)) == 255).all()  # full ink, as to_mnist leaves it
        assert abs(changed.float().mean() - max(blur, lowres)) < 0.1, (blur, lowres, changed.float().mean())
        # Softer: more pixels between ink and paper, none of the ink moved away.
        soft = ((out > 20) & (out < 235)).sum() / ((x > 20) & (x < 235)).sum()
        assert soft > 1 + 0.3 * max(blur, lowres), (blur, lowres, soft)
        torch.testing.assert_close(_centre_of_mass(out), _centre_of_mass(x), atol=0.6, rtol=0)


def test_presets_are_configs_and_unknown_names_say_which_exist():
    assert presets.preset("best").augment and presets.preset("best").epochs > presets.preset("fast").epochs
    assert presets.preset("fast", seed=4).seed == 4
    with pytest.raises(DigitlabError, match="fast, medium, best"):
        presets.preset("fastest")


def test_on_cuda_fast_and_medium_take_larger_steps_no_more_of_them_and_best_stays():
    # A GPU step costs its kernels, not its arithmetic: there the presets buy images and width per step.
    def steps(config):
        return config.epochs * -(-60_000 // config.batch_size)

    for name in ("fast", "medium"):
        cpu, gpu = presets.preset(name), presets.preset(name, "cuda")
        assert gpu.batch_size >= 2 * cpu.batch_size and gpu.width > cpu.width, name
        assert steps(gpu) <= steps(cpu) + 1, name  # fast: 2 x 235 steps against 469
        assert presets.preset(name, torch.device("cpu")) == cpu
    assert presets.preset("best", "cuda") == presets.preset("best")
    assert presets.preset("fast", "auto") == presets.preset("fast", "cuda" if torch.cuda.is_available() else "cpu")
    assert presets.preset("fast", torch.device("cuda", 0), seed=3).seed == 3  # no GPU needed to read it
    assert service.make("cnn", device="cuda").planned_epochs() == presets.preset("fast", "cuda").epochs


@pytest.mark.parametrize("field, value", [("epochs", 0), ("lr", -1.0), ("label_smoothing", 1.0),
                                          ("ensemble", 0), ("rotate", 90.0), ("scale", -0.1),
                                          ("head", "mean"), ("last_width", 0)])
def test_out_of_range_settings_name_the_option(field, value):
    with pytest.raises(DigitlabError, match=field):
        CNNConfig(**{field: value})


def test_wrong_inputs_are_data_errors():
    config = CNNConfig(epochs=1, width=4)
    model = _seeded_model(config)
    with pytest.raises(DataError, match=r"\(N, 28, 28\)"):
        training.fit(model, config, torch.zeros(4, 32, 32), torch.zeros(4, dtype=torch.long), progress=False)
    with pytest.raises(DataError, match="labels"):
        training.fit(model, config, torch.zeros(4, 28, 28), torch.zeros(3, dtype=torch.long), progress=False)
    if not torch.cuda.is_available():
        with pytest.raises(DigitlabError, match="--device cpu"):
            training.predict_logits(model, torch.zeros(1, 28, 28), device="cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a CUDA GPU; none is visible")
def test_steps_replayed_from_a_cuda_graph_train_as_plain_steps_do(mnist_train, monkeypatch):
    from digitlab.train import cuda_graphs

    recorded = []
    record = cuda_graphs.GraphedStep._record
    monkeypatch.setattr(cuda_graphs.GraphedStep, "_record", lambda self: (recorded.append(1), record(self)))
    # 8 steps an epoch, the last one ragged: 3 warm-up steps, a recording, replays, plain ragged steps.
    x, y = mnist_train.images[:2000], mnist_train.labels[:2000]
    config = CNNConfig(epochs=2, batch_size=256, width=8, augment=True, seed=1)
    models, histories = [], []
    for graphed in (False, True):
        model = _seeded_model(config)
        histories.append(training.fit(model, config, x, y, device="cuda", progress=False, cuda_graph=graphed))
        models.append(model.cpu())
    assert recorded == [1]  # one recording, for the graphed run only
    for a, b in zip(histories[0], histories[1]):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-3)
    for name, value in models[0].state_dict().items():
        assert_close(models[1].state_dict()[name].float(), value.float(), rtol=1e-3, atol=1e-3, msg=name)


def test_the_one_cycle_schedule_starts_at_step_0_and_takes_every_step_once(mnist_train, monkeypatch):
    """The lr of global step k is one_cycle(k / total): an off-by-one (k + 1, or restarting the count
    each epoch) would skip the warm-up's first lr or repeat a stretch of the cycle."""
    from digitlab.train import callbacks

    positions, real = [], callbacks.one_cycle

    def recorded(pos, *args, **kwargs):
        positions.append(pos)
        return real(pos, *args, **kwargs)

    monkeypatch.setattr(callbacks, "one_cycle", recorded)  # the loop's OneCycle schedules the cnn too
    config = CNNConfig(epochs=3, batch_size=64, width=4, augment=False)
    training.fit(_seeded_model(config), config, mnist_train.images[:200], mnist_train.labels[:200], progress=False)
    total = 3 * 4  # 200 images in batches of 64: 4 steps an epoch, the last of 8
    assert positions == pytest.approx([k / total for k in range(total)])


def _cosine(start: float, end: float, p: float) -> float:
    """Half a cosine from start (p = 0) to end (p = 1), written out here rather than taken from optim."""
    return start + (end - start) * (1 - math.cos(math.pi * p)) / 2


def test_momentum_runs_against_the_lr_over_training(mnist_train, monkeypatch):
    """One-cycle: the momentum is high while the lr is low and lowest at the lr's peak; the values
    each step really used, read inside the optimizer, against the formula."""
    from digitlab.train import optim

    config = CNNConfig(epochs=2, batch_size=8, width=4, lr=0.1, momentum=0.9, pct_start=0.25)
    used = []  # (lr, momentum) of every step, as the optimizer applied them
    real_step = optim.NesterovSGD.step

    def recording_step(self):
        used.append((float(self.lr), float(self.mom)))
        real_step(self)

    monkeypatch.setattr(optim.NesterovSGD, "step", recording_step)
    training.fit(_seeded_model(config), config, mnist_train.images[:64], mnist_train.labels[:64], progress=False)

    total, peak = 16, 4  # 64 images / 8 a batch * 2 epochs; the peak at pct_start of the steps
    assert len(used) == total
    lrs, moms = [lr for lr, _ in used], [m for _, m in used]
    low, high = config.momentum - 0.05, config.momentum + 0.05  # 0.85 and 0.95
    assert used[0] == pytest.approx((config.lr / 25, high))  # start: small lr, large momentum
    assert used[peak] == pytest.approx((config.lr, low))  # peak: largest lr, smallest momentum
    assert max(lrs) == lrs[peak] and min(moms) == moms[peak]
    for k in range(total):  # every step, against the formula
        pos = k / total
        if pos < config.pct_start:
            p = pos / config.pct_start
            expected = (_cosine(config.lr / 25, config.lr, p), _cosine(high, low, p))
        else:
            p = (pos - config.pct_start) / (1 - config.pct_start)
            expected = (_cosine(config.lr, config.lr / 1e5, p), _cosine(low, high, p))
        assert used[k] == pytest.approx(expected, rel=1e-6), k
    assert moms[-1] > 0.94 and lrs[-1] < config.lr / 20  # end: the momentum nearly back up, the lr near 0
    for k in range(1, total):  # the two always move in opposite directions
        assert (lrs[k] - lrs[k - 1]) * (moms[k] - moms[k - 1]) < 0, k


def _batch_norm(h: torch.Tensor, bn: torch.nn.BatchNorm2d, training: bool) -> torch.Tensor:
    if training:  # this batch's own statistics (the module's running ones are left alone)
        return F.batch_norm(h, None, None, bn.weight, bn.bias, training=True, eps=bn.eps)
    return F.batch_norm(h, bn.running_mean, bn.running_var, bn.weight, bn.bias, training=False, eps=bn.eps)


@pytest.mark.parametrize("training", [False, True])
def test_a_residual_block_is_x_plus_two_conv_bn_relus_by_functional_ops(training):
    torch.manual_seed(0)
    block = network.Residual(6)
    conv1, bn1, _, conv2, bn2, _ = block.body
    with torch.no_grad():  # statistics and affine terms away from their identity start, so each counts
        for bn in (bn1, bn2):
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.3, 0.3)
    x = torch.randn(3, 6, 7, 7)  # (B, C, H, W)
    h = F.relu(_batch_norm(F.conv2d(x, conv1.weight, padding=1), bn1, training))  # (3, 6, 7, 7)
    h = F.relu(_batch_norm(F.conv2d(h, conv2.weight, padding=1), bn2, training))
    block.train(training)
    assert_close(block(x), x + h)
    assert (block(x) < 0).any()  # the skip adds x after the last relu: a relu on the sum would hide this


def _moved(x: torch.Tensor, down: int, right: int) -> torch.Tensor:
    """(B, 1, H, W) -> the same images moved `down` rows and `right` columns, zeros coming in."""
    out = torch.zeros_like(x)
    H, W = x.shape[-2:]
    for r in range(H):
        for c in range(W):
            if 0 <= r - down < H and 0 <= c - right < W:
                out[..., r, c] = x[..., r - down, c - right]
    return out


def test_shift_average_is_the_mean_of_the_model_over_explicitly_shifted_images():
    config = CNNConfig(width=4, crop=0, head="flat", last_width=1)  # every pixel reaches the logits
    model = _seeded_model(dataclasses.replace(config, tta=True))
    assert isinstance(model, network.ShiftAverage)
    net = model.net.eval()
    x = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(1))  # ink up to the border
    moves = [(0, 0), (1, 0), (-1, 0), (0, 1), (0, -1)]  # the image and its four one-pixel moves
    with torch.no_grad():
        expected = torch.stack([net(_moved(x, dy, dx)) for dy, dx in moves]).mean(dim=0)  # (5, 4, 10) -> (4, 10)
        model.eval()
        assert_close(model(x), expected)
        assert_close(model(x[:, 0]), expected)  # (B, 28, 28) too
        model.train()
        assert_close(model(x), model.net(x))  # training sees the image only
