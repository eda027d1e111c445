"""The compare job's pieces: plans, tasks, scoring, and the checks on what a user asks for."""

from __future__ import annotations

import dataclasses
import pickle

import pytest
import torch
from PIL import Image

from digitlab import classifiers, service
from digitlab.classifiers.cnn import presets
from digitlab.compare.config import CompareConfig
from digitlab.compare.job import run_one
from digitlab.compare.tasks import load_task, tell_apart
from digitlab.errors import DataError, DigitlabError

from cli_run import assert_one_line_error, digitlab


@pytest.fixture(scope="module")
def tiny():
    return load_task("mnist_tiny")


def test_epochs_override_every_trained_method_but_not_pixel():
    config = CompareConfig()
    assert config.plan("linear", 7)["epochs"] == 7 and config.plan("cnn", 7)["epochs"] == 7
    assert "epochs" not in config.plan("pixel", 7)  # pixel has none: left out, not given and dropped
    assert config.plan("linear") == config.linear


def test_the_cnn_trains_longer_on_a_gpu_where_epochs_are_cheap():
    config = CompareConfig()
    assert "epochs" not in config.plan("cnn")  # the fast preset's own epochs: its table is the one source
    assert service.make("cnn", **config.plan("cnn")).config == presets.preset("fast")
    assert config.plan("cnn", 3)["epochs"] == 3
    assert config.plan("cnn", device="cuda")["epochs"] == config.cnn_on_gpu["epochs"] == 8  # no GPU needed to plan
    assert config.plan("cnn", device="auto").get("epochs") == (8 if torch.cuda.is_available() else None)


def test_every_plan_holds_only_options_its_method_has():
    config = CompareConfig()
    for method in classifiers.METHODS:
        assert set(config.plan(method, epochs=3)) <= service.options_of(method), method
    with pytest.raises(DigitlabError, match="compare plan pixel: epochs is not an option of pixel"):
        CompareConfig(pixel={"epochs": 3})


def test_methods_are_checked_and_the_valid_ones_listed():
    assert service.parse_methods(None) == list(classifiers.METHODS)
    assert service.parse_methods(" linear,cnn ") == ["linear", "cnn"]
    with pytest.raises(DigitlabError, match="unknown method svm; choose from pixel, linear, simple_net, cnn"):
        service.parse_methods("linear,svm")


def test_quick_tasks_are_seeded_subsets_of_both_classes():
    config = CompareConfig()
    task = load_task("mnist_sample", quick=True, seed=1)
    assert (len(task.train_labels), len(task.test_labels)) == (config.quick_train, config.quick_test)
    assert task.classes == [3, 7] and (task.name, task.slug) == ("3 vs 7", "3v7")
    again = load_task("mnist_sample", quick=True, seed=1)
    other = load_task("mnist_sample", quick=True, seed=2)
    assert torch.equal(task.train_images, again.train_images)
    assert not torch.equal(task.train_images, other.train_images)
    ten = load_task("mnist", quick=True)
    assert ten.classes == list(range(10)) and (ten.name, ten.slug) == ("0-9", "0-9")


def test_evaluate_agrees_with_the_classifier(tiny):
    clf = classifiers.make("pixel").fit(tiny.train_images, tiny.train_labels)
    scores = service.evaluate(clf, tiny.test_images, tiny.test_labels, worst=5)
    assert scores["accuracy"] == pytest.approx(clf.score(tiny.test_images, tiny.test_labels))
    confusion = scores["confusion"]
    assert int(confusion.sum()) == len(tiny.test_labels)
    assert float(confusion.diag().sum()) / len(tiny.test_labels) == pytest.approx(scores["accuracy"])
    proba = clf.predict_proba(tiny.test_images)
    truth = torch.searchsorted(clf.classes_, tiny.test_labels)
    p_true = proba[torch.arange(len(truth)), truth]
    worst = scores["worst"]
    assert len(worst) == 5
    # The worst are the five lowest probabilities given to the true digit, lowest first.
    expected = p_true.sort().values[:5]
    got = [w.probability if w.predicted == w.actual else 1 - w.probability for w in worst]  # two classes
    torch.testing.assert_close(torch.tensor(got), expected, atol=1e-5, rtol=0)


def test_parameters_are_what_the_model_holds(tiny):
    linear = classifiers.make("linear", epochs=1).fit(tiny.train_images, tiny.train_labels)
    assert service.count_parameters(linear) == 28 * 28 + 1  # one output for the binary task, and its bias
    pixel = classifiers.make("pixel").fit(tiny.train_images, tiny.train_labels)
    assert service.count_parameters(pixel) == 2 * 28 * 28  # the two mean digits


