"""The number set: seeded, each part's MNIST digits its own, the overlapping gap only held out, each
digit's box its ink's, gaps that touch or keep apart as named, and the scores' values."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from digitlab.data import datasets, numbers, shipped_mnist
from digitlab.data.number_drawing import INK, compose, cropped
from digitlab.errors import DataError
from digitlab.vision.page import components


def _ink(number: numbers.Number) -> np.ndarray:
    """(H, W) float: the number's ink, white on black, whichever its polarity (the set's pages are plain)."""
    grey = np.asarray(number.image, dtype=np.float32)
    edge = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    return 255 - grey if np.median(edge) > 127 else grey


@pytest.fixture(scope="module")
def drawn() -> list[numbers.Number]:
    """The first 56 numbers of every category of both parts: every length, polarity and gap kind."""
    return numbers.build("choose", per_category=56) + numbers.build("held_out", per_category=56)


@pytest.mark.parametrize("category", numbers.CATEGORIES)
def test_a_number_is_the_same_pixels_each_time_and_another_i_or_seed_differs(category):
    def pixels(n):
        return np.asarray(n.image)

    first = numbers.number(category, 3, "held_out", seed=5)
    again = numbers.number(category, 3, "held_out", seed=5)
    assert first.image.mode == "L"
    assert np.array_equal(pixels(first), pixels(again)) and first.boxes == again.boxes and first.text == again.text
    # Number 59 has number 3's length, polarity and gap kind (they take turns every 7, 14 and 56)
    for other in (numbers.number(category, 59, "held_out", seed=5), numbers.number(category, 3, "held_out", seed=6),
                  numbers.number(category, 3, "choose", seed=5)):
        assert pixels(other).shape != pixels(first).shape or not np.array_equal(pixels(other), pixels(first))


def test_lengths_polarities_and_gaps_take_turns(drawn):
    pen = [n for n in drawn if n.category == "pen" and n.part == "choose"]
    assert [len(n.text) for n in pen[:9]] == [2, 3, 4, 5, 6, 7, 8, 2, 3]
    assert [n.gap for n in pen[::14]] == ["wide", "normal", "touching", "wide"]
    dark = [np.median(np.asarray(n.image)) > 127 for n in pen[:14]]
    assert dark == [True] * 7 + [False] * 7  # light paper, dark ink, then the other way round
    assert {n.gap for n in drawn if n.category == "typed"} == {None}
    assert [n.category for n in numbers.build("choose", per_category=2)] == [c for c in numbers.CATEGORIES for _ in "ab"]


def test_each_part_draws_its_own_mnist_digits_and_only_held_out_overlaps(drawn):
    _, labels = shipped_mnist.mnist_arrays("train")
    used = {part: [n for n in drawn if n.part == part and n.mnist_indices] for part in numbers.PARTS}
    for part, found in used.items():
        assert {n.category for n in found} == {"handwritten", "photo"}  # photos of handwritten numbers too
        for n in found:
            assert all(i in numbers.HANDWRITTEN_DIGITS[part] for i in n.mnist_indices), (part, n.mnist_indices)
            assert "".join(str(labels[i]) for i in n.mnist_indices) == n.text  # each digit is the MNIST digit named
    assert numbers.HANDWRITTEN_DIGITS["choose"] == range(55_000, 58_500)
    assert numbers.HANDWRITTEN_DIGITS["held_out"] == range(58_500, 59_000)
    assert {n.gap for n in drawn if n.part == "choose"} == {None, "wide", "normal", "touching"}
    assert {n.gap for n in drawn if n.part == "held_out"} == {None, *numbers.GAPS}
    assert not any(n.mnist_indices for n in drawn if n.category in ("typed", "pen"))
    fonts = {part: {n.font for n in drawn if n.part == part and n.category == "typed"} for part in numbers.PARTS}
    assert len(fonts["choose"]) > 10 and not fonts["choose"] & set(numbers.HELD_OUT_FONTS)
    assert fonts["held_out"] & set(numbers.HELD_OUT_FONTS) and fonts["held_out"] - set(numbers.HELD_OUT_FONTS)


def test_each_box_is_its_digits_ink_box_left_to_right(drawn):
    for n in drawn:
        assert len(n.boxes) == len(n.text), n
        centres = [(b[0] + b[2]) / 2 for b in n.boxes]  # a touching digit may reach under the one before
        assert all(a < b for a, b in zip(centres, centres[1:])), (n.category, n.gap, n.boxes)
        if n.gap in ("wide", "normal"):
            assert all(a[2] < b[0] for a, b in zip(n.boxes, n.boxes[1:])), (n.category, n.gap, n.boxes)
        assert all(0 <= x0 < x1 <= n.image.width and 0 <= y0 < y1 <= n.image.height for x0, y0, x1, y1 in n.boxes)
        if n.category == "photo":  # turned, blurred and lit: each box holds a pixel far from the paper's shade
            grey = np.asarray(n.image, dtype=np.float32)
            assert all(np.abs(grey[y0:y1, x0:x1] - np.median(grey)).max() > 40 for x0, y0, x1, y1 in n.boxes)
            continue
        inked = _ink(n) >= INK
        covered = np.zeros_like(inked)
        for x0, y0, x1, y1 in n.boxes:  # tight: ink on each of the box's four edges
            box = inked[y0:y1, x0:x1]
            assert box[0].any() and box[-1].any() and box[:, 0].any() and box[:, -1].any(), (n.category, n.text)
            covered[y0:y1, x0:x1] = True
        assert not (inked & ~covered).any()  # no ink outside every box


def _parts_in(labels: np.ndarray, box) -> set[int]:
    x0, y0, x1, y1 = box
    return set(np.unique(labels[y0:y1, x0:x1]).tolist()) - {0}


def test_touching_neighbours_ink_is_connected_and_wide_neighbours_is_not(drawn):
    seen = {"touching": 0, "wide": 0, "overlapping": 0}
    for n in drawn:
        if n.category not in ("handwritten", "pen") or n.gap not in seen:
            continue
        labels = components(_ink(n) >= INK, cell=1)
        for left, right in zip(n.boxes, n.boxes[1:]):
            shared = _parts_in(labels, left) & _parts_in(labels, right)
            assert bool(shared) == (n.gap != "wide"), (n.category, n.gap, n.text)
            seen[n.gap] += 1
    assert min(seen.values()) > 50


def _mnist_glyph(index: int, scale: float) -> np.ndarray:
    images, _ = shipped_mnist.mnist_arrays("train")
    ink = Image.fromarray(cropped(images[index]))
    return np.asarray(ink.resize((round(ink.width * scale), round(ink.height * scale)), Image.Resampling.BILINEAR),
                      dtype=np.float32)


@pytest.mark.parametrize("gap", numbers.GAPS)
def test_compose_keeps_each_gap_kind_between_two_digits(gap):
    glyphs = [_mnist_glyph(55_000 + k, 3.0) for k in range(48)]  # real digits, three times their size
    overlaps = []
    for k in range(0, 48, 2):
        pair = glyphs[k:k + 2]
        height = np.median([(g >= INK).any(1).sum() for g in pair])  # the digit height gaps are measured in
        ink, boxes = compose(pair, gap, np.random.default_rng(k))
        # Each glyph's ink, where compose put it: its own ink box at the box compose reports.
        masks = []
        for glyph, (x0, y0, x1, y1) in zip(pair, boxes):
            own = np.zeros(ink.shape, bool)
            gx, gy = np.flatnonzero((glyph >= INK).any(0))[0], np.flatnonzero((glyph >= INK).any(1))[0]
            own[y0:y1, x0:x1] = glyph[gy:gy + y1 - y0, gx:gx + x1 - x0] >= INK
            masks.append(own)
        first, second = masks
        assert np.array_equal(first | second, ink >= INK)  # the ink combined by max
        rows = first.any(1) & second.any(1)
        last_of_first = np.where(first.any(1), first.shape[1] - 1 - np.argmax(first[:, ::-1], 1), -10**6)
        first_of_second = np.where(second.any(1), np.argmax(second, 1), 10**6)
        reach = (last_of_first - first_of_second)[rows]  # how far the first's ink runs past the second's, per row
        if gap in ("wide", "normal"):
            empty = boxes[1][0] - (last_of_first.max() + 1)
            low, high = {"wide": (0.3, 0.8), "normal": (0.05, 0.25)}[gap]
            assert low * height - 1 <= empty <= high * height + 1
        elif gap == "touching":  # one column shared, or side by side (corners included) and none shared
            above_or_below = np.maximum.reduce([np.r_[last_of_first[1:], -10**6], last_of_first,
                                                np.r_[-10**6, last_of_first[:-1]]])
            assert reach.max() == 0 or (reach.max() < 0 and (above_or_below - first_of_second).max() == -1)
        else:
            overlaps.append(reach.max() + 1)  # columns shared
    if gap == "overlapping":
        assert min(overlaps) == 2 and max(overlaps) == 6, overlaps


def test_digit_accuracy_counts_edits_per_digit():
    assert numbers.digit_accuracy("3814", "3814") == 1.0
    assert numbers.digit_accuracy("384", "3814") == 0.75  # one digit missed
    assert numbers.digit_accuracy("3?14", "3814") == 0.75  # one not read
    assert numbers.digit_accuracy("38114", "3814") == 0.75  # one too many
    assert numbers.digit_accuracy("3841", "3814") == 0.5  # two swapped: two edits of four
    assert numbers.digit_accuracy("", "3814") == 0.0
    assert numbers.digit_accuracy("99999999", "38") == 0.0  # floored at 0, not -3


def _number(text, category, gap=None):
    return numbers.Number(Image.new("L", (4, 4)), text, category, gap, (), "choose")


def test_accuracy_splits_by_category_length_and_gap():
    made = [_number("12", "handwritten", "wide"), _number("345", "handwritten", "touching"),
            _number("67890", "typed"), _number("1234", "photo", "wide")]
    result = numbers.accuracy(["12", "3?5", "67890", ""], made)
    assert result["whole"] == 0.5 and result["count"] == 4
    assert result["digits"] == pytest.approx((1 + 2 / 3 + 1 + 0) / 4)
    assert result["by_category"] == {
        "handwritten": {"whole": 0.5, "digits": pytest.approx((1 + 2 / 3) / 2), "count": 2},
        "typed": {"whole": 1.0, "digits": 1.0, "count": 1},
        "photo": {"whole": 0.0, "digits": 0.0, "count": 1},
    }
    assert result["by_length"] == {"2-4": {"whole": 1 / 3, "digits": pytest.approx((1 + 2 / 3) / 3), "count": 3},
                                   "5-8": {"whole": 1.0, "digits": 1.0, "count": 1}}
    assert result["by_gap"] == {"wide": {"whole": 0.5, "digits": 0.5, "count": 2},
                                "touching": {"whole": 0.0, "digits": pytest.approx(2 / 3), "count": 1}}
    text = numbers.describe(result)
    assert text.splitlines()[0] == "all          whole  50.00%  digits  66.67%  (4 numbers)"
    assert "  typed        whole 100.00%  digits 100.00%  (1 numbers)" in text.splitlines()


def test_the_set_is_named_test_only_and_is_not_loaded_as_digits():
    assert "numbers" in datasets.TEST_ONLY and datasets.splits("numbers") == ["valid"]
    with pytest.raises(DataError, match="score a model on it with digitlab evaluate MODEL --dataset numbers"):
        datasets.load("numbers", "valid")
    with pytest.raises(DataError, match="unknown number category 'pens'"):
        numbers.number("pens", 0)
    with pytest.raises(DataError, match="unknown part of the number set 'test'"):
        numbers.build("test")


def test_build_is_each_number_drawn_alone_in_category_order():
    built = numbers.build("held_out", per_category=3, seed=2)
    assert [(n.category, n.text) for n in built] == [(n.category, n.text) for n in numbers.each("held_out", 3, seed=2)]
    alone = numbers.number("pen", 2, "held_out", seed=2)
    assert built[2 * 3 + 2].text == alone.text and np.array_equal(np.asarray(built[8].image), np.asarray(alone.image))
