"""The cache of decoded folders: a hit, never a stale answer, damage, races, its bound, and the
batch PNG reader it sits behind."""

import io
import json
import os
import struct
import subprocess
import sys
import tracemalloc
import warnings
import zlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from PIL import Image

from digitlab.cli import main
from digitlab.data import datasets, folder_cache, folder_listing, folders, png
from digitlab.data.folders import load_folder
from digitlab.errors import DigitlabWarning
from test_folders import save, write_digits

AN_HOUR_AGO = -3600


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    """A cache of this test's own."""
    monkeypatch.setenv("DIGITLAB_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture(scope="module")
def tiny():
    return datasets.load("mnist_tiny", "valid")


@pytest.fixture
def decodes(monkeypatch):
    """How many times a folder was decoded rather than read from the cache."""
    calls = []
    real = folders._decode_all
    monkeypatch.setattr(folders, "_decode_all", lambda *a: calls.append(a[0]) or real(*a))
    return calls


def age(root, seconds=AN_HOUR_AGO):
    """Date every file in `root` `seconds` from now: files just written are too fresh to cache."""
    when = os.path.getmtime(root) + seconds
    for path in root.rglob("*"):
        os.utime(path, (when, when))
    return root


def folder_of(tmp_path, tiny, count=30):
    """`count` images as Pillow writes them, and 3/stored.png, whose size does not depend on its pixels."""
    root = write_digits(tmp_path / "digits", tiny, count)
    (root / "3" / "stored.png").write_bytes(encode(tiny.images[0].numpy(), [0] * 28, level=0))
    return age(root)


def same(a, b):
    return torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)


def test_an_unchanged_folder_is_decoded_once(tmp_path, tiny, decodes):
    root = folder_of(tmp_path, tiny)
    first, second = load_folder(root), load_folder(root)
    assert len(decodes) == 1 and same(first, second)
    assert torch.equal(second.images, torch.cat([tiny.images[:30], tiny.images[:1]]))  # stored.png last
    assert folder_cache.entry_path(root).is_file()


def test_a_folder_written_moments_ago_is_not_cached(tmp_path, tiny, decodes):
    root = write_digits(tmp_path / "digits", tiny, 5)  # a file rewritten within the clock's tick keeps its time
    load_folder(root)
    assert not folder_cache.entry_path(root).exists()
    load_folder(age(root))
    assert folder_cache.entry_path(root).is_file()


def touch(root, tiny):
    os.utime(root / "3" / "stored.png")


def add(root, tiny):
    save(root / "7" / "9999.png", tiny.images[40].numpy())


def remove(root, tiny):
    (root / "3" / "stored.png").unlink()


def replace_same_size_and_time(root, tiny):
    """Another image of exactly the same size, renamed over the old one, its old time put back."""
    old = root / "3" / "stored.png"
    info = old.stat()
    (root / "3" / "new.tmp").write_bytes(encode(tiny.images[1].numpy(), [0] * 28, level=0))
    assert (root / "3" / "new.tmp").stat().st_size == info.st_size
    os.utime(root / "3" / "new.tmp", ns=(info.st_atime_ns, info.st_mtime_ns))
    os.replace(root / "3" / "new.tmp", old)


def rewrite(root, tiny):
    (root / "3" / "stored.png").write_bytes(encode(tiny.images[5].numpy(), [0] * 28, level=0))


def rewrite_in_place_time_put_back(root, tiny):
    """Other pixels written into the same file, same size, and its old modification time put back:
    only the status-change time (ctime), which no program can set, still tells."""
    path = root / "3" / "stored.png"
    info = path.stat()
    other = encode(tiny.images[2].numpy(), [0] * 28, level=0)
    assert len(other) == info.st_size
    with path.open("r+b") as f:
        f.write(other)
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))
    assert path.stat().st_ino == info.st_ino and path.stat().st_mtime_ns == info.st_mtime_ns