def test_resumed_models_take_new_settings_and_refuse_unknown_ones(tiny):
    clf = service.make("linear", seed=1, epochs=None, lr=0.5)  # None keeps the method's default
    assert (clf.config.epochs, clf.config.lr, clf.config.seed) == (classifiers.LinearConfig().epochs, 0.5, 1)
    assert service.with_overrides(clf, epochs=3, lr=None).config == dataclasses.replace(clf.config, epochs=3)
    with pytest.raises(DigitlabError, match="--lr: a pixel model has no such setting"):
        service.with_overrides(classifiers.make("pixel"), lr=0.1)


def _write_folder(root, layout: dict[str, dict[int, int]], digits: torch.Tensor, labels: torch.Tensor) -> None:
    for split, counts in layout.items():
        for digit, count in counts.items():
            folder = root / split / str(digit)
            folder.mkdir(parents=True)
            for i, image in enumerate(digits[labels == digit][:count]):
                Image.fromarray(image.numpy()).save(folder / f"{i}.png")


def test_a_folder_is_a_task_and_test_digits_must_have_been_trained(tmp_path, mnist_test):
    good = tmp_path / "good"
    _write_folder(good, {"train": {3: 20, 7: 20}, "valid": {3: 5, 7: 5}}, mnist_test.images, mnist_test.labels)
    task = load_task(str(good))
    assert task.classes == [3, 7] and len(task.test_labels) == 10 and task.name == "3 vs 7"
    bad = tmp_path / "bad"
    _write_folder(bad, {"train": {3: 20, 7: 20}, "valid": {3: 5, 1: 5}}, mnist_test.images, mnist_test.labels)
    with pytest.raises(DataError, match=r"test images hold digits \[1\] that no training image has"):
        load_task(str(bad))


def test_two_datasets_of_the_same_digits_keep_their_own_models_rows_and_report(capsys, tmp_path, mnist_test):
    mix = tmp_path / "mix"
    _write_folder(mix, {"train": {3: 20, 7: 20}, "valid": {3: 5, 7: 5}}, mnist_test.images, mnist_test.labels)
    out = tmp_path / "out"
    code, stdout, err = digitlab(capsys, "compare", "--quick", "--methods", "pixel,linear", "--device", "cpu",
                                  "--dataset", mix, "--dataset", "mnist_tiny", "--out", out)
    assert code == 0, err
    # Nothing overwritten: one folder per (method, dataset), each trained on its own dataset's test size.
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == [
        "linear-3v7-mix", "linear-3v7-mnist_tiny", "pixel-3v7-mix", "pixel-3v7-mnist_tiny"]
    for name in ("3 vs 7 (mix)", "3 vs 7 (mnist_tiny)"):
        assert stdout.count(name) == 2, stdout  # one table row per method
    page = (out / "report.html").read_text()
    assert "3 vs 7 (mix)" in page and "3 vs 7 (mnist_tiny)" in page


def test_tasks_are_told_apart_only_when_they_clash(tiny):
    assert [t.slug for t in tell_apart([tiny])] == ["3v7"]
    ten = dataclasses.replace(tiny, name="0-9", dataset="mnist", train_labels=torch.arange(10))
    assert [(t.name, t.slug) for t in tell_apart([tiny, ten])] == [("3 vs 7", "3v7"), ("0-9", "0-9")]
    # Two folders of the same name and digits: numbered in the order given.
    a, b = (dataclasses.replace(tiny, dataset=f"{root}/mix") for root in ("a", "b"))
    assert [t.slug for t in tell_apart([a, b])] == ["3v7-mix-1", "3v7-mix-2"]


def test_a_method_or_dataset_named_twice_is_refused(capsys, tmp_path):
    with pytest.raises(DigitlabError, match="--methods: linear is named twice"):
        service.parse_methods("linear,cnn,linear")
    code, _, err = digitlab(capsys, "compare", "--quick", "--methods", "linear,linear", "--out", tmp_path / "a")
    assert_one_line_error(code, err, "linear is named twice")
    code, _, err = digitlab(capsys, "compare", "--quick", "--dataset", "mnist_tiny", "--dataset", "mnist_tiny",
                             "--out", tmp_path / "b")
    assert_one_line_error(code, err, "--dataset", "mnist_tiny", "twice")
    folder = tmp_path / "mix"
    folder.mkdir()
    code, _, err = digitlab(capsys, "compare", "--quick", "--dataset", folder, "--dataset", f"{folder}/",
                             "--out", tmp_path / "c")
    assert_one_line_error(code, err, "--dataset", "twice")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()  # refused before any training


