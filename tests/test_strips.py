"""The strip reader (vision/strip_reading.py, strip_training.py) and how it steers the cutter
(cutting.read_cut) and vouches for a piece (reading.vouched). Numbers come from the number set's choose
part (held-out MNIST digits) and non-digits from the generator's held-out draws, never the reader's own."""

import dataclasses

import numpy as np
import pytest
import torch
from PIL import Image

from digitlab import reading
from digitlab.data import nondigits, numbers
from digitlab.data.shipped_mnist import mnist_arrays
from digitlab.errors import ModelError
from digitlab.trust import decline, gate
from digitlab.trust.decline import classifier
from digitlab.vision import cutting, mnist_style, splitting, strip_reading, strip_training


def test_a_numbers_strips_are_labelled_with_the_digits_whose_centres_they_hold():
    drawn = numbers.number("handwritten", 3, numbers.FIT, 7, ("touching",))  # 5 digits, some touching
    # the same number scanned at three times the size: its boxes in the image's pixels, the groups' in work pixels
    w, h = drawn.image.size
    large = dataclasses.replace(drawn, image=drawn.image.resize((3 * w, 3 * h), Image.Resampling.BILINEAR),
                                boxes=tuple(tuple(3 * v for v in box) for box in drawn.boxes))
    for number in (drawn, large):
        found = strip_training.labelled_strips(number)
        assert "".join(text for _, text in found) == drawn.text  # every digit in one strip, in order
        assert any(len(text) > 1 for _, text in found)  # touching digits make one group
        assert all(s.shape[0] == strip_reading.HEIGHT and s.max() <= 1 for s, _ in found)


class _Read:
    def __init__(self, text: str):
        self.text, self.probability = text, 1.0


def _three_strokes() -> np.ndarray:
    own = np.zeros((40, 80), dtype=np.float32)
    own[:, 10:14] = own[:, 38:42] = own[:, 66:70] = 1
    own[20, :] = 1  # joined by a thin line
    return own


def _one_stroke_judge(pieces: torch.Tensor) -> torch.Tensor:
    """0 for a piece holding one stroke, -5 for any other: it cuts the three strokes apart."""
    bars = [(p > 0.5).sum(0) > 8 for p in pieces]
    return torch.tensor([0.0 if int(b.float().diff().clamp_min(0).sum() + b[0]) == 1 else -5.0 for b in bars])


def test_the_cutter_leaves_as_many_pieces_as_the_strip_reader_read():
    own = _three_strokes()
    flat = lambda p: torch.zeros(len(p), 10)  # noqa: E731  the cnn's say left out
    assert len(cutting.cut(own, 40, _one_stroke_judge)) == 3
    pieces, said = cutting.read_cut(own, 40, _one_stroke_judge, cutting.Guide(lambda o: _Read("17"), flat))
    assert len(pieces) == 2 and said.text == "17"  # two pieces, though the judge likes three
    pieces, said = cutting.read_cut(own, 40, _one_stroke_judge, cutting.Guide(lambda o: _Read("4"), flat))
    assert len(pieces) == 1 and pieces[0][2].shape == own.shape and said is None  # one digit: left whole
    pieces, said = cutting.read_cut(own, 40, _one_stroke_judge, cutting.Guide(lambda o: _Read(""), flat))
    assert len(pieces) == 3 and said is None  # read as nothing: cut as before


def _strokes(piece: torch.Tensor) -> int:
    bars = (piece > 0.5).sum(0) > 8  # (28,) the columns of a stroke
    return int(bars.float().diff().clamp_min(0).sum() + bars[0])


def test_the_cnns_say_picks_which_cuts_leave_the_digits_read():
    """The judge indifferent; the 'cnn' reads one stroke as a 1 and two as a 7: the cuts follow the digits read."""
    own = _three_strokes()

    def says(pieces: torch.Tensor) -> torch.Tensor:
        scores = torch.full((len(pieces), 10), -9.0)
        for k, p in enumerate(pieces):
            scores[k, {1: 1, 2: 7}.get(_strokes(p), 0)] = 0.0
        return scores

    indifferent = lambda p: torch.zeros(len(p))  # noqa: E731
    for text, strokes in (("17", [1, 2]), ("71", [2, 1])):
        pieces, said = cutting.read_cut(own, 40, indifferent, cutting.Guide(lambda o: _Read(text), says))
        framed = [mnist_style.from_ink(mnist_style.cropped(p)) for _, _, p in pieces]
        assert said.text == text and [_strokes(f) for f in framed] == strokes


