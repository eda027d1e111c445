"""Hostile model folders: every field of config.json and every weight is untrusted. Each case is one
`digitlab: error:` line naming the file and the field, exit 2, no traceback, nothing left behind."""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from digitlab import classifiers
from digitlab.classifiers.cnn.config import CNNConfig
from digitlab.store import schema
from cli_run import digitlab
from hostile import png, refused


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    from digitlab.data import datasets

    root = tmp_path_factory.mktemp("models")
    train = datasets.load("mnist_tiny", "train")
    X, y = train.images[::3], train.labels[::3]  # both digits (the folder lists 3s, then 7s)
    classifiers.make("linear", epochs=1).fit(X, y, progress=False).save(root / "linear")
    classifiers.make("simple_net", epochs=1).fit(X, y, progress=False).save(root / "simple_net")
    classifiers.make("cnn", epochs=1, batch_size=64).fit(X, y, progress=False).save(root / "cnn")
    classifiers.make("pixel").fit(X, y).save(root / "pixel")
    digit = datasets.load("mnist_tiny", "valid").images[0].numpy()
    (root / "digit.png").write_bytes(png(255 - digit))
    return root


def _copy(models, tmp_path, method="linear"):
    shutil.copytree(models / method, tmp_path / "m")
    shutil.copy(models / "digit.png", tmp_path / "digit.png")
    return tmp_path / "m"


def _nest(depth: int) -> dict:
    tree = {"value": 1}
    for _ in range(depth):
        tree = {"list": [tree]}
    return tree


def _set(path: str, value):
    """A change to config.json: put `value` at the dotted `path`."""
    def change(config):
        *parents, last = path.split(".")
        for key in parents:
            config = config[key]
        config[last] = value
    return change


# (case, method, change to the parsed config.json, what the one line must name)
CONFIG_CASES = [
    ("unknown method", "linear", _set("method", "forest"), "field method is 'forest'"),
    ("one class", "linear", _set("classes", [3]), "field classes is [3]"),
    ("classes as text", "linear", _set("classes", ["3", "7"]), "field classes[0] is '3'"),
    ("classes out of order", "linear", _set("classes", [7, 3]), "field classes is [7, 3]"),
    ("digit 12", "linear", _set("classes", [3, 12]), "field classes[1] is 12"),
    ("epochs as text", "linear", _set("config.epochs", "ten"), "field config.epochs is 'ten'"),
    ("epochs a boolean", "linear", _set("config.epochs", True), "field config.epochs is true"),
    ("negative lr", "linear", _set("config.lr", -1), "field config.lr is -1"),
    ("batch of 1e15", "linear", _set("config.batch_size", 1e15), "field config.batch_size is 1000000000000000.0"),
    ("unknown trainer", "linear", _set("config.trainer", "gpu"), "field config.trainer is 'gpu'"),
    ("negative seed", "linear", _set("config.seed", -1), "field config.seed is -1"),
    ("unknown option", "linear", _set("config.bogus", 1), "field config has unknown key(s) 'bogus'"),
    ("config a list", "linear", _set("config", [1, 2]), "field config is [1, 2]"),
    ("hidden width 1e15", "simple_net", _set("config.hidden", 10**15), "field config.hidden is 1000000000000000"),
    ("hidden width 0", "simple_net", _set("config.hidden", 0), "field config.hidden is 0"),
    ("recipe width 1e9", "cnn", _set("config.width", 10**9), "field config.width is 1000000000"),
    ("recipe ensemble 1e6", "cnn", _set("config.ensemble", 10**6), "field config.ensemble is 1000000"),
    ("old form, unknown arch", "cnn", lambda c: c.update(config={"arch": "vit", "preset": "fast", "seed": 0}),
     "field config.arch is 'vit'"),
    ("old recipe width 1e9", "cnn", lambda c: c.update(config={"arch": "fast", "preset": "fast", "seed": 0},
                                                     recipe={"width": 10**9}), "field recipe.width is 1000000000"),
    ("history not a list", "linear", _set("history", {"a": 1}), "field history is {'a': 1}"),
    ("history row nested", "linear", _set("history", [{"epoch": [1]}]), "field history[0].epoch is [1]"),
    ("accuracy 5", "linear", _set("accuracy", 5), "field accuracy is 5"),
    ("normalisation of 10k characters", "linear", _set("normalisation", "x" * 10_000), "field normalisation is 'xxx"),
    ("training epoch as text", "linear", _set("training.epoch", "x"), "field training.epoch is 'x'"),
    ("optimizer state 20 deep", "linear", _set("training.optimizer", _nest(20)), "field training.optimizer.list[0].list[0]"),
    ("dtype float128", "linear", lambda c: c["tensors"]["model.1.weight"].update(dtype="float128"),
     "field tensors.model.1.weight.dtype is 'float128'"),
    ("shape of 9 dimensions", "linear", lambda c: c["tensors"]["model.1.weight"].update(shape=[1] * 9),
     "field tensors.model.1.weight.shape is"),
    ("manifest shape differs", "linear", lambda c: c["tensors"]["model.1.weight"].update(shape=[2, 784]),
     "tensor 'model.1.weight' is (1, 784), but config.json says (2, 784)"),
    ("manifest lacks a tensor", "linear", lambda c: c["tensors"].pop("model.1.bias"), "missing: none; unexpected: model.1.bias"),
    ("format wrong", "linear", _set("format", "keras"), "format is not 'digitlab-checkpoint-1'"),
    ("a tensor name of 300 characters", "linear", lambda c: c["tensors"].update({"x" * 300: {}}),
     "field tensors has a key of 300 characters"),
]


