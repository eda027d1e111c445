"""Run tutorial files cell by cell, as a notebook shows them.

    python tests/tutorials/notebook.py FILE [FILE ...] [--skip TAG] [--figures DIR] [--seed N] [--timings] [--threads N]

A line starting with `# %%` opens a cell. As in Jupyter, a cell whose last statement is an
expression shows that value (its repr is printed) unless the line ends with `;`. A cell marked with
a tag in brackets, `# %% [slow]`, is skipped when `--skip slow` is given. Each file runs in a fresh
namespace after seeding torch, random and numpy, so that a run prints the same numbers every time.
Figures are drawn with matplotlib's Agg backend (no screen needed) and, with --figures, saved.
Warnings and digitlab's tables (which go to stderr) are printed in line with the cells' output.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
import time
import traceback
from pathlib import Path

HEADER = "=== {} ==="  # printed before each file's output, so callers can split the output
TAG = re.compile(r"\[(\w+)\]")


def split_cells(source: str) -> list[tuple[set[str], int, str]]:
    """[(tags, first line number, code)] of each non-empty cell."""
    cells, tags, start, lines = [], set(), 1, []
    for number, line in enumerate(source.splitlines(keepends=True), start=1):
        if line.startswith("# %%"):
            if any(ln.strip() for ln in lines):
                cells.append((tags, start, "".join(lines)))
            tags, start, lines = set(TAG.findall(line)), number + 1, []
        else:
            lines.append(line)
    if any(ln.strip() for ln in lines):
        cells.append((tags, start, "".join(lines)))
    return [cell for cell in cells if ast.parse(cell[2]).body]  # not the comments-only header


def run_cell(code: str, first_line: int, filename: str, namespace: dict) -> None:
    # Padding with newlines keeps the file's line numbers in tracebacks.
    tree = ast.parse("\n" * (first_line - 1) + code, filename)
    shown = None
    if tree.body and isinstance(tree.body[-1], ast.Expr) and not code.rstrip().endswith(";"):
        shown = ast.Expression(tree.body.pop().value)
    exec(compile(tree, filename, "exec"), namespace)
    if shown is not None:
        value = eval(compile(shown, filename, "eval"), namespace)
        if value is not None:
            print(repr(value))


class _Output:
    """stdout that remembers whether the last line was finished, so that each cell's output can end
    with one (a loop printing with end=' ' would otherwise run into the next cell's output)."""

    def __init__(self, stream):
        self.stream, self.at_line_start = stream, True

    def write(self, text: str) -> int:
        if text:
            self.at_line_start = text.endswith("\n")
        return self.stream.write(text)

    def __getattr__(self, name: str):
        return getattr(self.stream, name)


def run_file(path: Path, skip: set[str], figures: Path | None, seed: int, timings: bool) -> bool:
    import random

    import matplotlib.pyplot as plt
    import numpy as np
    import torch

    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed)
    namespace = {"__name__": "__main__", "__file__": str(path)}
    for number, (tags, first_line, code) in enumerate(split_cells(path.read_text()), start=1):
        if tags & skip:
            print(f"[cell {number} skipped: {', '.join(sorted(tags & skip))}]")
            continue
        start = time.perf_counter()
        try:
            run_cell(code, first_line, str(path), namespace)
        except Exception:
            traceback.print_exc(file=sys.stdout)
            return False
        finally:
            if not sys.stdout.at_line_start:
                print()
            if timings:
                print(f"[cell {number}: {time.perf_counter() - start:.2f} s]")
            for k, num in enumerate(plt.get_fignums()):
                if figures is not None:
                    plt.figure(num).savefig(figures / f"{path.stem}-cell{number:02d}-{k}.png")
            plt.close("all")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--skip", action="append", default=[], help="skip cells with this tag")
    parser.add_argument("--figures", type=Path, help="save every figure here as a PNG")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timings", action="store_true", help="print each cell's wall time")
    parser.add_argument("--threads", type=int, help="torch CPU threads (1 is fastest on a busy machine)")
    args = parser.parse_args(argv)

    # digitlab first: it sets OMP_WAIT_POLICY=PASSIVE, which must happen before torch loads OpenMP.
    # Imported after torch, OpenMP's threads spin, and on a busy two-core machine a resnet18 batch
    # of the full-MNIST tutorial took 0.59 s instead of 0.24 s (benchmarks/RESULTS.md).
    import digitlab  # noqa: F401
    import matplotlib

    matplotlib.use("Agg")
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    sys.stdout = sys.stderr = _Output(sys.stdout)  # tables and warnings in order with the cells' output
    if args.figures is not None:
        args.figures.mkdir(parents=True, exist_ok=True)
    ok = True
    for path in args.files:
        print(HEADER.format(path.name), flush=True)
        ok = run_file(path, set(args.skip), args.figures, args.seed, args.timings) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