@pytest.fixture(scope="module")
def cnn():
    return classifier(None)


def test_a_piece_the_gate_declines_is_answered_when_the_strip_reader_read_it_so(cnn):
    images, labels = mnist_arrays("train")
    seven = torch.from_numpy(images[int(np.flatnonzero(labels[55_000:] == 7)[0]) + 55_000]).float() / 255
    read = reading.DigitRead(None, 0.3, decline.NOT_A_DIGIT, (0, 0, 1, 1), 0, seven)
    found = [splitting.Digit((0, 0, 1, 1), 0, seven, None, 7)]
    assert reading.vouched(cnn, found, [read])[0].label == 7  # the strip reader read a 7 there, and so does the cnn
    found = [splitting.Digit((0, 0, 1, 1), 0, seven, None, 3)]
    assert reading.vouched(cnn, found, [read])[0].declined == decline.NOT_A_DIGIT  # it read a 3: still declined
    found = [splitting.Digit((0, 0, 1, 1), 0, seven)]
    assert reading.vouched(cnn, found, [read])[0].declined == decline.NOT_A_DIGIT  # no strip reader's say


@pytest.mark.skipif(not strip_reading.shipped_path().is_dir(), reason="no strip reader ships (a draft, not landed)")
def test_loading_a_gate_as_the_strip_reader_is_a_one_line_error():
    with pytest.raises(ModelError, match="not a strip reader"):
        strip_reading.load(gate.shipped_path())
    reader = strip_reading.shipped()
    assert reader.config.width == reader.net.features[0][0].out_channels


def test_a_reads_probability_is_the_sum_over_every_path_that_spells_it():
    """Against every path of a 4-step strip counted by hand: a path spells its labels with repeats merged
    and blanks dropped. (The best path alone is not it: it falls with a strip's length.)"""
    import itertools

    logp = torch.randn(4, 1, strip_reading.BLANK + 1, generator=torch.Generator().manual_seed(0)).log_softmax(2)
    steps = torch.tensor([4])

    def spelt(path) -> str:
        merged = [label for k, label in enumerate(path) if k == 0 or label != path[k - 1]]
        return "".join(str(label) for label in merged if label != strip_reading.BLANK)

    for text in ("3", "37", "33", ""):
        by_hand = sum(float(logp[range(4), 0, list(path)].sum().exp())
                      for path in itertools.product(range(strip_reading.BLANK + 1), repeat=4) if spelt(path) == text)
        assert strip_reading.read_probabilities(logp, steps, [text]) == pytest.approx([by_hand], rel=1e-4)
    # in a batch: each strip's own, its steps and read as given
    two = strip_reading.read_probabilities(torch.cat([logp, logp], 1), torch.tensor([4, 3]), ["37", "3"])
    assert two[0] == pytest.approx(strip_reading.read_probabilities(logp, steps, ["37"])[0], rel=1e-5)
    assert two[1] == pytest.approx(strip_reading.read_probabilities(logp[:3], torch.tensor([3]), ["3"])[0], rel=1e-5)


def test_a_strip_with_no_digits_weighs_nondigit_weight_in_the_training_loss():
    """Against torch's own CTC loss: weight 1 is its "mean" reduction, value and gradients to the bit (A's
    training unchanged); weight 4 is the mean of each strip's loss alone (torch's "mean" of a batch of
    one), a strip with no digits counted four times; and loss_for takes the weight from the config."""
    ctc = torch.nn.functional.ctc_loss
    texts = ["", "3", "47", ""]
    strips = [np.zeros((strip_reading.HEIGHT, 12), np.uint8)] * len(texts)  # 6 time steps each
    _, y = next(iter(strip_training.StripLoader(strips, texts, len(texts), False, 0)))  # packed as fit's
    logp = torch.randn(6, len(texts), strip_reading.BLANK + 1, generator=torch.Generator().manual_seed(0))
    logp = logp.log_softmax(2).requires_grad_()
    by_torch = ctc(logp, y[:, 2:], y[:, 0], y[:, 1], blank=strip_reading.BLANK, zero_infinity=True)
    ours = strip_training.ctc_loss(logp, y)
    assert torch.equal(ours, by_torch)
    assert torch.equal(torch.autograd.grad(ours, logp)[0], torch.autograd.grad(by_torch, logp)[0])
    alone = [float(ctc(logp.detach()[:, [k]], y[[k], 2:], y[[k], 0], y[[k], 1], blank=strip_reading.BLANK))
             for k in range(len(texts))]
    weighted = (4 * alone[0] + alone[1] + alone[2] + 4 * alone[3]) / (4 + 1 + 1 + 4)
    loss = strip_training.loss_for(strip_reading.StripConfig(nondigit_weight=4.0))
    assert float(loss(logp.detach(), y)) == pytest.approx(weighted, rel=1e-6)
    assert weighted != pytest.approx(sum(alone) / len(alone), rel=1e-3)  # the weight does move it


