"""DataLoader, DataLoaders, Learner and its callbacks, on small real MNIST (mnist_tiny)."""

import string

import pytest
import torch
from torch import nn
from torch.testing import assert_close

from digitlab.data import datasets
from digitlab.train.callbacks import (Callback, CancelBatchException, CancelFitException, Divergence, DivergenceGuard,
                                      ShortEpochCallback)
from digitlab.train.recorders import ProgressCallback, _mmss
from digitlab.errors import TrainingError
from digitlab.metrics import accuracy, confusion_matrix, predicted_index, top_losses
from digitlab.train.learner import DataLoader, DataLoaders, Learner, steepest_lr, suggest_lr
from digitlab.train.optim import SGD, one_cycle
from digitlab.train.scratch import batch_accuracy, mnist_loss


@pytest.fixture(scope="module")
def tiny():
    train, valid = datasets.load("mnist_tiny", "train", torch.float32), datasets.load("mnist_tiny", "valid", torch.float32)
    # The book's encoding: flattened images, target 1 for a 3, 0 for a 7, one column.
    enc = lambda d: (d.images.view(-1, 784), (d.labels == 3).float().unsqueeze(1))  # noqa: E731
    return enc(train), enc(valid)


def _learner(tiny, **kwargs):
    (x, y), (xv, yv) = tiny
    dls = DataLoaders(DataLoader((x, y), 64, shuffle=True, seed=0), DataLoader((xv, yv), 256))
    torch.manual_seed(0)
    kwargs.setdefault("loss_func", mnist_loss)
    kwargs.setdefault("metrics", batch_accuracy)
    kwargs.setdefault("opt_func", SGD)
    return Learner(dls, nn.Linear(784, 1), progress=False, **kwargs)


def test_dataloader_batches_a_range_and_shuffles_it_reproducibly():
    plain = list(DataLoader(range(15), batch_size=5))
    assert [b.tolist() for b in plain] == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9], [10, 11, 12, 13, 14]]
    a = [b.tolist() for b in DataLoader(range(15), 5, shuffle=True, seed=1)]
    b = [b.tolist() for b in DataLoader(range(15), 5, shuffle=True, seed=1)]
    assert a == b and sorted(sum(a, [])) == list(range(15)) and a != [p.tolist() for p in plain]


def test_dataloader_collates_numbers_into_tensors_and_strings_into_tuples():
    ds = list(enumerate(string.ascii_lowercase))
    batches = list(DataLoader(ds, batch_size=6, shuffle=True, seed=0))
    assert len(batches) == 5 and len(batches[-1][0]) == 2
    numbers, letters = batches[0]
    assert isinstance(numbers, torch.Tensor) and isinstance(letters, tuple)
    assert [string.ascii_lowercase[i] for i in numbers.tolist()] == list(letters)


def test_each_epoch_gets_a_new_order_and_set_epoch_replays_one():
    dl = DataLoader(range(100), 100, shuffle=True, seed=7)
    first, second = next(iter(dl)), next(iter(dl))
    assert not torch.equal(first, second)
    dl.set_epoch(1)
    assert torch.equal(next(iter(dl)), second)


def test_the_tensor_fast_path_gives_the_same_batches_as_a_list_of_pairs(tiny):
    (x, y), _ = tiny
    fast = list(DataLoader((x, y), 256, shuffle=True, seed=3))
    slow = list(DataLoader(list(zip(x, y)), 256, shuffle=True, seed=3))
    assert len(fast) == len(slow) == 3
    for (xf, yf), (xs, ys) in zip(fast, slow):
        assert torch.equal(xf, xs) and torch.equal(yf, ys)
    assert len(DataLoader((x, y), 256, drop_last=True)) == 2


def test_dataloaders_hold_train_valid_and_the_device(tiny):
    (x, y), (xv, yv) = tiny
    dls = DataLoaders(DataLoader((x, y), 64), DataLoader((xv, yv), 64), device="cpu")
    assert dls.device == torch.device("cpu") and dls[0] is dls.train and dls[1] is dls.valid


def test_learner_fit_learns_3_vs_7_and_prints_fastais_table(tiny, capsys):
    learn = _learner(tiny)
    learn.cbs.append(__import__("digitlab.train.recorders", fromlist=["x"]).ProgressCallback())
    learn.fit(4, lr=1.0)
    err = capsys.readouterr().err
    header = err.splitlines()[0].split()
    assert header == ["epoch", "train_loss", "valid_loss", "batch_accuracy", "time"]
    assert "00:0" in err  # mm:ss
    values = learn.recorder.values
    assert len(values) == 4 and all(len(v) == 3 for v in values)
    assert [v[2] for v in values][-1] > 0.9  # validation accuracy after 4 epochs on 709 images
    assert len(learn.recorder.losses) == 4 * len(learn.dls.train)


