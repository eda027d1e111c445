"""BasicOptim, SGD and NesterovSGD against torch.optim.SGD; the one-cycle schedule's shape."""

import contextlib

import pytest
import torch
from torch.testing import assert_close

from digitlab.train.optim import SGD, BasicOptim, NesterovSGD, one_cycle


def _run(make_opt, steps=5, seed=0):
    torch.manual_seed(seed)
    model = torch.nn.Linear(20, 3)
    x, y = torch.randn(32, 20), torch.randint(0, 3, (32,))
    opt = make_opt(model.parameters())
    for _ in range(steps):
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        opt.zero_grad()
    return [p.detach() for p in model.parameters()]


def test_basic_optim_steps_like_torch_sgd():
    mine = _run(lambda ps: BasicOptim(ps, lr=0.3))
    theirs = _run(lambda ps: torch.optim.SGD(ps, lr=0.3))
    for a, b in zip(mine, theirs):
        assert_close(a, b)


def test_basic_optim_zero_grad_clears_gradients():
    p = torch.ones(3, requires_grad=True)
    (p * 2).sum().backward()
    opt = BasicOptim([p], 0.1)
    opt.step()
    assert_close(p.detach(), torch.full((3,), 0.8))
    opt.zero_grad()
    assert p.grad is None


@pytest.mark.parametrize("mom", [0.0, 0.9])
def test_sgd_with_momentum_steps_like_torch_sgd(mom):
    mine = _run(lambda ps: SGD(ps, lr=0.1, mom=mom))
    theirs = _run(lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=mom))
    for a, b in zip(mine, theirs):
        assert_close(a, b)


def test_sgd_weight_decay_is_decoupled_like_adamw():
    # fastai's "true" weight decay: p <- p * (1 - lr*wd) - lr*grad, which is what torch.optim.AdamW
    # does to the weights; with plain SGD it equals torch.optim.SGD on a loss without L2, after the
    # weights shrink. Checked on one step by hand.
    p = torch.tensor([1.0, -2.0], requires_grad=True)
    (p * torch.tensor([3.0, 4.0])).sum().backward()
    SGD([p], lr=0.1, wd=0.5).step()
    assert_close(p.detach(), torch.tensor([1.0 * 0.95 - 0.3, -2.0 * 0.95 - 0.4]))


def test_sgd_state_round_trips_through_tensors():
    model = torch.nn.Linear(4, 2)
    opt = SGD(model.parameters(), lr=0.1, mom=0.9)
    model(torch.ones(1, 4)).sum().backward()
    opt.step()
    state = opt.state_dict()
    assert set(state) == {"grad_avg.0", "grad_avg.1"}
    other = SGD(model.parameters(), lr=0.1, mom=0.9)
    other.load_state_dict(state)
    assert_close(other.grad_avg[0], opt.grad_avg[0])


def test_nesterov_sgd_steps_like_torch_sgd_with_split_weight_decay():
    # The recipe decays the weights but not the biases (nor batch-norm scales).
    def ours(params):
        weight, bias = params
        return NesterovSGD([weight], [bias], lr=0.1, mom=0.9, wd=0.01)

    def theirs(params):
        weight, bias = params
        groups = [{"params": [weight], "weight_decay": 0.01}, {"params": [bias], "weight_decay": 0.0}]
        return torch.optim.SGD(groups, lr=0.1, momentum=0.9, nesterov=True)

    for a, b in zip(_run(lambda ps: ours(list(ps))), _run(lambda ps: theirs(list(ps)))):
        assert_close(a, b)


def test_nesterov_sgd_follows_lr_and_momentum_set_between_steps():
    # The schedule changes lr and momentum each step; torch.optim sees it through param_groups.
    def run(make):
        torch.manual_seed(0)
        model = torch.nn.Linear(6, 2)
        x = torch.randn(8, 6)
        opt, set_hyper = make(model)
        for step in range(4):
            set_hyper(opt, 0.05 * (step + 1), 0.95 - 0.05 * step)
            model(x).pow(2).mean().backward()
            opt.step()
            opt.zero_grad()
        return [p.detach() for p in model.parameters()]

    def ours(model):
        return NesterovSGD([model.weight], [model.bias], lr=0.1, mom=0.9, wd=0.0), \
            lambda o, lr, mom: setattr(o, "lr", lr) or setattr(o, "mom", mom)

    def torch_sgd(model):
        def set_hyper(o, lr, mom):
            for g in o.param_groups:
                g["lr"], g["momentum"] = lr, mom
        return torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True), set_hyper

    for a, b in zip(run(ours), run(torch_sgd)):
        assert_close(a, b)


def test_nesterov_sgd_state_resumes_exactly():
    def model_and_opt():
        torch.manual_seed(0)
        model = torch.nn.Linear(4, 2)
        return model, NesterovSGD([model.weight], [model.bias], lr=0.1, mom=0.9, wd=1e-3)

    x = torch.randn(5, 4)

    def step(model, opt):
        model(x).pow(2).sum().backward()
        opt.step()
        opt.zero_grad()

    straight, opt = model_and_opt()
    for _ in range(3):
        step(straight, opt)
    resumed, first = model_and_opt()
    step(resumed, first)
    state = first.state_dict()
    assert set(state) == {"momentum.0", "momentum.1"}
    second = NesterovSGD([resumed.weight], [resumed.bias], lr=0.1, mom=0.9, wd=1e-3)
    second.load_state_dict(state)
    for _ in range(2):
        step(resumed, second)
    for a, b in zip(straight.parameters(), resumed.parameters()):
        assert_close(a.detach(), b.detach())
    with pytest.raises(ValueError, match="momentum"):
        second.load_state_dict({"momentum.0": state["momentum.0"]})


