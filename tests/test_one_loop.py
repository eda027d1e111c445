"""The one loop's pieces: the book's train_epoch against Learner.fit, the index loader, a fused
step, the recorders, the per-epoch hand-off and a resume through `opt_state`, on small real MNIST."""

import math

import pytest
import torch
from torch import nn

from digitlab.data import datasets
from digitlab.errors import TrainingError
from digitlab.train import scratch
from digitlab.train.callbacks import Callback, EpochEnd, FusedStep, OneCycle, cpu_copy, none_if_nan
from digitlab.train.learner import DataLoader, DataLoaders, IndexLoader, Learner
from digitlab.train.optim import SGD, BasicOptim, one_cycle
from digitlab.train.recorders import MeanLossRecorder, ProgressCallback, StepLossSum
from digitlab.train.seeding import seeded


@pytest.fixture(scope="module")
def tiny():
    train = datasets.load("mnist_tiny", "train", torch.float32)
    return train.images.view(-1, 784), (train.labels == 3).float().unsqueeze(1)  # (709, 784), (709, 1)


def _net() -> nn.Module:
    return seeded(0, lambda: nn.Sequential(nn.Linear(784, 30), nn.ReLU(), nn.Linear(30, 1)))


def test_the_books_train_epoch_and_the_loop_give_the_same_weights_after_an_epoch(tiny):
    """Same data, order, optimiser and loss: scratch.train_epoch by hand and Learner.fit agree
    exactly, and the loop's mean-loss recorder reports the mean of the hand loop's losses."""
    by_hand, by_loop = _net(), _net()
    dl = DataLoader(tiny, 64, shuffle=True, seed=4)
    dl.set_epoch(0)
    losses = scratch.train_epoch(by_hand, dl, BasicOptim(by_hand.parameters(), 0.5), scratch.mnist_loss)
    learn = Learner(DataLoaders(DataLoader(tiny, 64, shuffle=True, seed=4), None), by_loop, opt_func=BasicOptim,
                    loss_func=scratch.mnist_loss, recorder=MeanLossRecorder(), progress=False)
    learn.fit(1, lr=0.5)
    for a, b in zip(by_hand.parameters(), by_loop.parameters()):
        assert torch.equal(a, b)
    assert not torch.equal(by_hand[0].weight, _net()[0].weight)  # it did train
    assert learn.recorder.values[0][0] == sum(losses) / len(losses)
    assert len(losses) == len(dl) == 12


def test_the_mean_loss_recorder_averages_each_epochs_batches_alone():
    x = torch.arange(6.0).unsqueeze(1)  # (6, 1)
    model = nn.Linear(1, 1)
    with torch.no_grad():
        model.weight.fill_(1.0)
        model.bias.zero_()
    learn = Learner(DataLoaders(DataLoader((x, x), 4), None), model, opt_func=BasicOptim,
                    loss_func=lambda p, t: p.mean() + 10 * learn.epoch, recorder=MeanLossRecorder(), progress=False)
    learn.fit(2, lr=0.0)
    # batches [0..3] and [4, 5]: means 1.5 and 4.5, so 3.0 (the item mean would be 2.5); epoch 1 adds 10
    assert [row[0] for row in learn.recorder.values] == [3.0, 13.0]
    assert math.isnan(learn.recorder.values[0][1])  # no validation


def test_the_index_loader_slices_the_order_it_is_given():
    loader = IndexLoader(10, 4)
    loader.order = torch.tensor([9, 8, 7, 6, 5, 4, 3, 2, 1, 0])
    batches = list(loader)
    assert len(loader) == 3 and [b.tolist() for b, _ in batches] == [[9, 8, 7, 6], [5, 4, 3, 2], [1, 0]]
    assert all(labels is None for _, labels in batches)
    assert len(IndexLoader(8, 4)) == 2 and len(IndexLoader(9, 4)) == 3
    loader.order = torch.arange(10)
    assert next(iter(loader))[0].tolist() == [0, 1, 2, 3]  # a new order each pass
    loader.data = (torch.arange(10) * 10, torch.arange(10) % 3)  # the gate's: rows of each tensor, not indices
    loader.order = torch.tensor([9, 0, 5, 1, 2, 3, 4, 6, 7, 8])
    xb, yb = next(iter(loader))
    assert xb.tolist() == [90, 0, 50, 10] and yb.tolist() == [0, 0, 2, 1]


