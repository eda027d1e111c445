"""The service layer (service.py) and the compare job's runs (compare/job.py), pinned by value.

A stub reader with known probabilities shows what `predict` and `evaluate` must answer; the real
methods, fitted on mnist_tiny in a second, show that `load`, `make` and the job keep every setting.
"""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from digitlab import classifiers, service
from digitlab.compare import job
from digitlab.compare.config import CompareConfig
from digitlab.compare.tasks import load_task
from digitlab.data import corrupted, stress
from digitlab.data.digits import Digits
from digitlab.errors import DigitlabError, ModelError

SURE = 0.9  # the reader's probability for the digit it reads; every other digit gets the rest evenly


class Reader:
    """A fitted classifier of `classes` that reads the digit written in pixel (0, 0) of each image
    (a digit it does not know reads as its first class) through `misread` ({digit: read as})."""

    method = "stub"
    calibration_ = None

    def __init__(self, classes=range(10), misread=None):
        self.classes_ = torch.tensor(list(classes))
        self.misread = misread or {}
        self.calls: list[int] = []

    def read(self, X: torch.Tensor) -> torch.Tensor:
        written = X[:, 0, 0].float().round().long().tolist()
        read = [self.misread.get(d, d) for d in written]
        return torch.tensor([self.classes_.tolist().index(d) if d in self.classes_.tolist() else 0 for d in read])

    def predict_proba(self, X: torch.Tensor) -> torch.Tensor:
        self.calls.append(len(X))
        k = len(self.classes_)
        rest = (1 - SURE) / (k - 1)
        return torch.nn.functional.one_hot(self.read(X), k).double() * (SURE - rest) + rest  # (N, K) float64

    def predict(self, X: torch.Tensor) -> torch.Tensor:
        return self.classes_[self.read(X)]


def written(digits) -> torch.Tensor:
    """(N, 28, 28) uint8 images with each digit written in pixel (0, 0)."""
    images = torch.zeros(len(digits), 28, 28, dtype=torch.uint8)
    images[:, 0, 0] = torch.tensor(list(digits), dtype=torch.uint8)
    return images


@pytest.fixture(scope="module")
def tiny():
    return load_task("mnist_tiny")


# -- predict ---------------------------------------------------------------------------------------

def test_predict_answers_each_image_with_its_digit_and_top_probability_in_column_order():
    reader = Reader(classes=[3, 5, 7], misread={5: 7})
    said = service.predict(reader, written([7, 3, 5, 3]))
    assert said.classes == [3, 5, 7]
    assert said.digits == [7, 3, 7, 3]  # digits, not column indices; 5 read as 7
    assert said.top == pytest.approx([SURE] * 4)
    assert said.proba.dtype == torch.float32 and said.proba.shape == (4, 3)
    assert said.proba.argmax(1).tolist() == [2, 0, 2, 0]
    assert said.proba[0].tolist() == pytest.approx([0.05, 0.05, SURE])


def test_predict_takes_the_first_of_a_tie_and_its_probability():
    class Even(Reader):
        def predict_proba(self, X):
            return torch.tensor([[0.2, 0.4, 0.4], [0.5, 0.1, 0.4]]).float()

    said = service.predict(Even(classes=[1, 4, 9]), written([0, 0]))
    assert said.digits == [4, 1] and said.top == pytest.approx([0.4, 0.5])


def test_predict_runs_in_batches_and_keeps_their_order(monkeypatch):
    monkeypatch.setattr(service, "SCORE_BATCH", 3)
    reader = Reader()
    digits = [4, 0, 9, 1, 1, 8, 2]
    said = service.predict(reader, written(digits))
    assert reader.calls == [3, 3, 1] and said.digits == digits


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_predict_refuses_outputs_that_are_not_numbers_naming_the_model(bad):
    class Broken(Reader):
        def predict_proba(self, X):
            proba = super().predict_proba(X)
            proba[-1, 0] = bad
            return proba

    with pytest.raises(ModelError, match=r"^models/cnn-0-9: the model's outputs are not numbers \(NaN or "
                                         r"infinite\); .* \(with a lower --lr\)$"):
        service.predict(Broken(), written([1, 2]), "models/cnn-0-9")
    with pytest.raises(ModelError, match="^the model: "):
        service.predict(Broken(), written([1]))


# -- evaluate -------------------------------------------------------------------------------------

