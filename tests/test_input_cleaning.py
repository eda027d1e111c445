"""input_cleaning: what every model does to a 28 x 28 input before reading it, and to_mnist's own
salt-and-pepper step. On held-out training digits (heldout.CALIBRATION: not the corruption set's
own digits, and never MNIST's test set)."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from digitlab import pretrained
from digitlab.data import corrupted, heldout
from digitlab.errors import DigitlabWarning
from digitlab.vision import mnist_style
from digitlab.vision.input_cleaning import cleaned, despeckled, median3, on_black, specks


@pytest.fixture(scope="module")
def held_out(mnist_train):
    """(200, 28, 28) float digits in [0, 1] and their labels, from the held-out calibration digits."""
    pick = torch.arange(heldout.CALIBRATION.start, heldout.CALIBRATION.start + 200)
    return mnist_train.images[pick].float() / 255, mnist_train.labels[pick]


@pytest.fixture(scope="module")
def cnn():
    return pretrained.load("cnn")


def salt_and_pepper(x: torch.Tensor, share: float, seed: int = 0) -> torch.Tensor:
    draw = torch.rand(x.shape, generator=torch.Generator().manual_seed(seed))
    x = x.clone()
    x[draw < share / 2] = 0
    x[draw > 1 - share / 2] = 1
    return x


def test_mnist_digits_pass_unchanged_bit_for_bit(mnist_train):
    x = mnist_train.images[:2000].float() / 255
    same = (cleaned(x) == x).flatten(1).all(1)
    # The heaviest digits (an inked square as wide as the window) may lose a little: 32 of 60,000,
    # 5 of these 2,000.
    assert same.float().mean() >= 0.995


def test_a_grey_background_becomes_black_and_faint_ink_full(held_out):
    x, _ = held_out
    grey = (x * 0.3 + 0.4)  # low contrast on a grey page: ink 0.4 .. 0.7
    out = on_black(grey)
    assert out.amin(dim=(1, 2)).max() == 0  # every background back to black
    assert torch.allclose(out.amax(dim=(1, 2)), torch.ones(len(x)))  # ink at full strength
    assert (out - x).abs().mean() < 0.01  # and the digit as it was


def test_specks_count_salt_and_pepper_but_not_strokes(held_out):
    x, _ = held_out
    assert specks(x).max() <= 2
    noisy = salt_and_pepper(x, 0.05)
    assert (specks(noisy) >= 4).float().mean() > 0.95
    assert (despeckled(x) == x).all()  # clean digits are never filtered
    assert (specks(despeckled(noisy)) < 4).float().mean() > 0.95


def test_a_pages_lone_pixels_are_counted_as_specks_counts_them():
    """page.lone_pixels counts whole grey levels its own way (int16): the count must be specks's, pixel
    jumps of 76 and 77 levels either side of SPECK_JUMP included, and other greys go through specks."""
    from digitlab.vision.page import lone_pixels

    rng = np.random.default_rng(0)
    pages = [rng.integers(0, 256, (31, 45)).astype(np.float32) for _ in range(30)]
    pages += [np.where(rng.random((40, 40)) < 0.05, rng.integers(0, 256, (40, 40)), 128).astype(np.float32)
              for _ in range(30)]
    edge = np.full((9, 9), 100, dtype=np.float32)
    edge[2, 2], edge[6, 6], edge[2, 6], edge[6, 2] = 177, 176, 23, 24  # jumps of 77, 76, -77, -76
    pages += [edge, rng.random((20, 30)).astype(np.float32) * 255]  # the last: not whole levels
    counts = [lone_pixels(page) for page in pages]
    assert counts == [int(specks(torch.from_numpy(page / 255)[None])[0]) for page in pages]
    assert lone_pixels(edge) == 2 and max(counts) > 20  # only the 77-level jumps; the noisy pages count many


@pytest.mark.parametrize("damage", ["brightness", "low contrast", "salt and pepper"])
def test_the_shipped_cnn_reads_damaged_digits_from_raw_tensors(held_out, cnn, damage):
    x, y = held_out
    damaged = {"brightness": (x + 0.5).clamp(0, 1), "low contrast": x * 0.3 + 0.35,
               "salt and pepper": salt_and_pepper(x, 0.15)}[damage]
    predicted = cnn.predict(damaged)
    assert (predicted == y).float().mean() >= 0.97
    assert torch.bincount(predicted, minlength=10).max() < 0.3 * len(y)  # never one answer for most


def _png(x: torch.Tensor) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray((x * 255).round().byte().numpy()).save(buffer, format="PNG")
    return buffer.getvalue()


def test_salt_and_pepper_does_not_break_to_mnist(held_out, cnn):
    x, y = held_out
    x, y = x[:60], y[:60]
    noisy = salt_and_pepper(x, 0.2, seed=1)
    seen = torch.stack([mnist_style.to_mnist(_png(image)) for image in noisy])
    clean = torch.stack([mnist_style.to_mnist(_png(image)) for image in x])
    assert (cnn.predict(seen) == y).float().mean() >= 0.97
    assert (seen - clean).abs().mean() < 0.08  # the noisy digit comes out nearly as the clean one


def _moved_right(x: torch.Tensor, px: int) -> torch.Tensor:
    out = torch.zeros_like(x)
    out[..., px:] = x[..., :28 - px]
    return out


def test_a_digit_off_to_one_side_is_centred_and_a_small_one_framed(held_out, cnn):
    x, y = held_out
    moved = _moved_right(x, 6)  # 6 px right: out of the cnn's middle 20 x 20
    small = torch.nn.functional.interpolate(x[:, None], scale_factor=0.5, mode="bilinear", antialias=True)[:, 0]
    half = torch.zeros_like(x)
    half[:, 7:21, 7:21] = small  # the digit at half size in the middle
    for damaged in (moved, half):
        out = cleaned(damaged)
        rows, cols = (out > 0.2).any(2).float(), (out > 0.2).any(1).float()
        assert ((rows.sum(1) >= 16) | (cols.sum(1) >= 16)).float().mean() > 0.95  # back at MNIST's size
        mass = out.sum(dim=(1, 2))
        cx = (out.sum(dim=1) @ torch.arange(28.0)) / mass
        assert ((cx - 14).abs() <= 1.5).all()  # and its middle
        assert (cnn.predict(damaged) == y).float().mean() >= 0.97


@pytest.mark.parametrize("kind", ["stripes", "fog"])
def test_a_striped_or_foggy_page_is_taken_away(held_out, cnn, kind):
    """The corruption set's own stripes and fog (seen kinds), on the calibration digits (not the set's)."""
    x, y = held_out[0][:100], held_out[1][:100]
    damage = corrupted.KINDS[kind]
    damaged = torch.stack([torch.from_numpy(damage(image.numpy(), 3, np.random.default_rng(i)))
                           for i, image in enumerate(x)])  # severity 3, the strongest
    out = on_black(damaged)
    assert (out > 0.05).float().mean() < 0.3  # the page gone: about the digit's share is inked
    assert (out - x).abs().mean() < (damaged - x).abs().mean() / 3
    assert (cnn.predict(damaged) == y).float().mean() >= 0.95


@pytest.mark.parametrize("levels", [None, 4])  # any floats; few grey levels, so many neighbours tie
def test_median3s_compare_and_swap_network_is_torchs_median(levels):
    x = torch.rand(40, 28, 28, generator=torch.Generator().manual_seed(0))
    if levels:
        x = (x * levels).round() / levels
    neighbourhoods = torch.nn.functional.pad(x[:, None], (1, 1, 1, 1)).unfold(2, 3, 1).unfold(3, 3, 1)  # (N, 1, 28, 28, 3, 3)
    expected = neighbourhoods.reshape(40, 28, 28, 9).median(dim=-1).values
    assert torch.equal(median3(x), expected)


def test_a_chunk_cleaned_again_is_remembered_and_the_very_same(held_out):
    """The memo (cleaning_memo.py) rebuilds a chunk from what cleaning changed: it must give the
    cleaning's pixels bit for bit, on digits it leaves alone and on damaged ones it changes."""
    from digitlab.vision import input_cleaning
    from digitlab.vision.cleaning_memo import CleaningMemo

    digits = held_out[0][:100]
    kinds = ["fog", "impulse_noise", "translation", "brightness"] * 25
    damaged = torch.stack([torch.from_numpy(corrupted.damaged(kind, i, (d.numpy() * 255).round().astype(np.uint8)))
                           for i, (d, kind) in enumerate(zip(digits, kinds))]).float() / 255
    memo = CleaningMemo()
    for images in (digits, damaged, torch.cat([digits[:50], damaged[:50]])):
        direct = input_cleaning._cleaned_chunk(images)
        first, again = memo.cleaned(images, input_cleaning._cleaned_chunk), memo.cleaned(images.clone(), _refuse)
        assert torch.equal(first.view(torch.int32), direct.view(torch.int32))
        assert torch.equal(again.view(torch.int32), direct.view(torch.int32))
    assert (memo.hits, memo.misses) == (3, 3)
    assert not torch.equal(damaged, input_cleaning._cleaned_chunk(damaged))  # the damaged ones were changed
    tiny = CleaningMemo(most_bytes=1)  # too small to keep a changed row: cleans every time, still right
    assert torch.equal(tiny.cleaned(damaged, input_cleaning._cleaned_chunk), input_cleaning._cleaned_chunk(damaged))
    assert tiny.cleaned(damaged, input_cleaning._cleaned_chunk) is not None and tiny.misses == 2
    few = CleaningMemo(most_chunks=2)  # a bound on chunks too: unchanged ones cost no rows but still count
    for start in range(0, 100, 20):
        few.cleaned(digits[start:start + 20], input_cleaning._cleaned_chunk)
    assert len(few.entries) == 2 and few.cleaned(digits[80:], _refuse) is not None


