"""explain.py: each explanation checked against the model it explains (issue 23, part 3)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from digitlab import pretrained
from digitlab.classifiers import make
from digitlab.errors import DataError
from digitlab.explain import attribution, explanations, pictures, words
from digitlab.vision.deskew import deskewed


@pytest.fixture(scope="module")
def shipped():
    return {method: pretrained.load(method) for method in ("pixel", "linear", "simple_net", "cnn")}


@pytest.fixture(scope="module")
def digits(mnist_test):
    return mnist_test.images[:6]  # (6, 28, 28) uint8: 7, 2, 1, 0, 4, 1


def _score(e: explanations.Explanation, label: int) -> float:
    return e.scores[e.classes.index(label)]


@pytest.mark.parametrize("method", ["linear", "simple_net"])
def test_contributions_plus_bias_are_the_logit(method, shipped, digits):
    clf = shipped[method]
    with torch.no_grad():
        logits = clf.model_(clf._images(digits))  # (6, 10), the network's own forward pass
    for image, row in zip(digits, logits):
        e = explanations.explain(clf, image)
        best, second = e.classes.index(e.label), e.classes.index(e.runner_up)
        assert best == row.argmax().item()
        torch.testing.assert_close(e.maps["contribution"].sum().item() + e.notes["bias"], row[best].item(),
                                   rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(e.maps["runner_up_contribution"].sum().item() + e.notes["runner_up_bias"],
                                   row[second].item(), rtol=1e-5, atol=1e-5)


def test_a_two_class_linear_models_second_class_is_the_negative_logit(mnist_train):
    keep = (mnist_train.labels == 3) | (mnist_train.labels == 7)
    X, y = mnist_train.images[keep][:300], mnist_train.labels[keep][:300]
    clf = make("linear", epochs=1, batch_size=64).fit(X, y, progress=False)
    e = explanations.explain(clf, X[0])
    with torch.no_grad():
        logit = clf.model_(clf._images(X[:1]))[0, 0].item()  # the first class's (3's) logit
    sign = 1 if e.label == 3 else -1
    torch.testing.assert_close(e.maps["contribution"].sum().item() + e.notes["bias"], sign * logit, rtol=1e-5, atol=1e-5)
    assert (e.label == 3) == (logit > 0)


def test_the_simple_nets_units_are_its_biggest_pushes(shipped, digits):
    e = explanations.explain(shipped["simple_net"], digits[0])
    shares = [share for _, share in e.notes["units"]]
    assert shares == sorted(shares, reverse=True) and shares[0] > 0
    assert {f"unit_{u}" for u, _ in e.notes["units"]} <= set(e.maps)


def test_integrated_gradients_add_up_to_the_change_from_the_baseline(shipped, digits):
    clf = shipped["cnn"]
    # The explanation's function: the mean over every test-time shift (predict shifts only unsure digits)
    with torch.no_grad():
        logits = clf.model_.averaged(clf._images(digits).unsqueeze(1))  # (6, 10)
        black = clf.model_.averaged(torch.zeros(1, 1, 28, 28))[0]  # (10,)
    for image, row in zip(digits, logits):
        e = explanations.explain(clf, image)
        assert e.label == row.argmax().item()
        change = row[e.label].item() - black[e.label].item()
        total = e.maps["integrated_gradients"].sum().item()
        assert abs(total - change) <= 0.01 * abs(change), (total, change, e.notes["ig_steps"])


class _Kink(nn.Module):
    """Class 1's score is relu(ink - kink): along the path a * x it is 0 until a = kink / ink, then
    rises straight; class 0's is a constant."""

    def __init__(self, kink: float):
        super().__init__()
        self.kink = kink

    def forward(self, x):
        ink = x.sum(dim=(1, 2, 3))  # (B,)
        return torch.stack([torch.zeros_like(ink), torch.relu(ink - self.kink)], dim=1)  # (B, 2)


