"""`digitlab export-site DIR`: the page without a server. A folder holding one static page (the drawing
pad, every method's answer and its probabilities) that runs the models in the browser with ONNX
Runtime Web: it opens from file:// or any static host, fetches nothing from elsewhere and works offline.

What a page opened from file:// may not do decides its shape (Chromium): fetch() a file, load a module
script, or share memory between threads. So every file is a classic <script>: the models (ONNX, from
onnx/export.py) and ONNX Runtime's WebAssembly binary travel as base64 inside them, the runtime's glue
module as text that site.js imports from a blob: URL, and the runtime runs on one thread. The drawing
is read in JavaScript as to_mnist reads it (site/mnist_style.js) and painted by the server page's own
pad.js, so both pages read a drawing alike (tests/test_site_browser.py: the same answers)."""

from __future__ import annotations

import base64
import json
import lzma
import os
import re
import shutil
from pathlib import Path

from digitlab import __version__
from digitlab.errors import DigitlabError, OutputError
from digitlab.store import swap
from digitlab.store.files import cannot_write, through_link

WEB = Path(__file__).resolve().parent
VENDOR = WEB / "vendor" / "onnxruntime-web"  # tools/vendor_ort.py writes it
MARK = "digitlab-site.json"  # written last into every export: a folder holding it may be replaced
# The page's own files, copied as they are: the server page's look and pad, the port of to_mnist, the page.
COPIED = {"style.css": WEB / "static" / "style.css", "favicon.svg": WEB / "static" / "favicon.svg",
          "methods.js": WEB / "static" / "methods.js", "pad.js": WEB / "static" / "pad.js", "cards.js": WEB / "static" / "cards.js",
          "mnist_style.js": WEB / "site" / "mnist_style.js", "site.js": WEB / "site" / "site.js",
          "index.html": WEB / "site" / "index.html"}
# ONNX Runtime Web's three files, as the page holds them:
RUNTIME = "ort.wasm.min.js"  # its API, a classic script: written out as it came
GLUE = "ort-wasm-simd-threaded.mjs"  # the glue module: as text in ort-glue.js (ORT_GLUE), imported from a blob: URL
BINARY = "ort-wasm-simd-threaded.wasm"  # the WebAssembly: as base64 in ort-wasm.js (ORT_WASM)
MODELS = "models.js"


def export_site(out: str | os.PathLike, models: str | os.PathLike | None = None) -> Path:
    """Write the page into `out` (built beside it, then renamed in): the models in `models` (a folder
    of saved models, one per method as serve picks them) or those that ship with digitlab. `out` must
    be new, empty or an earlier export. Returns `out`."""
    out = through_link(Path(out), "DIR")
    _check_target(out)
    chosen = _models(models)
    new = swap.new_folder(out)
    swap.remove(new)  # a leftover of this process id
    try:
        new.mkdir(parents=True)
        _write_page(new, chosen)
        swap.swap_in(new, out)
    except BaseException as err:  # a failed export, a full disk, Ctrl-C: nothing half-built is left
        swap.remove(new)
        if isinstance(err, OSError):
            raise cannot_write(out, err, "DIR") from err
        raise
    return out


def _check_target(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out}: is a file, not a folder; give a new or empty folder for the page")
    if out.is_dir() and any(out.iterdir()) and not (out / MARK).is_file():
        raise OutputError(f"{out}: not empty and not an earlier export-site page (no {MARK}); "
                          "give a new or empty folder, or remove what is there")


def _models(folder: str | os.PathLike | None) -> dict:
    """{method: web.models.Served}: the folder's models (never a quick compare's smoke runs, nor the
    helper networks), else the shipped ones."""
    from digitlab.web import models

    if folder is None:
        return models.shipped()
    found = models.find(folder)
    if not found:
        raise DigitlabError(f"--models {folder}: no saved digitlab models there to put on the page (smoke runs "
                            "of `digitlab compare --quick` never are); point it at the folder `digitlab compare "
                            "--out` wrote, or leave out --models for the models that ship with digitlab")
    return found


def _write_page(folder: Path, chosen: dict) -> None:
    for name, source in COPIED.items():
        shutil.copyfile(source, folder / name)
    (folder / RUNTIME).write_bytes(_vendored(RUNTIME))
    _script(folder / "ort-glue.js", "ORT_GLUE", json.dumps(_vendored(GLUE).decode("utf-8")))
    _script(folder / "ort-wasm.js", "ORT_WASM", f'"{base64.b64encode(_vendored(BINARY)).decode("ascii")}"')
    onnx_dir = folder / ".onnx"
    onnx_dir.mkdir()
    described = [_describe(served, onnx_dir) for served in chosen.values()]
    swap.remove(onnx_dir)
    _script(folder / MODELS, "DIGITLAB_MODELS", json.dumps(described))
    licences = folder / "onnxruntime-web"
    licences.mkdir()
    for name in ("LICENSE", "NOTICE"):
        shutil.copyfile(VENDOR / name, licences / name)
    files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    mark = {"digitlab_version": __version__, "runtime": _runtime_version(),
            "models": [{k: d[k] for k in ("method", "classes", "folder")} for d in described], "files": files}
    (folder / MARK).write_text(json.dumps(mark, indent=2) + "\n")


def _vendored(name: str) -> bytes:
    """One of ONNX Runtime Web's files as it came (vendor/, xz-compressed there)."""
    return lzma.decompress((VENDOR / f"{name}.xz").read_bytes())


def _script(path: Path, name: str, value: str) -> None:
    """A classic script that sets one constant: what a page opened from file:// can read."""
    path.write_text(f"// Written by `digitlab export-site`.\nconst {name} = {value};\n", encoding="utf-8")


def _runtime_version() -> str:
    """The vendored runtime's version, as NOTICE's first line names it ("ONNX Runtime Web 1.31.1: ...")."""
    return re.match(r"ONNX Runtime Web (\S+):", (VENDOR / "NOTICE").read_text()).group(1)


def _describe(served, work: Path) -> dict:
    """One model as the page needs it: the ONNX file (base64), its classes in output order (the file's
    own metadata), and what the card says about it (as the server's /api/models)."""
    import onnx

    from digitlab.onnx.export import export_onnx
    from digitlab.trust.decline import UNSURE, UNSURE_OTHER
    from digitlab.web.models import accuracy

    path = export_onnx(served.folder, out=work / f"{served.method}.onnx")
    meta = {p.key: p.value for p in onnx.load_model(str(path), load_external_data=False).metadata_props}
    classes = json.loads(meta["digitlab.classes"])
    if meta.get("digitlab.method") != served.method or classes != served.clf.classes_.tolist():
        raise DigitlabError(f"{served.folder}: its ONNX export says {meta.get('digitlab.method')} {classes}, "
                            f"not {served.method} {served.clf.classes_.tolist()}; export it again")
    measured, measured_on = accuracy(served)
    return {"method": served.method, "classes": classes, "folder": served.folder.name,
            "epochs": len(served.clf.history_), "accuracy": measured, "accuracy_on": measured_on,
            "unsure": UNSURE.get(served.method, UNSURE_OTHER),
            "onnx": base64.b64encode(path.read_bytes()).decode("ascii")}
