"""`digitlab export-model MODEL --format onnx [--out FILE]`: a saved model as an ONNX file."""

from __future__ import annotations

import argparse

FORMATS = ("onnx",)


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "export-model",
        help="write a saved model as an ONNX file that ONNX Runtime runs",
        description="Write the model saved in MODEL as one ONNX file (model.onnx in MODEL, or --out): "
        "input 'pixels' float32 (N, 1, 28, 28), MNIST's pixels / 255; output 'probabilities' "
        "float32 (N, classes), the classes in the file's metadata 'digitlab.classes'. Every method's "
        "input cleaning, deskewing and calibrated temperature are inside the graph. Needs the onnx "
        "extra: pip install 'digitlab[onnx]'.",
    )
    parser.add_argument("model", metavar="MODEL", help="a model folder written by train or compare")
    parser.add_argument("--format", choices=FORMATS, default="onnx", help="the file format (onnx)")
    parser.add_argument("--out", metavar="FILE", default=None,
                        help="where to write it (default: MODEL/model.onnx; a folder gets model.onnx inside)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from digitlab.onnx.export import export_onnx

    print(export_onnx(args.model, args.out))
    return 0
