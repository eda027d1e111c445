"""Damaged digits as predict reads them, which the gate learns as digits and lets through: digitlab's
own kinds of damage (data/own_damage.py), the digits damaged and read (trust/gate_digits.py), the
training set's and the threshold's share of them, and the shipped gate answering a digit crossed by a
line."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from digitlab.data import corrupted, damage, heldout, own_damage
from digitlab.data.shipped_mnist import mnist_arrays
from digitlab.trust import gate, gate_digits, gate_training
from digitlab.trust.gate_config import CHOICE_PICKS, DAMAGE_SEED


def calibration_digits(count: int, start: int = 0) -> np.ndarray:
    mnist, _ = mnist_arrays("train")
    return mnist[heldout.CALIBRATION.start + start:heldout.CALIBRATION.start + start + count]


@pytest.mark.parametrize("name", own_damage.NAMES)
def test_each_own_kind_damages_more_at_a_higher_severity_and_draws_the_same_from_the_same_seed(name):
    kind = own_damage.KINDS[name]
    digits = calibration_digits(12).astype(np.float32) / 255
    changed = {}
    for severity in (1, 3):
        out = [kind(d, severity, np.random.default_rng([4, i])) for i, d in enumerate(digits)]
        assert all(o.shape == (28, 28) and o.dtype == np.float32 and 0 <= o.min() and o.max() <= 1 for o in out)
        again = kind(digits[0], severity, np.random.default_rng([4, 0]))
        assert np.array_equal(out[0], again)
        changed[severity] = np.mean([np.abs(o - d).sum() for o, d in zip(out, digits)])  # pixels' worth changed
    assert 0.5 < changed[1] < changed[3], changed


def test_defocus_spreads_the_ink_and_keeps_its_brightest():
    digit = calibration_digits(1)[0].astype(np.float32) / 255
    out = own_damage.defocus(digit, 3, np.random.default_rng(0))
    assert (out > 0.1).sum() > 1.3 * (digit > 0.1).sum()  # wider
    assert out.max() == pytest.approx(digit.max(), abs=1e-5)


def test_own_damaged_copies_take_the_kinds_in_turn_from_their_own_seed():
    digits = calibration_digits(11)
    got = own_damage.damaged_copies(digits, seed=9)
    assert got.shape == (11, 28, 28) and got.dtype == np.uint8
    for i in (0, 3, 7, 10):  # image 7: kind 7 % 5 = grid, severity 7 // 5 + 1 = 2
        name = own_damage.NAMES[i % len(own_damage.NAMES)]
        want = own_damage.KINDS[name](digits[i].astype(np.float32) / 255, i // 5 % 3 + 1, np.random.default_rng([9, i]))
        assert np.array_equal(got[i], (np.clip(want, 0, 1) * 255).round().astype(np.uint8)), i
    assert not np.array_equal(got, own_damage.damaged_copies(digits, seed=10))


def test_clutter_crosses_or_smears_every_digit_and_an_unknown_kind_is_refused():
    digits = calibration_digits(8)
    out = gate_digits.damaged(digits, "clutter", 3)
    assert (out != digits).reshape(8, -1).any(1).all()  # every one damaged
    crossed = out[0::2].astype(int) - digits[0::2]
    assert (crossed >= -1).all() and (crossed > 60).reshape(4, -1).any(1).all()  # lines add ink, take none
    assert np.array_equal(out, gate_digits.damaged(digits, "clutter", 3))
    seen = gate_digits.damaged(digits, "seen", 3)
    assert np.array_equal(seen, damage.damaged_copies(digits, 3))
    with pytest.raises(ValueError, match="no damage kind"):
        gate_digits.damaged(digits, "fog", 3)


def test_damaged_digits_are_read_as_predict_reads_them_and_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("DIGITLAB_HOME", str(tmp_path))
    mnist, _ = mnist_arrays("train")
    picks = np.arange(heldout.CALIBRATION.start, heldout.CALIBRATION.start + 40)
    got = gate_digits.read_damaged(mnist, picks, "seen", 9)
    raw = damage.damaged_copies(mnist[picks], 9)
    assert np.array_equal(got, gate_training.as_read(corrupted.cleaned(raw)))
    tensors = gate_training.as_read(raw)
    # image 0 (shot noise) is a dark 28 x 28 page, read as it is; image 38 (brightness at severity 3) is a
    # grey page, which to_mnist reads
    assert np.array_equal(got[:38], tensors[:38]) and np.abs(got[38].astype(int) - tensors[38]).max() > 100
    monkeypatch.setattr(gate_digits, "as_predict_reads", lambda raw: 1 / 0)  # the second call reads the cache
    assert np.array_equal(gate_digits.read_damaged(mnist, picks, "seen", 9), got)


def test_the_gate_reads_damaged_fit_digits_only_each_kind_in_turn(monkeypatch):
    mnist, _ = mnist_arrays("train")
    asked = []
    monkeypatch.setattr(gate_digits, "read_damaged",
                        lambda m, picks, kind, seed: asked.append((picks, kind, seed)) or m[picks])
    got = gate_training.read_damaged_digits(mnist, 30, 2, own=True)
    assert [kind for _, kind, _ in asked] == ["seen", "own", "clutter"] and {s for *_, s in asked} == {2}
    picks = np.concatenate([p for p, _, _ in asked])
    assert len(set(picks.tolist())) == 30 and picks.max() < heldout.START  # never a held-out digit
    assert np.array_equal(got, mnist[picks])
    asked.clear()
    gate_training.read_damaged_digits(mnist, 30, 2, own=False)
    assert [kind for _, kind, _ in asked] == ["seen", "clutter"]
    assert gate_training.read_damaged_digits(mnist, 0).shape == (0, 28, 28)


def test_the_choice_draws_are_calibration_digits_of_seeds_no_training_draw_uses():
    spans = [picks for picks, _ in CHOICE_PICKS.values()]
    assert all(s.start >= heldout.CALIBRATION.start and s.stop <= heldout.CALIBRATION.stop for s in spans)
    assert all(a.stop <= b.start for a, b in zip(spans, spans[1:]))  # apart
    seeds = {seed for _, seed in CHOICE_PICKS.values()}
    assert DAMAGE_SEED not in seeds and damage.SEED not in seeds


def test_damaged_digits_read_as_predict_reads_them_can_set_the_threshold():
    class Known:  # a gate whose digit probability is the image's first pixel
        config = gate.GateConfig(must_answer=0.75)

        def proba(self, images):
            p = images[:, 0, 0]
            return torch.stack([p, 1 - p, torch.zeros_like(p)], 1)

    def held(*values):
        return torch.tensor(values).reshape(-1, 1, 1).float()

    sets = {name: held(0.6, 0.7, 0.8, 0.9) for name in ("mnist", "stress", "damaged", "scanned")}
    sets |= {"damaged, as read": held(0.3, 0.4, 0.5, 0.6), "nondigits": held(0.1, 0.35, 0.45, 0.65)}
    threshold, passed = gate_training.choose_threshold(Known(), sets)
    assert threshold == pytest.approx(0.375)  # the damaged digits read as predict reads them bind
    assert passed["damaged, as read"] == 0.75 and passed["nondigits"] == 0.5


def test_a_gate_saved_before_damaged_digits_were_read_loads_as_having_read_none(tmp_path):
    import json

    config = gate.GateConfig(width=2, read_damaged=12, read_own=False, threshold=0.4)
    gate.save(gate.Gate(gate.GateNet(2), config), tmp_path / "gate")
    assert gate.load(tmp_path / "gate").config == config
    saved = json.loads((tmp_path / "gate" / "config.json").read_text())
    del saved["config"]["read_damaged"], saved["config"]["read_own"]
    (tmp_path / "gate" / "config.json").write_text(json.dumps(saved))
    assert gate.load(tmp_path / "gate").config.read_damaged == 0


def test_the_shipped_gate_answers_held_out_digits_crossed_by_lines_or_smeared_as_predict_reads_them():
    # The gate shipped before this lever declined 4.2 % of calibration digits crossed or smeared and
    # read as predict reads them (benchmarks/gate_damage.py); here 200 others, of a seed nothing was
    # chosen on (11).
    mnist, _ = mnist_arrays("train")
    picks = np.arange(heldout.CALIBRATION.start + 3_800, heldout.CALIBRATION.stop)
    images = gate_digits.as_predict_reads(gate_digits.damaged(mnist[picks], "clutter", 11))
    shipped = gate.shipped()
    declined = shipped.proba(torch.from_numpy(images).float() / 255)[:, gate.DIGIT] < shipped.config.threshold
    assert int(declined.sum()) <= 2, picks[declined.numpy()]
