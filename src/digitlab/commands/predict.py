"""`digitlab predict [MODEL] IMAGE...`: classify photos, scans or drawings of single digits."""

from __future__ import annotations

import argparse
from pathlib import Path

PARTLY = 1  # exit status when some images could not be read and the rest were predicted


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "predict",
        help="classify PNG or JPEG images of single handwritten digits",
        description="Turn each image into an MNIST-style 28 x 28 (grey, inverted if dark on light, "
        "cropped, scaled to 20 x 20, centred by mass) and classify it with a saved model. An image that "
        "cannot be read is named on stderr and the rest are predicted; the exit status is then 1 "
        "(0: all predicted; 2: nothing could be, or another error).",
    )
    parser.add_argument("images", metavar="[MODEL] IMAGE", nargs="+",
                        help="a model folder first (e.g. digitlab-out/cnn-0-9; without one, the cnn that "
                        "ships with digitlab answers), then PNG or JPEG files, one digit each, or a folder: "
                        "its images, by name")
    parser.add_argument("--json", action="store_true", help="print one JSON object per line instead of text")
    parser.add_argument("--show", metavar="DIR",
                        help="save the 28 x 28 image the model saw, as DIR/<name>.png; "
                        "a name met again gets -2, -3, ... (DIR/<name>-2.png)")
    parser.set_defaults(run=run)


def split_model(given: list[str]) -> tuple[str | None, list[str]]:
    """(the model folder, the images): the first argument is a model when it is a folder holding a
    saved model's files (config.json or model.safetensors: a damaged one is still named as a model),
    and there are images after it; else every argument is an image, for the shipped cnn."""
    from digitlab.checkpoint import CONFIG, WEIGHTS
    from digitlab.errors import DigitlabError

    first = Path(given[0])
    if not ((first / CONFIG).is_file() or (first / WEIGHTS).is_file()):
        return None, given
    if len(given) == 1:
        raise DigitlabError(f"{first}: a model folder, but no image after it; give the images to classify, "
                            f"e.g. digitlab predict {first} photo.jpg")
    return given[0], given[1:]


def image_paths(given: list[str]) -> list[str]:
    """The IMAGE arguments with each folder replaced by its image files, sorted by name.

    A folder's other files are skipped with a warning; one with no images at all is an error.
    """
    from digitlab.errors import DataError
    from digitlab.folders import IMAGE_SUFFIXES, warn_not_images

    paths = []
    for name in given:
        folder = Path(name)
        if not folder.is_dir():
            paths.append(name)  # a file, or a missing one that images.to_mnist reports
            continue
        files = sorted((p for p in folder.iterdir() if p.is_file()), key=lambda p: p.name)
        found = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
        warn_not_images(folder, [p for p in files if p.suffix.lower() not in IMAGE_SUFFIXES])
        if not found:
            kinds = ", ".join(sorted(IMAGE_SUFFIXES))
            raise DataError(f"{folder}: a folder with no images ({kinds}) in it; give image files, "
                            f"e.g. {folder / '*.png'}")
        paths += [str(p) for p in found]
    return paths


def shown_names(paths: list[str]) -> list[str]:
    """A distinct `<stem>.png` for each input, so that a/seven.jpg and b/seven.png do not overwrite each other.

    The first keeps its stem; later ones get -2, -3, ... in the order given. Compared case-blind,
    because on macOS and Windows Seven.png and seven.png are the same file.
    """
    taken, names = set(), []
    for path in paths:
        stem = Path(path).stem
        name, n = f"{stem}.png", 1
        while name.lower() in taken:
            n += 1
            name = f"{stem}-{n}.png"
        taken.add(name.lower())
        names.append(name)
    return names


def read_images(paths: list[str]):
    """((N, 28, 28) inputs, the paths they came from) for the images that could be read; the others
    are warned about, the first NAMED by name and reason, then a count. None readable is an error:
    one image's own, or one naming the first few."""
    import torch

    from digitlab import images
    from digitlab.errors import DataError, warn
    from digitlab.folders import NAMED

    inputs, read, bad = [], [], []
    for path in paths:
        try:
            inputs.append(images.to_mnist(path))
            read.append(path)
        except DataError as err:
            bad.append(err)
    if bad and not read:
        if len(bad) == 1:
            raise bad[0]
        raise DataError(f"none of the {len(bad)} images could be read; the first: {bad[0]}")
    for err in bad[:NAMED]:
        warn(f"skipped {err}")
    if len(bad) > NAMED:
        warn(f"skipped {len(bad) - NAMED} more images that could not be read")
    return torch.stack(inputs), read, len(bad)


def run(args: argparse.Namespace) -> int:
    import json
    import sys

    from PIL import Image

    from digitlab import compare, pretrained
    from digitlab.files import atomic_write

    model, given = split_model(args.images)
    clf = compare.load_model(model) if model else pretrained.load("cnn")
    model = model or "the shipped cnn"
    inputs, paths, failed = read_images(image_paths(given))  # (N, 28, 28) in [0, 1]
    proba = compare.check_outputs(clf.predict_proba(inputs).float().cpu(), model)  # (N, K), columns follow classes_
    classes = clf.classes_.tolist()
    shown_paths = [Path(args.show) / name for name in shown_names(paths)] if args.show else [None] * len(paths)
    for path, seen, row, shown in zip(paths, inputs, proba, shown_paths):
        best = int(row.argmax())
        if shown:
            with atomic_write(shown) as f:
                Image.fromarray((seen * 255).round().byte().numpy()).save(f, format="PNG")
        if args.json:
            print(json.dumps({
                "image": str(path),
                "label": classes[best],
                "probability": round(float(row[best]), 6),
                "probabilities": {str(c): round(float(p), 6) for c, p in zip(classes, row)},
                **({"shown": str(shown)} if shown else {}),
            }, allow_nan=False))
        else:
            others = "  ".join(f"{c}:{float(p):.3f}" for c, p in zip(classes, row))
            print(f"{path}: {classes[best]} (probability {float(row[best]):.3f})  [{others}]")
    if failed:
        print(f"digitlab: {failed} of {failed + len(paths)} images could not be read (named above); "
              "the others are predicted", file=sys.stderr)
        return PARTLY
    return 0
