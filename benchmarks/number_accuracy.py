"""How well digitlab reads numbers: the number set (data/numbers.py) read as `digitlab predict` reads
an image (reading.read_number), and what reading numbers costs single digits and non-digits.

Prints, for a shipped model (the cnn unless told):
- whole-number and per-digit accuracy on the number set's two parts, by category, length and gap kind:
  the choose part is where reading.py's and the splitter's settings were chosen; the held-out part
  (other MNIST digits, a typeface family and the overlapping gap kind no choice saw) only reports;
- the time to read a 4-digit photo on one core (the photo category's 4-digit numbers);
- single digits: how many of the stress set's images are found to hold more than one digit, and
  whether each one-digit image is read exactly as to_mnist reads it;
- non-digits through the number reader: the share of the non-digit test set declined (the image, or
  its one digit), by category.

    python benchmarks/number_accuracy.py                      # everything, the shipped cnn
    python benchmarks/number_accuracy.py --per-category 140 --skip singles,nondigits
    python benchmarks/number_accuracy.py --method simple_net --no-decline
    python benchmarks/number_accuracy.py --strips /tmp/strips-A --per-category 84 --choice-draws \
        --skip held_out,photo,singles,nondigits             # a strip reader that does not ship, on the choose side
    python benchmarks/number_accuracy.py --seed 1 --skip choose   # a fresh draw of the held-out part
    python benchmarks/number_accuracy.py --seed 1 --skip choose --model-digits   # as read before STRIP_DIGITS
    python benchmarks/number_accuracy.py --per-category 84 --skip held_out,photo,singles,nondigits \
        --per-number a.jsonl                                   # and each number as read, for comparing readers
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import os
import statistics
import time

import torch

from digitlab import pretrained, reading
from digitlab.data import numbers
from digitlab.errors import BlankImage
from digitlab.vision import grouping


class CountingReader:
    """A strip reader that counts the groups it reads and those it steers (a read of some digits at least
    reading.STRIP_SURE likely: what cutting.read_cut acts on), as benchmarks/strip_reader.py counted them."""

    def __init__(self, reader):
        self.reader, self.groups, self.steered = reader, 0, 0

    def read_strips(self, strips):  # a number's digits read again (reading.read_twice): not groups, not counted
        return self.reader.read_strips(strips)

    def read(self, own):
        said = self.reader.read(own)
        self.groups += 1
        self.steered += bool(said.text) and said.probability >= reading.STRIP_SURE
        return said

    def share(self) -> float:
        """The share of groups steered since the last call; the counts start again."""
        share = self.steered / max(1, self.groups)
        self.groups = self.steered = 0
        return share


def use_strips(directory: str | None) -> CountingReader:
    """The strip reader the cutter's guide reads with (the package's, or the one saved in `directory`),
    counting: reading.guide asks strip_reading.shipped() for it on every group, so it is replaced there."""
    from digitlab.vision import strip_reading

    counting = CountingReader(strip_reading.load(directory) if directory else strip_reading.shipped())
    strip_reading.shipped = lambda: counting
    return counting


def add_grouping_options(parser: argparse.ArgumentParser) -> None:
    """--flag-zone and --between: how a short part joins a digit (vision/grouping.py), for measuring."""
    parser.add_argument("--flag-zone", type=lambda v: None if v == "none" else float(v),
                        default=grouping.FLAG_ZONE, help="a short part joins a digit across a gap only this high "
                        "on it (grouping.FLAG_ZONE; none: always)")
    parser.add_argument("--between", type=lambda v: v == "on", default=grouping.BETWEEN,
                        help="on: hold a short part to FLAG_ZONE only between two tall parts; off: anywhere "
                        "(grouping.BETWEEN)")
    parser.add_argument("--single-strip-sure", type=lambda v: None if v == "none" else float(v),
                        default=reading.SINGLE_STRIP_SURE, help="a number's digit the model answered is answered as the "
                        "strip reader reads it where that read is this likely (reading.SINGLE_STRIP_SURE; none: never)")
    parser.add_argument("--single-model-below", type=float, default=reading.SINGLE_MODEL_BELOW,
                        help="... and the model is less sure than this (reading.SINGLE_MODEL_BELOW)")


def grouping_from(args: argparse.Namespace) -> None:
    """grouping's settings as add_grouping_options' options say."""
    grouping.FLAG_ZONE, grouping.BETWEEN = args.flag_zone, args.between
    reading.SINGLE_STRIP_SURE, reading.SINGLE_MODEL_BELOW = args.single_strip_sure, args.single_model_below


def grouping_said() -> str:
    return (f"FLAG_ZONE {grouping.FLAG_ZONE}{' between' if grouping.BETWEEN else ''}, "
            f"SINGLE_STRIP_SURE {reading.SINGLE_STRIP_SURE} below {reading.SINGLE_MODEL_BELOW}")


def read_part(clf, part: str, per_category: int | None, decline: bool, seed: int = numbers.SEED
              ) -> tuple[dict, dict, list[dict]]:
    """(numbers.accuracy of the part, seconds per number by category, each number as read: its place in
    the part's draw, category, text, what was read and whether that is the whole number)."""
    read, kept, seconds = [], [], collections.defaultdict(list)
    for number in numbers.each(part, per_category, seed):
        start = time.perf_counter()
        said = reading.read_number(number.image, clf, decline)
        seconds[number.category].append(time.perf_counter() - start)
        read.append(said.text or "")  # a number declined as a whole is read as nothing
        kept.append(dataclasses.replace(number, image=None))
    each = [{"part": part, "place": i, "category": n.category, "text": n.text, "read": r, "whole": r == n.text}
            for i, (n, r) in enumerate(zip(kept, read))]
    return numbers.accuracy(read, kept), {c: statistics.mean(v) for c, v in seconds.items()}, each


def photo_time(clf, repeats: int = 3) -> float:
    """Median seconds to read a 4-digit photo (the choose part's), on one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    photos = [n.image for i, n in enumerate(numbers.each("choose", 70)) if n.category == "photo" and len(n.text) == 4]
    reading.read_number(photos[0], clf)  # warm: the gate and the judge load once per process
    times = []
    for _ in range(repeats):
        for image in photos:
            start = time.perf_counter()
            reading.read_number(image, clf)
            times.append(time.perf_counter() - start)
    torch.set_num_threads(threads)
    return statistics.median(times)


def singles(every: int) -> str:
    """Every `every`th stress image: found as one digit, and read exactly as to_mnist reads it."""
    from digitlab.data import stress
    from digitlab.vision import mnist_style

    one = same = total = 0
    for category in stress.CATEGORIES:
        for i in range(0, stress.PER_CATEGORY, every):
            image, _ = stress.raw_image(category, i)
            found = reading.find_digits(image)
            total += 1
            if len(found) == 1:
                one += 1
                same += bool(torch.equal(found[0].image, mnist_style.to_mnist(image)))
    return f"stress images found as one digit {one:,} of {total:,}; of those read exactly as to_mnist {same:,}"


def nondigits_declined(clf, per_category: int, kind: str = "test", counting: CountingReader | None = None) -> dict[str, float]:
    """The share of the non-digit test set's images (the first `per_category` of each) that the number
    reader declines: as a whole, or as its one digit (blank counts as declined). kind "choice": the
    training generator's draws from nondigits.CHOICE_FROM on (held out from training, for choosing), the
    five categories that are not digits, each with the share of its groups the strip reader steered."""
    from digitlab.data import nondigits
    from digitlab.data.shipped_mnist import mnist_arrays

    mnist, _ = mnist_arrays("train")
    first, generator = (nondigits.CHOICE_FROM, "train") if kind == "choice" else (0, "test")
    categories = nondigits.CATEGORIES[:-1] if kind == "choice" else nondigits.CATEGORIES  # "several" are digits
    if counting:
        counting.share()
    shares = {}
    for category in categories:
        declined = 0
        for i in range(first, first + per_category):
            try:
                said = reading.read_number(nondigits.raw_image(category, i, generator, mnist=mnist), clf)
            except BlankImage:
                said = None
            declined += said is None or said.declined is not None or (
                len(said.digits) == 1 and said.digits[0].declined is not None) or not said.digits
        shares[category] = declined / per_category
        if counting:
            shares[category + " steered"] = counting.share()
    return shares


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", default="cnn", help="which shipped model reads the digits")
    parser.add_argument("--per-category", type=int, help="numbers a category of each part (default: all)")
    parser.add_argument("--no-decline", dest="decline", action="store_false", help="every digit answered")
    parser.add_argument("--skip", default="", help="comma list of: choose, held_out, photo, singles, nondigits")
    parser.add_argument("--seed", type=int, default=numbers.SEED,
                        help="draws the number set's parts (its own: %(default)s; another is a fresh draw)")
    parser.add_argument("--strips", help="a saved strip reader's folder to read with instead of the package's")
    parser.add_argument("--per-number", metavar="FILE", help="also write each number as read, a JSON line each "
                        "(two readers' files compared number by number: which numbers one gains and loses)")
    parser.add_argument("--model-digits", action="store_true",
                        help="the model reads every piece, the strip reader's digits only vouching (reading.STRIP_DIGITS off)")
    parser.add_argument("--strip-sure", type=float, default=reading.STRIP_SURE,
                        help="how likely the strip reader's read must be to steer a cut (reading.STRIP_SURE)")
    parser.add_argument("--read-pairs-sure", type=float, default=reading.READ_PAIRS_SURE,
                        help="two digits the strip reader read, each at least this likely, are not asked of the gate "
                        "as a pair (reading.READ_PAIRS_SURE; 0: no read pair is asked)")
    parser.add_argument("--singles-every", type=int, default=1,
                        help="every this many stress images checked as one digit (1, the whole stress set, about "
                        "3 minutes on one core: every fifth, the old default, missed three photos on 2026-12-08)")
    add_grouping_options(parser)
    parser.add_argument("--choice-draws", action="store_true",
                        help="also the non-digit choice draws (100 a category) declined, and their groups steered")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    reading.STRIP_DIGITS = not args.model_digits
    reading.STRIP_SURE, reading.READ_PAIRS_SURE = args.strip_sure, args.read_pairs_sure
    grouping_from(args)
    clf = pretrained.load(args.method)
    counting = use_strips(args.strips)
    print(f"{args.method}, decline {'on' if args.decline else 'off'}, strip reader {args.strips or 'shipped'}"
          f"{', the model reading every piece' if args.model_digits else ''}, STRIP_SURE {reading.STRIP_SURE}"
          f"{'' if args.read_pairs_sure is None else f', read pairs from {args.read_pairs_sure} not asked'}, "
          f"{grouping_said()}, seed {args.seed}; load average {os.getloadavg()[0]:.2f}, "
          f"{time.strftime('%H:%M:%S', time.gmtime())} UTC")
    for part in numbers.PARTS:
        if part in skip:
            continue
        counting.share()
        result, seconds, each = read_part(clf, part, args.per_category, args.decline, args.seed)
        if args.per_number:
            with open(args.per_number, "a") as out:
                out.writelines(json.dumps(row) + "\n" for row in each)
        print(f"\n{part} part (seed {args.seed}), groups the strip reader steered {counting.share():.1%}\n"
              + numbers.describe(result))
        print("seconds a number: " + ", ".join(f"{c} {s * 1000:.0f} ms" for c, s in seconds.items()))
    if "photo" not in skip:
        print(f"\na 4-digit photo, one thread: {photo_time(clf) * 1000:.1f} ms (median)")
    if "singles" not in skip:
        print("\n" + singles(every=args.singles_every))
    if "nondigits" not in skip:
        shares = nondigits_declined(clf, per_category=100)
        print("\nnon-digit test set declined through the number reader: " +
              ", ".join(f"{c} {s:.0%}" for c, s in shares.items()))
    if args.choice_draws:
        shares = nondigits_declined(clf, per_category=100, kind="choice", counting=counting)
        print("\nnon-digit choice draws declined (and their groups steered): " +
              ", ".join(f"{c} {s:.0%}" for c, s in shares.items()))
    print(f"\ndone {time.strftime('%H:%M:%S', time.gmtime())} UTC, load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
