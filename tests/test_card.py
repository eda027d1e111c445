"""Model cards (store/card.py, store/hub_header.py): every saved model folder holds a README.md whose
figures are the ones `digitlab evaluate` prints, whose header a model hub's client reads, and the
shipped models' cards carry what accuracy.json records."""

from __future__ import annotations

import hashlib
import json
import re

import pytest
import torch

from digitlab import pretrained, service
from digitlab.classifiers import METHODS
from digitlab.data import corrupted, datasets, stress
from digitlab.store import card, checkpoint, hub_header
from digitlab.store.card import percent
from cli_run import assert_one_line_error, digitlab

yaml = pytest.importorskip("yaml", reason="PyYAML reads the header here (huggingface_hub's own dependency)")


def header(folder) -> dict:
    """The card's YAML header, as a hub reads it."""
    text = (folder / card.README).read_text()
    assert text.startswith("---\n"), text[:80]
    return yaml.safe_load(text.split("---\n")[1])


def results(folder) -> dict[str, dict[str, float]]:
    """model-index's results by dataset name: {metric type: value}."""
    found = header(folder)["model-index"][0]["results"]
    return {r["dataset"]["name"]: {m["type"]: m["value"] for m in r["metrics"]} for r in found}


def printed(out: str) -> tuple[str, str]:
    """The accuracy and calibration error a `digitlab evaluate` run printed last, as printed."""
    accuracy = re.findall(r"^accuracy (\S+%) on", out, re.M)[-1]
    ece = re.findall(r"^calibration error \(ECE, 15 bins\) (\S+%)", out, re.M)[-1]
    return accuracy, ece


def hashes(folder) -> dict[str, str]:
    return {name: hashlib.sha256((folder / name).read_bytes()).hexdigest()
            for name in (checkpoint.CONFIG, checkpoint.WEIGHTS)}


def test_train_writes_a_card_with_what_it_measured_and_names_what_it_did_not(capsys, tmp_path):
    out = tmp_path / "lin"
    code, said, _ = digitlab(capsys, "train", "linear", "--dataset", "mnist_tiny", "--epochs", "2", "--out", out)
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    text, config = (out / card.README).read_text(), json.loads((out / checkpoint.CONFIG).read_text())
    # the figure train measured (its last epoch's accuracy on mnist_tiny's 699 test images), no other
    assert results(out) == {hub_header.DATASETS["mnist_tiny"][1]: {"accuracy": config["accuracy"]}}
    assert f"| `mnist_tiny` test images | 699 | {percent(config['accuracy'])} | not measured yet |" in text
    assert "Not measured yet: the test set's calibration error and misreadings." in text
    assert "`digitlab evaluate FOLDER --card`" in text and "stress set" not in text.split("## What")[0].split("|")[-1]
    assert header(out)["training_data"] == "mnist_tiny" and header(out)["license"] == "cc-by-sa-3.0"
    assert "| `epochs` | 2 |" in text and "| `lr` | 1.0 |" in text and "| `seed` | 0 |" in text
    # ... and it is the figure evaluate prints for the same images
    code, shown, _ = digitlab(capsys, "evaluate", out, "--dataset", "mnist_tiny")
    assert code == 0 and printed(shown)[0] == percent(config["accuracy"]) == "98.14%", shown


@pytest.fixture
def small_sets(monkeypatch):
    """The stress and corruption sets cut to 10 images a category and 2 a kind (drawn in seconds)."""
    monkeypatch.setattr(stress, "PER_CATEGORY", 10)
    monkeypatch.setattr(corrupted, "PER_KIND", 2)


@pytest.fixture
def ten_digit_model(tmp_path, mnist_train):
    """A linear model of the ten digits, fitted on 2,000 MNIST training digits, calibrated on 500 held out."""
    clf = service.make("linear", epochs=2, seed=0).fit(mnist_train.images[:2000], mnist_train.labels[:2000],
                                                       progress=False)
    clf.calibrate(mnist_train.images[55_000:55_500], mnist_train.labels[55_000:55_500])
    clf.save(tmp_path / "ten", card.Card("mnist"))
    return tmp_path / "ten"


