"""What `digitlab predict` prints and saves for each image: a digit's line (text or JSON), a number's,
the pictures `--show` and `--explain` write, and their file names; the images that could not be read."""

from __future__ import annotations

from pathlib import Path


class ShownNames:
    """A distinct `<stem>.png` for each input, so that a/seven.jpg and b/seven.png do not overwrite each other.

    The first keeps its stem; later ones get -2, -3, ... in the order given. Compared case-blind,
    because on macOS and Windows Seven.png and seven.png are the same file. Called once an image,
    as a stream of them comes."""

    def __init__(self):
        self.taken = set()

    def __call__(self, path: str) -> str:
        stem = Path(path).stem
        name, n = f"{stem}.png", 1
        while name.lower() in self.taken:
            n += 1
            name = f"{stem}-{n}.png"
        self.taken.add(name.lower())
        return name


class Unreadable:
    """The images that could not be read: the first NAMED are named, the rest counted.

    One line per problem: the names wait until an image has been predicted (`said`), so that a lone
    missing file is the one error line, not a warning that it was skipped and then the same error."""

    def __init__(self):
        self.first, self.count, self.held = None, 0, []

    def add(self, err) -> None:
        from digitlab.data.folder_listing import NAMED

        self.first = self.first or err
        self.count += 1
        if self.count <= NAMED:
            self.held.append(err)

    def said(self) -> None:
        """Name the ones held back: an image has been predicted, so these were skipped, not fatal."""
        from digitlab.errors import warn

        for err in self.held:
            warn(f"skipped {err}")
        self.held = []

    def finish(self, predicted: int) -> None:
        """Say how many more were skipped; with nothing predicted, that is the error."""
        from digitlab.data.folder_listing import NAMED
        from digitlab.errors import DataError, warn

        if self.count == 1 and not predicted:
            raise self.first
        self.said()
        if self.count and not predicted:
            named = "named above" if self.count <= NAMED else f"the first {NAMED} named above"
            raise DataError(f"none of the {self.count} images could be read ({named}); give PNG or JPEG images")
        if self.count > NAMED:
            warn(f"skipped {self.count - NAMED} more images that could not be read")


def answer(path: str, seen, row: list[float], digit: int, classes: list[int], shown: Path | None, as_json: bool,
           why: dict | None = None, declined: str | None | bool = False, box: list[int] | None = None) -> str:
    """One image's line, JSON or text; `row` holds its probabilities as plain floats (reading them
    one at a time out of a tensor cost a fifth of a 100,000-image stream), `digit` what the model reads
    (service.predict's); `why` is explanations.to_json's;
    `declined` the reason the answer is withheld (decline.REASONS), None for an answer, False when
    declining is off (--no-decline: the line as it was before digitlab could decline); `box` where the
    digit was found, when numbers are read (then the JSON carries "number" and "digits" too)."""
    import json

    from PIL import Image

    from digitlab.store.files import atomic_write
    from digitlab.trust.decline import note

    best = classes.index(digit)  # the column of the model's answer
    if shown:
        with atomic_write(shown) as f:
            Image.fromarray((seen * 255).round().byte().numpy()).save(f, format="PNG")
    knows = note(classes)
    if as_json:
        return json.dumps({
            "image": str(path),
            "label": None if declined else classes[best],
            **({"declined": declined} if declined is not False else {}),
            "probability": round(row[best], 6),
            "probabilities": {str(c): round(p, 6) for c, p in zip(classes, row)},
            **({"classes": classes} if knows else {}),
            **({"shown": str(shown)} if shown else {}),
            **({"explanation": why} if why else {}),
            **(_as_number(classes[best], row[best], declined, box) if box is not None else {}),
        }, allow_nan=False)
    others = "  ".join(f"{c}:{p:.3f}" for c, p in zip(classes, row))
    said = f"declined ({declined})" if declined else f"{classes[best]} (probability {row[best]:.3f})"
    line = f"{path}: {said}  [{others}]" + (f"  ({knows})" if knows else "")
    if why:
        line += f"\n  why: {reason(why)}"
    return line


def reason(why: dict) -> str:
    """One line of text from explanations.to_json's dict: the answer's and the runner-up's scores in words."""
    return why["words"]["scores"]


