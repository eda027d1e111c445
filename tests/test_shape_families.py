"""The training generator's sixteen later shape families (data/shape_families.py): each drawn family is
what it says, measured on the drawn ink (tips counted round a circle, strokes along a line, holes in
the page), and the same seed draws the same image."""

from __future__ import annotations

import math
import numpy as np
import pytest

from digitlab.data import nondigits
from digitlab.data import shape_families as families


def ink(image) -> np.ndarray:
    return np.asarray(image) > 127


def centre_and_reach(mask: np.ndarray) -> tuple[np.ndarray, float]:
    """The ink's centroid (y, x) and the distance of its farthest pixel from it."""
    yx = np.argwhere(mask)
    centre = yx.mean(0)
    return centre, float(np.hypot(*(yx - centre).T).max())


def runs(line: np.ndarray, circular: bool = False) -> int:
    """How many runs of True along `line` (a circle's samples join end to start)."""
    line = np.asarray(line, dtype=bool)
    starts = int((line & ~np.roll(line, 1)).sum()) if circular else int(line[0]) + int((line[1:] & ~line[:-1]).sum())
    return starts if circular or line.any() else 0


def reach(mask: np.ndarray, bins: int = 360, window: int = 7) -> np.ndarray:
    """How far the ink reaches from its centroid in each of `bins` directions, averaged over `window`
    of them so that a pixel's step is not a tip."""
    c, _ = centre_and_reach(mask)
    y, x = (np.argwhere(mask) - c).T
    where = ((np.arctan2(y, x) + math.pi) / (2 * math.pi) * bins).astype(int) % bins
    far = np.zeros(bins)
    np.maximum.at(far, where, np.hypot(y, x))
    wrapped = np.concatenate([far[-window:], far, far[:window]])
    return np.convolve(wrapped, np.ones(window) / window, "same")[window:-window]


def count_tips(mask: np.ndarray) -> int:
    """Tips, corners, arms, petals or rays: runs of directions in which the ink reaches further than
    halfway between its nearest and farthest reach, for a filled shape and an outline alike."""
    far = reach(mask)
    return runs(far > (far.min() + far.max()) / 2, circular=True)


def depth(mask: np.ndarray) -> float:
    """The nearest reach over the farthest: a star's notches go deep, a polygon's sides do not."""
    far = reach(mask)
    return float(far.min() / far.max())


def regions(mask: np.ndarray) -> list[tuple[int, bool]]:
    """4-connected regions of True: (size, touches the border) each, flood-filled one by one."""
    from PIL import Image, ImageDraw

    page = Image.fromarray(np.where(mask, 255, 0).astype(np.uint8)).copy()  # its own pixels, which floodfill changes
    out = []
    for name in range(1, 255):
        left = np.asarray(page) == 255
        if not left.any():
            return out
        y, x = np.unravel_index(int(left.argmax()), left.shape)
        ImageDraw.floodfill(page, (int(x), int(y)), name)
        region = np.asarray(page) == name
        out.append((int(region.sum()), bool(region[[0, -1]].any() or region[:, [0, -1]].any())))
    raise AssertionError("over 254 regions")


def pieces(mask: np.ndarray) -> int:
    """Pieces of ink, specks under 30 px (anti-aliasing's crumbs) not counted."""
    return sum(size >= 30 for size, _ in regions(mask))


def holes(mask: np.ndarray) -> int:
    """Pieces of page the ink encloses (not reaching the border), specks under 30 px not counted."""
    return sum(size >= 30 and not edge for size, edge in regions(~mask))


def rng(i: int) -> np.random.Generator:
    return np.random.default_rng([30, i])


@pytest.mark.parametrize("tips", [5, 7, 8, 9])
def test_a_star_polygon_is_one_closed_stroke_with_its_tips(tips):
    for i in range(3):
        mask = ink(families.star_polygon(rng(i), tips=tips))
        assert count_tips(mask) == tips
        assert pieces(mask) == 1  # one stroke
        if tips < 9:  # {9/2}'s notches are as shallow as a thick pen's polygon: only {9/4}'s go deep
            assert depth(mask) < 0.85  # a polygon's sides would be 0.92 of its reach or more


