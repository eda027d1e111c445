"""What reading numbers does with marks between digits (data/separated.py: dates, phone numbers,
decimals, times), read as `digitlab predict` reads an image (reading.read_number, the shipped cnn,
declining on).

Prints, for a part of the set, by category and by mark: the share read right (the digits, every one,
in order, a mark left out or shown as "?") and the share where a mark was read as a digit.

    python benchmarks/marked_numbers.py                          # the choose part
    python benchmarks/marked_numbers.py --part held_out          # reported apart: no choice looks at it
    python benchmarks/marked_numbers.py --per-category 60 --per-number marked.jsonl
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import time

from digitlab import pretrained, reading
from digitlab.data import separated
from number_accuracy import add_grouping_options, grouping_from, grouping_said, use_strips


def read_part(clf, part: str, per_category: int | None, seed: int) -> list[dict]:
    """Each number of the part as read: its category, mark, text, what was read, right and mark-read."""
    rows = []
    for number in separated.each(part, per_category, seed):
        said = reading.read_number(number.image, clf)
        read = said.text or ""  # declined as a whole: nothing read
        mark = next(c for c in number.text if not c.isdigit())
        rows.append({"category": number.category, "mark": mark, "text": number.text, "read": read,
                     "right": separated.read_right(read, number),
                     "mark_read": separated.marks_read_as_digits(read, number)})
    return rows


def summary(rows: list[dict]) -> str:
    def line(name: str, group: list[dict]) -> str:
        right = 100 * sum(r["right"] for r in group) / len(group)
        mark = 100 * sum(r["mark_read"] for r in group) / len(group)
        return f"  {name:12s} read right {right:6.2f}%  a mark read as a digit {mark:6.2f}%  ({len(group)})"

    out = [line("all", rows)]
    for key in ("category", "mark"):
        groups = collections.defaultdict(list)
        for r in rows:
            groups[r[key]].append(r)
        out += [line(name, group) for name, group in groups.items()]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", default="choose", choices=tuple(separated.PART_MARKS))
    parser.add_argument("--per-category", type=int, help="numbers a category (default: the part's all)")
    parser.add_argument("--seed", type=int, default=separated.SEED)
    add_grouping_options(parser)
    parser.add_argument("--strips", help="a saved strip reader's folder to read with instead of the package's")
    parser.add_argument("--per-number", metavar="FILE", help="also write each number as read, a JSON line each")
    args = parser.parse_args()
    grouping_from(args)
    use_strips(args.strips)
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average {os.getloadavg()[0]:.2f}; "
          f"the shipped cnn, declining on, {grouping_said()}, "
          f"strip reader {args.strips or 'shipped'}; {args.part} part, seed {args.seed}")
    rows = read_part(pretrained.load("cnn"), args.part, args.per_category, args.seed)
    print(summary(rows))
    if args.per_number:
        with open(args.per_number, "w") as out:
            out.writelines(json.dumps(r) + "\n" for r in rows)


if __name__ == "__main__":
    main()
