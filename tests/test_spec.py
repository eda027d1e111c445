"""One spec per setting (store/spec.py), held as a property: for every method, configs drawn at
random within its spec train a tiny model that saves, loads and predicts the same; a value just
outside any field's spec, or of the wrong type, is refused at construction in one line naming the
field, and by the rule a saved config.json is held to (schema.CONFIGS, generated from the same specs).

No hypothesis in the environment: a seeded sampler of our own draws the configs. It keeps the costly
fields small (`CAPS`: epochs, widths, ideal digits) so that every draw trains in well under a second."""

from __future__ import annotations

import dataclasses
import math
import random

import pytest
import torch

from digitlab import classifiers
from digitlab.errors import DigitlabError
from digitlab.store import schema, spec
from digitlab.trust import gate

# Within the spec but small: (low, high) that a draw may not leave, for speed (and an lr that trains).
CAPS = {"epochs": (1, 2), "batch_size": (8, 64), "lr": (1e-3, 0.05), "width": (1, 6), "last_width": (1, 2),
        "blocks": (0, 1), "ensemble": (1, 2), "ideals": (1, 4), "copy_ideals": (0, 3), "kmeans_rounds": (1, 5), "kmeans_starts": (1, 2),
        "hidden": (1, 16), "div": (1, 100), "div_final": (1, 1e6), "temperature": (1e-3, 10), "mnist_digits": (1, 100)}
DRAWS = {"pixel": 4, "linear": 3, "simple_net": 3, "cnn": 5, "resnet18": 1}


def draw(spec_: spec.Spec, name: str, rng: random.Random):
    """A value within `spec_` (and within CAPS for `name`)."""
    if spec_.none and rng.random() < 0.3:
        return None
    if spec_.kind is bool:
        return rng.random() < 0.5
    if spec_.kind is str:
        return rng.choice(spec_.choices)
    low, high = CAPS.get(name, (spec_.low, spec_.high))
    low, high = max(low, spec_.low), min(high, spec_.high)
    if spec_.kind is int:
        return rng.randint(int(low), int(high))
    value = rng.uniform(low, high)
    return value if spec_.fits(value) else (low + high) / 2  # an open end drawn exactly


def random_config(config_class, rng: random.Random, **fixed):
    """A config of `config_class` drawn within its specs, the rules between fields kept."""
    values = {name: draw(s, name, rng) for name, s in spec.specs(config_class).items()}
    values.update(fixed)
    if "stretch" in values:
        values["stretch"] = values["stretch"] and values["deskew"]
    if "copy_ideals" in values and values["ideals"] == 1:
        values["copy_ideals"] = 0  # one ideal a class is the book's mean, saved alone
    if "crop" in values:
        values["crop"] -= values["crop"] % 2
    if "momentum_swing" in values:
        values["momentum_swing"] = min(values["momentum_swing"], values["momentum"], 1 - values["momentum"])
    return config_class(**values)


@pytest.fixture(scope="module")
def few(mnist_train):
    """~60 training digits of three classes, and 30 to predict."""
    keep = torch.isin(mnist_train.labels[:600], torch.tensor([1, 4, 7])).nonzero().squeeze(1)
    return mnist_train.images[keep[:60]], mnist_train.labels[keep[:60]], mnist_train.images[keep[60:90]]


@pytest.mark.parametrize("method", sorted(DRAWS))
def test_configs_drawn_within_the_spec_train_save_load_and_predict_the_same(method, few, tmp_path):
    cls = classifiers.CLASSES[method]
    rng = random.Random(f"spec-{method}")  # seeded: the same draws every run
    X, y, unseen = few
    for i in range(DRAWS[method]):
        config = random_config(cls.Config, rng)
        clf = cls(config).fit(X, y, progress=False)
        clf.save(tmp_path / str(i))
        again = classifiers.load(tmp_path / str(i))
        assert again.config == config, config  # every field saved, none left to a default
        torch.testing.assert_close(again.predict_proba(unseen), clf.predict_proba(unseen), atol=1e-6, rtol=0)
        assert torch.equal(again.predict(unseen), clf.predict(unseen))


