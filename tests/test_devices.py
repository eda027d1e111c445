"""devices.resolve_device: the one reading of --device, for every command and the cnn recipe; and
`batched`, the one way a model runs over many images."""

import pytest
import torch

from digitlab.errors import DigitlabError
from digitlab.train.devices import batched, device_kind, resolve_device


def test_auto_picks_what_is_here_and_names_are_torch_devices():
    assert resolve_device("auto") == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")


@pytest.mark.parametrize("asked, message", [
    ("tpu", "--device tpu: choose cpu, cuda or auto"),
    ("gpu", "--device gpu: choose cpu, cuda or auto"),
    ("cuda:x", "--device cuda:x: choose cpu, cuda, cuda:N or auto"),
])
def test_other_devices_are_refused_in_one_line(asked, message):
    with pytest.raises(DigitlabError, match=message):
        resolve_device(asked)
    if asked in ("tpu", "gpu"):
        with pytest.raises(DigitlabError, match=message):
            device_kind(asked)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_a_missing_gpu_is_the_users_mistake_but_can_still_be_planned_for():
    with pytest.raises(DigitlabError, match="--device cuda: PyTorch sees no GPU here; use --device cpu or auto"):
        resolve_device("cuda")
    assert device_kind("cuda") == "cuda" and device_kind(torch.device("cuda", 0)) == "cuda"
    assert device_kind("auto") == "cpu"


def test_batched_runs_each_batch_in_order_on_the_device_without_a_graph():
    x = torch.arange(7 * 3, dtype=torch.float32).reshape(7, 3)  # (7, 3): rows tell their order
    weight = torch.ones(3, requires_grad=True)
    seen = []

    def fn(chunk):
        seen.append((len(chunk), chunk.device))
        return chunk @ weight  # (b,)

    out = batched(fn, x, 3, "cpu")
    assert [n for n, _ in seen] == [3, 3, 1]  # one batch at a time, the last one short
    assert all(device == torch.device("cpu") for _, device in seen)
    assert torch.equal(out, x.sum(dim=1))  # every row once, in x's order
    assert not out.requires_grad  # no autograd graph kept


def test_batched_moves_only_a_batch_at_a_time_to_the_device():
    moved = []

    def fn(chunk):
        moved.append(chunk.is_meta)
        return torch.zeros(len(chunk))

    assert batched(fn, torch.zeros(5, 28, 28), 2, "meta").shape == (5,)
    assert moved == [True, True, True]
