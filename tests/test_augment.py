"""The cnn's augmentation (classifiers/cnn/augment.py) checked image by image against references
written here: each draw replayed from a copy of the generator, each filter against PyTorch's
pooling, and the order in which `augmented` applies them."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F

from digitlab.classifiers.cnn import augment, presets
from digitlab.classifiers.cnn.config import CNNConfig
from digitlab.train import clutter


@pytest.fixture(scope="module")
def digits(mnist_train):
    return mnist_train.images[:64]  # (64, 28, 28) uint8


def _twin(seed: int) -> tuple[torch.Generator, torch.Generator]:
    return torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed)


def test_shifted_moves_each_image_by_exactly_its_own_drawn_offset(digits):
    generator, replay = _twin(3)
    out = augment.shifted(digits, 2, generator)
    offsets = torch.randint(0, 5, (2, len(digits)), generator=replay)  # (2, N): dy, dx in 0 .. 4
    padded = F.pad(digits, (2, 2, 2, 2))
    for i in range(len(digits)):
        dy, dx = offsets[:, i].tolist()
        assert torch.equal(out[i], padded[i, dy:dy + 28, dx:dx + 28]), i
    # Exactly two rows of draws: what the epoch draws next (the next view, the next epoch) is unchanged.
    assert torch.equal(torch.rand(3, generator=generator), torch.rand(3, generator=replay))


def test_a_max_spread_is_a_max_pool_of_width_2_reach_plus_1(digits):
    for reach in (1, 2):
        expected = F.max_pool2d(digits.float()[:, None], 2 * reach + 1, stride=1, padding=reach)[:, 0]
        out = augment._spread(digits, reach, torch.maximum)
        assert out.dtype == torch.uint8 and torch.equal(out.float(), expected), reach


def test_a_min_spread_is_a_2_by_2_min_filter_with_paper_beyond_the_edge():
    x = torch.randint(1, 256, (5, 28, 28), generator=torch.Generator().manual_seed(0)).to(torch.uint8)
    padded = F.pad(x.float()[:, None], (0, 1, 0, 1))  # zero (paper) below and to the right
    expected = -F.max_pool2d(-padded, 2, stride=1)[:, 0]  # min of each pixel, right, below, diagonal
    out = augment._spread(x, 0, torch.minimum, one_sided=True)
    assert torch.equal(out.float(), expected)
    assert (out[:, -1, :] == 0).all() and (out[:, :, -1] == 0).all()  # the last row and column meet paper


def test_restroked_grows_or_thins_each_image_by_its_own_drawn_amount(digits):
    generator, replay = _twin(5)
    out = augment.restroked(digits, 2, generator)
    k = torch.randint(-1, 3, (len(digits),), generator=replay)  # (N,) in -1 .. 2
    assert set(k.tolist()) == {-1, 0, 1, 2}  # the seed draws every kind
    for i, amount in enumerate(k.tolist()):
        one = digits[i:i + 1]
        if amount > 0:
            expected = augment._spread(one, amount, torch.maximum)
        elif amount == -1:
            expected = augment._spread(one, 0, torch.minimum, one_sided=True)
        else:
            expected = one
        assert torch.equal(out[i:i + 1], expected), (i, amount)
    grown, thinned = out[k == 2].float().sum(), digits[k == 2].float().sum()
    assert grown > 1.5 * thinned  # growing by 2 px adds ink; thinning takes it away
    assert out[k == -1].float().sum() < digits[k == -1].float().sum()


def test_a_gaussian_blur_keeps_the_ink_and_spreads_it_by_sigma():
    dot = torch.zeros(1, 28, 28)
    dot[0, 14, 14] = 1.0
    for sigma in augment.BLUR_SIGMAS:
        out = augment._gaussian(dot, sigma)[0]
        assert out.sum().item() == pytest.approx(1.0, abs=1e-5)
        assert out.argmax().item() == 14 * 28 + 14
        rows = torch.arange(28.0)
        variance = ((rows - 14) ** 2 * out.sum(dim=1)).sum().item()
        assert variance == pytest.approx(sigma**2, rel=0.15), sigma  # the taps reach 3 sigma


def test_degraded_changes_exactly_the_drawn_images_in_the_drawn_way(digits):
    generator, replay = _twin(7)
    out = augment.degraded(digits, 0.5, 0.4, generator)
    draws = torch.rand(4, len(digits), generator=replay)
    blurred, small = draws[0] < 0.5, draws[2] < 0.4
    assert blurred.any() and small.any() and (~(blurred | small)).any()
    assert torch.equal(out[~(blurred | small)], digits[~(blurred | small)])  # the rest untouched
    for i in range(len(digits)):
        if not (blurred[i] or small[i]):
            continue
        x = digits[i:i + 1].float() / 255
        if blurred[i]:
            x = augment._gaussian(x, augment.BLUR_SIGMAS[int(draws[1, i] * 3)])
        if small[i]:
            side = augment.LOW_SIDES[int(draws[3, i] * 3)]
            shrunk = F.interpolate(x[:, None], size=(side, side), mode="bilinear", antialias=True)
            x = F.interpolate(shrunk, size=(28, 28), mode="bilinear")[:, 0]
        expected = (x / x.amax().clamp_min(1e-6)).mul(255).round().to(torch.uint8)
        assert (out[i:i + 1].int() - expected.int()).abs().max() <= 1, i
    floats = augment.degraded(digits.float() / 255, 0.5, 0.4, torch.Generator().manual_seed(7))
    assert floats.dtype == torch.float32 and (floats.amax(dim=(1, 2))[blurred | small] - 1).abs().max() < 1e-5


def test_clutter_smears_before_it_draws_lines_in_the_images_own_dtype(digits):
    config = CNNConfig(lines=0.5, smear=0.5)
    generator, replay = _twin(11)
    out = augment._cluttered(digits, config, generator)
    x = digits.float() / 255
    x = clutter.crossed(clutter.smeared(x, 0.5, replay), 0.5, replay)
    assert out.dtype == torch.uint8 and torch.equal(out, x.mul(255).round().to(torch.uint8))
    only_lines = augment._cluttered(digits, dataclasses.replace(config, smear=0.0), torch.Generator().manual_seed(11))
    expected = clutter.crossed(digits.float() / 255, 0.5, torch.Generator().manual_seed(11))
    assert torch.equal(only_lines, expected.mul(255).round().to(torch.uint8))
    floats = augment._cluttered(digits.float() / 255, config, torch.Generator().manual_seed(11))
    assert floats.dtype == torch.float32 and torch.equal(floats, x)


def test_clutter_turns_and_outlines_before_it_smears_and_draws_lines(digits):
    config = CNNConfig(turn=0.5, outline=0.3, smear=0.3, lines=0.3)
    generator, replay = _twin(19)
    out = augment._cluttered(digits, config, generator)
    x = clutter.turned(digits.float() / 255, 0.5, replay)
    x = clutter.crossed(clutter.smeared(clutter.outlined(x, 0.3, replay), 0.3, replay), 0.3, replay)
    assert out.dtype == torch.uint8 and torch.equal(out, x.mul(255).round().to(torch.uint8))


def _thick_inside(x: torch.Tensor) -> torch.Tensor:
    """(n, 28, 28) in [0, 1] -> bool: pixels whose whole 3 x 3 neighbourhood is ink (over half)."""
    return -F.max_pool2d(-(x > 0.5).float()[:, None], 3, stride=1, padding=1)[:, 0] > 0


@pytest.mark.parametrize("option", ["turn", "outline"])
def test_a_turn_or_outline_share_changes_about_that_share_of_the_epochs_images_its_way(digits, option):
    config = CNNConfig(augment=True, shift=0, **{option: 0.5})  # shift 0: the clutter is the only step
    out = augment.augmented(digits, config, torch.Generator().manual_seed(29)).float() / 255
    x = digits.float() / 255
    changed = (out - x).abs().flatten(1).amax(1) > 0.02  # (64,): rounding moves a pixel by 1/255 at most
    assert 16 <= changed.sum() <= 48  # about half of the 64
    assert torch.equal(out[~changed], x[~changed])
    if option == "turn":  # the ink kept, moved about the centre: rows' and columns' ink sums change
        assert torch.allclose(out[changed].sum(dim=(1, 2)), x[changed].sum(dim=(1, 2)), rtol=0.1)
        moved = (out[changed].sum(1) - x[changed].sum(1)).abs().sum(1)  # (n,) ink moved between columns
        assert (moved > 5).float().mean() > 0.8
    else:  # hollow: dark inside every thick stroke, and lit just outside the old strokes
        inside = _thick_inside(x[changed])
        assert inside.any() and (out[changed][inside] == 0).all()
        assert ((out[changed] > 0) & (x[changed] <= 0.5)).any(dim=(1, 2)).all()


def test_bent_moves_about_its_share_of_the_images_ink_by_a_few_pixels_and_no_more(digits):
    out = augment.bent(digits, 0.5, torch.Generator().manual_seed(31)).float() / 255
    x = digits.float() / 255
    changed = (out - x).abs().flatten(1).amax(1) > 0  # (64,)
    assert 16 <= changed.sum() <= 48  # about half of the 64
    assert torch.equal(out[~changed], x[~changed])
    ink = out[changed].sum(dim=(1, 2)) / x[changed].sum(dim=(1, 2))  # (n,): a stretched part holds more, a squeezed less
    assert abs(ink.mean() - 1) < 0.05 and ((0.6 < ink) & (ink < 1.4)).all()
    moved = (out[changed] - x[changed]).abs().sum(dim=(1, 2)) / x[changed].sum(dim=(1, 2))  # (n,)
    assert (moved > 0.2).all()  # bent, not merely resampled

    def far_from_old_ink(reach: int) -> torch.Tensor:
        near = F.max_pool2d((x[changed] > 0)[:, None].float(), 2 * reach + 1, stride=1, padding=reach)[:, 0] > 0
        return (out[changed] > 0.2) & ~near

    assert far_from_old_ink(1).any()  # some ink moved by more than a pixel
    assert not far_from_old_ink(math.ceil(augment.BEND_PX) + 1).any()  # none further than BEND_PX and bilinear's pixel


@pytest.mark.parametrize("changes, steps", [
    ({"shift": 2}, ["shifted"]),
    ({"shift": 2, "rotate": 10, "crop": 2}, ["warped"]),
    ({"shift": 1, "shear": 0.3}, ["warped"]),
    ({"shift": 1, "aspect": 0.15, "crop": 4}, ["warped"]),
    ({"shift": 0, "thicken": 1}, ["restroked"]),
    ({"shift": 2, "scale": 0.1, "thicken": 1, "blur": 0.3, "lines": 0.2}, ["warped", "restroked", "degraded", "clutter"]),
    ({"shift": 0, "thicken": 1, "elastic": 0.5, "blur": 0.3}, ["restroked", "bent", "degraded"]),
])
def test_augmented_applies_the_configs_steps_in_order_from_one_generator(digits, changes, steps):
    config = CNNConfig(augment=True, **changes)
    generator, replay = _twin(13)
    out = augment.augmented(digits, config, generator)
    x = digits
    for step in steps:
        if step == "shifted":
            x = augment.shifted(x, config.shift, replay)
        elif step == "warped":
            x = augment.warped(x, config.shift, config.rotate, config.scale, replay, shear=config.shear,
                               aspect=config.aspect, margin=config.crop)
        elif step == "restroked":
            x = augment.restroked(x, config.thicken, replay)
        elif step == "bent":
            x = augment.bent(x, config.elastic, replay)
        elif step == "degraded":
            x = augment.degraded(x, config.blur, config.lowres, replay)
        else:
            x = augment._cluttered(x, config, replay)
    assert torch.equal(out, x)
    assert not torch.equal(out, digits)


def test_warped_leaves_the_cropped_margin_empty_and_works_in_chunks(digits):
    moved = augment.warped(digits, 2, 10, 0.1, torch.Generator().manual_seed(2), margin=4)
    assert (moved[:, :4] == 0).all() and (moved[:, :, -4:] == 0).all()
    whole = augment.warped(digits, 2, 10, 0.1, torch.Generator().manual_seed(2), margin=0)
    assert torch.equal(moved[:, 4:24, 4:24], whole[:, 4:24, 4:24])  # the middle as the full grid has it
    chunked = augment.warped(digits, 2, 10, 0.1, torch.Generator().manual_seed(2), chunk=7)
    assert torch.equal(chunked, whole)


@pytest.mark.parametrize("shear, aspect", [(0.0, 0.0), (0.3, 0.0), (0.0, 0.2), (0.3, 0.2)])
def test_warped_is_the_documented_affine_map_of_each_images_own_draws(digits, shear, aspect):
    """Replayed draws u (rows, N) in [-1, 1): a turn of u0 * rotate degrees, a zoom of 1 + u1 * scale,
    a move of u2, u3 * shift pixels, then (with shear or aspect) a slant of u4 * shear and a width of
    1 + u5 * aspect; torch's own affine_grid and grid_sample are the reference."""
    generator, replay = _twin(17)
    out = augment.warped(digits, 2, 20, 0.2, generator, shear=shear, aspect=aspect)
    rows = 6 if shear or aspect else 4
    u = torch.rand(rows, len(digits), generator=replay) * 2 - 1
    assert torch.equal(torch.rand(3, generator=generator), torch.rand(3, generator=replay))  # as many draws
    angle, zoom = u[0] * math.radians(20), 1 + u[1] * 0.2
    turn = torch.stack([torch.stack([angle.cos(), -angle.sin()], 1), torch.stack([angle.sin(), angle.cos()], 1)], 1)
    linear = turn / zoom[:, None, None]  # (N, 2, 2): output -> input coordinates
    if rows == 6:
        slant, width = u[4] * shear, 1 + u[5] * aspect
        skew = torch.zeros(len(digits), 2, 2)
        skew[:, 0, 0], skew[:, 0, 1], skew[:, 1, 1] = 1 / width, -slant / width, 1
        linear = linear @ skew
    theta = torch.cat([linear, (u[2:4] * 2 * 2 / 28).T[:, :, None]], 2)  # (N, 2, 3)
    grid = F.affine_grid(theta, (len(digits), 1, 28, 28), align_corners=False)
    expected = F.grid_sample(digits.float()[:, None] / 255, grid, align_corners=False)[:, 0]
    assert (out.float() - expected.mul(255).round()).abs().max() <= 1  # rounding of a float32 grid
    floats = augment.warped(digits.float() / 255, 2, 20, 0.2, torch.Generator().manual_seed(17), shear=shear,
                            aspect=aspect)
    assert floats.dtype == torch.float32 and (floats - expected).abs().max() < 1e-4  # floats stay unrounded