def _refuse(x):
    raise AssertionError("a chunk seen before was cleaned again")


def test_a_data_sets_chunk_is_shelved_on_disk_and_read_back_by_the_next_process(mnist_train, tmp_path):
    """cleaning_memo.Shelf: a chunk of SHELF_FROM images or more that cleaning leaves almost alone is
    written once and read back by a later memo (the next command) bit for bit, never cleaned again; a
    request-sized chunk and a damaged set (most of it changed) are not written."""
    from digitlab.vision import input_cleaning
    from digitlab.vision.cleaning_memo import SHELF_FROM, CleaningMemo, Shelf

    digits = mnist_train.images[heldout.CALIBRATION.start:heldout.CALIBRATION.start + 2 * SHELF_FROM].float() / 255
    digits[3] = salt_and_pepper(digits[3], 0.2)  # one digit cleaning changes: its row is what the file holds
    direct = input_cleaning._cleaned_chunk(digits)
    assert not torch.equal(direct[3], digits[3])
    first = CleaningMemo(shelf=lambda: Shelf(tmp_path))
    assert torch.equal(first.cleaned(digits, input_cleaning._cleaned_chunk).view(torch.int32), direct.view(torch.int32))
    assert len(list(tmp_path.glob("*.safetensors"))) == 1
    later = CleaningMemo(shelf=lambda: Shelf(tmp_path))  # nothing in memory: a new process
    again = later.cleaned(digits.clone(), _refuse)
    assert torch.equal(again.view(torch.int32), direct.view(torch.int32))
    assert (later.shelved, later.misses) == (1, 0)
    assert not later.entries  # read again from the shelf rather than kept: kept, they fragmented the heap

    small = digits[:SHELF_FROM - 1]
    CleaningMemo(shelf=lambda: Shelf(tmp_path)).cleaned(small, input_cleaning._cleaned_chunk)
    fog = torch.stack([torch.from_numpy(corrupted.damaged("fog", i, (d.numpy() * 255).round().astype(np.uint8)))
                       for i, d in enumerate(digits)]).float() / 255
    CleaningMemo(shelf=lambda: Shelf(tmp_path)).cleaned(fog, input_cleaning._cleaned_chunk)
    assert len(list(tmp_path.glob("*.safetensors"))) == 1


