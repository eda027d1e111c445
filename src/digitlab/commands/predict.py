"""`digitlab predict [MODEL] IMAGE...`: read photos, scans or drawings of digits and numbers."""

from __future__ import annotations

import argparse
from pathlib import Path

from digitlab.commands.predict_output import ShownNames, Unreadable, answer, emit, explained, number_answer

PARTLY = 1  # exit status when some images could not be read and the rest were predicted
BATCH = 1024  # images read, predicted and printed together: the cnn's own chunk; 3 MB of inputs, so memory stays flat


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "predict",
        help="read PNG or JPEG images of handwritten digits and numbers",
        description="Turn each image into an MNIST-style 28 x 28 (grey, inverted if dark on light, "
        "cropped, scaled to 20 x 20, centred by mass) and classify it with a saved model; a 28 x 28 grey "
        "PNG of light ink on a dark page (mnist_png's, say) is cleaned as the models clean a tensor "
        "instead, thousands a second. An image that "
        "cannot be read is named on stderr and the rest are predicted; the exit status is then 1 "
        "(0: all read; 2: none could be, or another error). A blank image is read, not unreadable: its answer is "
        "\"no digit\". An answer is declined, with its reason, "
        "when the image is blank (no digit), is not a digit (a letter, a symbol, a scribble, a shape, a texture), "
        "shows several digits, or the model is unsure; a model trained on fewer than ten digits names them "
        "on every answer. An image holding several digits is read as a number, left to right (lines top "
        "to bottom): each digit found, cut where two touch, and read alone; where the strip reader read "
        "touching digits and steered the cut, its digit answers (marked \"strip reader\"); a declined digit "
        "shows as ?.",
    )
    parser.add_argument("images", metavar="[MODEL] IMAGE", nargs="*",
                        help="a model folder first (e.g. digitlab-out/cnn-0-9; without one, the cnn that "
                        "ships with digitlab answers), then PNG or JPEG files, one digit each, or a folder: "
                        "its images, by name")
    parser.add_argument("--from", dest="from_file", metavar="FILE",
                        help="also read image paths from FILE, one a line (- reads them from stdin); "
                        "answers are printed in batches as they come, so a list of any length runs in flat memory")
    parser.add_argument("--as-is", action="store_true",
                        help="read every image as it is, without the cleaning a photo needs, even those that do "
                        "not look MNIST-style (other sizes are resized): for 28 x 28 files of your own making "
                        "that are not boxed and centred as MNIST's are")
    parser.add_argument("--json", action="store_true", help="print one JSON object per line instead of text "
                        "(a declined answer: \"label\": null and \"declined\": the reason, its probabilities kept; "
                        "\"number\": the digits read, and \"digits\": each one's label, box [x0, y0, x1, y1] and "
                        "probability, and \"read_by\": \"strip reader\" where that reader's digit answers; an image "
                        "of several digits has \"label\": null)")
    parser.add_argument("--no-decline", dest="decline", action="store_false",
                        help="always give the model's top digit, as before digitlab could decline (a blank image "
                        "still has none: \"no digit\", as digitlab.read says)")
    parser.add_argument("--single", action="store_true",
                        help="read each image as one digit, even when it holds several (as digitlab did "
                        "before it read numbers)")
    parser.add_argument("--show", metavar="DIR",
                        help="save the 28 x 28 image the model saw, as DIR/<name>.png (a number: each digit as "
                        "DIR/<name>-1.png, -2.png, ... and the image with their boxes as DIR/<name>-boxes.png); "
                        "a name met again gets -2, -3, ... (DIR/<name>-2.png)")
    parser.add_argument("--explain", metavar="DIR",
                        help="say why: the scores in words, and each answer's explanation saved as pictures, "
                        "DIR/<name>-<map>.png (the image as the model saw it, and each map with its colour key "
                        "and a caption saying what it shows for this answer); with --json each line also carries "
                        "the maps as 28 x 28 arrays and those words; an image "
                        "read as a number is not explained (read one of its digits alone, or use --single)")
    parser.set_defaults(run=run)


def split_model(given: list[str], more: bool = False) -> tuple[str | None, list[str]]:
    """(the model folder, the images): the first argument is a model when it is a folder holding a
    saved model's files (config.json or model.safetensors: a damaged one is still named as a model),
    and images follow it (or `more` come from --from); else every argument is an image, for the
    shipped cnn."""
    from digitlab.errors import DigitlabError
    from digitlab.store.checkpoint import CONFIG, WEIGHTS, recover

    if not given:
        return None, given
    first = Path(given[0])
    recover(first)  # a model folder a killed save left half swapped is a model folder again
    if not ((first / CONFIG).is_file() or (first / WEIGHTS).is_file()):
        if len(given) > 1 or more:
            _not_a_model(first)
        return None, given
    if len(given) == 1 and not more:
        raise DigitlabError(f"{first}: a model folder, but no image after it; give the images to classify "
                            f"(IMAGE arguments, or --from FILE), e.g. digitlab predict {first} photo.jpg")
    return given[0], given[1:]


