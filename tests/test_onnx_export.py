"""`digitlab export-model`: each method's ONNX file, run by ONNX Runtime, gives the answers digitlab's
own `predict_proba` gives on the same images (same digit for every image, probabilities within 1e-4),
under one contract; a damaged model or a missing folder is one line. The whole test set's figures
and the speeds are benchmarks/onnx_parity.py's."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pip install 'digitlab[onnx]')")
pytest.importorskip("onnxscript", reason="onnxscript, torch.onnx's exporter, is not installed "
                                         "(pip install 'digitlab[onnx]')")
onnx = pytest.importorskip("onnx", reason="onnx is not installed (pip install 'digitlab[onnx]')")

from digitlab import classifiers, cli, pretrained, service  # noqa: E402
from digitlab.errors import DigitlabError  # noqa: E402
from digitlab.onnx import export_onnx  # noqa: E402
from digitlab.onnx import export as onnx_export  # noqa: E402
from digitlab.vision import input_cleaning  # noqa: E402
from cli_run import assert_one_line_error, digitlab  # noqa: E402
from hostile import leftovers  # noqa: E402

TOLERANCE = 1e-4  # the bound on |ONNX Runtime - torch| for any probability
EVERY = 20  # every 20th MNIST test digit: 500 of them, spread over the whole file


@pytest.fixture(scope="session")
def shipped_onnx(tmp_path_factory) -> dict:
    """Each shipped method copied out of the package and exported once: method -> (folder, file);
    the cnn by the command, the others by `export_onnx`."""
    root = tmp_path_factory.mktemp("shipped-onnx")
    exported = {}
    for method in classifiers.METHODS:
        folder = root / method
        shutil.copytree(pretrained.path(method), folder)
        if method == "cnn":
            assert cli.main(["export-model", str(folder), "--format", "onnx"]) == 0
            exported[method] = (folder, folder / "model.onnx")
        else:
            exported[method] = (folder, export_onnx(folder))
    return exported


def binary_export(root, method: str, **options):
    """A 3-vs-7 model trained on mnist_tiny and exported beside its folder: (folder, file)."""
    from digitlab.data import datasets

    train = datasets.load("mnist_tiny", "train")
    folder = root / method
    classifiers.make(method, **options).fit(train.images, train.labels, progress=False).save(folder)
    return folder, export_onnx(folder, out=root / f"{method}-3-7.onnx")


@pytest.fixture(scope="session")
def binary_onnx(tmp_path_factory) -> dict:
    """3-vs-7 models: the book's one-output linear model (a sigmoid, not a softmax); under -m slow,
    pixel similarity by the L1 distance too (the graph's own sums: cdist has no ONNX form). Every
    method's binary model: benchmarks/onnx_parity.py."""
    return {"linear": binary_export(tmp_path_factory.mktemp("binary-linear"), "linear", epochs=2)}


@pytest.fixture(scope="session")
def l1_onnx(tmp_path_factory) -> dict:
    return {"pixel": binary_export(tmp_path_factory.mktemp("binary-l1"), "pixel", distance="l1")}


def run_onnx(path, images: torch.Tensor) -> torch.Tensor:
    """ONNX Runtime's probabilities for (N, 28, 28) uint8 images, fed as the contract says."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    pixels = (images.float() / 255).numpy()[:, None]  # (N, 1, 28, 28) float32
    return torch.from_numpy(session.run(["probabilities"], {"pixels": pixels})[0])


def assert_same_answers(onnx_p: torch.Tensor, torch_p: torch.Tensor) -> None:
    assert onnx_p.shape == torch_p.shape and onnx_p.dtype == torch.float32
    assert torch.equal(onnx_p.argmax(1), torch_p.argmax(1))
    assert float((onnx_p - torch_p).abs().max()) <= TOLERANCE


def needing_cleaning(images: torch.Tensor) -> torch.Tensor:
    """(N, 28, 28) uint8 MNIST digits made into the inputs the graph must clean as the models do: on a
    grey page, faint, moved off-centre, sprinkled with salt-and-pepper noise (a quarter each)."""
    x = images.float() / 255
    quarters = x.chunk(4)
    grey = (quarters[0] * 0.7 + 0.3)  # the page at 0.3, the ink at full strength
    faint = quarters[1] * 0.5
    n = len(quarters[2])
    moved = input_cleaning.moved(quarters[2], torch.full((n,), 3), torch.full((n,), -3))  # 3 px down and left
    noisy = quarters[3].clone()
    where = torch.Generator().manual_seed(0)
    spots = torch.rand(noisy.shape, generator=where) < 0.02  # 2 % of pixels flipped to white
    noisy[spots] = 1.0
    return (torch.cat([grey, faint, moved, noisy]) * 255).round().to(torch.uint8)


@pytest.mark.parametrize("method", classifiers.METHODS)
def test_onnx_runtime_answers_as_torch_does_on_mnist_test_digits(shipped_onnx, method, mnist_test):
    folder, path = shipped_onnx[method]
    images = mnist_test.images[::EVERY]  # (500, 28, 28) uint8
    clf = service.load(folder)
    assert_same_answers(run_onnx(path, images), clf.predict_proba(images).float())


@pytest.mark.parametrize("method", classifiers.METHODS)
def test_the_input_cleaning_is_inside_the_graph(shipped_onnx, method, mnist_test):
    folder, path = shipped_onnx[method]
    images = needing_cleaning(mnist_test.images[1:401:5])  # 80 digits, 20 of each kind
    clf = service.load(folder)
    assert_same_answers(run_onnx(path, images), clf.predict_proba(images).float())


def test_the_file_declares_the_contract(shipped_onnx):
    folder, path = shipped_onnx["cnn"]
    assert path == folder / "model.onnx"
    model = onnx.load(str(path))
    meta = {p.key: p.value for p in model.metadata_props}
    assert json.loads(meta["digitlab.classes"]) == list(range(10)) and meta["digitlab.method"] == "cnn"
    (pixels,), (probabilities,) = model.graph.input, model.graph.output
    assert (pixels.name, probabilities.name) == ("pixels", "probabilities")
    dims = pixels.type.tensor_type.shape.dim
    assert dims[0].dim_param and [d.dim_value for d in dims[1:]] == [1, 28, 28]  # N free
    assert pixels.type.tensor_type.elem_type == onnx.TensorProto.FLOAT


def test_any_batch_size_gives_each_image_its_own_answer(shipped_onnx, mnist_test):
    _, path = shipped_onnx["simple_net"]
    images = mnist_test.images[:7]
    together = run_onnx(path, images)
    alone = torch.cat([run_onnx(path, images[i:i + 1]) for i in range(7)])
    torch.testing.assert_close(alone, together, atol=1e-6, rtol=0)
    assert torch.equal(together.argmax(1), mnist_test.labels[:7])  # and they are the digits shown


@pytest.mark.parametrize("method, models", [("linear", "binary_onnx"),
                                            pytest.param("pixel", "l1_onnx", marks=pytest.mark.slow)])
def test_a_binary_model_exports_with_its_own_two_classes(request, method, models):
    from digitlab.data import datasets

    folder, path = request.getfixturevalue(models)[method]
    valid = datasets.load("mnist_tiny", "valid")
    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert json.loads(meta["digitlab.classes"]) == [3, 7]
    clf = service.load(folder)
    onnx_p = run_onnx(path, valid.images)
    assert_same_answers(onnx_p, clf.predict_proba(valid.images).float())
    right = (torch.tensor([3, 7])[onnx_p.argmax(1)] == valid.labels).float().mean()
    assert right > 0.9  # column 0 is the 3: read the wrong way round this would be under 0.1


def _damaged(shipped_onnx, tmp_path, how: str):
    folder = tmp_path / "damaged"
    shutil.copytree(shipped_onnx["linear"][0], folder)
    (folder / "model.onnx").unlink()
    if how == "weights":
        (folder / "model.safetensors").write_bytes(b"not safetensors at all")
    elif how == "config":
        (folder / "config.json").unlink()
    else:  # a weight of another shape than config.json and the network say
        from safetensors.torch import load_file, save_file

        tensors = load_file(folder / "model.safetensors")
        tensors["model.1.weight"] = tensors["model.1.weight"][:, :700].contiguous()
        save_file(tensors, folder / "model.safetensors")
    return folder


@pytest.mark.parametrize("how, named", [("weights", "not a safetensors file"), ("config", "no config.json"),
                                        ("shape", "tensor 'model.1.weight' is (10, 700)")])
def test_a_damaged_model_is_refused_in_one_line(shipped_onnx, tmp_path, capsys, how, named):
    folder = _damaged(shipped_onnx, tmp_path, how)
    code, _, err = digitlab(capsys, "export-model", folder, "--format", "onnx")
    assert_one_line_error(code, err, str(folder), named)
    assert not (folder / "model.onnx").exists() and leftovers(tmp_path) == []


def test_out_into_a_folder_that_does_not_exist_is_one_line(shipped_onnx, tmp_path, capsys):
    folder, _ = shipped_onnx["pixel"]
    code, _, err = digitlab(capsys, "export-model", folder, "--out", tmp_path / "nowhere" / "m.onnx")
    assert_one_line_error(code, err, str(tmp_path / "nowhere"), "does not exist")


def test_without_the_exporter_it_says_what_to_install(monkeypatch, tmp_path):
    real = onnx_export.importlib.util.find_spec
    monkeypatch.setattr(onnx_export.importlib.util, "find_spec",
                        lambda name, *a: None if name == "onnxscript" else real(name, *a))
    with pytest.raises(DigitlabError, match=r"needs onnxscript, not installed; pip install 'digitlab\[onnx\]'"):
        export_onnx(tmp_path)