def test_evaluate_scores_the_readers_answers():
    digits = [0, 1, 2, 3, 3, 4, 5, 6, 7, 8, 9, 3]
    reader = Reader(misread={3: 8})
    scores = service.evaluate(reader, written(digits).float() / 255 * 255, torch.tensor(digits), worst=2)
    assert scores["accuracy"] == pytest.approx(9 / 12)
    assert scores["predicted"].tolist() == [8 if d == 3 else d for d in digits]
    confusion = scores["confusion"]
    assert confusion[3, 8] == 3 and confusion[8, 3] == 0 and confusion[8, 8] == 1 and int(confusion.sum()) == 12
    assert scores["ece"] == pytest.approx(SURE - 9 / 12)  # every answer 90 % sure, 75 % right
    bins = scores["reliability"]
    assert sum(bins["count"]) == 12 and bins["accuracy"][math.ceil(SURE * 15) - 1] == pytest.approx(0.75)
    assert scores["seconds_per_image"] > 0
    worst = scores["worst"]
    assert [(w.actual, w.predicted) for w in worst] == [(3, 8), (3, 8)]
    assert worst[0].probability == pytest.approx(SURE) and worst[0].image.shape == (28, 28)
    assert int(worst[0].image[0, 0]) == 3


def test_evaluate_times_the_predictions_per_image(monkeypatch):
    clock = iter([10.0, 10.5])  # predict_proba takes half a second on this clock
    monkeypatch.setattr(service, "time", type("Clock", (), {"perf_counter": staticmethod(lambda: next(clock))}))
    assert service.evaluate(Reader(), written([1, 2, 3, 4]), torch.tensor([1, 2, 3, 4]))["seconds_per_image"] == 0.125
    clock = iter([3.0, 3.25])
    assert service.evaluate(Reader(), written([5]), torch.tensor([5]))["seconds_per_image"] == 0.25


def test_evaluate_names_the_model_whose_outputs_are_not_numbers():
    class Broken(Reader):
        def predict_proba(self, X):
            return super().predict_proba(X) * float("nan")

    with pytest.raises(ModelError, match="^out/linear-3v7: the model's outputs are not numbers"):
        service.evaluate(Broken(), written([1]), torch.tensor([1]), model="out/linear-3v7")
    with pytest.raises(ModelError, match="^the model: the model's outputs"):
        service.evaluate(Broken(), written([1]), torch.tensor([1]))


def test_evaluate_keeps_the_nine_worst_by_default():
    digits = list(range(10)) * 2
    scores = service.evaluate(Reader(misread={d: (d + 1) % 10 for d in range(10)}), written(digits), torch.tensor(digits))
    assert len(scores["worst"]) == 9 and scores["accuracy"] == 0


def test_evaluate_of_no_worst_keeps_none():
    scores = service.evaluate(Reader(), written([1, 2]), torch.tensor([1, 2]), worst=0)
    assert scores["worst"] == [] and scores["accuracy"] == 1.0 and scores["ece"] == pytest.approx(1 - SURE)


# -- load, make, the options ------------------------------------------------------------------------

def test_load_gives_back_what_was_saved_and_names_a_missing_folder(tiny, tmp_path):
    clf = service.make("pixel", distance="l1").fit(tiny.train_images, tiny.train_labels)
    clf.save(tmp_path / "pixel")
    loaded = service.load(str(tmp_path / "pixel"))
    assert loaded.config == clf.config and loaded.classes_.tolist() == [3, 7]
    assert torch.equal(loaded.predict_proba(tiny.test_images), clf.predict_proba(tiny.test_images))
    with pytest.raises(ModelError, match=rf"^{tmp_path / 'gone'}: no such model folder; give a folder written by "
                                         r"`digitlab compare` or `digitlab train`$"):
        service.load(tmp_path / "gone")
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(ModelError, match="file: no such model folder"):
        service.load(tmp_path / "file")


def test_make_puts_each_set_option_in_the_defaults_place():
    clf = service.make("linear", epochs=3, lr=None, seed=7, deskew=True)
    assert clf.config == dataclasses.replace(classifiers.LinearConfig(), epochs=3, seed=7, deskew=True)
    assert service.make("pixel").config == classifiers.PixelConfig()


def test_make_refuses_an_option_of_another_method_naming_it_and_the_methods_options():
    with pytest.raises(DigitlabError) as caught:
        service.make("pixel", ideals=2, lr=0.1, epochs=None)
    assert str(caught.value) == ("lr: the pixel method has no such option; its options are copy_ideals, "
                                 "deskew, distance, ideals, kmeans_rounds, kmeans_starts, lines, outline, seed, smear, "
                                 "temperature, turn")