@pytest.mark.parametrize("tips", [5, 8, 10, 12, 15])
def test_a_spiky_star_or_seal_has_its_tips(tips):
    for i in range(3):
        mask = ink(families.spiky_star(rng(i), tips=tips))
        assert count_tips(mask) == tips
        assert depth(mask) < (0.7 if tips <= 10 else 0.95)  # sharp tips, or a seal's blunt ones


@pytest.mark.parametrize("sides", [3, 4, 7, 8])
def test_a_regular_polygon_has_its_corners(sides):
    for i in range(3):
        mask = ink(families.regular_polygon(rng(i), sides=sides))
        assert count_tips(mask) == sides


def test_a_nested_shape_holds_a_second_shape_inside_its_outline():
    nested = []
    for i in range(10):
        mask = ink(families.nested(rng(i)))
        assert holes(mask) >= 1  # the outline
        # inside it a dot or a shape standing apart, or an inner outline that parts its inside in two
        nested.append(pieces(mask) >= 2 or holes(mask) >= 2)
    assert sum(nested) >= 8  # a heavy outline can swallow a triangle's inner outline: 1 in 8 draws


def end_widths(mask: np.ndarray) -> tuple[float, float]:
    """The ink's spread across its long axis in the first and last sixth along it."""
    yx = np.argwhere(mask).astype(float)
    yx -= yx.mean(0)
    _, _, axes = np.linalg.svd(yx, full_matrices=False)
    along, across = yx @ axes[0], yx @ axes[1]
    low, high = np.quantile(along, [1 / 6, 5 / 6])
    return float(np.ptp(across[along <= low])), float(np.ptp(across[along >= high]))


def test_a_line_arrow_has_a_head_at_one_end_or_both():
    for i in range(6):
        one = sorted(end_widths(ink(families.line_arrow(rng(i), ends=1))))
        two = sorted(end_widths(ink(families.line_arrow(rng(i), ends=2))))
        assert one[1] > 1.5 * one[0]  # the head's barbs spread wider than the tail
        assert two[1] < 1.3 * two[0]  # a head at each end: both as wide
        assert two[0] > one[0]


@pytest.mark.parametrize("arms", [2, 3, 4])
def test_an_asterisk_has_twice_its_strokes_as_arms(arms):
    for i in range(3):
        mask = ink(families.asterisk(rng(i), arms=arms))
        assert count_tips(mask) == 2 * arms
        assert pieces(mask) == 1


@pytest.mark.parametrize("petals", [5, 6, 8])
def test_a_daisy_has_its_petals_round_a_filled_middle(petals):
    for i in range(3):
        mask = ink(families.flower(rng(i), petals=petals))
        c, _ = centre_and_reach(mask)
        assert count_tips(mask) == petals
        assert mask[int(c[0]), int(c[1])]


@pytest.mark.parametrize("rays", [6, 9, 12])
def test_a_sun_has_its_rays_apart_from_its_disc(rays):
    for i in range(3):
        mask = ink(families.sun(rng(i), rays=rays))
        assert count_tips(mask) == rays
        assert pieces(mask) == rays + 1  # the rays stand off the disc


def row_widths(mask: np.ndarray) -> np.ndarray:
    """Each inked row's ink extent, top to bottom."""
    rows = [np.nonzero(r)[0] for r in mask if r.any()]
    return np.array([r[-1] - r[0] + 1 for r in rows])


def test_a_house_stands_under_a_pointed_roof():
    for i in range(6):
        widths = row_widths(ink(families.house(rng(i), turn=0.0)))
        assert widths[int(0.08 * len(widths))] < 0.4 * widths.max()  # near the apex
        assert widths[int(0.8 * len(widths))] > 0.7 * widths.max()  # the body


def test_a_face_is_an_outline_two_eyes_and_a_mouth():
    for i in range(6):
        mask = ink(families.face(rng(i)))
        assert pieces(mask) == 4
        assert holes(mask) == 1  # the face's inside, eyes and mouth standing in it


def test_a_teardrop_has_a_point_far_from_its_round_end():
    for i in range(6):
        mask = ink(families.teardrop(rng(i)))
        yx = np.argwhere(mask).astype(float) - np.argwhere(mask).mean(0)
        distance = np.hypot(*yx.T)
        tip = yx[distance.argmax()] / distance.max()
        assert distance.max() > 1.25 * (-(yx @ tip)).max()  # the point reaches further than the round end
        assert holes(mask) == 0 and pieces(mask) == 1


