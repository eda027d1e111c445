"""Reading numbers: the digits of an image found, grouped, cut apart and read in order (vision/splitting.py,
vision/cutting.py, reading.py). Numbers are built from MNIST's held-out training digits."""

import json

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from digitlab import reading
from digitlab.data import separated
from digitlab.data.shipped_mnist import mnist_arrays
from digitlab.vision import cutting, mnist_style, splitting
from cli_run import digitlab as run_digitlab


@pytest.fixture(scope="module")
def held():
    images, labels = mnist_arrays("train")
    return images[55_000:55_400], labels[55_000:55_400]


def _ink(digit: np.ndarray, scale: int = 4) -> np.ndarray:
    """A 28 x 28 MNIST digit cut to its ink, `scale` times larger: (h, w) 0-255."""
    rows, cols = np.flatnonzero(digit.any(1)), np.flatnonzero(digit.any(0))
    crop = Image.fromarray(digit[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1])
    return np.asarray(crop.resize((crop.width * scale, crop.height * scale), Image.Resampling.BILINEAR))


def _touching_offset(left: np.ndarray, right: np.ndarray) -> int:
    """Where `right` starts (columns from `left`'s first) so that their ink meets, overlapping a pixel."""
    h = min(len(left), len(right))  # bottoms aligned, as number_image sets them
    a, b = left[-h:] > 60, right[-h:] > 60
    rows = a.any(1) & b.any(1)
    last_a = np.where(rows, a.shape[1] - 1 - np.argmax(a[:, ::-1], 1), 0)
    first_b = np.where(rows, np.argmax(b, 1), 0)
    return int((last_a - first_b)[rows].max())


def number_image(digits: list[np.ndarray], gap: int | None = 24, dark_on_light: bool = True):
    """The digits side by side, bottoms aligned: `gap` px apart, or touching where gap is None.
    -> (PIL image, each digit's true box (x0, y0, x1, y1))."""
    inks = [_ink(d) for d in digits]
    height = max(i.shape[0] for i in inks)
    starts, x = [], 30
    for k, ink in enumerate(inks):
        if k:
            x = starts[-1] + (_touching_offset(inks[k - 1], ink) if gap is None else inks[k - 1].shape[1] + gap)
        starts.append(x)
    canvas = np.zeros((height + 60, starts[-1] + inks[-1].shape[1] + 30), dtype=np.uint8)
    boxes = []
    for x, ink in zip(starts, inks):
        top = 30 + height - ink.shape[0]
        part = canvas[top:top + ink.shape[0], x:x + ink.shape[1]]
        np.maximum(part, ink, out=part)
        boxes.append((x, top, x + ink.shape[1], top + ink.shape[0]))
    return Image.fromarray(255 - canvas if dark_on_light else canvas), boxes


def _iou(a, b) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(w, 0) * max(h, 0)
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def _first(labels: np.ndarray, wanted: list[int], skip: int = 0) -> list[int]:
    return [int(np.flatnonzero(labels == d)[skip]) for d in wanted]


def test_digits_apart_are_found_left_to_right_with_their_boxes_and_read(held):
    images, labels = held
    picks = _first(labels, [3, 8, 1, 4])
    image, boxes = number_image([images[i] for i in picks])
    number = reading.read_number(image)
    assert number.text == "3814"
    assert [d.line for d in number.digits] == [0, 0, 0, 0]
    for found, true in zip(number.digits, boxes):
        assert _iou(found.box, true) > 0.8, (found.box, true)


def test_boxes_are_in_the_files_own_pixels_when_decoding_shrinks_it(held, tmp_path):
    images, labels = held
    image, boxes = number_image([images[i] for i in _first(labels, [4, 2])], gap=40)
    large = image.resize((image.width * 6, image.height * 6))  # decoded at a sixth, or less, of this
    large.save(tmp_path / "large.jpg", quality=95)
    number = reading.read_number(tmp_path / "large.jpg")
    assert number.text == "42"
    for found, true in zip(number.digits, boxes):
        assert _iou(found.box, tuple(6 * v for v in true)) > 0.8, (found.box, true)