def test_integrated_gradients_cuts_the_piece_a_kink_falls_in():
    image = torch.rand(28, 28)
    ink = image.sum().item()
    at = 0.335  # the kink's place on the path; one gradient in its piece (0.3125-0.375) is 3 % off
    attributions, change, taken = attribution.integrated_gradients(_Kink(at * ink), image, target=1)
    assert change == pytest.approx((1 - at) * ink, rel=1e-5)
    # the kink's piece is cut (and its kink's third twice more at most), no other piece
    assert attribution.IG_PIECES < taken <= attribution.IG_PIECES + 6
    # each pixel's gradient is 1 past the kink, so its attribution is its ink times the path past it
    torch.testing.assert_close(attributions, image * (1 - at), rtol=0.01, atol=0)


def test_the_shifts_in_one_batch_are_the_mean_of_five_passes(shipped, digits):
    # Integrated gradients and occlusion explain the model that answered, shifts included, and ask
    # it for many images at once: its one batch must be exactly the five views' mean.
    model = shipped["cnn"].model_.eval()
    x = shipped["cnn"]._images(digits).unsqueeze(1)  # (6, 1, 28, 28)
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1))
    with torch.no_grad():
        five = [model.net(padded[..., 1 + dy:29 + dy, 1 + dx:29 + dx]) for dy, dx in model.SHIFTS]
        torch.testing.assert_close(model.averaged(x), torch.stack(five).mean(dim=0))


@pytest.mark.parametrize("distance", ["l2", "l1"])
def test_pixel_distances_match_a_direct_computation(distance, shipped, digits):
    clf = pretrained.load("pixel")
    clf.config.distance = distance
    ideals = clf.ideals_.numpy().astype(np.float64)  # (10, k, 28, 28): each class's ideal digits
    for image in digits:
        seen = deskewed(torch.as_tensor(image)[None].float() / 255)[0].numpy().astype(np.float64)
        diff = seen[None, None] - ideals  # (10, k, 28, 28)
        to_each = np.sqrt((diff ** 2).mean(axis=(2, 3))) if distance == "l2" else np.abs(diff).mean(axis=(2, 3))
        direct, nearest = to_each.min(axis=1), to_each.argmin(axis=1)  # (10,): each class's nearest ideal
        e = explanations.explain(clf, image)
        np.testing.assert_allclose(e.scores, direct, rtol=1e-4, atol=1e-6)
        assert e.label == int(np.argmin(direct)) and e.runner_up == int(np.argsort(direct)[1])
        np.testing.assert_allclose(e.seen.numpy(), seen, atol=1e-6)  # deskewed, as the model sees it
        near, far = ideals[e.label, nearest[e.label]], ideals[e.runner_up, nearest[e.runner_up]]
        np.testing.assert_allclose(e.maps["minus_nearest_mean"].numpy(), seen - near, atol=1e-6)
        np.testing.assert_allclose(e.maps["minus_runner_up_mean"].numpy(), seen - far, atol=1e-6)
        power = 2 if distance == "l2" else 1
        gap = direct[e.runner_up] ** power - direct[e.label] ** power
        np.testing.assert_allclose(e.maps["evidence"].sum().item() / 784, gap, rtol=1e-3, atol=1e-6)


class _Patch(nn.Module):
    """Class 1's score is the ink in rows 12-15, columns 8-11; class 0's is a constant."""

    def forward(self, x):
        ink = x[:, 0, 12:16, 8:12].sum(dim=(1, 2))  # (B,)
        return torch.stack([torch.full_like(ink, 0.5), ink], dim=1)  # (B, 2)


def test_occlusion_picks_out_the_pixels_the_answer_depends_on():
    image = torch.rand(28, 28) * 0.5 + 0.5  # ink everywhere, so every square's removal could matter
    heat = attribution.occlusion(_Patch(), image, target=1)
    patch = torch.zeros(28, 28, dtype=torch.bool)
    patch[12:16, 8:12] = True
    assert (heat[patch] > 0).all()
    assert (heat[~patch] == 0).all()
    torch.testing.assert_close(heat[patch], image[patch].sum().expand(16))  # the whole patch goes at once