def test_restroking_and_degrading_draw_exactly_what_they_use(digits):
    """What a step draws decides every later draw of the epoch (the next view, the next step)."""
    generator, replay = _twin(19)
    augment.restroked(digits, 2, generator)
    torch.randint(-1, 3, (len(digits),), generator=replay)  # one amount an image
    assert torch.equal(torch.rand(3, generator=generator), torch.rand(3, generator=replay))
    generator, replay = _twin(19)
    augment.degraded(digits, 0.5, 0.5, generator)
    torch.rand(4, len(digits), generator=replay)  # which and how much, for the blur and the low resolution
    assert torch.equal(torch.rand(3, generator=generator), torch.rand(3, generator=replay))


def test_a_gaussian_is_the_normalised_kernel_out_to_three_sigma():
    x = torch.rand(3, 28, 28, generator=torch.Generator().manual_seed(0))
    for sigma in augment.BLUR_SIGMAS:
        reach = math.ceil(3 * sigma)
        taps = torch.arange(-reach, reach + 1, dtype=torch.float32)
        kernel = torch.exp(-taps**2 / (2 * sigma**2))
        kernel = kernel / kernel.sum()
        expected = F.conv2d(F.conv2d(x[:, None], kernel.view(1, 1, 1, -1), padding=(0, reach)),
                            kernel.view(1, 1, -1, 1), padding=(reach, 0))[:, 0]
        assert torch.allclose(augment._gaussian(x, sigma), expected, atol=1e-6), sigma
    double = augment._gaussian(x.double(), 0.8)
    assert double.dtype == torch.float64