class _Counting:
    """A fused step over indices into device-resident data: one SGD step of a linear model on
    the picked rows, its loss added into `total`."""

    def __init__(self, model, x, y, total, opt):
        self.model, self.x, self.y, self.total, self.opt, self.seen = model, x, y, total, opt, []

    def __call__(self, batch):
        self.seen.append(batch.tolist())
        loss = scratch.mnist_loss(self.model(self.x[batch]), self.y[batch])
        loss.backward()
        self.opt.step()
        self.opt.zero_grad()
        self.total.add_(loss.detach())


def test_a_fused_step_replaces_the_loops_step_and_its_loss_is_read_once_an_epoch(tiny):
    x, y = tiny
    model, plain = _net(), _net()
    total = torch.zeros(())
    steps, made_with = [], []

    def make(opt):
        made_with.append(opt)
        steps.append(_Counting(model, x, y, total, opt))
        return steps[-1]

    class Order(Callback):
        def before_epoch(self, learn):
            learn.dls.train.order = torch.randperm(len(x), generator=torch.Generator().manual_seed(learn.epoch))

    class NoLossHooks(Callback):
        def after_loss(self, learn):
            raise AssertionError("after_loss runs only around the Learner's own step")

    learn = Learner(DataLoaders(IndexLoader(len(x), 100), None), model, opt_func=BasicOptim,
                    recorder=StepLossSum(total), progress=False)
    learn.fit(2, lr=0.5, cbs=[FusedStep(make), Order(), NoLossHooks()])
    assert made_with == [learn.opt] and learn.fused_step is None  # made for the fit's optimiser, then dropped
    assert len(steps[0].seen) == 2 * 8 and steps[0].seen[0] == torch.randperm(len(x), generator=torch.Generator()
                                                                              .manual_seed(0))[:100].tolist()
    # The same steps through the Learner's own step, for the same order, give the same weights.
    opt = BasicOptim(plain.parameters(), 0.5)
    losses = []
    for epoch in range(2):
        order = torch.randperm(len(x), generator=torch.Generator().manual_seed(epoch))
        epoch_losses = []
        for i in range(8):
            batch = order[i * 100:(i + 1) * 100]
            epoch_losses.append(float(scratch.calc_grad(x[batch], y[batch], plain, scratch.mnist_loss)))
            opt.step()
            opt.zero_grad()
        losses.append(epoch_losses)
    for a, b in zip(model.parameters(), plain.parameters()):
        assert torch.allclose(a, b, atol=1e-6)
    train_losses = [row[0] for row in learn.recorder.values]
    assert train_losses == pytest.approx([sum(e) / 8 for e in losses], rel=1e-5)  # the epoch's own mean
    assert train_losses[1] < train_losses[0]
    assert [row[1:] for row in learn.recorder.values] == [[None, None], [None, None]]


def test_a_fused_steps_mean_loss_that_is_not_finite_names_the_lr():
    total = torch.zeros(())

    def make(opt):
        return lambda batch: total.add_(float("inf") if len(batch) == 1 else 1.0)

    learn = Learner(DataLoaders(IndexLoader(5, 2), None), nn.Linear(1, 1), recorder=StepLossSum(total), progress=False)

    class Order(Callback):
        def before_epoch(self, learn):
            learn.dls.train.order = torch.arange(5)

    with pytest.raises(TrainingError, match=r"epoch 0: the epoch's mean training loss became inf; .*--lr, now 0\.3"):
        learn.fit(1, lr=0.3, cbs=[FusedStep(make), Order()])
    learn.dls.train = IndexLoader(4, 2)
    learn.fit(1, lr=0.3, cbs=[FusedStep(make), Order()])
    assert learn.recorder.values == [[1.0, None, None]]  # (1 + 1) / 2 batches, zeroed at the epoch's start