def _not_a_model(first: Path) -> None:
    """A first argument of several that is meant as a model folder but is none: a missing path without
    an image's suffix, or a folder holding no images, is the user's error, not a missing image (the
    shipped cnn would answer instead, and they would never learn their model was not used)."""
    from digitlab.data.folder_listing import IMAGE_SUFFIXES
    from digitlab.errors import DigitlabError

    missing = not first.exists() and first.suffix.lower() not in IMAGE_SUFFIXES
    empty = first.is_dir() and not any(p.suffix.lower() in IMAGE_SUFFIXES for p in first.iterdir() if p.is_file())
    if missing or empty:
        why = "no such folder" if missing else "a folder with no model in it (no config.json) and no images"
        raise DigitlabError(f"{first}: {why}; give a model folder written by `digitlab compare` or `digitlab "
                            "train` first, or leave it out for the shipped cnn")


def image_paths(given: list[str]) -> list[str]:
    """The IMAGE arguments with each folder replaced by its image files, sorted by name.

    A folder's other files are skipped with a warning; one with no images at all is an error.
    """
    from digitlab.data.folder_listing import IMAGE_SUFFIXES, warn_not_images
    from digitlab.errors import DataError

    paths = []
    for name in given:
        folder = Path(name)
        if not folder.is_dir():
            paths.append(name)  # a file, or a missing one that mnist_style.to_mnist reports
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


MAX_LINE = 4096  # bytes: the longest path a line of --from may hold (Linux's PATH_MAX); a longer line is no path


def listed_paths(from_file: str):
    """The image paths in `from_file` (one a line, blank lines skipped; "-" is stdin), lazily, each line
    decoded as UTF-8 with any other bytes kept (surrogateescape, as the file system does), and read no
    further than MAX_LINE bytes: a stream with no line ends is refused, not held in memory."""
    import sys

    from digitlab.errors import DataError

    try:  # a stdin without bytes beneath it (a notebook's) is read as text
        stream = getattr(sys.stdin, "buffer", sys.stdin) if from_file == "-" else open(from_file, "rb")
    except OSError as err:
        raise DataError(f"--from {from_file}: cannot read it ({err.strerror}); give a text file of image "
                        "paths, one a line, or - for stdin") from None
    try:
        while line := stream.readline(MAX_LINE + 1):
            if len(line) > MAX_LINE and line[-1:] not in (b"\n", "\n"):
                raise DataError(f"--from {from_file}: a line longer than {MAX_LINE:,} bytes is no image path; "
                                "give paths one a line")
            text = (line.decode("utf-8", "surrogateescape") if isinstance(line, bytes) else line).rstrip("\r\n")
            if text.strip():
                yield text
    finally:
        if from_file != "-":
            stream.close()


def all_paths(args: argparse.Namespace):
    """The IMAGE arguments (folders opened), then the paths --from lists, as one stream."""
    from digitlab.errors import DigitlabError

    if not args.images and not args.from_file:
        raise DigitlabError("give images to predict: IMAGE arguments, or --from FILE (a list of paths, "
                            "- for stdin)")
    yield from image_paths(args.images)
    if args.from_file:
        yield from listed_paths(args.from_file)


def batches(items, size: int):
    """Lists of `size` items from the iterable `items` (the last one shorter)."""
    import itertools

    items = iter(items)
    while batch := list(itertools.islice(items, size)):
        yield batch


