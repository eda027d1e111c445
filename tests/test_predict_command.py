"""`digitlab predict` on several images at once: names that clash, and a folder given for images."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
from PIL import Image

from digitlab import classifiers
from digitlab.vision import mnist_style

from cli_run import assert_one_line_error, digitlab
from hostile import at_and_past_the_budget


@pytest.fixture(scope="module")
def model(tmp_path_factory, mnist_test):
    """Pixel similarity on the ten digits: no training loop, so it is ready in well under a second."""
    folder = tmp_path_factory.mktemp("model") / "pixel-0-9"
    classifiers.make("pixel").fit(mnist_test.images[:1000], mnist_test.labels[:1000]).save(folder)
    return folder


def _scan(mnist_test, i: int, path) -> None:
    """Test digit `i` as a dark-on-light scan at `path`, its format from the suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(255 - mnist_test.images[i].numpy()).resize((84, 84)).convert("RGB").save(path)


def _shown(path) -> torch.Tensor:
    return torch.from_numpy(np.asarray(Image.open(path))).float() / 255


def test_inputs_sharing_a_name_each_get_their_own_shown_image(model, capsys, tmp_path, mnist_test):
    inputs = [tmp_path / "a" / "seven.jpg", tmp_path / "b" / "seven.webp", tmp_path / "c" / "seven.png"]
    for i, path in enumerate(inputs):
        _scan(mnist_test, i, path)
    seen = tmp_path / "seen"
    code, out, err = digitlab(capsys, "predict", model, *inputs, "--json", "--show", seen)
    assert code == 0, err
    expected = ["seven.png", "seven-2.png", "seven-3.png"]  # in the order given
    assert sorted(p.name for p in seen.iterdir()) == sorted(expected)
    answers = [json.loads(line) for line in out.splitlines()]
    assert [a["shown"] for a in answers] == [str(seen / name) for name in expected]
    for path, name in zip(inputs, expected):
        torch.testing.assert_close(_shown(seen / name), mnist_style.to_mnist(path), atol=1 / 255, rtol=0)


def test_a_folder_stands_for_its_images_sorted_by_name(model, capsys, tmp_path, mnist_test):
    folder = tmp_path / "scans"
    for i, name in enumerate(["b.png", "a.jpg", "c.bmp"]):
        _scan(mnist_test, i, folder / name)
    (folder / "notes.txt").write_text("the scans of 2024")
    (folder / "older").mkdir()  # not looked into
    code, out, err = digitlab(capsys, "predict", model, folder)
    assert code == 0, err
    assert [line.split(":")[0] for line in out.splitlines()] == [str(folder / n) for n in ("a.jpg", "b.png", "c.bmp")]
    warnings = [line for line in err.splitlines() if line.startswith("digitlab: warning:")]
    assert len(warnings) == 1 and "skipped 1 file that is not an image" in warnings[0], err
    assert "notes.txt" in warnings[0], err


def test_a_folder_of_many_other_files_names_the_first_few(model, capsys, tmp_path, mnist_test):
    folder = tmp_path / "scans"
    _scan(mnist_test, 0, folder / "a.png")
    for i in range(8):
        (folder / f"note{i}.txt").write_text("not a digit")
    code, _, err = digitlab(capsys, "predict", model, folder)
    assert code == 0, err
    warnings = [line for line in err.splitlines() if line.startswith("digitlab: warning:")]
    assert len(warnings) == 1 and "skipped 8 files that are not images" in warnings[0], err
    assert "note4.txt and 3 more" in warnings[0] and "note5.txt" not in warnings[0], err


def test_a_folder_without_images_is_one_clear_error(model, capsys, tmp_path):
    empty = tmp_path / "somedir"
    empty.mkdir()
    code, _, err = digitlab(capsys, "predict", model, empty)
    assert_one_line_error(code, err, "somedir", "folder", "no images")
    assert "no such image file" not in err