def test_the_hand_off_gives_the_row_and_a_detached_copy_of_the_optimisers_state(tiny):
    handed = []
    learn = Learner(DataLoaders(DataLoader(tiny, 128), DataLoader(tiny, 256)), _net(),
                    opt_func=lambda ps, lr: SGD(ps, lr, mom=0.9), loss_func=scratch.mnist_loss,
                    metrics=scratch.batch_accuracy, progress=False)
    learn.fit(2, lr=0.1, cbs=[EpochEnd(lambda epoch, row, state: handed.append((epoch, row, state)))])
    assert [epoch for epoch, _, _ in handed] == [0, 1]
    epoch, row, state = handed[0]
    assert list(row) == ["epoch", "train_loss", "valid_loss", "accuracy", "seconds"]
    train_loss, valid_loss, acc = learn.recorder.values[0]
    assert row == {"epoch": 0, "train_loss": train_loss, "valid_loss": valid_loss, "accuracy": acc,
                   "seconds": row["seconds"]}
    assert row["seconds"] > 0 and isinstance(acc, float) and isinstance(valid_loss, float)
    first, last = state["optimizer"], handed[1][2]["optimizer"]
    assert set(first) == {"grad_avg.0", "grad_avg.1", "grad_avg.2", "grad_avg.3"}
    assert not torch.equal(first["grad_avg.0"], last["grad_avg.0"])  # the second epoch moved the live buffer
    assert torch.equal(last["grad_avg.0"], learn.opt.grad_avg[0]) and last["grad_avg.0"] is not learn.opt.grad_avg[0]


def test_the_hand_off_says_none_for_what_was_not_measured_and_passes_tta_on():
    class Scored(Callback):
        order = 50

        def before_fit(self, learn):
            self.values, self.tta, self.seconds = [], True, 1.5

        def after_epoch(self, learn):
            self.values.append([float("nan"), None, 0.25])

    rows = []
    learn = Learner(DataLoaders(IndexLoader(0, 1), None), nn.Linear(1, 1), recorder=Scored(), progress=False)
    learn.fit(1, lr=0.1, cbs=[EpochEnd(lambda e, row, s: rows.append(row))])
    assert rows == [{"epoch": 0, "train_loss": None, "valid_loss": None, "accuracy": 0.25, "tta": True,
                     "seconds": 1.5}]
    assert list(rows[0]) == ["epoch", "train_loss", "valid_loss", "accuracy", "tta", "seconds"]
    assert none_if_nan(float("nan")) is None and none_if_nan(None) is None and none_if_nan(2) == 2.0


def test_cpu_copy_copies_nested_tensors_and_leaves_other_values():
    live = {"a": torch.ones(2), "nested": {"b": torch.zeros(1, requires_grad=True)}, "n": [1, 2]}
    copied = cpu_copy(live)
    live["a"].add_(1)
    live["n"].append(3)
    assert copied["a"].tolist() == [1.0, 1.0] and copied["n"] == [1, 2]
    assert not copied["nested"]["b"].requires_grad and copied["nested"]["b"].tolist() == [0.0]


def test_a_fit_resumed_with_the_saved_optimiser_state_ends_with_the_uninterrupted_weights(tiny):
    def learner():
        dls = DataLoaders(DataLoader(tiny, 64, shuffle=True, seed=2), None)
        return Learner(dls, _net(), opt_func=lambda ps, lr: SGD(ps, lr, mom=0.9), loss_func=scratch.mnist_loss,
                       progress=False)

    straight = learner()
    straight.fit_one_cycle(3, 0.2)
    saved = {}
    first = learner()
    first.fit_one_cycle(3, 0.2, cbs=[EpochEnd(lambda e, row, state: saved.update({e: state})), _StopAfter(1)])
    again = learner()  # the interrupted run's weights and optimiser state, from epoch 2 on
    again.model.load_state_dict(first.model.state_dict())
    again.fit_one_cycle(3, 0.2, start_epoch=2, opt_state=saved[1]["optimizer"])
    for a, b in zip(straight.model.parameters(), again.model.parameters()):
        assert torch.equal(a, b)
    without_state = learner()
    without_state.model.load_state_dict(first.model.state_dict())
    without_state.fit_one_cycle(3, 0.2, start_epoch=2)  # no momentum carried over: not the same run
    assert not torch.equal(straight.model[0].weight, without_state.model[0].weight)