def test_two_digits_that_touch_are_cut_apart(held):
    images, labels = held
    read = []
    for skip in range(3):
        picks = _first(labels, [5, 2, 0], skip)
        image, _ = number_image([images[i] for i in picks], gap=None)
        ink = splitting.ink_at(splitting.despeckled_grey(splitting.grey_levels(image)), 128 * 3)
        assert splitting.components(ink > 0, splitting.CELL).max() == 1  # one part: the ink really touches
        read.append(reading.read_number(image).text)
    assert read.count("520") >= 2, read


def test_without_a_judge_touching_digits_stay_one_group(held):
    images, labels = held
    image, _ = number_image([images[i] for i in _first(labels, [5, 2])], gap=None)
    assert len(splitting.find_digits(image, judge=None)) == 1
    assert len(splitting.find_digits(image, judge=reading.judge)) == 2


def test_a_five_whose_flag_is_drawn_apart_is_one_digit():
    image = Image.new("L", (200, 220), 255)
    draw = ImageDraw.Draw(image)
    draw.line([(70, 40), (70, 110)], fill=0, width=14)  # the stem
    draw.arc([50, 80, 150, 185], start=-150, end=150, fill=0, width=14)  # the bowl, open on the left
    draw.line([(92, 40), (150, 40)], fill=0, width=14)  # the flag, 15 px from the stem
    found = splitting.find_digits(image, judge=reading.judge)
    assert len(found) == 1
    assert reading.read_number(image).text == "5"


def _holds(box, inner) -> bool:
    """Whether the middle of `inner` lies inside `box` (both (x0, y0, x1, y1))."""
    x, y = (inner[0] + inner[2]) / 2, (inner[1] + inner[3]) / 2
    return box[0] <= x <= box[2] and box[1] <= y <= box[3]


def test_a_dash_or_a_dot_between_digits_stands_apart_from_them():
    """A phone number's dash or a decimal's dot is no flag: it never joins the digit beside it (which the
    gate then declined, "92-98" read "92?8"), while a 5's flag still does (above)."""
    numbers = [separated.marked(category, i) for category in ("handwritten", "pen") for i in range(12)]
    numbers = [n for n in numbers if set(n.text) & {"-", "."}]
    assert len(numbers) >= 12
    for number in numbers:
        digits = [b for b, c in zip(number.boxes, number.text) if c.isdigit()]
        marks = [b for b, c in zip(number.boxes, number.text) if c in "-."]
        for found in splitting.find_digits(number.image):  # grouped, not cut
            assert not (any(_holds(found.box, b) for b in digits) and any(_holds(found.box, m) for m in marks)), \
                (number.category, number.text, found.box)


def test_a_smudge_beside_one_digit_still_joins_it():
    """Stress photos whose smudges stood apart once a short part across a gap had to be a flag (the
    three of 5,000 that fell into 3-6 digits): held to that only between two digits, each is one digit."""
    from digitlab.data import stress

    for i in (341, 748, 867):
        image, _ = stress.raw_image("photo", i)
        assert len(reading.find_digits(image)) == 1, i


def test_lines_are_read_top_to_bottom_each_left_to_right(held):
    images, labels = held
    top, _ = number_image([images[i] for i in _first(labels, [1, 7])])
    bottom, _ = number_image([images[i] for i in _first(labels, [6, 9])])
    page = Image.new("L", (max(top.width, bottom.width), top.height + bottom.height), 255)
    page.paste(top, (0, 0))
    page.paste(bottom, (0, top.height))
    number = reading.read_number(page)
    assert number.text == "17 69"
    assert [d.line for d in number.digits] == [0, 0, 1, 1]


def test_one_digit_is_read_exactly_as_to_mnist_reads_it(held):
    images, labels = held
    for i in range(3):
        image = Image.fromarray(255 - _ink(images[i], 6)).resize((200, 260))
        found = splitting.find_digits(image, judge=reading.judge)
        assert len(found) == 1
        assert torch.equal(found[0].image, mnist_style.to_mnist(image))


def test_a_scribble_in_parts_is_declined_as_not_a_digit_rather_than_read_as_a_number():
    image = Image.new("L", (420, 160), 255)
    draw = ImageDraw.Draw(image)
    rng = np.random.default_rng(3)
    for x in range(20, 400, 48):  # wavy, looping strokes apart from each other
        points = [(x + 20 * np.sin(t) + rng.uniform(-6, 6), 80 + 55 * np.cos(2.3 * t)) for t in np.linspace(0, 6, 24)]
        draw.line(points, fill=0, width=6)
    number = reading.read_number(image)
    assert len(number.digits) > 1
    assert number.declined == "not a digit" and number.text is None


