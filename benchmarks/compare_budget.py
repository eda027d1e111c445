"""Does `digitlab compare` (no arguments) fit its budget of 60 seconds on 2 CPU cores?

Runs the default job (both tasks, all four methods, the report) in this process into a temporary
folder, timing its three phases: loading the data, training and testing every method, drawing the
report. Prints each run's training time, the job's wall and CPU time, and wall time / budget.
The machine's load average is printed too: on a shared machine wall time grows with the load, so
compare only figures taken at a similar load.

Run: python benchmarks/compare_budget.py [--threads 2] [--methods pixel,linear,...] [--out DIR]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

BUDGET_S = 60.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="torch threads: the budget's 2 cores (default 2)")
    parser.add_argument("--methods", help="comma list (default: all four)")
    parser.add_argument("--out", help="keep the models and report here (default: a temporary folder)")
    args = parser.parse_args()

    import torch

    from digitlab import service
    from digitlab.compare.config import CompareConfig, DEFAULT_DATASETS
    from digitlab.compare.job import run_all
    from digitlab.compare.tasks import load_task
    from digitlab.report import document

    torch.set_num_threads(args.threads)
    out = Path(args.out or tempfile.mkdtemp(prefix="digitlab-compare-budget-"))
    load_before = os.getloadavg()[0]
    wall, cpu = time.perf_counter(), time.process_time()
    phases = {}
    start = time.perf_counter()
    tasks = [load_task(name) for name in DEFAULT_DATASETS]
    phases["load data"] = time.perf_counter() - start
    start = time.perf_counter()
    results = run_all(tasks, service.parse_methods(args.methods), out, device="cpu")
    phases["train and test"] = time.perf_counter() - start
    start = time.perf_counter()
    document.write(out / "report.html", results, tasks, {}, document.environment("cpu"))
    phases["report"] = time.perf_counter() - start
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu

    print(f"defaults: {CompareConfig()}")
    for r in results:
        print(f"  {r.method:<11} {r.task:<7} train {r.train_seconds:6.2f} s   accuracy {r.accuracy:.2%}")
    for name, seconds in phases.items():
        print(f"  {name:<15} {seconds:6.1f} s")
    print(f"wall {wall:.1f} s   CPU {cpu:.1f} s   threads {torch.get_num_threads()}   "
          f"wall / budget {wall / BUDGET_S:.2f}   load average {load_before:.1f} before, "
          f"{os.getloadavg()[0]:.1f} after (2 cores)")


if __name__ == "__main__":
    main()