@pytest.mark.parametrize("method, change, names", [c[1:] for c in CONFIG_CASES], ids=[c[0] for c in CONFIG_CASES])
def test_a_bad_config_field_is_one_line_naming_the_file_and_the_field(models, tmp_path, capsys, method, change, names):
    folder = _copy(models, tmp_path, method)
    config = json.loads((folder / "config.json").read_text())
    change(config)
    (folder / "config.json").write_text(json.dumps(config))
    refused(capsys, tmp_path, "predict", folder, tmp_path / "digit.png", names=(str(folder), names))


# (case, what to write as config.json, what the one line must name)
RAW_CASES = [
    ("nested 100,000 deep", "[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ("over 16 MB", '{"format": "' + "x" * (17 << 20) + '"}', "bytes, more than any digitlab config"),
    ("not JSON", "{oops", "not valid JSON"),
    ("a bare NaN", '{"format": "digitlab-checkpoint-1", "accuracy": NaN}', "NaN is not a number JSON allows"),
    ("not UTF-8", b"\xff\xfe{}", "not valid JSON"),
    ("a list", "[1, 2]", "format is not"),
]


@pytest.mark.parametrize("text, names", [c[1:] for c in RAW_CASES], ids=[c[0] for c in RAW_CASES])
def test_a_config_that_is_not_a_config_is_one_line(models, tmp_path, capsys, text, names):
    folder = _copy(models, tmp_path)
    path = folder / "config.json"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    refused(capsys, tmp_path, "predict", folder, tmp_path / "digit.png", names=(f"{path}: ", names))


def _weights(value):
    def change(tensors):
        tensors["model.1.weight"][0, 5] = value
    return change


def _vast(tensors):
    """Finite weights so large that the output overflows: +-3e38 side by side sums to inf - inf."""
    w = tensors["model.1.weight"]
    w[0] = torch.tensor([3e38, -3e38] * 392)


WEIGHT_CASES = [
    ("a NaN weight", _weights(float("nan")), "tensor 'model.1.weight' holds NaN or infinite numbers"),
    ("an infinite weight", _weights(float("inf")), "tensor 'model.1.weight' holds NaN or infinite numbers"),
    ("vast finite weights", _vast, "the model's outputs are not numbers"),
]


@pytest.mark.parametrize("change, names", [c[1:] for c in WEIGHT_CASES], ids=[c[0] for c in WEIGHT_CASES])
@pytest.mark.parametrize("command", ["predict", "predict --json", "evaluate"])
def test_weights_that_are_not_numbers_never_predict(models, tmp_path, capsys, change, names, command):
    folder = _copy(models, tmp_path)
    tensors = load_file(str(folder / "model.safetensors"))
    change(tensors)
    save_file(tensors, str(folder / "model.safetensors"))
    argv = (["evaluate", folder, "--dataset", "mnist_tiny"] if command == "evaluate" else
            [*command.split(), folder, tmp_path / "digit.png"])
    refused(capsys, tmp_path, *argv, names=names)


FILE_CASES = [
    ("weights truncated", lambda f: (f / "model.safetensors").write_bytes((f / "model.safetensors").read_bytes()[:100]),
     "model.safetensors: not a safetensors file"),
    ("weights a pickle", lambda f: torch.save({"w": torch.zeros(2)}, f / "model.safetensors"),
     "model.safetensors: not a safetensors file"),
    ("weights missing", lambda f: (f / "model.safetensors").unlink(), "no model.safetensors"),
    ("config missing", lambda f: (f / "config.json").unlink(), "no config.json"),
    ("weights of another network", lambda f: save_file(
        {"model.1.weight": torch.zeros(1, 784), "model.1.bias": torch.zeros(1), "model.extra": torch.zeros(3)},
        str(f / "model.safetensors")), "unexpected: model.extra"),
]


@pytest.mark.parametrize("change, names", [c[1:] for c in FILE_CASES], ids=[c[0] for c in FILE_CASES])
def test_a_damaged_model_file_is_one_line_naming_it(models, tmp_path, capsys, change, names):
    folder = _copy(models, tmp_path)
    change(folder)
    refused(capsys, tmp_path, "predict", folder, tmp_path / "digit.png", names=names)


def test_an_image_first_is_an_image_for_the_shipped_model(models, tmp_path, capsys):
    # MODEL is optional: a first argument that is no model folder is an image like the rest.
    shutil.copy(models / "digit.png", tmp_path / "digit.png")
    code, out, err = digitlab(capsys, "predict", tmp_path / "digit.png", tmp_path / "digit.png")
    assert code == 0, err
    assert out.count(f"{tmp_path / 'digit.png'}: ") == 2


@pytest.mark.parametrize("method", sorted(classifiers.CLASSES))
def test_every_config_field_has_a_rule(method):
    fields = {f.name for f in dataclasses.fields(classifiers.CLASSES[method].Config)}
    schema.CONFIGS[method]({name: None for name in ()}, "config")  # an empty config passes (defaults)
    unruled = [name for name in fields if name not in schema.CONFIGS[method].__closure__[0].cell_contents]
    assert unruled == []
    if method == "cnn":  # the recipe that a cnn saved before it had one config stores beside it
        recipe_fields = {f.name for f in dataclasses.fields(CNNConfig)}
        assert recipe_fields == set(schema.RECIPE.__closure__[0].cell_contents)


def test_a_good_model_still_loads_and_predicts(models, tmp_path, capsys):
    for method in ("linear", "simple_net", "cnn"):
        code, out, err = digitlab(capsys, "predict", "--json", models / method, models / "digit.png")
        assert code == 0 and np.isfinite(json.loads(out)["probability"]), err


def _retyped(folder, dtype: torch.dtype, manifest_too: bool) -> str:
    """Every float tensor of the model's weights stored as `dtype`; the manifest told so too, or not.
    The first tensor's name, as the manifest spells it."""
    tensors = load_file(str(folder / "model.safetensors"))
    config = json.loads((folder / "config.json").read_text())
    names = sorted(k for k, v in tensors.items() if v.is_floating_point())
    for name in names:
        tensors[name] = tensors[name].to(dtype)
        if manifest_too:
            config["tensors"][name]["dtype"] = str(dtype).removeprefix("torch.")
    save_file(tensors, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps(config))
    return names[0]


@pytest.mark.parametrize("manifest_too", [False, True], ids=["manifest says float32", "manifest agrees"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.int64], ids=["float64", "int64"])
@pytest.mark.parametrize("method", ["pixel", "linear", "simple_net", "cnn"])
def test_weights_of_another_dtype_are_one_line_whether_or_not_the_manifest_agrees(models, tmp_path, capsys,
                                                                                  method, dtype, manifest_too):
    folder = _copy(models, tmp_path, method)
    name = _retyped(folder, dtype, manifest_too)
    # The manifest's own check names the first tensor it reads; the method's, the first retyped one.
    which = "tensor '" if not manifest_too else repr(name) if method == "pixel" else name.removeprefix("model.")
    refused(capsys, tmp_path, "predict", folder, tmp_path / "digit.png",
            names=(which, str(dtype), "float32", "damaged"))