def test_the_shipped_strip_reader_reads_by_its_reads_probability():
    """The reader that ships vouches by how likely its read is, not its best path (RESULTS.md: readsure)."""
    reader = strip_reading.shipped()
    drawn = numbers.number("handwritten", 3, numbers.FIT, 7, ("touching",))
    strips = [s for s, _ in strip_training.labelled_strips(drawn)]
    read = reader.read_strips(strips[:1])  # alone: a batch pads it, and padding moves the last steps
    x, steps = strip_reading.batch(strips[:1])
    with torch.no_grad():
        logp = reader.net(x)
    text, best = strip_reading.greedy(logp, steps)[0]
    assert read[0].text == text and read[0].probability >= float(np.exp(best)) - 1e-6
    assert read[0].probability == pytest.approx(strip_reading.read_probabilities(logp, steps, [text])[0], rel=1e-4)


def test_a_piece_of_touching_digits_answers_the_digit_the_strip_reader_read_there(cnn, monkeypatch):
    """The choose part's handwritten 2369, its 6 and 9 touching: the cut leaves part of the 9 out of its
    piece, which the model reads as a 7; the strip reader read the group uncut as 69. With its digits
    (reading.STRIP_DIGITS) the number is read right, each of the two with the read's own probability."""
    drawn = numbers.number("handwritten", 79, "choose")
    assert drawn.text == "2369" and drawn.gap == "touching"
    said = reading.read_number(drawn.image, cnn)
    assert said.text == "2369"
    steered = [d for d in said.digits if d.probability >= reading.STRIP_SURE and d.label in (6, 9)]
    assert [d.label for d in steered] == [6, 9] and steered[0].probability == steered[1].probability < 1
    assert [d.read_by for d in said.digits].count(reading.STRIP_READ) >= 2  # and says who read them
    monkeypatch.setattr(reading, "STRIP_DIGITS", False)
    assert reading.read_number(drawn.image, cnn).text == "2367"  # the model's own reading of the pieces


def test_predict_says_which_digits_the_strip_reader_read(tmp_path, capsys):
    import json

    from cli_run import digitlab

    numbers.number("handwritten", 79, "choose").image.save(tmp_path / "2369.png")
    code, out, err = digitlab(capsys, "predict", tmp_path / "2369.png", "--json")
    assert code == 0, err
    line = json.loads(out)
    assert line["number"] == "2369"
    assert [d["label"] for d in line["digits"] if d.get("read_by") == "strip reader"][-2:] == [6, 9]
    code, out, err = digitlab(capsys, "predict", tmp_path / "2369.png")
    assert "number 2369" in out and "9 (0." in out and ", strip reader)" in out


def test_strip_read_answers_only_the_pieces_the_strip_reader_read():
    seven = torch.zeros(28, 28)
    found = [splitting.Digit((0, 0, 1, 1), 0, seven, None, 7, 0.97), splitting.Digit((1, 0, 2, 1), 0, seven)]
    digits = [reading.DigitRead(None, 0.3, decline.NOT_A_DIGIT, f.box, 0, seven) for f in found]
    read = reading.strip_read(found, digits)
    assert (read[0].label, read[0].probability, read[0].declined) == (7, 0.97, None)
    assert read[1] == digits[1]  # no strip reader's say: as the model and the gate had it


def test_two_touching_digits_the_strip_reader_is_sure_of_are_not_declined_as_a_pair(cnn, monkeypatch):
    """The choose part's pen 80, its digits touching: framed together the gate calls them no digit, which
    declined the number whole; the strip reader read them, each in a read at least READ_PAIRS_SURE likely."""
    drawn = numbers.number("pen", 77, "choose")
    assert drawn.text == "80" and drawn.gap == "touching"
    assert reading.read_number(drawn.image, cnn).text == "80"
    monkeypatch.setattr(reading, "READ_PAIRS_SURE", None)  # every pair asked, as before
    assert reading.read_number(drawn.image, cnn).text is None
    monkeypatch.setattr(reading, "READ_PAIRS_SURE", 1.0)  # a read less sure than that: asked
    assert reading.read_number(drawn.image, cnn).text is None