def test_a_shelf_file_cut_short_is_cleaned_again_and_a_home_that_cannot_be_written_is_no_error(mnist_train, tmp_path):
    from digitlab.vision import input_cleaning
    from digitlab.vision.cleaning_memo import SHELF_FROM, CleaningMemo, Shelf

    digits = mnist_train.images[:SHELF_FROM].float() / 255
    direct = input_cleaning._cleaned_chunk(digits)
    CleaningMemo(shelf=lambda: Shelf(tmp_path)).cleaned(digits, input_cleaning._cleaned_chunk)
    (file,) = tmp_path.glob("*.safetensors")
    file.write_bytes(file.read_bytes()[:40])
    memo = CleaningMemo(shelf=lambda: Shelf(tmp_path))
    assert torch.equal(memo.cleaned(digits, input_cleaning._cleaned_chunk), direct)
    assert (memo.shelved, memo.misses) == (0, 1)
    blocked = tmp_path / "a file, not a folder"
    blocked.write_text("")
    memo = CleaningMemo(shelf=lambda: Shelf(blocked / "cleaned"))
    with pytest.warns(DigitlabWarning, match="cleaned digits not kept on disk") as said:
        assert torch.equal(memo.cleaned(digits, input_cleaning._cleaned_chunk), direct)
        assert torch.equal(memo.cleaned(digits.flip(0), input_cleaning._cleaned_chunk), direct.flip(0))
    assert len(said) == 1  # once, not once a chunk