def test_a_declined_digit_is_a_question_mark_in_the_number():
    digits = [reading.DigitRead(3, 0.9, None, (0, 0, 1, 1), 0, torch.zeros(28, 28)),
              reading.DigitRead(None, 0.2, "unsure", (1, 0, 2, 1), 0, torch.zeros(28, 28)),
              reading.DigitRead(7, 0.9, None, (0, 1, 1, 2), 1, torch.zeros(28, 28))]
    assert reading.Number(digits, list(range(10))).text == "3? 7"
    assert reading.Number(digits, list(range(10)), "not a digit").text is None


def test_cuts_keep_the_pieces_the_judge_is_surest_of():
    own = np.zeros((40, 80), dtype=np.float32)
    own[:, 10:14] = 1  # three strokes: the judge likes two pieces, cut at the middle gap
    own[:, 38:42] = 1
    own[:, 66:70] = 1
    own[20, :] = 1  # joined by a thin line

    def judge(pieces):  # a piece holding exactly one stroke scores 0, others -5
        bars = [(p > 0.5).sum(0) > 8 for p in pieces]  # (28,) each: the columns of a stroke
        return torch.tensor([0.0 if int(b.float().diff().clamp_min(0).sum() + b[0]) == 1 else -5.0 for b in bars])

    pieces = cutting.cut(own, height=40, judge=judge)
    assert len(pieces) == 3
    assert [x for x, _, _ in pieces] == sorted(x for x, _, _ in pieces)
    narrow = own[:, :44]  # two strokes in a group no wider than a digit can be (MAX_PIECE heights)
    whole_best = cutting.cut(narrow, height=40, judge=lambda p: torch.full((len(p),), -1.0))  # each piece costs 1
    assert len(whole_best) == 1 and whole_best[0][2].shape == (40, 44)  # one piece scores best: uncut


def test_predict_reads_a_number_by_default_and_one_digit_with_single(held, tmp_path, capsys):
    images, labels = held
    image, boxes = number_image([images[i] for i in _first(labels, [2, 7])])
    image.save(tmp_path / "27.png")
    code, out, err = run_digitlab(capsys, "predict", tmp_path / "27.png", "--json", "--show", tmp_path / "shown")
    assert code == 0, err
    line = json.loads(out)
    assert (line["label"], line["number"]) == (None, "27")
    assert [d["label"] for d in line["digits"]] == [2, 7]
    assert all(_iou(d["box"], b) > 0.8 for d, b in zip(line["digits"], boxes))
    assert sorted(p.name for p in (tmp_path / "shown").iterdir()) == ["27-1.png", "27-2.png", "27-boxes.png"]
    code, out, _ = run_digitlab(capsys, "predict", tmp_path / "27.png")
    assert out.startswith(f"{tmp_path / '27.png'}: number 27  [2 (")
    code, out, _ = run_digitlab(capsys, "predict", tmp_path / "27.png", "--single", "--json")
    assert "number" not in json.loads(out) and json.loads(out)["label"] is None  # declined: several digits


def test_predict_gives_one_digit_the_same_answer_with_and_without_single(held, tmp_path, capsys):
    images, _ = held
    Image.fromarray(255 - _ink(images[5], 6)).save(tmp_path / "one.png")
    _, out, _ = run_digitlab(capsys, "predict", tmp_path / "one.png", "--json")
    _, single, _ = run_digitlab(capsys, "predict", tmp_path / "one.png", "--json", "--single")
    read, alone = json.loads(out), json.loads(single)
    assert read["probabilities"] == alone["probabilities"] and read["label"] == alone["label"] is not None
    assert read["number"] == str(read["label"]) and len(read["digits"]) == 1