class _StopAfter(Callback):
    order = 100

    def __init__(self, epoch):
        self.epoch = epoch

    def after_epoch(self, learn):
        if learn.epoch == self.epoch:
            from digitlab.train.callbacks import CancelFitException

            raise CancelFitException()


def test_the_optimiser_is_made_once_and_a_given_state_is_loaded_into_it(tiny):
    made = []

    def opt_func(params, lr):
        made.append(lr)
        return SGD(params, lr, mom=0.9)

    learn = Learner(DataLoaders(DataLoader(tiny, 256), None), _net(), opt_func=opt_func, loss_func=scratch.mnist_loss,
                    lr=0.3, progress=False)
    opt = learn.create_opt()
    assert made == [0.3] and learn.create_opt() is opt
    state = {f"grad_avg.{i}": torch.full_like(p, 0.5) for i, p in enumerate(learn.model.parameters())}
    learn.create_opt(state)
    assert made == [0.3] and torch.equal(opt.grad_avg[1], state["grad_avg.1"])
    learn.fit(1, lr=0.2)
    assert made == [0.3] and learn.opt is opt and opt.lr == 0.2


def test_one_cycle_schedules_lr_and_momentum_through_the_optimiser(tiny):
    seen = []

    class Watch(Callback):
        order = 20  # after OneCycle

        def before_batch(self, learn):
            if learn.training:
                seen.append((learn.opt.lr, learn.opt.mom))

    learn = Learner(DataLoaders(DataLoader(tiny, 256), DataLoader(tiny, 256)), _net(),
                    opt_func=lambda ps, lr: SGD(ps, lr, mom=0.9), loss_func=scratch.mnist_loss, progress=False)
    learn.fit(2, 0.4, cbs=[OneCycle(0.4, moms=(0.9, 0.8, 0.9), pct_start=0.5), Watch()])
    assert seen == [one_cycle(k / 6, 0.4, moms=(0.9, 0.8, 0.9), pct_start=0.5) for k in range(6)]
    plain = BasicOptim([torch.zeros(1)], 1.0)
    plain.schedule(0.25, 0.7)
    assert plain.lr == 0.25 and not hasattr(plain, "mom")


def test_without_a_validation_loader_the_loop_skips_the_pass_and_the_table_still_prints(tiny, capsys):
    total = torch.zeros(())
    batches = []

    class Count(Callback):
        def after_batch(self, learn):
            batches.append(learn.training)

        def before_epoch(self, learn):
            learn.dls.train.order = torch.arange(4)

    learn = Learner(DataLoaders(IndexLoader(4, 2), None, device="cpu"), nn.Linear(1, 1), recorder=StepLossSum(total),
                    progress=False)
    learn.fit(1, 0.1, cbs=[FusedStep(lambda opt: lambda b: total.add_(2.0)), Count(), ProgressCallback()])
    assert batches == [True, True]
    row = [line.split() for line in capsys.readouterr().err.splitlines() if line.strip().startswith("0")]
    assert row[0][:2] == ["0", "2.000000"] and len(row[0]) == 3  # epoch, train_loss, (no valid), time


def test_an_epoch_without_training_batches_records_nan_not_a_crash():
    empty = (torch.zeros(0, 1), torch.zeros(0, 1))
    learn = Learner(DataLoaders(DataLoader(empty, 4), None), nn.Linear(1, 1), opt_func=BasicOptim,
                    recorder=MeanLossRecorder(), progress=False)
    learn.fit(1, lr=0.1)
    assert math.isnan(learn.recorder.values[0][0])