def test_the_shelf_is_named_by_the_cleanings_sources_and_an_older_one_is_forgotten(tmp_path):
    """A changed cleaning (its source) reads a shelf of its own, and the old one is removed when the new
    one is first written."""
    from digitlab.vision.cleaning_memo import Shelf, version

    source = tmp_path / "input_cleaning.py"
    source.write_text("SPECKS = 4\n")
    before = version(source)
    source.write_text("SPECKS = 5\n")
    assert version(source) != before
    old = tmp_path / "cleaned" / before
    old.mkdir(parents=True)
    (old / "x.safetensors").write_bytes(b"")
    Shelf(tmp_path / "cleaned" / version(source)).put(b"key", torch.zeros(0, dtype=torch.long), torch.zeros(0, 28, 28))
    assert [p.name for p in (tmp_path / "cleaned").iterdir()] == [version(source)]


def test_the_shelf_keeps_at_most_shelf_most_files_the_oldest_out(tmp_path, monkeypatch):
    import os

    from digitlab.vision import cleaning_memo

    monkeypatch.setattr(cleaning_memo, "SHELF_MOST", 3)
    shelf = cleaning_memo.Shelf(tmp_path)
    for k in range(5):
        shelf.put(bytes([k]), torch.zeros(0, dtype=torch.long), torch.zeros(0, 28, 28))
        os.utime(shelf._path(bytes([k])), (k, k))  # written in this order, a second apart
    kept = sorted(p.name for p in tmp_path.glob("*.safetensors"))
    assert kept == sorted(shelf._path(bytes([k])).name for k in (2, 3, 4))


def test_no_shelf_where_the_cleanings_sources_cannot_be_read(tmp_path, mnist_train):
    """The version names the cleaning by its sources: unread, there is no shelf (never one of another
    cleaning), and cleaning goes on."""
    from digitlab.vision import cleaning_memo, input_cleaning

    assert cleaning_memo.home_shelf(tmp_path / "no such file.py")() is None
    assert cleaning_memo.home_shelf(*input_cleaning._MEMO_SOURCES)().directory.parent.name == "cleaned"
    digits = mnist_train.images[-300:].float() / 255
    memo = cleaning_memo.CleaningMemo(shelf=cleaning_memo.home_shelf(tmp_path / "no such file.py"))
    assert torch.equal(memo.cleaned(digits, input_cleaning._cleaned_chunk), input_cleaning._cleaned_chunk(digits))
