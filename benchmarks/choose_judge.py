"""How the cutter should weigh its three signs (reading.PIECE_WEIGHT, GATE_WEIGHT, SURE_WEIGHT): each
weighting tried reads the number set's choose part as `digitlab predict` does (reading.read_digits,
declining on), with the shipped cnn; whole-number accuracy is printed by category and gap kind.
Only the choose part is read: the held-out part is never looked at here (benchmarks/number_accuracy.py
reports it once the weights are set).

    python benchmarks/choose_judge.py                          # the default grid, 84 numbers a category
    python benchmarks/choose_judge.py --weights 1,1,1 0,1,1 --per-category 40

Each piece's three signs are computed once and kept for the run, so that a weighting costs the
cutting alone.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib

import torch

from digitlab import pretrained, reading
from digitlab.data import numbers
from digitlab.errors import BlankImage
from digitlab.vision import splitting

GRID = ("0,1,1", "1,0,0", "1,1,1", "1,0,1", "1,1,0", "2,1,1", "1,0.5,0.5", "1,0.5,1", "1,1,0.5")


class Signs:
    """Each piece's (piece judge, gate, cnn) log-probabilities, computed once per distinct piece."""

    def __init__(self):
        self.kept: dict[bytes, torch.Tensor] = {}
        self.each = [reading.weighed_judge(1, 0, 0), reading.weighed_judge(0, 1, 0), reading.weighed_judge(0, 0, 1)]

    def of(self, pieces: torch.Tensor) -> torch.Tensor:
        keys = [hashlib.blake2b(p.numpy().tobytes(), digest_size=16).digest() for p in pieces]
        new = [i for i, k in enumerate(keys) if k not in self.kept]
        if new:
            signs = torch.stack([judge(pieces[new]) for judge in self.each], 1)  # (m, 3)
            self.kept.update({keys[i]: s for i, s in zip(new, signs)})
        return torch.stack([self.kept[k] for k in keys])  # (n, 3)

    def judge(self, weights: tuple[float, float, float]):
        w = torch.tensor(weights)
        return lambda pieces: self.of(pieces) @ w


def read(images, clf, judge) -> list[str]:
    said = []
    for image in images:
        try:
            found = splitting.find_digits(image, judge=judge)
        except BlankImage:
            found = []
        said.append(reading.read_digits(clf, found).text or "")
    return said


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", nargs="+", default=GRID, help="piece,gate,sure weightings to try")
    parser.add_argument("--per-category", type=int, default=84)
    args = parser.parse_args()
    drawn = list(numbers.each("choose", args.per_category))
    kept = [dataclasses.replace(n, image=None) for n in drawn]
    clf, signs = pretrained.load("cnn"), Signs()
    print(f"choose part: {len(drawn)} numbers ({args.per_category} a category)")
    for text in args.weights:
        weights = tuple(float(v) for v in text.split(","))
        result = numbers.accuracy(read([n.image for n in drawn], clf, signs.judge(weights)), kept)
        by = {**{c: v["whole"] for c, v in result["by_category"].items()},
              **{g: v["whole"] for g, v in result["by_gap"].items()}}
        print(f"piece {weights[0]:g} gate {weights[1]:g} sure {weights[2]:g}: whole {result['whole']:.1%}  "
              + "  ".join(f"{k} {v:.1%}" for k, v in by.items()), flush=True)


if __name__ == "__main__":
    main()
