"""devices.resolve_device: the one reading of --device, for every command and the cnn recipe."""

import pytest
import torch

from digitlab.errors import DigitlabError
from digitlab.train.devices import device_kind, resolve_device


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