def test_paths_from_a_file_and_stdin_stream_as_json_lines_in_batches(model, capsys, tmp_path, mnist_test, monkeypatch):
    from digitlab.commands import predict

    monkeypatch.setattr(predict, "BATCH", 2)  # five images: three batches, the last one short
    paths = []
    for i in range(5):
        paths.append(tmp_path / f"{i}.png")
        _scan(mnist_test, i, paths[-1])
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a picture")
    listing = tmp_path / "list.txt"
    listing.write_text("\n".join(map(str, paths[:2] + [broken] + paths[2:4])) + "\n\n")
    printed = []
    monkeypatch.setattr(predict, "answer", lambda *a, real=predict.answer: printed.append(a[0]) or real(*a))
    flushes = []
    monkeypatch.setattr("sys.stdout.flush", lambda: flushes.append(len(printed)))
    code, out, err = digitlab(capsys, "predict", model, paths[4], "--from", listing, "--json")
    assert code == predict.PARTLY and "broken.png" in err
    answers = [json.loads(line) for line in out.splitlines()]
    assert [a["image"] for a in answers] == [str(p) for p in [paths[4], *paths[:4]]]  # arguments first, then the list
    assert {2, 3} <= set(flushes)  # flushed batch by batch (2, 3 and 5 answers), not only at the end
    expected = [int(mnist_test.labels[i]) for i in (4, 0, 1, 2, 3)]
    assert sum(a["label"] == e for a, e in zip(answers, expected)) >= 4
    monkeypatch.setattr("sys.stdin", open(listing))
    code, out, _ = digitlab(capsys, "predict", model, "--from", "-")
    assert code == predict.PARTLY and [line.split(":")[0] for line in out.splitlines()] == [str(p) for p in paths[:4]]


def test_predict_needs_images_or_a_list(model, capsys, tmp_path):
    assert_one_line_error(*digitlab(capsys, "predict", model)[::2], "--from FILE")
    assert_one_line_error(*digitlab(capsys, "predict", model, "--from", tmp_path / "none.txt")[::2],
                          "none.txt", "cannot read it")


def test_as_is_reads_mnist_style_files_without_cleaning_them(model, capsys, tmp_path, mnist_test):
    files = []
    for i in range(3):
        files.append(tmp_path / f"{i}.png")
        Image.fromarray(mnist_test.images[i].numpy()).save(files[-1])
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    seen = tmp_path / "seen"
    code, out, err = digitlab(capsys, "predict", model, *files, tmp_path / "bad.png", "--as-is", "--json", "--show", seen)
    assert code == 1 and "bad.png: not a readable image" in err
    answers = [json.loads(line) for line in out.splitlines()]
    assert [a["image"] for a in answers] == [str(f) for f in files]
    for i, answer in enumerate(answers):  # the model saw the file's own pixels, not to_mnist's
        assert np.array_equal(np.asarray(Image.open(answer["shown"])), mnist_test.images[i].numpy())
    assert [a["label"] for a in answers] == classifiers.load(model).predict(mnist_test.images[:3]).tolist()


def test_dark_page_files_are_cleaned_as_tensors_and_others_as_photos(model, capsys, tmp_path, mnist_test):
    """Without --as-is: a 28 x 28 PNG of light ink on a dark page (the exported kind, or one with a
    grey page or a digit filling the frame) is cleaned as the models clean a tensor, a batch at
    once: an exported digit comes through unchanged; the same digit dark on light is cleaned as a
    photo (to_mnist)."""
    from digitlab.vision.input_cleaning import cleaned

    exported = [tmp_path / f"{i}.png" for i in range(3)]
    for i, path in enumerate(exported):
        Image.fromarray(mnist_test.images[i].numpy()).save(path)
    dark_on_light, filling, grey = tmp_path / "dark.png", tmp_path / "filling.png", tmp_path / "grey.png"
    Image.fromarray(255 - mnist_test.images[3].numpy()).save(dark_on_light)
    crop = Image.fromarray(mnist_test.images[4].numpy()).crop(Image.fromarray(mnist_test.images[4].numpy()).getbbox())
    crop.resize((28, 28)).save(filling)
    Image.fromarray(np.maximum(mnist_test.images[5].numpy(), 90)).save(grey)
    seen = tmp_path / "seen"
    code, out, err = digitlab(capsys, "predict", model, *exported, dark_on_light, filling, grey, "--json",
                              "--show", seen)
    assert code == 0, err
    answers = [json.loads(line) for line in out.splitlines()]
    for i, answer in enumerate(answers[:3]):
        assert np.array_equal(np.asarray(Image.open(answer["shown"])), mnist_test.images[i].numpy())
    torch.testing.assert_close(_shown(answers[3]["shown"]), mnist_style.to_mnist(dark_on_light), atol=1 / 255, rtol=0)
    for path, answer in zip([filling, grey], answers[4:]):
        tensor = torch.from_numpy(np.asarray(Image.open(path))).float()[None] / 255
        torch.testing.assert_close(_shown(answer["shown"]), cleaned(tensor)[0], atol=1 / 255, rtol=0)
    filled = _shown(answers[4]["shown"])
    assert (filled > 0.2).any(1).sum() <= 21 and (filled > 0.2).any(0).sum() <= 21  # framed again, in 20 x 20
    assert _shown(answers[5]["shown"]).min() == 0  # the grey page taken away


