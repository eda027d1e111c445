"""Checkpoints: safetensors + config.json, atomic, and every kind of bad folder refused."""

import errno
import json
import os

import pytest
import torch

from digitlab.errors import ModelError, OutputError
from digitlab.store import checkpoint

CONFIG = {"method": "linear", "classes": [3, 7], "config": {"lr": 1.0}}


def _save(tmp_path, tensors=None):
    tensors = tensors if tensors is not None else {"model.weight": torch.ones(1, 784), "model.bias": torch.zeros(1)}
    return checkpoint.save(tmp_path / "ck", tensors, CONFIG)


def test_save_then_load_gives_back_tensors_and_config(tmp_path):
    folder = _save(tmp_path)
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]
    tensors, config = checkpoint.load(folder)
    assert torch.equal(tensors["model.weight"], torch.ones(1, 784))
    assert config["classes"] == [3, 7] and config["digitlab_version"]
    assert config["tensors"]["model.bias"] == {"shape": [1], "dtype": "float32"}


def test_saving_again_replaces_the_folder_and_leaves_no_temporary_files(tmp_path):
    _save(tmp_path)
    _save(tmp_path, {"means": torch.zeros(2, 28, 28)})
    tensors, _ = checkpoint.load(tmp_path / "ck")
    assert list(tensors) == ["means"]
    assert [p.name for p in tmp_path.iterdir()] == ["ck"]


def test_a_failed_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    _save(tmp_path)

    def disk_full(tensors):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint, "to_bytes", disk_full)
    with pytest.raises(OutputError, match="cannot write here"):
        _save(tmp_path)
    tensors, _ = checkpoint.load(tmp_path / "ck")
    assert "model.weight" in tensors and [p.name for p in tmp_path.iterdir()] == ["ck"]


def test_ctrl_c_between_the_two_renames_puts_the_previous_checkpoint_back(tmp_path, monkeypatch):
    _save(tmp_path)
    real_replace, calls = os.replace, []

    def interrupted_second_rename(src, dst):
        calls.append(src)
        if len(calls) == 2:  # the old folder has stepped aside; the new one is not in yet
            raise KeyboardInterrupt
        real_replace(src, dst)

    monkeypatch.setattr(checkpoint.os, "replace", interrupted_second_rename)
    with pytest.raises(KeyboardInterrupt):
        _save(tmp_path, {"means": torch.zeros(2, 28, 28)})
    monkeypatch.undo()
    tensors, _ = checkpoint.load(tmp_path / "ck")
    assert "model.weight" in tensors and [p.name for p in tmp_path.iterdir()] == ["ck"]


def test_a_missing_folder_is_refused(tmp_path):
    with pytest.raises(ModelError, match="no such checkpoint folder"):
        checkpoint.load(tmp_path / "nowhere")


def test_a_pickle_in_place_of_safetensors_is_refused(tmp_path):
    folder = _save(tmp_path)
    torch.save({"model.weight": torch.ones(1, 784)}, folder / "model.safetensors")
    with pytest.raises(ModelError, match="not a safetensors file"):
        checkpoint.load(folder)


def test_a_folder_with_only_a_pickle_is_refused_by_name(tmp_path):
    folder = _save(tmp_path)
    (folder / "model.safetensors").unlink()
    torch.save({}, folder / "model.pt")
    with pytest.raises(ModelError, match="never loads pickled"):
        checkpoint.load(folder)


def test_a_wrong_shape_tensor_is_refused(tmp_path):
    folder = _save(tmp_path)
    config = json.loads((folder / "config.json").read_text())
    config["tensors"]["model.weight"]["shape"] = [10, 784]
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelError, match="'model.weight' is \\(1, 784\\)"):
        checkpoint.load(folder)


@pytest.mark.parametrize("change, word", [("drop", "missing: model.bias"), ("add", "unexpected: extra")])
def test_missing_or_extra_tensors_are_refused(tmp_path, change, word):
    folder = _save(tmp_path)
    config = json.loads((folder / "config.json").read_text())
    if change == "drop":
        tensors = {"model.weight": torch.ones(1, 784)}
    else:
        tensors = {"model.weight": torch.ones(1, 784), "model.bias": torch.zeros(1), "extra": torch.ones(2)}
    from safetensors.torch import save_file

    save_file(tensors, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelError, match=word):
        checkpoint.load(folder)


@pytest.mark.parametrize(
    "text, word",
    [(None, "no config.json"), ("{not json", "not valid JSON"), ('{"format": "other"}', "not a digitlab"),
     ('{"format": "digitlab-checkpoint-1", "method": "linear"}', "missing classes, config, tensors")],
)
def test_a_missing_or_invalid_config_is_refused(tmp_path, text, word):
    folder = _save(tmp_path)
    if text is None:
        (folder / "config.json").unlink()
    else:
        (folder / "config.json").write_text(text)
    with pytest.raises(ModelError, match=word):
        checkpoint.load(folder)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.int64, torch.int32])
def test_a_weight_of_another_dtype_than_the_manifest_is_refused_in_one_line(tmp_path, dtype):
    from safetensors.torch import save_file

    folder = _save(tmp_path)  # the manifest says float32
    save_file({"model.weight": torch.ones(1, 784, dtype=dtype), "model.bias": torch.zeros(1)},
              str(folder / "model.safetensors"))
    with pytest.raises(ModelError) as refused:
        checkpoint.load(folder)
    message = str(refused.value)
    assert "\n" not in message
    assert "'model.weight'" in message and str(dtype) in message and "float32" in message
    assert "damaged" in message


def test_a_float64_checkpoint_whose_manifest_says_float64_still_loads(tmp_path):
    folder = _save(tmp_path, {"model.weight": torch.ones(1, 784, dtype=torch.float64), "model.bias": torch.zeros(1)})
    tensors, config = checkpoint.load(folder)
    assert tensors["model.weight"].dtype == torch.float64 and config["tensors"]["model.weight"]["dtype"] == "float64"