def test_options_are_the_configs_fields():
    assert service.options_of("pixel") == {"copy_ideals", "deskew", "distance", "ideals", "kmeans_rounds", "kmeans_starts",
                                           "lines", "outline", "seed", "smear", "temperature", "turn"}
    assert "device" in service.options_of("cnn") and "device" not in service.options_of("simple_net")


def test_overrides_change_the_settings_given_and_refuse_others():
    clf = service.make("linear", epochs=2)
    assert service.with_overrides(clf, epochs=5, lr=None) is clf and clf.config.epochs == 5
    assert clf.config.lr == classifiers.LinearConfig().lr
    with pytest.raises(DigitlabError, match=r"^--hidden: a linear model has no such setting$"):
        service.with_overrides(clf, hidden=3, epochs=1)
    assert clf.config.epochs == 5  # refused whole


def test_check_task_names_the_digits_the_model_does_not_know():
    service.check_task(Reader(classes=[3, 7]), torch.tensor([3, 7, 7]), "m")
    with pytest.raises(ModelError) as caught:
        service.check_task(Reader(classes=[3, 7]), torch.tensor([4, 3, 1, 4]), "m")
    assert str(caught.value) == ("m: the model knows the digits [3, 7] but the data also holds [1, 4]; use the "
                                 "dataset the model was trained on (or train one on this dataset)")


def test_methods_lists_are_read_in_order_and_checked():
    assert service.parse_methods("") == list(classifiers.METHODS)
    assert service.parse_methods("cnn, pixel,") == ["cnn", "pixel"]
    with pytest.raises(DigitlabError, match=r"^METHOD: unknown method ' , '; choose from pixel, linear"):
        service.parse_methods(" , ", option="METHOD")
    with pytest.raises(DigitlabError, match=r"^--methods: unknown method svm, knn; choose"):
        service.parse_methods("svm,cnn,knn")
    with pytest.raises(DigitlabError, match=r"^--methods: cnn is named twice; give each method once$"):
        service.parse_methods("cnn,pixel,cnn")


def test_parameters_and_bytes_are_counted(tiny, tmp_path):
    net = service.make("simple_net", epochs=1, hidden=5).fit(tiny.train_images, tiny.train_labels)
    assert service.count_parameters(net) == 28 * 28 * 5 + 5 + 5 * 1 + 1  # 3 vs 7: one output
    holder = type("Holder", (), {})()
    holder.means_, holder.counts_ = torch.zeros(2, 3), torch.zeros(4, dtype=torch.int64)  # ints are not learned
    assert service.count_parameters(holder) == 6
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "x").write_bytes(b"12345")
    (tmp_path / "a" / "b" / "y").write_bytes(b"123")
    assert service.folder_bytes(tmp_path / "a") == 8


# -- the compare job's runs --------------------------------------------------------------------------

def test_options_pass_the_plans_settings_the_seed_and_the_device_only_to_the_cnn():
    plan = {"epochs": 2, "lr": 0.5}
    assert job.options("simple_net", plan, 1, "cuda") == {"epochs": 2, "lr": 0.5, "seed": 1}
    assert job.options("cnn", plan, 1, "cuda") == {"epochs": 2, "lr": 0.5, "seed": 1, "device": "cuda"}
    # a plan that holds only its method's own settings, as a mapping
    assert job.options("pixel", {"distance": "l1", "ideals": None}, 0, "cpu") == {"distance": "l1", "seed": 0}


def test_a_run_measures_saves_and_keeps_its_model(tmp_path):
    tiny = load_task("mnist_sample", quick=True)  # 600 to fit, 300 to calibrate, 300 to test
    result = job.run_one("linear", tiny, {"epochs": 2}, tmp_path, seed=1, device="cpu", worst=4)
    clf = result.model
    scores = service.evaluate(clf, tiny.test_images, tiny.test_labels, worst=4)
    assert (result.method, result.task, result.classes) == ("linear", "3 vs 7", [3, 7])
    assert result.accuracy == scores["accuracy"] and torch.equal(result.confusion, scores["confusion"])
    assert result.ece == scores["ece"] and result.reliability == {"test": scores["reliability"]}
    assert [(w.actual, w.predicted) for w in result.worst] == [(w.actual, w.predicted) for w in scores["worst"]]
    assert result.test_count == len(tiny.test_labels) and result.train_seconds > 0
    assert result.model_dir == str(tmp_path / "linear-3v7") and result.size_bytes == service.folder_bytes(tmp_path / "linear-3v7")
    assert result.parameters == 28 * 28 + 1 and len(result.history) == 2 == len(clf.history_)
    assert result.config == dataclasses.asdict(clf.config) and clf.config.seed == 1 and clf.config.epochs == 2
    assert result.calibration == clf.calibration_ and result.calibration["images"] == 300
    assert (result.stress, result.stress_ece, result.corrupted) == (None, None, None)  # 3 vs 7
    saved = service.load(result.model_dir)
    assert torch.equal(saved.predict_proba(tiny.test_images), clf.predict_proba(tiny.test_images))
    assert " model=" not in repr(result) and result == dataclasses.replace(result, model=None)


