"""mnist_style.to_mnist: real MNIST digits survive it, and photos, scans and drawings come out MNIST-style."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
import torch
from PIL import Image

from digitlab.errors import DataError
from digitlab.vision import page, mnist_style, input_cleaning


@pytest.fixture(scope="module")
def digits(mnist_test):
    return mnist_test.images[:40]  # (40, 28, 28) uint8


def _png(image: Image.Image, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", **params)
    return buffer.getvalue()


def _big_dark_on_light(digit: torch.Tensor, side: int = 200) -> Image.Image:
    """An MNIST digit as a large dark-on-light scan, off-centre on a wider page."""
    ink = Image.fromarray(digit.numpy()).resize((side, side), Image.Resampling.BICUBIC)
    page = Image.new("L", (side * 2, int(side * 1.5)), 0)
    page.paste(ink, (side // 3, side // 5))
    return Image.eval(page, lambda v: 255 - v)


def _centre_of_mass(image: torch.Tensor) -> tuple[float, float]:
    ys, xs = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
    total = image.sum()
    return float((image * ys).sum() / total), float((image * xs).sum() / total)


def _correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.corrcoef(torch.stack([a.flatten(), b.flatten()]))[0, 1])


def test_mnist_digits_come_back_nearly_unchanged(digits):
    # MNIST is already in the target form, so the pipeline should barely move it.
    out = torch.stack([mnist_style.to_mnist(Image.fromarray(d.numpy())) for d in digits])
    assert out.shape == (40, 28, 28) and out.dtype == torch.float32
    assert out.min() >= 0 and out.max() <= 1
    scores = [_correlation(o, d.float() / 255) for o, d in zip(out, digits)]
    assert np.median(scores) > 0.95, scores
    assert min(scores) > 0.65, scores  # thin strokes: a centre rounded the other way costs much here


def test_dark_ink_on_a_large_light_page_is_inverted_cropped_scaled_and_centred(digits):
    out = mnist_style.to_mnist(_big_dark_on_light(digits[0]))
    rows, cols = torch.nonzero(out > 0, as_tuple=True)
    height, width = int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)
    assert max(height, width) in (20, 21)  # fitted to the 20 x 20 box (+1 for a rounding edge)
    cy, cx = _centre_of_mass(out)
    assert abs(cy - 14) <= 0.5 and abs(cx - 14) <= 0.5  # where MNIST puts it
    assert out[0].sum() == 0 and out[:, 0].sum() == 0  # the page itself is black, not grey
    assert _correlation(out, mnist_style.to_mnist(Image.fromarray(digits[0].numpy()))) > 0.9


def test_exif_orientation_is_applied(digits):
    upright = _big_dark_on_light(digits[1])
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display": store the pixels turned the other way
    stored = upright.rotate(90, expand=True)
    turned = mnist_style.to_mnist(_png(stored, exif=exif))
    torch.testing.assert_close(turned, mnist_style.to_mnist(upright))


def test_alpha_channel_drawing_matches_the_same_ink_on_paper(digits):
    ink = Image.fromarray(digits[2].numpy()).resize((140, 140))
    black = Image.new("L", ink.size, 0)
    drawing = Image.merge("RGBA", (black, black, black, ink))  # black ink, transparent elsewhere
    on_paper = Image.eval(ink, lambda v: 255 - v)
    torch.testing.assert_close(mnist_style.to_mnist(_png(drawing)), mnist_style.to_mnist(on_paper), atol=0.02, rtol=0)
    white = Image.new("L", ink.size, 255)
    light = Image.merge("RGBA", (white, white, white, ink))  # white ink on nothing survives too
    torch.testing.assert_close(mnist_style.to_mnist(light), mnist_style.to_mnist(on_paper), atol=0.02, rtol=0)


def test_noisy_unevenly_lit_photo_keeps_only_the_digit(digits):
    rng = np.random.default_rng(0)
    page = np.asarray(_big_dark_on_light(digits[3]), dtype=np.float64)
    height, width = page.shape
    ys, xs = np.mgrid[0:height, 0:width]
    lighting = 0.55 + 0.45 * xs / width  # a shadow over the left of the page
    photo = page * lighting + rng.normal(0, 10, page.shape)
    out = mnist_style.to_mnist(Image.fromarray(np.clip(photo, 0, 255).astype(np.uint8)))
    clean = mnist_style.to_mnist(_big_dark_on_light(digits[3]))
    assert _correlation(out, clean) > 0.9
    assert out[:3].sum() == 0 and out[-3:].sum() == 0  # no noise specks left in the margins


def test_a_shadow_band_along_the_edge_is_paper_not_ink(digits):
    # A soft shadow across the top sixth of a photo is narrower than the paper's first opening, so
    # it used to come through as ink: a bar above the digit (a photographed 1 read as a 7).
    one = Image.fromarray(digits[2].numpy()).resize((80, 80), Image.Resampling.BICUBIC)  # digits[2] is a 1
    page = Image.new("L", (320, 320), 0)
    page.paste(one, (110, 130))
    paper = 255 - np.asarray(page, dtype=np.float64) * 0.6  # grey ink on white paper
    ys = np.mgrid[0:320, 0:320][0] / 320
    shade = 1 - 0.3 / (1 + np.exp((ys - 0.16) * 40))  # darker by 30 % above y = 16 %, a soft edge
    out = mnist_style.to_mnist(Image.fromarray(np.clip(paper * shade, 0, 255).astype(np.uint8)))
    rows, cols = torch.nonzero(out > 0, as_tuple=True)
    assert int(rows.max() - rows.min()) + 1 >= 19  # the 1 alone fills the box's height ...
    assert int(cols.max() - cols.min()) + 1 <= 12  # ... and no bar widens it
    clean = mnist_style.to_mnist(Image.fromarray(np.clip(paper, 0, 255).astype(np.uint8)))
    assert _correlation(out, clean) > 0.9


@pytest.mark.parametrize("page", [
    Image.new("L", (300, 200), 235),
    Image.fromarray(np.clip(np.random.default_rng(1).normal(220, 8, (240, 320)), 0, 255).astype(np.uint8)),
])
def test_blank_page_is_a_data_error(page):
    with pytest.raises(DataError, match="no digit found"):
        mnist_style.to_mnist(page)


def test_not_an_image_and_a_truncated_one_are_data_errors(tmp_path, digits):
    text = tmp_path / "notes.png"
    text.write_text("not a picture")
    with pytest.raises(DataError, match="notes.png: not a readable image"):
        mnist_style.to_mnist(text)
    truncated = tmp_path / "cut.png"
    truncated.write_bytes(_png(_big_dark_on_light(digits[0]))[:300])
    with pytest.raises(DataError, match="cut.png"):
        mnist_style.to_mnist(truncated)
    with pytest.raises(DataError, match="no such image file"):
        mnist_style.to_mnist(tmp_path / "missing.png")


# Every message a damaged or foreign file can give, in full: nothing of Pillow's or Python's own text
# ("cannot identify image file <_io.BytesIO object at 0x7f...>", "broken PNG file (chunk b'\\x00...')").
PLAIN_MESSAGE = re.compile(
    r"upload: (not a readable image \((not PNG, JPEG, BMP, GIF or WEBP|a damaged (PNG|JPEG|BMP|GIF|WEBP) file(, cut short)?)\)"
    r"; give a PNG or JPEG of one digit|too large to read \([\d,]+ (x [\d,]+ )?pixels, over 64 MB decoded\); "
    r"give a smaller image of one digit)")


def test_a_damaged_or_foreign_file_is_named_in_plain_words(digits):
    from digitlab.vision import decoding

    picture = Image.fromarray(digits[0].numpy()).resize((60, 50)).convert("RGB")
    files = [b"a text file named .png", b"", b"\x89PNG\r\n\x1a\n" + bytes(40)]
    rng = np.random.default_rng(0)
    for kind in ("PNG", "JPEG", "BMP", "GIF", "WEBP"):
        buffer = io.BytesIO()
        picture.save(buffer, format=kind)
        whole = buffer.getvalue()
        for cut in range(8, len(whole), max(1, len(whole) // 40)):  # cut short, garbled, or zeroed past `cut`
            files += [whole[:cut], whole[:cut] + rng.integers(0, 256, 64, dtype=np.uint8).tobytes(),
                      whole[:cut] + bytes(len(whole) - cut)]
    said = set()
    for data in files:
        try:
            decoding.open_image(data, "upload")
        except DataError as err:
            said.add(str(err))
    assert len(said) >= 4  # foreign, damaged, cut short, too large: the cases were met
    assert [m for m in said if not PLAIN_MESSAGE.fullmatch(m)] == []
    assert "upload: not a readable image (not PNG, JPEG, BMP, GIF or WEBP); give a PNG or JPEG of one digit" in said


@pytest.mark.parametrize("shape, window", [((128, 128), 43), ((128, 91), 31), ((77, 128), 25), ((128, 5), 1), ((9, 40), 3)])
@pytest.mark.parametrize("reduce", [np.min, np.max])
def test_the_fast_min_max_filter_is_the_plain_one(shape, window, reduce):
    """sweep's running min/max (spans doubled) against the same filter written plainly."""
    values = np.random.default_rng(sum(shape)).integers(0, 256, shape).astype(np.float32)
    half = window // 2
    expected = values
    for axis in (0, 1):
        padded = np.pad(expected, [(half, half) if a == axis else (0, 0) for a in (0, 1)], mode="edge")
        expected = reduce(np.lib.stride_tricks.sliding_window_view(padded, window, axis=axis), axis=-1)
    np.testing.assert_array_equal(page.sweep(values, window, reduce), expected)


