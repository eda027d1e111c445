"""The piece judge (trust/pieces.py, trust/piece_training.py): the pieces the cutter weighs, how they are
labelled, the shipped judge telling whole digits from parts, and what it does for reading numbers.
Numbers come from the number set's choose part (held-out MNIST digits), never from the judge's own."""

import dataclasses

import numpy as np
import pytest
import torch

from digitlab import reading
from digitlab.data import numbers
from digitlab.errors import ModelError
from digitlab.trust import gate, pieces, piece_training
from digitlab.trust.decline import classifier
from digitlab.trust.pieces import ONE, PART, SEVERAL
from digitlab.vision import splitting


def test_a_piece_is_labelled_by_how_its_box_meets_the_digits_boxes():
    digits = ((0, 0, 40, 60), (38, 0, 80, 60))
    assert piece_training.label((1, 0, 40, 60), digits) == ONE  # nearly the first digit's box
    assert piece_training.label((40, 2, 79, 60), digits) == ONE
    assert piece_training.label((0, 0, 80, 60), digits) == SEVERAL  # both
    assert piece_training.label((0, 0, 20, 60), digits) == PART  # half a digit
    assert piece_training.label((20, 0, 60, 60), digits) == PART  # the halves of two


@pytest.fixture(scope="module")
def touching():
    """The choose part's touching handwritten numbers of 2-4 digits (held-out MNIST digits)."""
    drawn = [n for n in numbers.each("choose", 84) if n.category == "handwritten" and n.gap == "touching"]
    return [n for n in drawn if len(n.text) <= 4]


def test_the_cutter_weighs_a_whole_piece_for_most_digits_of_touching_numbers(touching):
    whole, total = 0, 0
    for number in touching[:6]:
        weighed = splitting.weighed_pieces(number.image)
        assert weighed, number.text  # touching digits make a group wide enough to cut
        labels = [piece_training.label(box, number.boxes) for box, _ in weighed]
        h, w = number.image.height, number.image.width
        assert all(0 <= b[0] < b[2] <= w + 1 and 0 <= b[1] < b[3] <= h + 1 for b, _ in weighed)
        whole += labels.count(ONE)
        total += len(number.text)
    assert whole >= 0.6 * total, (whole, total)  # a right cut is among the candidates for most digits


def test_the_shipped_judge_calls_whole_digits_whole_and_parts_not(touching):
    framed, labels = [], []
    for number in touching[:8]:
        x, y = piece_training.number_pieces(number)
        framed.append(torch.from_numpy(x)), labels.append(torch.from_numpy(y.astype(np.int64)))
    x, y = torch.cat(framed), torch.cat(labels)
    assert (y == ONE).sum() >= 8 and (y == PART).sum() >= 50
    p_one = pieces.shipped().proba(x)[:, ONE]
    assert p_one[y == ONE].median() > 0.5 > p_one[y == PART].median()
    assert p_one[y == ONE].mean() - p_one[y == PART].mean() > 0.4
    # the gate alone does not tell them apart so well: what the judge adds
    p_gate = gate.shipped().proba(x)[:, gate.DIGIT]
    assert p_one[y == ONE].mean() - p_one[y == PART].mean() > p_gate[y == ONE].mean() - p_gate[y == PART].mean()


def test_the_cutters_judge_weighs_the_piece_judge_as_reading_says():
    x = torch.from_numpy(np.concatenate([piece_training.number_pieces(n)[0][:4] for n in numbers.each("choose", 3)
                                         if n.category == "handwritten"]))
    assert len(x) >= 4
    signs = [reading.weighed_judge(1, 0, 0)(x), reading.weighed_judge(0, 1, 0)(x), reading.weighed_judge(0, 0, 1)(x)]
    assert torch.allclose(signs[0], pieces.shipped().log_one(x))
    weights = (reading.PIECE_WEIGHT, reading.GATE_WEIGHT, reading.SURE_WEIGHT)
    assert torch.allclose(reading.judge(x), sum(w * s for w, s in zip(weights, signs)), atol=1e-5)
    assert torch.allclose(reading.weighed_judge(2, 1, 0)(x), 2 * signs[0] + signs[1], atol=1e-5)


def test_numbers_of_every_kind_are_read_with_the_piece_judge():
    """An accuracy floor: 56 of the choose part's numbers, every category and gap kind, cut with the piece
    judge and the gate (2026-12-07: 89.3 % whole, touching 66.7 %; with the gate and the cnn, as reading
    does today, 91.1 % and 75.0 %, the same within this sample's noise: on 1,200 numbers the piece judge
    reads 1.5 points more, RESULTS.md). With the judge's weights reset: 83.9 %."""
    clf = classifier(None)  # the shipped cnn
    sample = [numbers.number(c, i) for c in numbers.CATEGORIES for i in range(0, 42, 3)]  # every gap kind
    kept = [dataclasses.replace(n, image=None) for n in sample]
    judge = reading.weighed_judge(piece=1, gate=1, sure=0)
    read = [reading.read_digits(clf, splitting.find_digits(n.image, judge=judge)).text or "" for n in sample]
    result = numbers.accuracy(read, kept)
    assert result["whole"] >= 0.85 and result["by_gap"]["touching"]["whole"] >= 0.55, result


def test_loading_a_gate_as_the_piece_judge_is_a_one_line_error():
    with pytest.raises(ModelError, match="not a piece judge"):
        pieces.load(gate.shipped_path())
    judge = pieces.shipped()
    assert judge.config.width == judge.net.body[0].out_channels
