"""A saved model as an ONNX file that ONNX Runtime (in Python or a browser) runs with the same
answers: `export_onnx(model_dir, out=None) -> Path` (export.py), each method under one contract
(graph.py). Importing the package loads neither torch nor onnx."""

from digitlab.onnx.export import export_onnx

__all__ = ["export_onnx"]
