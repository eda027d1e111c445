"""A saved model as one ONNX file: `export_onnx(model_dir, out=None) -> Path`.

The file holds graph.py's contract (input "pixels" float32 (N, 1, 28, 28), MNIST's pixels / 255;
output "probabilities" float32 (N, classes)) with a dynamic batch size N, and says in its metadata
which digits its columns are ("digitlab.classes", a JSON list in output order) and which method made
it ("digitlab.method"), so a page that runs it in a browser needs nothing else. It is traced by
torch.onnx's current exporter (torch.export, `dynamo=True`), which needs the `onnx` and `onnxscript`
packages; they are imported only here, and their absence is one line saying what to install.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import logging
import warnings
from pathlib import Path

from digitlab.errors import DigitlabError, OutputError

FILE_NAME = "model.onnx"  # written into the model's own folder unless `out` says otherwise
INPUT_NAME, OUTPUT_NAME = "pixels", "probabilities"
INPUT = "float32 (N, 1, 28, 28): MNIST's pixels / 255, light ink on black, centred as MNIST's are"
OUTPUT = "float32 (N, classes): calibrated probabilities, columns in the order of digitlab.classes"
NEEDED = ("onnx", "onnxscript")  # torch.onnx's exporter needs both; onnxruntime only runs the file
INSTALL = "pip install 'digitlab[onnx]' (or: pip install onnx onnxscript onnxruntime)"
EXAMPLE_BATCH = 2  # images the exporter traces with; N stays a symbol, so any batch runs


def require_exporter() -> None:
    """Refuse in one line, before any work, when torch.onnx's exporter cannot run here."""
    missing = [name for name in NEEDED if importlib.util.find_spec(name) is None]
    if missing:
        raise DigitlabError(f"exporting to ONNX needs {' and '.join(missing)}, not installed; {INSTALL}")


def target_path(model_dir: Path, out: str | Path | None) -> Path:
    """Where the file goes: `out` (a folder given as `out` gets model.onnx inside it), else the model's
    folder; a folder that does not exist is refused before the export's work."""
    target = model_dir / FILE_NAME if out is None else Path(out)
    if target.is_dir():
        target = target / FILE_NAME
    if not target.parent.is_dir():
        raise OutputError(f"--out {target}: the folder {target.parent} does not exist; create it first or "
                          "choose another --out")
    return target


def export_onnx(model_dir, out=None) -> Path:
    """Write the model saved in `model_dir` as ONNX (graph.py's contract) to `out`, or to model.onnx in
    `model_dir`, atomically; its path. A damaged or missing model is the loader's one-line ModelError."""
    from digitlab import service
    from digitlab.onnx.graph import contract
    from digitlab.store.files import atomic_write

    require_exporter()
    folder = Path(model_dir)
    clf = service.load(folder)  # the checks of every load: config, weights' shapes, dtypes, finiteness
    target = target_path(folder, out)
    proto = _traced(contract(clf))
    _describe(proto, clf)
    with atomic_write(target) as f:
        f.write(proto.SerializeToString())
    return target


def _traced(graph):
    """The module as an ONNX ModelProto, by torch.export with the batch dimension symbolic. The
    exporter's own progress lines and warnings (torchvision's absent operators) are kept off the
    user's screen: they say nothing about this model."""
    import torch

    pixels = torch.zeros(EXAMPLE_BATCH, 1, 28, 28)
    batch = torch.export.Dim("N", min=1)
    exporter_log = logging.getLogger("torch.onnx")
    level = exporter_log.level
    exporter_log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            program = torch.onnx.export(graph, (pixels,), dynamo=True, verbose=False,
                                        input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                                        dynamic_shapes={"pixels": {0: batch}})
    finally:
        exporter_log.setLevel(level)
    return program.model_proto


def _describe(proto, clf) -> None:
    """What a reader of the file needs beside the graph: the digits in output order, the method, the
    contract in words."""
    meta = {"digitlab.classes": json.dumps(clf.classes_.tolist()), "digitlab.method": clf.method,
            "digitlab.input": INPUT, "digitlab.output": OUTPUT}
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.doc_string = f"digitlab {clf.method} model, classes {meta['digitlab.classes']}"
