"""A prototype (issue 32), measured and not landed: a learned reader of a strip of ink, for digits
that touch. A small CNN reads a group of ink (vision/splitting.py's, 28 px high, a time step every
two columns) and CTC says how many digits it holds and which. The cutter (vision/cutting.py), for a
group it cuts, then keeps the candidate cuts that leave that many pieces: "count" as the judge scores
them, "guided" adding the cnn's log-probability that each piece is the digit the strip reader read
there; "vouched" is guided, and a piece of a group cut in two or more that the gate declines is
answered when the cnn reads it as the strip reader did.

It learns from the groups the splitter finds (uncut) in numbers drawn as data/numbers.py draws its
own, but from MNIST's fit digits only (numbers.FIT: training digits below 55,000), every gap kind
included; each group labelled by the true digits whose box centres it holds. What RESULTS.md
("Reading numbers", the strip reader) records was made with:

    python benchmarks/strip_reader.py data --numbers 4000                      # seed 7
    python benchmarks/strip_reader.py data --numbers 8000 --seed 8
    python benchmarks/strip_reader.py train --epochs 10 --data A.npz B.npz --out R.pt   # the files under home()/strips
    python benchmarks/strip_reader.py groups --model R.pt                      # the choose part's wide groups
    python benchmarks/strip_reader.py choose --model R.pt --modes today guided vouched@0
    python benchmarks/strip_reader.py number-accuracy --model R.pt -- --skip choose   # the one look
    python benchmarks/strip_reader.py mnist-files                               # no MNIST test file split
    python benchmarks/strip_reader.py sure-by-gap --model R.pt                  # how sure its reads are

The non-digit variant (RESULTS.md, 12:25 UTC look): `data --nondigits 400`, its file added to train's
--data; the look with `number-accuracy --mode trusted --sure 0.8`. Its next try (strip32b): mode
"readsure@p", sure by the read's own probability, chosen with `choose --modes today vouched@0
trusted@0.8 readsure@0.5 ...`.

Nothing here is part of the package; its files live under home()/strips.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from digitlab.data import numbers
from digitlab.data.number_drawing import photographed, typed
from digitlab.store.files import home
from digitlab.vision import cutting, splitting
# The strip, the network and the batch as the package has them (the prototype's own copies, from which
# the shipped weights came, were these very lines; R-nd.pt's keys load into either).
from digitlab.vision.strip_reading import BLANK, StripNet, batch, strip

SEED = 7  # the training numbers' draws (the number set's own parts: numbers.SEED = 0; the piece judge's: 5)
GAPS = ("wide", "normal", "touching", "overlapping", "touching", "overlapping")
CATEGORIES = numbers.CATEGORIES
WORK = home() / "strips"  # the prototype's own files, beside the cache
SURE_MODES = ("trusted", "readsure")  # the modes whose strip reader steers only where it is `sure` of its read
STEERED = {"groups": 0, "steered": 0}  # the wide groups counted_cut saw, and those the strip reader steered


# ---------------------------------------------------------------------------------------------
# Strips: a group of ink, 28 px high
# ---------------------------------------------------------------------------------------------

def fit_number(category: str, i: int, seed: int = SEED) -> numbers.Number:
    """A number drawn as numbers.number draws it, from MNIST's fit digits (numbers.FIT), with GAPS in turn."""
    rng = np.random.default_rng([seed, CATEGORIES.index(category), i])
    digits = rng.integers(0, 10, numbers.LENGTHS[i % len(numbers.LENGTHS)])
    text = "".join(str(d) for d in digits)
    dark = (i // len(numbers.LENGTHS)) % 2 == 0
    gap = None if category == "typed" else GAPS[(i // len(numbers.LENGTHS)) % len(GAPS)]
    if category == "typed":
        ink, boxes, _ = typed(text, numbers.PART_FONTS[numbers.FIT], rng)
    elif category == "pen" or (category == "photo" and rng.random() < 0.5):
        ink, boxes = numbers._pen(digits, gap, rng)
    else:
        ink, boxes, _ = numbers._handwritten(digits, gap, numbers.FIT, rng)
    if category == "photo":
        image, boxes = photographed(ink, boxes, rng, dark)
    elif category == "pen":
        image, boxes = numbers.on_pad(ink, boxes, rng, dark)
    else:
        image, boxes = numbers.on_page(ink, boxes, rng, dark)
    return numbers.Number(image, text, category, gap, tuple(boxes), numbers.FIT)


def labelled_strips(number: numbers.Number) -> list[tuple[np.ndarray, str]]:
    """Each group the splitter finds in `number` (uncut), as a strip, with the digits whose box centres
    it holds; none when some digit falls in no group or in two (a number the groups do not cover)."""
    page = splitting._work_ink(number.image, "number")
    lines, labels = splitting.digit_groups(page.ink)
    centres = [((x0 + x1) / 2 / page.scale, (y0 + y1) / 2 / page.scale) for x0, y0, x1, y1 in number.boxes]
    out, used = [], []
    for line in lines:
        for group in line:
            inside = [k for k, (x, y) in enumerate(centres) if group.x0 <= x < group.x1 and group.y0 - 2 <= y < group.y1 + 2]
            if inside:
                used += inside
                out.append((strip(splitting._ink_of(page.ink, labels, group)), "".join(number.text[k] for k in inside)))
    return out if sorted(used) == list(range(len(centres))) else []


def make_data(count: int, seed: int = SEED) -> None:
    """Draw `count` fit numbers (the categories in turn), save their strips under WORK."""
    strips, texts, which = [], [], []
    skipped, start = 0, time.perf_counter()
    for n in range(count):
        number = fit_number(CATEGORIES[n % len(CATEGORIES)], n // len(CATEGORIES), seed)
        found = labelled_strips(number)
        skipped += not found
        for s, text in found:
            strips.append((s * 255).round().astype(np.uint8)), texts.append(text), which.append(n)
        if n % 500 == 499:
            print(f"{n + 1} numbers, {len(strips)} strips, {time.perf_counter() - start:.0f} s", flush=True)
    WORK.mkdir(parents=True, exist_ok=True)
    widths = np.array([s.shape[1] for s in strips])
    np.savez(WORK / f"strips-{seed}-{count}.npz", columns=np.concatenate(strips, 1), widths=widths,
             texts=np.array(texts), numbers=np.array(which))
    multi = sum(len(t) > 1 for t in texts)
    print(f"{count} numbers -> {len(strips)} strips ({multi} of several digits; {skipped} numbers skipped), {time.perf_counter() - start:.0f} s")


def make_nondigit_data(per_category: int) -> None:
    """The non-digit training generator's draws (below nondigits.CHOICE_FROM, which choices keep for
    themselves), every group the splitter finds in each labelled with no digits: a scribble read as nothing."""
    from digitlab.data import nondigits
    from digitlab.errors import BlankImage

    strips, start = [], time.perf_counter()
    for category in nondigits.CATEGORIES[:-1]:  # not "several": those are digits
        for i in range(per_category):
            try:
                page = splitting._work_ink(nondigits.raw_image(category, i, "train"), "non-digit")
            except BlankImage:
                continue
            lines, labels = splitting.digit_groups(page.ink)
            strips += [(strip(splitting._ink_of(page.ink, labels, g)) * 255).round().astype(np.uint8)
                       for line in lines for g in line if g.height >= splitting.MIN_CUT_HEIGHT]
    np.savez(WORK / f"nondigit-strips-{per_category}.npz", columns=np.concatenate(strips, 1),
             widths=np.array([s.shape[1] for s in strips]), texts=np.array([""] * len(strips)),
             numbers=np.arange(len(strips)))
    print(f"{per_category} non-digits a category -> {len(strips)} strips, {time.perf_counter() - start:.0f} s")


def load_data(path: Path) -> tuple[list[np.ndarray], list[str], np.ndarray]:
    saved = np.load(path)
    edges = np.r_[0, np.cumsum(saved["widths"])]
    columns = saved["columns"]
    strips = [columns[:, a:b] for a, b in zip(edges[:-1], edges[1:])]
    return strips, [str(t) for t in saved["texts"]], saved["numbers"]


# ---------------------------------------------------------------------------------------------
# The network and CTC
# ---------------------------------------------------------------------------------------------

def greedy(logp: torch.Tensor, steps: torch.Tensor) -> list[tuple[str, list[int], float]]:
    """(T, B, 11) -> for each strip: (its digits, the step each one peaks at, the best path's log-probability)."""
    best = logp.max(2)
    out = []
    for b in range(logp.shape[1]):
        labels, score = best.indices[:steps[b], b].tolist(), float(best.values[:steps[b], b].sum())
        text, where, previous = "", [], BLANK
        for t, label in enumerate(labels):
            if label != BLANK and label != previous:
                text += str(label)
                where.append(t)
            previous = label
        out.append((text, where, score))
    return out


def train(paths: list[Path], epochs: int, width: int, hidden: int, lr: float, out: Path, seed: int = 0) -> None:
    torch.manual_seed(seed)
    strips, texts, which = [], [], []
    for k, path in enumerate(paths):  # each file's numbers counted on from the last's
        more = load_data(path)
        strips += more[0]
        texts += more[1]
        which = np.r_[which, more[2] + 1_000_000 * k].astype(np.int64)
    valid = which % 10 == 9  # a number's strips all on one side
    train_i = np.flatnonzero(~valid)
    valid_i = np.flatnonzero(valid)
    net = StripNet(width, hidden)
    ctc = nn.CTCLoss(blank=BLANK, zero_infinity=True)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    size = 64
    # batches of like widths: sorted by width, cut into batches, the batches shuffled each epoch
    order = train_i[np.argsort([strips[i].shape[1] for i in train_i], kind="stable")]
    chunks = [order[k:k + size] for k in range(0, len(order), size)]
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=epochs * len(chunks))
    rng = np.random.default_rng(seed)
    print(f"{len(train_i)} training strips, {len(valid_i)} validation; {sum(p.numel() for p in net.parameters()):,} parameters")
    for epoch in range(epochs):
        net.train()
        start, total = time.perf_counter(), 0.0
        for k in rng.permutation(len(chunks)):
            idx = chunks[k]
            x, steps = batch([strips[i] for i in idx])
            if rng.random() < 0.5:  # a pixel's shift up or down
                x = torch.roll(x, int(rng.choice([-1, 1])), 2)
            targets = torch.tensor([int(c) for i in idx for c in texts[i]], dtype=torch.long)
            lengths = torch.tensor([len(texts[i]) for i in idx])
            loss = ctc(net(x), targets, steps, lengths)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach())
        right = evaluate(net, [strips[i] for i in valid_i], [texts[i] for i in valid_i])
        print(f"epoch {epoch}: loss {total / len(chunks):.3f}, valid strips right {right['all']:.1%} "
              f"(several digits {right['several']:.1%}, count right {right['count']:.1%}), "
              f"{time.perf_counter() - start:.0f} s", flush=True)
    torch.save({"state": net.state_dict(), "width": width, "hidden": hidden}, out)


@torch.no_grad()
def evaluate(net: StripNet, strips: list[np.ndarray], texts: list[str]) -> dict:
    """The share of `strips` read right, of those of several digits, and of counts right."""
    net.eval()
    order = np.argsort([s.shape[1] for s in strips])
    said = [""] * len(strips)
    for k in range(0, len(order), 256):
        idx = order[k:k + 256]
        x, steps = batch([strips[i] for i in idx])
        for i, (text, _, _) in zip(idx, greedy(net(x), steps)):
            said[i] = text
    several = [i for i, t in enumerate(texts) if len(t) > 1]
    return {"all": np.mean([s == t for s, t in zip(said, texts)]),
            "several": np.mean([said[i] == texts[i] for i in several]) if several else 0.0,
            "count": np.mean([len(s) == len(t) for s, t in zip(said, texts)])}


def load_net(path: Path) -> StripNet:
    saved = torch.load(path)
    net = StripNet(saved["width"], saved["hidden"])
    net.load_state_dict(saved["state"])
    return net.eval()


# ---------------------------------------------------------------------------------------------
# The cutter, told how many digits a group holds
# ---------------------------------------------------------------------------------------------

def counted_cut(net: StripNet, mode: str, clf=None, vouched: dict | None = None, sure: float = 0.0):
    """A stand-in for cutting.cut: the strip reader says how many digits the group holds and which; the
    cuts are the judge's best that leave that many pieces (mode "count"), or whose pieces the cnn
    (`clf`) also reads as the strip reader's digits (mode "guided": each piece's judge score plus the
    cnn's log-probability of its digit). cutting.cut's own choice where the reader reads nothing, or
    where it is less than `sure` sure of its read: mode "trusted" by its best path's probability, mode
    "readsure" by the read's own (CTC's sum over every path that spells it; see read_probability)."""
    plain = cutting.cut

    @torch.no_grad()
    def cut(own: np.ndarray, height: float, judge) -> list[tuple[int, int, np.ndarray]]:
        x, steps = batch([strip(own)])
        logp = net(x)  # (T, 1, 11)
        text, _, path_score = greedy(logp, steps)[0]
        sureness = read_probability(logp, steps, text) if mode == "readsure" and text else float(np.exp(path_score))
        STEERED["groups"] += 1
        if not text or sureness < sure:
            return plain(own, height, judge)
        STEERED["steered"] += 1
        paths = cutting.candidate_paths(own, height)
        chosen = _best_counted(own, paths, height, judge, text, clf if mode in ("guided", *("vouched", "trusted", "readsure")) else None)
        if chosen is None:
            return plain(own, height, judge)
        pieces = []
        for left, right in zip(chosen, chosen[1:]):
            piece = cutting._between(own, left, right)
            rows, cols = np.flatnonzero(piece.any(1)), np.flatnonzero(piece.any(0))
            if len(rows):
                pieces.append((int(cols[0]), int(rows[0]), piece[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]))
        if vouched is not None and len(pieces) == len(text) > 1:  # each piece's digit, as the strip reader read it (never a group left whole)
            from digitlab.vision.mnist_style import from_ink

            for (_, _, ink), said in zip(pieces, text):
                vouched[from_ink(ink).numpy().tobytes()] = (int(said), sureness)
        return pieces

    return cut


def read_probability(logp: torch.Tensor, steps: torch.Tensor, text: str) -> float:
    """(T, 1, 11) one strip's log-probabilities -> the probability of its read `text` itself: CTC's sum
    over every path that spells it. Unlike the best path's (a product over the steps), it does not fall
    with a strip's length: >= 0.8 for 72 % of touching strips of several digits against 19 % (sure-by-gap)."""
    target = torch.tensor([[int(c) for c in text]])  # (1, digits)
    loss = nn.functional.ctc_loss(logp, target, steps, torch.tensor([len(text)]), blank=BLANK, reduction="sum")
    return float(torch.exp(-loss))


def read_vouched(clf, found, vouched: dict, sure: float, decline: bool = True, read_digits=None):
    """reading.read_digits, but a cut digit the gate calls not a digit (or the cnn unsure) is answered
    when the strip reader read its group with at least `sure` probability and the cnn reads it as the
    strip reader did; the whole-image rule still counts the gate's verdicts."""
    from digitlab import reading
    from digitlab.trust import decline as declining

    number = (read_digits or reading.read_digits)(clf, found, decline)
    if not decline or number.declined:
        return number
    digits = []
    for d in number.digits:
        said = vouched.get(d.image.numpy().tobytes())
        if d.declined in (declining.NOT_A_DIGIT, declining.UNSURE_REASON) and said and said[1] >= sure:
            cnn = int(torch.as_tensor(declining.answers(clf, d.image[None], False)[0].label))
            if cnn == said[0]:
                d = dataclasses.replace(d, label=cnn, declined=None)
        digits.append(d)
    return dataclasses.replace(number, digits=digits)


def _best_counted(own, paths, height, judge, text: str, clf=None):
    """cutting._best_paths with exactly len(text) pieces (dynamic programming over (path, pieces so
    far)); with `clf`, piece k also scores the cnn's log-probability that it is text[k]."""
    from digitlab import service
    from digitlab.vision.mnist_style import cropped, from_ink
    from digitlab.vision.page import MIN_INK_PIXELS

    n = len(text)
    if n == 1:
        return [paths[0], paths[-1]]
    last = len(paths) - 1
    candidates = cutting.candidate_pieces(own, paths, height)
    inked = [bool((p > 0).sum() >= MIN_INK_PIXELS) for _, _, p in candidates]
    if not any(inked):
        return None
    framed = torch.stack([from_ink(cropped(p)) for (_, _, p), ok in zip(candidates, inked) if ok])
    scores = torch.full((len(candidates),), -float("inf"))
    scores[torch.tensor(inked)] = judge(framed).float()
    digit = torch.zeros(len(candidates), 10)  # (m, 10) the cnn's log-probability of each digit
    if clf is not None:
        digit[torch.tensor(inked)] = service.predict(clf, framed, "cnn").proba.clamp_min(1e-6).log()
    spans = [(i, j) for i, j, _ in candidates]
    score = dict(zip(spans, scores.tolist()))
    row = dict(zip(spans, digit.tolist()))
    best = {(0, 0): (0.0, [0])}
    for j in range(1, len(paths)):
        for k in range(1, n + 1):
            said = int(text[k - 1])
            options = [(best[(i, k - 1)][0] + s + row[(i, j)][said], best[(i, k - 1)][1] + [j])
                       for i in range(j) if (i, k - 1) in best and (s := score.get((i, j), -float("inf"))) > -float("inf")]
            if options:
                best[(j, k)] = max(options, key=lambda o: o[0])
    if (last, n) not in best:
        return None
    return [paths[k] for k in best[(last, n)][1]]


# ---------------------------------------------------------------------------------------------
# Reading the choose part
# ---------------------------------------------------------------------------------------------

def choose(model: Path, per_category: int, modes: list[str], decline: bool = True) -> None:
    from digitlab import pretrained, reading
    from digitlab.data import nondigits
    from digitlab.data.shipped_mnist import mnist_arrays
    from digitlab.errors import BlankImage

    torch.set_num_threads(1)
    clf = pretrained.load("cnn")
    net = load_net(model)
    drawn = list(numbers.each("choose", per_category))
    kept = [dataclasses.replace(n, image=None) for n in drawn]
    mnist, _ = mnist_arrays("train")
    plain = cutting.cut
    print(f"choose part: {len(drawn)} numbers ({per_category} a category); load average {os.getloadavg()[0]:.2f}")
    for mode in modes:
        vouched: dict = {}
        mode, _, sure = mode.partition("@")
        cutting.cut = (plain if mode == "today" else
                       counted_cut(net, mode, clf, vouched, float(sure or 0) if mode in SURE_MODES else 0.0))
        start = time.perf_counter()
        said = []
        for n in drawn:
            try:
                found = reading.find_digits(n.image)
            except BlankImage:
                found = []
            if mode in ("vouched", "trusted", "readsure"):
                said.append(read_vouched(clf, found, vouched, float(sure or 0), decline).text or "")
            else:
                said.append(reading.read_digits(clf, found, decline).text or "")
        seconds = time.perf_counter() - start
        steered_numbers = STEERED["steered"] / max(1, STEERED["groups"])
        STEERED.update(groups=0, steered=0)
        result = numbers.accuracy(said, kept)
        by = {**{c: v["whole"] for c, v in result["by_category"].items()},
              **{g: v["whole"] for g, v in result["by_gap"].items()},
              **{g: v["whole"] for g, v in result["by_length"].items()}}
        declined = {}
        for category in nondigits.CATEGORIES[:-1]:
            count = 0
            for i in range(nondigits.CHOICE_FROM, nondigits.CHOICE_FROM + 100):
                try:
                    found = reading.find_digits(nondigits.raw_image(category, i, "train", mnist=mnist))
                    r = (read_vouched(clf, found, vouched, float(sure or 0)) if mode in ("vouched", "trusted", "readsure")
                         else reading.read_digits(clf, found))
                except BlankImage:
                    r = None
                count += r is None or r.declined is not None or not r.digits or (
                    len(r.digits) == 1 and r.digits[0].declined is not None)
            declined[category] = count / 100
            declined[category + " steered"] = STEERED["steered"] / max(1, STEERED["groups"])
            STEERED.update(groups=0, steered=0)
        print(f"{mode}{'@' + sure if sure else ''}: whole {result['whole']:.1%} " + " ".join(f"{k} {v:.1%}" for k, v in by.items())
              + f"; {seconds / len(drawn) * 1000:.0f} ms a number; wide groups steered {steered_numbers:.0%}; non-digit choice draws declined "
              + " ".join(f"{k} {v:.0%}" for k, v in declined.items()), flush=True)
    cutting.cut = plain


def with_reader(model: Path, argv: list[str], mode: str = "vouched", sure: float = 0.0) -> None:
    """benchmarks/number_accuracy.py run with the strip reader in place (mode "vouched", sure 0, unless
    told): the cutter told the count and the digits, a cut digit the cnn reads as the strip reader did
    answered ("trusted": only where the strip reader's best path is at least `sure` likely; "readsure":
    where its read is, summed over every path that spells it)."""
    import sys

    import number_accuracy
    from digitlab import pretrained, reading

    net, clf, vouched = load_net(model), pretrained.load("cnn"), {}
    cutting.cut = counted_cut(net, mode, clf, vouched, sure if mode in SURE_MODES else 0.0)
    plain = reading.read_digits
    reading.read_digits = lambda c, found, decline=True: read_vouched(c, found, vouched, sure, decline, plain)
    print(f"strip reader {model.name}, mode {mode}, sure {sure}", flush=True)
    sys.argv = ["number_accuracy.py", *(a for a in argv if a != "--")]
    number_accuracy.main()


def mnist_test_split(model: Path) -> None:
    """How many of MNIST's test digits (28 x 28 on a dark page) the reader, with the strip reader in
    place, finds as more than one digit."""
    from digitlab import pretrained, reading
    from digitlab.data.shipped_mnist import mnist_arrays

    net, clf, vouched = load_net(model), pretrained.load("cnn"), {}
    cutting.cut = counted_cut(net, "vouched", clf, vouched)
    images, _ = mnist_arrays("test")
    split = sum(len(reading.find_digits(Image.fromarray(image))) > 1 for image in images)
    print(f"MNIST test digits found as more than one: {split} of {len(images):,}")


def mnist_files() -> None:
    """No MNIST test file split: MNIST's 10,000 test digits written as 28 x 28 PNGs and read as `digitlab
    predict` reads them (read_images, numbers on): how many went through the splitter, how many were
    found as several digits."""
    import tempfile

    from digitlab.commands import predict
    from digitlab.data.shipped_mnist import mnist_arrays

    images, _ = mnist_arrays("test")
    with tempfile.TemporaryDirectory() as folder:
        paths = [str(Path(folder) / f"{i:05d}.png") for i in range(len(images))]
        for image, path in zip(images, paths):
            Image.fromarray(image).save(path)
        found, unreadable = {}, []

        class Unreadable:
            def add(self, error) -> None:
                unreadable.append(error)

        _, read = predict.read_images(paths, Unreadable(), False, blanks=True, found=found)
    print(f"{len(read):,} of {len(paths):,} read as one digit; through the splitter: {len(found)}; found as "
          f"several: {sum(len(v) > 1 for v in found.values())}; unreadable: {len(unreadable)}")


@torch.no_grad()
def sure_by_gap(model: Path, count: int, seed: int = 9) -> None:
    """How sure the strip reader is of strips of several digits, by gap kind, in fit numbers drawn with a
    seed no training used (no held-out data): the share whose best path is at least 0.8 likely, and the
    share whose read (its label, summed over every path that spells it: CTC's probability) is; how many
    are read right, and how many of the sure ones."""
    import collections

    net = load_net(model)
    ctc = nn.CTCLoss(blank=BLANK, reduction="none", zero_infinity=True)
    tally = collections.defaultdict(lambda: np.zeros(5))  # strips, right, path sure, label sure, right of label sure
    for n in range(count):
        number = fit_number(CATEGORIES[n % len(CATEGORIES)], n // len(CATEGORIES), seed)
        several = [(s, t) for s, t in labelled_strips(number) if len(t) > 1]
        if not several:
            continue
        x, steps = batch([s for s, _ in several])
        logp = net(x)
        for b, ((_, truth), (text, _, path)) in enumerate(zip(several, greedy(logp, steps))):
            label = float(np.exp(-float(ctc(logp[:, b:b + 1], torch.tensor([int(c) for c in text] or [0]), steps[b:b + 1],
                                           torch.tensor([len(text)]))))) if text else 0.0
            row = tally[number.category if number.category == "typed" else number.gap]
            row += [1, text == truth, np.exp(path) >= 0.8, label >= 0.8, label >= 0.8 and text == truth]
    for kind, (strips, right, path, label, right_label) in sorted(tally.items()):
        print(f"{kind}: {strips:.0f} strips of several digits, read right {right / strips:.0%}; best path >= 0.8 "
              f"likely {path / strips:.0%}; its read >= 0.8 likely {label / strips:.0%}, right of those {right_label / max(1, label):.0%}")


def export(model: Path, data: list[Path], out: Path) -> None:
    """The prototype's trained reader (`model`, torch.save's dict) saved as the package's strip reader
    (vision/strip_reading.save: safetensors + config.json), its figures measured again on the strips
    train kept back (every tenth number's, and every tenth non-digit strip, of the same `data` files).
    The weights are the very ones the 12:59 UTC look measured. Its StripConfig is the package's default
    but for the widths, which are the model's: the prototype drew its numbers in two files (4,000 with
    seed 7, 8,000 with seed 8) and trained through its own loop, so `python -m digitlab.pretrained
    --methods strips` (one draw of 12,000, Learner.fit) trains a like reader, not this one."""
    from digitlab.vision import strip_reading, strip_training

    saved = torch.load(model)
    net = strip_reading.StripNet(saved["width"], saved["hidden"])
    net.load_state_dict(saved["state"])
    config = strip_reading.StripConfig(width=saved["width"], hidden=saved["hidden"])
    reader = strip_reading.StripReader(net, config)
    strips, texts = [], []
    for k, path in enumerate(data):
        more, said, which = load_data(path)
        kept = np.flatnonzero(which % 10 == 9)  # train's own split: a number's strips all on one side
        strips += [more[i] for i in kept]
        texts += [said[i] for i in kept]
    figures = strip_training.scores(reader, strips, texts)
    strip_reading.save(reader, out, figures)
    print(f"{model.name} -> {out}: " + ", ".join(f"{k.removeprefix('valid_')} {v:.4g}" for k, v in figures.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="step", required=True)
    d = sub.add_parser("data")
    d.add_argument("--numbers", type=int, default=4000)
    d.add_argument("--seed", type=int, default=SEED)
    d.add_argument("--nondigits", type=int, default=0, help="instead: this many non-digits a category, read as nothing")
    t = sub.add_parser("train")
    t.add_argument("--data", type=Path, nargs="+", default=[WORK / f"strips-{SEED}-4000.npz"])
    t.add_argument("--epochs", type=int, default=8)
    t.add_argument("--width", type=int, default=32)
    t.add_argument("--hidden", type=int, default=128)
    t.add_argument("--lr", type=float, default=3e-3)
    t.add_argument("--out", type=Path, default=WORK / "strip.pt")
    c = sub.add_parser("choose")
    c.add_argument("--model", type=Path, default=WORK / "strip.pt")
    c.add_argument("--per-category", type=int, default=84)
    c.add_argument("--modes", nargs="+", default=["today", "count"])
    c.add_argument("--no-decline", dest="decline", action="store_false")
    g = sub.add_parser("groups")
    g.add_argument("--model", type=Path, default=WORK / "strip.pt")
    g.add_argument("--per-category", type=int, default=84)
    w = sub.add_parser("number-accuracy", help="benchmarks/number_accuracy.py with the strip reader in place")
    w.add_argument("--model", type=Path, default=WORK / "strip.pt")
    w.add_argument("--mode", default="vouched", choices=("vouched", *SURE_MODES))
    w.add_argument("--sure", type=float, default=0.0)
    w.add_argument("rest", nargs=argparse.REMAINDER)
    m = sub.add_parser("mnist-test")
    m.add_argument("--model", type=Path, default=WORK / "strip.pt")
    e = sub.add_parser("export", help="the trained reader saved as the package's (safetensors + config.json)")
    e.add_argument("--model", type=Path, default=WORK / "R-nd.pt")
    e.add_argument("--data", type=Path, nargs="+", default=[WORK / f"strips-{SEED}-4000.npz", WORK / "strips-8-8000.npz",
                                                            WORK / "nondigit-strips-400.npz"])
    e.add_argument("--out", type=Path, required=True)
    sub.add_parser("mnist-files", help="MNIST's test digits as PNGs through predict's reading: none split?")
    sg = sub.add_parser("sure-by-gap", help="how sure the reader is of strips of several digits, by gap kind")
    sg.add_argument("--model", type=Path, default=WORK / "strip.pt")
    sg.add_argument("--numbers", type=int, default=800)
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.step == "data":
        make_nondigit_data(args.nondigits) if args.nondigits else make_data(args.numbers, args.seed)
    elif args.step == "train":
        train(args.data, args.epochs, args.width, args.hidden, args.lr, args.out)
    elif args.step == "number-accuracy":
        with_reader(args.model, args.rest, args.mode, args.sure)
    elif args.step == "mnist-test":
        mnist_test_split(args.model)
    elif args.step == "export":
        export(args.model, args.data, args.out)
    elif args.step == "mnist-files":
        mnist_files()
    elif args.step == "sure-by-gap":
        sure_by_gap(args.model, args.numbers)
    elif args.step == "groups":
        groups(args.model, args.per_category)
    else:
        choose(args.model, args.per_category, args.modes, args.decline)


def groups(model: Path, per_category: int) -> None:
    """The wide groups (the ones the cutter cuts) of the choose part's numbers, read three ways: the
    pieces today's cutter keeps, each read by the cnn; the cuts that leave the strip reader's count;
    the strip reader's own digits."""
    from digitlab import pretrained, reading, service
    from digitlab.vision.mnist_style import cropped, from_ink

    torch.set_num_threads(1)
    clf, net = pretrained.load("cnn"), load_net(model)
    tally = {"today": 0, "count": 0, "guided": 0, "strip": 0, "strip count": 0, "today count": 0}
    total = 0
    for number in numbers.each("choose", per_category):
        page = splitting._work_ink(number.image, "number")
        centres = [((x0 + x1) / 2 / page.scale, (y0 + y1) / 2 / page.scale) for x0, y0, x1, y1 in number.boxes]
        wide = []
        splitting.digit_groups(page.ink, lambda own, height, group: wide.append((own, height, group)) or [(0, 0, own)])
        for own, height, group in wide:
            inside = [k for k, (x, y) in enumerate(centres) if group.x0 <= x < group.x1 and group.y0 - 2 <= y < group.y1 + 2]
            truth = "".join(number.text[k] for k in inside)
            if not truth:
                continue
            total += 1

            def said(pieces) -> str:
                framed = torch.stack([from_ink(cropped(p)) for _, _, p in pieces])
                return "".join(str(d) for d in service.predict(clf, framed, "cnn").digits)

            today = said(cutting.cut(own, height, reading.judge))
            with torch.no_grad():
                x, steps = batch([strip(own)])
                text = greedy(net(x), steps)[0][0]
            counted = said(counted_cut(net, "count")(own, height, reading.judge))
            guided = said(counted_cut(net, "guided", clf)(own, height, reading.judge))
            for name, value in (("today", today == truth), ("count", counted == truth), ("guided", guided == truth), ("strip", text == truth),
                                ("strip count", len(text) == len(truth)), ("today count", len(today) == len(truth))):
                tally[name] += value
    print(f"{total} wide groups: " + ", ".join(f"{k} right {v / total:.1%}" for k, v in tally.items()))


if __name__ == "__main__":
    main()