def test_the_job_runs_every_method_on_every_task_with_the_epochs_given(tiny, tmp_path):
    config = dataclasses.replace(CompareConfig(), pixel={"distance": "l1", "ideals": 2})
    results = job.run_all([tiny], ["pixel", "linear"], tmp_path, seed=2, epochs=1, config=config, test_sets=False)
    assert [(r.method, r.task) for r in results] == [("pixel", "3 vs 7"), ("linear", "3 vs 7")]
    assert results[1].config["epochs"] == 1 and len(results[1].history) == 1 and results[1].config["seed"] == 2
    assert results[0].config == dataclasses.asdict(service.make("pixel", seed=2, distance="l1", ideals=2).config)
    assert all(r.model is not None for r in results)


def test_the_stress_and_corruption_sets_are_scored_for_ten_digit_models_only():
    fonts, pen = 0, stress.PER_CATEGORY  # the index where each category starts
    shaken = Digits(written([1, 2, 3, 4]), torch.tensor([1, 2, 3, 4]), torch.tensor([fonts, fonts + 1, pen, pen + 1]),
                    "stress")
    reader = Reader(misread={4: 9})
    on_stress = job.set_figures(reader, shaken, "stress")
    assert on_stress["by_category"] == {"fonts": 1.0, "pen": 0.5, "all": 0.75} and on_stress["images"] == 4
    assert on_stress["ece"] == pytest.approx(SURE - 0.75) and sum(on_stress["reliability"]["count"]) == 4
    assert on_stress["confusions"] == [(4, 9, 1)] and on_stress["dataset"] == "stress"
    assert job.set_figures(reader, None, "stress") is None
    assert job.set_figures(Reader(classes=[3, 7]), shaken, "stress") is None
    held_out = corrupted.NAMES.index("zigzag") * corrupted.PER_KIND
    damaged = Digits(written([5, 6, 4]), torch.tensor([5, 6, 4]), torch.tensor([0, 1, held_out]), "corrupted")
    by_kind = job.set_figures(reader, damaged, "corrupted")["by_kind"]
    assert by_kind == {"shot_noise": 1.0, "zigzag": 0.0, "all": pytest.approx(2 / 3), "seen kinds": 1.0,
                       "held-out kinds": 0.0}
    assert job.set_figures(reader, None, "corrupted") is None
    assert job.set_figures(Reader(classes=[3, 7]), damaged, "corrupted") is None


@pytest.fixture(scope="module")
def ten():
    return load_task("mnist", quick=True)  # 600 to fit, 300 to calibrate, 300 to test


def _small_sets(ten) -> dict[str, Digits]:
    """Stand-ins for the stress and corruption sets: 30 real test digits each, all in the first category."""
    images, labels = ten.test_images[:30], ten.test_labels[:30]
    return {"stress": Digits(images, labels, torch.arange(30), "stress"),
            "corrupted": Digits(images, labels, torch.arange(30), "corrupted")}


class Stop(Exception):
    """Raised by a spy once it has seen what it came for."""


def test_a_run_fits_on_the_tasks_images_on_its_device_validating_on_the_test_images(tiny, tmp_path, monkeypatch):
    seen, real_make = {}, job.make

    def spying_make(method, **options):
        seen[method] = options
        if method == "cnn":
            raise Stop  # what it was made with is all this test asks of the cnn
        clf = real_make(method, **options)
        fit = clf.fit
        clf.fit = lambda *args, **kwargs: seen.setdefault("fit", (args, kwargs)) and fit(*args, **kwargs)
        return clf

    monkeypatch.setattr(job, "make", spying_make)
    with pytest.raises(Stop):
        job.run_one("cnn", tiny, {"epochs": 1}, tmp_path, seed=5, device="cpu")
    assert seen["cnn"] == {"epochs": 1, "seed": 5, "device": "cpu"}
    job.run_one("linear", tiny, {"epochs": 1}, tmp_path, seed=5, device="cpu")
    assert seen["linear"] == {"epochs": 1, "seed": 5}
    (images, labels), kwargs = seen["fit"]
    assert images is tiny.train_images and labels is tiny.train_labels and kwargs["device"] == "cpu"
    assert kwargs["valid"][0] is tiny.test_images and kwargs["valid"][1] is tiny.test_labels