def test_an_envelope_is_an_outline_with_its_flap():
    for i in range(6):
        mask = ink(families.envelope(rng(i), turn=0.0))
        assert pieces(mask) == 1
        assert holes(mask) >= 2  # above the flap and below it: a bare outline would hold one


@pytest.mark.parametrize("spikes", [3, 4, 5])
def test_a_crown_has_its_points(spikes):
    for i in range(3):
        mask = ink(families.crown(rng(i), spikes=spikes, turn=0.0))
        top = np.nonzero(mask.any(1))[0]
        assert runs(mask[top[0] + int(0.1 * len(top))]) == spikes + 1


def test_a_tick_falls_short_then_rises_long():
    for i in range(6):
        mask = ink(families.tick(rng(i), turn=0.0))
        yx = np.argwhere(mask)
        (top, left), (bottom, right) = yx.min(0), yx.max(0)
        lowest, highest = yx[yx[:, 0].argmax()], yx[yx[:, 0].argmin()]
        left_end = yx[yx[:, 1] == left][:, 0].mean()
        assert highest[1] > left + 0.75 * (right - left)  # the long stroke ends high on the right ...
        assert left_end > top + 0.4 * (bottom - top)  # ... the short one starts low on the left ...
        assert left < lowest[1] < right  # ... and the bend between them is the lowest point


def test_a_noughts_and_crosses_grid_encloses_one_square_and_crosses_twice_each_way():
    for i in range(6):
        mask = ink(families.noughts_grid(rng(i), turn=0.0))
        yx = np.argwhere(mask)
        (top, left), (bottom, right) = yx.min(0), yx.max(0)
        assert runs(mask[(top + bottom) // 2]) == 2 and runs(mask[:, (left + right) // 2]) == 2
        assert holes(mask) == 1 and pieces(mask) == 1


def test_a_rounded_block_is_solid_and_not_a_bar():
    for i in range(6):
        mask = ink(families.rounded_block(rng(i)))
        yx = np.argwhere(mask).astype(float)
        spread = np.linalg.svd(yx - yx.mean(0), compute_uv=False)
        assert spread[1] / spread[0] >= 0.4  # no thinner than 0.45 of its length: a bar would be a 1
        assert holes(mask) == 0 and pieces(mask) == 1


@pytest.mark.parametrize("name", [*sorted(families.FAMILIES), "any_shape"])
def test_every_family_draws_the_same_inked_image_from_the_same_seed(name):
    draw = families.FAMILIES.get(name, families.any_shape)
    first, again = draw(rng(99)), draw(rng(99))
    assert np.array_equal(np.asarray(first), np.asarray(again)) and ink(first).any()
    assert not np.array_equal(np.asarray(first), np.asarray(draw(rng(98))))


def test_about_half_the_training_shapes_come_from_the_new_families_and_none_of_the_test_shapes(monkeypatch):
    from PIL import Image

    calls = []

    def counted(rng):
        calls.append(1)
        return Image.new("L", (64, 64), 255)

    monkeypatch.setattr(families, "any_shape", counted)
    for i in range(200):
        nondigits.raw_image("shapes", i, kind="train")
    assert 80 <= len(calls) <= 120
    calls.clear()
    for i in range(50):
        nondigits.raw_image("shapes", i, kind="test")
    assert not calls  # the test set's shapes stay families the gate never trained on


def test_the_shipped_gate_declines_a_held_out_draw_of_each_family():
    import torch

    from digitlab.trust import decline
    from digitlab.vision.mnist_style import to_mnist

    # seeds 31.. and 131..: not the training generator's (nondigits._rng), drawn as its shapes are
    images = torch.stack([to_mnist(nondigits._on_page(draw(rng(31 + k)), rng(131 + k)))
                          for k, draw in enumerate(families.FAMILIES.values())])
    verdicts = dict(zip(families.FAMILIES, decline.screen(images)))
    assert all(v in (decline.NOT_A_DIGIT, decline.SEVERAL) for v in verdicts.values()), verdicts