def test_clutter_with_smears_only_draws_no_lines(digits):
    config = CNNConfig(lines=0.0, smear=0.5)
    generator, replay = _twin(23)
    out = augment._cluttered(digits, config, generator)
    expected = clutter.smeared(digits.float() / 255, 0.5, replay).mul(255).round().to(torch.uint8)
    assert torch.equal(out, expected)
    assert torch.equal(torch.rand(3, generator=generator), torch.rand(3, generator=replay))


def test_augmented_writes_into_the_view_it_is_given_and_restrokes_there_a_chunk_at_a_time(digits):
    # The cnn's epoch draw goes straight into the step's view (training._EpochDraw): no whole-set copies
    # beside it, which made most of `digitlab compare`'s peak memory (benchmarks/RESULTS.md, "Memory").
    config = presets.preset("fast")  # turned, slanted, cropped and restroked, as compare trains the cnn
    floats = digits.float() / 255
    expected = augment.augmented(floats, config, torch.Generator().manual_seed(17))
    view = torch.full_like(floats, 0.5)  # stale pixels, the crop's margin among them: each must be written
    assert augment.augmented(floats, config, torch.Generator().manual_seed(17), out=view) is view
    assert torch.equal(view, expected)
    once = augment.restroked(digits, 2, torch.Generator().manual_seed(5))  # image by image: the test above
    in_place = digits.clone()
    augment.restroked(in_place, 2, torch.Generator().manual_seed(5), chunk=10, out=in_place)
    assert torch.equal(in_place, once)