def test_dark_page_tells_light_ink_on_dark_from_the_rest(mnist_test):
    digits = mnist_test.images[:500].numpy()  # (500, 28, 28) uint8
    assert mnist_style.dark_page(digits).all()
    assert mnist_style.dark_page(np.maximum(digits[:50], 90)).all()  # a grey page is still darker than the ink
    assert not mnist_style.dark_page(255 - digits[:50]).any()  # dark ink on light
    assert not mnist_style.dark_page(np.zeros((5, 28, 28), np.uint8)).any()  # blank: no ink to read
    assert not mnist_style.dark_page(np.full((5, 28, 28), 60, np.uint8)).any()
    assert mnist_style.dark_page(np.zeros((0, 28, 28), np.uint8)).shape == (0,)


def test_explain_saves_pictures_and_json_carries_the_maps(model, capsys, tmp_path, mnist_test):
    inputs = [tmp_path / "a" / "seven.png", tmp_path / "b" / "seven.png"]
    for i, path in enumerate(inputs):
        _scan(mnist_test, i, path)
    why = tmp_path / "why"
    code, out, err = digitlab(capsys, "predict", model, *inputs, "--json", "--explain", why)
    assert code == 0, err
    answers = [json.loads(line) for line in out.splitlines()]
    for answer in answers:
        e = answer["explanation"]
        assert e["method"] == "pixel" and e["label"] == answer["label"]
        assert set(e["maps"]) == {"minus_nearest_mean", "minus_runner_up_mean", "evidence"}
        assert all(len(m) == 28 and all(len(row) == 28 for row in m) for m in e["maps"].values())
        assert set(e["words"]["maps"]) == set(e["maps"]) and f"for {answer['label']}," in e["words"]["scores"]
    assert {"seven-seen.png", "seven-evidence.png", "seven-2-evidence.png"} <= {p.name for p in why.iterdir()}
    picture = Image.open(why / "seven-evidence.png")  # captioned: taller than the map, its words in the file
    assert picture.height > 224 + 100 and answers[0]["explanation"]["words"]["maps"]["evidence"]["caption"] \
        in picture.text["Description"]
    code, out, err = digitlab(capsys, "predict", model, inputs[0], "--explain", why)
    assert code == 0 and "why: Distance to each digit's nearest ideal" in out, out
    assert re.search(r"\d\.\d\d to an ideal 7, .* \d+(\.\d)?% for 7,", out), out


def test_explain_with_the_shipped_cnn(capsys, tmp_path, mnist_test):
    _scan(mnist_test, 0, tmp_path / "seven.png")
    code, out, err = digitlab(capsys, "predict", tmp_path / "seven.png", "--explain", tmp_path / "why")
    assert code == 0, err
    assert "why: How strongly the model leans to each digit" in out and re.search(r"\d\.\d for 7, ", out), out
    assert (tmp_path / "why" / "seven-integrated_gradients.png").is_file()


def test_explain_into_a_file_is_one_line_error(model, capsys, tmp_path, mnist_test):
    _scan(mnist_test, 0, tmp_path / "seven.png")
    (tmp_path / "taken").write_text("a file")
    code, out, err = digitlab(capsys, "predict", model, tmp_path / "seven.png", "--explain", tmp_path / "taken")
    assert_one_line_error(code, err, "taken")