def test_a_gate_drawn_within_the_spec_saves_and_loads_the_same(few, tmp_path):
    rng = random.Random("spec-gate")
    config = random_config(gate.GateConfig, rng)
    made = gate.Gate(gate.GateNet(config.width), config)
    gate.save(made, tmp_path / "gate")
    again = gate.load(tmp_path / "gate")
    assert again.config == config
    torch.testing.assert_close(again.proba(few[2]), made.proba(few[2]), atol=1e-6, rtol=0)


def outside(s: spec.Spec) -> list:
    """Values just past each end of `s`, of the wrong type, and (where not allowed) None."""
    if s.kind is bool:
        bad = [1, "true"]
    elif s.kind is str:
        bad = [3, "not-" + s.choices[0]]
    elif s.kind is int:
        bad = [int(s.low) - 1, int(s.high) + 1, 1.5, "2", True]
    else:
        bad = [math.nextafter(s.low, -math.inf), math.nextafter(s.high, math.inf), math.nan, math.inf, "0.5"]
        bad += [s.low] if s.above else []
        bad += [s.high] if s.below else []
    return bad + ([] if s.none else [None])


CASES = [(owner, config_class, name, value)
         for owner, config_class in [*((m, c.Config) for m, c in sorted(classifiers.CLASSES.items())),
                                     ("gate", gate.GateConfig)]
         for name, s in spec.specs(config_class).items() for value in outside(s)]


@pytest.mark.parametrize("owner, config_class, name, value", CASES,
                         ids=[f"{c[0]}-{c[2]}-{c[3]!r}" for c in CASES])
def test_a_value_outside_the_spec_is_refused_at_construction_and_on_load(owner, config_class, name, value):
    with pytest.raises(DigitlabError) as caught:
        config_class(**{name: value})
    message = str(caught.value)
    assert message.startswith(f"{owner}: {name} is ") and "\n" not in message, message
    assert "it must be" in message
    with pytest.raises(schema.Invalid, match=f"^config.{name} is "):
        schema.CONFIGS[owner]({name: value}, "config")


def test_make_refuses_through_the_same_spec_and_the_message_names_the_range():
    with pytest.raises(DigitlabError, match=r"^cnn: width is 300; it must be a whole number from 1 to 256$"):
        classifiers.make("cnn", width=300)
    with pytest.raises(DigitlabError, match=r"^linear: lr is inf; it must be a number above 0, at most 1,000,000$"):
        classifiers.make("linear", lr=math.inf)
    with pytest.raises(DigitlabError, match="momentum_swing 0.2 leaves 0 .. 1"):
        classifiers.make("cnn", momentum=0.9, momentum_swing=0.2)


def test_every_field_has_a_spec_with_help_and_its_default_fits_it():
    for config_class in [*(c.Config for c in classifiers.CLASSES.values()), gate.GateConfig]:
        for field in dataclasses.fields(config_class):
            s = field.metadata["spec"]
            assert s.help and s.fits(field.default), (config_class.__name__, field.name)


def test_the_new_fields_default_to_the_values_the_old_code_used():
    # What saved models trained with before these were settings: a checkpoint without the keys loads with these.
    assert (classifiers.ResNet18Config().momentum, classifiers.ResNet18Config().weight_decay) == (0.9, 0.01)
    cnn = classifiers.CLASSES["cnn"].Config()
    assert (cnn.moms(), cnn.div, cnn.div_final) == ((0.9 + 0.05, 0.9 - 0.05, 0.9 + 0.05), 25.0, 1e5)
    assert (classifiers.PixelConfig().kmeans_rounds, classifiers.PixelConfig().kmeans_starts) == (20, 5)
    g = gate.GateConfig()
    assert (g.drawn_seed, g.damage_seed, g.must_answer) == (gate.DRAWN_SEED, gate.DAMAGE_SEED, gate.MUST_ANSWER)