def test_one_cycle_warms_up_then_anneals_with_momentum_opposite():
    lr_max = 0.1
    assert one_cycle(0.0, lr_max) == pytest.approx((lr_max / 25, 0.95))
    assert one_cycle(0.25, lr_max) == pytest.approx((lr_max, 0.85))
    lr_end, mom_end = one_cycle(1.0, lr_max)
    assert lr_end == pytest.approx(lr_max / 1e5) and mom_end == pytest.approx(0.95)
    lrs = [one_cycle(i / 100, lr_max)[0] for i in range(101)]
    assert max(lrs) == pytest.approx(lr_max)
    assert all(a <= b for a, b in zip(lrs[:25], lrs[1:26]))  # rising
    assert all(a >= b for a, b in zip(lrs[25:], lrs[26:]))  # falling


def _ops_in_a_step(n_layers: int) -> int:
    """How many aten calls NesterovSGD's second step makes for a stack of n_layers linear layers."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Count(TorchDispatchMode):
        calls = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            Count.calls += 1
            return func(*args, **(kwargs or {}))

    model = torch.nn.Sequential(*[torch.nn.Linear(3, 3) for _ in range(n_layers)])
    opt = NesterovSGD([m.weight for m in model], [m.bias for m in model], lr=0.1, mom=0.9, wd=0.01)
    for step in range(2):  # the first step makes the momentum buffers; the second is a steady one
        opt.zero_grad()
        model(torch.ones(2, 3)).sum().backward()
        with Count() if step else contextlib.nullcontext():
            opt.step()
    return Count.calls


def test_nesterov_sgd_step_is_a_few_fused_calls_whatever_the_number_of_parameters():
    # On CUDA each aten call is a kernel launch, and a seconds-long run is made of launches.
    assert _ops_in_a_step(1) == _ops_in_a_step(12) <= 6


def test_nesterov_sgd_leaves_each_grad_as_backward_computed_it():
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 2)
    opt = NesterovSGD([model.weight], [model.bias], lr=0.1, mom=0.9, wd=0.01)
    for _ in range(2):
        opt.zero_grad()
        model(torch.randn(3, 4)).pow(2).sum().backward()
        computed = [p.grad.clone() for p in model.parameters()]
        opt.step()
        for p, g in zip(model.parameters(), computed):
            assert torch.equal(p.grad, g)


def test_lr_and_momentum_held_in_tensors_give_the_steps_of_plain_numbers():
    # A step recorded as a CUDA graph reads lr and momentum from tensors the schedule fills.
    torch.manual_seed(0)
    models = [torch.nn.Linear(4, 2) for _ in range(2)]
    models[1].load_state_dict(models[0].state_dict())
    opts = [NesterovSGD([m.weight], [m.bias], lr=0.1, mom=0.9, wd=0.01) for m in models]
    opts[1].hold_on(torch.device("cpu"))
    start = [p.detach().clone() for p in models[0].parameters()]
    batches = [torch.randn(3, 4) for _ in range(4)]
    for i, xb in enumerate(batches):
        for model, opt in zip(models, opts):
            opt.schedule(0.1 + 0.05 * i, 0.95 - 0.03 * i)
            opt.zero_grad()
            model(xb).pow(2).sum().backward()
            opt.step()
    assert isinstance(opts[1].lr, torch.Tensor) and opts[1].lr.item() == pytest.approx(0.25)
    assert isinstance(opts[0].lr, float) and opts[0].lr == pytest.approx(0.25)
    for a, b, before in zip(models[0].parameters(), models[1].parameters(), start):
        assert not torch.equal(a, before)  # the steps did move the weights
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)  # float32 lr vs a double


def test_one_cycle_midway_through_each_phase_is_halfway_between_its_ends():
    lr_max = 0.1  # cosine from one end to the other: at the middle of a phase, the mean of its ends
    assert one_cycle(0.125, lr_max) == pytest.approx(((lr_max / 25 + lr_max) / 2, 0.90))
    assert one_cycle(0.625, lr_max) == pytest.approx(((lr_max + lr_max / 1e5) / 2, 0.90))
    assert one_cycle(0.05, lr_max, div=10, pct_start=0.1, moms=(0.9, 0.8, 0.7)) == pytest.approx((0.055, 0.85))
    assert one_cycle(0.55, lr_max, div_final=10, pct_start=0.1, moms=(0.9, 0.8, 0.7)) == pytest.approx((0.055, 0.75))
    assert one_cycle(0.1, lr_max, pct_start=0.1, moms=(0.9, 0.8, 0.7)) == pytest.approx((lr_max, 0.8))


@pytest.mark.parametrize("opt_class, key", [(SGD, "grad_avg.0"), (NesterovSGD, "momentum.0")])
def test_a_loaded_momentum_takes_the_parameters_dtype(opt_class, key):
    param = torch.zeros(3, requires_grad=True)
    opt = NesterovSGD([param], [], lr=0.1, mom=0.9, wd=0.0) if opt_class is NesterovSGD else SGD([param], lr=0.1, mom=0.9)
    saved = torch.arange(3, dtype=torch.float64)
    opt.load_state_dict({**opt.state_dict(), key: saved})
    loaded = opt.state_dict()[key]
    assert loaded.dtype == torch.float32 and torch.equal(loaded, saved.float())
    saved += 1  # a copy, not the caller's tensor
    assert torch.equal(opt.state_dict()[key], torch.arange(3.0))
