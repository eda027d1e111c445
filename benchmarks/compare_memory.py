"""Where `digitlab compare`'s peak memory comes from: the command run in a process of its own, its resident
memory sampled every SAMPLE_SECONDS with what its main thread was doing (the innermost digitlab
functions), first in a fresh DIGITLAB_HOME (its caches built, as in a fresh clone) and then again in
the same home, as benchmarks/targets.py runs it.

    python benchmarks/compare_memory.py              # both runs: their peaks, and the phases above FLOOR_MB
    python benchmarks/compare_memory.py --runs after # the second run alone (a home built first, not sampled)

Prints each run's peak (the process's own high-water mark, VmHWM, as RUSAGE_CHILDREN of a wrapper
reports it) and, per phase (the innermost FRAMES digitlab functions), the largest resident memory
seen in it, largest first. Extra options go to `digitlab compare` (e.g. `-- --methods cnn`).
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
FLOOR_MB = 600  # phases whose largest sample is below this are left out of the table
SHOWN = 12  # at most this many phases a run


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
        frame, names = sys._current_frames().get(main), []
        while frame is not None and len(names) < FRAMES:
            if f"{os.sep}digitlab{os.sep}" in frame.f_code.co_filename:
                names.append(f"{Path(frame.f_code.co_filename).stem}.{frame.f_code.co_name}")
            frame = frame.f_back
        return " < ".join(names) or "-"

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


def phases(samples: list) -> list[tuple[str, float, float, float]]:
    """(phase, largest MB, first and last second seen), largest first."""
    found: dict[str, list[float]] = {}
    for second, mb, where in samples:
        seen = found.setdefault(where, [mb, second, second])
        seen[0], seen[2] = max(seen[0], mb), second
    return sorted(((k, *v) for k, v in found.items()), key=lambda row: -row[1])


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
            for where, mb, first, last in phases(record["samples"])[:SHOWN]:
                if mb >= FLOOR_MB:
                    print(f"  {mb:6.0f} MB  {first:6.1f}-{last:6.1f} s  {where}")


if __name__ == "__main__":
    main()