def test_evaluate_card_writes_the_figures_evaluate_prints_and_touches_nothing_else(capsys, ten_digit_model, small_sets):
    folder, before = ten_digit_model, hashes(ten_digit_model)
    code, said, _ = digitlab(capsys, "evaluate", folder, "--card")
    assert code == 0 and "model card written" in said
    assert hashes(folder) == before  # the weights and config.json are as they were
    text, found = (folder / card.README).read_text(), results(folder)
    rows = {"mnist": "`mnist` test images", "stress": "stress set", "corrupted": "corruption set"}
    for dataset, row in rows.items():  # each set evaluate scores alone: the card's row is what it printed
        code, shown, _ = digitlab(capsys, "evaluate", folder, "--dataset", dataset)
        accuracy, ece = printed(shown)
        count = {"mnist": "10,000", "stress": "40", "corrupted": "42"}[dataset]
        assert f"| {row} | {count} | {accuracy} | {ece} |" in text, (dataset, shown)
        hub = found[hub_header.DATASETS[dataset][1]]
        assert (percent(hub["accuracy"]), percent(hub["ece"])) == (accuracy, ece)
    measured = service.measure(service.load(folder), datasets.load("mnist", "valid"), "mnist")
    assert found[hub_header.DATASETS["mnist"][1]] == {"accuracy": measured["accuracy"], "ece": measured["ece"]}
    for actual, predicted, count in measured["confusions"]:  # the commonest misreadings, by count
        assert f"- It reads {actual} as {predicted} in {count:,} of the 10,000 `mnist` test images." in text
    counts = [int(n.replace(",", "")) for n in re.findall(r"in ([\d,]+) of the 10,000", text)]
    off_diagonal = sorted((c for i, row in enumerate(measured["confusion"]) for j, c in enumerate(row) if i != j),
                          reverse=True)
    assert counts == off_diagonal[:3] and counts[0] > 1  # the largest misreadings of the matrix, most first
    assert "Not measured yet" not in text and header(folder)["training_data"] == "mnist"  # kept from the first card


def test_evaluate_card_refuses_a_dataset_that_is_no_test_set(capsys, ten_digit_model):
    code, _, err = digitlab(capsys, "evaluate", ten_digit_model, "--card", "--dataset", "stress")
    assert_one_line_error(code, err, "--dataset stress", "--card")


def test_a_card_named_by_the_worst_it_measured():
    figures = {"test": {"dataset": "mnist", "images": 10_000, "accuracy": 0.99, "ece": 0.01,
                        "confusions": [(4, 9, 12), (7, 2, 8), (5, 3, 6)]},
               "stress": {"images": 40, "accuracy": 0.9, "ece": 0.02,
                          "by_category": {"fonts": 0.8, "pen": 1.0, "photo": 0.95, "small": 0.85, "all": 0.9}},
               "corrupted": {"images": 63, "accuracy": 0.7, "ece": 0.05,
                             "by_kind": {"shot_noise": 0.9, "zigzag": 0.2, "fog": 0.5, "jpeg": 0.4, "all": 0.5,
                                         "seen kinds": 0.6, "held-out kinds": 0.1}}}
    config = {"method": "linear", "classes": list(range(10)), "config": {"epochs": 1}, "tensors": {}}
    text = card.text(config, card.Card("mnist", figures))
    assert "- It reads 4 as 9 in 12 of the 10,000 `mnist` test images." in text
    assert "- Of the stress set's categories, it reads fonts worst: 80.00% right." in text
    assert "- The damage it reads worst: zigzag (20.00% right), jpeg (40.00% right), fog (50.00% right)." in text
    assert "Not measured yet" not in text


def test_the_header_writes_numbers_a_yaml_reader_reads_back_exactly():
    for value in (0.9947999715805054, 9e-05, 1e-12, 0.0, 1.0, 0.03311691331931618):
        assert yaml.safe_load(hub_header.scalar(value)) == value, hub_header.scalar(value)
    for text in ('a "quoted" name: with a colon', "line\nbreak", "- dash", "yes", "null", "é 7"):
        assert yaml.safe_load(hub_header.scalar(text)) == text
    nested = {"a": [{"b": 1, "c": [0.5, "x"]}, {"d": {}}], "e": []}
    assert yaml.safe_load("\n".join(hub_header.lines(nested))) == nested


