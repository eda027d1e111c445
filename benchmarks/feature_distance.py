"""A prototype for issue 30 part 4: decline what is not typical of DIGITS, by a score that never sees a
non-digit, so that every non-digit family is as unseen to it as the test set's.

The score: how far an image's features (the shipped cnn's last map, flattened, or the gate's pooled
map) lie from digits' features, by Mahalanobis distance with one covariance shared by all, to the
nearest class mean ("classes") or to the one mean of all digits ("one"); or the cnn's energy
(-logsumexp of its logits) or negative top logit. Fitted on digits only: MNIST's fit digits (below
heldout.START) and the gate's own other digit sources (its damaged, scanned and stress-style drawn
digits, all below heldout.START or of its own seeds), each as the models read them (input_cleaning).

Its threshold is chosen on held-out digits only (gate_training.held_out_images: MNIST's calibration
digits, the stress set, calibration digits under the corruption set's seen kinds, scanned calibration
digits), then what it declines beyond the gate is measured on the training generator's held-out
draws (nondigits.CHOICE_FROM on), by category and by family. The non-digit TEST set and MNIST's test
set are never read here.

    python benchmarks/feature_distance.py
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from digitlab import pretrained
from digitlab.data import heldout, nondigits
from digitlab.data.shipped_mnist import mnist_arrays
from digitlab.trust import gate as gates
from digitlab.trust import gate_training
from digitlab.vision.input_cleaning import cleaned

# Everything this prototype decides, in one place.
SETTINGS = {
    "shrink": 1e-3,  # ridge added to the shared covariance, as a share of its mean variance: keeps it invertible
    "budgets": (0.995, 0.997, 0.998, 0.999),  # share of EACH must-pass set the score alone lets through
    "fit_mnist": heldout.START,  # MNIST fit digits 0 .. 54,999, all of them
    "prototypes": 1024,  # digits' feature prototypes (Prototypes)
    "augment_seed": 11,  # one draw of the gate's own augmentation of the fit digits, a seed of its own
    "chosen": ("gate prototypes", 0.998),  # the score and budget the one look measures (see the report)
}
CACHE = Path(tempfile.gettempdir()) / "feature_distance"  # features kept between runs of this prototype


@torch.no_grad()
def cnn_features(net, images: torch.Tensor) -> torch.Tensor:
    """(N, 28, 28) as the models read them -> (N, D) the shipped cnn's plain view's last map, flattened
    (what its head reads: network.SmallResNet.forward before `head`)."""
    out = []
    for x in images.split(4096):
        x = x.unsqueeze(1)
        if net.crop:
            x = x[..., net.crop:28 - net.crop, net.crop:28 - net.crop]
        maps = net.body((x - net.mean) / net.std)  # (B, w3, S/4, S/4)
        out.append(maps.flatten(1) if net.flat else maps.amax(dim=(2, 3)))
    return torch.cat(out)


@torch.no_grad()
def cnn_logits(net, images: torch.Tensor) -> torch.Tensor:
    return torch.cat([net(x.unsqueeze(1)) for x in images.split(4096)])


@torch.no_grad()
def gate_features(net: gates.GateNet, images: torch.Tensor) -> torch.Tensor:
    """(N, 28, 28) -> (N, 4w * 9): the gate's pooled 3 x 3 map, flattened (what its last layer reads)."""
    return torch.cat([net.body[:-1]((x.unsqueeze(1) - 0.13) / 0.31) for x in images.split(4096)])


def fit_digits() -> tuple[torch.Tensor, torch.Tensor]:
    """(images (N, 28, 28) float as read, labels (N,), -1 where unknown): MNIST fit digits, and the gate's
    damaged, scanned and drawn digits."""
    mnist, labels = mnist_arrays("train")
    config = gates.GateConfig()
    fit = cleaned(torch.from_numpy(mnist[:SETTINGS["fit_mnist"]].copy()).float() / 255)
    picks = np.linspace(0, heldout.START - 1, config.damaged_digits).round().astype(int)
    damaged = gate_training.damaged_digits(mnist, config.damaged_digits, config.damage_seed)
    from digitlab.data import scanned
    scan_picks = scanned.spread(range(heldout.START), config.scanned_digits)
    scans = gate_training.scanned_digits(mnist, config.scanned_digits, config.scanned_seed)
    drawn = gate_training.as_read(gate_training.drawn_digits(config.drawn_digits, config.drawn_seed))
    others = torch.from_numpy(np.concatenate([damaged, scans, drawn])).float() / 255
    y = np.concatenate([labels[:SETTINGS["fit_mnist"]], labels[picks], labels[scan_picks], np.full(len(drawn), -1)])
    return torch.cat([fit, others]), torch.from_numpy(y).long()