def test_evaluate_scores_in_batches_with_the_same_answers(mnist_test, monkeypatch):
    clf = classifiers.make("pixel").fit(mnist_test.images[:500], mnist_test.labels[:500])
    whole = clf.predict_proba(mnist_test.images[500:750])
    sizes, real = [], clf.predict_proba
    monkeypatch.setattr(clf, "predict_proba", lambda X: sizes.append(len(X)) or real(X))
    monkeypatch.setattr(service, "SCORE_BATCH", 100)
    scores = service.evaluate(clf, mnist_test.images[500:750], mnist_test.labels[500:750])
    assert sizes == [100, 100, 50]  # never the whole set at once: its float copy is what grows
    assert torch.equal(scores["predicted"], clf.classes_[whole.argmax(1)])


@pytest.mark.parametrize("method, plan", [
    ("pixel", {"distance": "l1", "deskew": True, "ideals": 2, "kmeans_starts": 2}),
    ("simple_net", {"epochs": 1, "lr": 0.3, "batch_size": 32, "deskew": True})])
def test_every_setting_of_a_plan_reaches_the_saved_model(method, plan, tiny, tmp_path):
    result = run_one(method, tiny, plan, tmp_path, seed=3, device="cpu")
    saved = dataclasses.asdict(service.load(result.model_dir).config)
    assert result.config == saved == {**saved, **plan, "seed": 3}
    assert result.model.config == service.load(result.model_dir).config  # the fitted model, kept in memory


def test_a_plan_setting_the_method_lacks_is_refused_not_dropped(tiny, tmp_path):
    with pytest.raises(DigitlabError) as caught:
        run_one("pixel", tiny, {"epochs": 3}, tmp_path, seed=0, device="cpu")
    message = str(caught.value)
    assert message.startswith("epochs: the pixel method has no such option; its options are ")
    assert message.endswith(", ".join(sorted(classifiers.PixelConfig.__dataclass_fields__))) and "\n" not in message
    assert not any(tmp_path.iterdir())  # refused before anything was trained or saved


def test_make_refuses_each_option_the_method_lacks_and_keeps_the_rest():
    with pytest.raises(DigitlabError, match=r"^device: the linear method has no such option; its options are "
                                            r"batch_size, deskew, epochs, .*turn$"):
        service.make("linear", epochs=2, device="cpu")
    with pytest.raises(DigitlabError, match="^distance: the simple_net method"):
        service.make("simple_net", distance="l1", epochs=None)
    assert service.make("linear", epochs=2, device=None, lr=None).config == classifiers.LinearConfig(epochs=2)
    with pytest.raises(DigitlabError, match="unknown method 'svm'"):
        service.make("svm", epochs=2)


def test_the_job_gives_the_device_only_to_the_method_that_takes_one():
    from digitlab.compare.job import options

    plan = {"epochs": 2, "distance": None}
    assert options("linear", plan, seed=4, device="cuda") == {"epochs": 2, "seed": 4}
    assert options("cnn", plan, seed=4, device="cuda") == {"epochs": 2, "seed": 4, "device": "cuda"}
    assert options("pixel", {"distance": "l1", "ideals": None}, 0, "cpu") == {"distance": "l1", "seed": 0}


def test_the_default_job_deskews_the_cheap_methods_and_trains_the_net_at_its_chosen_lr():
    config = CompareConfig()
    made = {m: service.make(m, **config.plan(m)).config for m in ("pixel", "linear", "simple_net")}
    assert all(c.deskew for c in made.values()) and made["pixel"].distance == "l2"
    assert (made["pixel"].ideals, made["pixel"].kmeans_starts) == (15, 1)
    assert (made["simple_net"].epochs, made["simple_net"].lr, made["simple_net"].batch_size) == (9, 0.25, 128)