def test_the_step_loss_sums_table_header_tta_and_seconds(capsys):
    import time

    total = torch.zeros(())
    rows = []

    class Order(Callback):
        def before_epoch(self, learn):
            learn.dls.train.order = torch.arange(4)

    learn = Learner(DataLoaders(IndexLoader(4, 2), None), nn.Linear(1, 1), recorder=StepLossSum(total), progress=False)
    started = time.perf_counter()
    learn.fit(1, 0.1, cbs=[FusedStep(lambda opt: lambda b: total.add_(1.0)), Order(), ProgressCallback(),
                           EpochEnd(lambda e, row, s: rows.append(row))])
    elapsed = time.perf_counter() - started
    header = capsys.readouterr().err.splitlines()[0].split()
    assert header == ["epoch", "train_loss", "valid_loss", "accuracy", "time"]
    assert rows[0]["tta"] is False and rows[0]["train_loss"] == 1.0
    assert 0 <= rows[0]["seconds"] <= elapsed  # a duration within the fit's, not a clock reading


def test_cpu_copy_of_a_list_copies_the_tensors_inside():
    live = [torch.ones(2)]
    copied = cpu_copy(live)
    live[0].add_(1)
    assert copied[0].tolist() == [1.0, 1.0]


def test_fit_one_cycle_takes_the_learners_lr_by_default_and_keeps_the_one_given(tiny):
    learn = Learner(DataLoaders(DataLoader(tiny, 256), None), _net(), opt_func=lambda ps, lr: SGD(ps, lr, mom=0.9),
                    loss_func=scratch.mnist_loss, lr=0.3, progress=False)
    learn.fit_one_cycle(1, pct_start=0.5)
    assert learn.recorder.lrs == pytest.approx([one_cycle(i / 3, 0.3, pct_start=0.5)[0] for i in range(3)])
    assert learn.lr == 0.3
    learn.fit_one_cycle(1, 0.05)
    assert learn.lr == 0.05 and max(learn.recorder.lrs) <= 0.05


def test_the_nan_guard_names_the_epoch_and_the_batch(tiny):
    def nan_at_epoch_1_batch_2(pred, target):
        loss = scratch.mnist_loss(pred, target)
        return loss * float("nan") if (learn.epoch, learn.iter) == (1, 2) else loss

    learn = Learner(DataLoaders(DataLoader(tiny, 256), None), _net(), opt_func=BasicOptim,
                    loss_func=nan_at_epoch_1_batch_2, progress=False)
    with pytest.raises(TrainingError, match=r"^training diverged in epoch 1: the training loss became nan at batch 2; "
                                            r"try a lower learning rate \(--lr, now 0\.2"):
        learn.fit(3, lr=0.2)


def test_the_progress_bar_counts_every_batch_of_the_epoch_with_or_without_validation(tiny):
    for valid, total in ((DataLoader(tiny, 256), 12 + 3), (None, 12)):
        learn = Learner(DataLoaders(DataLoader(tiny, 64), valid), _net(), loss_func=scratch.mnist_loss, progress=False)
        learn.epoch = 3
        learn.recorder.before_fit(learn)
        progress = ProgressCallback()
        progress.before_fit(learn)
        progress.before_epoch(learn)
        progress.after_batch(learn)
        (task,) = progress.bar.tasks
        progress.after_fit(learn)
        assert (task.total, task.completed, task.description) == (total, 1, "epoch 3")


def test_the_bar_alone_leaves_no_table_in_a_log(tiny, capsys):
    learn = Learner(DataLoaders(DataLoader(tiny, 256), None), _net(), loss_func=scratch.mnist_loss,
                    progress=ProgressCallback(table=False))
    learn.fit(1, lr=0.1)
    assert capsys.readouterr().err == ""  # not a terminal: the transient bar shows nothing
    learn = Learner(DataLoaders(DataLoader(tiny, 256), None), _net(), loss_func=scratch.mnist_loss)
    learn.fit(1, lr=0.1)
    assert capsys.readouterr().err.split()[:2] == ["epoch", "train_loss"]  # progress=True: the table


