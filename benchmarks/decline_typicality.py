"""The one look at the typicality score (benchmarks/feature_distance.py's chosen one) on the test
sets: benchmarks/decline_accuracy.py's table, each model twice, with the shipped gate as it is and
with "not a digit" also where the score says the image is not typical of digits. Nothing here
chooses anything; the score and its threshold come from the folder feature_distance.py --save wrote.

    python benchmarks/decline_typicality.py --score FOLDER
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from digitlab import pretrained
from digitlab.data import corrupted, datasets, nondigits
from digitlab.trust import decline, gate
from digitlab.vision.input_cleaning import cleaned

sys.path.insert(0, str(Path(__file__).parent))
from feature_distance import gate_features  # noqa: E402  (the prototype's own feature map)


def atypical(images: torch.Tensor, prototypes: torch.Tensor, threshold: float) -> torch.Tensor:
    """(N, 28, 28) -> (N,) bool: 1 - cosine to the nearest prototype of the gate's features over threshold,
    judged as the models read the image (input_cleaning), as decline.screen judges."""
    f = torch.nn.functional.normalize(gate_features(gate.shipped().net, cleaned(images.float())), dim=1)
    return torch.cat([1 - (part @ prototypes.T).max(1).values for part in f.split(4096)]) > threshold


def test_shape_family(i: int) -> str:
    """The family of the test set's shape i (unseen_doodles.unseen_shape's first draw)."""
    rng = nondigits._rng(nondigits.SEED, "test", "shapes", i)
    return ("pentagon/hexagon", "heart", "moon", "bolt", "cross")[int(rng.integers(5))]


def main() -> None:
    from safetensors.torch import load_file

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--score", required=True, help="the folder feature_distance.py --save wrote")
    folder = Path(parser.parse_args().score)
    chosen = json.loads((folder / "chosen.json").read_text())
    prototypes = load_file(str(folder / "prototypes.safetensors"))["prototypes"]
    print(f"<!-- score: {chosen['score']}, budget {chosen['budget']}, threshold {chosen['threshold']:.5f} -->")
    sets = {"nondigits": datasets.load("nondigits", "valid", dtype=torch.float32),
            "stress": datasets.load("stress", "valid", dtype=torch.float32),
            "mnist": datasets.load("mnist", "test", dtype=torch.float32),
            "corrupted": datasets.load("corrupted", "valid", dtype=torch.float32)}  # as predict reads them
    plain = {name: decline.screen(d.images) for name, d in sets.items()}
    far = {name: atypical(d.images, prototypes, chosen["threshold"]).tolist() for name, d in sets.items()}
    with_score = {name: [s if s else decline.NOT_A_DIGIT if a else None for s, a in zip(plain[name], far[name])]
                  for name in sets}
    test = sets["nondigits"]
    kinds = nondigits.category_of(test.index.numpy())
    print("| model | screen | " + " | ".join(nondigits.CATEGORIES) + " | all non-digits | stress answered | "
          "stress accuracy of answered | MNIST test answered | MNIST accuracy of answered | corruption set "
          "answered | corruption set accuracy of answered |")
    print("|---" * (len(nondigits.CATEGORIES) + 9) + "|")
    shapes = np.flatnonzero(kinds == "shapes")
    families = np.array([test_shape_family(int(i) % nondigits.PER_CATEGORY) for i in test.index.numpy()[shapes]])
    for method in pretrained.RECIPES:
        clf = pretrained.load(method)
        proba = {name: clf.predict_proba(d.images).float() for name, d in sets.items()}
        for label, screened in (("gate", plain), ("gate + score", with_score)):
            why = decline.reasons(test.images, proba["nondigits"], method, screened=screened["nondigits"])
            declined = np.array([w is not None for w in why])
            cells = [f"{declined[kinds == c].mean():.1%}" for c in nondigits.CATEGORIES] + [f"{declined.mean():.1%}"]
            split = {}
            for name in ("stress", "mnist", "corrupted"):
                d = sets[name]
                answered = torch.tensor([w is None for w in decline.reasons(d.images, proba[name], method,
                                                                            screened=screened[name])])
                right = clf.classes_[proba[name].argmax(1)] == d.labels
                cells += [f"{answered.float().mean():.2%}", f"{right[answered].float().mean():.2%}"]
                if name == "corrupted":
                    held = torch.from_numpy(np.isin(corrupted.kind_of(d.index.numpy()), list(corrupted.HELD_OUT_KINDS)))
                    split = {"seen kinds": f"{answered[~held].float().mean():.2%}",
                             "held-out kinds": f"{answered[held].float().mean():.2%}"}
            by_family = {f: f"{declined[shapes][families == f].mean():.0%}" for f in dict.fromkeys(families)}
            print(f"| {method} | {label} | " + " | ".join(cells) + " |", flush=True)
            print(f"<!-- {method}, {label}: corruption set answered {split}; test shapes declined by family {by_family} -->")


if __name__ == "__main__":
    main()