def test_occlusion_on_the_cnn_looks_only_where_the_ink_is(shipped):
    image = torch.zeros(28, 28)
    image[6:22, 13:15] = 1.0  # a synthetic 1: a bar down the middle
    heat = attribution.occlusion(shipped["cnn"].model_.eval(), image, target=1)
    blocks = heat.reshape(7, 4, 7, 4)[:, 0, :, 0]  # (7, 7) one value per blacked-out square
    assert (blocks[:, [0, 1, 2, 4, 5, 6]] == 0).all()  # black squares blacked out change nothing
    assert blocks[2:5, 3].gt(0).all()  # the bar's middle holds the answer up


@pytest.mark.parametrize("window", [4, 3])
def test_occlusion_is_captums_occlusion_of_the_same_squares(window, shipped, digits):
    from captum.attr import Occlusion

    model = shipped["cnn"].model_.eval()
    for x in shipped["cnn"]._images(digits[:3]):  # (28, 28) each
        heat = attribution.occlusion(model, x, target=5, window=window)
        with torch.no_grad():  # every square its own pass, uninked ones too
            slid = Occlusion(model).attribute(x.reshape(1, 1, 28, 28), sliding_window_shapes=(1, window, window),
                                              strides=(1, window, window), baselines=0.0, target=5)
        covered = 28 // window * window  # Occlusion's windows stop where a whole one no longer fits
        torch.testing.assert_close(heat[:covered, :covered], slid[0, 0, :covered, :covered], rtol=1e-4, atol=1e-5)


def test_every_explanation_is_made_from_what_the_model_sees(shipped, digits):
    for clf in shipped.values():
        e = explanations.explain(clf, digits[0])
        torch.testing.assert_close(e.seen, clf._images(digits[:1])[0])
        assert e.label == clf.predict(digits[:1]).item() == 7
        assert all(m.shape == (28, 28) for m in e.maps.values())


def test_json_carries_28_by_28_maps_and_pictures_are_saved(shipped, digits, tmp_path):
    e = explanations.explain(shipped["linear"], digits[0])
    out = json.loads(json.dumps(explanations.to_json(e)))
    assert out["label"] == 7 and len(out["maps"]["contribution"]) == 28
    assert all(len(row) == 28 for row in out["maps"]["contribution"])
    written = pictures.save_pictures(e, tmp_path / "why", "seven")
    assert sorted(p.name for p in written) == ["seven-contribution.png", "seven-runner_up_contribution.png",
                                               "seven-seen.png"]


def _hues(picture: Image.Image) -> tuple[np.ndarray, np.ndarray]:
    """(h, w) how red and how blue each pixel of an RGB picture is, 0-255."""
    rgb = np.asarray(picture.convert("RGB")).astype(int)
    return rgb[..., 0] - rgb[..., 2], rgb[..., 2] - rgb[..., 0]


def test_each_saved_map_is_captioned_with_its_colour_key_for_this_answer(shipped, digits, tmp_path):
    """predict --explain's pictures: the map, a strip from blue to red, and the words, in the picture and in
    the PNG's text, naming this answer's digits: 7 for the answer's map, 3 (the runner-up) for its map."""
    e = explanations.explain(shipped["linear"], digits[0])
    assert (e.label, e.runner_up) == (7, 3)
    pictures.save_pictures(e, tmp_path, "seven")
    for key, digit in (("contribution", "7"), ("runner_up_contribution", "3")):
        picture = Image.open(tmp_path / f"seven-{key}.png")
        assert picture.width > 224 and picture.height > 224 + 100  # room for the key and the caption
        said = words.for_map(e, key)
        assert said.blue == f"lowered {digit}'s score" and said.red == f"raised {digit}'s score"
        assert picture.text["Title"] == said.title and f"({digit})" in said.title
        assert said.caption in picture.text["Description"] and f"red: {said.red}" in picture.text["Description"]
        red, blue = _hues(picture)
        top = 40 + 224  # the title's line and the map above; the key's strip below them
        below = (red[top:] > 240).any(axis=1) & (blue[top:] > 240).any(axis=1)  # rows holding deep red and deep blue
        assert below.sum() >= pictures.KEY_HEIGHT, key
    seen = Image.open(tmp_path / "seven-seen.png")
    assert seen.height > 224 and "white ink on black" in seen.text["Description"]