def test_the_folder_loads_in_a_model_hubs_client_as_it_is(capsys, tmp_path):
    hub = pytest.importorskip("huggingface_hub", reason="the hub's client: pip install -e '.[test]'")
    from safetensors.torch import load_file

    out = tmp_path / "lin"
    assert digitlab(capsys, "train", "linear", "--dataset", "mnist_tiny", "--epochs", "1", "--out", out)[0] == 0
    assert digitlab(capsys, "evaluate", out, "--dataset", "mnist_tiny", "--card")[0] == 0
    loaded = hub.ModelCard.load(out / card.README)
    assert loaded.data.license == "cc-by-sa-3.0" and loaded.data.datasets == ["mnist"]
    assert loaded.data.library_name == "digitlab" and "Files and loading" in loaded.text
    found = {(r.dataset_type, r.metric_type): r.metric_value for r in loaded.data.eval_results}
    measured = service.measure(service.load(out), datasets.load("mnist_tiny", "valid"), "mnist_tiny")
    assert found == {("mnist", "accuracy"): measured["accuracy"], ("mnist", "ece"): measured["ece"]}
    tensors, config = load_file(str(out / checkpoint.WEIGHTS)), json.loads((out / checkpoint.CONFIG).read_text())
    assert {k: list(t.shape) for k, t in tensors.items()} == {k: v["shape"] for k, v in config["tensors"].items()}
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "config.json", "model.safetensors"]  # no pickle


@pytest.mark.parametrize("method", METHODS)
def test_each_shipped_model_has_a_card_of_the_figures_recorded_beside_it(method):
    folder, recorded = pretrained.path(method), pretrained.recorded()[method]
    text = (folder / card.README).read_text()
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    # A set's accuracy is evaluate's mean in float32; the "all" of its categories or kinds the same
    # right answers' mean in float64: equal to 1e-7, and exactly where evaluate's own figure is recorded.
    assert results(folder) == {
        hub_header.DATASETS["mnist"][1]: {"accuracy": recorded["mnist_test"], "ece": recorded["ece_mnist_test"]},
        hub_header.DATASETS["stress"][1]: {"accuracy": pytest.approx(recorded["stress"]["all"], abs=1e-7),
                                           "ece": recorded["ece_stress"]},
        hub_header.DATASETS["corrupted"][1]: {"accuracy": pytest.approx(recorded["corrupted"]["all"], abs=1e-7),
                                              "ece": recorded["ece_corrupted"]}}
    assert f"| `mnist` test images | 10,000 | {percent(recorded['mnist_test'])} | " \
           f"{percent(recorded['ece_mnist_test'])} |" in text
    worst = sorted((v, k) for k, v in recorded["corrupted"].items() if k not in ("all", "seen kinds", "held-out kinds"))
    assert f"The damage it reads worst: {worst[0][1]} ({percent(worst[0][0])} right)" in text
    assert header(folder)["license"] == "cc-by-sa-3.0" and "CC BY-SA 3.0" in text and "Apache-2.0" in text
    saved = json.loads((folder / checkpoint.CONFIG).read_text())
    for name, value in saved["config"].items():
        assert f"| `{name}` | {json.dumps(value)} |" in text
    # Every shipped model learnt from MNIST's 55,000 fit digits; damaged copies of them are counted apart
    assert saved["data"]["n_train"] == 55_000 and "- Data: `mnist`, 55,000 training images" in text
    copied = method != "cnn" and any(saved["config"].get(name) for name in card.COPY_WORDS)  # the cnn draws
    # its clutter afresh every epoch (augment.py): no copies
    assert ("damaged copies" in text) == copied == (saved["data"].get("n_copies", 0) > 0)


def test_the_shipped_linear_cards_test_figures_are_what_evaluate_measures_today(mnist_test):
    figures = service.measure(pretrained.load("linear"), mnist_test, "mnist")
    carded = results(pretrained.path("linear"))[hub_header.DATASETS["mnist"][1]]
    assert carded["accuracy"] == figures["accuracy"]  # a count of digits over 10,000: exact
    # The calibration error's last digits move with the order floats are added in (the deskew's
    # sampling grid written another way moved it by 3e-12); the card shows it to 0.01 point.
    assert carded["ece"] == pytest.approx(figures["ece"], abs=1e-8)


def test_a_card_written_again_keeps_only_a_plain_training_data_name(tmp_path):
    for named, kept in (('"mnist"', "mnist"), ('"digits"', "digits"), ('"a\\nb"', None), ('"`x`"', None),
                        ("[1, 2]", None), ('"' + "x" * 201 + '"', None), ("not json", None)):
        (tmp_path / card.README).write_text(f"---\nlicense: other\ntraining_data: {named}\n---\n\n# a card\n")
        assert card.training_data(tmp_path) == kept, named
    (tmp_path / card.README).write_text("x" * card.HEADER_BYTES + '\ntraining_data: "mnist"\n')
    assert card.training_data(tmp_path) is None  # past where a header ends: not read
    (tmp_path / card.README).unlink()
    assert card.training_data(tmp_path) is None


def test_a_card_has_words_for_every_kind_of_damaged_copy():
    from digitlab.train import clutter

    assert list(card.COPY_WORDS) == list(clutter.COPIES)  # a new kind of copy needs its words on the card