@pytest.mark.parametrize("change", [touch, add, remove, replace_same_size_and_time, rewrite,
                                    rewrite_in_place_time_put_back])
def test_any_change_to_a_file_is_noticed(tmp_path, tiny, decodes, change):
    root = folder_of(tmp_path, tiny)
    load_folder(root)
    change(root, tiny)
    after = load_folder(root)
    assert len(decodes) == 2
    assert same(after, load_folder(root, cache=False))


def huge(whole: bytes) -> bytes:
    """The entry with its labels' header saying a billion of them (the meta too), nothing more."""
    meta = json.loads(np.lib.format.read_array(io.BytesIO(whole)).tobytes())
    meta["images"] = 10**9
    out = io.BytesIO()
    np.lib.format.write_array(out, np.frombuffer(json.dumps(meta).encode(), np.uint8))
    np.lib.format.write_array_header_1_0(out, {"descr": "|u1", "fortran_order": False, "shape": (10**9,)})
    return out.getvalue() + b"\0" * 64


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty", "huge"])
def test_a_damaged_entry_is_ignored_and_written_again(tmp_path, tiny, decodes, damage):
    root = folder_of(tmp_path, tiny)
    first = load_folder(root)
    entry = folder_cache.entry_path(root)
    whole = entry.read_bytes()
    entry.write_bytes({"garbage": os.urandom(len(whole)), "truncated": whole[: len(whole) // 2],
                       "empty": b"", "huge": huge(whole) if damage == "huge" else b""}[damage])
    tracemalloc.start()  # numpy reports its arrays to it: a billion labels would be a 1 GB peak
    try:
        assert same(load_folder(root), first) and len(decodes) == 2
        assert tracemalloc.get_traced_memory()[1] < 50 << 20
    finally:
        tracemalloc.stop()
    assert same(load_folder(root), first) and len(decodes) == 2  # rebuilt: the third load is a hit


def test_an_entry_keyed_for_other_files_is_never_used(tmp_path, tiny, decodes):
    root = folder_of(tmp_path, tiny)
    first = load_folder(root)
    entry = folder_cache.entry_path(root)
    with entry.open("rb") as f:
        records = [np.lib.format.read_array(f) for _ in range(3)]  # meta, labels, images
    meta = json.loads(records[0].tobytes())
    meta["key"] = "0" * 32
    records[0], records[2] = np.frombuffer(json.dumps(meta).encode(), np.uint8), records[2][:, ::-1].copy()
    with entry.open("wb") as f:
        for record in records:
            np.lib.format.write_array(f, record)
    assert same(load_folder(root), first) and len(decodes) == 2


def test_threads_loading_one_folder_at_once_leave_a_whole_entry(tmp_path, tiny):
    root = folder_of(tmp_path, tiny, 60)
    with ThreadPoolExecutor(6) as pool:
        loaded = list(pool.map(lambda _: load_folder(root, workers=1), range(12)))
    assert all(same(d, loaded[0]) for d in loaded)
    cached = folder_cache.read(root, folder_listing.list_images(root, folders._label_dirs(root), 1).key)
    assert cached is not None and np.array_equal(cached.images, loaded[0].images.numpy())
    assert not list(folder_cache.cache_dir().glob(".*.tmp"))  # no temporary file left behind


def test_processes_loading_one_folder_at_once_leave_a_whole_entry(tmp_path, tiny, home):
    root = folder_of(tmp_path, tiny, 60)
    script = ("import sys; from digitlab.data.folders import load_folder\n"
              "for _ in range(5): print(int(load_folder(sys.argv[1]).images.sum()))")
    env = {**os.environ, "DIGITLAB_HOME": str(home)}
    runs = [subprocess.Popen([sys.executable, "-c", script, str(root)], env=env, stdout=subprocess.PIPE, text=True)
            for _ in range(3)]
    sums = {line for run in runs for line in run.communicate()[0].split()}
    assert all(run.returncode == 0 for run in runs)
    expected = load_folder(root, cache=False).images.numpy()
    assert sums == {str(int(expected.sum(dtype=np.int64)))}
    cached = folder_cache.read(root, folder_listing.list_images(root, folders._label_dirs(root), 1).key)
    assert cached is not None and np.array_equal(cached.images, expected)


def test_the_cache_keeps_to_its_bound_dropping_the_least_recently_used(tmp_path, tiny, monkeypatch):
    monkeypatch.setenv("DIGITLAB_CACHE_MB", "1")  # 1 MB: four folders of 400 images (314 KB each) overflow it
    roots = [age(write_digits(tmp_path / f"d{i}", tiny, 400)) for i in range(4)]

    def use(root):
        load_folder(root)
        for entry in folder_cache.cache_dir().glob("*" + folder_cache.SUFFIX):  # file times a second apart say which came first
            os.utime(entry, (entry.stat().st_mtime - 10, entry.stat().st_mtime - 10))

    for root in roots[:3] + [roots[0], roots[3]]:  # d0 is read again before d3 comes: d1 is the oldest
        use(root)
    assert [folder_cache.entry_path(root).exists() for root in roots] == [True, False, True, True]
    assert sum(e.size for e in folder_cache.entries()) <= 1 << 20


def test_unreadable_and_resized_files_are_named_again_from_the_cache(tmp_path, tiny):
    root = write_digits(tmp_path / "digits", tiny, 6)
    (root / "3" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    save(root / "7" / "big.png", np.asarray(Image.fromarray(tiny.images[0].numpy()).resize((56, 56))))
    age(root)
    said = []
    for _ in range(2):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            digits = load_folder(root)
        said.append([str(w.message) for w in caught if issubclass(w.category, DigitlabWarning)])
        assert len(digits.labels) == 7
    assert said[0] == said[1] and len(said[0]) == 2 and "broken.png" in said[0][0]
    assert folder_cache.entry_path(root).is_file()


def test_data_cache_lists_and_clears(tmp_path, tiny, capsys):
    root = folder_of(tmp_path, tiny)
    load_folder(root)
    assert main(["data", "cache"]) == 0
    out = capsys.readouterr().out
    assert str(root) in out and "1 decoded folders" in out
    assert main(["data", "cache", "--clear"]) == 0
    assert capsys.readouterr().out.startswith("removed 1 decoded folders")
    assert folder_cache.entries() == []


def test_a_bad_cache_bound_is_one_line(tmp_path, tiny, monkeypatch, capsys):
    monkeypatch.setenv("DIGITLAB_CACHE_MB", "lots")
    assert main(["data", "cache"]) == 2
    assert capsys.readouterr().err.strip() == ("digitlab: error: DIGITLAB_CACHE_MB=lots: give a whole number "
                                               "of megabytes (0 turns the cache off)")


def encode(pixels, filters, level=6):
    """A 28 x 28 grey PNG whose rows use the given filter types (Pillow writes only type 0)."""
    out, previous = [], np.zeros(28, dtype=np.int16)
    for row, kind in zip(pixels.astype(np.int16), filters):
        left = np.concatenate([[0], row[:-1]])
        corner = np.concatenate([[0], previous[:-1]])
        paeth = [a if abs(b - c) <= min(abs(a - c), abs(a + b - 2 * c)) else b if abs(a - c) <= abs(a + b - 2 * c)
                 else c for a, b, c in zip(left, previous, corner)]
        guess = [0, left, previous, (left + previous) // 2, np.array(paeth)][kind]
        out.append(bytes([kind]) + ((row - guess) & 255).astype(np.uint8).tobytes())
        previous = row

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    return png.SIGNATURE + chunk(b"IHDR", png.IHDR) + chunk(b"IDAT", zlib.compress(b"".join(out), level)) + chunk(b"IEND", b"")


def test_png_rows_with_every_filter_read_as_pillow_reads_them(tiny, tmp_path):
    rng = np.random.default_rng(0)
    files = [encode(tiny.images[i].numpy(), rng.integers(0, 5, 28)) for i in range(40)]
    rows = np.frombuffer(b"".join(png.read(f) for f in files), np.uint8).reshape(-1, 28, 29)
    assert np.array_equal(png.unfilter(rows), tiny.images[:40].numpy())
    (tmp_path / "a.png").write_bytes(files[0])
    with Image.open(tmp_path / "a.png") as image:
        assert np.array_equal(np.asarray(image), tiny.images[0].numpy())


def test_png_leaves_other_and_damaged_files_to_pillow(tiny):
    good = encode(tiny.images[0].numpy(), [0] * 28)
    assert png.read(good) is not None
    damaged = good[:-13] + bytes([good[-13] ^ 1]) + good[-12:]  # one bit of IDAT's CRC; zlib's own check passes
    rgb = Image.fromarray(np.stack([tiny.images[0].numpy()] * 3, -1))
    for other in (damaged, good[:-12], _pillow_png(rgb), _pillow_png(Image.fromarray(tiny.images[0].numpy()).resize((29, 28)))):
        assert png.read(other) is None


def _pillow_png(image):
    import io

    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_file_gone_between_listing_and_stat_and_a_dangling_link_are_not_images(tmp_path, tiny, monkeypatch):
    root = folder_of(tmp_path, tiny, 12)
    (root / "3" / "nowhere.png").symlink_to(tmp_path / "missing.png")
    real = os.listdir
    monkeypatch.setattr(os, "listdir", lambda path: real(path) + ([b"vanished.png"] if isinstance(path, bytes) else []))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # neither is named as skipped: they are not there to read
        digits = load_folder(root)
    assert same(digits, load_folder(root, cache=False)) and len(digits.labels) == 13


def test_old_layouts_entries_go_when_an_entry_is_written_and_on_clear(tmp_path, tiny):
    old = folder_cache.cache_dir().parent / "v1" / "0123.npz"
    old.parent.mkdir(parents=True)
    old.write_bytes(b"an entry of the first layout")
    assert folder_cache.clear()[0] == 1 and not old.exists()
    old.write_bytes(b"an entry of the first layout")
    load_folder(folder_of(tmp_path, tiny))
    assert not old.exists() and folder_cache.entry_path(tmp_path / "digits").is_file()


@pytest.mark.parametrize("damage", ["zeroed images", "changed labels"])
def test_pixels_or_labels_changed_in_a_valid_entry_are_a_miss_with_a_warning(tmp_path, tiny, decodes, damage):
    root = folder_of(tmp_path, tiny)
    first = load_folder(root)
    entry = folder_cache.entry_path(root)
    with entry.open("rb") as f:
        records = [np.lib.format.read_array(f) for _ in range(3)]  # meta, labels, images
    if damage == "zeroed images":
        records[2][:10] = 0
    else:
        records[1] = records[1].copy()
        records[1][:5] = 9 - records[1][:5]  # five labels changed (the folder's may all be alike)
    with entry.open("wb") as f:  # a whole, valid entry, keyed for these very files
        for record in records:
            np.lib.format.write_array(f, record)
    with pytest.warns(DigitlabWarning, match="cached decoding is damaged"):
        assert same(load_folder(root), first) and len(decodes) == 2
    assert same(load_folder(root), first) and len(decodes) == 2  # written again: the third load is a hit


def test_an_entry_whose_meta_nests_deeply_is_a_miss_not_a_traceback(tmp_path, tiny, decodes):
    root = folder_of(tmp_path, tiny)
    first = load_folder(root)
    entry = folder_cache.entry_path(root)
    with entry.open("wb") as f:
        np.lib.format.write_array(f, np.frombuffer(b"[" * 200_000 + b"]" * 200_000, np.uint8))
    assert same(load_folder(root), first) and len(decodes) == 2