def test_read_images_gives_what_it_gave_before_its_routing_moved_into_images_prepare(tmp_path, mnist_train):
    # mnist_style.prepare is the routing predict shares with the corruption set: a 28 x 28 PNG on a dark
    # page is cleaned as a tensor (an MNIST digit keeps its own pixels), every other file goes through
    # to_mnist, a broken one is skipped and named, and the rest keep the order given.
    from digitlab.commands.predict import Unreadable, read_images
    from digitlab.errors import DataError, DigitlabWarning

    digits = mnist_train.images[:3].numpy()  # (3, 28, 28) uint8
    paths = {name: tmp_path / name for name in ("mnist.png", "dark.png", "bad.png", "scan.jpg", "mnist-2.png")}
    Image.fromarray(digits[0]).save(paths["mnist.png"])
    Image.fromarray(255 - digits[1]).save(paths["dark.png"])  # 28 x 28 grey, but dark on light: cleaned
    paths["bad.png"].write_bytes(b"\x89PNG\r\n\x1a\n broken")
    Image.fromarray(255 - digits[2]).resize((84, 84)).convert("RGB").save(paths["scan.jpg"])
    Image.fromarray(digits[2]).save(paths["mnist-2.png"])
    unreadable = Unreadable()
    inputs, read = read_images([str(p) for p in paths.values()], unreadable)
    assert read == [str(paths[n]) for n in ("mnist.png", "dark.png", "scan.jpg", "mnist-2.png")]
    assert unreadable.count == 1
    with pytest.warns(DigitlabWarning, match="bad.png"):  # named once something is predicted (one line a problem)
        unreadable.said()
    expected = torch.stack([torch.from_numpy(digits[0]).float() / 255, mnist_style.to_mnist(paths["dark.png"]),
                            mnist_style.to_mnist(paths["scan.jpg"]), torch.from_numpy(digits[2]).float() / 255])
    assert torch.equal(inputs, expected)
    with pytest.raises(DataError, match="broken.png"):  # with nowhere to send it, a refusal is raised
        mnist_style.prepare(np.zeros((0, 28, 28), np.uint8), [], [paths["bad.png"].read_bytes()], ["broken.png"])


@pytest.mark.parametrize("case, body, words", at_and_past_the_budget(), ids=lambda c: c if isinstance(c, str) else "")
def test_predict_meets_the_limit_uploads_meet(model, capsys, tmp_path, case, body, words):
    """The same headers test_web.py uploads: at the budget read (and found truncated), past it refused."""
    path = tmp_path / "big.png"
    path.write_bytes(body)
    code, _, err = digitlab(capsys, "predict", model, path)
    assert_one_line_error(code, err, f"{path}: ", words)
    assert ("too large" in err) == ("past" in case)


def test_prepare_on_two_threads_gives_what_one_thread_gives_in_the_order_given():
    # predict reads photos on both cores (issue 35): every image's input, whether it was read, and the
    # errors passed on must come out as on one thread, in the order given, across several of the
    # threads' chunks (READ_CHUNK images each).
    from digitlab.data import stress

    sources = [stress.raw_image("photo", i, seed=7)[0] for i in range(2 * mnist_style.READ_CHUNK + 3)]
    sources[3] = b"\x89PNG\r\n\x1a\n broken"
    sources[11] = Image.new("L", (60, 60), 255)  # a blank page: read as the black square it is
    sources[13] = b"not an image either"
    names = [f"photo-{i}.png" for i in range(len(sources))]
    runs = []
    for workers in (1, 2):
        errors = []
        inputs, read = mnist_style.prepare(np.zeros((0, 28, 28), np.uint8), [], sources, names,
                                           errors.append, blanks=True, workers=workers)
        runs.append((inputs, read, [str(e) for e in errors]))
    (one, read_one, errors_one), (two, read_two, errors_two) = runs
    assert read_one.tolist() == [i not in (3, 13) for i in range(len(sources))]
    assert [e.split(":")[0] for e in errors_one] == ["photo-3.png", "photo-13.png"]
    assert not one[11].any() and one[10].any() and one[12].any()
    assert torch.equal(one, two) and read_two.tolist() == read_one.tolist() and errors_two == errors_one