def unseen_damage(own_damage_file: str) -> dict[str, torch.Tensor]:
    """Damage the score's threshold never sees, on calibration digits, as `digitlab predict` reads them
    (saved as a PNG, mnist_style.prepare, then input_cleaning): the corruption set's seen kinds (the
    1,600 of corrupted.tuning_set, as predict reads them), digitlab's own kinds of the gate30 branch
    (own_damage.py of commit 697ffa7: hairlines, blots, graph paper, specks, defocus; 1,000, seed 6) and
    the cnn's clutter (lines across and smears, every image; 1,000, seed 7). Report only: a stand-in for
    the corruption set's held-out kinds, which nothing here may read."""
    from digitlab.data import corrupted
    from digitlab.train import clutter

    spec = importlib.util.spec_from_file_location("digitlab.data.own_damage", own_damage_file)
    own = importlib.util.module_from_spec(spec)
    sys.modules["digitlab.data.own_damage"] = own
    spec.loader.exec_module(own)
    mnist, labels = mnist_arrays("train")
    picks = np.asarray(heldout.CALIBRATION)[:1000]

    def read(raw: np.ndarray) -> torch.Tensor:
        return cleaned(torch.from_numpy(corrupted.cleaned(raw)).float() / 255)

    generator = torch.Generator().manual_seed(7)
    x = torch.from_numpy(mnist[picks].copy()).float() / 255
    half = torch.arange(len(x)) % 2 == 0
    x[half] = clutter.crossed(x[half], 1.0, generator)
    x[~half] = clutter.smeared(x[~half], 1.0, generator)
    return {"seen read": read(corrupted.tuning_set((mnist, labels))[0]),
            "own kinds read": read(own.damaged_copies(mnist[picks], 6)),
            "clutter read": read((x * 255).round().to(torch.uint8).numpy())}


