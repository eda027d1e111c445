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


def _channels_last(net: torch.nn.Module) -> bool:
    convs = [m.weight for m in net.modules() if isinstance(m, torch.nn.Conv2d) and m.weight.shape[1] > 1]
    return bool(convs) and all(w.is_contiguous(memory_format=torch.channels_last) and not w.is_contiguous()
                               for w in convs)


def test_the_shipped_networks_predict_channels_last_and_answer_as_laid_out_plainly():
    """Every network digitlab loads to predict (the cnn, the gate, the piece judge, the strip reader)
    runs with channels-last weights (devices.for_inference: torch's NCHW max pooling was 4-9x slower
    on CPU), and answers as the plain layout does, within float rounding."""
    from digitlab import pretrained
    from digitlab.data import datasets
    from digitlab.trust import gate, pieces
    from digitlab.vision import strip_reading

    cnn = pretrained.load("cnn")
    images = datasets.load("mnist", "test").images[:64].float() / 255
    fast = cnn.logits(images)  # predict_logits lays the loaded model out for inference
    nets = {"cnn": cnn.model_, "gate": gate.shipped().net, "pieces": pieces.shipped().net,
            "strips": strip_reading.shipped().net}
    assert {name: _channels_last(net) for name, net in nets.items()} == dict.fromkeys(nets, True)
    assert not any(net.training for net in nets.values())
    gate_fast = gate.shipped().proba(images)
    for net in nets.values():
        net.to(memory_format=torch.contiguous_format)
    try:
        plain_gate = gate.net_proba(gate.shipped().net, images)
        with torch.no_grad():
            plain = cnn.model_(images[:, None])
    finally:
        for net in nets.values():
            net.to(memory_format=torch.channels_last)
    assert torch.equal(fast.argmax(1), plain.argmax(1)) and torch.allclose(fast, plain, atol=1e-4)
    assert torch.equal(gate_fast.argmax(1), plain_gate.argmax(1)) and torch.allclose(gate_fast, plain_gate, atol=1e-5)