def test_a_quick_run_has_its_own_folder_marks_its_figures_and_never_replaces_full_models(capsys, tmp_path,
                                                                                          monkeypatch):
    import json

    from digitlab.compare import record

    monkeypatch.chdir(tmp_path)
    quick = ("compare", "--quick", "--methods", "pixel,linear", "--dataset", "mnist_tiny", "--device", "cpu")
    code, stdout, err = digitlab(capsys, *quick)
    assert code == 0, err
    assert not (tmp_path / "digitlab-out").exists()  # where a full compare and serve's default live
    smoke = tmp_path / "digitlab-quick"
    assert sorted(p.name for p in smoke.iterdir() if p.is_dir()) == ["linear-3v7", "pixel-3v7"]
    assert "digitlab compare, quick run" in stdout and stdout.count(record.SMOKE) == 2, stdout  # caption, last line
    page = (smoke / "report.html").read_text()
    assert page.count("Quick run: smoke figures") == 2 and "<h1>digitlab compare, quick run</h1>" in page
    entries = json.loads((smoke / record.RECORD).read_text())["models"]
    assert set(entries) == {"pixel-3v7", "linear-3v7"} and all(e["quick"] is True for e in entries.values())
    test_count = len(load_task("mnist_tiny", quick=True).test_labels)
    assert entries["pixel-3v7"]["measured_on"] == f"mnist_tiny's {test_count:,} test digits"
    saved = service.load(smoke / "linear-3v7")
    # One accuracy: the record's is the saved model's own (config.json) and the table's.
    assert entries["linear-3v7"]["accuracy"] == pytest.approx(saved.history_[-1]["accuracy"], abs=1e-6)
    assert f"{entries['linear-3v7']['accuracy']:.2%}" in stdout
    assert f"**Note: {record.SMOKE}.**" in (smoke / "linear-3v7" / "README.md").read_text()  # its card says so too

    code, stdout, err = digitlab(capsys, "compare", "--methods", "pixel", "--dataset", "mnist_tiny", "--device", "cpu")
    assert code == 0, err
    full = tmp_path / "digitlab-out"
    assert record.read(full) == {"pixel-3v7": {"quick": False, "accuracy": pytest.approx(
        service.load(full / "pixel-3v7").history_[-1]["accuracy"]), "measured_on": f"mnist_tiny's {len(load_task('mnist_tiny').test_labels):,} test digits"}}
    card = (full / "pixel-3v7" / "README.md").read_text()  # a full run's card: the figures compare measured, no note
    accuracy = record.read(full)["pixel-3v7"]["accuracy"]
    assert f"| `mnist_tiny` test images | {len(load_task('mnist_tiny').test_labels):,} | {accuracy:.2%} |" in card
    assert "Note:" not in card
    assert "smoke" not in stdout and "smoke figures" not in (full / "report.html").read_text()
    before = (full / "pixel-3v7" / "config.json").read_bytes()
    code, _, err = digitlab(capsys, *quick, "--out", full)
    assert_one_line_error(code, err, f"--out {full}", "pixel-3v7", "quick run's smoke models would replace")
    assert (full / "pixel-3v7" / "config.json").read_bytes() == before and not (full / "linear-3v7").exists()


def test_a_model_saved_without_a_compare_record_counts_as_full(tiny, tmp_path):
    from digitlab.compare import record

    classifiers.make("pixel").fit(tiny.train_images, tiny.train_labels).save(tmp_path / "pixel-3v7")  # as train saves
    classifiers.make("pixel").fit(tiny.train_images, tiny.train_labels).save(tmp_path / "linear-3v7")
    assert record.full_models(tmp_path) == ["linear-3v7", "pixel-3v7"]
    record.mark(tmp_path, ["linear-3v7"], quick=True)
    assert record.full_models(tmp_path) == ["pixel-3v7"] and record.is_smoke(tmp_path / "linear-3v7")
    (tmp_path / record.RECORD).write_text("{not json")  # a damaged record marks nothing smoke
    assert record.full_models(tmp_path) == ["linear-3v7", "pixel-3v7"]


def test_a_result_keeps_its_worst_digits_not_the_test_set(tiny):
    clf = service.make("pixel").fit(tiny.train_images, tiny.train_labels)
    worst = service.evaluate(clf, tiny.test_images, tiny.test_labels, worst=9)["worst"]
    # Each a copy of its own 784 pixels: a view would keep every test digit alive, and pickled, carry them all.
    assert len(worst) == 9 and all(w.image.untyped_storage().nbytes() == 28 * 28 for w in worst)
    assert len(pickle.dumps(worst)) < 20_000
    assert all(torch.equal(w.image, tiny.test_images[(tiny.test_images == w.image).flatten(1).all(1)][0])
               for w in worst)