def augmented_digits() -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST's fit digits once under the gate's own training augmentation (the cnn's ROBUST, whole frame,
    10 % crossed by lines, 10 % smeared: gate_training.fit), as read: what the gate learnt as digits."""
    import dataclasses

    from digitlab.classifiers.cnn import augment, presets
    from digitlab.classifiers.cnn.config import CNNConfig

    robust = dataclasses.replace(CNNConfig(), crop=0, lines=0.1, smear=0.1, **presets.ROBUST)
    mnist, labels = mnist_arrays("train")
    x = torch.from_numpy(mnist[:SETTINGS["fit_mnist"]].copy()).float() / 255
    moved = augment.augmented(x, robust, torch.Generator().manual_seed(SETTINGS["augment_seed"]))
    return cleaned(moved), torch.from_numpy(labels[:SETTINGS["fit_mnist"]]).long()


def training_family(category: str, i: int) -> str:
    """Which family draw i of the training generator's `category` is (shapes and textures; else the
    category): the same first draws of its generator as doodles.training_shape / training_texture."""
    rng = nondigits._rng(nondigits.SEED, "train", category, i)
    if category == "shapes":
        later = rng.random() < 0.5
        form = int(rng.integers(5 if later else 7))
        return (("kite", "cog", "chevron", "L block", "strewn") if later else
                ("rectangle", "triangle", "star", "plus", "arrow", "polygon", "pebble"))[form]
    if category == "textures":
        later = rng.random() < 0.5
        rng.integers(96, 257)  # the side
        if later:
            rng.uniform(4, 14)  # the frequency
            return ("graph paper", "diamonds", "mosaic", "hay", "plaid")[int(rng.integers(5))]
        return ("noise", "stripes", "checks", "dots")[int(rng.integers(4))]
    return category


class Gaussian:
    """Mahalanobis distance to the nearest of `means` under one shared covariance (fit(X, y): y -1 rows
    count for the covariance about the one mean only when classes are not used)."""

    def __init__(self, classes: bool, shrink: float):
        self.classes, self.shrink = classes, shrink

    def fit(self, X: torch.Tensor, y: torch.Tensor) -> "Gaussian":
        X = X.double()
        if self.classes:
            known = y >= 0
            X, y = X[known], y[known]
            self.means_ = torch.stack([X[y == k].mean(0) for k in range(10)])  # (10, D)
            centred = X - self.means_[y]
        else:
            self.means_ = X.mean(0, keepdim=True)  # (1, D)
            centred = X - self.means_
        cov = centred.T @ centred / len(X)
        cov += self.shrink * cov.diagonal().mean() * torch.eye(len(cov), dtype=cov.dtype)
        self.whiten_ = torch.linalg.cholesky(torch.linalg.inv(cov))  # P = L L^T: |x L| is the distance
        self.white_means_ = self.means_ @ self.whiten_
        return self

    def score(self, X: torch.Tensor) -> torch.Tensor:
        z = X.double() @ self.whiten_  # (N, D)
        return torch.cdist(z, self.white_means_).min(1).values.float()  # (N,)


class Prototypes:
    """1 - the cosine similarity to the nearest of `count` prototypes of digits' features (spherical
    k-means of the unit-length features, seeded): a digit's features come in many clusters that one
    Gaussian a class does not follow."""

    def __init__(self, count: int, iterations: int = 20, seed: int = 0):
        self.count, self.iterations, self.seed = count, iterations, seed

    def fit(self, X: torch.Tensor, y=None) -> "Prototypes":
        X = torch.nn.functional.normalize(X.float(), dim=1)
        start = torch.randperm(len(X), generator=torch.Generator().manual_seed(self.seed))[:self.count]
        centres = X[start].clone()  # (count, D)
        for _ in range(self.iterations):
            nearest = torch.cat([(part @ centres.T).argmax(1) for part in X.split(8192)])  # (N,)
            sums = torch.zeros_like(centres).index_add_(0, nearest, X)
            used = torch.bincount(nearest, minlength=self.count) > 0  # an empty cluster keeps its centre
            centres[used] = torch.nn.functional.normalize(sums[used], dim=1)
        self.prototypes_ = centres
        return self

    def score(self, X: torch.Tensor) -> torch.Tensor:
        X = torch.nn.functional.normalize(X.float(), dim=1)
        return torch.cat([1 - (part @ self.prototypes_.T).max(1).values for part in X.split(4096)])


def features_of(name: str, images: torch.Tensor, cnn, gate) -> dict[str, torch.Tensor]:
    path = CACHE / f"{name}.pt"
    if path.exists():
        return torch.load(path)
    logits = cnn_logits(cnn, images)
    out = {"cnn": cnn_features(cnn, images), "gate": gate_features(gate.net, images),
           "energy": -torch.logsumexp(logits, 1), "maxlogit": -logits.max(1).values,
           "gate_digit": gate.proba(images)[:, gates.DIGIT]}
    CACHE.mkdir(exist_ok=True)
    torch.save(out, path)
    return out


def save_chosen(models: dict, feats: dict, must_pass, out: Path) -> None:
    """The chosen score (SETTINGS["chosen"]) as the one look reads it: prototypes.safetensors and
    chosen.json (its threshold, the budget, what it is)."""
    import json

    from safetensors.torch import save_file

    name, budget = SETTINGS["chosen"]
    model = models[name]
    space = name.split()[0]
    s = {k: model.score(feats[k][space]) for k in must_pass}
    cut = max(float(torch.quantile(s[k].double(), budget)) for k in must_pass)
    out.mkdir(parents=True, exist_ok=True)
    save_file({"prototypes": model.prototypes_.contiguous()}, str(out / "prototypes.safetensors"))
    (out / "chosen.json").write_text(json.dumps({"score": name, "budget": budget, "threshold": cut,
                                                 "settings": {k: v for k, v in SETTINGS.items() if k != "chosen"}}))
    print(f"saved {name} at budget {budget}: threshold {cut:.5f} -> {out}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--own-damage", help="own_damage.py of commit 697ffa7 (git show 697ffa7:src/digitlab/"
                        "data/own_damage.py > FILE): adds unseen damage, report only")
    parser.add_argument("--save", help="a folder: the chosen score's prototypes and threshold, for the one look")
    args = parser.parse_args()
    torch.set_num_threads(1)
    started = time.time()
    cnn = pretrained.load("cnn").model_.net.eval()
    gate = gates.shipped()
    held = gate_training.held_out_images()  # each as the models read them
    if args.own_damage:
        held.update(unseen_damage(args.own_damage))
    must_pass = gate_training.MUST_PASS
    feats = {name: features_of(name, x, cnn, gate) for name, x in held.items()}
    blank = {name: x.flatten(1).sum(1) < 5.0 for name, x in held.items()}  # decline.NO_INK
    X, y = fit_digits()
    fitted = features_of("fit", X, cnn, gate)
    moved, moved_y = augmented_digits()
    more = features_of("fit augmented", moved, cnn, gate)
    fitted = {k: torch.cat([fitted[k], more[k]]) for k in ("cnn", "gate")}
    y = torch.cat([y, moved_y])
    print(f"features: {time.time() - started:.0f} s; fit digits {len(X):,}", flush=True)

    n = nondigits.PER_CATEGORY
    cats = nondigits.category_of(np.arange(len(held["nondigits"])))
    family = np.array([training_family(c, i % n) for i, c in zip(range(len(cats)), cats)])
    threshold = gate.config.threshold
    gate_stops = {k: (v["gate_digit"] < threshold) | blank[k] for k, v in feats.items()}

    scores = {"cnn classes": Gaussian(True, SETTINGS["shrink"]).fit(fitted["cnn"], y),
              "cnn one": Gaussian(False, SETTINGS["shrink"]).fit(fitted["cnn"], y),
              "gate classes": Gaussian(True, SETTINGS["shrink"]).fit(fitted["gate"], y),
              "gate prototypes": Prototypes(SETTINGS["prototypes"]).fit(fitted["gate"]),
              "cnn prototypes": Prototypes(SETTINGS["prototypes"]).fit(fitted["cnn"])}
    if args.save:
        save_chosen(scores, feats, must_pass, Path(args.save))
    scores = {name: {k: model.score(v[name.split()[0]]) for k, v in feats.items()} for name, model in scores.items()}
    for raw in ("energy", "maxlogit"):
        scores[raw] = {k: v[raw] for k, v in feats.items()}
    print(f"scores: {time.time() - started:.0f} s", flush=True)

    print("gate alone declines: " + ", ".join(f"{k} {gate_stops[k].float().mean():.2%}" for k in held)
          + "; draws by category " + ", ".join(f"{c} {gate_stops['nondigits'][torch.from_numpy(cats == c)].float().mean():.1%}"
                                              for c in nondigits.CATEGORIES), flush=True)
    digit_sets = [k for k in held if k != "nondigits"]
    for name, s in scores.items():
        for budget in SETTINGS["budgets"]:
            cut = max(float(torch.quantile(s[k].double(), budget)) for k in must_pass)
            stops = {k: gate_stops[k] | (s[k] > cut) for k in held}
            extra = {k: float((stops[k] & ~gate_stops[k]).float().mean()) for k in held}
            draws = stops["nondigits"].numpy()
            missed = ~gate_stops["nondigits"].numpy()
            caught = (s["nondigits"] > cut).numpy() & missed
            print(f"{name:15s} {budget:.3f} cut {cut:8.3f}: declined beyond the gate: "
                  + " ".join(f"{k} +{extra[k]:.2%}" for k in digit_sets)
                  + f" | draws {draws.mean():.2%} (+{extra['nondigits']:.2%}: {caught.sum()} of the gate's {missed.sum()}) "
                  + " ".join(f"{c} {draws[cats == c].mean():.1%}" for c in nondigits.CATEGORIES), flush=True)
    for name, s in scores.items():  # by family, shapes and textures, at the first and third budget
        for budget in (SETTINGS["budgets"][0], SETTINGS["budgets"][2]):
            cut = max(float(torch.quantile(s[k].double(), budget)) for k in must_pass)
            alone = (s["nondigits"] > cut).numpy()
            g = gate_stops["nondigits"].numpy()
            both = alone | g
            rows = [f"{f} {g[family == f].mean():.0%}->{both[family == f].mean():.0%} (alone {alone[family == f].mean():.0%})"
                    for f in dict.fromkeys(family[np.isin(cats, ["shapes", "textures"])])]
            print(f"by family, {name} {budget}: " + "; ".join(rows), flush=True)
    print(f"done: {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