def test_every_map_has_words_and_the_scores_are_said_with_the_probabilities(shipped, digits):
    for method, clf in shipped.items():
        e = explanations.explain(clf, digits[1])  # a 2
        proba = dict(zip(clf.classes_.tolist(), clf.predict_proba(digits[1:2])[0].tolist()))
        said = explanations.to_json(e, proba)["words"]
        assert set(said["maps"]) == set(e.maps), method
        for key, each in said["maps"].items():
            assert each["title"].startswith(words.map_name(key)) and each["blue"] and each["red"], (method, key)
            sentence = re.sub(r"(\d)\.(\d)", r"\1,\2", each["caption"])  # a number's point ends no sentence
            assert re.fullmatch(r"[A-Z][^.!?]*\.", sentence), (method, key, each["caption"])  # one sentence
            assert str(e.label) in each["caption"], (method, key)
        best, second = e.classes.index(e.label), e.classes.index(e.runner_up)
        lean = "distance to each digit's nearest ideal" if method == "pixel" else "how strongly the model leans to each digit"
        assert said["scores"].lower().startswith(lean), method
        digits_ = 2 if method == "pixel" else 1
        assert f"{e.scores[best]:.{digits_}f} " in said["scores"] and f"{e.scores[second]:.{digits_}f} " in said["scores"]
        assert f"{words.percent(proba[e.label])} for {e.label}," in said["scores"], said["scores"]


def test_a_hidden_units_picture_is_its_strongest_weights_over_the_digit(shipped, digits):
    """The simple net's units drawn as what excites them: the first layer's weights into the unit, the
    reddest square its largest weight, the bluest its most negative, only its strongest 10 % coloured,
    and the digit in grey under the rest; the units shown are those that raised the answer's score most."""
    clf = shipped["simple_net"]
    e = explanations.explain(clf, digits[0])
    first, last = [m for m in clf.model_.modules() if isinstance(m, nn.Linear)]
    hidden = torch.relu(first(e.seen.reshape(1, -1)))[0].detach()  # (H,)
    pushes = last.weight.detach()[e.label] * hidden  # (H,) each unit's share of the answer's score
    assert [u for u, _ in e.notes["units"]] == pushes.argsort(descending=True)[:explanations.UNITS_SHOWN].tolist()
    for unit, _ in e.notes["units"]:
        weights = first.weight.detach()[unit].reshape(28, 28)
        red, blue = (h[::pictures.PICTURE_SCALE, ::pictures.PICTURE_SCALE]
                     for h in _hues(pictures.picture(e, f"unit_{unit}")))  # (28, 28) a square each
        assert red.argmax() == weights.argmax() and blue.argmax() == weights.argmin(), unit
        assert ((red > 0) | (blue > 0)).sum() == round(words.STRONGEST_INPUTS * 784)
        said = words.for_map(e, f"unit_{unit}")
        assert f"Unit {unit} raised 7's score" in said.caption and said.grey


def test_what_each_model_learned(shipped):
    ideals = explanations.learned(shipped["pixel"])  # each class's 10 most common ideal digits in a row, the row named once
    k = min(shipped["pixel"].config.ideals, 10)
    assert len(ideals) == 10 * k and [c for c, _ in ideals][:k + 1] == ["0"] + [""] * (k - 1) + ["1"]
    assert torch.equal(ideals[k + 1][1], shipped["pixel"].ideals_[1, 1])
    book = make("pixel").fit(torch.rand(4, 28, 28), torch.tensor([0, 1, 0, 1]))
    assert [c for c, _ in explanations.learned(book)] == ["mean 0", "mean 1"]
    assert all(p.shape == (28, 28) for _, p in explanations.learned(shipped["linear"]))
    assert len(explanations.learned(shipped["simple_net"], units=5)) == 5
    filters = explanations.learned(shipped["cnn"])
    assert len(filters) == 24 and filters[0][1].shape == (3, 3)


def test_one_image_at_a_time(shipped, digits):
    with pytest.raises(DataError, match="one image"):
        explanations.explain(shipped["pixel"], digits[:2])
