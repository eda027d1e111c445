"""`digitlab predict MODEL IMAGE...`: classify photos, scans or drawings of single digits."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "predict",
        help="classify PNG or JPEG images of single handwritten digits",
        description="Turn each image into an MNIST-style 28 x 28 (grey, inverted if dark on light, "
        "cropped, scaled to 20 x 20, centred by mass) and classify it with a saved model.",
    )
    parser.add_argument("model", metavar="MODEL", help="the model folder, e.g. digitlab-out/cnn-0-9")
    parser.add_argument("images", metavar="IMAGE", nargs="+", help="PNG or JPEG files, one digit each")
    parser.add_argument("--json", action="store_true", help="print one JSON object per line instead of text")
    parser.add_argument("--show", metavar="DIR", help="save the 28 x 28 image the model saw, as DIR/<name>.png")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    import torch
    from PIL import Image

    from digitlab import compare, images
    from digitlab.files import atomic_write

    clf = compare.load_model(args.model)
    inputs = torch.stack([images.to_mnist(path) for path in args.images])  # (N, 28, 28) in [0, 1]
    proba = clf.predict_proba(inputs).float().cpu()  # (N, K), columns follow classes_
    classes = clf.classes_.tolist()
    for path, seen, row in zip(args.images, inputs, proba):
        best = int(row.argmax())
        if args.show:
            shown = Path(args.show) / f"{Path(path).stem}.png"
            with atomic_write(shown) as f:
                Image.fromarray((seen * 255).round().byte().numpy()).save(f, format="PNG")
        if args.json:
            print(json.dumps({
                "image": str(path),
                "label": classes[best],
                "probability": round(float(row[best]), 6),
                "probabilities": {str(c): round(float(p), 6) for c, p in zip(classes, row)},
            }))
        else:
            others = "  ".join(f"{c}:{float(p):.3f}" for c, p in zip(classes, row))
            print(f"{path}: {classes[best]} (probability {float(row[best]):.3f})  [{others}]")
    return 0