def test_a_ten_digit_run_is_scored_on_the_stress_and_corruption_sets_given(ten, tmp_path):
    import time

    sets = _small_sets(ten)
    start = time.perf_counter()
    result = job.run_one("pixel", ten, {}, tmp_path, seed=0, device="cpu", shaken=sets["stress"],
                         damaged=sets["corrupted"])
    took = time.perf_counter() - start
    assert 0 < result.train_seconds < took and 0 < result.predict_seconds_per_image < took
    on_stress = job.set_figures(result.model, sets["stress"], "stress")
    assert result.stress == on_stress["by_category"] and set(result.stress) == {"fonts", "all"}
    assert result.stress_ece == on_stress["ece"] and result.reliability["stress"] == on_stress["reliability"]
    assert result.corrupted == job.set_figures(result.model, sets["corrupted"], "corrupted")["by_kind"]
    assert result.corrupted["all"] == result.stress["all"]  # the same 30 digits, read the same way
    assert len(result.worst) == 9  # the default


def test_the_job_builds_the_stress_and_corruption_sets_once_and_only_for_ten_digits(ten, tiny, tmp_path, monkeypatch):
    asked, sets = [], _small_sets(ten)
    monkeypatch.setattr(job.datasets, "load", lambda name, split: asked.append((name, split)) or sets[name])
    config = CompareConfig(pixel={"distance": "l1"}, linear={"lr": 0.5}, worst=3)
    results = job.run_all([tiny, ten], ["pixel", "linear"], tmp_path, epochs=1, config=config)
    assert asked == [("stress", "valid"), ("corrupted", "valid")]
    assert [(r.method, r.task) for r in results] == [("pixel", "3 vs 7"), ("linear", "3 vs 7"), ("pixel", "0-9"),
                                                     ("linear", "0-9")]
    assert [r.stress is not None for r in results] == [False, False, True, True]
    assert [r.corrupted is not None for r in results] == [False, False, True, True]
    assert all(len(r.worst) == 3 for r in results) and results[3].config["seed"] == 0
    assert results[3].config["lr"] == 0.5 and results[3].config["epochs"] == 1  # the config's plan, and epochs
    asked.clear()
    job.run_all([ten], ["pixel"], tmp_path, config=config, test_sets=False)
    job.run_all([tiny], ["pixel"], tmp_path, config=config)
    assert asked == []


class Bar:
    """A stand-in for console.progress_bar that records what the job shows."""

    def __init__(self, **options):
        self.options, self.calls = options, []

    def __enter__(self):
        return self

    def __exit__(self, *error):
        return False

    def add_task(self, description, total=None):
        self.calls.append(("add", description, total))
        return 7

    def update(self, task, **changes):
        self.calls.append(("update", task, changes))

    def advance(self, task):
        self.calls.append(("advance", task))


def test_the_job_plans_each_run_for_its_device_and_shows_its_progress(tiny, tmp_path, monkeypatch):
    bars, runs = [], []
    monkeypatch.setattr(job, "progress_bar", lambda **options: bars.append(Bar(**options)) or bars[-1])
    monkeypatch.setattr(job, "run_one", lambda *args: runs.append(args) or args[0])
    config = CompareConfig(worst=4)
    assert job.run_all([tiny], ["linear", "cnn"], tmp_path, 3, "cuda", None, config, False) == ["linear", "cnn"]
    assert [run[1] is tiny for run in runs] == [True, True]
    assert [run[:1] + run[2:] for run in runs] == [("linear", config.linear, tmp_path, 3, "cuda", 4, None, None, None),
                                                   ("cnn", config.cnn_on_gpu, tmp_path, 3, "cuda", 4, None, None, None)]
    assert len(bars) == 1 and bars[0].options == {"transient": False}  # the bar stays on screen afterwards
    assert bars[0].calls == [("add", "compare", 2), ("update", 7, {"description": "linear on 3 vs 7"}), ("advance", 7),
                             ("update", 7, {"description": "cnn on 3 vs 7"}), ("advance", 7),
                             ("update", 7, {"description": "compared"})]
