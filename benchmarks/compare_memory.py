"""Where `digitlab compare`'s peak memory comes from: the command run in a process of its own, its resident
memory sampled every SAMPLE_SECONDS with what its main thread was doing (the innermost digitlab
functions), first in a fresh DIGITLAB_HOME (its caches built, as in a fresh clone) and then again in
the same home, as benchmarks/targets.py runs it.

    python benchmarks/compare_memory.py              # both runs: their peaks, and where they were made
    python benchmarks/compare_memory.py --runs after # the second run alone (a home built first, not sampled)

Prints each compare's peak (the process's own high-water mark, VmHWM, as RUSAGE_CHILDREN of a wrapper
reports it), the largest resident memory sampled in each of its runs (a method on a task), and the
last SHOWN places where the high-water mark rose (the run, then the innermost FRAMES digitlab
functions). Extra options go to `digitlab compare` (e.g. `-- --methods cnn`).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SAMPLE_SECONDS = 0.05
FRAMES = 2  # digitlab functions named per phase, innermost first
RISE_MB = 25  # a rise of the high-water mark this large is named with its phase
SHOWN = 8  # the last rises shown


def sampled_run(arguments: list[str], samples_path: str) -> None:
    """In this process: `digitlab compare ARGUMENTS`, its RSS and phase sampled on a thread into samples_path."""
    import threading

    main = threading.get_ident()
    samples: list[tuple[float, float, str]] = []
    done = threading.Event()

    def resident_mb() -> float:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def phase() -> str:
        """"cnn on 0-9: augment.restroked < augment.augmented": the run (job.run_one's), then where in it."""
        frame, names, run = sys._current_frames().get(main), [], ""
        while frame is not None:
            code = frame.f_code
            if f"{os.sep}digitlab{os.sep}" in code.co_filename and len(names) < FRAMES:
                names.append(f"{Path(code.co_filename).stem}.{code.co_name}")
            if code.co_name == "run_one" and code.co_filename.endswith(f"compare{os.sep}job.py"):
                run = f"{frame.f_locals['method']} on {frame.f_locals['task'].name}: "
            frame = frame.f_back
        return run + (" < ".join(names) or "-")

    def sample() -> None:
        start = time.perf_counter()
        while not done.is_set():
            samples.append((time.perf_counter() - start, resident_mb(), phase()))
            done.wait(SAMPLE_SECONDS)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    from digitlab import cli

    code = cli.main(["compare", *arguments])
    done.set()
    thread.join()
    peak = next(int(line.split()[1]) / 1024 for line in Path("/proc/self/status").read_text().splitlines()
                if line.startswith("VmHWM:"))
    Path(samples_path).write_text(json.dumps({"code": code, "peak": peak, "samples": samples}))


def run(name: str, arguments: list[str], home: Path, tmp: Path) -> dict:
    """One compare in a fresh process; its record: peak, seconds, samples."""
    samples = tmp / f"{name}.json"
    start = time.perf_counter()
    done = subprocess.run([sys.executable, __file__, "--sampled", str(samples), "--", *arguments],
                          env={**os.environ, "DIGITLAB_HOME": str(home)}, capture_output=True, text=True)
    if done.returncode != 0 or json.loads(samples.read_text()).get("code") != 0:  # written only once compare returned
        raise SystemExit(f"digitlab compare {' '.join(arguments)} failed:\n{done.stderr[-2000:]}")
    record = json.loads(samples.read_text())
    record["seconds"] = time.perf_counter() - start
    return record


def by_run(samples: list) -> dict[str, float]:
    """{run ("cnn on 0-9", or "-" outside any): the largest MB sampled in it}, in the order they ran."""
    largest: dict[str, float] = {}
    for _, mb, where in samples:
        run = where.split(": ", 1)[0] if ": " in where else "-"
        largest[run] = max(largest.get(run, 0.0), mb)
    return largest


def rises(samples: list) -> list[tuple[float, float, str]]:
    """(second, MB, phase) wherever the high-water mark rose by RISE_MB or more: where the peak was made."""
    found, mark = [], 0.0
    for second, mb, where in samples:
        if mb >= mark + RISE_MB:
            found.append((second, mb, where))
            mark = mb
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="first,after", help="first, after or both (default: first,after)")
    parser.add_argument("--sampled", help=argparse.SUPPRESS)  # the child process's own mode
    parser.add_argument("compare", nargs="*", help="options for digitlab compare (after --)")
    args = parser.parse_args()
    if args.sampled:
        return sampled_run(args.compare, args.sampled)
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average {os.getloadavg()[0]:.1f}, "
          f"{os.cpu_count()} cores, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")
    with tempfile.TemporaryDirectory(prefix="digitlab-memory-") as tmp_name:
        tmp = Path(tmp_name)
        home, out = tmp / "home", ["--out", str(tmp / "out"), *args.compare]
        wanted = args.runs.split(",")
        for name in ("first", "after"):
            if name not in wanted:
                if name == "first":  # the home built, not measured
                    subprocess.run([sys.executable, "-m", "digitlab", "compare", *out], check=True,
                                   env={**os.environ, "DIGITLAB_HOME": str(home)}, capture_output=True)
                continue
            record = run(name, out, home, tmp)
            print(f"\ncompare {name}: peak {record['peak']:.0f} MB, {record['seconds']:.0f} s "
                  f"(load average now {os.getloadavg()[0]:.1f})")
            print("  largest in each run: " + ", ".join(f"{run} {mb:.0f}" for run, mb in by_run(record["samples"]).items()))
            print("  where the high-water mark rose:")
            for second, mb, where in rises(record["samples"])[-SHOWN:]:
                print(f"  {second:6.1f} s  {mb:6.0f} MB  {where}")


if __name__ == "__main__":
    main()