def explained(clf, seen, path: str, folder: str, namer: ShownNames, probabilities: dict[int, float]) -> dict:
    """The explanation of one answer as JSON (its words with the answer's `probabilities`, digit ->
    probability), each map saved in `folder` as a captioned picture with its colour key."""
    from digitlab.explain import explanations, pictures

    e = explanations.explain(clf, seen)
    pictures.save_pictures(e, folder, Path(namer(path)).stem)
    return explanations.to_json(e, probabilities)


def _as_number(label: int, probability: float, declined, box: list[int]) -> dict:
    """A one-digit image's "number" and "digits", as a number's line carries them (none for a blank image)."""
    if not box:
        return {"number": None, "digits": []}
    digit = {"label": None if declined else label, "box": box, "probability": round(probability, 6),
             **({"declined": declined} if declined else {})}
    return {"number": None if declined else str(label), "digits": [digit]}


def number_answer(path: str, number, shown: Path | None, as_json: bool) -> str:
    """The line of an image holding several digits (reading.Number): "label" null, "number" the digits
    read ("?" for one declined; null, with "declined", when the image is not digits at all), "digits"
    each with its box; `shown` the stem to save them under."""
    import json

    from digitlab.trust.decline import note

    if shown:
        show_number(path, number, shown)
    knows = note(number.classes)
    if as_json:
        return json.dumps({
            "image": str(path), "label": None, **({"declined": number.declined} if number.declined else {}),
            "number": number.text,
            "digits": [{"label": d.label, "box": list(d.box), "probability": round(d.probability, 6),
                        **({"declined": d.declined} if d.declined else {}),
                        **({"read_by": d.read_by} if d.read_by else {})} for d in number.digits],
            **({"classes": number.classes} if knows else {}),
            **({"shown": str(shown.parent / f"{shown.stem}-boxes.png")} if shown else {}),
        }, allow_nan=False)
    each = "  ".join(f"{d.label} ({d.probability:.3f}{', ' + d.read_by if d.read_by else ''})" if d.label is not None
                     else f"? ({d.declined})" for d in number.digits)
    said = f"declined ({number.declined})" if number.declined else f"number {number.text}"
    return f"{path}: {said}  [{each}]" + (f"  ({knows})" if knows else "")


def show_number(path: str, number, shown: Path) -> None:
    """`shown`'s stem -1.png, -2.png, ... each digit as the model saw it, and -boxes.png the image with
    each digit's box drawn over it (red, numbered in reading order)."""
    from PIL import Image, ImageDraw

    from digitlab.store.files import atomic_write
    from digitlab.vision.decoding import SCALE, open_image

    for k, digit in enumerate(number.digits, 1):
        with atomic_write(shown.parent / f"{shown.stem}-{k}.png") as f:
            Image.fromarray((digit.image * 255).round().byte().numpy()).save(f, format="PNG")
    picture = open_image(path)
    scale = picture.info.get(SCALE, 1.0)  # a large file is drawn as decoded, smaller: its boxes with it
    picture = picture.convert("RGB")
    draw = ImageDraw.Draw(picture)
    width = max(1, round(max(picture.size) / 300))
    for k, digit in enumerate(number.digits, 1):
        x0, y0, x1, y1 = (round(v * scale) for v in digit.box)
        draw.rectangle([x0, y0, x1 - 1, y1 - 1], outline=(220, 30, 30), width=width)
        draw.text((x0 + width + 1, y0 + width), str(k), fill=(220, 30, 30))
    with atomic_write(shown.parent / f"{shown.stem}-boxes.png") as f:
        picture.save(f, format="PNG")


def emit(lines: list[str]) -> None:
    """Print a batch's lines and flush them, so that a reader of the stream gets each batch's answers as
    they are made. A reader that went away (BrokenPipeError) is cli.main's to end quietly; an output
    that cannot be written (a full disk, /dev/full) is the user's one-line error, not a traceback."""
    import sys

    from digitlab.errors import DigitlabError

    try:
        print("\n".join(lines))
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as err:
        from digitlab.cli import drop_stdout

        drop_stdout()  # else Python's own flush at exit fails again, with a traceback of its own
        raise DigitlabError(f"cannot write the answers ({err.strerror or err}); those before may be cut short; "
                            "give an output with room (or none: the terminal)") from None