def read_images(paths: list[str], unreadable: Unreadable, as_is: bool = False, blanks: bool = False,
                found: dict | None = None):
    """((n, 28, 28) inputs in [0, 1], the paths they came from) for the images of `paths` that could
    be read. 28 x 28 grey PNGs of light ink on a dark page (`mnist_style.dark_page`: mnist_png's, say) are
    cleaned as the models clean a tensor, a batch at once; the rest are made MNIST-like by
    mnist_style.to_mnist, a few milliseconds each: `mnist_style.prepare`, which the corruption set shares. With
    `as_is`, every file is read as a folder's files are (other sizes resized, nothing cleaned). With
    `blanks`, an image with no ink is read as the black square it is (to be declined as "no digit"),
    not counted unreadable. With a dict `found`, the digits of each image that is not MNIST-style are
    found (reading.find_digits) and put in found[path]; one holding several is left out of what is
    returned (its number is read from found)."""
    import torch

    from digitlab.data.folders import read_small_pngs
    from digitlab.data.parallel import default_workers
    from digitlab.errors import DataError
    from digitlab.vision import mnist_style

    if as_is:
        from digitlab.data.folders import decode_files

        pixels, _, bad = decode_files(paths)  # (n, 28, 28) uint8
        for i, why in bad:
            unreadable.add(DataError(f"{paths[i]}: {why}"))
        keep = sorted(set(range(len(paths))) - {i for i, _ in bad})
        return (torch.from_numpy(pixels[keep]).float() / 255 if keep else None), [paths[i] for i in keep]
    small, at, heads = read_small_pngs(paths)  # (k, 28, 28) uint8 of the 28 x 28 grey PNGs
    sources = [head if head is not None else path for head, path in zip(heads, paths)]
    read_one = None
    if found is not None:
        from digitlab.reading import find_digits

        def read_one(source, name: str):
            found[name] = find_digits(source, name)
            return found[name][0].image

    inputs, read = mnist_style.prepare(small, at, sources, paths, unreadable.add, blanks=blanks, read_one=read_one,
                                       workers=default_workers())  # photos on both cores: RESULTS.md, issue 35
    if found is not None:
        read &= [len(found.get(p, ())) <= 1 for p in paths]  # a number is read from `found`
    return (inputs[torch.from_numpy(read)] if read.any() else None), [p for p, ok in zip(paths, read) if ok]


def answers(clf, model: str, inputs, paths: list[str], args: argparse.Namespace, namer: ShownNames,
            explained_names: ShownNames, found: dict | None) -> list[str]:
    """The lines of images read as one digit each: `inputs` (n, 28, 28) in [0, 1], from `paths`; `found`
    the digits found in each (None: numbers are not read), for its box."""
    from digitlab import service
    from digitlab.trust import decline

    said = service.predict(clf, inputs, model)  # proba (n, K), columns follow classes_
    if args.decline:
        reasons = decline.reasons(inputs, said.proba, decline.method_of(clf))
    else:  # the model's own answer; a blank image has none to give (as digitlab.read(..., decline=False))
        reasons = [decline.NO_DIGIT if empty else False for empty in decline.blank(inputs).tolist()]
    lines = []
    for path, seen, row, digit, declined in zip(paths, inputs, said.proba.tolist(), said.digits, reasons):
        shown = Path(args.show) / namer(path) if args.show else None
        why = None
        if args.explain and declined != decline.NO_DIGIT:  # a blank square has nothing to explain
            why = explained(clf, seen, path, args.explain, explained_names, dict(zip(said.classes, row)))
        box = None  # numbers not read: the line as before
        if found is not None:  # the digit's box; a 28 x 28 MNIST-style file is its own; a blank image has none
            box = list(found[path][0].box) if found.get(path) else [0, 0, *seen.shape[::-1]] if seen.any() else []
        lines.append(answer(path, seen, row, digit, clf.classes_.tolist(), shown, args.json, why, declined, box))
    return lines


def run(args: argparse.Namespace) -> int:
    import sys

    from digitlab import pretrained, reading, service

    model, args.images = split_model(args.images, more=bool(args.from_file))
    clf = service.load(model) if model else pretrained.load("cnn")
    model = model or "the shipped cnn"
    namer, unreadable, predicted = ShownNames(), Unreadable(), 0
    explained_names = ShownNames()
    for batch in batches(all_paths(args), BATCH):
        found = None if args.single or args.as_is else {}  # path -> the digits found in it
        inputs, paths = read_images(batch, unreadable, args.as_is, blanks=True, found=found)  # (n, 28, 28)
        lines = iter(answers(clf, model, inputs, paths, args, namer, explained_names, found) if inputs is not None else [])
        numbers = {p: digits for p, digits in (found or {}).items() if len(digits) > 1}
        out, singles = [], iter(paths)
        single = next(singles, None)
        for path in batch:  # in the order given: each image's line, a number's or a digit's
            if path in numbers:
                number = reading.read_digits(clf, numbers[path], args.decline)
                out.append(number_answer(path, number, Path(args.show) / namer(path) if args.show else None, args.json))
            elif path == single:
                out.append(next(lines))
                single = next(singles, None)
        if out:
            unreadable.said()
            emit(out)
        predicted += len(out)
    unreadable.finish(predicted)
    if unreadable.count:
        print(f"digitlab: {unreadable.count} of {unreadable.count + predicted} images could not be read (named "
              f"above); {predicted:,} read and answered", file=sys.stderr)
        return PARTLY
    return 0