@pytest.mark.parametrize("shape, share", [((128, 128), 0.02), ((128, 97), 0.1), ((61, 128), 0.3), ((7, 9), 0.5),
                                          ((40, 40), 0)])
def test_the_parts_of_a_mask_are_found_as_a_plain_labelling_finds_them(shape, share):
    """components against a plain labelling of the same 4 x 4 blocks: each inked block takes the
    smallest number among its inked neighbours until nothing changes, then parts are numbered in
    the order their first block comes, row by row."""
    mask = np.random.default_rng(sum(shape)).random(shape) < share
    h, w = shape
    blocks = np.pad(mask, ((0, -h % 4), (0, -w % 4)))
    coarse = np.array([[blocks[y:y + 4, x:x + 4].any() for x in range(0, blocks.shape[1], 4)]
                       for y in range(0, blocks.shape[0], 4)])
    ch, cw = coarse.shape
    numbers = np.where(coarse, np.arange(1, ch * cw + 1).reshape(ch, cw), 0)
    while True:
        padded = np.pad(np.where(coarse, numbers, ch * cw + 1), 1, constant_values=ch * cw + 1)
        smallest = np.min([padded[1 + dy : 1 + dy + ch, 1 + dx : 1 + dx + cw]
                           for dy in (-1, 0, 1) for dx in (-1, 0, 1)], axis=0)
        settled = np.where(coarse, smallest, 0)
        if np.array_equal(settled, numbers):
            break
        numbers = settled
    order = {n: k for k, n in enumerate(dict.fromkeys(numbers[coarse].tolist()), start=1)}
    expected_coarse = np.vectorize(lambda n: order.get(n, 0))(numbers)
    expected = np.where(mask, np.kron(expected_coarse, np.ones((4, 4), dtype=int))[:h, :w], 0)
    found = page.components(mask)
    assert found.max() == len(order)
    np.testing.assert_array_equal(found, expected)