def test_evaluate_reads_the_number_set_each_part_apart(capsys, monkeypatch, tmp_path):
    import shutil

    from digitlab import pretrained
    from digitlab.data import numbers

    monkeypatch.setattr(numbers, "PER_CATEGORY", {"choose": 2, "held_out": 1})  # 8 and 4 numbers
    model = tmp_path / "cnn"
    shutil.copytree(pretrained.path("cnn"), model)
    code, out, err = run_digitlab(capsys, "evaluate", model, "--dataset", "numbers")
    assert code == 0, err
    assert "choose part" in out and "held_out part" in out
    counts = [line for line in out.splitlines() if line.startswith("all ")]
    assert [c.split("(")[1] for c in counts] == ["8 numbers)", "4 numbers)"]
    whole = [float(c.split("whole")[1].split("%")[0]) for c in counts]
    assert whole[0] >= 50  # most of a handful of numbers read exactly (all 8 of the choose part, when measured)


def test_evaluate_refuses_the_number_set_for_a_model_of_fewer_digits(capsys, tmp_path):
    from digitlab import service

    clf = service.make("pixel")
    images, labels = mnist_arrays("train")
    keep = np.isin(labels[:600], [3, 7])
    clf.fit(torch.from_numpy(images[:600][keep]), torch.from_numpy(labels[:600][keep].astype(np.int64)))
    clf.save(tmp_path / "pixel-3v7")
    code, _, err = run_digitlab(capsys, "evaluate", tmp_path / "pixel-3v7", "--dataset", "numbers")
    assert code != 0 and "knows the digits [3, 7]" in err


def _one_path(own: np.ndarray, column: int, height: float) -> list[int]:
    """The cheapest path near `column`, as cutting._paths defines it, found the plain way: one column at a
    time, row by row, in Python (ties to the left-most move, then the left-most end)."""
    h, w = own.shape
    reach = max(1, int(cutting.BEND * height))
    xs = list(range(max(0, column - reach), min(w, column + reach + 1)))
    cell = [[float(own[y, x]) + cutting.STRAY * abs(x - column) / reach for x in xs] for y in range(h)]
    cost, moves = list(cell[0]), [[0] * len(xs)]
    for y in range(1, h):
        row, step = [], []
        for i in range(len(xs)):
            options = [cost[i - 1] if i else np.inf, cost[i], cost[i + 1] if i + 1 < len(xs) else np.inf]
            k = options.index(min(options))
            row.append(options[k] + cell[y][i])
            step.append(k - 1)
        cost, moves = row, moves + [step]
    i = cost.index(min(cost))
    path = [0] * h
    for y in range(h - 1, -1, -1):
        path[y] = xs[i]
        i += moves[y][i]
    return path


def test_every_cut_path_is_the_cheapest_one_found_column_by_column(held):
    """_paths finds every column's path at once; each must be the one the plain dynamic programme finds,
    near the group's edges too (where a band is cut short)."""
    images, labels = held
    image, _ = number_image([images[i] for i in _first(labels, [4, 7, 2])], gap=None)
    own = (255 - np.asarray(image, dtype=np.float32)) / 255
    own = own[:, own.any(0)]  # the group's own columns, edge to edge
    rng = np.random.default_rng(0)
    for ink, height in ((own, float(own.shape[0])), (own, 40.0), (rng.random((30, 45)), 20.0)):
        columns = [0, 1, 5, ink.shape[1] // 2, ink.shape[1] - 2, ink.shape[1] - 1]
        found = cutting._paths(ink, columns, height)
        assert [p.tolist() for p in found] == [_one_path(ink, c, height) for c in columns]


def test_a_pen_one_the_cnn_reads_as_seven_is_read_by_the_strip_reader_in_a_number(monkeypatch):
    """reading.read_twice: the number set's pen 9884061 (choose part), whose last 1 (a flag from its top)
    the cnn reads as a 7 at 0.89, is read 9884061, that 1 answered by the strip reader; the same digit
    alone is the cnn's, as before (an image of one digit is not read twice)."""
    from digitlab.data import numbers

    assert reading.SINGLE_STRIP_SURE is not None
    number = numbers.number("pen", 26, "choose")
    said = reading.read_number(number.image)
    assert said.text == "9884061"
    assert said.digits[-1].read_by == reading.STRIP_READ and said.digits[-1].label == 1
    last = said.digits[-1].box
    alone = reading.read_number(number.image.crop((last[0] - 10, 0, last[2] + 10, number.image.height)))
    assert len(alone.digits) == 1 and alone.digits[0].read_by is None and alone.text == "7"
    monkeypatch.setattr(reading, "SINGLE_STRIP_SURE", None)
    assert reading.read_number(number.image).text == "9884067"