def test_cancel_batch_skips_the_step_and_cancel_fit_stops_training(tiny):
    class SkipAll(Callback):
        def after_loss(self, learn):
            raise CancelBatchException()

    learn = _learner(tiny)
    before = [p.detach().clone() for p in learn.model.parameters()]
    learn.fit(1, lr=1.0, cbs=[SkipAll()])
    for a, b in zip(before, learn.model.parameters()):
        assert torch.equal(a, b.detach())

    class StopAfterFirstEpoch(Callback):
        order = 100  # after the Recorder has written the epoch's row

        def after_epoch(self, learn):
            raise CancelFitException()

    learn.fit(5, lr=1.0, cbs=[StopAfterFirstEpoch()])
    assert len(learn.recorder.values) == 1


def test_a_diverging_loss_stops_with_a_training_error_suggesting_a_lower_lr(tiny):
    learn = _learner(tiny, loss_func=lambda p, t: (p * 1e30).pow(2).mean())
    with pytest.raises(TrainingError, match="lower learning rate"):
        learn.fit(1, lr=1e6)


def test_fit_one_cycle_follows_the_schedule_batch_by_batch(tiny):
    learn = _learner(tiny, opt_func=lambda ps, lr: SGD(ps, lr, mom=0.9))
    learn.fit_one_cycle(2, 0.5)
    n = len(learn.recorder.lrs)
    expected = [one_cycle(i / n, 0.5)[0] for i in range(n)]
    assert learn.recorder.lrs == pytest.approx(expected)
    assert learn.opt.mom == pytest.approx(one_cycle((n - 1) / n, 0.5)[1])
    assert learn.recorder.values[-1][2] > 0.9


def test_lr_find_suggests_a_sensible_lr_and_restores_the_weights(tiny):
    learn = _learner(tiny)
    before = [p.detach().clone() for p in learn.model.parameters()]
    opt, cbs = learn.opt, list(learn.cbs)
    lr = learn.lr_find(num_it=60, end_lr=3.0)
    assert 1e-5 < lr < 10
    for a, b in zip(before, learn.model.parameters()):
        assert torch.equal(a, b.detach())
    assert learn.opt is opt and learn.cbs == cbs  # the optimiser and the callbacks put back too
    lrs = learn.recorder.lrs
    assert lrs[0] == pytest.approx(1e-7) and all(b > a for a, b in zip(lrs, lrs[1:]))
    assert len(lrs) == 60 and lrs[-1] == pytest.approx(1e-7 * (3.0 / 1e-7) ** (59 / 60))  # step i: start * (end / start) ** (i / num_it)
    fig = learn.recorder.plot_lr_find()
    assert fig.axes[0].get_xscale() == "log"


def test_recorder_plots_and_its_values_work_like_fastais(tiny):
    learn = _learner(tiny)
    learn.fit(2, lr=1.0)
    third_column = [row[2] for row in learn.recorder.values]  # what L(values).itemgot(2) gives
    assert len(third_column) == 2
    assert len(learn.recorder.plot_loss().axes[0].lines) == 2


def test_metrics_accuracy_confusion_matrix_and_top_losses():
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 1.0], [5.0, 0.0, 0.0]])
    targets = torch.tensor([0, 1, 1, 2])
    assert accuracy(logits, targets).item() == pytest.approx(0.5)
    cm = confusion_matrix(targets, logits.argmax(1), 3)
    assert cm.tolist() == [[1, 0, 0], [0, 1, 1], [1, 0, 0]]
    losses, idx = top_losses(logits, targets, k=2)
    assert idx.tolist() == [3, 2]
    assert_close(losses, torch.nn.functional.cross_entropy(logits, targets, reduction="none")[[3, 2]])
    one_out = torch.tensor([[1.0], [-1.0], [2.0]])
    assert accuracy(one_out, torch.tensor([1, 0, 0])).item() == pytest.approx(2 / 3)


def test_lr_suggestions_on_a_known_curve():
    """A loss that falls fastest at lr 1e-3, bottoms out at 1e-1 and then diverges."""
    lrs = torch.logspace(-6, 0, 61).tolist()  # 10 points a decade
    losses = [2 - torch.sigmoid(torch.tensor((x + 3.0) * 4)).item() + (5.0 if x > -1 else 0.0)
              for x in torch.linspace(-6, 0, 61).tolist()]  # the drop centred on 10^-3
    losses[40] -= 0.05  # the lowest point: lr 10^-2
    losses[-3] = float("nan")  # a diverged step is skipped
    assert steepest_lr(lrs, losses) == pytest.approx(1e-3, rel=0.01)
    assert suggest_lr(lrs, losses) == pytest.approx(1e-3, rel=0.01)  # a tenth of 10^-2
    with pytest.raises(ValueError, match="too few finite"):
        steepest_lr([1e-3, 1e-2], [float("nan"), float("nan")])


