"""`digitlab export-site DIR`: what it writes, what it refuses, and the vendored ONNX Runtime Web.
The page itself, in a browser: tests/test_site_browser.py."""

from __future__ import annotations

import base64
import hashlib
import json
import lzma
import re
import shutil
from pathlib import Path

import pytest

from digitlab import pretrained
from digitlab.web import site

from cli_run import assert_one_line_error, digitlab

# The page's models are ONNX files: without the exporter (pip install 'digitlab[onnx]') there is no page.
onnx = pytest.importorskip("onnx", reason="export-site needs onnx (pip install 'digitlab[onnx]')")


def constant(path: Path, name: str):
    """The value a classic script written by export-site sets (`const NAME = <JSON>;`)."""
    text = path.read_text()
    start = text.index(f"const {name} = ") + len(f"const {name} = ")
    return json.loads(text[start:text.rindex(";")])


@pytest.fixture
def exported(linear_page) -> Path:
    return linear_page  # conftest.py: the shipped linear model's page, exported once a session


def test_the_page_holds_what_it_loads_and_nothing_from_elsewhere(exported):
    html = (exported / "index.html").read_text()
    loaded = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert {"ort.wasm.min.js", "ort-wasm.js", "ort-glue.js", "models.js", "pad.js", "mnist_style.js", "site.js"} <= set(loaded)
    for name in loaded:
        assert "://" not in name and not name.startswith("/"), name
        assert (exported / name).is_file(), name
    assert "connect-src 'none'" in html  # the browser itself refuses any request from a script


def test_the_models_go_in_with_their_classes(exported):
    [model] = constant(exported / "models.js", "DIGITLAB_MODELS")
    assert model["method"] == "linear" and model["classes"] == list(range(10)) and model["folder"] == "linear-0-9"
    assert model["accuracy"] is None or 0.5 < model["accuracy"] <= 1
    proto = onnx.load_model_from_string(base64.b64decode(model["onnx"]))
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["digitlab.method"] == "linear" and json.loads(meta["digitlab.classes"]) == list(range(10))
    assert [i.name for i in proto.graph.input] == ["pixels"] and [o.name for o in proto.graph.output] == ["probabilities"]


def test_onnx_runtime_goes_in_whole_with_its_licence(exported):
    notice = (exported / "onnxruntime-web" / "NOTICE").read_text()
    assert "MIT" in (exported / "onnxruntime-web" / "LICENSE").read_text()
    sums = {name: digest for digest, name in re.findall(r"([0-9a-f]{64})  (\S+)", notice)}
    assert hashlib.sha256((exported / "ort.wasm.min.js").read_bytes()).hexdigest() == sums["ort.wasm.min.js"]
    glue = constant(exported / "ort-glue.js", "ORT_GLUE")
    assert hashlib.sha256(glue.encode()).hexdigest() == sums["ort-wasm-simd-threaded.mjs"]
    binary = base64.b64decode(constant(exported / "ort-wasm.js", "ORT_WASM"))
    assert hashlib.sha256(binary).hexdigest() == sums["ort-wasm-simd-threaded.wasm"]
    assert f"ONNX Runtime Web {json.loads((exported / site.MARK).read_text())['runtime']}:" in notice


def test_the_vendored_files_are_what_the_notice_names():
    notice = (site.VENDOR / "NOTICE").read_text()
    for digest, name in re.findall(r"([0-9a-f]{64})  (\S+)", notice):
        assert hashlib.sha256(lzma.decompress((site.VENDOR / f"{name}.xz").read_bytes())).hexdigest() == digest, name


def test_an_earlier_export_is_replaced_whole(tmp_path, exported, linear_models, monkeypatch):
    out = tmp_path / "page"
    shutil.copytree(exported, out)
    (out / "stale.txt").write_text("from before")
    # The models as the first export described them: what is tested here is the folder, not the export.
    described = {m["method"]: m for m in constant(exported / "models.js", "DIGITLAB_MODELS")}
    monkeypatch.setattr(site, "_describe", lambda served, work: described[served.method])
    site.export_site(out, linear_models)
    assert not (out / "stale.txt").exists() and (out / "index.html").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["page"]  # nothing left beside it
    assert constant(out / "models.js", "DIGITLAB_MODELS") == list(described.values())
    mark = json.loads((out / site.MARK).read_text())
    assert sorted(mark["files"]) == sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file() and p.name != site.MARK)


def test_a_folder_of_other_things_is_refused_in_one_line(tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    code, _, err = digitlab(capsys, "export-site", out)
    assert_one_line_error(code, err, str(out), "not empty", site.MARK)
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


def test_a_file_in_the_way_is_refused_in_one_line(tmp_path, capsys):
    (tmp_path / "page").write_text("a file")
    code, _, err = digitlab(capsys, "export-site", tmp_path / "page")
    assert_one_line_error(code, err, "page", "is a file")


def test_a_folder_without_models_is_refused_in_one_line(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    code, _, err = digitlab(capsys, "export-site", tmp_path / "page", "--models", tmp_path / "empty")
    assert_one_line_error(code, err, "--models", "no saved digitlab models")
    assert not (tmp_path / "page").exists()


def test_the_shipped_models_are_the_default_without_their_helper_networks():
    from digitlab.classifiers import METHODS

    chosen = site._models(None)
    assert list(chosen) == list(METHODS)
    assert {served.folder for served in chosen.values()} == {pretrained.path(m) for m in METHODS}


def test_an_export_that_fails_leaves_nothing_behind(tmp_path, linear_models, monkeypatch):
    def fails(served, work):
        raise site.DigitlabError(f"{served.folder}: cannot be exported")

    monkeypatch.setattr(site, "_describe", fails)
    with pytest.raises(site.DigitlabError, match="cannot be exported"):
        site.export_site(tmp_path / "page", linear_models)
    assert list(tmp_path.iterdir()) == []