def test_otsus_split_counts_as_numpys_histogram_does():
    """otsu's direct count against np.histogram's 256 bins over [0, 256], on grey levels, fractions,
    the right edge (256 falls in the last bin) and values outside (left out)."""
    rng = np.random.default_rng(3)
    cases = [rng.integers(0, 256, (64, 64)).astype(np.float32),
             np.array([256, 255.99, -0.5, 300, 3.5, 3.5, 200.2, 200.7, 201.1]),
             np.array([10.0] * 20 + [100.0] * 20 + [300.0] * 30 + [-5.0] * 30)]  # outside [0, 256]: not counted
    cases += [np.float32(np.concatenate([rng.normal(rng.uniform(20, 90), 12, 60), rng.normal(rng.uniform(120, 230), 12, 30)]))
              for _ in range(40)]  # small samples of fractions: each count moves the split
    for values in cases:
        counts, edges = np.histogram(values, bins=256, range=(0, 256))
        weight = np.cumsum(counts).astype(np.float64)
        mass = np.cumsum(counts * edges[:-1])
        low, high = mass / np.maximum(weight, 1), (mass[-1] - mass) / np.maximum(weight[-1] - weight, 1)
        expected = float(edges[int(np.argmax(weight * (weight[-1] - weight) * (low - high) ** 2))])
        assert input_cleaning.otsu(values) == expected