def test_batches_go_to_the_loaders_device_and_the_model_with_them():
    x, y = torch.zeros(6, 2), torch.arange(6)
    dls = DataLoaders(DataLoader((x, y), 4), DataLoader(list(zip(x, y.tolist())), 4), device="meta")
    (xb, yb), (xv, yv) = next(iter(dls.train)), next(iter(dls.valid))
    assert {xb.device.type, yb.device.type, xv.device.type, yv.device.type} == {"meta"}
    assert Learner(dls, nn.Linear(2, 1), progress=False).model.weight.device.type == "meta"
    xb, yb = next(iter(DataLoaders(DataLoader((x, y), 4), DataLoader((x, y), 4)).train))
    assert xb.device.type == "cpu" and dls.train.device == dls.valid.device == "meta"
    assert DataLoader(range(3), 2, device="meta")._to_device("text") == "text"  # not a tensor: as it is


def test_the_recorders_smoothed_loss_is_debiased_from_the_first_batch():
    x = torch.zeros(8, 1)
    learn = Learner(DataLoaders(DataLoader((x, x), 2), None), nn.Linear(1, 1),
                    loss_func=lambda p, t: 0 * p.sum() + 2.0, progress=False)
    learn.fit(1, lr=0.1)
    assert learn.recorder.losses == pytest.approx([2.0] * 4)  # a constant loss stays itself, from batch 0
    empty = Learner(DataLoaders(DataLoader((x[:0], x[:0]), 2), None), nn.Linear(1, 1), progress=False)
    empty.fit(1, lr=0.1)
    assert math.isnan(empty.recorder.values[0][0])


def test_only_a_tuple_of_equal_length_tensors_takes_the_fast_path():
    from digitlab.train.learner import _is_tensor_tuple, collate

    x, y = torch.zeros(3, 2), torch.arange(3)
    assert _is_tensor_tuple((x, y)) and _is_tensor_tuple((x,))
    assert not _is_tensor_tuple(()) and not _is_tensor_tuple([x, y]) and not _is_tensor_tuple((x, y[:2]))
    assert not _is_tensor_tuple((torch.tensor(1.0), torch.ones(1))) and not _is_tensor_tuple(("ab", "cd"))
    assert collate([(1, "a")]) == (torch.tensor([1]), ("a",))


def test_each_pass_without_set_epoch_takes_the_next_epochs_order():
    dl = DataLoader(range(50), 50, shuffle=True, seed=3)
    orders = [next(iter(dl)).tolist() for _ in range(3)]
    assert orders[0] != orders[1] != orders[2] != orders[0]
    dl.set_epoch(2)
    assert next(iter(dl)).tolist() == orders[2]
    unseeded = [b.tolist() for b in DataLoader(range(10), 5, shuffle=True)]  # torch's global generator
    assert sorted(sum(unseeded, [])) == list(range(10))


def test_the_learners_defaults_show_progress_at_lr_0_1():
    learn = Learner(DataLoaders(DataLoader(range(2), 2), None), nn.Linear(1, 1))
    assert learn.lr == 0.1 and any(isinstance(cb, ProgressCallback) for cb in learn.cbs)
    from digitlab.train.callbacks import ShortEpochCallback

    short = ShortEpochCallback()
    assert (short.pct, short.short_valid) == (0.01, True)  # fastai's defaults


def test_the_progress_bar_starts_each_epoch_from_zero(tiny):
    learn = Learner(DataLoaders(DataLoader(tiny, 64), None), _net(), loss_func=scratch.mnist_loss, progress=False)
    learn.recorder.before_fit(learn)
    progress = ProgressCallback()
    progress.before_fit(learn)
    for learn.epoch in range(2):
        progress.before_epoch(learn)
        for _ in range(5):
            progress.after_batch(learn)
    (task,) = progress.bar.tasks
    progress.after_fit(learn)
    assert (task.completed, task.total, task.description) == (5, 12, "epoch 1")


def test_lr_find_after_a_fit_gives_the_same_optimiser_back(tiny):
    learn = Learner(DataLoaders(DataLoader(tiny, 64), None), _net(), opt_func=lambda ps, lr: SGD(ps, lr, mom=0.9),
                    loss_func=scratch.mnist_loss, progress=False)
    learn.fit(1, lr=0.1)
    opt = learn.opt
    learn.lr_find(num_it=5)
    assert learn.opt is opt and opt.grad_avg[0] is not None  # its momentum kept for the next fit