def test_validation_figures_are_means_over_images_not_over_batches():
    """Five validation images in batches of 4 and 1: per image the metric is 4/5, per batch (1 + 0) / 2.
    The loss and the metric are each batch's share of label-1 images, whatever the model says."""
    def share_of_ones(pred, target):
        return target.float().mean() + 0 * pred.sum()

    x, y = torch.zeros(5, 3), torch.tensor([1, 1, 1, 1, 0])
    dls = DataLoaders(DataLoader((x, y), 4), DataLoader((x, y), 4))
    learn = Learner(dls, nn.Linear(3, 1), loss_func=share_of_ones, metrics=share_of_ones, opt_func=SGD,
                    progress=False)
    learn.fit(1, lr=0.0)
    (_, valid_loss, metric), = learn.recorder.values
    assert valid_loss == pytest.approx(0.8) and metric == pytest.approx(0.8)


def test_divergence_compares_each_loss_with_the_runs_first_and_checks_the_weights():
    watch = Divergence(lr=0.5)
    watch.loss(2.0, epoch=1, batch=0)
    watch.loss(20.0, 1, 1)  # ten times the first: still learning
    with pytest.raises(TrainingError, match=r"^training diverged in epoch 1: the training loss grew from 2 to "
                                            r"20\.1 at batch 2; try a lower learning rate \(--lr, now 0\.5\)$"):
        watch.loss(20.1, 1, 2)
    with pytest.raises(TrainingError, match="epoch 3: the training loss became nan at batch 4"):
        Divergence(0.5).loss(float("nan"), 3, 4)
    near_zero = Divergence(0.5)
    near_zero.loss(0.0, 0, 0)  # a first loss of 0 counts as 1e-3, so 10x is 0.01
    near_zero.loss(0.01, 0, 1)
    with pytest.raises(TrainingError, match="grew from 0.001 to 0.0101"):
        near_zero.loss(0.0101, 0, 2)
    watch.weights([torch.zeros(0), torch.full((3,), -1e4)], epoch=2)  # at the limit, and an empty tensor
    with pytest.raises(TrainingError, match=r"epoch 2: the weights reached 1e\+04; "):
        watch.weights([torch.ones(2), torch.tensor([0.0, -10_000.1])], 2)
    with pytest.raises(TrainingError, match="the weights reached inf"):
        watch.weights([torch.tensor([float("inf")])], 2)


def test_the_divergence_guard_stops_a_learner_on_its_loss_or_its_weights(tiny):
    learn = _learner(tiny, loss_func=lambda p, t: (p - t).abs().mean() * 1e3 ** learn.iter)
    with pytest.raises(TrainingError, match="epoch 0: the training loss grew .* at batch 1"):
        learn.fit(1, lr=0.0, cbs=[DivergenceGuard(0.0)])
    learn = _learner(tiny)
    with pytest.raises(TrainingError, match="epoch 0: the weights reached"):
        learn.fit(1, lr=1e5, cbs=[DivergenceGuard(1e5)])
    learn = _learner(tiny)
    learn.fit(2, lr=1.0, cbs=[DivergenceGuard(1.0)])  # a healthy run passes
    assert len(learn.recorder.values) == 2


@pytest.mark.parametrize("pct, short_valid, batches", [(0.01, True, (1, 1)), (0.5, False, (6, 3)),
                                                       (0.3, True, (4, 1))])
def test_short_epochs_train_on_their_share_of_the_batches(tiny, pct, short_valid, batches):
    learn = _learner(tiny)  # 709 training images in batches of 64: 12 batches; 3 validation batches

    class Count(Callback):
        def before_fit(self, learn):
            self.seen = {True: 0, False: 0}

        def after_batch(self, learn):
            self.seen[learn.training] += 1

    count = Count()
    learn.fit(1, lr=1.0, cbs=[count, ShortEpochCallback(pct, short_valid)])
    assert (count.seen[True], count.seen[False]) == batches


def test_predicted_index_reads_one_output_as_the_books_3_and_many_by_argmax():
    one = torch.tensor([[2.0], [-1.0], [0.0]])  # positive: the first class (index 0)
    assert predicted_index(one).tolist() == [0, 1, 1] and predicted_index(one[:, 0]).tolist() == [0, 1, 1]
    assert predicted_index(torch.tensor([[0.1, 0.7, 0.2], [3.0, -1.0, 2.0]])).tolist() == [1, 0]
    assert accuracy(one, torch.tensor([1, 0, 1])).item() == pytest.approx(2 / 3)  # 0 is not > 0: class 0
    assert accuracy(torch.tensor([[0.1, 0.7], [3.0, -1.0]]), torch.tensor([[1], [1]])).item() == 0.5


def test_steepest_lr_is_where_the_loss_falls_fastest_away_from_the_ends():
    lrs = [10 ** (i / 10 - 5) for i in range(40)]
    losses = [2.0] * 40
    for i, loss in zip(range(14, 22), [1.9, 1.7, 1.2, 0.6, 0.5, 0.45, 0.44, 0.43]):
        losses[i] = loss
    losses[22:] = [0.43] * 18
    losses[1] = -50.0  # the smoothing's warm-up (the first tenth) is ignored, and so are the last five
    losses[-2] = -50.0
    assert steepest_lr(lrs, losses) == lrs[16]
    with pytest.raises(ValueError, match="too few finite"):
        steepest_lr(lrs[:3], [float("nan")] * 3)


def test_the_loss_plot_draws_train_per_batch_and_valid_per_epoch(tiny):
    learn = _learner(tiny)
    learn.fit(2, lr=1.0)
    figure = learn.recorder.plot_loss(skip_start=3)
    (ax,) = figure.axes
    train, valid = ax.get_lines()
    assert list(train.get_xdata()) == list(range(3, 24)) and list(train.get_ydata()) == learn.recorder.losses[3:]
    assert list(valid.get_xdata()) == [12.0, 24.0] and list(valid.get_ydata()) == [v[1] for v in learn.recorder.values]
    assert valid.get_marker() == "o"  # each epoch a dot: after one epoch a line alone would show nothing
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("batch", "loss")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["train", "valid"]
    assert len(learn.recorder.plot_loss(with_valid=False).axes[0].get_lines()) == 1


def test_the_progress_table_prints_one_row_per_epoch_with_minutes_and_seconds(tiny, capsys):
    learn = _learner(tiny)
    learn.fit(2, lr=1.0, cbs=[ProgressCallback()])
    lines = [line.split() for line in capsys.readouterr().err.splitlines() if line.strip()]
    rows = [line for line in lines if line[0] in ("0", "1")]
    assert [r[0] for r in rows] == ["0", "1"] and all(len(r) == 5 and r[-1] == "00:00" for r in rows)
    for row, values in zip(rows, learn.recorder.values):
        assert [float(x) for x in row[1:4]] == pytest.approx(values, abs=1e-6)
    assert _mmss(3725.9) == "62:05" and _mmss(59.99) == "00:59"


def test_fit_one_cycle_passes_on_its_schedule_and_resumes_mid_cycle(tiny):
    learn = _learner(tiny, opt_func=lambda ps, lr: SGD(ps, lr, mom=0.9))
    learn.fit_one_cycle(2, 0.5, pct_start=0.5, div=5)
    n = len(learn.recorder.lrs)
    assert learn.recorder.lrs == pytest.approx([one_cycle(i / n, 0.5, pct_start=0.5, div=5)[0] for i in range(n)])
    resumed = _learner(tiny, opt_func=lambda ps, lr: SGD(ps, lr, mom=0.9))
    resumed.fit_one_cycle(2, 0.5, start_epoch=1)  # the second epoch only: the cycle's second half
    assert resumed.recorder.lrs == pytest.approx([one_cycle(i / n, 0.5)[0] for i in range(n // 2, n)])


def test_top_losses_with_the_books_loss_takes_each_item_alone_and_keeps_nine():
    outputs = torch.linspace(-3, 3, 12)[:, None]  # (12, 1): the book's one output
    targets = torch.tensor([1.0] * 6 + [0.0] * 6)[:, None]  # 3 (1) for the first six, 7 (0) after
    losses, rows = top_losses(outputs, targets, loss_func=mnist_loss)
    per_item = torch.stack([mnist_loss(outputs[i:i + 1], targets[i:i + 1]) for i in range(12)])
    assert len(rows) == 9 and rows.tolist() == per_item.topk(9).indices.tolist()
    assert_close(losses, per_item.topk(9).values)
    assert rows[0].item() in (0, 11)  # most confidently wrong: the ends of the range


def test_the_lr_finder_plot_draws_loss_against_a_log_lr_on_the_given_axes(tiny):
    from matplotlib.figure import Figure

    learn = _learner(tiny)
    learn.lr_find(num_it=30)
    ax = Figure().add_subplot()
    assert learn.recorder.plot_lr_find(skip_end=4, ax=ax) is ax.figure
    (line,) = ax.get_lines()
    assert list(line.get_xdata()) == learn.recorder.lrs[:-4] and list(line.get_ydata()) == learn.recorder.losses[:-4]
    assert (ax.get_xscale(), ax.get_xlabel(), ax.get_ylabel()) == ("log", "learning rate (log scale)", "loss")
    learn.recorder.lrs, learn.recorder.losses = [0.1], [1.0]
    assert len(learn.recorder.plot_lr_find().axes[0].get_lines()[0].get_xdata()) == 1  # one point is kept
